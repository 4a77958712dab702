"""The openai-chat dialect: requests as OpenAI expects them, and every recorded quirk parsed to the same meaning."""

from __future__ import annotations

import json

import pytest

from probe.dialects import openai_chat
from probe.model import (
    EndOfStream,
    Finished,
    ResponseModel,
    SSEEvent,
    StreamFailed,
    Target,
    TextDelta,
    UsageReport,
)
from tests.support import parse_fixture, texts


def test_request_streams_with_usage_and_max_completion_tokens() -> None:
    target = Target(base_url="https://api.example.com/v1", model_id="gpt-4.1-nano-2025-04-14", api_key="sk-test")
    request = openai_chat.build_request(target, "hello", 300)
    body = json.loads(request.body)
    assert request.method == "POST"
    assert request.url == "https://api.example.com/v1/chat/completions"
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["max_completion_tokens"] == 300
    assert body["model"] == "gpt-4.1-nano-2025-04-14"
    assert ("authorization", "Bearer sk-test") in request.secret_headers
    assert all("sk-test" not in value for _, value in request.headers)
    assert "sk-test" not in repr(request) and "sk-test" not in repr(target)


def test_an_endpoint_that_documents_max_tokens_gets_only_that_field() -> None:
    target = Target(base_url="https://openrouter.ai/api/v1", model_id="openai/gpt-4.1-nano", max_tokens_field="max_tokens")
    body = json.loads(openai_chat.build_request(target, "hello", 300).body)
    assert body["max_tokens"] == 300 and "max_completion_tokens" not in body


def test_extra_query_and_body_come_from_config() -> None:
    target = Target(
        base_url="https://x.openai.azure.com/openai/deployments/mini",
        model_id="mini",
        auth="api-key",
        api_key="k",
        query=(("api-version", "2024-10-21"),),
        extra_body=(("reasoning_effort", "low"),),
    )
    request = openai_chat.build_request(target, "hi", 10)
    assert request.url.endswith("/chat/completions?api-version=2024-10-21")
    assert json.loads(request.body)["reasoning_effort"] == "low"
    assert request.secret_headers == (("api-key", "k"),)


def test_role_only_first_chunk_is_not_a_token() -> None:
    events = parse_fixture(openai_chat, "openai-max-tokens")
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert deltas == [TextDelta("answer", '{"')]
    assert events[0] == ResponseModel("gpt-4o-2024-08-06")
    assert Finished("length") in events
    assert UsageReport(input_tokens=79, output_tokens=1, reasoning_tokens=0) in events
    assert events[-1] == EndOfStream()


def test_usage_null_on_ordinary_chunks_and_obfuscation_are_ignored() -> None:
    events = parse_fixture(openai_chat, "openai-obfuscation-usage-null")
    assert texts(events, "answer") == "**"
    usages = [e for e in events if isinstance(e, UsageReport)]
    assert usages == [UsageReport(input_tokens=16, output_tokens=300, reasoning_tokens=0)]


def test_tool_call_arguments_are_tokens_but_not_answer_text() -> None:
    events = parse_fixture(openai_chat, "openai-tool-call")
    assert texts(events, "answer") == ""
    assert texts(events, "tool") == '{"city":"New York City"}'
    assert Finished("tool_calls") in events


def test_refusal_is_generated_text_on_its_own_channel() -> None:
    events = parse_fixture(openai_chat, "openai-refusal")
    assert texts(events, "refusal").startswith("I'm sorry")
    assert texts(events, "answer") == ""


def test_deepseek_reasoning_content_and_usage_on_the_finish_chunk() -> None:
    events = parse_fixture(openai_chat, "deepseek-reasoning-usage-on-finish")
    assert texts(events, "reasoning") == "We."
    assert texts(events, "answer") == "The"
    assert UsageReport(input_tokens=18, output_tokens=219, reasoning_tokens=205) in events
    assert Finished("stop") in events


def test_groq_reasoning_field_and_x_groq_usage() -> None:
    events = parse_fixture(openai_chat, "groq-reasoning-x-groq-usage")
    assert texts(events, "reasoning") == "Okay,"
    assert texts(events, "answer") == "The"
    assert UsageReport(input_tokens=17, output_tokens=1107, reasoning_tokens=963) in events


def test_azure_prompt_filter_first_chunk_with_empty_choices() -> None:
    events = parse_fixture(openai_chat, "azure-prompt-filter-first")
    assert not any(isinstance(e, ResponseModel) and e.name == "" for e in events)
    assert texts(events, "answer") == "Capital"
    assert UsageReport(input_tokens=15, output_tokens=78, reasoning_tokens=64) in events


def test_openrouter_midstream_error_is_a_failure_not_a_finish() -> None:
    events = parse_fixture(openai_chat, "openrouter-comments-then-midstream-error")
    assert texts(events, "answer") == "Hello"
    failures = [e for e in events if isinstance(e, StreamFailed)]
    assert failures == [StreamFailed("stream_error", "Provider disconnected unexpectedly")]


def test_reasoning_text_sent_twice_in_one_chunk_counts_once() -> None:
    chunk = {"choices": [{"index": 0, "delta": {"reasoning": "Think", "reasoning_details": [{"type": "reasoning.text", "text": "Think"}]}}]}
    events = openai_chat.Parser().parse(SSEEvent(json.dumps(chunk)))
    assert events == [TextDelta("reasoning", "Think")]


def test_reasoning_details_alone_are_reasoning() -> None:
    chunk = {"choices": [{"index": 0, "delta": {"reasoning_details": [{"type": "reasoning.summary", "summary": "Plan"}]}}]}
    assert openai_chat.Parser().parse(SSEEvent(json.dumps(chunk))) == [TextDelta("reasoning", "Plan")]


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        ({"content": "Hi"}, [TextDelta("answer", "Hi")]),
        ({"content": "Hi", "reasoning_content": None, "reasoning": ""}, [TextDelta("answer", "Hi")]),
        ({"reasoning_content": "R", "content": "Hi"}, [TextDelta("reasoning", "R"), TextDelta("answer", "Hi")]),
        ({"reasoning_details": [], "content": ""}, []),
    ],
)
def test_reasoning_fields_are_read_only_when_present(delta: dict, expected: list[TextDelta]) -> None:
    """A delta without reasoning fields, or with empty ones, gives its other text and no reasoning."""
    chunk = {"choices": [{"index": 0, "delta": delta}]}
    assert openai_chat.Parser().parse(SSEEvent(json.dumps(chunk))) == expected


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ({"code": "insufficient_quota", "message": "quota"}, "quota"),
        ({"code": "rate_limit_exceeded", "message": "slow down"}, "rate_limited"),
        ({"message": "boom", "type": "server_error"}, "stream_error"),
    ],
)
def test_in_stream_error_object(error: dict, kind: str) -> None:
    events = openai_chat.Parser().parse(SSEEvent(json.dumps({"error": error})))
    assert len(events) == 1 and isinstance(events[0], StreamFailed) and events[0].kind == kind


def test_data_that_is_not_json_is_a_protocol_failure() -> None:
    events = openai_chat.Parser().parse(SSEEvent("{not json"))
    assert isinstance(events[0], StreamFailed) and events[0].kind == "protocol"


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (429, b'{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}', "rate_limited"),
        (429, b'{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}', "quota"),
        (401, b'{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}', "auth"),
        (400, b'{"error":{"message":"maximum context length is 8192 tokens","type":"invalid_request_error","code":"context_length_exceeded"}}', "context_length"),
        (500, b"<html><body>Internal error</body></html>", "server"),
        (404, b'{"error":{"message":"The model does not exist","code":"model_not_found"}}', "not_found"),
        (400, b'{"error":{"message":"bad","code":null}}', "bad_request"),
        (400, b'{"error":{"code":400,"message":"This endpoint\'s maximum context length is 128000 tokens."}}', "context_length"),
        (400, b'{"error":{"message":"Unsupported parameter: \'max_tokens\' is not supported with this model. Use \'max_completion_tokens\' instead.","type":"invalid_request_error","param":"max_tokens","code":"unsupported_parameter"}}', "bad_request"),
        (402, b'{"error":{"code":402,"message":"Insufficient credits"}}', "quota"),
    ],
)
def test_http_errors_map_to_kinds_and_keep_the_message(status: int, body: bytes, kind: str) -> None:
    got_kind, message = openai_chat.classify_error(status, body)
    assert got_kind == kind
    assert message and len(message) <= 500


def test_azure_annotation_chunks_after_the_finish_carry_no_token() -> None:
    """Azure's asynchronous filter: annotations with a choice but no delta, before and after the finish."""
    events = parse_fixture(openai_chat, "azure-async-filter-annotations-after-finish")
    assert events == [ResponseModel("gpt-35-turbo"), TextDelta("answer", "Color"), Finished("stop"), EndOfStream()]


def test_llamacpp_timings_are_ignored_and_its_usage_taken() -> None:
    events = parse_fixture(openai_chat, "llamacpp-usage-with-timings")
    assert texts(events, "reasoning") == "Greet" and texts(events, "answer") == "Hello"
    assert UsageReport(input_tokens=237, output_tokens=35) in events
    assert not any(isinstance(e, StreamFailed) for e in events)


def test_vllm_running_usage_then_flat_error_before_done() -> None:
    """Usage on every chunk (the last wins); the older flat ``object: error`` fails the stream though [DONE] follows."""
    events = parse_fixture(openai_chat, "vllm-continuous-usage-then-flat-error")
    usages = [e for e in events if isinstance(e, UsageReport)]
    assert [u.output_tokens for u in usages] == [0, 1, 2]
    assert StreamFailed("stream_error", "The engine loop has stopped.") in events
    assert events[-1] == EndOfStream()


def test_model_placeholder_in_base_url_names_an_azure_deployment() -> None:
    """One Azure provider serves several deployments: ``{model}`` in base_url becomes each model's id."""
    target = Target(base_url="https://r.openai.azure.com/openai/deployments/{model}", model_id="mini-prod",
                    auth="api-key", api_key="k", query=(("api-version", "2024-10-21"),))
    request = openai_chat.build_request(target, "hi", 10)
    assert request.url == "https://r.openai.azure.com/openai/deployments/mini-prod/chat/completions?api-version=2024-10-21"
