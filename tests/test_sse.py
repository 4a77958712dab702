"""The SSE decoder follows the WHATWG rules whatever the network does to the bytes."""

from __future__ import annotations

import pytest

from probe.model import SSEEvent
from probe.sse import SSEDecoder, decode_all
from tests.conftest import SSE_FIXTURES


def every_split(body: bytes) -> list[list[bytes]]:
    """The body as one read, as two reads split at every position, and as one read per byte."""
    splits = [[body], [bytes([b]) for b in body]]
    splits += [[body[:i], body[i:]] for i in range(1, len(body))]
    return splits


RECORDED = sorted(p for p in SSE_FIXTURES.rglob("*.sse"))


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_recorded_bodies_decode_identically_at_every_split(path) -> None:
    """A recorded body gives the same events however it is cut into reads."""
    body = path.read_bytes()
    expected = decode_all([body])
    assert expected, "a fixture with no event tests nothing"
    for reads in every_split(body):
        assert decode_all(reads) == expected


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_every_line_ending_is_honoured(eol: bytes) -> None:
    """LF, CRLF and a lone CR all end a line, and each split position still gives the same events."""
    body = eol.join([b"event: ping", b"data: one", b"", b"data: two", b"", b""])
    want = [SSEEvent(data="one", event="ping"), SSEEvent(data="two")]
    for reads in every_split(body):
        assert decode_all(reads) == want


def test_crlf_split_across_reads_is_one_line_ending() -> None:
    """A CR at the end of one read and the LF at the start of the next make one line ending, not two."""
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\n\r") == [SSEEvent(data="a")]
    assert decoder.feed(b"\ndata: b\r\n\r\n") == [SSEEvent(data="b")]


def test_comments_are_counted_not_dispatched() -> None:
    decoder = SSEDecoder()
    events = decoder.feed(b": OPENROUTER PROCESSING\n\n: keep-alive\n\ndata: x\n\n")
    assert events == [SSEEvent(data="x")]
    assert decoder.comments == 2


def test_multi_line_data_joins_with_lf_and_one_space_is_stripped() -> None:
    events = decode_all([b"data:first\ndata:  second\ndata\n\n"])
    assert events == [SSEEvent(data="first\n second\n")]


def test_u2028_inside_json_is_not_a_line_break() -> None:
    body = 'data: {"content":"a\u2028b\u0085c"}\n\n'.encode()
    assert decode_all([body]) == [SSEEvent(data='{"content":"a\u2028b\u0085c"}')]


def test_multibyte_character_split_across_reads() -> None:
    body = 'data: {"t":"héllo ✓"}\n\n'.encode()
    for reads in every_split(body):
        assert decode_all(reads) == [SSEEvent(data='{"t":"héllo ✓"}')]


def test_leading_bom_is_stripped_once() -> None:
    assert decode_all(["\ufeffdata: x\n\n".encode()]) == [SSEEvent(data="x")]


def test_id_field_and_only_first_colon_splits() -> None:
    assert decode_all([b"id: 7\ndata: a:b: c\n\n"]) == [SSEEvent(data="a:b: c", id="7")]


def test_event_without_data_is_not_dispatched() -> None:
    assert decode_all([b"event: ping\n\ndata: x\n\n"]) == [SSEEvent(data="x")]


def test_unterminated_event_at_eof_is_discarded_and_flagged() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: complete\n\ndata: partial") == [SSEEvent(data="complete")]
    assert decoder.close() == []
    assert decoder.pending_at_eof


def test_clean_end_is_not_flagged() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"data: complete\n\n")
    decoder.close()
    assert not decoder.pending_at_eof
