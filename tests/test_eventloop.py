"""The run's event loop: reads gathered only while they come fast, never past a timer, and background work only
when no read is waiting (or when it has waited too long)."""

from __future__ import annotations

import selectors
import socket
from collections.abc import Iterator

import pytest

from probe.eventloop import GatheringSelector

GAP_S = 0.001


class FakeTime:
    """A clock that moves only when slept on or told to."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class Work:
    """Background work: ``items`` pieces, each taking ``piece_s`` of fake time."""

    def __init__(
        self, time: FakeTime, items: int, *, since: float | None = None, piece_s: float = 0.0002, due: float | None = None
    ) -> None:
        self.time = time
        self.left = items
        self.since = time.now if since is None else since
        self.piece_s = piece_s
        self.due = due  # when more work will be due
        self.done = 0

    def waiting_since(self) -> float | None:
        return self.since if self.left else None

    def next_due(self) -> float | None:
        return self.due

    def run_one(self) -> None:
        self.left -= 1
        self.done += 1
        self.time.now += self.piece_s


@pytest.fixture
def setup() -> Iterator[tuple[GatheringSelector, FakeTime, socket.socket, socket.socket]]:
    time = FakeTime()
    selector = GatheringSelector(min_poll_gap_s=GAP_S, max_background_delay_s=0.1, clock=time.clock, sleep=time.sleep)
    reader, writer = socket.socketpair()
    selector.register(reader, selectors.EVENT_READ)
    yield selector, time, reader, writer
    selector.close()
    reader.close()
    writer.close()


def become_busy(selector: GatheringSelector, time: FakeTime, writer: socket.socket) -> None:
    """Two polls 0.2 ms apart, each finding a read: the rate of a busy loop."""
    writer.send(b"x")
    selector.select(5)
    time.now += 0.0002
    selector.select(5)
    time.now += 0.0002


def test_a_read_after_a_quiet_spell_is_taken_at_once(setup) -> None:
    selector, time, _, writer = setup
    writer.send(b"x")
    assert selector.select(5) and time.slept == []
    time.now += 0.05  # one stream: the next read comes 50 ms later
    assert selector.select(5) and time.slept == []


def test_a_busy_loop_polls_at_most_once_per_gap(setup) -> None:
    selector, time, _, writer = setup
    become_busy(selector, time, writer)
    events = selector.select(5)
    assert events and time.slept == [pytest.approx(GAP_S - 0.0002)]


def test_many_open_streams_widen_the_gap(setup) -> None:
    """Where the loop's CPU decides accuracy, it polls half as often; one socket fewer and the gap is narrow."""
    selector, time, _, writer = setup
    selector.wide_poll_gap_s, selector.wide_from_sockets = 2 * GAP_S, 3
    pairs = [socket.socketpair() for _ in range(2)]
    try:
        selector.register(pairs[0][0], selectors.EVENT_READ)
        become_busy(selector, time, writer)
        assert selector.select(5) and time.slept == [pytest.approx(GAP_S - 0.0002)]
        selector.register(pairs[1][0], selectors.EVENT_READ)
        time.now += 0.05  # a quiet spell, then reads come fast again
        become_busy(selector, time, writer)
        time.slept.clear()
        assert selector.select(5) and time.slept == [pytest.approx(2 * GAP_S - 0.0002)]
    finally:
        for reader, other_end in pairs:
            selector.unregister(reader)
            reader.close()
            other_end.close()


def test_gathering_never_sleeps_past_a_due_timer_nor_delays_ready_callbacks(setup) -> None:
    selector, time, _, writer = setup
    become_busy(selector, time, writer)
    selector.select(0.0003)  # a timer is due in 0.3 ms
    assert time.slept == [pytest.approx(0.0003)]
    time.slept.clear()
    selector.select(0)  # callbacks are ready to run
    assert time.slept == []


def test_background_work_waits_while_a_read_is_waiting(setup) -> None:
    selector, time, _, writer = setup
    work = Work(time, items=3)
    selector.background = work
    writer.send(b"x")
    assert selector.select(5) and work.done == 0


def test_background_work_runs_in_idle_time_until_a_timer_is_due(setup) -> None:
    selector, time, _, _ = setup
    work = Work(time, items=10, piece_s=0.002)
    selector.background = work
    assert selector.select(0.005) == []  # nothing to read: work until the timer 5 ms away is due
    assert work.done == 3 and time.now == pytest.approx(100.006)
    assert selector.select(0.05) == [] and work.left == 0  # a later timer: all the rest, then a poll


def test_overdue_background_work_runs_even_when_reads_keep_coming(setup) -> None:
    """A saturated loop is never idle; its samples must still be derived and committed."""
    selector, time, _, writer = setup
    work = Work(time, items=3, since=time.now - 0.2)
    selector.background = work
    writer.send(b"x")
    assert selector.select(5) and work.done == 1
    assert selector.select(0) and work.done == 2  # also when callbacks are ready


def test_an_idle_loop_wakes_when_background_work_falls_due(setup, monkeypatch: pytest.MonkeyPatch) -> None:
    """Samples wait a moment to be committed together: a loop with nothing else to do must not sleep past it."""
    selector, time, _, _ = setup
    selector.background = Work(time, items=0, due=time.now + 0.03)
    waits: list[float | None] = []
    platform_select = selectors.DefaultSelector.select
    monkeypatch.setattr(selectors.DefaultSelector, "select",
                        lambda self, timeout=None: waits.append(timeout) or platform_select(self, timeout))
    assert selector.select(5) == [] and waits == [pytest.approx(0.03)]
    assert selector.select(None) == [] and waits[-1] == pytest.approx(0.03)  # no timer at all: still wakes


class LoggingReads:
    """Direct reads (``probe.eventloop.DirectReads``) that log what each poll hands them."""

    def __init__(self) -> None:
        self.readers: dict[int, socket.socket] = {}
        self.calls: list[list[bytes]] = []  # per call, the bytes read, sorted

    def add(self, sock: socket.socket) -> None:
        self.readers[sock.fileno()] = sock

    def take(self, fds: list[int]) -> list[int]:
        left, read = [], []
        for fd in fds:
            data = self.readers[fd].recv(64)
            if data:
                read.append(data)
            else:
                left.append(fd)
        self.calls.append(sorted(read))
        return left


@pytest.fixture
def direct_pairs(setup) -> Iterator[list[tuple[socket.socket, socket.socket]]]:
    """Two more socket pairs on the selector, for direct reads."""
    selector = setup[0]
    pairs = [socket.socketpair() for _ in range(2)]
    yield pairs
    for reader, other_end in pairs:
        if reader in selector.get_map():
            selector.unregister(reader)
        reader.close()
        other_end.close()


def test_a_poll_hands_every_direct_read_over_at_once_and_the_rest_to_asyncio(setup, direct_pairs) -> None:
    """The system calls of a poll run back to back (``DirectReads.take`` gets all of them in one call), and
    asyncio sees only the sockets it reads itself."""
    selector, _, plain, plain_writer = setup
    reads = selector.direct_reads = LoggingReads()
    for name, (sock, other_end) in zip("ab", direct_pairs):
        selector.register(sock, selectors.EVENT_READ)
        reads.add(sock)
        other_end.send(b"chunk " + name.encode())
    plain_writer.send(b"x")
    assert [(key.fileobj, mask) for key, mask in selector.select(5)] == [(plain, selectors.EVENT_READ)]
    assert reads.calls == [[b"chunk a", b"chunk b"]]


def test_the_end_of_a_stream_and_a_socket_s_writes_stay_asyncio_s(setup, direct_pairs) -> None:
    selector = setup[0]
    (ended, ended_peer), (writable, writable_peer) = direct_pairs
    reads = selector.direct_reads = LoggingReads()
    selector.register(ended, selectors.EVENT_READ)
    reads.add(ended)
    selector.register(writable, selectors.EVENT_READ | selectors.EVENT_WRITE)
    reads.add(writable)
    ended_peer.close()
    writable_peer.send(b"x")
    events = {key.fileobj: mask for key, mask in selector.select(5)}
    assert events == {ended: selectors.EVENT_READ, writable: selectors.EVENT_WRITE}
    assert reads.calls == [[b"x"]]


def test_a_socket_that_is_not_read_directly_is_left_to_asyncio(setup, direct_pairs) -> None:
    selector = setup[0]
    (direct, direct_peer), (other, other_peer) = direct_pairs
    reads = selector.direct_reads = LoggingReads()
    for sock in (direct, other):
        selector.register(sock, selectors.EVENT_READ)
    reads.add(direct)
    other_peer.send(b"y")
    assert [key.fileobj for key, _ in selector.select(5)] == [other] and reads.calls == []
    direct_peer.send(b"z")
    other.recv(16)
    assert selector.select(5) == [] and reads.calls == [[b"z"]]


def test_a_poll_that_only_took_direct_reads_still_returns_to_asyncio(setup, direct_pairs) -> None:
    """Its reads may have settled responses that tasks wait on: background work must not run before them."""
    selector, time, _, _ = setup
    (sock, other_end), _ = direct_pairs
    reads = selector.direct_reads = LoggingReads()
    selector.register(sock, selectors.EVENT_READ)
    reads.add(sock)
    selector.background = work = Work(time, items=3)
    other_end.send(b"x")
    assert selector.select(5) == [] and reads.calls == [[b"x"]] and work.done == 0
