"""Anthropic Messages streaming (``POST /messages``): typed events, cumulative usage, errors inside a 200.

Quirks handled (fixtures under tests/fixtures/sse/anthropic-messages/):
- the request needs ``x-api-key``, ``anthropic-version: 2023-06-01`` and ``max_tokens`` (required);
- ``message_start`` gives the model and the input tokens; its ``output_tokens`` (already 1 before any text) is a
  placeholder and is not taken;
- tokens arrive in ``content_block_delta`` as ``text_delta`` (answer), ``thinking_delta`` (reasoning) and
  ``input_json_delta`` (tool arguments); ``signature_delta``, ``citations_delta``, empty deltas,
  ``content_block_start``/``stop`` and ``ping`` carry none, and unknown event types are ignored;
- ``message_delta`` usage is cumulative: each replaces the last. ``output_tokens`` includes thinking; newer
  responses also say ``output_tokens_details.thinking_tokens``; ``input_tokens`` there, when present, wins over
  ``message_start``'s (they can differ);
- input tokens are reported as ``input_tokens + cache_creation_input_tokens + cache_read_input_tokens``, every
  prompt token the model read, which is what the other dialects' input counts mean;
- ``message_delta.stop_reason`` is the finish; ``message_stop`` is the terminator;
- ``event: error`` inside a 200 stream is classified by ``error.type`` (``overloaded_error`` -> ``overloaded``);
- a second ``message_start`` with another message id (a spliced stream) is a protocol failure; a repeated one
  with the same id is ignored.
"""

from __future__ import annotations

from dataclasses import replace
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

NAME = "anthropic-messages"
DEFAULT_AUTH = "x-api-key"
MAX_TOKENS_FIELDS = ("max_tokens",)
API_VERSION = "2023-06-01"

_DELTA_FIELDS = {
    "text_delta": ("answer", "text"),
    "thinking_delta": ("reasoning", "thinking"),
    "input_json_delta": ("tool", "partial_json"),
}
"""``content_block_delta`` types that carry generated text: channel, and the field holding the text."""

_ERROR_TYPE_KINDS: dict[str, ErrorKind] = {
    "authentication_error": "auth",
    "permission_error": "auth",
    "not_found_error": "not_found",
    "request_too_large": "context_length",
    "rate_limit_error": "rate_limited",
    "billing_error": "quota",
    "api_error": "server",
    "timeout_error": "server",
    "overloaded_error": "overloaded",
    "invalid_request_error": "bad_request",
}


def build_request(target: Target, prompt: str, max_tokens: int) -> HttpRequest:
    """A streaming Messages request with the version header (unless the provider's config sets its own)."""
    if not any(name.lower() == "anthropic-version" for name, _ in target.headers):
        target = replace(target, headers=(("anthropic-version", API_VERSION), *target.headers))
    body = {
        "model": target.model_id,
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": prompt}],
        "stream": True,
    }
    return json_post(target, "/messages", body)


class Parser:
    """Remembers the message id, to tell a repeated ``message_start`` from a second message spliced in."""

    __slots__ = ("_message_id", "_started")

    def __init__(self) -> None:
        self._started = False
        self._message_id: object = None

    def parse(self, event: SSEEvent) -> list[StreamEvent]:
        payload = load_json_object(event.data)
        if payload is None:
            return [not_json(event.data)]
        return self.parse_payload(payload, event.event)

    def parse_payload(self, payload: dict[str, Any], event: str = "message") -> list[StreamEvent]:
        """The events of one ``data`` payload that is a JSON object, sent as an ``event`` of that name (``probe.derive``
        parses whole streams of them in one go). They depend on the payload and the name alone, apart from
        ``message_start``, whose message id is remembered: ``probe.derive`` relies on that to read the text of an
        event shaped like an earlier one (``_TextSlot``)."""
        kind = payload.get("type")
        if not isinstance(kind, str):
            kind = event
        if kind == "content_block_delta":
            return _delta(payload.get("delta"))
        if kind == "message_delta":
            return _message_delta(payload)
        if kind == "message_stop":
            return [EndOfStream()]
        if kind == "message_start":
            return self._message_start(payload.get("message"))
        if kind == "error":
            return [in_stream_error(payload.get("error"))]
        return []  # ping, content_block_start/stop, and event types added after this was written

    def _message_start(self, message: object) -> list[StreamEvent]:
        if not isinstance(message, dict):
            return []
        message_id = message.get("id")
        if self._started:
            if message_id != self._message_id:
                return [StreamFailed("protocol", "a second message started inside the stream")]
            return []
        self._started, self._message_id = True, message_id
        events: list[StreamEvent] = []
        model = message.get("model")
        if model:
            events.append(ResponseModel(str(model)))
        usage = message.get("usage")
        input_tokens = _input_tokens(usage) if isinstance(usage, dict) else None
        if input_tokens is not None:
            events.append(UsageReport(input_tokens=input_tokens))
        return events


def _delta(delta: object) -> list[StreamEvent]:
    if not isinstance(delta, dict):
        return []
    channel_field = _DELTA_FIELDS.get(str(delta.get("type")))
    if channel_field is None:
        return []  # signature_delta, citations_delta, ...
    channel, field = channel_field
    text = delta.get(field)
    return [TextDelta(channel, text)] if isinstance(text, str) and text else []  # type: ignore[arg-type]


def _message_delta(payload: dict[str, Any]) -> list[StreamEvent]:
    events: list[StreamEvent] = []
    usage = payload.get("usage")
    if isinstance(usage, dict):
        details = usage.get("output_tokens_details")
        events.append(
            UsageReport(
                input_tokens=_input_tokens(usage),
                output_tokens=int_or_none(usage.get("output_tokens")),
                reasoning_tokens=int_or_none(details.get("thinking_tokens")) if isinstance(details, dict) else None,
            )
        )
    delta = payload.get("delta")
    reason = delta.get("stop_reason") if isinstance(delta, dict) else None
    if reason:
        events.append(Finished(str(reason)))
    return events


def _input_tokens(usage: dict[str, Any]) -> int | None:
    """Uncached plus cache-written plus cache-read input: every prompt token, as other dialects count them."""
    base = int_or_none(usage.get("input_tokens"))
    if base is None:
        return None
    cached = (int_or_none(usage.get(name)) or 0 for name in ("cache_creation_input_tokens", "cache_read_input_tokens"))
    return base + sum(cached)


def in_stream_error(error: object) -> StreamFailed:
    """``event: error`` after a 200: a kind from ``error.type`` when it names one (overloaded, rate limit,
    billing), else ``stream_error``; a 5xx-type error in the stream is the stream failing, not a 5xx status."""
    if not isinstance(error, dict):
        return StreamFailed("stream_error", truncate(str(error)) if error else "error event inside the stream")
    error_type = str(error.get("type") or "")
    kind = _ERROR_TYPE_KINDS.get(error_type)
    if kind not in ("overloaded", "rate_limited", "quota"):
        kind = "stream_error"
    message = error.get("message") or error_type or "error event inside the stream"
    return StreamFailed(kind, truncate(str(message)))


def classify_error(status: int, body: bytes) -> tuple[ErrorKind, str]:
    """``{"type":"error","error":{"type","message"}}``: the error type decides, then the status (529 overloaded)."""
    kind = kind_from_status(status)
    message = error_message(body)
    payload = load_json_object(body[:65536].decode("utf-8", errors="replace"))
    error = payload.get("error") if payload else None
    if isinstance(error, dict):
        kind = _ERROR_TYPE_KINDS.get(str(error.get("type") or ""), kind)
    if kind == "bad_request" and mentions_context_length(message):
        kind = "context_length"
    return kind, message
