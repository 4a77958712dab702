"""The stamping transport: HTTP/1.1 framing done right, each read stamped as it arrives, nothing else on that path."""

from __future__ import annotations

import asyncio
import gc
import json
import socket
import struct
import threading
import time

import anyio
import httpx
import pytest

from probe.client import exchange, make_http_client
from probe.dialects import openai_chat
from probe.eventloop import new_event_loop
from probe.model import Target, Timeouts
from probe.sim.profiles import LatencyProfile
from probe.sim.server import SimServer
from probe.transport import (
    KERNEL_STAMPS,
    MAX_KERNEL_AGE_NS,
    READS_EXTENSION,
    DirectConnectionReads,
    KernelStampedSocket,
    StampedBody,
    StampedResponse,
    StampingTransport,
    _Connection,
    wire_request,
)

CHUNKED = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    b"f\r\ndata: {\"a\":1}\n\n\r\n"
    b"10\r\ndata: {\"b\":22}\n\n\r\n"
    b"0\r\n\r\n"
)


class Ticks:
    """A clock that advances one tick per reading, so stamps are distinguishable."""

    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        self.now += 1
        return self.now


def feed(reads: list[bytes], *, head_request: bool = False) -> _Connection:
    async def go() -> _Connection:
        connection = _Connection(Ticks(), asyncio.get_running_loop())
        connection.begin(1 << 20, head_request)
        for data in reads:
            connection.data_received(data)
        return connection

    return asyncio.run(go())


def body(connection: _Connection) -> bytes:
    return b"".join(connection.read_payloads)


def stamped_reads(connection: _Connection | StampedBody) -> list[tuple[int, bytes]]:
    return list(zip(connection.read_times, connection.read_payloads))


def test_chunked_body_is_the_same_at_every_split_point() -> None:
    expected = b'data: {"a":1}\n\ndata: {"b":22}\n\n'
    for i in range(1, len(CHUNKED)):
        connection = feed([CHUNKED[:i], CHUNKED[i:]])
        assert body(connection) == expected, i
        assert connection.done.done() and connection.reusable


def test_one_stamp_per_read_that_carried_payload() -> None:
    head, rest = CHUNKED.split(b"\r\n\r\n", 1)
    connection = feed([head + b"\r\n\r\n", rest[:20], rest[20:]])
    assert connection.read_times == [3, 4]  # tick 1: the request; tick 2: the read of the head only


def test_reads_of_exactly_one_chunk_each_keep_one_piece_each() -> None:
    """The common case of a stream (and the transport's fast path): a read per chunk, framing and all."""
    head, rest = CHUNKED.split(b"\r\n\r\n", 1)
    first, second, last = rest[:20], rest[20:42], rest[42:]
    assert first.endswith(b"\n\n\r\n") and second.endswith(b"\n\n\r\n") and last == b"0\r\n\r\n"
    connection = feed([head + b"\r\n\r\n", first, second, last])
    assert stamped_reads(connection) == [(3, b'data: {"a":1}\n\n'), (4, b'data: {"b":22}\n\n')]  # after request, head
    assert connection.done.done() and connection.reusable


def test_a_stored_read_leaves_no_object_for_the_garbage_collector() -> None:
    """Reads of every stream in flight wait until their sample is derived. As tuples they sat in the collector's
    youngest generation, and each collection walked them (a 256-stream run spent 47-60 ms collecting, against
    27-40 without). Counted, not timed: the objects in the generation, not ``gc.get_count()``, which did not grow
    with the tuples (CPython reuses freed tuples)."""
    payload = b'data: {"t": "token"}\n\n'
    chunk = b"%x\r\n%s\r\n" % (len(payload), payload)

    async def go() -> tuple[int, int]:
        connection = _Connection(Ticks(), asyncio.get_running_loop())
        connection.begin(1 << 20, False)
        connection.data_received(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        gc.disable()
        try:
            before = len(gc.get_objects(generation=0))
            for _ in range(500):
                connection.data_received(chunk)
            grown = len(gc.get_objects(generation=0)) - before
        finally:
            gc.enable()
        return grown, len(connection.read_times)

    grown, reads = asyncio.run(go())
    assert reads == 500
    assert grown < 50


def test_content_length_and_close_delimited_bodies() -> None:
    connection = feed([b"HTTP/1.1 429 Too Many Requests\r\ncontent-length: 5\r\nretry-after: 3\r\n\r\nhel", b"lo"])
    assert body(connection) == b"hello" and connection.done.done()
    connection = feed([b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\npartial"])
    assert body(connection) == b"partial" and not connection.done.done() and not connection.keep_alive


def test_interim_100_continue_is_skipped() -> None:
    connection = feed([b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"])
    assert connection.head.result()[0] == 200 and body(connection) == b"ok"


@pytest.mark.parametrize(
    "reads",
    [
        [b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n"],
        [b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n", b"-5\r\nhello\r\n"],
        [b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n", b"0_5\r\nhello\r\n"],
        [b"SSH-2.0-OpenSSH\r\n\r\n"],
        [b"HTTP/1.1 200 OK\r\n" + b"x-filler: " + b"a" * 70_000],
    ],
    ids=["bad chunk size", "negative chunk size", "chunk size with an underscore", "not http", "huge head"],
)
def test_bytes_that_are_not_http_fail_the_response(reads: list[bytes]) -> None:
    connection = feed(reads)
    future = connection.head if not connection.head.done() or connection.head.exception() else connection.done
    assert isinstance(future.exception(), httpx.RemoteProtocolError)


def test_body_larger_than_the_limit_is_cut_and_flagged() -> None:
    async def go() -> _Connection:
        connection = _Connection(Ticks(), asyncio.get_running_loop())
        connection.begin(10, False)
        connection.data_received(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n" + b"x" * 50)
        return connection

    connection = asyncio.run(go())
    assert connection.truncated and connection.done.done() and not connection.reusable


FAST = LatencyProfile(ttft_s=0.01, inter_chunk_s=0.002, output_tokens=30)


def test_no_json_is_parsed_while_the_stream_is_read(monkeypatch) -> None:
    """The hot path stamps bytes; parsing waits until the stream is over (a regression guard that counts, not times)."""
    calls = []
    real_loads = json.loads
    client_thread = threading.current_thread()  # the simulator runs in its own thread and parses requests
    paced = LatencyProfile(ttft_s=0.01, inter_chunk_s=0.01, output_tokens=12)  # reads 10 ms apart, even on a busy box
    with SimServer({"m": paced}) as sim:
        target = Target(base_url=sim.base_url, model_id="m", auth="none")
        request = openai_chat.build_request(target, "hi", 12)

        async def go():
            async with make_http_client() as client:
                monkeypatch.setattr(json, "loads", lambda *a, **k: (threading.current_thread() is client_thread and calls.append(1)) or real_loads(*a, **k))
                try:
                    return await exchange(client, request, Timeouts())
                finally:
                    monkeypatch.setattr(json, "loads", real_loads)

        record = anyio.run(go)
    assert record.status == 200 and len(record.reads) >= 6  # the stream came in pieces: parsing could have run between
    assert calls == []


@pytest.mark.skipif(not KERNEL_STAMPS, reason="probe's loop takes reads itself where the kernel stamps them")
@pytest.mark.parametrize(("loop", "through_asyncio"), [("asyncio's loop", True), ("probe's loop", False)])
def test_on_probes_loop_the_selector_takes_every_read_of_a_plain_connection(monkeypatch, loop: str,
                                                                             through_asyncio: bool) -> None:
    """Counted, not timed: asyncio's transport hands a read over through ``buffer_updated``; on probe's loop no
    read of the stream takes that path, and every read is still stamped by the kernel."""
    handed_over: list[int] = []
    real_buffer_updated = _Connection.buffer_updated
    monkeypatch.setattr(_Connection, "buffer_updated",
                        lambda self, nbytes: handed_over.append(nbytes) or real_buffer_updated(self, nbytes))
    paced = LatencyProfile(ttft_s=0.01, inter_chunk_s=0.005, output_tokens=12)
    with SimServer({"m": paced}) as sim:
        target = Target(base_url=sim.base_url, model_id="m", auth="none")

        async def go():
            async with make_http_client() as client:
                wait_until_the_kernel_stamps_reads()
                record = await exchange(client, openai_chat.build_request(target, "hi", 12), Timeouts())
                (connection,) = client.stamping_transport._open
                return record, connection.kernel_stamped_reads

        record, kernel_stamped = run_on(loop, go)
    assert record.status == 200 and record.failure is None and len(record.read_times) >= 6
    assert bool(handed_over) is through_asyncio
    reads = len(record.read_times)
    assert reads <= kernel_stamped <= reads + 1  # every read kernel-stamped (and the head, if it came alone)


def test_connections_are_reused_between_requests() -> None:
    with SimServer({"m": FAST}) as sim:
        target = Target(base_url=sim.base_url, model_id="m", auth="none")

        async def go():
            async with make_http_client() as client:
                for _ in range(3):
                    record = await exchange(client, openai_chat.build_request(target, "hi", 5), Timeouts())
                    assert record.status == 200

        anyio.run(go)
        assert len({r.connection_id for r in sim.records()}) == 1


@pytest.mark.parametrize(
    ("method", "url", "headers", "body"),
    [
        ("POST", "http://127.0.0.1:8080/v1/chat/completions", [("content-type", "application/json"), ("Authorization", "Bearer k")], b'{"a":1}'),
        ("POST", "https://api.example.com/v1/messages", [("x-api-key", "k")], b""),
        ("GET", "http://h:80/models?x=1", [("accept", "application/json")], b""),
        ("POST", "http://h:9/p", [("Host", "other"), ("Content-Length", "2")], b"{}"),
    ],
)
def test_the_request_probe_writes_is_byte_for_byte_what_httpx_would_write(method, url, headers, body) -> None:
    """probe's client skips httpx's Request; the endpoint must not be able to tell."""
    encoded = [(name.encode(), value.encode()) for name, value in headers]
    via_httpx = httpx.Request(method, url, headers=headers, content=body)
    httpx_head = [f"{method} ".encode() + via_httpx.url.raw_path + b" HTTP/1.1"]
    httpx_head += [name + b": " + value for name, value in via_httpx.headers.raw]
    assert wire_request(method, httpx.URL(url), encoded, body) == b"\r\n".join(httpx_head) + b"\r\n\r\n" + body


def test_response_headers_read_as_httpx_reads_them() -> None:
    raw = [(b"Content-Type", b"text/event-stream"), (b"X-Request-Id", b"a"), (b"x-request-id", b"b"), (b"X-Note", "é".encode())]
    response = StampedResponse(200, raw, 0, body=None)  # type: ignore[arg-type]
    assert response.header_fields() == dict(httpx.Headers(raw).items())


def test_probes_client_builds_no_httpx_request_or_response(monkeypatch) -> None:
    """A regression guard that counts: httpx's Request and Response cost about 20 µs a request on this path."""
    built = []
    for cls in (httpx.Request, httpx.Response):
        real_init = cls.__init__
        monkeypatch.setattr(cls, "__init__", lambda self, *a, _real=real_init, _name=cls.__name__, **k: built.append(_name) or _real(self, *a, **k))
    with SimServer({"m": FAST}) as sim:
        target = Target(base_url=sim.base_url, model_id="m", auth="none")

        async def go():
            async with make_http_client() as client:
                return await exchange(client, openai_chat.build_request(target, "hi", 5), Timeouts())

        record = anyio.run(go)
        sent = sim.records()
    assert built == []
    assert record.status == 200 and record.failure is None and record.reads
    assert record.content_type is not None and "text/event-stream" in record.content_type
    assert record.request_id == sent[0].request_id


def test_a_keep_alive_connection_the_server_closed_is_replaced_not_reported(monkeypatch) -> None:
    """A server may close an idle keep-alive connection just as a request goes out on it; nothing came back, so
    the request goes once more on a new connection instead of becoming a 'disconnect' sample."""
    from probe.transport import StampingTransport

    picked = []
    original = StampingTransport._idle_connection

    def stale_connection(self, origin):
        connection = original(self, origin)
        if connection is not None:
            connection.transport.abort()  # closed under us: asyncio reports the loss on its next turn
            picked.append(connection)
        return connection

    monkeypatch.setattr(StampingTransport, "_idle_connection", stale_connection)
    with SimServer({"m": FAST}) as sim:
        target = Target(base_url=sim.base_url, model_id="m", auth="none")

        async def go():
            async with make_http_client() as client:
                first = await exchange(client, openai_chat.build_request(target, "hi", 5), Timeouts())
                second = await exchange(client, openai_chat.build_request(target, "hi", 5), Timeouts())
                return first, second

        first, second = anyio.run(go)
        connections = {r.connection_id for r in sim.records()}
    assert len(picked) == 1 and picked[0].lost
    assert first.status == 200 and second.status == 200 and second.failure is None
    assert len(connections) == 2


LOOPS = {"asyncio's loop": None, "probe's loop": new_event_loop}
"""probe runs on its own loop (``probe.eventloop``), which takes plain connections' reads in its selector; the
transport works on any asyncio loop, which reads through asyncio's transport."""


def run_on(loop: str, main):  # type: ignore[no-untyped-def]
    factory = LOOPS[loop]
    return anyio.run(main, backend_options={} if factory is None else {"loop_factory": factory})


@pytest.mark.skipif(not KERNEL_STAMPS, reason="reads are stamped by the kernel on Linux only")
@pytest.mark.parametrize("loop", LOOPS)
def test_a_read_is_stamped_when_its_bytes_arrived_not_when_a_busy_loop_took_them(loop: str) -> None:
    """The body arrives while the event loop is blocked for 300 ms; its stamp is the arrival, so a slow loop (or
    reads gathered in batches) does not move the measurement."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    body_sent_ns: list[int] = []

    def serve() -> None:
        connection, _ = server.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n")
            time.sleep(0.05)
            body_sent_ns.append(time.perf_counter_ns())
            connection.sendall(b"hello")
            connection.recv(1)  # until the client closes

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()

    async def go() -> tuple[int, int, list[tuple[int, bytes]], int]:
        transport = StampingTransport()
        try:
            wait_until_the_kernel_stamps_reads()  # the kernel turns stamping on in deferred work
            response = await transport.handle_async_request(httpx.Request("GET", f"http://127.0.0.1:{port}/"))
            blocked_ns = time.perf_counter_ns()
            time.sleep(0.3)  # the loop is busy elsewhere while the body arrives
            body = response.extensions[READS_EXTENSION]
            await body.wait()
            connection = body._connection
            return blocked_ns, time.perf_counter_ns(), stamped_reads(body), connection.kernel_stamped_reads
        finally:
            await transport.aclose()

    blocked_ns, resumed_ns, reads, kernel_stamped = run_on(loop, go)
    server.close()
    thread.join(timeout=5)
    assert [piece for _, piece in reads] == [b"hello"] and kernel_stamped == 2  # the head's read, the body's read
    (stamp, _), = reads
    assert body_sent_ns[0] <= stamp < body_sent_ns[0] + 50_000_000  # within 50 ms of the write (not 250 ms later)
    assert resumed_ns - blocked_ns >= 300_000_000 and stamp < resumed_ns - 200_000_000


@pytest.mark.parametrize("ending", ["close", "reset"])
@pytest.mark.parametrize("loop", LOOPS)
def test_a_connection_lost_in_the_middle_of_the_body_keeps_what_came_and_is_a_disconnect(loop: str, ending: str) -> None:
    """Closed (FIN) or reset (RST) by the server after one chunk, on either loop: on probe's loop the selector's
    own read meets the reset, and the connection must end as asyncio's transport would end it."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def serve() -> None:
        connection, _ = server.accept()
        connection.recv(65536)
        connection.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
        time.sleep(0.02)
        connection.sendall(b"f\r\ndata: {\"a\":1}\n\n\r\n")
        time.sleep(0.05)
        if ending == "reset":
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    target = Target(base_url=f"http://127.0.0.1:{port}/v1", model_id="m", auth="none")

    async def go():
        async with make_http_client() as client:
            return await exchange(client, openai_chat.build_request(target, "hi", 5), Timeouts())

    record = run_on(loop, go)
    thread.join(timeout=5)
    server.close()
    assert record.status == 200 and record.read_payloads == (b'data: {"a":1}\n\n',)
    assert record.failure is not None and record.failure[0] == "disconnect"


def wait_until_the_kernel_stamps_reads(timeout_s: float = 5.0) -> None:
    """Linux turns packet stamping on in deferred work when the first socket asks for it: wait until it has."""
    deadline = time.monotonic() + timeout_s
    with socket.create_server(("127.0.0.1", 0)) as server, \
            KernelStampedSocket(socket.AF_INET, socket.SOCK_STREAM) as client:
        client.connect(server.getsockname())
        sender, _ = server.accept()
        with sender:
            while time.monotonic() < deadline:
                sender.sendall(b"x")
                client.recv_into(bytearray(1))
                if client.take_age_ns() is not None:
                    return
                time.sleep(0.001)
    raise AssertionError("the kernel never stamped a read")


@pytest.mark.skipif(not KERNEL_STAMPS, reason="reads are stamped by the kernel on Linux only")
def test_a_transport_keeps_kernel_stamping_on_for_its_lifetime() -> None:
    """Stamping is on only while some socket wants it, and turning it on is deferred: without a socket held for the
    transport's lifetime, the first reads after every idle spell with no connection open would use the clock."""

    async def go() -> tuple[int, bool]:
        transport = StampingTransport()
        keeper = transport._stamping_keeper
        assert keeper is not None
        wants_stamps = keeper.getsockopt(socket.SOL_SOCKET, 35)
        await transport.aclose()
        return wants_stamps, keeper.fileno() == -1

    assert anyio.run(go) == (1, True)


def test_a_kernel_stamp_is_used_once_and_only_when_it_is_sane() -> None:
    """TLS may hand over plaintext without a new read (its stamp was taken already), and a wall clock stepped
    between the kernel's stamp and the read makes the stamp meaningless: both fall back to the clock."""
    with KernelStampedSocket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        assert sock.take_age_ns() is None
        sock.kernel_received_ns = time.time_ns() - 2_000_000
        assert 2_000_000 <= sock.take_age_ns() < 1_000_000_000
        assert sock.take_age_ns() is None
        sock.kernel_received_ns = time.time_ns() + 5_000_000_000  # "received" in the future
        assert sock.take_age_ns() is None
        sock.kernel_received_ns = time.time_ns() - 2 * MAX_KERNEL_AGE_NS
        assert sock.take_age_ns() is None


class ScriptedSocket:
    """A socket whose ``recvmsg_into`` gives each of ``reads`` in turn (bytes, and a kernel stamp or ``None``) and
    logs it; an exception in ``reads`` is raised."""

    def __init__(self, name: str, reads: list, log: list[str]) -> None:
        self.name, self.reads, self.log = name, reads, log

    def recvmsg_into(self, buffers: list[memoryview], ancbufsize: int) -> tuple[int, list, int, None]:
        data, stamp_ns = self.reads.pop(0)
        if isinstance(data, Exception):
            raise data
        self.log.append(f"read {self.name}")
        buffers[0][: len(data)] = data
        control = [] if stamp_ns is None else [(socket.SOL_SOCKET, 35, struct.pack("@ll", *divmod(stamp_ns, 10**9)))]
        return len(data), control, 0, None


class LoggedConnection(_Connection):
    def __init__(self, name: str, clock, log: list[str]) -> None:  # type: ignore[no-untyped-def]
        super().__init__(clock, asyncio.get_running_loop())
        self.name, self.log = name, log

    def _received(self, now: int, data: bytes) -> None:
        self.log.append(f"process {self.name}")
        super()._received(now, data)


def direct_connections(clock, reads: dict[str, list], log: list[str]):  # type: ignore[no-untyped-def]
    """Connections named by ``reads``' keys, each in the middle of a chunked body, their sockets scripted with
    ``reads``, all taken by one ``DirectConnectionReads`` (socket numbers 0, 1, ...)."""
    direct = DirectConnectionReads()
    connections = []
    head = CHUNKED.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
    for fd, (name, script) in enumerate(reads.items()):
        connection = LoggedConnection(name, clock, log)
        connection.socket = ScriptedSocket(name, script, log)  # type: ignore[assignment]
        connection.begin(1 << 20, False)
        connection.data_received(head)
        direct.add(fd, connection)
        connections.append(connection)
    log.clear()
    return direct, connections


def test_a_poll_s_direct_reads_all_come_before_any_is_processed() -> None:
    """The system calls of a poll run back to back, then the processing: each warms the cache for the next."""
    chunk = b"f\r\ndata: {\"a\":1}\n\n\r\n"
    log: list[str] = []

    async def go() -> list[int]:
        direct, _ = direct_connections(Ticks(), {"a": [(chunk, None)], "b": [(chunk, None)]}, log)
        return direct.take([0, 1])

    assert asyncio.run(go()) == [] and log == ["read a", "read b", "process a", "process b"]


def test_a_direct_read_the_kernel_did_not_stamp_is_stamped_when_taken_not_after_the_poll_s_other_reads() -> None:
    chunk = b"f\r\ndata: {\"a\":1}\n\n\r\n"

    async def go() -> list[_Connection]:
        clock = Ticks()
        direct, connections = direct_connections(clock, {"a": [(chunk, None)], "b": [(chunk, None)]}, [])
        before = clock.now
        direct.take([0, 1])
        return [before, *connections]

    before, a, b = asyncio.run(go())
    assert stamped_reads(a) == [(before + 1, b'data: {"a":1}\n\n')] and stamped_reads(b)[0][0] == before + 2
    assert a.kernel_stamped_reads == b.kernel_stamped_reads == 0


def test_a_direct_read_is_stamped_when_the_kernel_received_it_but_never_before_the_request() -> None:
    chunk = b"f\r\ndata: {\"a\":1}\n\n\r\n"

    async def go() -> tuple[int, int, int, int, list[_Connection]]:
        now_ns, clock_now_ns = time.time_ns(), time.perf_counter_ns()
        reads = {
            "late": [(chunk, now_ns - 20_000_000)],  # arrived 20 ms before it was read
            "stepped": [(chunk, now_ns - 2 * MAX_KERNEL_AGE_NS)],  # a wall clock stepped since: not a stamp
            "early": [(chunk, now_ns - 20_000_000)],  # arrived 20 ms ago, but its request was sent after that
        }
        direct, connections = direct_connections(time.perf_counter_ns, reads, [])
        connections[0].last_read_ns = connections[1].last_read_ns = clock_now_ns - 30_000_000  # the head's read
        head_ns = connections[2].last_read_ns  # "early": its head was read after the stamp
        before = time.perf_counter_ns()
        direct.take([0, 1, 2])
        return clock_now_ns, head_ns, before, time.perf_counter_ns(), connections

    clock_now_ns, head_ns, before, after, (late, stepped, early) = asyncio.run(go())
    assert abs(late.read_times[0] - (clock_now_ns - 20_000_000)) < 1_000_000 and late.kernel_stamped_reads == 1
    assert before <= stepped.read_times[0] <= after and stepped.kernel_stamped_reads == 0
    assert early.read_times == [head_ns] and early.kernel_stamped_reads == 1


def test_a_direct_read_at_the_end_of_the_stream_is_left_to_asyncio_and_a_reset_aborts() -> None:
    aborted: list[str] = []

    class Transport:
        def __init__(self, name: str) -> None:
            self.name = name

        def abort(self) -> None:
            aborted.append(self.name)

    async def go() -> list[int]:
        reads = {
            "ended": [(b"", None)],
            "reset": [(ConnectionResetError(), None)],
            "waiting": [(BlockingIOError(), None)],  # epoll said ready, but nothing was there after all
        }
        direct, connections = direct_connections(Ticks(), reads, [])
        for connection in connections:
            connection.transport = Transport(connection.name)  # type: ignore[assignment]
        return direct.take([0, 1, 2])

    assert asyncio.run(go()) == [0] and aborted == ["reset"]


def test_a_stopped_direct_reader_never_stops_a_newer_one_on_the_same_socket_number() -> None:
    async def go() -> None:
        direct = DirectConnectionReads()
        old, new = (_Connection(Ticks(), asyncio.get_running_loop()) for _ in range(2))
        stop_old = direct.add(7, old)
        stop_old()
        assert 7 not in direct.readers
        direct.add(7, new)
        stop_old()
        assert direct.readers[7] is new

    asyncio.run(go())


def test_a_kernel_stamp_is_never_before_the_request_nor_the_previous_read() -> None:
    """A wall clock stepped forward between a packet's arrival and its read makes its age look too large; the
    stamp is then held at the request's start (or at the previous read), never before it."""

    class SteppedClockSocket:
        def take_age_ns(self) -> int:
            return 5_000_000  # "arrived 5 s of clock ticks ago"

    async def go() -> _Connection:
        connection = _Connection(Ticks(), asyncio.get_running_loop())
        connection.socket = SteppedClockSocket()  # type: ignore[assignment]
        connection.begin(1 << 20, False)  # the request is sent at tick 1
        head, rest = CHUNKED.split(b"\r\n\r\n", 1)
        for data in (head + b"\r\n\r\n", rest):
            connection._read_buffer[: len(data)] = data
            connection.buffer_updated(len(data))
        return connection

    connection = asyncio.run(go())
    assert connection.head.result()[2] == 1 and connection.read_times == [1]
