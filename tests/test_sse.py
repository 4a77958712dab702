"""The SSE decoder follows the WHATWG rules whatever the network does to the bytes."""

from __future__ import annotations

import re

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


def test_bom_split_across_reads_is_still_stripped() -> None:
    """The BOM is recognised on the first complete line, however the first reads cut its three bytes."""
    for reads in every_split("\ufeffdata: x\n\n".encode()):
        assert decode_all(reads) == [SSEEvent(data="x")]


def test_a_bom_after_the_first_line_is_data() -> None:
    """Only the stream's very first line may start with a BOM; later, it is part of the line."""
    assert decode_all(["\ndata: \ufeffx\n\n".encode()]) == [SSEEvent(data="\ufeffx")]


def test_mixed_line_endings_at_every_split() -> None:
    """CR CR, CRLF CRLF and LF CRLF in one body each end a line twice, and so dispatch an event."""
    body = b"data: a\r\rdata: b\r\n\r\ndata: c\n\r\nevent: e\rdata: d\r\n\n"
    want = [SSEEvent(data="a"), SSEEvent(data="b"), SSEEvent(data="c"), SSEEvent(data="d", event="e")]
    for reads in every_split(body):
        assert decode_all(reads) == want


@pytest.mark.parametrize(
    "body",
    [b"data:x\nevent:e\n\n", b"data: x\nevent: e\n\n", b"event:e\ndata:x\n\n", b"data:x\r\nevent: e\r\n\r\n"],
)
def test_fields_with_and_without_the_space_mean_the_same(body: bytes) -> None:
    """``data: x`` and ``data:x`` (and the same for ``event``) are one field, whichever path decodes the line."""
    assert decode_all([body]) == [SSEEvent(data="x", event="e")]


def test_only_one_space_after_the_colon_is_stripped() -> None:
    assert decode_all([b"data:  x\nevent:  e\n\n"]) == [SSEEvent(data=" x", event=" e")]


def test_last_event_id_carries_over_to_later_events() -> None:
    """An ``id`` is the last event ID until another one comes, even across an event with no data."""
    body = b"id: 7\n\ndata: a\n\ndata: b\nid: 8\n\ndata: c\n\n"
    assert decode_all([body]) == [SSEEvent(data="a", id="7"), SSEEvent(data="b", id="8"), SSEEvent(data="c", id="8")]


def test_an_event_name_never_leaks_into_the_next_event() -> None:
    """The event type is reset at every blank line, also when no event was dispatched."""
    assert decode_all([b"event: ping\n\ndata: a\n\nevent: x\ndata: b\n\ndata: c\n\n"]) == [
        SSEEvent(data="a"),
        SSEEvent(data="b", event="x"),
        SSEEvent(data="c"),
    ]


def test_a_trailing_line_without_its_end_is_processed_at_close() -> None:
    """At EOF the unterminated last line still counts: a data line leaves an event pending, a comment does not."""
    decoder = SSEDecoder()
    decoder.feed(b"data: a\n\n: bye")
    decoder.close()
    assert (decoder.comments, decoder.pending_at_eof) == (1, False)
    decoder = SSEDecoder()
    decoder.feed(b"data: a\n\ndata: b")
    decoder.close()
    assert decoder.pending_at_eof


def one_read_per_event(body: bytes) -> list[bytes]:
    """The body cut after every blank line (LF or CRLF line endings): how a streaming server usually writes it."""
    pieces = re.split(rb"(?<=\n\n)|(?<=\r\n\r\n)", body)
    return [piece for piece in pieces if piece]


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_a_recorded_body_read_event_by_event_decodes_as_a_whole(path) -> None:
    """Reads of exactly one event take a shortcut past line splitting; it gives the events the rules give."""
    body = path.read_bytes()
    assert decode_all(one_read_per_event(body)) == decode_all([body])


@pytest.mark.parametrize(
    ("reads", "want"),
    [
        ([b"data: a\n\n", b"event: e\n", b"data: b\n\n", b"data: c\n\n"],
         [SSEEvent(data="a"), SSEEvent(data="b", event="e"), SSEEvent(data="c")]),
        ([b"data: a\n\n", b"id: 9\n", b"data: b\n\n", b"event: x\ndata: c\n\n"],
         [SSEEvent(data="a"), SSEEvent(data="b", id="9"), SSEEvent(data="c", event="x", id="9")]),
        ([b"data: a\n\n", b"data: b\n", b"data: c\n\n"], [SSEEvent(data="a"), SSEEvent(data="b\nc")]),
        ([b"data: a\n\n", b"data: b\r\n\n", b"event: \ndata: \n\n"],
         [SSEEvent(data="a"), SSEEvent(data="b"), SSEEvent(data="")]),
        ([b"data: a\n\n", b"event: e\n\n", b"data: b\ndata: c\n\n"], [SSEEvent(data="a"), SSEEvent(data="b\nc")]),
        ([b"data: a\r\n\r\n", b"event: e\r\n", b"data: b\r\n\r\n", b"data: c\r\n\r\n"],
         [SSEEvent(data="a"), SSEEvent(data="b", event="e"), SSEEvent(data="c")]),
        ([b"data: a\r\n\r\n", b"data: b\r\n", b"data: c\r\n\r\n", b"data: x\ry\r\n\r\n", b"data: d\r\n\r\n"],
         [SSEEvent(data="a"), SSEEvent(data="b\nc"), SSEEvent(data="x"), SSEEvent(data="d")]),
        ([b"data: a\r\n\r\n", b"data: b\r", b"\n\r\n", b"data: c\r\n\r\n"],
         [SSEEvent(data="a"), SSEEvent(data="b"), SSEEvent(data="c")]),
    ],
    ids=["event-name-from-an-earlier-read", "id-from-an-earlier-read", "data-pending-from-an-earlier-read",
         "cr-and-empty-fields", "event-without-data-and-two-data-lines", "crlf-event-name-from-an-earlier-read",
         "crlf-data-pending-and-a-lone-cr", "crlf-a-line-ending-split-between-reads"],
)
def test_a_one_event_read_keeps_what_earlier_reads_left(reads: list[bytes], want: list[SSEEvent]) -> None:
    """The shortcut applies only when nothing is pending, and carries the event name and last ID as the rules do."""
    assert decode_all(reads) == want
