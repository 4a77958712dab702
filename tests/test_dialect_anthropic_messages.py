"""The anthropic-messages dialect: headers, cumulative usage, thinking, tool input, errors inside a 200."""

from __future__ import annotations

import json

import pytest

from probe.derive import derive_sample
from probe.dialects import anthropic_messages
from probe.model import (
    EndOfStream,
    Exchange,
    Finished,
    PlannedRequest,
    ResponseModel,
    SSEEvent,
    StreamFailed,
    Target,
    TextDelta,
    UsageReport,
)
from tests.conftest import sse_fixture
from tests.support import WordCounter, parse_fixture, texts


def derive_body(body: bytes):
    target = Target(base_url="http://127.0.0.1:1/v1", model_id="m", auth="x-api-key")
    request = PlannedRequest(provider="p", model="m", api="anthropic-messages", target=target, prompt="x", max_tokens=50)
    exchange = Exchange(started_ns=0, started_at="2026-12-01T00:00:00.000Z", status=200, headers_ns=1,
                        content_type="text/event-stream; charset=utf-8", read_times=[10], read_payloads=[body], ended_ns=11)
    return derive_sample(exchange, request, anthropic_messages, WordCounter(), sample_id="s", run_id="r")


def test_request_has_version_header_key_header_and_required_max_tokens() -> None:
    target = Target(base_url="https://api.anthropic.com/v1", model_id="claude-haiku-4-5", auth="x-api-key", api_key="sk-ant-x")
    request = anthropic_messages.build_request(target, "hello", 64)
    body = json.loads(request.body)
    assert request.url == "https://api.anthropic.com/v1/messages"
    assert body == {"model": "claude-haiku-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "hello"}], "stream": True}
    assert ("anthropic-version", "2023-06-01") in request.headers
    assert request.secret_headers == (("x-api-key", "sk-ant-x"),)
    assert anthropic_messages.DEFAULT_AUTH == "x-api-key"


def test_a_configured_version_header_is_not_doubled() -> None:
    target = Target(base_url="https://a/v1", model_id="m", headers=(("Anthropic-Version", "2024-01-01"),))
    headers = anthropic_messages.build_request(target, "hi", 8).headers
    assert [v for k, v in headers if k.lower() == "anthropic-version"] == ["2024-01-01"]


def test_basic_stream_without_its_final_blank_line() -> None:
    """message_stop is never dispatched (no blank line after it), yet message_delta's stop_reason ends the stream."""
    events = parse_fixture(anthropic_messages, "basic-response-no-final-blank-line")
    assert events == [
        ResponseModel("claude-3-opus-latest"),
        UsageReport(input_tokens=11),
        TextDelta("answer", "Hello"),
        TextDelta("answer", " there"),
        TextDelta("answer", "!"),
        UsageReport(output_tokens=6),
        Finished("end_turn"),
    ]
    sample = derive_body(sse_fixture("anthropic-messages", "basic-response-no-final-blank-line"))
    assert (sample.status, sample.input_tokens, sample.output_tokens, sample.tokens_source) == ("ok", 11, 6, "usage")


def test_tool_input_json_is_tool_tokens() -> None:
    events = parse_fixture(anthropic_messages, "tool-use-input-json")
    assert texts(events, "answer") == "I'll check the current weather in Paris for you."
    assert texts(events, "tool") == '{"location": "Paris"}'
    assert UsageReport(output_tokens=65) in events and Finished("tool_use") in events
    assert events[-1] == EndOfStream()


def test_thinking_first_signature_ignored_thinking_tokens_apart() -> None:
    """thinking_delta is reasoning (an empty one is nothing), signature_delta no token; padded JSON parses."""
    events = parse_fixture(anthropic_messages, "thinking-signature-refusal-whitespace")
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert [d.channel for d in deltas] == ["reasoning"] * 3 + ["answer"]
    assert texts(events, "reasoning").startswith("Simple educational question")
    assert UsageReport(input_tokens=28, output_tokens=106, reasoning_tokens=67) in events
    assert Finished("refusal") in events


def test_cache_tokens_count_as_input_and_message_delta_input_wins() -> None:
    """Input = uncached + cache writes + cache reads; a later message_delta count replaces message_start's."""
    start = {"type": "message_start", "message": {"id": "msg_1", "model": "claude-haiku-4-5", "usage": {
        "input_tokens": 43, "cache_creation_input_tokens": 100, "cache_read_input_tokens": 200, "output_tokens": 1}}}
    delta = {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"input_tokens": 61, "output_tokens": 9}}
    parser = anthropic_messages.Parser()
    assert parser.parse(SSEEvent(json.dumps(start), "message_start"))[1] == UsageReport(input_tokens=343)
    assert parser.parse(SSEEvent(json.dumps(delta), "message_delta")) == [UsageReport(input_tokens=61, output_tokens=9), Finished("end_turn")]
    events = parse_fixture(anthropic_messages, "current-model-cache-usage")
    assert UsageReport(input_tokens=12, output_tokens=30) in events


def test_overloaded_error_inside_a_200_stream() -> None:
    events = parse_fixture(anthropic_messages, "overloaded-error-in-200-stream")
    assert events[-1] == StreamFailed("overloaded", "Overloaded")
    sample = derive_body(sse_fixture("anthropic-messages", "overloaded-error-in-200-stream"))
    assert (sample.status, sample.error_kind, sample.error_message) == ("error", "overloaded", "Overloaded")


@pytest.mark.parametrize(
    ("error_type", "kind"),
    [("rate_limit_error", "rate_limited"), ("billing_error", "quota"), ("api_error", "stream_error"), ("something_new", "stream_error")],
)
def test_other_in_band_error_types(error_type: str, kind: str) -> None:
    payload = {"type": "error", "error": {"type": error_type, "message": "m"}}
    assert anthropic_messages.Parser().parse(SSEEvent(json.dumps(payload), "error")) == [StreamFailed(kind, "m")]


def test_ping_unknown_events_and_non_token_deltas_are_ignored() -> None:
    parser = anthropic_messages.Parser()
    for data in ('{"type": "ping"}', '{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}',
                 '{"type":"brand_new_event","x":1}',
                 '{"type":"content_block_delta","index":0,"delta":{"type":"citations_delta","citation":{}}}',
                 '{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}'):
        assert parser.parse(SSEEvent(data)) == []


def test_a_repeated_message_start_is_ignored_a_spliced_one_fails() -> None:
    parser = anthropic_messages.Parser()
    start = {"type": "message_start", "message": {"id": "msg_a", "model": "m", "usage": {"input_tokens": 1}}}
    parser.parse(SSEEvent(json.dumps(start)))
    assert parser.parse(SSEEvent(json.dumps(start))) == []
    start["message"]["id"] = "msg_b"
    assert parser.parse(SSEEvent(json.dumps(start)))[0].kind == "protocol"


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (401, b'{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"},"request_id":"req_1"}', "auth"),
        (403, b'{"type":"error","error":{"type":"permission_error","message":"no access"}}', "auth"),
        (400, b'{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 205351 tokens > 200000 maximum"}}', "context_length"),
        (400, b'{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"}}', "bad_request"),
        (404, b'{"type":"error","error":{"type":"not_found_error","message":"model: claude-nope"}}', "not_found"),
        (413, b'{"type":"error","error":{"type":"request_too_large","message":"Request exceeds the maximum allowed number of bytes."}}', "context_length"),
        (429, b'{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}', "rate_limited"),
        (500, b'{"type":"error","error":{"type":"api_error","message":"Internal server error"}}', "server"),
        (529, b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}', "overloaded"),
        (529, b"", "overloaded"),
    ],
)
def test_http_errors_map_by_error_type_then_status(status: int, body: bytes, kind: str) -> None:
    got_kind, message = anthropic_messages.classify_error(status, body)
    assert got_kind == kind and message
