"""The openai-responses dialect: typed events, usage in the terminal event, both error shapes, quota in-band."""

from __future__ import annotations

import json

import pytest

from probe.derive import derive_sample
from probe.dialects import openai_responses
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
from tests.support import WordCounter, parse_body, parse_fixture, texts


def sse(payload: dict) -> bytes:
    return b"event: " + payload["type"].encode() + b"\ndata: " + json.dumps(payload).encode() + b"\n\n"


def derive_body(body: bytes):
    target = Target(base_url="http://127.0.0.1:1/v1", model_id="m")
    request = PlannedRequest(provider="p", model="m", api="openai-responses", target=target, prompt="x", max_tokens=5)
    exchange = Exchange(started_ns=0, started_at="2026-12-01T00:00:00.000Z", status=200, headers_ns=1,
                        content_type="text/event-stream", read_times=[10], read_payloads=[body], ended_ns=11)
    return derive_sample(exchange, request, openai_responses, WordCounter(), sample_id="s", run_id="r")


def test_request_is_a_streaming_responses_call() -> None:
    """POST /responses with the prompt as input, stream on, max_output_tokens, Bearer auth kept secret."""
    target = Target(base_url="https://api.openai.com/v1/", model_id="gpt-4.1-mini", api_key="sk-test",
                    extra_body=(("reasoning", {"effort": "low", "summary": "auto"}),))
    request = openai_responses.build_request(target, "hello", 256)
    body = json.loads(request.body)
    assert request.url == "https://api.openai.com/v1/responses"
    assert body == {"model": "gpt-4.1-mini", "input": "hello", "stream": True, "max_output_tokens": 256,
                    "reasoning": {"effort": "low", "summary": "auto"}}
    assert request.secret_headers == (("authorization", "Bearer sk-test"),)
    assert openai_responses.DEFAULT_AUTH == "bearer"


def test_the_reference_streaming_example() -> None:
    """Lifecycle events carry no token; the text delta does; usage and the finish come in response.completed."""
    assert parse_fixture(openai_responses, "spec-streaming-example") == [
        ResponseModel("gpt-5.4"),
        TextDelta("answer", "Hi"),
        UsageReport(input_tokens=37, output_tokens=11, reasoning_tokens=0),
        Finished("completed"),
        EndOfStream(),
    ]


def test_reasoning_summary_first_then_obfuscated_answer_deltas() -> None:
    """Summary deltas are reasoning and come first; ``obfuscation`` padding changes no text."""
    events = parse_fixture(openai_responses, "reasoning-summary-then-text-obfuscated")
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert deltas[0] == TextDelta("reasoning", "**Calcul")
    assert texts(events, "reasoning") == "**Calculating"
    assert texts(events, "answer") == "The final result is **570**."
    assert UsageReport(input_tokens=299, output_tokens=12, reasoning_tokens=0) in events
    assert events[-2:] == [Finished("completed"), EndOfStream()]


def test_quota_error_after_created_is_quota_not_a_stream_error() -> None:
    """The recorded in-band insufficient_quota (nested shape) then response.failed: a quota failure, no token."""
    events = parse_fixture(openai_responses, "quota-error-after-created")
    failures = [e for e in events if isinstance(e, StreamFailed)]
    assert failures and {f.kind for f in failures} == {"quota"}
    assert failures[0].message.startswith("You exceeded your current quota")
    assert not any(isinstance(e, TextDelta) for e in events)
    sample = derive_body(sse_fixture("openai-responses", "quota-error-after-created"))
    assert (sample.status, sample.error_kind, sample.ttft_s) == ("error", "quota", None)


@pytest.mark.parametrize(
    ("payload", "kind", "message"),
    [
        ({"type": "error", "code": "ERR_SOMETHING", "message": "Something went wrong", "param": None, "sequence_number": 1},
         "stream_error", "Something went wrong"),  # the spec's flat shape
        ({"type": "error", "code": "insufficient_quota", "message": "quota", "param": None}, "quota", "quota"),
        ({"type": "error", "sequence_number": 2, "error": {"type": "service_unavailable_error", "code": "server_is_overloaded",
                                                           "message": "overloaded"}}, "overloaded", "overloaded"),
        ({"type": "error", "sequence_number": 0, "error": {"type": "requests", "code": "rate_limit_exceeded",
                                                           "message": "Rate limit reached"}}, "rate_limited", "Rate limit reached"),
    ],
)
def test_error_events_flat_and_nested(payload: dict, kind: str, message: str) -> None:
    assert openai_responses.Parser().parse(SSEEvent(json.dumps(payload), "error")) == [StreamFailed(kind, message)]


def test_incomplete_is_a_finish_with_its_reason_and_a_success_when_tokens_came() -> None:
    """response.incomplete (max_output_tokens) ends the stream like a chat ``length`` finish."""
    response = {"id": "resp_1", "model": "gpt-4.1-mini", "status": "incomplete",
                "incomplete_details": {"reason": "max_output_tokens"},
                "usage": {"input_tokens": 3, "output_tokens": 2, "output_tokens_details": {"reasoning_tokens": 0}}}
    body = (sse({"type": "response.created", "sequence_number": 0, "response": dict(response, status="in_progress", usage=None)})
            + sse({"type": "response.output_text.delta", "sequence_number": 1, "delta": " two words"})
            + sse({"type": "response.incomplete", "sequence_number": 2, "response": response}))
    events = parse_body(openai_responses, body)
    assert events[-3:] == [UsageReport(3, 2, 0), Finished("max_output_tokens"), EndOfStream()]
    sample = derive_body(body)
    assert (sample.status, sample.finish_reason, sample.output_tokens) == ("ok", "max_output_tokens", 2)


def test_response_failed_is_a_failure_with_its_code() -> None:
    """The spec's response.failed: server_error is the stream failing, message kept."""
    failed = {"type": "response.failed", "response": {"id": "r", "status": "failed",
                                                      "error": {"code": "server_error", "message": "The model failed to generate a response."}}}
    assert openai_responses.Parser().parse(SSEEvent(json.dumps(failed))) == [
        StreamFailed("stream_error", "The model failed to generate a response."),
        EndOfStream(),
    ]


@pytest.mark.parametrize(
    ("type_", "channel"),
    [
        ("response.refusal.delta", "refusal"),
        ("response.function_call_arguments.delta", "tool"),
        ("response.reasoning_text.delta", "reasoning"),
    ],
)
def test_other_token_events_are_generated_text_on_their_channel(type_: str, channel: str) -> None:
    assert openai_responses.Parser().parse(SSEEvent(json.dumps({"type": type_, "delta": "x"}))) == [TextDelta(channel, "x")]


def test_the_event_name_decides_when_the_payload_has_no_type() -> None:
    assert openai_responses.Parser().parse(SSEEvent('{"delta":"y"}', "response.output_text.delta")) == [TextDelta("answer", "y")]


def test_unknown_events_empty_deltas_and_done() -> None:
    """Unknown types and empty deltas are nothing; a [DONE] from a compatible server ends the stream."""
    parser = openai_responses.Parser()
    assert parser.parse(SSEEvent('{"type":"response.audio.delta","delta":"AAAA"}')) == []
    assert parser.parse(SSEEvent('{"type":"response.output_text.delta","delta":""}')) == []
    assert parser.parse(SSEEvent("[DONE]")) == [EndOfStream()]
    assert parser.parse(SSEEvent("{oops"))[0].kind == "protocol"


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (429, b'{"error":{"message":"Rate limit reached for requests","type":"requests","param":null,"code":"rate_limit_exceeded"}}', "rate_limited"),
        (429, b'{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}', "quota"),
        (401, b'{"error":{"message":"Incorrect API key provided: sk-abc","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}', "auth"),
        (400, b'{"error":{"message":"This model\'s maximum context length is 128000 tokens","type":"invalid_request_error","param":"input","code":"context_length_exceeded"}}', "context_length"),
        (500, b'{"error":{"message":"The server had an error","type":"server_error","param":null,"code":null}}', "server"),
    ],
)
def test_http_errors_use_openais_envelope(status: int, body: bytes, kind: str) -> None:
    got_kind, message = openai_responses.classify_error(status, body)
    assert got_kind == kind and message
