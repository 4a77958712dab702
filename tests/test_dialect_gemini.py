"""The gemini dialect: path and key, thought parts, output = candidates + thoughts, blocks and Google's errors."""

from __future__ import annotations

import json

import pytest

from probe.derive import derive_sample
from probe.dialects import gemini
from probe.model import (
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
from tests.support import WordCounter, parse_fixture

QUOTA_429 = json.dumps({"error": {
    "code": 429,
    "message": "You exceeded your current quota, please check your plan.",
    "status": "RESOURCE_EXHAUSTED",
    "details": [
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure",
         "violations": [{"quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "34.4s"},
    ],
}}, indent=2).encode()
BAD_KEY_400 = json.dumps({"error": {
    "code": 400,
    "message": "API key not valid. Please pass a valid API key.",
    "status": "INVALID_ARGUMENT",
    "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com"}],
}}, indent=2).encode()


def derive_exchange(status: int, body: bytes, content_type: str = "text/event-stream"):
    target = Target(base_url="http://127.0.0.1:1/v1beta", model_id="m", auth="x-goog-api-key")
    request = PlannedRequest(provider="p", model="m", api="gemini", target=target, prompt="x", max_tokens=50)
    exchange = Exchange(started_ns=0, started_at="2026-12-01T00:00:00.000Z", status=status, headers_ns=1,
                        content_type=content_type, read_times=[10], read_payloads=[body], ended_ns=11)
    return derive_sample(exchange, request, gemini, WordCounter(), sample_id="s", run_id="r")


def test_request_path_key_header_and_max_output_tokens() -> None:
    target = Target(base_url="https://generativelanguage.googleapis.com/v1beta", model_id="models/gemini-2.5-flash",
                    auth="x-goog-api-key", api_key="AIza-test", query=(("x", "1"),))
    request = gemini.build_request(target, "hello", 128)
    assert request.url == ("https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash"
                           ":streamGenerateContent?alt=sse&x=1")
    assert json.loads(request.body) == {"contents": [{"role": "user", "parts": [{"text": "hello"}]}],
                                        "generationConfig": {"maxOutputTokens": 128}}
    assert request.secret_headers == (("x-goog-api-key", "AIza-test"),)
    assert gemini.DEFAULT_AUTH == "x-goog-api-key"


def test_configured_generation_config_is_merged_not_replacing() -> None:
    """extra_body.generationConfig (thinking settings) joins maxOutputTokens; other extra fields stay top-level."""
    thinking = {"thinkingConfig": {"includeThoughts": True, "thinkingBudget": 512}}
    target = Target(base_url="https://g/v1beta", model_id="gemini-2.5-flash",
                    extra_body=(("generationConfig", thinking), ("safetySettings", [])))
    body = json.loads(gemini.build_request(target, "hi", 64).body)
    assert body["generationConfig"] == {"maxOutputTokens": 64, **thinking}
    assert body["safetySettings"] == []


def test_text_with_running_usage_and_crlf_framing() -> None:
    """Deltas are answer text; usage is a running total (last wins); output = candidates + thoughts."""
    events = parse_fixture(gemini, "text-usage-running-totals-crlf")
    assert events[0] == ResponseModel("gemini-3-pro-preview")
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == 'There are **3** "r"s in strawberry.\n\nst**r**awbe**rr**y'
    usages = [e for e in events if isinstance(e, UsageReport)]
    assert usages[-1] == UsageReport(input_tokens=9, output_tokens=23 + 185, reasoning_tokens=185)
    assert events[-1] == Finished("STOP")  # the empty thoughtSignature part carries no token


def test_thought_parts_are_reasoning_and_usage_may_come_only_last() -> None:
    """Through Vertex the first chunk's usageMetadata holds only trafficType: no usage until the last chunk."""
    events = parse_fixture(gemini, "vertex-thought-parts-crlf")
    assert [type(e) for e in events] == [ResponseModel, TextDelta, UsageReport, Finished]
    assert events[1].channel == "reasoning" and events[1].text.startswith("**Processing User Requests**")
    assert events[2] == UsageReport(input_tokens=249, output_tokens=58 + 183, reasoning_tokens=183)


def test_a_blocked_prompt_is_a_bad_request_with_its_reason() -> None:
    """No candidates and promptFeedback.blockReason: the prompt was refused, recorded as bad_request."""
    assert parse_fixture(gemini, "prompt-blocked")[-1] == StreamFailed("bad_request", "the prompt was blocked: PROHIBITED_CONTENT")
    sample = derive_exchange(200, sse_fixture("gemini", "prompt-blocked"))
    assert (sample.status, sample.error_kind, sample.input_tokens) == ("error", "bad_request", 9)


def test_error_object_mid_stream() -> None:
    events = parse_fixture(gemini, "overloaded-error-mid-stream")
    assert events[-1] == StreamFailed("overloaded", "The model is overloaded. Please try again later.")
    other = gemini.Parser().parse(SSEEvent('{"error":{"code":500,"message":"Internal error","status":"INTERNAL"}}'))
    assert other == [StreamFailed("stream_error", "Internal error")]


def test_function_call_part_is_tool_tokens_and_safety_finish_is_a_finish() -> None:
    payload = {"candidates": [{"content": {"parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}],
                                           "role": "model"}, "finishReason": "STOP"}]}
    assert gemini.Parser().parse(SSEEvent(json.dumps(payload))) == [
        TextDelta("tool", '{"name":"get_weather","args":{"city":"Paris"}}'), Finished("STOP")]
    safety = {"candidates": [{"content": {"parts": [{"text": ""}]}, "finishReason": "SAFETY"}]}
    assert gemini.Parser().parse(SSEEvent(json.dumps(safety))) == [Finished("SAFETY")]


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (400, BAD_KEY_400, "auth"),
        (403, b'{"error":{"code":403,"message":"Method doesn\'t allow unregistered callers","status":"PERMISSION_DENIED"}}', "auth"),
        (429, QUOTA_429, "rate_limited"),
        (429, QUOTA_429.replace(b"PerMinute", b"PerDay"), "quota"),
        (503, b'{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}', "overloaded"),
        (500, b'{"error":{"code":500,"message":"An internal error has occurred.","status":"INTERNAL"}}', "server"),
        (504, b'{"error":{"code":504,"message":"Deadline expired","status":"DEADLINE_EXCEEDED"}}', "server"),
        (404, b'{"error":{"code":404,"message":"models/x is not found","status":"NOT_FOUND"}}', "not_found"),
        (400, b'{"error":{"code":400,"message":"The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).","status":"INVALID_ARGUMENT"}}', "context_length"),
        (400, b'{"error":{"code":400,"message":"Invalid JSON payload received.","status":"INVALID_ARGUMENT"}}', "bad_request"),
    ],
)
def test_http_errors_map_by_grpc_status_and_reason(status: int, body: bytes, kind: str) -> None:
    got_kind, message = gemini.classify_error(status, body)
    assert got_kind == kind and message


def test_a_bad_key_answered_400_is_auth_and_the_body_retry_delay_is_kept() -> None:
    """Gemini's 400 API_KEY_INVALID is auth, not bad_request; its 429 gives the retry delay only in the body."""
    assert derive_exchange(400, BAD_KEY_400, "application/json").error_kind == "auth"
    sample = derive_exchange(429, QUOTA_429, "application/json")
    assert (sample.error_kind, sample.retry_after_s) == ("rate_limited", 34.4)
    assert "retry in 34.4s" in sample.error_message
