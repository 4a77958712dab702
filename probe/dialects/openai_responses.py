"""OpenAI Responses streaming (``POST /responses``): typed events, usage in the terminal event.

Every event carries its ``type`` in the payload (and, on the live API, as the SSE event name too; recordings
re-framed without ``event:`` lines parse the same because the payload decides). Quirks handled (fixtures under
tests/fixtures/sse/openai-responses/):
- tokens arrive as ``response.output_text.delta`` (answer), ``response.reasoning_summary_text.delta`` and
  ``response.reasoning_text.delta`` (reasoning), ``response.refusal.delta`` and
  ``response.function_call_arguments.delta`` (generated, not answer); every other event carries no token;
- usage arrives only inside the terminal ``response.completed`` / ``response.incomplete`` / ``response.failed``;
- ``response.incomplete`` is a finish with a reason (``max_output_tokens``, ``content_filter``): a success when
  tokens came, like a chat ``length`` finish;
- ``error`` events come flat (``code``, ``message``, as the spec says) or nested under ``error`` (as recorded);
  a quota failure arrives this way after ``response.created``, so it maps to ``quota``, not ``stream_error``;
- ``response.failed`` is a failure whose kind comes from ``response.error.code``;
- ``obfuscation`` padding and ``sequence_number`` change nothing; unknown event types are ignored; a
  ``data: [DONE]`` (not sent by OpenAI, sent by some compatible servers) ends the stream.

OpenAI streams only a *summary* of its reasoning, so with summaries on, the reasoning text is shorter than the
``reasoning_tokens`` it stands for, and the first summary delta comes after some reasoning already happened:
``ttft_s`` is then the first reasoning text probe could see, which is the honest definition for this API.
"""

from __future__ import annotations

from typing import Any

from probe.dialects import int_or_none, json_post, load_json_object, not_json, openai_chat
from probe.model import (
    EndOfStream,
    ErrorKind,
    Finished,
    HttpRequest,
    ResponseModel,
    SSEEvent,
    StreamEvent,
    StreamFailed,
    Target,
    TextDelta,
    UsageReport,
)

NAME = "openai-responses"
DEFAULT_AUTH = "bearer"
MAX_TOKENS_FIELDS = ("max_output_tokens",)

_TOKEN_EVENTS = {
    "response.output_text.delta": "answer",
    "response.reasoning_summary_text.delta": "reasoning",
    "response.reasoning_text.delta": "reasoning",
    "response.refusal.delta": "refusal",
    "response.function_call_arguments.delta": "tool",
}
_TERMINAL_EVENTS = ("response.completed", "response.incomplete", "response.failed")


def build_request(target: Target, prompt: str, max_tokens: int) -> HttpRequest:
    """A streaming Responses request; ``max_output_tokens`` counts reasoning too, like ``max_completion_tokens``."""
    body = {
        "model": target.model_id,
        "input": prompt,
        "stream": True,
        "max_output_tokens": max_tokens,
    }
    return json_post(target, "/responses", body)


class Parser:
    """Remembers only whether the response model was already reported."""

    __slots__ = ("_model_seen",)

    def __init__(self) -> None:
        self._model_seen = False

    def parse(self, event: SSEEvent) -> list[StreamEvent]:
        data = event.data
        if data.startswith("[DONE]"):
            return [EndOfStream()]
        payload = load_json_object(data)
        if payload is None:
            return [not_json(data)]
        return self.parse_payload(payload, event.event)

    def parse_payload(self, payload: dict[str, Any], event: str = "message") -> list[StreamEvent]:
        """The events of one ``data`` payload that is a JSON object, sent as an ``event`` of that name (``probe.derive``
        parses whole streams of them in one go). They depend on the payload and the name alone, apart from the
        response model, reported once."""
        kind = payload.get("type")
        if not isinstance(kind, str):
            kind = event
        channel = _TOKEN_EVENTS.get(kind)
        if channel is not None:
            delta = payload.get("delta")
            return [TextDelta(channel, delta)] if isinstance(delta, str) and delta else []  # type: ignore[arg-type]
        if kind == "error":
            return [_error_event(payload)]
        response = payload.get("response")
        if not isinstance(response, dict):
            if kind not in _TERMINAL_EVENTS and isinstance(payload.get("error"), dict):
                return [openai_chat.in_stream_error(payload["error"])]  # a chat-style error from a gateway
            return []
        events: list[StreamEvent] = []
        model = response.get("model")
        if model and not self._model_seen:
            self._model_seen = True
            events.append(ResponseModel(str(model)))
        if kind not in _TERMINAL_EVENTS:
            return events  # response.created / in_progress / queued
        usage = response.get("usage")
        if isinstance(usage, dict):
            events.append(_usage(usage))
        if kind == "response.failed":
            events.append(_failed(response))
        elif kind == "response.incomplete":
            details = response.get("incomplete_details")
            reason = details.get("reason") if isinstance(details, dict) else None
            events.append(Finished(str(reason or "incomplete")))
        else:
            events.append(Finished(str(response.get("status") or "completed")))
        events.append(EndOfStream())
        return events


def _error_event(payload: dict[str, Any]) -> StreamFailed:
    """``{"type":"error","error":{...}}`` as recorded, or the flat ``{"type":"error","code":...}`` of the spec."""
    nested = payload.get("error")
    if isinstance(nested, dict):
        return openai_chat.in_stream_error(nested)
    code = payload.get("code")
    message = payload.get("message") or code or "error event inside the stream"
    return openai_chat.in_stream_error({"code": code, "message": message})


def _failed(response: dict[str, Any]) -> StreamFailed:
    error = response.get("error")
    if isinstance(error, dict):
        failure = openai_chat.in_stream_error(error)
        return failure if failure.message else StreamFailed(failure.kind, "the response failed")
    return StreamFailed("stream_error", "the response failed (response.failed without an error object)")


def _usage(usage: dict[str, Any]) -> UsageReport:
    details = usage.get("output_tokens_details")
    return UsageReport(
        input_tokens=int_or_none(usage.get("input_tokens")),
        output_tokens=int_or_none(usage.get("output_tokens")),
        reasoning_tokens=int_or_none(details.get("reasoning_tokens")) if isinstance(details, dict) else None,
    )


def classify_error(status: int, body: bytes) -> tuple[ErrorKind, str]:
    """The same envelope and codes as Chat Completions (``insufficient_quota`` vs ``rate_limit_exceeded``)."""
    return openai_chat.classify_error(status, body)
