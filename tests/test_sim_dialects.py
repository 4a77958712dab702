"""The simulator's Responses, Anthropic and Gemini dialects: requests, auth styles, bytes, and in-band errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from probe.dialects import get_dialect
from probe.model import EndOfStream, Finished, StreamFailed, TextDelta, UsageReport
from probe.sim import LatencyProfile, SimServer, schedule, words
from probe.sim import anthropic_messages, gemini, openai_chat, openai_responses
from probe.sim.dialect import RequestRejected, parse_inband_error, with_inband_error
from probe.sim.http1 import RequestHead
from probe.sse import decode_all

THINKER = LatencyProfile(ttft_s=0.02, inter_chunk_s=0.002, tokens_per_chunk=2, output_tokens=5, reasoning_tokens=3)
PLAIN = LatencyProfile(ttft_s=0.02, inter_chunk_s=0.002, output_tokens=6)
SIM_MODULES = {
    "openai-chat": openai_chat,
    "openai-responses": openai_responses,
    "anthropic-messages": anthropic_messages,
    "gemini": gemini,
}
KEY = "sim-dialect-key-0123"


def head(target: str = "/v1/x", **headers: str) -> RequestHead:
    return RequestHead("POST", target, "HTTP/1.1", tuple((k.replace("_", "-"), v) for k, v in headers.items()))


def request_for(api: str, **overrides: Any) -> Any:
    from probe.sim.dialect import StreamRequest

    fields = dict(model="m", stream=True, include_usage=api == "openai-chat", max_tokens=None, seed=None, prompt_tokens=4)
    return StreamRequest(**{**fields, **overrides})


def rendered(api: str, plan, inband_error: str | None = None) -> bytes:
    module = SIM_MODULES[api]
    plan = module.shape(plan)
    renderer = module.renderer("req1", request_for(api), 1700000000, plan, inband_error)
    return b"".join(renderer.render(e) for e in plan.events)


def vars_of(report: UsageReport) -> dict[str, int | None]:
    return {name: getattr(report, name) for name in ("input_tokens", "output_tokens", "reasoning_tokens")}


def probe_events(api: str, body: bytes) -> list:
    parser = get_dialect(api).Parser()
    return [event for sse in decode_all([body]) for event in parser.parse(sse)]


# ----------------------------------------------------------------------------- pure: bytes each dialect renders


@pytest.mark.parametrize("api", list(SIM_MODULES))
def test_rendered_streams_read_back_as_planned(api: str) -> None:
    """Reasoning first then answer, the planned words, usage with reasoning inside output, a proper end."""
    plan = schedule(THINKER, 0, include_usage=api == "openai-chat")
    events = probe_events(api, rendered(api, plan))
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert "".join(d.text for d in deltas if d.channel == "reasoning") == words.text_of(0, 3)
    assert "".join(d.text for d in deltas if d.channel == "answer") == words.text_of(3, 5)
    assert [d.channel for d in deltas] == ["reasoning"] * 2 + ["answer"] * 3
    usage: dict[str, int | None] = {}
    for report in (e for e in events if isinstance(e, UsageReport)):  # later reports replace earlier ones
        usage.update({k: v for k, v in vars_of(report).items() if v is not None})
    assert usage == {"input_tokens": 4, "output_tokens": 8, "reasoning_tokens": 3}
    assert any(isinstance(e, Finished) for e in events)
    assert not any(isinstance(e, StreamFailed) for e in events)
    if api != "gemini":
        assert events[-1] == EndOfStream()


@pytest.mark.parametrize(("api", "reason"), [("openai-chat", "length"), ("openai-responses", "max_output_tokens"),
                                             ("anthropic-messages", "max_tokens"), ("gemini", "MAX_TOKENS")])
def test_a_capped_plan_finishes_with_each_dialects_length_reason(api: str, reason: str) -> None:
    events = probe_events(api, rendered(api, schedule(PLAIN, 0, max_tokens=2, include_usage=True)))
    assert Finished(reason) in events


def test_responses_events_are_named_numbered_and_padded() -> None:
    """Every event's name equals its payload type; sequence numbers count up from 0; deltas carry obfuscation."""
    body = rendered("openai-responses", schedule(THINKER, 0))
    sse_events = decode_all([body])
    payloads = [json.loads(e.data) for e in sse_events]
    assert [e.event for e in sse_events] == [p["type"] for p in payloads]
    assert [p["sequence_number"] for p in payloads] == list(range(len(payloads)))
    assert payloads[0]["type"] == "response.created" and payloads[-1]["type"] == "response.completed"
    assert all(p.get("obfuscation") for p in payloads if p["type"] == "response.output_text.delta")
    done = next(p for p in payloads if p["type"] == "response.output_text.done")
    assert done["text"] == words.text_of(3, 5)


def test_anthropic_blocks_signature_and_cumulative_usage() -> None:
    body = rendered("anthropic-messages", schedule(THINKER, 0))
    sse_events = decode_all([body])
    payloads = [json.loads(e.data) for e in sse_events]
    assert [e.event for e in sse_events] == [p["type"] for p in payloads]
    assert [p["type"] for p in payloads[:3]] == ["message_start", "ping", "content_block_start"]
    assert payloads[0]["message"]["usage"]["output_tokens"] == 1  # Anthropic's placeholder before any text
    delta_types = [p["delta"]["type"] for p in payloads if p["type"] == "content_block_delta"]
    assert delta_types == ["thinking_delta"] * 2 + ["signature_delta"] + ["text_delta"] * 3
    message_delta = next(p for p in payloads if p["type"] == "message_delta")
    assert message_delta["usage"] == {"output_tokens": 8, "output_tokens_details": {"thinking_tokens": 3}}
    assert payloads[-1] == {"type": "message_stop"}


def test_gemini_is_crlf_framed_with_no_role_chunk_and_no_sentinel() -> None:
    body = rendered("gemini", schedule(THINKER, 0, include_usage=True))
    frames = body.split(b"\r\n\r\n")
    assert frames[-1] == b"" and all(f.startswith(b"data: {") and b"\n" not in f for f in frames[:-1])
    payloads = [json.loads(f[6:]) for f in frames[:-1]]
    assert len(payloads) == 2 + 3 + 1  # token chunks and the finish chunk, nothing else
    assert payloads[0]["candidates"][0]["content"]["parts"][0]["thought"] is True
    assert payloads[-1]["candidates"][0]["finishReason"] == "STOP"
    assert payloads[-1]["usageMetadata"]["candidatesTokenCount"] == 5
    assert payloads[-1]["usageMetadata"]["thoughtsTokenCount"] == 3


@pytest.mark.parametrize(
    ("api", "kind", "expected"),
    [
        ("openai-chat", "quota", "quota"),
        ("openai-responses", "quota", "quota"),
        ("anthropic-messages", "overloaded", "overloaded"),
        ("anthropic-messages", "quota", "quota"),
        ("gemini", "overloaded", "overloaded"),
        ("gemini", "quota", "quota"),
        ("gemini", "server", "stream_error"),
    ],
)
def test_in_band_errors_in_each_dialects_shape(api: str, kind: str, expected: str) -> None:
    plan = with_inband_error(schedule(PLAIN, 0), after_tokens=2)
    events = probe_events(api, rendered(api, plan, kind))
    assert [e.channel for e in events if isinstance(e, TextDelta)] == ["answer", "answer"]
    assert [e for e in events if isinstance(e, StreamFailed)][0].kind == expected


def test_with_inband_error_cuts_the_plan_where_the_error_goes() -> None:
    plan = schedule(PLAIN, 0)
    cut = with_inband_error(plan, after_tokens=3)
    assert [e.kind for e in cut.events] == ["role", "answer", "answer", "answer", "error"]
    assert cut.events[-1].offset_s == plan.events[4].offset_s
    assert (cut.answer_tokens, cut.reasoning_tokens) == (3, 0)
    assert [e.kind for e in with_inband_error(plan, 0).events] == ["role", "error"]


@pytest.mark.parametrize(
    ("value", "parsed"),
    [("overloaded", ("overloaded", 0)), ("Quota; after=3", ("quota", 3)), ("server;after=x", ("server", 0)),
     ("teapot", None), (None, None), ("", None)],
)
def test_inband_error_header_values(value: str | None, parsed: tuple | None) -> None:
    assert parse_inband_error(value) == parsed


# ----------------------------------------------------------------------------- pure: requests and keys


def test_requests_are_read_in_each_dialects_terms() -> None:
    responses = openai_responses.parse_request(head(), json.dumps(
        {"model": "m", "input": [{"role": "user", "content": "two words"}], "stream": True, "max_output_tokens": 9}).encode())
    assert (responses.model, responses.stream, responses.max_tokens, responses.prompt_tokens) == ("m", True, 9, 2)
    anthropic = anthropic_messages.parse_request(head(anthropic_version="2023-06-01"), json.dumps(
        {"model": "c", "max_tokens": 7, "messages": [{"role": "user", "content": "a b c"}], "stream": True}).encode())
    assert (anthropic.model, anthropic.max_tokens, anthropic.prompt_tokens) == ("c", 7, 3)
    google = gemini.parse_request(head("/v1beta/models/gemini-x%2Dy:streamGenerateContent?alt=sse"), json.dumps(
        {"contents": [{"parts": [{"text": "one two"}]}], "generationConfig": {"maxOutputTokens": 5, "seed": 3}}).encode())
    assert (google.model, google.stream, google.max_tokens, google.seed, google.prompt_tokens) == ("gemini-x-y", True, 5, 3, 2)
    assert not gemini.parse_request(head("/v1beta/models/g:streamGenerateContent"), b'{"contents":[{}]}').stream
    assert not gemini.parse_request(head("/v1beta/models/g:generateContent?alt=sse"), b'{"contents":[{}]}').stream


@pytest.mark.parametrize(
    ("module", "request_head", "body", "status", "needle"),
    [
        (anthropic_messages, head(), b'{"model":"c","max_tokens":5,"messages":[{}]}', 400, b"anthropic-version"),
        (anthropic_messages, head(anthropic_version="2023-06-01"), b'{"model":"c","messages":[{}]}', 400, b"max_tokens: Field required"),
        (openai_responses, head(), b'{"model":"m"}', 400, b"input"),
        (gemini, head("/v1beta/models/g:streamGenerateContent?alt=sse"), b'{"contents":[]}', 400, b"INVALID_ARGUMENT"),
    ],
)
def test_bad_requests_get_each_dialects_400(module, request_head: RequestHead, body: bytes, status: int, needle: bytes) -> None:
    with pytest.raises(RequestRejected) as caught:
        module.parse_request(request_head, body)
    assert caught.value.rejection.status == status and needle in caught.value.rejection.body()


@pytest.mark.parametrize(
    ("module", "good", "wrong", "missing_status", "wrong_status"),
    [
        (openai_responses, {"authorization": f"Bearer {KEY}"}, {"authorization": "Bearer nope"}, 401, 401),
        (anthropic_messages, {"x-api-key": KEY}, {"x-api-key": "nope"}, 401, 401),
        (gemini, {"x-goog-api-key": KEY}, {"x-goog-api-key": "nope"}, 403, 400),
    ],
)
def test_keys_in_each_dialects_header(module, good: dict, wrong: dict, missing_status: int, wrong_status: int) -> None:
    as_head = lambda headers: RequestHead("POST", "/v1/x", "HTTP/1.1", tuple(headers.items()))  # noqa: E731
    assert module.check_key(as_head(good), KEY.encode()) is None
    assert module.check_key(as_head({}), KEY.encode()).status == missing_status
    rejection = module.check_key(as_head(wrong), KEY.encode())
    assert rejection.status == wrong_status and b"nope" not in rejection.body()


def test_gemini_accepts_the_key_as_a_query_parameter() -> None:
    assert gemini.check_key(RequestHead("POST", f"/v1beta/models/g:streamGenerateContent?alt=sse&key={KEY}", "HTTP/1.1", ()),
                            KEY.encode()) is None


# ----------------------------------------------------------------------------- over the socket


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with SimServer({"thinker": THINKER, "plain": PLAIN}, api_key=KEY) as server:
        yield server


def test_gemini_bad_key_is_googles_pretty_printed_400(sim: SimServer) -> None:
    url = f"{sim.base_url}/models/plain:streamGenerateContent?alt=sse"
    response = httpx.post(url, json={"contents": [{"parts": [{"text": "hi"}]}]}, headers={"x-goog-api-key": "wrong"}, trust_env=False)
    assert response.status_code == 400
    assert response.text.startswith('{\n  "error": {')
    error = response.json()["error"]
    assert (error["status"], error["details"][0]["reason"]) == ("INVALID_ARGUMENT", "API_KEY_INVALID")


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "needle"),
    [
        ("/messages", {"model": "nope", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}], "stream": True},
         {"x-api-key": KEY, "anthropic-version": "2023-06-01"}, 404, "not_found_error"),
        ("/messages", {"model": "plain", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
         {"x-api-key": KEY, "anthropic-version": "2023-06-01"}, 400, "stream"),
        ("/responses", {"model": "nope", "input": "x", "stream": True}, {"authorization": f"Bearer {KEY}"}, 404, "model_not_found"),
        ("/models/plain:generateContent", {"contents": [{"parts": [{"text": "x"}]}]}, {"x-goog-api-key": KEY}, 400, "streamGenerateContent"),
        ("/models/nope:streamGenerateContent?alt=sse", {"contents": [{"parts": [{"text": "x"}]}]}, {"x-goog-api-key": KEY}, 404, "NOT_FOUND"),
    ],
)
def test_routed_rejections_in_each_envelope(sim: SimServer, path: str, body: dict, headers: dict, status: int, needle: str) -> None:
    response = httpx.post(sim.base_url + path, json=body, headers=headers, trust_env=False)
    assert response.status_code == status and needle in response.text


def test_gemini_records_hold_only_token_and_finish_events(sim: SimServer) -> None:
    url = f"{sim.base_url}/models/plain:streamGenerateContent?alt=sse"
    with httpx.stream("POST", url, json={"contents": [{"parts": [{"text": "hi"}]}]}, headers={"x-goog-api-key": KEY},
                      trust_env=False) as response:
        body = response.read()
        request_id = response.headers["x-sim-request-id"]
    assert body.endswith(b"\r\n\r\n") and b"\n\n" not in body
    (record,) = [r for r in sim.records() if r.request_id == request_id]
    assert [e.kind for e in record.events] == ["answer"] * 6 + ["finish"]
