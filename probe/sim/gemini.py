"""The Gemini dialect of the simulator: ``POST .../models/{model}:streamGenerateContent?alt=sse``.

Shapes follow the recorded AI Studio streams: every event is a whole ``GenerateContentResponse`` framed as
``data: {...}`` with **CRLF** line endings; parts carry text deltas (``"thought": true`` for reasoning);
``usageMetadata`` rides on every chunk with running totals, where ``thoughtsTokenCount`` is not part of
``candidatesTokenCount``; the last chunk has an empty text part and ``finishReason`` (``STOP`` or
``MAX_TOKENS``) and then the connection's body just ends: no role chunk, no sentinel (``shape`` drops those
events from the plan). The key goes in ``x-goog-api-key`` (or ``?key=``); a wrong key is a **400**
``INVALID_ARGUMENT`` with reason ``API_KEY_INVALID``, as Google answers. Errors are Google's envelope,
pretty-printed as Google prints them; an in-band error is ``data: {"error": {...}}``.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from probe.sim import words
from probe.sim.dialect import (
    InbandError,
    RequestRejected,
    StreamRequest,
    count_words,
    drop_kinds,
    dumps,
    is_int,
    load_object,
)
from probe.sim.http1 import RequestHead
from probe.sim.profiles import Plan, PlannedEvent

_END = b"\r\n\r\n"
_API_KEY_INVALID = (
    {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "API_KEY_INVALID",
        "domain": "googleapis.com",
        "metadata": {"service": "generativelanguage.googleapis.com"},
    },
    {
        "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
        "locale": "en-US",
        "message": "API key not valid. Please pass a valid API key.",
    },
)
_INBAND_ERRORS: dict[str, dict[str, Any]] = {
    "overloaded": {"code": 503, "message": "The model is overloaded. Please try again later.", "status": "UNAVAILABLE"},
    "quota": {
        "code": 429,
        "message": "You exceeded your current quota, please check your plan and billing details.",
        "status": "RESOURCE_EXHAUSTED",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [{"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}],
            }
        ],
    },
    "server": {"code": 500, "message": "An internal error has occurred.", "status": "INTERNAL"},
}


@dataclass(frozen=True, slots=True)
class Rejection:
    """A non-2xx answer in Google's shape: ``{"error": {"code", "message", "status", "details"?}}``."""

    status: int
    grpc_status: str
    message: str
    details: tuple[dict[str, Any], ...] = field(default=())

    def body(self) -> bytes:
        error: dict[str, Any] = {"code": self.status, "message": self.message, "status": self.grpc_status}
        if self.details:
            error["details"] = list(self.details)
        return json.dumps({"error": error}, indent=2).encode() + b"\n"


def matches(path: str) -> bool:
    return path.endswith((":streamGenerateContent", ":generateContent"))


def check_key(head: RequestHead, expected: bytes) -> Rejection | None:
    key = (head.header("x-goog-api-key") or next(iter(head.query.get("key", ())), "")).strip()
    if not key:
        return Rejection(
            403,
            "PERMISSION_DENIED",
            "Method doesn't allow unregistered callers (callers without established identity). "
            "Please use API Key or other form of API consumer identity to call this API.",
        )
    if not hmac.compare_digest(key.encode(), expected):
        return Rejection(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", _API_KEY_INVALID)
    return None


def model_not_found(model: str) -> Rejection:
    return Rejection(
        404,
        "NOT_FOUND",
        f"models/{model} is not found for API version v1beta, or is not supported for generateContent.",
    )


def stream_required() -> Rejection:
    return Rejection(400, "INVALID_ARGUMENT", "The simulator only streams: call :streamGenerateContent?alt=sse.")


def shape(plan: Plan) -> Plan:
    """Gemini sends no role chunk and no sentinel: the finish chunk is the last thing on the wire."""
    return drop_kinds(plan, ("role", "usage", "done"))


def parse_request(head: RequestHead, body: bytes) -> StreamRequest:
    """The model from the path; ``contents`` and ``generationConfig.maxOutputTokens``/``seed`` from the body."""
    path = head.path
    model = unquote(path.rsplit("/models/", 1)[-1].rsplit(":", 1)[0]) if "/models/" in path else ""
    if not model:
        raise _bad("The model is missing from the URL: .../models/{model}:streamGenerateContent.")
    data = load_object(body)
    if data is None:
        raise _bad("Invalid JSON payload received.")
    contents = data.get("contents")
    if not isinstance(contents, list) or not contents:
        raise _bad("* GenerateContentRequest.contents: contents is not specified")
    config = data.get("generationConfig") or {}
    if not isinstance(config, dict):
        raise _bad("Invalid JSON payload received. Unknown name \"generationConfig\": not an object.")
    max_tokens = config.get("maxOutputTokens")
    if max_tokens is not None and (not is_int(max_tokens) or max_tokens < 1):
        raise _bad("* GenerateContentRequest.generation_config.max_output_tokens: must be a positive integer")
    seed = config.get("seed")
    return StreamRequest(
        model=model,
        stream=path.endswith(":streamGenerateContent") and head.query.get("alt") == ["sse"],
        include_usage=False,
        max_tokens=max_tokens,
        seed=seed if is_int(seed) else None,
        prompt_tokens=count_words(contents) + count_words(data.get("systemInstruction")),
    )


def _bad(message: str) -> RequestRejected:
    return RequestRejected(Rejection(400, "INVALID_ARGUMENT", message))


def renderer(
    request_id: str, request: StreamRequest, created: int, plan: Plan, inband_error: InbandError | None = None
) -> GenerateStreamRenderer:
    return GenerateStreamRenderer(request_id, request, plan, inband_error)


class GenerateStreamRenderer:
    """Renders one response's planned events as CRLF-framed chunks; call ``render`` once per event, in order."""

    __slots__ = (
        "_answer", "_answer_tokens", "_error", "_extra", "_finish", "_next_token", "_prompt_tokens", "_reasoning",
        "_reasoning_tokens", "_tail", "_text", "_thoughts",
    )  # fmt: skip

    def __init__(self, request_id: str, request: StreamRequest, plan: Plan, inband_error: InbandError | None) -> None:
        self._text = request.script or words
        self._prompt_tokens = request.prompt_tokens
        self._extra = plan.extra_billed_tokens
        self._thoughts = plan.reasoning_tokens > 0  # a thinking model reports thoughtsTokenCount
        response_id = dumps(f"sim{request_id}")
        self._tail = b',"modelVersion":' + dumps(request.model) + b',"responseId":' + response_id + b"}" + _END
        start = b'data: {"candidates":[{"content":{"parts":[{"text":"'
        self._answer = (start, b'"}],"role":"model"},"index":0}],"usageMetadata":')
        self._reasoning = (start, b'","thought":true}],"role":"model"},"index":0}],"usageMetadata":')
        reason = b"MAX_TOKENS" if plan.finish_reason == "length" else b"STOP"
        self._finish = (
            b'data: {"candidates":[{"content":{"parts":[{"text":""}],"role":"model"},"finishReason":"'
            + reason
            + b'","index":0}],"usageMetadata":'
        )
        self._error = b"data: " + dumps({"error": _INBAND_ERRORS[inband_error or "server"]}) + _END
        self._next_token = 0
        self._answer_tokens = 0
        self._reasoning_tokens = 0

    def _usage(self) -> bytes:
        candidates, thoughts = self._answer_tokens + self._extra, self._reasoning_tokens
        total = self._prompt_tokens + candidates + thoughts
        usage = b'{"promptTokenCount":%d,"candidatesTokenCount":%d,"totalTokenCount":%d' % (
            self._prompt_tokens,
            candidates,
            total,
        )
        if self._thoughts:
            usage += b',"thoughtsTokenCount":%d' % thoughts
        return usage + b"}"

    def render(self, event: PlannedEvent) -> bytes:
        kind = event.kind
        if kind == "answer" or kind == "reasoning":
            text = self._text.json_fragment(self._next_token, event.n_tokens)
            self._next_token += event.n_tokens
            if kind == "answer":
                self._answer_tokens += event.n_tokens
                start, end = self._answer
            else:
                self._reasoning_tokens += event.n_tokens
                start, end = self._reasoning
            return start + text + end + self._usage() + self._tail
        if kind == "finish":
            return self._finish + self._usage() + self._tail
        if kind == "error":
            return self._error
        raise ValueError(f"unknown event kind {kind!r} (shape() removes role, usage and done)")

    def render_error(self, message: str) -> bytes:
        """A server error inside the stream, for ``probe.sim.faults`` (``error-in-stream``)."""
        return b"data: " + dumps({"error": dict(_INBAND_ERRORS["server"], message=message)}) + _END
