"""Turn finished exchanges into samples and commit them, in small batches, as they complete.

Two ways, one for each kind of event loop:

- **On the loop's own thread, in its idle time** (``on_loop``; what ``probe run`` does, on ``probe.eventloop``'s
  loop): the writer is the loop's background work. A piece of work is one exchange to derive, or a few samples
  to commit. No second thread wants the GIL while reads arrive: a writer thread did, and ``executemany`` lets go
  of the GIL at every row without handing it over, so the loop could go without it for a whole batch (in a
  diagnostic run, one insert of 256 samples took 11 ms, and the first tokens of a 256-stream burst that arrived
  meanwhile were merged with their second). A write never waits for another process's lock (it is tried again
  later), and the WAL is checkpointed from a thread of its own, which can afford to wait (for the disk, and for
  the loop's commit in progress); the loop's writes do not wait for it either.
- **On a thread of its own** (any other loop: the benchmark's comparison mode), which derives and commits.

A sample is committed within ``flush_interval_s`` of being derived (on the loop: sooner once ``STORE_PIECE`` are
waiting), and derivation waits at most ``probe.eventloop.MAX_BACKGROUND_DELAY_S``: a killed run loses only the
requests still in flight. Samples are not committed one by one: a transaction of one sample took 186-187 µs of CPU,
against 38-41 µs a sample in pieces of 16 (2,048 traced samples, two runs).
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from itertools import islice
from pathlib import Path
from types import TracebackType

from probe.derive import derive_sample
from probe.dialects import get_dialect
from probe.ids import new_id
from probe.model import Exchange, PlannedRequest, Sample
from probe.store import Store, StoreBusy, StoreError, WalCheckpointer
from probe.tokens import Counter

STORE_PIECE = 16
"""Samples committed in one piece of the loop's idle time: about 0.6 ms of SQLite on the benchmark machine, as long
as deriving one 100-token sample."""
LOCKED_RETRY_S = 0.05
"""After finding another process's write lock, the loop tries again this much later."""
CHECKPOINT_INTERVAL_S = 2.0
_STOP = object()


class SampleWriter:
    """Derive samples and store them: on the event loop's thread with ``on_loop`` (run the loop as
    ``probe.eventloop.new_event_loop(background=writer)``), else on a thread of its own. Enter it before the loop
    starts, on the loop's thread: the loop's SQLite connection belongs to the thread that opens it."""

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
        on_loop: bool = False,
    ) -> None:
        self._db_path = db_path
        self._run_id = run_id
        self._counters = counters  # canonical model name -> its tokenizer, all loaded before any clock starts
        self._on_sample = on_sample
        self._on_derived = on_derived
        self._flush_interval_s = flush_interval_s
        self._batch_size = batch_size
        self._on_loop = on_loop
        self.error: BaseException | None = None
        # counts, not the samples: a run's memory must not grow with its plan (its summary is read from the store)
        self.stored = 0
        self.connect_failures = 0
        self._closing = threading.Event()  # cuts the thread's waiting short
        # on the loop (loop thread only): exchanges to derive and samples to commit, with when each arrived
        self._underived: deque[tuple[float, PlannedRequest, Exchange]] = deque()
        self._unstored: deque[tuple[float, Sample]] = deque()
        self._retry_at = 0.0  # when the loop may try a write again after finding the database locked
        self._store: Store | None = None
        self._checkpointer: WalCheckpointer | None = None
        # on a thread: exchanges to derive
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        work = self._checkpoint_every_while if on_loop else self._work
        self._thread = threading.Thread(target=work, name="probe-writer", daemon=True)

    def __enter__(self) -> SampleWriter:
        if self._on_loop:
            self._store = Store.open(self._db_path)
            try:
                self._store.leave_checkpoints_to_another_connection()
                self._store.set_lock_wait(0)
                self._checkpointer = WalCheckpointer(self._db_path)
            except BaseException:
                self._store.close()
                raise
        self._thread.start()
        return self

    def __exit__(self, *exc: object | TracebackType) -> None:
        self.close()

    def submit(self, request: PlannedRequest, record: Exchange) -> None:
        """Hand over one finished exchange. Raises the writer's error, if it has failed, to stop the run."""
        if self.error is not None:
            raise self.error
        if self._on_loop:
            self._underived.append((time.monotonic(), request, record))
        else:
            self._queue.put((request, record))

    # ------------------------------------------------------------------ probe.eventloop.Background

    def waiting_since(self) -> float | None:
        """When the oldest piece of work that may be done now arrived (``time.monotonic``); ``None`` if there is
        none."""
        if self.error is not None:
            return None
        underived = self._underived[0][0] if self._underived else None
        due = self._commit_due_at()
        if due is not None and due <= time.monotonic():  # a commit "arrives" when it falls due
            return due if underived is None or due < underived else underived
        return underived

    def next_due(self) -> float | None:
        """When waiting samples are to be committed (``time.monotonic``), so that an idle loop wakes for it."""
        return None if self.error is not None else self._commit_due_at()

    def run_one(self) -> None:
        """Commit a piece of the derived samples if it is due, else derive the oldest exchange."""
        if self._commit_is_due():
            self._commit_piece()
        elif self._underived:
            self._derive_oldest()

    def _commit_due_at(self) -> float | None:
        """When a piece of samples falls due: as the piece fills, else a flush interval after its oldest sample
        arrived; never before the retry after finding the database locked."""
        if not self._unstored:
            return None
        if len(self._unstored) >= STORE_PIECE:
            due = self._unstored[STORE_PIECE - 1][0]
        else:
            due = self._unstored[0][0] + self._flush_interval_s
        return max(due, self._retry_at)

    def _commit_is_due(self) -> bool:
        due = self._commit_due_at()
        return due is not None and due <= time.monotonic()

    def _derive_oldest(self) -> None:
        """Derive the oldest exchange; it leaves the queue only once derived, so a Ctrl-C in the middle does not
        lose it (``close`` derives it)."""
        _, request, record = self._underived[0]
        try:
            sample = self._derive(request, record)
        except Exception as error:  # a bug in a callback must not stop the loop: the next submit reports it
            self.error = error
        else:
            self._unstored.append((time.monotonic(), sample))
        self._underived.popleft()

    def _commit_piece(self) -> None:
        try:
            self._insert_piece()
        except StoreBusy:  # another process is writing: try again a little later, never wait on the loop
            self._retry_at = time.monotonic() + LOCKED_RETRY_S
        except Exception as error:  # the next submit stops the run; ``close`` tries what is left once more
            self.error = error

    def _insert_piece(self) -> None:
        assert self._store is not None
        piece = [sample for _, sample in islice(self._unstored, STORE_PIECE)]
        self._store.insert_samples(piece)
        for _ in piece:
            self._unstored.popleft()
        self._counted(piece)

    # ------------------------------------------------------------------

    def close(self) -> None:
        """Derive and commit everything submitted so far and stop the thread; re-raise a storage failure."""
        try:
            if self._on_loop:
                self._close_on_loop()
        finally:
            if self._thread.is_alive():
                self._closing.set()
                self._queue.put(_STOP)
                self._thread.join()
            if self._checkpointer is not None:
                self._checkpointer.close()
                self._checkpointer = None
            if self._store is not None:
                self._store.close()
                self._store = None
        if self.error is not None:
            raise self.error

    def _close_on_loop(self) -> None:
        """What the loop did not get round to, now that streams are over; a write now waits for another process's
        lock as any other write does, and one that failed on the loop is tried once more."""
        while self._underived:
            self._derive_oldest()
        if self._store is None or not self._unstored:
            return
        try:
            self._store.set_lock_wait(Store.DEFAULT_LOCK_WAIT_S)
            while self._unstored:
                self._insert_piece()
        except Exception as error:
            self.error = self.error or error

    def _counted(self, samples: list[Sample]) -> None:
        self.stored += len(samples)
        self.connect_failures += sum(1 for sample in samples if sample.error_kind == "connect")
        if self._on_sample is not None:
            for sample in samples:
                self._on_sample(sample)

    def _checkpoint_every_while(self) -> None:
        """The thread beside a loop that commits: checkpoint the WAL now and then (see ``WalCheckpointer``)."""
        _yield_cpu_to_the_event_loop()
        assert self._checkpointer is not None
        checkpointer = self._checkpointer
        while not self._closing.wait(CHECKPOINT_INTERVAL_S):
            try:
                checkpointer.checkpoint()
            except StoreError:  # busy or failing: the loop's own writes report real trouble; try again later
                pass

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
                else:
                    request, record = item  # type: ignore[misc]
                    pending.append(self._derive(request, record))
            if pending:
                store.insert_samples(pending)
                self._counted(pending)

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
    is busy the event loop thread, which stamps reads, runs first. Best effort."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):
        pass
