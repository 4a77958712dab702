"""The simulator's minimal HTTP/1.1 framing."""

from __future__ import annotations

import pytest

from probe.sim import http1


def test_parse_head() -> None:
    """Request line, lower-cased headers, path without query, keep-alive default for HTTP/1.1."""
    head = http1.parse_head(
        b"POST /v1/chat/completions?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\nX-Thing:  v \r\n\r\n"
    )
    assert (head.method, head.path, head.query) == ("POST", "/v1/chat/completions", {"x": ["1"]})
    assert head.header("x-thing") == "v"
    assert head.content_length() == 12
    assert head.keep_alive


@pytest.mark.parametrize(
    "raw, keep_alive",
    [
        (b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", False),
        (b"GET / HTTP/1.0\r\n\r\n", False),
        (b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", True),
    ],
)
def test_keep_alive(raw: bytes, keep_alive: bool) -> None:
    """Connection: close ends HTTP/1.1 keep-alive; HTTP/1.0 keeps alive only when asked."""
    assert http1.parse_head(raw).keep_alive is keep_alive


@pytest.mark.parametrize(
    "raw, status",
    [
        (b"NONSENSE\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nno colon\r\n\r\n", 400),
    ],
)
def test_malformed_heads(raw: bytes, status: int) -> None:
    """A malformed head is an HttpError with the status to answer."""
    with pytest.raises(http1.HttpError) as caught:
        http1.parse_head(raw)
    assert caught.value.status == status


@pytest.mark.parametrize(
    "header, status",
    [(b"Transfer-Encoding: chunked", 411), (b"Content-Length: -1", 400), (b"Content-Length: 99999999999", 413)],
)
def test_body_length_refusals(header: bytes, status: int) -> None:
    """Chunked, invalid and oversized bodies are refused before reading them."""
    head = http1.parse_head(b"POST / HTTP/1.1\r\n" + header + b"\r\n\r\n")
    with pytest.raises(http1.HttpError) as caught:
        head.content_length()
    assert caught.value.status == status


def test_framing() -> None:
    """Chunks carry their hex length; full responses carry Content-Length."""
    assert http1.chunk(b"x" * 26) == b"1a\r\n" + b"x" * 26 + b"\r\n"
    response = http1.full_response(404, b"{}", "application/json", [("x-a", "b")], keep_alive=False)
    assert response == (
        b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 2\r\n"
        b"connection: close\r\nx-a: b\r\n\r\n{}"
    )
