"""A lean HTTP/1.1 transport for httpx that stamps every socket read with the time its bytes arrived.

httpx's default stack (httpcore, h11, anyio streams) spends 100-300 µs of CPU per streamed chunk, and each read
is stamped only after that stack hands the bytes up. At a few dozen concurrent streams that CPU saturates a core
and the stamps drift by tens of milliseconds. Here the event loop reads into a buffer probe owns
(``asyncio.BufferedProtocol``), and each read is stamped with the time the kernel received it (Linux
SO_TIMESTAMPNS, ``KernelStampedSocket``; elsewhere the clock when the read is handed over), then only the
chunked-encoding bookkeeping needed to know where the body ends is done; parsing the SSE and JSON waits until
the stream is over (``probe.derive``). The transport plugs into
``httpx.AsyncClient(transport=...)``, so requests, headers, errors and the public API stay httpx's.

Scope: what probe needs, no more. HTTP/1.1 with keep-alive, chunked / content-length / close-delimited bodies,
TLS through the standard ``ssl`` module, one request per connection at a time. No proxies, no HTTP/2, no
redirects (probe never follows them).
"""

from __future__ import annotations

import asyncio
import platform
import re
import socket
import ssl
import struct
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import httpx

Clock = Callable[[], int]

MAX_HEAD_BYTES = 64 * 1024
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
_HEX_DIGITS = re.compile(rb"[0-9A-Fa-f]{1,16}")
_CHUNK_SIZE_LINE = re.compile(rb"([0-9A-Fa-f]{1,16})\r\n")
READS_EXTENSION = "probe_stamped_body"
"""Key of the request extension that carries the body size limit, and of the response's stamped body."""


READ_BUFFER_BYTES = 256 * 1024
DIRECT_READ_BATCH_BYTES = 4 * READ_BUFFER_BYTES
"""Where a poll's direct reads land (``DirectConnectionReads``); a poll whose reads would not fit leaves the rest
to asyncio."""

# Linux's SO_TIMESTAMPNS (Python's socket module does not export it): each recvmsg then carries the time the kernel
# received the data, as a struct timespec in an SCM_TIMESTAMPNS control message. 35 is the value of the generic
# socket options, which these architectures use (alpha, mips, parisc and sparc number them differently).
_SO_TIMESTAMPNS = 35
_SOL_SOCKET = socket.SOL_SOCKET
_GENERIC_SOCKET_OPTIONS = {"x86_64", "amd64", "i386", "i686", "aarch64", "arm64", "armv7l", "armv6l", "ppc64le",
                           "ppc64", "s390x", "riscv64", "loongarch64"}
_TIMESPEC = struct.Struct("@ll")
_CONTROL_BYTES = socket.CMSG_SPACE(_TIMESPEC.size) if hasattr(socket, "CMSG_SPACE") else 0
KERNEL_STAMPS = (
    sys.platform == "linux" and _CONTROL_BYTES > 0 and platform.machine().lower() in _GENERIC_SOCKET_OPTIONS
)
"""Whether reads are stamped by the kernel on this platform (see ``KernelStampedSocket``)."""
MAX_KERNEL_AGE_NS = 60 * 10**9
"""A kernel stamp older than this (or in the future) means the wall clock was stepped in between: not used."""


class KernelStampedSocket(socket.socket):
    """A TCP socket that remembers when the kernel received the bytes of its last ``recv_into``.

    asyncio's transport fills a buffered protocol's buffer with ``sock.recv_into``; this class does that with
    ``recvmsg_into`` and keeps the SCM_TIMESTAMPNS stamp (wall clock, ns) of the read. The protocol then stamps the
    read at the time it arrived, not the time the event loop got round to it: a busy loop, a held GIL or reads
    gathered in batches (``probe.eventloop``) no longer move the timestamp. With TLS the stamp is that of the
    encrypted read whose record completed the plaintext. Reads whose stamp is missing fall back to the clock.
    """

    __slots__ = ("kernel_received_ns",)

    def __init__(self, family: int, kind: int, proto: int = 0) -> None:
        super().__init__(family, kind, proto)
        self.kernel_received_ns = 0  # 0: no fresh stamp since the protocol last took one
        self.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:  # type: ignore[override]
        target = memoryview(buffer)[:nbytes] if nbytes else buffer
        count, control, _, _ = self.recvmsg_into([target], _CONTROL_BYTES, flags)
        if control:
            self.kernel_received_ns = kernel_stamp_of(control)
        return count

    def take_age_ns(self) -> int | None:
        """How long ago the kernel received the last read's bytes; ``None`` when there is no fresh, sane stamp.
        A stamp is taken once, so plaintext that TLS hands over later, without a new read, uses the clock."""
        received = self.kernel_received_ns
        self.kernel_received_ns = 0
        return kernel_age_ns(received)


def kernel_stamp_of(control: list[tuple[int, int, bytes]]) -> int:
    """The kernel's receive stamp (wall clock, ns) in a ``recvmsg`` read's control messages; 0 when there is none."""
    for level, kind, data in control:
        if level == _SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            seconds, nanoseconds = _TIMESPEC.unpack_from(data)
            return seconds * 1_000_000_000 + nanoseconds
    return 0


def kernel_age_ns(received_ns: int) -> int | None:
    """How long ago the kernel received bytes it stamped ``received_ns``; ``None`` for no stamp (0), or one that
    the wall clock, stepped since, makes meaningless (see ``MAX_KERNEL_AGE_NS``)."""
    if not received_ns:
        return None
    age = time.time_ns() - received_ns
    return age if 0 <= age < MAX_KERNEL_AGE_NS else None


def keep_kernel_stamping_on() -> socket.socket | None:
    """A socket held open only so that the kernel keeps stamping received packets.

    Linux stamps packets only while some socket wants stamps, and it turns stamping on in deferred work: the first
    packets after the first such socket opens (or after the last one closed) can arrive unstamped, and fall back to
    the clock. A transport that holds this socket for its lifetime keeps stamping on across connection churn.
    """
    if not KERNEL_STAMPS:
        return None
    keeper = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    keeper.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
    return keeper


async def open_socket(host: str, port: int) -> socket.socket:
    """A connected, non-blocking TCP socket to ``host:port``, kernel-stamped where the platform allows. The
    addresses are tried in the resolver's order; the last failure is raised."""
    loop = asyncio.get_running_loop()
    try:  # an IP address needs no resolver, so no round trip through the loop's thread pool
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    except socket.gaierror:
        addresses = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    if not addresses:
        raise OSError(f"no address for {host}")
    failure: OSError | None = None
    for family, kind, proto, _, address in addresses:
        sock = KernelStampedSocket(family, kind, proto) if KERNEL_STAMPS else socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            await loop.sock_connect(sock, address)
            return sock
        except OSError as error:
            sock.close()
            failure = error
        except BaseException:
            sock.close()
            raise
    assert failure is not None
    raise failure


def new_read_buffer() -> memoryview:
    """The buffer socket reads land in. One per ``StampingTransport`` (so per event loop) is enough: the loop fills
    it and hands it to the protocol synchronously, read by read."""
    return memoryview(bytearray(READ_BUFFER_BYTES))


class _Connection(asyncio.BufferedProtocol):
    """One HTTP/1.1 connection. Keeps each socket read of the response body as its stamp and its payload.

    A buffered protocol: the event loop ``recv_into``s a buffer probe already owns. A plain ``Protocol`` gets a new
    256 KiB ``bytes`` from ``recv`` per read, which glibc serves with mmap, mremap and munmap: three system calls
    and a page fault per read, about 30 µs of kernel CPU each on the benchmark machine (``bench/loop_floor.py``).
    """

    # Slots keep a connection's state in the object itself: the hot path reads a dozen of it per read, one
    # connection after another, and at 64 streams that cut the client's CPU per chunk by about 3 % (24 paired runs,
    # ``bench/README.md``).
    __slots__ = ("_clock", "_loop", "_read_buffer", "socket", "_stop_direct_reads", "kernel_stamped_reads",
                 "transport", "lost", "gone", "read_times", "read_payloads", "head", "done", "_head_buffer",
                 "head_bytes", "_mode", "_remaining", "_frame", "_skip", "_trailer", "received", "max_body",
                 "truncated", "keep_alive", "last_read_ns", "head_request")

    def __init__(self, clock: Clock, loop: asyncio.AbstractEventLoop, read_buffer: memoryview | None = None) -> None:
        self._clock = clock
        self._loop = loop
        self._read_buffer = read_buffer if read_buffer is not None else new_read_buffer()
        self.socket: KernelStampedSocket | None = None  # set when the socket stamps reads itself
        self._stop_direct_reads: Callable[[], None] | None = None
        self.kernel_stamped_reads = 0
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self.gone: asyncio.Future[None] = loop.create_future()  # set once the socket is really closed
        self._reset()

    def _reset(self) -> None:
        # two columns, not a tuple per read, as in ``probe.model.Exchange`` (why: there)
        self.read_times: list[int] = []
        self.read_payloads: list[bytes] = []
        self.head: asyncio.Future[tuple[int, list[tuple[bytes, bytes]], int]] | None = None
        self.done: asyncio.Future[None] | None = None
        self._head_buffer = b""
        self.head_bytes = 0  # response bytes seen before the head was complete
        self._mode = "idle"  # idle | head | chunked | length | close | done
        self._remaining = 0  # bytes left: in the current chunk (chunked) or in the body (length)
        self._frame = b""  # an incomplete chunk-size line or trailer
        self._skip = 0  # CRLF bytes to skip after a chunk's data
        self._trailer = False
        self.received = 0
        self.max_body = DEFAULT_MAX_BODY_BYTES
        self.truncated = False
        self.keep_alive = True
        self.last_read_ns = 0
        self.head_request = False

    # ------------------------------------------------------------------ lifecycle

    def begin(self, max_body: int, head_request: bool) -> None:
        self._reset()
        self.max_body = max_body
        self.head_request = head_request
        self.head = self._loop.create_future()
        self.done = self._loop.create_future()
        self._mode = "head"
        self.last_read_ns = self._clock()  # no read of this response can be stamped before it was asked for

    @property
    def reusable(self) -> bool:
        return not self.lost and self._mode == "done" and self.keep_alive and not self.truncated

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self._stop_direct_reads is not None:
            self._stop_direct_reads()
            self._stop_direct_reads = None
        if not self.gone.done():
            self.gone.set_result(None)
        if self._mode == "head":
            self._fail(httpx.RemoteProtocolError("connection closed before the response headers"))
        elif self._mode == "close":
            self._finish()
        elif self._mode in ("chunked", "length"):
            self._fail(httpx.RemoteProtocolError("connection closed in the middle of the response body"))

    def eof_received(self) -> bool:
        return False  # close our side too; connection_lost settles the response

    # ------------------------------------------------------------------ the hot path

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._read_buffer

    def buffer_updated(self, nbytes: int) -> None:
        sock = self.socket
        now = self._arrival(None if sock is None else sock.take_age_ns())
        self._received(now, bytes(self._read_buffer[:nbytes]))

    def _arrival(self, age: int | None) -> int:
        """When the read being taken arrived, on this clock: now, less the age of its kernel stamp (``None``: no
        stamp), but never before the previous read of the response, nor before the request (a wall clock stepped
        forward between arrival and read would make the age too large)."""
        now = self._clock()
        if age is None:
            return now
        self.kernel_stamped_reads += 1
        now -= age
        return now if now > self.last_read_ns else self.last_read_ns  # not ``max``, which builds a tuple

    def read_directly_on(self, loop: asyncio.AbstractEventLoop) -> None:
        """Have ``loop``'s selector take this connection's reads itself (``DirectConnectionReads``), where the loop
        offers it (``probe.eventloop.GatheringEventLoop``); elsewhere asyncio's transport reads, through
        ``buffer_updated``."""
        register = getattr(loop, "read_directly", None)
        if register is not None and self.socket is not None:
            self._stop_direct_reads = register(self.socket.fileno(), self)

    def read_failed(self, error: Exception) -> None:
        """Taking a read raised: as asyncio's transport does with a protocol that fails, close the connection."""
        self._fail(httpx.RemoteProtocolError(f"reading the response failed ({type(error).__name__})"))
        self.abort()

    def abort(self) -> None:
        """Close the connection at once, as asyncio's transport does when a read fails (``connection_lost``
        settles the response)."""
        if self.transport is not None:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        """The same as a read of ``data`` into the buffer (for callers that hold bytes)."""
        self._received(self._clock(), data)

    def _received(self, now: int, data: bytes) -> None:
        self.last_read_ns = now
        mode = self._mode
        if mode == "chunked":
            if not (self._frame or self._remaining or self._skip or self._trailer):
                # the usual read of a stream, "<hex size>\r\n<payload>\r\n", kept here without calling
                # ``_dechunk`` and ``_keep``: this runs for every read of every stream
                head = _CHUNK_SIZE_LINE.match(data)
                if head is not None:
                    start = head.end()
                    size = int(head.group(1), 16)
                    end = start + size
                    if (size > 0 and len(data) == end + 2 and data[end:] == b"\r\n"
                            and self.received + size <= self.max_body):
                        self.read_times.append(now)
                        self.read_payloads.append(data[start:end])
                        self.received += size
                        return
            self._dechunk(now, data)
        elif mode == "head":
            self._read_head(now, data)
        elif mode == "length":
            self._take_length(now, data)
        elif mode == "close":
            self._keep(now, data)
        # bytes after the end of a response, or on an idle connection, are ignored; the connection is not reused
        else:
            self.keep_alive = False

    def _keep(self, now: int, payload: bytes) -> None:
        if not payload:
            return
        self.read_times.append(now)
        self.read_payloads.append(payload)
        self.received += len(payload)
        if self.received > self.max_body:
            self.truncated = True
            self._finish()
            if self.transport is not None:
                self.transport.close()

    def _dechunk(self, now: int, data: bytes) -> None:
        """Strip chunked framing from one read, keeping its payload as one stamped piece (the usual read, exactly
        one chunk, is kept by ``_received`` already)."""
        buffer = self._frame + data if self._frame else data
        self._frame = b""
        size = len(buffer)
        position = 0
        pieces: list[bytes] = []
        while position < size:
            if self._remaining:
                end = min(size, position + self._remaining)
                pieces.append(buffer[position:end])
                self._remaining -= end - position
                position = end
                if not self._remaining:
                    self._skip = 2
                continue
            if self._skip:
                skipped = min(self._skip, size - position)
                self._skip -= skipped
                position += skipped
                continue
            line_end = buffer.find(b"\r\n", position)
            if line_end == -1:
                self._frame = buffer[position:]
                if len(self._frame) > MAX_HEAD_BYTES:
                    self._protocol_error("a chunk-size line too long")
                break
            line = buffer[position:line_end]
            position = line_end + 2
            if self._trailer:
                if not line:  # the empty line after the last chunk (and any trailers)
                    self._keep(now, b"".join(pieces))
                    self._finish()
                    return
                continue
            size_text = line.split(b";", 1)[0].strip()
            if not _HEX_DIGITS.fullmatch(size_text):
                self._protocol_error("a chunk size that is not hexadecimal")
                return
            chunk_size = int(size_text, 16)
            if chunk_size == 0:
                self._trailer = True
            else:
                self._remaining = chunk_size
        if pieces:
            self._keep(now, pieces[0] if len(pieces) == 1 else b"".join(pieces))

    def _read_head(self, now: int, data: bytes) -> None:
        self.head_bytes += len(data)
        buffer = self._head_buffer + data
        end = buffer.find(b"\r\n\r\n")
        if end == -1:
            self._head_buffer = buffer
            if len(buffer) > MAX_HEAD_BYTES:
                self._protocol_error("response headers larger than 64 KiB")
            return
        self._head_buffer = b""
        try:
            status, headers = _parse_head(buffer[:end])
        except ValueError as error:
            self._protocol_error(str(error))
            return
        if 100 <= status < 200:  # an interim response (100 Continue): the real one follows
            rest = buffer[end + 4 :]
            if rest:
                self._read_head(now, rest)
            return
        names = {name.lower(): value for name, value in headers}
        connection = names.get(b"connection", b"").lower()
        self.keep_alive = b"close" not in connection
        if self.head is not None and not self.head.done():
            self.head.set_result((status, headers, now))
        rest = buffer[end + 4 :]
        if self.head_request or status in (204, 304):
            self._finish()
        elif b"chunked" in names.get(b"transfer-encoding", b"").lower():
            self._mode = "chunked"
            if rest:
                self._dechunk(now, rest)
        elif b"content-length" in names:
            try:
                self._remaining = int(names[b"content-length"])
            except ValueError:
                self._protocol_error("a content-length that is not a number")
                return
            self._mode = "length"
            if self._remaining == 0:
                self._finish()
            elif rest:
                self._take_length(now, rest)
        else:
            self._mode = "close"
            self.keep_alive = False
            if rest:
                self._keep(now, rest)

    def _take_length(self, now: int, data: bytes) -> None:
        take = data[: self._remaining]
        self._remaining -= len(take)
        self._keep(now, take)
        if self._remaining == 0:
            self._finish()

    # ------------------------------------------------------------------ settling

    def _finish(self) -> None:
        self._mode = "done"
        if self.done is not None and not self.done.done():
            self.done.set_result(None)

    def _fail(self, error: Exception) -> None:
        self._mode = "done"
        self.keep_alive = False
        for future in (self.head, self.done):
            if future is not None and not future.done():
                future.set_exception(error)
                # Nobody may ever await ``done`` when the head already failed; mark it retrieved.
                future.exception()

    def _protocol_error(self, problem: str) -> None:
        self._fail(httpx.RemoteProtocolError(problem))
        if self.transport is not None:
            self.transport.close()

    def close(self) -> None:
        self.keep_alive = False
        if self.transport is not None:
            self.transport.close()


class DirectConnectionReads:
    """The plain-HTTP connections whose reads probe's event loop takes itself (``probe.eventloop``), by socket.

    For a poll's ready sockets, every ``recvmsg`` comes first, back to back, into one batch buffer; then each read
    is stamped and handed to its connection. The clocks are read once per poll, not per read: a read's arrival
    is its kernel stamp moved onto the connection's clock by the difference between that clock and the wall clock,
    read back to back. The end of a stream is left to asyncio's transport, which closes the connection; a read
    that fails aborts it, as asyncio would.
    """

    def __init__(self) -> None:
        self.readers: dict[int, _Connection] = {}
        self._batch: memoryview | None = None  # made on the first read

    def add(self, fd: int, connection: _Connection) -> Callable[[], None]:
        """From now on, ``connection``'s reads are taken here. Returns the function that stops it, which leaves a
        newer connection given the same socket number alone."""
        self.readers[fd] = connection

        def stop() -> None:
            if self.readers.get(fd) is connection:
                del self.readers[fd]

        return stop

    def take(self, fds: list[int]) -> list[int]:
        """Read each of ``fds`` (ready to read, all in ``readers``), then stamp and hand over every read. Returns
        the sockets left to asyncio's transport: at the end of their stream, or with no room left in the batch
        (each read is offered ``READ_BUFFER_BYTES``, as asyncio's would be)."""
        batch = self._batch
        if batch is None:
            batch = self._batch = memoryview(bytearray(DIRECT_READ_BATCH_BYTES))
        last_start = len(batch) - READ_BUFFER_BYTES
        readers = self.readers
        left: list[int] = []
        taken: list[tuple[_Connection, int, int, int, int]] = []  # connection, start, end, kernel stamp, clock
        offset = 0
        for fd in fds:
            connection = readers[fd]
            if offset > last_start:
                left.append(fd)
                continue
            try:
                count, control, _, _ = connection.socket.recvmsg_into(  # type: ignore[union-attr]
                    [batch[offset:]], _CONTROL_BYTES
                )
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:  # reset
                connection.abort()
                continue
            if not count:
                left.append(fd)
                continue
            stamp = kernel_stamp_of(control) if control else 0
            # a read the kernel did not stamp is stamped as it is taken, not after the poll's other reads
            taken.append((connection, offset, offset + count, stamp, 0 if stamp else connection._clock()))
            offset += count
        clock: Clock | None = None
        wall_ns = shift_ns = 0
        for connection, start, end, stamp, now in taken:
            if stamp:
                if connection._clock is not clock:  # once per poll: a transport's connections share its clock
                    clock = connection._clock
                    wall_ns = time.time_ns()
                    shift_ns = clock() - wall_ns
                if 0 <= wall_ns - stamp < MAX_KERNEL_AGE_NS:  # as ``_arrival``
                    connection.kernel_stamped_reads += 1
                    now = stamp + shift_ns
                    if now < connection.last_read_ns:
                        now = connection.last_read_ns
                else:  # the wall clock was stepped between arrival and read: the stamp means nothing
                    now = wall_ns + shift_ns
            try:
                connection._received(now, bytes(batch[start:end]))
            except Exception as error:
                connection.read_failed(error)
        return left


def _parse_head(head: bytes) -> tuple[int, list[tuple[bytes, bytes]]]:
    status_line, *lines = head.split(b"\r\n")
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise ValueError("a response that is not HTTP/1.x")
    try:
        status = int(parts[1])
    except ValueError:
        raise ValueError("a status code that is not a number") from None
    headers = []
    for line in lines:
        name, colon, value = line.partition(b":")
        if not colon:
            raise ValueError("a malformed header line")
        headers.append((name.strip(), value.strip()))
    return status, headers


class StampedBody(httpx.AsyncByteStream):
    """The response body as the transport stamped it. ``wait()`` returns when the body is complete.

    Iterating it (the generic httpx way) yields the payload pieces after completion, for callers that do not care
    about timing; probe's client takes ``read_times`` and ``read_payloads`` instead.
    """

    def __init__(self, connection: _Connection, release: Callable[[_Connection], None], read_timeout: Callable[[], float | None], clock: Clock) -> None:
        self._connection = connection
        self._release = release
        self._read_timeout = read_timeout
        self._clock = clock
        self._closed = False
        # this response's reads: a reused connection starts new lists for the next response
        self.read_times = connection.read_times
        self.read_payloads = connection.read_payloads

    @property
    def truncated(self) -> bool:
        return self._connection.truncated

    async def wait(self) -> None:
        """Until the body is complete; ``httpx.ReadTimeout`` when no byte came for the read (stall) timeout."""
        connection = self._connection
        done = connection.done
        assert done is not None
        stall_s = self._read_timeout()
        if stall_s is None:
            await asyncio.shield(done)
            return
        while not done.done():
            idle_s = (self._clock() - connection.last_read_ns) / 1e9
            left = stall_s - idle_s
            if left <= 0:
                connection.close()
                raise httpx.ReadTimeout(f"no byte for {stall_s:g} s")
            with anyio.move_on_after(left):
                await asyncio.shield(done)
        done.result()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        await self.wait()
        for piece in self.read_payloads:
            yield piece

    async def aclose(self) -> None:
        self.close()

    def close(self) -> None:
        """Hand the connection back (for reuse when the body was read to its end). Idempotent; never waits."""
        if self._closed:
            return
        self._closed = True
        connection = self._connection
        if connection.done is not None and connection.done.done() and not connection.done.cancelled():
            connection.done.exception()  # retrieved: an error here was already reported to the caller
        self._release(connection)


@dataclass(slots=True)
class StampedResponse:
    """What ``StampingTransport.send`` returns: the response head as received, when it arrived (the clock's ns, the
    kernel's receive time where reads are kernel-stamped), and the body, still being stamped read by read."""

    status: int
    headers: list[tuple[bytes, bytes]]
    headers_ns: int
    body: StampedBody

    def header_fields(self) -> dict[str, str]:
        """Header names lowercased; a name sent more than once has its values joined with ", ", as httpx does."""
        fields: dict[str, str] = {}
        for name, raw in self.headers:
            key = name.decode("latin-1").lower()
            value = _header_text(raw)
            fields[key] = f"{fields[key]}, {value}" if key in fields else value
        return fields


def _header_text(value: bytes) -> str:
    """A header value as text: ASCII, else UTF-8, else Latin-1 (httpx's order)."""
    try:
        return value.decode("ascii")
    except UnicodeDecodeError:
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return value.decode("latin-1")


class StampingTransport(httpx.AsyncBaseTransport):
    """httpx transport whose response bodies are stamped per socket read (see the module docstring)."""

    def __init__(self, *, verify: bool | ssl.SSLContext = True, clock: Clock = time.perf_counter_ns) -> None:
        self._clock = clock
        if isinstance(verify, ssl.SSLContext):
            self._ssl: ssl.SSLContext | None = verify
        elif verify:
            self._ssl = None  # made on first https use: loading the CA bundle costs ~20 ms
        else:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            self._ssl = context
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._open: set[_Connection] = set()
        self._read_buffer = new_read_buffer()
        self._stamping_keeper = keep_kernel_stamping_on()

    def ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = httpx.create_ssl_context()
        return self._ssl

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """httpx's transport interface, for any httpx client: ``send`` wrapped in httpx's request and response."""
        response = await self.send(
            request.method,
            request.url,
            request.headers.raw,
            request.content,
            timeouts=request.extensions.get("timeout", {}),
            trace=request.extensions.get("trace"),
            max_body=int(request.extensions.get(READS_EXTENSION, DEFAULT_MAX_BODY_BYTES)),
            request=request,
        )
        return httpx.Response(
            response.status,
            headers=response.headers,
            stream=response.body,
            # httpx wraps the stream it is given, so the stamped body is handed over as an extension too.
            extensions={"http_version": b"HTTP/1.1", "probe_headers_ns": response.headers_ns, READS_EXTENSION: response.body},
            request=request,
        )

    async def send(
        self,
        method: str,
        url: httpx.URL,
        headers: Sequence[tuple[bytes, bytes]],
        body: bytes,
        *,
        timeouts: Mapping[str, float | None],
        trace: Any = None,
        max_body: int = DEFAULT_MAX_BODY_BYTES,
        request: httpx.Request | None = None,
    ) -> StampedResponse:
        """Send one request; return once its response head has arrived, with the body still being stamped.

        probe's client calls this directly: building httpx's ``Request`` and ``Response`` and looking headers up in
        them took 24-26 µs a request, against 5-8 µs this way (micro-benchmark), and nothing here needs them. ``timeouts`` is read again when the body
        starts (its "read" entry bounds the wait for the head, then each gap between reads), so a caller can
        switch it once the head is in. ``trace`` gets httpx's connection phase names. Errors are httpx's
        exceptions; ``request`` is only attached to them.
        """
        scheme = url.scheme
        host = url.host
        port = url.port or (443 if scheme == "https" else 80)
        origin = (scheme, host, port)
        message = wire_request(method, url, headers, body)
        connection = self._idle_connection(origin)
        reused = connection is not None
        while True:
            if connection is None:
                connection = await self._connect(origin, timeouts.get("connect"), trace)
            connection.begin(max_body, method == "HEAD")
            try:
                assert connection.transport is not None and connection.head is not None
                connection.transport.write(message)
                with anyio.fail_after(timeouts.get("read")):
                    status, response_headers, headers_ns = await asyncio.shield(connection.head)
                break
            except TimeoutError:
                self._discard(connection)
                raise httpx.ReadTimeout("no response headers in time", request=request) from None
            except httpx.RemoteProtocolError:
                self._discard(connection)
                if not (reused and connection.lost and not connection.head_bytes):
                    raise
                # The server had closed this idle keep-alive connection before our request reached it (nothing
                # came back): the request was never served, so it goes once more on a new connection.
                connection, reused = None, False
            except BaseException:
                self._discard(connection)
                raise
        if trace is not None:
            await trace("http11.receive_response_headers.complete", {"probe_t_ns": headers_ns})

        def read_timeout() -> float | None:
            return timeouts.get("read")

        stamped = StampedBody(connection, lambda c: self._release(origin, c), read_timeout, self._clock)
        return StampedResponse(status, response_headers, headers_ns, stamped)

    def _idle_connection(self, origin: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle.get(origin)
        while idle:
            connection = idle.pop()
            if not connection.lost and connection.transport is not None and not connection.transport.is_closing():
                return connection
            self._discard(connection)
        return None

    async def _connect(self, origin: tuple[str, str, int], timeout_s: float | None, trace: Any) -> _Connection:
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        connection = _Connection(self._clock, loop, self._read_buffer)
        try:
            with anyio.fail_after(timeout_s):
                if trace is not None:
                    await trace("connection.connect_tcp.started", {})
                sock = await open_socket(host, port)
                if isinstance(sock, KernelStampedSocket):
                    connection.socket = sock
                try:
                    transport, _ = await loop.create_connection(lambda: connection, sock=sock)
                except BaseException:
                    sock.close()
                    raise
                if scheme == "http" and connection.socket is not None:  # TLS reads go through asyncio's TLS layer
                    connection.read_directly_on(loop)
                if trace is not None:
                    await trace("connection.connect_tcp.complete", {})
                if scheme == "https":
                    if trace is not None:
                        await trace("connection.start_tls.started", {})
                    tls = await loop.start_tls(transport, connection, self.ssl_context(), server_hostname=host)
                    if tls is None:
                        raise httpx.ConnectError("TLS handshake failed")
                    connection.transport = tls  # type: ignore[assignment]
                    if trace is not None:
                        await trace("connection.start_tls.complete", {})
        except TimeoutError:
            connection.close()
            raise httpx.ConnectTimeout(f"could not connect within {timeout_s} s") from None
        except ssl.SSLError as error:
            connection.close()
            raise httpx.ConnectError(f"TLS handshake failed: {error.reason or type(error).__name__}") from None
        except socket.gaierror as error:
            raise httpx.ConnectError(f"name or service not known ({error.strerror})") from None
        except OSError as error:
            connection.close()
            raise httpx.ConnectError(f"connection failed: {error.strerror or type(error).__name__}") from None
        self._open.add(connection)
        return connection

    def _release(self, origin: tuple[str, str, int], connection: _Connection) -> None:
        if connection.reusable:
            self._idle.setdefault(origin, []).append(connection)
        else:
            self._discard(connection)

    def _discard(self, connection: _Connection) -> None:
        connection.close()
        self._open.discard(connection)

    async def aclose(self) -> None:
        """Close every connection and wait (briefly) until the sockets are really closed: a TLS close is
        asynchronous, and a loop that stops before it finishes leaks the socket."""
        if self._stamping_keeper is not None:
            self._stamping_keeper.close()
        connections = list(self._open)
        self._open.clear()
        self._idle.clear()
        for connection in connections:
            if connection.transport is not None:
                connection.transport.abort()
        pending = [c.gone for c in connections if c.transport is not None and not c.gone.done()]
        if pending:
            with anyio.move_on_after(1.0):
                await asyncio.wait(pending)


def wire_request(method: str, url: httpx.URL, headers: Sequence[tuple[bytes, bytes]], body: bytes) -> bytes:
    """The request's bytes on the wire, headers in the order httpx gives them: ``Host`` first unless given, then
    the headers, with ``Content-Length`` where httpx adds it (after the headers for a body, before them for an
    empty POST, PUT or PATCH). An ``httpx.Request`` already carries both, so nothing is added to one."""
    names = {name.lower() for name, _ in headers}
    before: list[tuple[bytes, bytes]] = []
    after: list[tuple[bytes, bytes]] = []
    if b"host" not in names and url.host:
        before.append((b"Host", url.netloc))
    if b"content-length" not in names and b"transfer-encoding" not in names:
        if body:
            after.append((b"Content-Length", str(len(body)).encode()))
        elif method in ("POST", "PUT", "PATCH"):
            before.append((b"Content-Length", b"0"))
    lines = [method.encode() + b" " + url.raw_path + b" HTTP/1.1"]
    lines += [name + b": " + value for name, value in (*before, *headers, *after)]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body
