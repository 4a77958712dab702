"""From stamped reads to a Sample: the metric definitions, success rules and error kinds, on literal data."""

from __future__ import annotations

import json

import pytest

from probe.derive import MAX_LINE_BYTES, derive_sample
from probe.dialects import anthropic_messages, gemini, openai_chat, openai_responses
from probe.model import Exchange, PlannedRequest, Target, TextDelta, UsageReport
from probe.store import Store
from tests.conftest import sse_fixture, sse_fixtures
from tests.support import WordCounter

MS = 1_000_000
KEY = "canary-derive-0123456789abcdefghij"


def request(**overrides) -> PlannedRequest:
    target = Target(base_url="http://127.0.0.1:1/v1", model_id="m-id", api_key=KEY)
    return PlannedRequest(provider="p", model="m", api="openai-chat", target=target, prompt="x", max_tokens=100, **overrides)


def chunk(content: str | None = None, *, role: bool = False, finish: str | None = None, reasoning: str | None = None) -> bytes:
    delta: dict = {}
    if role:
        delta = {"role": "assistant", "content": ""}
    if content is not None:
        delta["content"] = content
    if reasoning is not None:
        delta["reasoning_content"] = reasoning
    payload = {"model": "m-id", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], "usage": None}
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def usage(prompt: int, completion: int, reasoning: int = 0) -> bytes:
    payload = {"choices": [], "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "completion_tokens_details": {"reasoning_tokens": reasoning}}}
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


DONE = b"data: [DONE]\n\n"


def stream(reads: list[tuple[int, bytes]], *, status: int = 200, headers_ms: int = 5, content_type: str = "text/event-stream", **fields) -> Exchange:
    end = (reads[-1][0] if reads else headers_ms * MS) + MS
    return Exchange(started_ns=0, started_at="2026-12-01T00:00:00.000Z", status=status, headers_ns=headers_ms * MS,
                    content_type=content_type, read_times=[t for t, _ in reads], read_payloads=[b for _, b in reads],
                    ended_ns=end, **fields)


def derive(exchange: Exchange, **overrides):
    return derive_sample(exchange, request(**overrides), openai_chat, WordCounter(), sample_id="s1", run_id="r1")


def test_role_chunk_long_before_the_first_token_does_not_move_ttft() -> None:
    sample = derive(stream([(10 * MS, chunk(role=True)), (200 * MS, chunk(" one")), (210 * MS, chunk(" two")),
                            (220 * MS, chunk(finish="stop") + usage(5, 2) + DONE)]))
    assert sample.status == "ok"
    assert sample.ttfb_s == pytest.approx(0.005)
    assert sample.ttft_s == pytest.approx(0.200)
    assert sample.ttfat_s == pytest.approx(0.200)
    assert sample.e2e_s == pytest.approx(0.221)


def test_decode_speed_excludes_the_tokens_of_the_first_chunk() -> None:
    """3 tokens per chunk every 30 ms is 100 tok/s: (12 - 3) tokens over the 90 ms after the first chunk."""
    reads = [(200 * MS + i * 30 * MS, chunk(" a b c")) for i in range(4)]
    reads.append((300 * MS, chunk(finish="stop") + usage(5, 12) + DONE))
    sample = derive(stream(reads))
    assert sample.output_tokens == 12 and sample.tokens_source == "usage"
    assert sample.output_tps == pytest.approx(100.0)
    assert sample.trace.tokens == (3, 3, 3, 3)
    assert sample.trace.offsets_us == (200_000, 230_000, 260_000, 290_000)
    assert sample.trace.channels == "aaaa"


def test_a_usage_count_too_large_to_store_is_replaced_by_the_tokenizer_count(tmp_path) -> None:
    """A count past SQLite's integer range would make the store refuse the sample (and stop the run); it is
    treated as not reported, and the sample still lands."""
    reads = [(200 * MS, chunk(" a b")), (210 * MS, chunk(" c")), (220 * MS, chunk(finish="stop") + usage(5, 2**70) + DONE)]
    sample = derive(stream(reads))
    assert (sample.status, sample.output_tokens, sample.tokens_source) == ("ok", 3, "tokenizer")
    with Store.open(tmp_path / "results.db") as store:
        assert store.insert_samples([sample]) == 1


def test_a_sum_of_usage_counts_too_large_to_store_is_not_reported() -> None:
    """Anthropic's input is three counts added up: each fits, their sum may not."""
    big = 2**62
    body = (b'event: message_start\ndata: {"type":"message_start","message":{"model":"m","usage":{"input_tokens":%d,'
            b'"cache_creation_input_tokens":%d,"cache_read_input_tokens":%d,"output_tokens":1}}}\n\n') % (big, big, big)
    body += (b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta",'
             b'"text":" a b"}}\n\n'
             b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":'
             b'{"output_tokens":2}}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n')
    sample = derive_sample(stream([(200 * MS, body)]), request(), anthropic_messages,
                           WordCounter(), sample_id="s1", run_id="r1")
    assert (sample.status, sample.input_tokens, sample.output_tokens) == ("ok", None, 2)


def test_events_sharing_a_read_with_the_first_token_are_excluded_too() -> None:
    reads = [(100 * MS, chunk(" a") + chunk(" b")), (110 * MS, chunk(" c")), (120 * MS, chunk(" d") + chunk(finish="stop") + DONE)]
    sample = derive(stream(reads))
    assert sample.tokens_source == "tokenizer" and sample.output_tokens == 4
    assert sample.output_tps == pytest.approx(2 / 0.020)


def test_reasoning_first_makes_ttft_earlier_than_ttfat() -> None:
    reads = [(100 * MS, chunk(reasoning="think")), (150 * MS, chunk(reasoning="more")), (400 * MS, chunk(" answer")),
             (410 * MS, chunk(finish="stop") + usage(3, 3, 2) + DONE)]
    sample = derive(stream(reads))
    assert sample.ttft_s == pytest.approx(0.1)
    assert sample.ttfat_s == pytest.approx(0.4)
    assert sample.reasoning_tokens == 2 and sample.output_tokens == 3
    assert sample.trace.channels == "rra"


def test_hidden_reasoning_is_not_counted_as_decoded_after_the_first_token() -> None:
    reads = [(500 * MS, chunk(" a")), (510 * MS, chunk(" b")), (520 * MS, chunk(" c") + chunk(finish="stop") + usage(3, 103, 100) + DONE)]
    sample = derive(stream(reads))
    assert sample.output_tokens == 103 and sample.reasoning_tokens == 100
    assert sample.output_tps == pytest.approx(2 / 0.020)


def test_one_chunk_answer_has_no_decode_speed() -> None:
    sample = derive(stream([(100 * MS, chunk(" all at once") + chunk(finish="stop") + DONE)]))
    assert sample.status == "ok" and sample.output_tps is None


def test_http_error_becomes_an_error_sample_with_retry_after() -> None:
    body = b'{"error":{"message":"Rate limit reached","code":"rate_limit_exceeded"}}'
    sample = derive(stream([(6 * MS, body)], status=429, content_type="application/json", retry_after="20"))
    assert (sample.status, sample.error_kind, sample.http_status, sample.retry_after_s) == ("error", "rate_limited", 429, 20.0)
    assert sample.ttft_s is None and sample.output_tps is None


def test_error_inside_a_200_stream_is_never_a_success() -> None:
    error = b'data: {"error":{"message":"overloaded","type":"server_error"}}\n\n'
    sample = derive(stream([(100 * MS, chunk(" a")), (110 * MS, error)]))
    assert sample.status == "error" and sample.error_kind == "stream_error" and sample.http_status == 200


def test_stream_without_terminator_is_a_disconnect() -> None:
    sample = derive(stream([(100 * MS, chunk(" a")), (110 * MS, chunk(" b"))]))
    assert (sample.status, sample.error_kind) == ("error", "disconnect")
    assert sample.ttft_s == pytest.approx(0.1)


def test_finished_stream_without_tokens_is_empty() -> None:
    sample = derive(stream([(10 * MS, chunk(role=True)), (20 * MS, chunk(finish="stop") + usage(3, 0) + DONE)]))
    assert (sample.status, sample.error_kind) == ("error", "empty")


def test_json_body_when_a_stream_was_asked_for_is_a_protocol_error() -> None:
    sample = derive(stream([(10 * MS, b'{"choices":[]}')], content_type="application/json"))
    assert sample.error_kind == "protocol"


def test_malformed_json_mid_stream_fails_the_sample() -> None:
    sample = derive(stream([(100 * MS, chunk(" a")), (110 * MS, b"data: {oops\n\n"), (120 * MS, chunk(finish="stop") + DONE)]))
    assert sample.error_kind == "protocol"


def test_transport_failures_keep_their_kind() -> None:
    refused = Exchange(started_ns=0, started_at="t", ended_ns=MS, failure=("connect", "connection failed (refused or unreachable)"))
    assert derive(refused).error_kind == "connect"
    stalled = stream([(100 * MS, chunk(" a"))], failure=("stall", "no byte for 1 s"))
    sample = derive(stalled)
    assert sample.error_kind == "stall" and sample.ttft_s == pytest.approx(0.1)


def test_oversized_body_is_too_large() -> None:
    sample = derive(stream([(100 * MS, chunk(" a"))], truncated=True))
    assert sample.error_kind == "too_large"


def test_the_key_never_reaches_a_sample() -> None:
    body = ('{"error":{"message":"Incorrect API key provided: ' + KEY + '","code":"invalid_api_key"}}').encode()
    sample = derive(stream([(6 * MS, body)], status=401, content_type="application/json"))
    assert sample.error_kind == "auth"
    assert KEY not in repr(sample) and "[redacted]" in (sample.error_message or "")


def test_a_long_body_of_short_lines_is_not_too_large() -> None:
    """The line limit is about one line: a body past 1 MiB made of short lines is derived as usual."""
    padding = b": " + b"x" * 1000 + b"\n"
    reads = [(100 * MS, padding * 1100 + chunk(" a")), (110 * MS, chunk(" b")), (120 * MS, chunk(finish="stop") + DONE)]
    sample = derive(stream(reads))
    assert sample.status == "ok" and sample.chunk_count == 2


@pytest.mark.parametrize(("extra", "too_large"), [(0, False), (1, True)])
def test_a_line_is_too_large_one_byte_past_the_limit(extra: int, too_large: bool) -> None:
    """A line of exactly MAX_LINE_BYTES is allowed, one byte more is not, wherever the reads cut it."""
    line = b"x" * (MAX_LINE_BYTES - 6 + extra)
    body = b"data: " + line + b"\n\n"
    reads = [(100 * MS, body[:1000]), (101 * MS, body[1000:500_000]), (102 * MS, body[500_000:])]
    assert (derive(stream(reads)).error_kind == "too_large") is too_large


def test_the_key_inside_streamed_text_is_replaced() -> None:
    """A key the endpoint echoes inside an event is scrubbed before parsing, and nothing else changes."""
    reads = [(100 * MS, chunk(" a")), (110 * MS, chunk(f" {KEY} b")), (120 * MS, chunk(finish="stop") + DONE)]
    sample = derive(stream(reads))
    assert sample.status == "ok" and sample.output_tokens == 3
    assert KEY not in repr(sample)


# --------------------------------------------------------------------------- the one-pass way of decoding

ORDINARY = [(1 * MS, chunk(role=True)), (20 * MS, chunk(" one")), (30 * MS, chunk(" two")),
            (40 * MS, chunk(finish="stop") + usage(5, 2) + DONE)]


def split_everywhere(body: bytes, every: int) -> list[tuple[int, bytes]]:
    return [(i * MS, body[i : i + every]) for i in range(0, len(body), every)]


@pytest.mark.parametrize("every", [1, 7, 64, 1000])
def test_a_data_only_stream_decodes_as_the_sse_decoder_decodes_it_however_the_reads_split_it(every: int) -> None:
    from probe.derive import _decode, _decode_plain_stream, _decode_read_by_read

    body = b"".join(data for _, data in ORDINARY)
    for reads in (ORDINARY, split_everywhere(body, every)):
        exchange = stream(reads)
        assert _decode_plain_stream(exchange, openai_chat.Parser(), (KEY,)) is not None  # this way applies
        assert _decode(exchange, openai_chat, (KEY,)) == _decode_read_by_read(exchange, openai_chat, (KEY,))


@pytest.mark.parametrize("name", [path.stem for path in sse_fixtures("openai-chat")])
def test_every_recorded_openai_stream_decodes_the_same_either_way(name: str) -> None:
    from probe.derive import _decode, _decode_read_by_read

    body = sse_fixture("openai-chat", name)
    events = body.split(b"\n\n")
    for reads in ([(i * MS, e + b"\n\n") for i, e in enumerate(events[:-1])] + [(len(events) * MS, events[-1])],
                  split_everywhere(body, 5)):
        exchange = stream([r for r in reads if r[1]])
        assert _decode(exchange, openai_chat, (KEY,)) == _decode_read_by_read(exchange, openai_chat, (KEY,))


@pytest.mark.parametrize(
    "unusual",
    [
        b"data: {\"choices\": []}\r\n\r\n",  # CRLF line ends among LF ones
        b": keep-alive\n\n",  # a comment
        b"id: 7\ndata: {\"choices\": []}\n\n",  # another field
        b"data: {\"a\":\ndata: 1}\n\n",  # an event of two data lines
        b"data: {\"echo\": \"" + KEY.encode() + b"\"}\n\n",  # the key, which the decoder's path scrubs
        b"data: {not json}\n\n",  # orjson refuses it: the decoder's path has json's fallback and the error
        b"data: {\"x\": NaN}\n\n",  # json's extension that orjson refuses
        b"data:{\"choices\": []}\n\n",  # no space after the colon
    ],
)
def test_anything_but_plain_data_events_goes_through_the_sse_decoder(unusual: bytes) -> None:
    from probe.derive import _decode_plain_stream

    exchange = stream(ORDINARY[:2] + [(25 * MS, unusual)] + ORDINARY[2:])
    assert _decode_plain_stream(exchange, openai_chat.Parser(), (KEY,)) is None


@pytest.mark.parametrize("every", [1, 3, 64, 10_000])
@pytest.mark.parametrize("name", [path.stem for path in sse_fixtures("gemini")])
def test_every_recorded_gemini_stream_decodes_the_same_either_way(name: str, every: int) -> None:
    """Gemini's lines end in CRLF throughout: the one-pass way takes them, however the reads split them."""
    from probe.derive import _decode, _decode_plain_stream, _decode_read_by_read

    exchange = stream(split_everywhere(sse_fixture("gemini", name), every))
    assert _decode_plain_stream(exchange, gemini.Parser(), (KEY,)) is not None  # this way applies
    assert _decode(exchange, gemini, (KEY,)) == _decode_read_by_read(exchange, gemini, (KEY,))


def test_a_crlf_event_is_complete_at_its_last_cr() -> None:
    """The decoder ends a line at a CR, so the read that brings an event's last CR completes it, even when the LF
    comes with the next read."""
    from probe.derive import _decode

    event = b'data: {"candidates":[{"content":{"parts":[{"text":" a"}]}}]}\r\n\r\n'
    exchange = stream([(1 * MS, event[:-1]), (2 * MS, event[-1:] + event)])
    assert [t for t, e in _decode(exchange, gemini)[0] if isinstance(e, TextDelta)] == [1 * MS, 2 * MS]


@pytest.mark.parametrize(
    "unusual",
    [
        b"data: {}\r\n\r\ndata: {}\n\n",  # LF line ends among CRLF ones
        b"data: {}\r\r\n",  # a lone CR
        b"data: {\"candidates\":\r[]}\r\n\r\n",  # a lone CR inside an event: a space to JSON, a line end to SSE
        b"data: {}\r\n\n",  # a lone LF
        b"data: {}\r\n\r\n\r\n",  # an empty line too many
    ],
)
def test_a_stream_whose_line_ends_are_not_crlf_throughout_goes_through_the_sse_decoder(unusual: bytes) -> None:
    from probe.derive import _decode_plain_stream

    ordinary = b'data: {"candidates":[{"content":{"parts":[{"text":" a"}]}}]}\r\n\r\n'
    exchange = stream([(1 * MS, ordinary), (2 * MS, unusual), (3 * MS, ordinary)])
    assert _decode_plain_stream(exchange, gemini.Parser(), (KEY,)) is None


NAMED_EVENT_DIALECTS = {"anthropic-messages": anthropic_messages, "openai-responses": openai_responses}


@pytest.mark.parametrize("every", [1, 3, 64, 10_000])
@pytest.mark.parametrize("line_end", [b"\n", b"\r\n"])
@pytest.mark.parametrize(
    ("api", "name"), [(api, path.stem) for api in NAMED_EVENT_DIALECTS for path in sse_fixtures(api)]
)
def test_every_recorded_stream_of_named_events_decodes_the_same_either_way(
    api: str, name: str, line_end: bytes, every: int
) -> None:
    """Anthropic's and the Responses API's events are ``event: NAME`` then ``data: X``; where the stream is
    nothing but such events, the one-pass way takes it (not the stream whose last event is unterminated)."""
    from probe.derive import _decode, _decode_plain_stream, _decode_read_by_read

    dialect = NAMED_EVENT_DIALECTS[api]
    body = sse_fixture(api, name).replace(b"\n", line_end)
    exchange = stream(split_everywhere(body, every))
    taken = _decode_plain_stream(exchange, dialect.Parser(), (KEY,)) is not None
    assert taken is (name != "basic-response-no-final-blank-line")
    assert _decode(exchange, dialect, (KEY,)) == _decode_read_by_read(exchange, dialect, (KEY,))


def named(name: str, data: str) -> bytes:
    return f"event: {name}\ndata: {data}\n\n".encode()


def test_a_text_slot_holds_only_for_events_of_its_name() -> None:
    """Anthropic takes an event's kind from its name when the payload has no ``type``: a ``ping`` shaped like a
    text delta carries no text."""
    from probe.derive import _decode, _decode_plain_stream, _decode_read_by_read

    def delta(text: str) -> str:
        return json.dumps({"index": 0, "delta": {"type": "text_delta", "text": text}})

    events = [named("content_block_delta", delta(" a")), named("content_block_delta", delta(" b")),
              named("ping", delta(" c")), named("content_block_delta", delta(" d")),
              named("message_stop", '{"type":"message_stop"}')]
    exchange = stream(one_read_per_event(events))
    assert _decode_plain_stream(exchange, anthropic_messages.Parser(), ()) is not None
    decoded = _decode(exchange, anthropic_messages)
    assert decoded == _decode_read_by_read(exchange, anthropic_messages)
    assert [e.text for _, e in decoded[0] if isinstance(e, TextDelta)] == [" a", " b", " d"]


@pytest.mark.parametrize(
    "unusual",
    [
        b"event: ping\ndata: {}\ndata: {}\n\n",  # a third line
        b'event: ping\ndata: {"type":\n "ping"}\n\n',  # a third line that JSON would take as a space
        b"event: ping\nevent: ping\ndata: {}\n\n",  # a name given twice
        b"xevent: ping\ndata: {}\n\n",  # bytes before an event
        b"event:ping\ndata: {}\n\n",  # no space after the colon
        b"event: ping\nid: 7\n\n",  # another field
        b"event: ping\n\n",  # no data
    ],
)
def test_anything_but_named_events_of_one_data_line_goes_through_the_sse_decoder(unusual: bytes) -> None:
    from probe.derive import _decode_plain_stream

    ordinary = named("content_block_delta", '{"type":"content_block_delta","delta":{"type":"text_delta","text":" a"}}')
    exchange = stream([(1 * MS, ordinary), (2 * MS, unusual), (3 * MS, ordinary)])
    assert _decode_plain_stream(exchange, anthropic_messages.Parser(), ()) is None


@pytest.mark.parametrize("line_end", [b"\n", b"\r\n"])
def test_named_and_unnamed_events_mixed_decode_as_the_sse_decoder_decodes_them(line_end: bytes) -> None:
    """An event without a name is a ``message``, an empty name too, as the SSE decoder has it."""
    from probe.derive import _decode, _decode_plain_stream, _decode_read_by_read

    ordinary = named("content_block_delta", '{"type":"content_block_delta","delta":{"type":"text_delta","text":" a"}}')
    unnamed = b'data: {"type":"content_block_delta","delta":{"type":"text_delta","text":" b"}}\n\n'
    empty_name = b"event: \n" + unnamed
    stop = named("message_stop", '{"type":"message_stop"}')
    reads = [(i * MS, event.replace(b"\n", line_end)) for i, event in enumerate([ordinary, unnamed, empty_name, stop])]
    exchange = stream(reads)
    assert _decode_plain_stream(exchange, anthropic_messages.Parser(), ()) is not None
    assert _decode(exchange, anthropic_messages) == _decode_read_by_read(exchange, anthropic_messages)


@pytest.mark.parametrize(
    "event",
    [
        b'event: ping\nx\r\ndata: {"type":"ping"}\r\n\r\n',  # inside the name
        b'event: ping\ndata: {"type":"ping"}\r\n\r\n',  # ending the name line
        b'event: ping\r\ndata: {"type":"ping"}\n\r\n',  # ending the data line
    ],
)
def test_a_lone_lf_in_a_crlf_event_goes_through_the_sse_decoder(event: bytes) -> None:
    from probe.derive import _decode_plain_stream

    exchange = stream([(1 * MS, event)])
    assert _decode_plain_stream(exchange, anthropic_messages.Parser(), ()) is None


def test_a_stream_that_falls_back_half_way_keeps_its_response_model() -> None:
    """Parsers keep state (the model is reported once): the decoder's path starts with a parser of its own."""
    exchange = stream(ORDINARY[:2] + [(25 * MS, b"data: {not json}\n\n")] + ORDINARY[2:])
    sample = derive(exchange)
    assert sample.response_model == "m-id" and sample.error_kind == "protocol"


# --------------------------------------------------------------------------- events that differ only in their text

TRICKY_TEXTS = [" plain", "", "\"", "\\", "\\\"", "\", \"content\": \"x", "é", "\u2028", "🙂", "\x00\x1f", "null",
                "\"}]}", " the\" ", "\\u0041", "{\"a\": 1}", "probe\u2063slot", "a" * 300]


def text_event(text: str, *, field: str = "content", ascii_only: bool = False, finish: str | None = None) -> bytes:
    payload = {"id": "c-1", "model": "m-id", "choices": [{"index": 0, "delta": {field: text}, "finish_reason": finish}],
               "usage": None}
    return b"data: " + json.dumps(payload, ensure_ascii=ascii_only).encode() + b"\n\n"


def one_read_per_event(events: list[bytes]) -> list[tuple[int, bytes]]:
    return [(i * MS, event) for i, event in enumerate(events)]


def random_stream(seed: int) -> list[bytes]:
    """An OpenAI-style stream with texts and shapes drawn at random: mostly events that differ only in their text,
    with others (another field, another encoding, a finish, usage) among them."""
    import random

    chooser = random.Random(seed)
    events = [chunk(role=True)]
    for _ in range(chooser.randint(1, 40)):
        text = chooser.choice(TRICKY_TEXTS) if chooser.random() < 0.5 else chooser.choice([" a", " of", "\n", ","])
        field = chooser.choice(["content"] * 6 + ["reasoning_content", "refusal"])
        finish = "length" if chooser.random() < 0.05 else None
        events.append(text_event(text, field=field, ascii_only=chooser.random() < 0.2, finish=finish))
    return events + [chunk(finish="stop"), usage(5, 7), DONE]


@pytest.mark.parametrize("seed", range(40))
def test_events_that_differ_only_in_their_text_decode_as_the_sse_decoder_decodes_them(seed: int) -> None:
    from probe.derive import _decode, _decode_read_by_read

    events = random_stream(seed)
    for reads in (split_everywhere(b"".join(events), 1 + seed * 13), one_read_per_event(events)):
        exchange = stream(reads)
        assert _decode(exchange, openai_chat, (KEY,)) == _decode_read_by_read(exchange, openai_chat, (KEY,))


@pytest.mark.parametrize("value", [None, 123, True, [" a"], {"content": " a"}])
def test_a_value_that_is_not_a_string_in_the_slot_is_parsed(value: object) -> None:
    from probe.derive import _decode, _decode_read_by_read

    odd = text_event(" first").replace(b'" first"', json.dumps(value).encode())
    exchange = stream(one_read_per_event(
        [chunk(role=True), text_event(" first"), odd, text_event(" last"), chunk(finish="stop"), DONE]))
    assert _decode(exchange, openai_chat, (KEY,)) == _decode_read_by_read(exchange, openai_chat, (KEY,))


@pytest.mark.parametrize("text", TRICKY_TEXTS)
def test_any_text_in_the_slot_comes_out_as_the_parser_would_give_it(text: str) -> None:
    from probe.derive import _decode, _decode_read_by_read

    for ascii_only in (False, True):
        events = [chunk(role=True), text_event(" first"), text_event(text, ascii_only=ascii_only), chunk(finish="stop")]
        exchange = stream(one_read_per_event(events + [DONE]))
        assert _decode(exchange, openai_chat, (KEY,)) == _decode_read_by_read(exchange, openai_chat, (KEY,))


def counting(parser_class: type) -> type:
    """``parser_class`` with a count of its ``parse_payload`` calls (the class's ``parsed``), copies' too."""

    class Counting(parser_class):
        __slots__ = ()
        parsed = 0

        def parse_payload(self, payload, event="message"):
            type(self).parsed += 1
            return super().parse_payload(payload, event)

    return Counting


CountingParser = counting(openai_chat.Parser)


def test_an_event_like_an_earlier_one_but_for_its_text_is_not_parsed() -> None:
    """The counted guard: of 100 text events of one shape only the first is parsed (and the probe of its slot)."""
    from probe.derive import _decode_plain_stream

    words = [f" word{i}" for i in range(100)]
    events = [chunk(role=True)] + [text_event(word) for word in words] + [chunk(finish="stop"), usage(5, 100), DONE]
    CountingParser.parsed = 0
    timed = _decode_plain_stream(stream(one_read_per_event(events)), CountingParser(), ())
    assert timed is not None and [e.text for _, e in timed if isinstance(e, TextDelta)] == words
    assert CountingParser.parsed == 1 + 2 + 2  # the role event, the first text event and its probe, finish, usage


@pytest.mark.parametrize(
    "event",
    [
        b'{"choices":[{"delta":{"content":" a"," a":1}}]}',  # the text's bytes again, last, as a key
        b'{"choices":[{"delta":{"content":"\\u0020a","x":" a"}}]}',  # the text's bytes only where it is not read
        b'{"choices":[{"delta":{"content":" a"}}],"choices":[{"delta":{"content":"\\u0020a"}}]}',  # the key given twice
    ],
)
def test_a_slot_is_made_only_where_a_probe_text_comes_out_of_it(event: bytes) -> None:
    from probe.derive import _TextSlot

    parser = openai_chat.Parser()
    assert parser.parse_payload(json.loads(event)) == [TextDelta("answer", " a")]
    assert _TextSlot.of(event, TextDelta("answer", " a"), parser, "message") is None


# --------------------------------------------------------------------------- events that also carry running counts


def gemini_event(text: str | None, *, counts: tuple[int, ...] = (9, 1, 10), finish: str | None = None,
                 thought: bool = False, model: str = "gemini-x", response_id: str = "rX7q0aZ19") -> bytes:
    """Gemini's text chunk: its usage counts run on with every chunk (prompt, candidates, total)."""
    part: dict = {} if text is None else {"text": text}
    if thought:
        part["thought"] = True
    candidate: dict = {"content": {"parts": [part], "role": "model"}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    prompt, candidates, total = counts
    counted = {"promptTokenCount": prompt, "candidatesTokenCount": candidates, "totalTokenCount": total}
    payload = {"candidates": [candidate], "usageMetadata": counted, "modelVersion": model, "responseId": response_id}
    return b"data: " + json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode() + b"\r\n\r\n"


def running_stream(texts: list[str]) -> list[bytes]:
    """A text chunk per text, counts running past 9 and 99, then the finish with the final counts."""
    events = [gemini_event(text, counts=(9, n, 9 + n)) for n, text in enumerate(texts, start=1)]
    return events + [gemini_event(None, counts=(9, len(texts), 9 + len(texts)), finish="STOP")]


def without_superseded_usage(timed: list) -> list:
    """The events but for each usage report whose every count a later report gives again: those derivation never
    reads (the last count of each kind wins), and a run of events read from a counting slot leaves them out."""
    def kinds(report: UsageReport) -> set[str]:
        names = ("input_tokens", "output_tokens", "reasoning_tokens")
        return {name for name in names if getattr(report, name) is not None}

    kept = []
    for i, (t_ns, event) in enumerate(timed):
        if isinstance(event, UsageReport) and any(
            isinstance(later, UsageReport) and kinds(event) <= kinds(later) for _, later in timed[i + 1 :]
        ):
            continue
        kept.append((t_ns, event))
    return kept


def assert_decoded_as_by_the_sse_decoder(exchange: Exchange, dialect) -> None:
    from probe.derive import _decode, _decode_read_by_read, _merged_usage

    decoded, by_decoder = _decode(exchange, dialect, (KEY,)), _decode_read_by_read(exchange, dialect, (KEY,))
    assert without_superseded_usage(decoded[0]) == without_superseded_usage(by_decoder[0])
    assert decoded[1] == by_decoder[1]
    assert _merged_usage([e for _, e in decoded[0] if isinstance(e, UsageReport)]) == _merged_usage(
        [e for _, e in by_decoder[0] if isinstance(e, UsageReport)])


@pytest.mark.parametrize("every", [1, 7, 64, 100_000])
def test_events_with_running_counts_decode_as_the_sse_decoder_decodes_them(every: int) -> None:
    """Gemini's text events differ in their counts too: read from a counting slot, each gives its text, and the
    stream the counts of its last event: every count the decoder's way would end with."""
    from probe.derive import _decode, _decode_plain_stream

    texts = [f" w{i}" for i in range(120)] + TRICKY_TEXTS
    body = b"".join(running_stream(texts))
    for reads in (split_everywhere(body, every), one_read_per_event(running_stream(texts))):
        exchange = stream(reads)
        assert _decode_plain_stream(exchange, gemini.Parser(), (KEY,)) is not None  # this way applies
        assert_decoded_as_by_the_sse_decoder(exchange, gemini)
        usage_reports = [e for _, e in _decode(exchange, gemini, (KEY,))[0] if isinstance(e, UsageReport)]
        assert usage_reports[-1] == UsageReport(input_tokens=9, output_tokens=len(texts), reasoning_tokens=None)


CountingGeminiParser = counting(gemini.Parser)


def test_of_a_run_of_events_with_running_counts_only_the_last_is_parsed() -> None:
    from probe.derive import _decode_plain_stream

    CountingGeminiParser.parsed = 0
    exchange = stream(one_read_per_event(running_stream([f" w{i}" for i in range(100)])))
    timed = _decode_plain_stream(exchange, CountingGeminiParser(), ())
    assert timed is not None and len([e for _, e in timed if isinstance(e, TextDelta)]) == 100
    # the first event (it reports the model), the second and its probe; the three whose counts grew a digit (10 and
    # 100 output tokens, 100 in all) and the last event of each run they end; the finish
    assert CountingGeminiParser.parsed == 1 + 2 + 3 + 3 + 1


def test_a_run_of_counted_events_broken_by_others_keeps_the_counts_of_each_run() -> None:
    """Another shape ends a run (a thought, an event without counts); the finish may carry none, or the stream may
    be cut inside a run."""
    events = [gemini_event(f" a{n}", counts=(9, n, 9 + n)) for n in range(1, 6)]
    events += [gemini_event(" hm", counts=(9, 6, 15), thought=True)]
    events += [gemini_event(f" b{n}", counts=(9, n, 9 + n)) for n in range(7, 12)]
    no_counts = b'data: {"candidates":[{"content":{"parts":[{"text":" c"}],"role":"model"},"index":0}]}\r\n\r\n'
    finish = b'data: {"candidates":[{"content":{"parts":[{"text":""}],"role":"model"},"finishReason":"STOP"}]}\r\n\r\n'
    for tail in ([no_counts, finish], [finish], [gemini_event(" d", counts=(9, 12, 21)), no_counts, finish], []):
        assert_decoded_as_by_the_sse_decoder(stream(one_read_per_event(events + tail)), gemini)


@pytest.mark.parametrize("count", [10**15, 10**19, 10**25])
def test_a_count_too_long_for_a_counting_slot_decodes_as_the_sse_decoder_decodes_it(count: int) -> None:
    """Past 2**63 - 1 a count is not reported; wherever it comes in a run, the counts come out as the decoder's."""
    for at in (1, 2, 5, 9):
        events = [gemini_event(f" w{n}", counts=(9, count if n == at else n, 10)) for n in range(1, 10)]
        finish = b'data: {"candidates":[{"content":{"parts":[{"text":""}]},"finishReason":"STOP"}]}\r\n\r\n'
        assert_decoded_as_by_the_sse_decoder(stream(one_read_per_event(events + [finish])), gemini)


def test_a_counting_slot_is_not_made_from_an_event_with_a_count_of_16_digits() -> None:
    """Its kinds of counts could be fewer than a later event's: one of 16 digits or more may not be reported."""
    from probe.derive import _CountingSlot

    def slot_of(count: int):
        data = gemini_event(" a", counts=(9, count, 10))[len(b"data: ") : -len(b"\r\n\r\n")]
        parser = gemini.Parser()
        parsed = parser.parse_payload(json.loads(data))[1:]  # past the model, reported once
        assert [type(e) for e in parsed] == [TextDelta, UsageReport]
        return _CountingSlot.of(data, parsed, parser, "message")

    assert slot_of(10**15) is None
    assert slot_of(10**15 - 1) is not None


class ParserReadingAnId(gemini.Parser):
    """Breaks ``parse_payload``'s contract: whether it reports the counts depends on the digits of an id."""

    __slots__ = ()

    def parse_payload(self, payload, event="message"):
        events = super().parse_payload(payload, event)
        if payload.get("responseId", "").endswith("19"):
            return events
        return [UsageReport(e.input_tokens) if isinstance(e, UsageReport) else e for e in events]


def test_a_counting_slot_is_made_only_where_other_digits_change_nothing_but_the_counts() -> None:
    from probe.derive import _CountingSlot

    data = gemini_event(" a", response_id="rX7q0aZ19")[len(b"data: ") : -len(b"\r\n\r\n")]
    parser = ParserReadingAnId()
    parsed = parser.parse_payload(json.loads(data))[1:]
    assert [type(e) for e in parsed] == [TextDelta, UsageReport]
    assert _CountingSlot.of(data, parsed, parser, "message") is None


@pytest.mark.parametrize(
    ("count", "corrupt"),
    [
        (b'"candidatesTokenCount":16,', b'"candidatesTokenCount":,'),  # a number without its digits
        (b'"candidatesTokenCount":16,', b'"candidatesTokenCount":05,'),  # a leading zero
        (b'"candidatesTokenCount":16,', b'"candidatesTokenCount":1,5'),  # a digit moved past the comma
        (b'"index":0}', b'"index":00}'),  # a digit added
    ],
)
def test_a_malformed_number_inside_a_run_of_counted_events_fails_the_sample(count: bytes, corrupt: bytes) -> None:
    """A counting slot reads digits only where its event has them, and no number starting with a 0: an event whose
    digits make it invalid JSON is parsed, and fails the sample as the decoder's way does."""
    events = running_stream([f" w{i}" for i in range(30)])
    assert count in events[15]
    events[15] = events[15].replace(count, corrupt)
    exchange = stream(one_read_per_event(events))
    assert_decoded_as_by_the_sse_decoder(exchange, gemini)
    sample = derive_sample(exchange, request(), gemini, WordCounter(), sample_id="s", run_id="r")
    assert sample.error_kind == "protocol"


def test_a_counting_slot_takes_new_places_only_from_an_event_of_its_shape() -> None:
    """From the 10th event on, each names its candidates twice: JSON takes the second text, and the slot, whose
    text is the first string, must not take such an event as one of its own when a count grows a digit there."""
    events = running_stream([f" w{i}" for i in range(30)])
    twice = b',"candidates":[{"content":{"parts":[{"text":" other"}]}}],"usageMetadata"'
    for i in range(10, 30):
        events[i] = events[i].replace(b',"usageMetadata"', twice)
    assert_decoded_as_by_the_sse_decoder(stream(one_read_per_event(events)), gemini)


@pytest.mark.parametrize("value", [None, 123, True, [" a"], {"text": " a"}])
def test_a_value_that_is_not_a_string_where_a_counted_text_goes_is_parsed(value: object) -> None:
    events = running_stream([f" w{i}" for i in range(30)])
    events[15] = events[15].replace(b'"text":" w15"', b'"text":' + json.dumps(value, separators=(",", ":")).encode())
    assert events[15] != running_stream([f" w{i}" for i in range(30)])[15]
    assert_decoded_as_by_the_sse_decoder(stream(one_read_per_event(events)), gemini)
