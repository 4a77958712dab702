"""Google Gemini API streaming (``POST models/{id}:streamGenerateContent?alt=sse``).

Each event's data is a whole ``GenerateContentResponse`` whose ``parts[].text`` is a delta. Quirks handled
(fixtures under tests/fixtures/sse/gemini/):
- the key goes in ``x-goog-api-key``; there is no ``stream`` flag (the method streams) and the length limit is
  ``generationConfig.maxOutputTokens``; a provider's ``extra_body.generationConfig`` (e.g. ``thinkingConfig``)
  is merged into that object, not put in its place;
- events end in CRLF (the SSE decoder handles every line ending, split anywhere);
- parts with ``"thought": true`` are reasoning, other text parts answer, ``functionCall`` parts tool tokens;
  empty-text parts (a final part carrying only ``thoughtSignature``) carry none;
- ``usageMetadata`` comes on every chunk with running totals (or only on the last, through Vertex): the last
  wins. ``thoughtsTokenCount`` is *not* part of ``candidatesTokenCount``, so output = candidates + thoughts;
- ``finishReason`` (``STOP``, ``MAX_TOKENS``, ``SAFETY`` ...) is the finish *and* the terminator: there is no
  sentinel, the connection just closes;
- ``{"error": {...}}`` inside the stream is an error sample (503 ``UNAVAILABLE`` -> ``overloaded``);
- a blocked prompt is one chunk with ``promptFeedback.blockReason`` and no candidates. probe records it as
  ``bad_request`` with the reason, not as ``empty``: the prompt was refused before generation started, the
  same outcome Azure reports as an HTTP 400 ``content_filter``, and not a fault of the endpoint;
- errors before the stream use Google's envelope ``{"error": {"code", "message", "status", "details"}}``: a bad
  key is a 400 ``INVALID_ARGUMENT`` with reason ``API_KEY_INVALID`` (-> ``auth``), a 429
  ``RESOURCE_EXHAUSTED`` is ``rate_limited`` unless its quota is per day (-> ``quota``), and the retry delay is
  in the body (``RetryInfo.retryDelay``), not in a ``Retry-After`` header.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any
from urllib.parse import quote

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

NAME = "gemini"
DEFAULT_AUTH = "x-goog-api-key"
MAX_TOKENS_FIELDS = ("maxOutputTokens",)

_STATUS_KINDS: dict[str, ErrorKind] = {
    "UNAUTHENTICATED": "auth",
    "PERMISSION_DENIED": "auth",
    "NOT_FOUND": "not_found",
    "RESOURCE_EXHAUSTED": "rate_limited",
    "UNAVAILABLE": "overloaded",
    "INTERNAL": "server",
    "DEADLINE_EXCEEDED": "server",
}
_IN_STREAM_KINDS = ("overloaded", "rate_limited", "quota")


def build_request(target: Target, prompt: str, max_tokens: int) -> HttpRequest:
    """A streaming generateContent request; ``base_url`` ends in the API version (``.../v1beta``)."""
    model = target.model_id.removeprefix("models/")
    extra = dict(target.extra_body)
    configured = extra.pop("generationConfig", None)
    generation: dict[str, Any] = {"maxOutputTokens": max_tokens}
    if isinstance(configured, dict):
        generation.update(configured)
    body = {
        "contents": [{"role": "user", "parts": [{"text": prompt}]}],
        "generationConfig": generation,
    }
    path = f"/models/{quote(model, safe='-._~')}:streamGenerateContent?alt=sse"
    return json_post(replace(target, extra_body=tuple(extra.items())), path, body)


class Parser:
    """Remembers only whether the response model was already reported."""

    __slots__ = ("_model_seen",)

    def __init__(self) -> None:
        self._model_seen = False

    def parse(self, event: SSEEvent) -> list[StreamEvent]:
        payload = load_json_object(event.data)
        if payload is None:
            return [not_json(event.data)]
        return self.parse_payload(payload, event.event)

    def parse_payload(self, payload: dict[str, Any], event: str = "message") -> list[StreamEvent]:
        """The events of one ``data`` payload that is a JSON object, sent as an ``event`` of that name (``probe.derive``
        parses whole streams of them in one go). They depend on the payload and the name alone, apart from the
        response model, reported once. The name changes nothing here."""
        error = payload.get("error")
        if error:
            return [in_stream_error(error)]
        events: list[StreamEvent] = []
        if not self._model_seen:
            model = payload.get("modelVersion")
            if model:
                self._model_seen = True
                events.append(ResponseModel(str(model)))
        finishes: list[StreamEvent] = []
        candidates = payload.get("candidates")
        for candidate in candidates if isinstance(candidates, list) else ():
            if isinstance(candidate, dict):
                _parse_candidate(candidate, events, finishes)
        usage = payload.get("usageMetadata")
        report = _usage(usage) if isinstance(usage, dict) else None
        if report is not None:
            events.append(report)
        if not candidates:
            feedback = payload.get("promptFeedback")
            reason = feedback.get("blockReason") if isinstance(feedback, dict) else None
            if reason:
                events.append(StreamFailed("bad_request", f"the prompt was blocked: {truncate(str(reason), 120)}"))
        if finishes:  # after the text and usage of the same chunk
            events.extend(finishes)
        return events


def _parse_candidate(candidate: dict[str, Any], events: list[StreamEvent], finishes: list[StreamEvent]) -> None:
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    for part in parts if isinstance(parts, list) else ():
        if not isinstance(part, dict):
            continue
        text = part.get("text")
        if isinstance(text, str) and text:
            events.append(TextDelta("reasoning" if part.get("thought") is True else "answer", text))
        call = part.get("functionCall")
        if isinstance(call, dict):
            events.append(TextDelta("tool", json.dumps(call, separators=(",", ":"), ensure_ascii=False)))
    reason = candidate.get("finishReason")
    if reason:
        finishes.append(Finished(str(reason)))


def _usage(usage: dict[str, Any]) -> UsageReport | None:
    """The counts in ``usageMetadata``; ``None`` when it holds none. (Gemini sends them with every chunk: an absent
    count is not looked at twice, and the report is built from positions, not keywords.)"""
    prompt = usage.get("promptTokenCount")
    if prompt is not None:
        prompt = int_or_none(prompt)
    candidates = usage.get("candidatesTokenCount")
    if candidates is not None:
        candidates = int_or_none(candidates)
    thoughts = usage.get("thoughtsTokenCount")
    if thoughts is not None:
        thoughts = int_or_none(thoughts)
    if candidates is None and thoughts is None:
        return None if prompt is None else UsageReport(prompt, None, None)
    return UsageReport(prompt, (candidates or 0) + (thoughts or 0), thoughts)


def in_stream_error(error: object) -> StreamFailed:
    """``{"error": {...}}`` after a 200: overloaded / rate limit / quota when its status says so, else
    ``stream_error``."""
    if not isinstance(error, dict):
        return StreamFailed("stream_error", truncate(str(error)))
    kind = _kind_from_envelope(error, "stream_error")
    if kind not in _IN_STREAM_KINDS:
        kind = "stream_error"
    message = error.get("message") or error.get("status") or "error inside the stream"
    return StreamFailed(kind, truncate(str(message)))


def classify_error(status: int, body: bytes) -> tuple[ErrorKind, str]:
    """Google's envelope: the gRPC ``status`` and ``details[].reason`` refine the HTTP status."""
    kind = kind_from_status(status)
    message = error_message(body)
    payload = load_json_object(body[:65536].decode("utf-8", errors="replace"))
    error = payload.get("error") if payload else None
    if isinstance(error, dict):
        kind = _kind_from_envelope(error, kind)
        delay = _retry_delay(error)
        if delay:
            message = truncate(f"{message} (retry in {delay})")
    if kind == "bad_request" and mentions_context_length(message):
        kind = "context_length"
    return kind, message


def retry_after_s(body: bytes) -> float | None:
    """The retry delay Google puts in the error body (``RetryInfo.retryDelay``, e.g. ``"34.4s"``)."""
    payload = load_json_object(body[:65536].decode("utf-8", errors="replace"))
    error = payload.get("error") if payload else None
    delay = _retry_delay(error) if isinstance(error, dict) else None
    match = re.fullmatch(r"(\d+(?:\.\d+)?)s", delay or "")
    return float(match.group(1)) if match else None


def _details(error: dict[str, Any]) -> list[dict[str, Any]]:
    details = error.get("details")
    return [d for d in details if isinstance(d, dict)] if isinstance(details, list) else []


def _kind_from_envelope(error: dict[str, Any], default: ErrorKind) -> ErrorKind:
    details = _details(error)
    if any(d.get("reason") == "API_KEY_INVALID" for d in details):
        return "auth"
    grpc_status = str(error.get("status") or "")
    kind = _STATUS_KINDS.get(grpc_status, default)
    if kind == "rate_limited" and _per_day_quota(details):
        return "quota"
    return kind


def _per_day_quota(details: list[dict[str, Any]]) -> bool:
    """A 429 whose violated quota is per day will not clear by waiting a minute: quota, not a rate limit."""
    for detail in details:
        for violation in detail.get("violations") or ():
            if isinstance(violation, dict) and "PerDay" in str(violation.get("quotaId") or ""):
                return True
    return False


def _retry_delay(error: dict[str, Any]) -> str | None:
    for detail in _details(error):
        if str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            delay = detail.get("retryDelay")
            return str(delay) if delay else None
    return None
