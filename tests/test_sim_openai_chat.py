"""The OpenAI chat dialect of the simulator: request parsing and the bytes of every event."""

from __future__ import annotations

import json
from typing import Any

import pytest

from probe.sim import openai_chat, words
from probe.sim.openai_chat import ChatStreamRenderer, RequestRejected, parse_chat_request
from probe.sim.profiles import LatencyProfile, schedule

MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": [{"type": "text", "text": "a b c"}]}]


def body(**fields: Any) -> bytes:
    return json.dumps({"model": "m", "messages": MESSAGES, "stream": True, **fields}).encode()


def test_parse_reads_what_the_simulator_acts_on() -> None:
    """Model, stream flag, include_usage, max tokens (new name wins), seed and a word-count prompt estimate."""
    request = parse_chat_request(
        body(stream_options={"include_usage": True}, max_completion_tokens=5, max_tokens=9, seed=3)
    )
    assert request == openai_chat.ChatRequest(
        model="m", stream=True, include_usage=True, max_tokens=5, seed=3, prompt_tokens=5
    )
    legacy = parse_chat_request(body(max_tokens=9, stream=False))
    assert (legacy.max_tokens, legacy.stream, legacy.include_usage, legacy.seed) == (9, False, False, None)


@pytest.mark.parametrize(
    "raw, param",
    [
        (b"{not json", None),
        (b"[1]", None),
        (json.dumps({"messages": MESSAGES}).encode(), "model"),
        (json.dumps({"model": "m", "messages": []}).encode(), "messages"),
        (body(max_completion_tokens=0), "max_completion_tokens"),
        (body(max_tokens=True), "max_tokens"),
        (body(seed="1"), "seed"),
        (body(stream_options=[]), "stream_options"),
    ],
)
def test_bad_requests_are_rejected_naming_the_field(raw: bytes, param: str | None) -> None:
    """Malformed bodies become a 400 in OpenAI's error shape with ``param`` set."""
    with pytest.raises(RequestRejected) as caught:
        parse_chat_request(raw)
    rejection = caught.value.rejection
    assert (rejection.status, rejection.param) == (400, param)
    error = json.loads(rejection.body())["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"


def test_error_helpers_have_openai_codes() -> None:
    """404 unknown model and 401 bad key carry OpenAI's status and code."""
    assert (openai_chat.model_not_found("x").status, openai_chat.model_not_found("x").code) == (404, "model_not_found")
    assert (openai_chat.invalid_api_key().status, openai_chat.invalid_api_key().code) == (401, "invalid_api_key")


def parse_events(blob: bytes) -> list[Any]:
    events = blob.split(b"\n\n")
    assert events[-1] == b""
    out: list[Any] = []
    for event in events[:-1]:
        assert event.startswith(b"data: ") and b"\n" not in event
        data = event[len(b"data: ") :]
        out.append("[DONE]" if data == b"[DONE]" else json.loads(data))
    return out


def test_rendered_stream_is_openai_shaped() -> None:
    """Role chunk, reasoning_content then content deltas, empty-delta finish, usage with empty choices, [DONE]."""
    profile = LatencyProfile(ttft_s=0.1, inter_chunk_s=0.01, tokens_per_chunk=2, output_tokens=3, reasoning_tokens=2)
    plan = schedule(profile, 0, include_usage=True)
    renderer = ChatStreamRenderer("chatcmpl-x", 'we"ird/model', 1700000000, 11, plan)
    events = parse_events(b"".join(renderer.render(e) for e in plan.events))

    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    for chunk in chunks:
        assert chunk["id"] == "chatcmpl-x"
        assert chunk["object"] == "chat.completion.chunk"
        assert chunk["model"] == 'we"ird/model'
        assert chunk["created"] == 1700000000
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert chunks[0]["usage"] is None
    assert chunks[1]["choices"][0]["delta"] == {"content": None, "reasoning_content": words.text_of(0, 2)}
    assert [c["choices"][0]["delta"]["content"] for c in chunks[2:4]] == [words.text_of(2, 2), words.text_of(4, 1)]
    assert chunks[4]["choices"] == [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}]
    assert chunks[5]["choices"] == []
    assert chunks[5]["usage"] == {
        "prompt_tokens": 11,
        "completion_tokens": 5,
        "total_tokens": 16,
        "completion_tokens_details": {"reasoning_tokens": 2},
    }


def test_finish_reason_length_when_capped() -> None:
    """A capped plan renders ``finish_reason: length``."""
    plan = schedule(LatencyProfile(ttft_s=0.1, inter_chunk_s=0.01, output_tokens=10), 0, 2)
    renderer = ChatStreamRenderer("id", "m", 0, 1, plan)
    finish = [e for e in plan.events if e.kind == "finish"][0]
    assert json.loads(renderer.render(finish)[6:])["choices"][0]["finish_reason"] == "length"
