"""The event loop a run measures on: reads gathered in batches, background work only while no read is waiting.

A plain asyncio loop wakes once per socket read. At 64 streams of 100 tokens a second that is 6,400 wake-ups a
second, each a full loop iteration, and on a small virtual machine the loop's own CPU then exceeds the cost of
the reads. And the samples were derived on a second thread, which took the GIL whenever the loop released it for
a system call: in a burst of first tokens from 256 streams, every read could wait up to a switch interval.

This loop changes four things, all safe only because reads are stamped by the kernel
(``probe.transport.KernelStampedSocket``), so when the loop gets round to a read no longer changes its timestamp:

- **Reads are gathered.** While reads come faster than one per gap, the selector polls at most once per gap, and
  each poll takes every read that is waiting; a read after a quiet spell is taken at once. The gap bounds what
  gathering can cost a measurement: only two chunks of one stream that arrive less than a gap apart can wait
  together and be merged by TCP into one read, stamped as the later one, so a merged first token is stamped
  about a gap late at most (a little more when the sleep overshoots); streams slower than one chunk per gap are
  never merged by it. Work right after a sleep costs more than the same work done in a run (on the benchmark
  machine, deriving samples with a 1 ms sleep before each took 8.6-9.8 µs of CPU a chunk, against 7.7-8.4
  without), so fewer, fuller polls are cheaper.
- **The gap widens with the number of streams.** It is ``min_poll_gap_s`` (2 ms) while fewer than
  ``wide_from_sockets`` (64) sockets are registered (one per open connection), and ``wide_poll_gap_s`` (3 ms)
  from there: each a millisecond under the TTFT error p99 the benchmark allows at 16 and at 64 streams (3 and 4
  ms), which leaves room for the sleep's overshoot. (A single stream's reads come too far apart to be gathered.)
  From 64 streams the loop's own CPU decides accuracy: a loop that falls behind its reads merges far more than a
  gap's worth. A first version widened the gap to 4 ms, the 64-stream target itself, with no room left: TTFT
  error p99 at 64 streams was then over 3 ms in 3 of 57 benchmark runs while asyncio's transport took the reads
  (3.81, 4.04 and 10.00 ms; ``bench/README.md``).
- **The selector takes the reads of plain connections itself**, all of a poll's at once, before handing them over
  one by one (:class:`DirectReads`, ``probe.transport.DirectConnectionReads``, registered with
  :meth:`GatheringEventLoop.read_directly`). asyncio would queue a callback per ready socket and go through its
  transport's layers for each read; here a poll's system calls run back to back, then its reads are processed back
  to back, and no read waits behind the callbacks of a pass. At 64 streams that cut the client's CPU per chunk by
  4-5 % (``bench/README.md``). With direct reads, the selector asks epoll itself rather than through the base
  selector, which would build an event for every ready socket only for it to be taken here (about 3,000 of the
  30,500 instructions a read cost, ``bench/README.md``). The end of a stream is left to asyncio's transport, which
  closes the connection as it always does; a read that fails aborts it. Direct reads need epoll (Linux, where the
  kernel stamps reads too).
- **Background work runs in the loop's idle time.** A :class:`Background` (the sample writer: deriving samples
  and committing them) gets a piece of work only when the poll finds no read waiting and no timer due, or when its
  oldest piece has waited ``max_background_delay_s``, so that a saturated loop still commits its samples.

Where the kernel does not stamp reads (not Linux), reads are not gathered; background work still waits for idle
time, which can only help the stamps.
"""

from __future__ import annotations

import asyncio
import math
import select as select_module
import selectors
import time
from collections.abc import Callable, Mapping
from typing import Protocol

from probe.transport import KERNEL_STAMPS, DirectConnectionReads

MIN_POLL_GAP_S = 0.002
WIDE_POLL_GAP_S = 0.003
WIDE_FROM_SOCKETS = 64
MAX_BACKGROUND_DELAY_S = 0.1
Events = list[tuple[selectors.SelectorKey, int]]
_EPOLLIN = getattr(select_module, "EPOLLIN", 1)
_EPOLLOUT = getattr(select_module, "EPOLLOUT", 4)


class Background(Protocol):
    """Work the loop does when it has nothing better to do, one small piece (about a millisecond) at a time."""

    def waiting_since(self) -> float | None:
        """``time.monotonic()`` when the oldest piece of work arrived, or ``None`` when there is none."""

    def run_one(self) -> None:
        """Do the oldest piece of work."""

    def next_due(self) -> float | None:
        """``time.monotonic()`` when work not yet to be done will be, or ``None``: the loop does not sleep past it."""


class DirectReads(Protocol):
    """The connections whose reads the selector takes itself (see the module docstring), by file descriptor."""

    readers: Mapping[int, object]
    """The file descriptors read here (each already registered for reading by asyncio's transport)."""

    def take(self, fds: list[int]) -> list[int]:
        """Read each of ``fds``, all in ``readers`` and ready to read: every system call first, then every read's
        processing. Returns those left to asyncio's transport (the end of a stream, or no room left this poll).
        Must not raise."""


class GatheringSelector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    """The platform's default selector, polling at most once per gap (``min_poll_gap_s``, or ``wide_poll_gap_s``
    with ``wide_from_sockets`` or more registered) and running background work in the gaps (see the module
    docstring). ``clock`` and ``sleep`` are injectable for tests."""

    def __init__(
        self,
        *,
        min_poll_gap_s: float = MIN_POLL_GAP_S,
        wide_poll_gap_s: float = WIDE_POLL_GAP_S,
        wide_from_sockets: int = WIDE_FROM_SOCKETS,
        max_background_delay_s: float = MAX_BACKGROUND_DELAY_S,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__()
        self.min_poll_gap_s = min_poll_gap_s
        self.wide_poll_gap_s = wide_poll_gap_s
        self.wide_from_sockets = wide_from_sockets
        self.max_background_delay_s = max_background_delay_s
        self.background: Background | None = None
        self._clock = clock
        self._sleep = sleep
        self._last_poll = float("-inf")
        self._poll_before_last = float("-inf")
        self.direct_reads: DirectReads | None = None  # set by the loop on the first ``read_directly``

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        background = self.background
        if timeout is not None and timeout <= 0:  # callbacks are ready: poll without waiting
            if background is not None and self._overdue(background):
                background.run_one()
            return self._counted(self._poll(0))
        now = self._clock()
        deadline = None if timeout is None else now + timeout
        while background is not None and background.waiting_since() is not None:
            events = self._poll(0)
            if events is not None:
                if self._overdue(background):
                    background.run_one()
                return events
            background.run_one()
            now = self._clock()
            if deadline is not None and now >= deadline:
                return self._counted(None)
        if background is not None:  # no work now: wake up when some is due, as for a timer
            due = background.next_due()
            if due is not None and (deadline is None or due < deadline):
                deadline = max(now, due)
        gap = self._gap()
        wait = self._last_poll + gap - now
        if wait > 0 and self._busy(gap):
            if deadline is not None:
                wait = min(wait, deadline - now)
            if wait > 0:
                self._sleep(wait)
                now = self._clock()
        return self._counted(self._poll(None if deadline is None else max(0.0, deadline - now)))

    def _overdue(self, background: Background) -> bool:
        since = background.waiting_since()
        return since is not None and self._clock() - since >= self.max_background_delay_s

    def _gap(self) -> float:
        """The shortest time between two polls: wider once many streams share the loop (module docstring)."""
        return self.wide_poll_gap_s if len(self.get_map()) >= self.wide_from_sockets else self.min_poll_gap_s

    def _busy(self, gap: float) -> bool:
        """Reads come faster than one per gap: the last two polls were at most two gaps apart. A loop that wakes
        once per read at a low rate (one stream) would only pay an extra wake-up per read for the gathering."""
        return self._last_poll - self._poll_before_last <= 2 * gap

    def _poll(self, timeout: float | None) -> Events | None:
        """One poll: the events for asyncio, or ``None`` when nothing was ready. A poll that found something is
        counted (``_polled``) before any of it is taken; an empty one is left to the caller to count, since the
        polls between pieces of background work are not.

        With direct readers, epoll is asked directly and their reads are taken here: the base selector would build
        an event per ready socket only for them to be taken. Everything else is returned as the base selector
        returns it."""
        direct = self.direct_reads
        if direct is None or not direct.readers:
            events = super().select(timeout)
            if not events:
                return None
            self._polled()
            return events
        if timeout is None:
            wait = -1.0
        elif timeout <= 0:
            wait = 0.0
        else:  # as the base selector: epoll waits whole milliseconds, so round up to wait at least ``timeout``
            wait = math.ceil(timeout * 1e3) * 1e-3
        try:
            ready = self._selector.poll(wait, max(len(self._fd_to_key), 1))
        except InterruptedError:
            return None
        if not ready:
            return None
        self._polled()
        readers = direct.readers
        fd_to_key = self._fd_to_key
        events: Events = []
        reads: list[int] = []
        for fd, event in ready:
            if event == _EPOLLIN and fd in readers:  # nearly every event: nothing but data to read
                reads.append(fd)
                continue
            key = fd_to_key.get(fd)
            if key is None:
                continue
            mask = selectors.EVENT_WRITE if event & ~_EPOLLIN else 0  # as the base selector
            if event & ~_EPOLLOUT:
                mask |= selectors.EVENT_READ
            mask &= key.events
            if mask & selectors.EVENT_READ and fd in readers:
                reads.append(fd)
                mask &= ~selectors.EVENT_READ  # writing stays asyncio's
                if not mask:
                    continue
            events.append((key, mask))
        if reads:
            for fd in direct.take(reads):
                key = fd_to_key.get(fd)
                if key is not None:
                    events.append((key, selectors.EVENT_READ))
        return events

    def _polled(self) -> None:
        self._poll_before_last = self._last_poll
        self._last_poll = self._clock()

    def _counted(self, events: Events | None) -> Events:
        """``events`` from ``_poll``, an empty poll counted too."""
        if events is None:
            self._polled()
            return []
        return events


class GatheringEventLoop(asyncio.SelectorEventLoop):
    """asyncio's selector loop on a :class:`GatheringSelector`, which connections can ask to take their reads."""

    def __init__(self, selector: GatheringSelector) -> None:
        super().__init__(selector)
        self._gathering_selector = selector

    def read_directly(self, fd: int, connection: object) -> Callable[[], None] | None:
        """From now on, the selector takes the reads of ``connection`` (a ``probe.transport`` connection, its
        socket ``fd`` already registered for reading by asyncio's transport), where the selector is epoll's (Linux,
        where reads are kernel-stamped too); ``None`` elsewhere. Returns the function that stops it; call it
        before the socket closes, since its number may then be given to another."""
        selector = self._gathering_selector
        if not isinstance(selector, selectors.EpollSelector):
            return None
        if selector.direct_reads is None:
            selector.direct_reads = DirectConnectionReads()
        return selector.direct_reads.add(fd, connection)


def new_event_loop(background: Background | None = None) -> GatheringEventLoop:
    """An asyncio loop on a :class:`GatheringSelector` (reads gathered only where the kernel stamps them)."""
    if KERNEL_STAMPS:
        selector = GatheringSelector()
    else:
        selector = GatheringSelector(min_poll_gap_s=0.0, wide_poll_gap_s=0.0)
    selector.background = background
    return GatheringEventLoop(selector)
