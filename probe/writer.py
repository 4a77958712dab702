"""A thread that turns finished exchanges into samples and commits them, in small batches, as they complete.

The event loop only enqueues (``submit`` is a ``queue.put``); SSE decoding, JSON parsing, token counting and the
SQLite write all happen here, so they never delay the timestamp of another stream's read. A sample is committed
at most ``flush_interval_s`` after it completes, so a killed run loses only the requests still in flight.
"""

from __future__ import annotations

import os
import queue
import threading

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
    """Derive and store samples on a dedicated thread (a SQLite connection belongs to its thread)."""

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
    ) -> None:
        self._db_path = db_path
        self._run_id = run_id
        self._counters = counters  # canonical model name -> its tokenizer, all loaded before any clock starts
        self._on_sample = on_sample
        self._on_derived = on_derived
        self._flush_interval_s = flush_interval_s
        self._batch_size = batch_size
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name="probe-writer", daemon=True)
        self.error: BaseException | None = None
        self.samples: list[Sample] = []  # everything committed, for the run's summary

    def __enter__(self) -> SampleWriter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object | TracebackType) -> None:
        self.close()

    def submit(self, request: PlannedRequest, record: Exchange) -> None:
        """Hand over one finished exchange. Raises the writer's error, if it has failed, to stop the run."""
        if self.error is not None:
            raise self.error
        self._queue.put((request, record))

    def close(self) -> None:
        """Flush everything submitted so far and stop the thread; re-raise a storage failure."""
        if self._thread.is_alive():
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
        pending: list[Sample] = []
        stopping = False
        while not stopping:
            try:
                item = self._queue.get(timeout=self._flush_interval_s)
            except queue.Empty:
                item = None
            while item is not None:
                if item is _STOP:
                    stopping = True
                    break
                request, record = item  # type: ignore[misc]
                pending.append(self._derive(request, record))
                if len(pending) >= self._batch_size:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    item = None
            if pending:
                store.insert_samples(pending)
                self.samples.extend(pending)
                if self._on_sample is not None:
                    for sample in pending:
                        self._on_sample(sample)
                pending = []

    def _derive(self, request: PlannedRequest, record: Exchange) -> Sample:
        sample = derive_sample(
            record,
            request,
            get_dialect(request.api),
            self._counters[request.model],
            sample_id=new_id(),
            run_id=self._run_id,
        )
        if self._on_derived is not None:  # on this thread, off the timed path (audits read the answer text here)
            self._on_derived(request, record, sample)
        return sample


def _yield_cpu_to_the_event_loop() -> None:
    """Give this thread the lowest CPU priority (Linux schedules threads individually), so that when the machine
    is busy the event loop thread, which stamps reads, runs first and derivation waits. Best effort."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):
        pass
