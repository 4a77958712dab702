"""The only httpx code: send one request, stamp every network read with the injected clock, compute nothing.

Reads are stamped inside the transport (``probe.transport``), with the time the kernel received them where the
platform allows: one clock call, one list append and the chunked-encoding bookkeeping. SSE decoding, JSON parsing and token counting happen after the stream, in
pure code (``probe.derive``), so the measurer does not move the measurement. Transport failures become data on the :class:`~probe.model.Exchange`, never exceptions.
"""

from __future__ import annotations

import functools
import ssl
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

import anyio
import httpx

from probe.model import ErrorKind, Exchange, HttpRequest, Timeouts
from probe.transport import READS_EXTENSION, StampedBody, StampingTransport

Clock = Callable[[], int]

DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
"""A response body larger than this is cut and recorded as ``too_large`` (an endless or runaway stream)."""


class StampingClient(httpx.AsyncClient):
    """An httpx client on probe's stamping transport, which :func:`exchange` calls directly.

    httpx's own send path (cookie jar, auth flow, redirect loop, event hooks) costs about 250 µs of event-loop CPU
    per request and does nothing probe wants: a measurement carries no cookies, sets its auth header itself and
    never follows a redirect. At 256 concurrent streams that is 60 ms of loop time spent while first tokens arrive.
    """

    def __init__(self, transport: StampingTransport) -> None:
        super().__init__(transport=transport, timeout=None, follow_redirects=False)
        self.stamping_transport = transport


def make_http_client(*, verify: bool | ssl.SSLContext = True, clock: Clock = time.perf_counter_ns) -> httpx.AsyncClient:
    """An httpx client on probe's stamping transport (``probe.transport``): reads are stamped as they arrive.

    Timeouts are set per request; no proxy is used, so a measurement is of the endpoint itself.
    """
    return StampingClient(StampingTransport(verify=verify, clock=clock))


@functools.lru_cache(maxsize=256)
def _parsed_url(url: str) -> httpx.URL:
    """A plan sends many requests to a few URLs; parsing one costs about 20 µs, so each is parsed once."""
    return httpx.URL(url)


def utc_now_iso() -> str:
    """The one wall-clock stamp per sample, for humans and windows; never used for durations."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def exchange(
    client: httpx.AsyncClient,
    request: HttpRequest,
    timeouts: Timeouts,
    *,
    clock: Clock = time.perf_counter_ns,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> Exchange:
    """Send ``request`` and record what came back, read by read.

    Deadlines: ``connect_s`` for the connection, ``first_byte_s`` until the response headers, ``stall_s`` between
    two reads of the body, ``total_s`` for everything. Whatever happens, an :class:`Exchange` is returned.
    """
    phase_marks: dict[str, int] = {}

    async def trace(name: str, info: dict[str, Any]) -> None:
        phase_marks[name] = clock()

    # The transport reads the "read" timeout when it starts waiting for headers and again when the body starts, so
    # switching it after the headers gives a first-byte deadline and then a stall deadline at no per-read cost.
    timeout_extension = {
        "connect": timeouts.connect_s,
        "read": timeouts.first_byte_s,
        "write": timeouts.connect_s,
        "pool": timeouts.connect_s,
    }
    headers = list(request.headers) + list(request.secret_headers)
    stamping = client.stamping_transport if isinstance(client, StampingClient) else None
    http_request: httpx.Request | None = None
    if stamping is None:  # any other client (tests with respx) goes through httpx's own send path
        extensions = {"timeout": timeout_extension, "trace": trace, READS_EXTENSION: max_body_bytes}
        http_request = client.build_request(request.method, request.url, headers=headers, content=request.body,
                                            extensions=extensions)
    else:
        url = _parsed_url(request.url)
        wire_headers = [(name.encode("ascii"), value.encode("ascii")) for name, value in headers]
    started_at = utc_now_iso()
    record = Exchange(started_ns=clock(), started_at=started_at)  # after building: that is not the endpoint's time
    received = 0
    read_times: list[int] = []
    read_payloads: list[bytes] = []
    body: StampedBody | None = None
    response: httpx.Response | None = None
    with anyio.move_on_after(timeouts.total_s) as deadline:
        try:
            if stamping is not None:
                stamped = await stamping.send(request.method, url, wire_headers, request.body,
                                              timeouts=timeout_extension, trace=trace, max_body=max_body_bytes)
                body = stamped.body
                record.headers_ns = stamped.headers_ns
                record.status = stamped.status
                fields = stamped.header_fields()
            else:
                assert http_request is not None
                response = await client.send(http_request, stream=True)
                record.headers_ns = (
                    response.extensions.get("probe_headers_ns")
                    or phase_marks.get("http11.receive_response_headers.complete")
                    or clock()
                )
                record.status = response.status_code
                fields = dict(response.headers.items())
                stamped_body = response.extensions.get(READS_EXTENSION)  # a stamping transport under another client
                if isinstance(stamped_body, StampedBody):
                    body = stamped_body
            record.content_type = fields.get("content-type")
            record.retry_after = _retry_after(fields)
            record.request_id = _request_id(fields)
            timeout_extension["read"] = timeouts.stall_s
            if body is not None:  # stamped by the transport as each read arrived; kept below, whatever happens
                await body.wait()
            else:  # any other transport (tests with respx): stamp here, one read at a time
                assert response is not None
                async for chunk in response.aiter_raw():
                    read_times.append(clock())
                    read_payloads.append(chunk)
                    received += len(chunk)
                    if received > max_body_bytes:
                        record.truncated = True
                        break
        except httpx.TimeoutException as error:
            record.failure = _timeout_failure(error, headers_seen=record.status is not None, timeouts=timeouts)
        except httpx.HTTPError as error:
            record.failure = _transport_failure(error, headers_seen=record.status is not None)
        except ssl.SSLError as error:  # some TLS failures escape httpx's mapping
            record.failure = ("connect", f"TLS failure: {type(error).__name__}")
        finally:
            if body is not None:  # every read so far, after a stall, a cut or a cancel too
                read_times, read_payloads = body.read_times, body.read_payloads
                record.truncated = body.truncated
            # Tuples, not the lists they were filled in: a finished exchange may wait a while to be derived (256
            # at once when a round of streams ends together), and the collector walks every item of a list in its
            # younger generations each pass, while a tuple of ints or bytes is untracked after its first.
            record.read_times, record.read_payloads = tuple(read_times), tuple(read_payloads)
            if response is not None:
                with anyio.CancelScope(shield=True):
                    await response.aclose()
            elif body is not None:
                body.close()
    record.ended_ns = clock()
    if deadline.cancelled_caught:
        record.failure = ("timeout", f"no complete response within the total timeout of {timeouts.total_s:g} s")
    _set_connection_times(record, phase_marks)
    return record


def _retry_after(headers: Mapping[str, str]) -> str | None:
    """Azure's ``retry-after-ms`` is more precise than ``retry-after``; keep the raw seconds text either way."""
    milliseconds = headers.get("retry-after-ms")
    if milliseconds:
        try:
            return f"{float(milliseconds) / 1000:g}"
        except ValueError:
            pass
    return headers.get("retry-after")


_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-generation-id", "x-sim-request-id")


def _request_id(headers: Mapping[str, str]) -> str | None:
    for name in _REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return value[:200]
    return None


def _timeout_failure(error: httpx.TimeoutException, *, headers_seen: bool, timeouts: Timeouts) -> tuple[ErrorKind, str]:
    if isinstance(error, httpx.ConnectTimeout):
        return "timeout", f"could not connect within {timeouts.connect_s:g} s"
    if isinstance(error, httpx.ReadTimeout):
        if headers_seen:
            return "stall", f"no byte for {timeouts.stall_s:g} s in the middle of the stream"
        return "timeout", f"no response headers within {timeouts.first_byte_s:g} s"
    return "timeout", f"{type(error).__name__} while sending the request"


def _transport_failure(error: httpx.HTTPError, *, headers_seen: bool) -> tuple[ErrorKind, str]:
    """Map httpx's exceptions to an error kind. Messages name the kind of failure, never the request itself."""
    if isinstance(error, httpx.ConnectError):
        cause = str(error).lower()
        if "ssl" in cause or "certificate" in cause or "tls" in cause:
            return "connect", "TLS handshake failed"
        if "name or service" in cause or "nodename" in cause or "getaddrinfo" in cause or "resolution" in cause:
            return "connect", "DNS lookup failed"
        return "connect", "connection failed (refused or unreachable)"
    if isinstance(error, (httpx.RemoteProtocolError, httpx.ReadError)):
        if headers_seen:
            return "disconnect", "connection closed in the middle of the stream"
        return "disconnect", "connection closed before the response headers"
    if isinstance(error, httpx.UnsupportedProtocol):
        return "connect", "unsupported URL scheme"
    return "connect", f"transport error: {type(error).__name__}"


def _set_connection_times(record: Exchange, marks: dict[str, int]) -> None:
    """Connect and TLS durations, only when this request opened a new connection."""
    started, completed = marks.get("connection.connect_tcp.started"), marks.get("connection.connect_tcp.complete")
    if started is not None and completed is not None:
        record.connect_ns = completed - started
    started, completed = marks.get("connection.start_tls.started"), marks.get("connection.start_tls.complete")
    if started is not None and completed is not None:
        record.tls_ns = completed - started
