"""Just enough HTTP/1.1 for the simulator, with no I/O: parse a request head, frame a response.

Written out rather than driven through h11 so the response body can be framed ahead of time and each event
leaves in exactly one ``transport.write`` when it is due, with no state machine on the hot path. Accepts what
httpx and curl send (Content-Length bodies, keep-alive, pipelined requests served in order); refuses chunked
request bodies, which no client of the simulator sends.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 8 * 1024 * 1024
LAST_CHUNK = b"0\r\n\r\n"


class HttpError(Exception):
    """A request the server answers with ``status`` and then closes the connection."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class RequestHead:
    """A parsed request line and headers. Header names are lower-cased; order is kept."""

    method: str
    target: str
    version: str
    headers: tuple[tuple[str, str], ...]

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (lower-case), or ``None``."""
        return next((v for k, v in self.headers if k == name), None)

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.target).query)

    @property
    def keep_alive(self) -> bool:
        tokens = {t.strip().lower() for t in (self.header("connection") or "").split(",")}
        if self.version == "HTTP/1.0":
            return "keep-alive" in tokens
        return "close" not in tokens

    def content_length(self) -> int:
        """Body length; raises ``HttpError`` for chunked bodies, bad or oversized lengths."""
        if self.header("transfer-encoding") is not None:
            raise HttpError(411, "chunked request bodies are not supported; send Content-Length")
        raw = self.header("content-length")
        if raw is None:
            return 0
        if not raw.strip().isdigit():
            raise HttpError(400, "invalid Content-Length")
        length = int(raw)
        if length > MAX_BODY_BYTES:
            raise HttpError(413, "request body too large")
        return length


def parse_head(data: bytes) -> RequestHead:
    """Parse the bytes up to and including the blank line that ends a request head."""
    try:
        text = data.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
        raise HttpError(400, "undecodable request head") from None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise HttpError(400, "malformed request line")
    method, target, version = parts
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise HttpError(400, "malformed header line")
        headers.append((name.lower(), value.strip()))
    return RequestHead(method=method, target=target, version=version, headers=tuple(headers))


def response_head(status: int, headers: Iterable[tuple[str, str]]) -> bytes:
    """Status line and headers, ending with the blank line."""
    reason = HTTPStatus(status).phrase
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines.extend(f"{name}: {value}" for name, value in headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def chunk(payload: bytes) -> bytes:
    """One chunk of a ``Transfer-Encoding: chunked`` body (``payload`` must not be empty)."""
    return b"%x\r\n%b\r\n" % (len(payload), payload)


def full_response(
    status: int, body: bytes, content_type: str, headers: Iterable[tuple[str, str]] = (), keep_alive: bool = True
) -> bytes:
    """A complete response with a Content-Length body."""
    all_headers = [
        ("content-type", content_type),
        ("content-length", str(len(body))),
        ("connection", "keep-alive" if keep_alive else "close"),
        *headers,
    ]
    return response_head(status, all_headers) + body
