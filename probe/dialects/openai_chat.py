"""OpenAI Chat Completions streaming, as spoken by OpenAI and the many endpoints that copy it.

Quirks handled (see the recorded fixtures under tests/fixtures/sse/openai-chat/):
- the role-only first chunk carries no text and is not a token;
- ``usage`` is absent or ``null`` on ordinary chunks, arrives on a ``choices: []`` chunk (OpenAI with
  ``include_usage``) or on the finish chunk (Groq, DeepSeek), or inside ``x_groq.usage``;
- reasoning text in ``reasoning_content`` (DeepSeek, llama.cpp) or ``reasoning`` (Groq, OpenRouter, vLLM);
- refusal and tool-call deltas are generated tokens, not answer text;
- Azure's first chunk (empty ``choices``, empty ``model``, ``prompt_filter_results``) and its asynchronous-filter
  annotation chunks (a choice with no ``delta``, also after the finish) carry no token;
- llama.cpp's ``timings`` and ``prompt_progress``, vLLM's ``stop_reason`` and running ``usage`` on every chunk
  (``continuous_usage_stats``; the last one wins), OpenAI's ``obfuscation`` padding: ignored or taken as usage;
- an ``error`` object inside a 200 stream (OpenAI, OpenRouter with ``finish_reason: "error"``, vLLM, whose older
  releases send the flat ``{"object": "error", ...}``) is an error sample, not a success.
"""

from __future__ import annotations

from typing import Any

from probe.dialects import (
    error_message,
    int_or_none,
    json_post,
    kind_from_status,
    load_json_object,
    mentions_context_length,
    not_json,
    truncate,
)
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

NAME = "openai-chat"
DEFAULT_AUTH = "bearer"
MAX_TOKENS_FIELDS = ("max_completion_tokens", "max_tokens")
"""OpenAI's current field (the only one its reasoning models accept) first; OpenRouter, DeepSeek, Together, Fireworks
and DeepInfra document ``max_tokens``, chosen per provider with ``max_tokens_field``."""


def build_request(target: Target, prompt: str, max_tokens: int) -> HttpRequest:
    """A streaming chat request that asks for usage in the stream.

    The output cap goes in ``target.max_tokens_field``, by default ``max_completion_tokens`` (see
    ``MAX_TOKENS_FIELDS``).
    """
    body = {
        "model": target.model_id,
        "messages": [{"role": "user", "content": prompt}],
        "stream": True,
        "stream_options": {"include_usage": True},
        target.max_tokens_field or MAX_TOKENS_FIELDS[0]: max_tokens,
    }
    return json_post(target, "/chat/completions", body)


class Parser:
    """Stateless apart from remembering whether the response model was already reported."""

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
        response model, reported once: ``probe.derive`` relies on that to read the text of an event shaped like an
        earlier one (``_TextSlot``). The name changes nothing here."""
        error = payload.get("error")
        if error:
            return [in_stream_error(error)]
        if payload.get("object") == "error":  # vLLM's older flat shape: {"object":"error","message":...}
            return [in_stream_error(payload)]
        events: list[StreamEvent] = []
        if not self._model_seen:
            model = payload.get("model")
            if model:
                self._model_seen = True
                events.append(ResponseModel(str(model)))
        for choice in payload.get("choices") or ():
            if isinstance(choice, dict):
                _parse_choice(choice, events)
        usage = payload.get("usage") or (payload.get("x_groq") or {}).get("usage")
        if isinstance(usage, dict):
            events.append(_usage(usage))
        return events


_REASONING_FIELDS = frozenset({"reasoning_content", "reasoning", "reasoning_details"})


def _parse_choice(choice: dict[str, Any], events: list[StreamEvent]) -> None:
    delta = choice.get("delta")
    if isinstance(delta, dict):
        if not _REASONING_FIELDS.isdisjoint(delta):  # one look for the three fields most deltas lack
            reasoning = delta.get("reasoning_content") or delta.get("reasoning") or _reasoning_details_text(delta)
            if isinstance(reasoning, str) and reasoning:
                events.append(TextDelta("reasoning", reasoning))
        content = delta.get("content")
        if isinstance(content, str) and content:
            events.append(TextDelta("answer", content))
        refusal = delta.get("refusal")
        if isinstance(refusal, str) and refusal:
            events.append(TextDelta("refusal", refusal))
        for call in delta.get("tool_calls") or ():
            arguments = ((call or {}).get("function") or {}).get("arguments") if isinstance(call, dict) else None
            if isinstance(arguments, str) and arguments:
                events.append(TextDelta("tool", arguments))
    reason = choice.get("finish_reason")
    if reason:
        events.append(Finished(str(reason)))


def _reasoning_details_text(delta: dict[str, Any]) -> str:
    """OpenRouter's structured reasoning; used only when no plain reasoning string came, so text counts once."""
    details = delta.get("reasoning_details")
    if not isinstance(details, list):
        return ""
    parts = [d.get("text") or d.get("summary") or "" for d in details if isinstance(d, dict)]
    return "".join(p for p in parts if isinstance(p, str))


def _usage(usage: dict[str, Any]) -> UsageReport:
    details = usage.get("completion_tokens_details") or {}
    return UsageReport(
        input_tokens=int_or_none(usage.get("prompt_tokens")),
        output_tokens=int_or_none(usage.get("completion_tokens")),
        reasoning_tokens=int_or_none(details.get("reasoning_tokens")) if isinstance(details, dict) else None,
    )


_CODE_KINDS: dict[str, ErrorKind] = {
    "insufficient_quota": "quota",
    "billing_hard_limit_reached": "quota",
    "rate_limit_exceeded": "rate_limited",
    "context_length_exceeded": "context_length",
    "invalid_api_key": "auth",
    "model_not_found": "not_found",
    "server_is_overloaded": "overloaded",
}


def in_stream_error(error: object) -> StreamFailed:
    """An error object inside a 200 stream: a specific kind when its code names one, else ``stream_error``."""
    if isinstance(error, dict):
        code = str(error.get("code") or error.get("type") or "")
        message = error.get("message") or code or "error inside the stream"
        return StreamFailed(_CODE_KINDS.get(code, "stream_error"), truncate(str(message)))
    return StreamFailed("stream_error", truncate(str(error)))


def classify_error(status: int, body: bytes) -> tuple[ErrorKind, str]:
    """A non-2xx answer: the status decides, refined by OpenAI's error ``code`` (quota vs rate limit share 429);
    a 400 without that code whose message says the prompt did not fit (OpenRouter, vLLM) is ``context_length``."""
    kind = kind_from_status(status)
    message = error_message(body)
    payload = load_json_object(body[:65536].decode("utf-8", errors="replace"))
    error = payload.get("error") if payload else None
    if isinstance(error, dict):
        code = str(error.get("code") or error.get("type") or "")
        kind = _CODE_KINDS.get(code, kind)
    if kind == "bad_request" and mentions_context_length(message):
        kind = "context_length"
    return kind, message
