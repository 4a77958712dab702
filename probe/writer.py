"""Turn finished exchanges into samples and commit them, in small batches, as they complete.

SQLite writes happen on a dedicated thread. Derivation (SSE decoding, JSON parsing, token counting) happens either
there too, or, with ``derive_on_loop``, on the event loop thread in its idle time (``probe.eventloop``): then
the two threads do not fight over the GIL while reads arrive, and the writer thread holds it only to hand rows
to SQLite. A sample is committed at most ``flush_interval_s`` after it is derived, and derivation waits at most
``probe.eventloop.MAX_BACKGROUND_DELAY_S``, so a killed run loses only the requests still in flight.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType

from probe.derive import derive_sample
from probe.dialects import get_dialect
from probe.ids import new_id
from probe.model import Exchange, PlannedRequest, Sample
from probe.store import Store, StoreError
from probe.tokens import Counter

_STOP = object()

class SampleWriter:
    """Derive samples and store them on a dedicated thread (a SQLite connection belongs to its thread).

    With ``derive_on_loop``, ``submit`` only queues the exchange, and the writer is the event loop's background
    work: run the loop as ``probe.eventloop.new_event_loop(background=writer)``. Otherwise the thread derives too.
    """

    def __init__(
        self,
        db_path: str | Path,
        run_id: str,
        counters: Mapping[str, Counter],
        *,
        on_sample: Callable[[Sample], None] | None = None,
        on_derived: Callable[[PlannedRequest, Exchange, Sample], None] | None = None,
        flush_interval_s: float = 0.25,
        batch_size: int = 500,
        derive_on_loop: bool = False,
    ) -> None:
        self._db_path = db_path
        self._run_id = run_id
        self._counters = counters  # canonical model name -> its tokenizer, all loaded before any clock starts
        self._on_sample = on_sample
        self._on_derived = on_derived
        self._flush_interval_s = flush_interval_s
        self._batch_size = batch_size
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()  # exchanges to derive, or derived samples
        self._derive_on_loop = derive_on_loop
        self._underived: deque[tuple[float, PlannedRequest, Exchange]] = deque()  # loop thread only
        self._closing = threading.Event()  # cuts the writer's gathering short
        self._thread = threading.Thread(target=self._work, name="probe-writer", daemon=True)
        self.error: BaseException | None = None
        # counts, not the samples: a run's memory must not grow with its plan (its summary is read from the store)
        self.stored = 0
        self.connect_failures = 0

    def __enter__(self) -> SampleWriter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object | TracebackType) -> None:
        self.close()

    def submit(self, request: PlannedRequest, record: Exchange) -> None:
        """Hand over one finished exchange. Raises the writer's error, if it has failed, to stop the run."""
        if self.error is not None:
            raise self.error
        if self._derive_on_loop:
            self._underived.append((time.monotonic(), request, record))
        else:
            self._queue.put((request, record))

    # ------------------------------------------------------------------ probe.eventloop.Background

    def waiting_since(self) -> float | None:
        """When the oldest exchange not yet derived was submitted (``time.monotonic``); ``None`` if there is none."""
        return self._underived[0][0] if self._underived else None

    def run_one(self) -> None:
        """Derive the oldest submitted exchange on the calling (event loop) thread and queue its sample to store.
        It leaves the queue only once derived, so a Ctrl-C in the middle does not lose it (``close`` derives it)."""
        _, request, record = self._underived[0]
        try:
            sample = self._derive(request, record)
        except Exception as error:  # a bug in a callback must not stop the loop: the next submit reports it
            self.error = error
        else:
            self._queue.put(sample)
        self._underived.popleft()

    # ------------------------------------------------------------------

    def close(self) -> None:
        """Flush everything submitted so far and stop the thread; re-raise a storage failure."""
        while self._underived:  # the loop has ended before deriving these: on its thread, as the rest
            self.run_one()
        if self._thread.is_alive():
            self._closing.set()
            self._queue.put(_STOP)
            self._thread.join()
        if self.error is not None:
            raise self.error

    def _work(self) -> None:
        _yield_cpu_to_the_event_loop()
        try:
            store = Store.open(self._db_path)
        except StoreError as error:
            self.error = error
            return
        try:
            self._loop(store)
        except StoreError as error:
            self.error = error
        except Exception as error:  # a bug must not lose the samples already derived: report it to the caller
            self.error = error
        finally:
            store.close()

    def _loop(self, store: Store) -> None:
        """Commit what arrives within ``flush_interval_s`` of a batch's first item in one transaction. The thread
        sleeps through the interval instead of waking for each sample: every wake-up takes the GIL from the loop."""
        stopping = full = False
        while not stopping:
            first = self._queue.get()
            if not full and first is not _STOP:
                self._closing.wait(self._flush_interval_s)
            batch = [first]
            while len(batch) < self._batch_size:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            full = len(batch) >= self._batch_size
            pending: list[Sample] = []
            for item in batch:
                if item is _STOP:
                    stopping = True
                elif isinstance(item, Sample):
                    pending.append(item)
                else:
                    request, record = item  # type: ignore[misc]
                    pending.append(self._derive(request, record))
            if pending:
                store.insert_samples(pending)
                self.stored += len(pending)
                self.connect_failures += sum(1 for sample in pending if sample.error_kind == "connect")
                if self._on_sample is not None:
                    for sample in pending:
                        self._on_sample(sample)

    def _derive(self, request: PlannedRequest, record: Exchange) -> Sample:
        sample = derive_sample(
            record,
            request,
            get_dialect(request.api),
            self._counters[request.model],
            sample_id=new_id(),
            run_id=self._run_id,
        )
        if self._on_derived is not None:  # off the timed path (audits read the answer text here)
            self._on_derived(request, record, sample)
        return sample


def _yield_cpu_to_the_event_loop() -> None:
    """Give this thread the lowest CPU priority (Linux schedules threads individually), so that when the machine
    is busy the event loop thread, which stamps reads, runs first and derivation waits. Best effort."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):
        pass
