"""Wire dialects: one module each, the same small shape, no I/O.

A dialect module provides:

- ``NAME``: the ``api`` value in providers.toml;
- ``DEFAULT_AUTH``: how the key is sent unless the provider says otherwise;
- ``MAX_TOKENS_FIELDS``: the request body fields that can carry the output cap, the default first (a provider picks
  another with ``max_tokens_field`` where there is a choice);
- ``build_request(target, prompt, max_tokens) -> HttpRequest``;
- ``Parser``: a per-stream object whose ``parse(event: SSEEvent) -> list[StreamEvent]`` turns one SSE event into
  zero or more stream events (state is needed by dialects whose meaning spans events);
- ``classify_error(status, body) -> (ErrorKind, message)`` for a non-2xx answer;
- optionally ``retry_after_s(body) -> float | None``, for providers that put the retry delay in the error body
  rather than a ``Retry-After`` header (Gemini).

Every dialect gives events the same meaning: a ``TextDelta`` for each piece of generated text (``answer``,
``reasoning``, ``refusal`` or ``tool``), never for role, annotation, ping or lifecycle events; ``UsageReport``
with output tokens *including* reasoning and reasoning tokens apart; ``Finished`` for the provider's finish
reason; ``EndOfStream`` for an explicit terminator; ``StreamFailed`` for an error inside a 200 stream.

Adding a dialect means one module here, one folder of recorded fixtures and one test module.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping
from types import ModuleType
from typing import Any, Protocol
from urllib.parse import quote, urlencode

import orjson

from probe.model import ErrorKind, HttpRequest, SSEEvent, StreamEvent, StreamFailed, Target

_MODULES = {
    "openai-chat": "probe.dialects.openai_chat",
    "openai-responses": "probe.dialects.openai_responses",
    "anthropic-messages": "probe.dialects.anthropic_messages",
    "gemini": "probe.dialects.gemini",
}


class Parser(Protocol):
    def parse(self, event: SSEEvent) -> list[StreamEvent]: ...

    def parse_payload(self, payload: dict[str, Any], event: str = "message") -> list[StreamEvent]:
        """``parse`` of an event whose data is this JSON object, for ``probe.derive``, which parses whole streams
        in one go. The events must depend on the payload and the event's name alone, apart from what the parser
        remembers of events that carried more than text and counts; and a usage report must report a count
        whenever the key it is read from holds a whole number from 0 to 2**63 - 1 (``probe.derive._TextSlot``
        relies on both)."""
        ...


class Dialect(Protocol):
    NAME: str
    DEFAULT_AUTH: str
    MAX_TOKENS_FIELDS: tuple[str, ...]

    def build_request(self, target: Target, prompt: str, max_tokens: int) -> HttpRequest: ...

    def classify_error(self, status: int, body: bytes) -> tuple[ErrorKind, str]: ...


def dialect_names() -> tuple[str, ...]:
    return tuple(_MODULES)


def get_dialect(name: str) -> ModuleType:
    """The dialect module for an ``api`` value; ``KeyError`` if there is none."""
    return importlib.import_module(_MODULES[name])


# ----------------------------------------------------------------------------- helpers shared by dialects

MAX_MESSAGE_CHARS = 500
"""Provider error messages are kept, truncated: enough to diagnose, bounded whatever the endpoint sends."""


def truncate(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def auth_headers(target: Target) -> tuple[tuple[str, str], ...]:
    """The credential header for the provider's auth style; empty without a key."""
    if not target.api_key or target.auth == "none":
        return ()
    if target.auth == "bearer":
        return (("authorization", f"Bearer {target.api_key}"),)
    return ((target.auth, target.api_key),)


def json_post(target: Target, path: str, body: Mapping[str, Any]) -> HttpRequest:
    """A POST of ``body`` (plus the provider's extra body fields) to ``base_url + path`` (plus extra query).

    A ``{model}`` in ``base_url`` is replaced by the model id, for endpoints that name the model in the path
    (an Azure deployment: ``https://RESOURCE.openai.azure.com/openai/deployments/{model}``).
    """
    url = target.base_url.rstrip("/").replace("{model}", quote(target.model_id, safe="")) + path
    if target.query:
        url += ("&" if "?" in url else "?") + urlencode(target.query)
    payload = dict(body)
    payload.update(target.extra_body)
    headers = (
        ("content-type", "application/json"),
        ("accept", "text/event-stream"),
        *target.headers,
    )
    return HttpRequest(
        method="POST",
        url=url,
        headers=headers,
        body=json.dumps(payload, separators=(",", ":")).encode(),
        secret_headers=auth_headers(target),
    )


def load_json_object(data: str) -> dict[str, Any] | None:
    """Parse an SSE data payload; ``None`` when it is not a JSON object (a protocol error for the caller).

    orjson parses a streamed event in a third of the time ``json`` takes (this runs for every event of every
    sample). It refuses what ``json`` accepts as an extension (NaN, Infinity) and lone surrogate escapes; those go
    to ``json``, so the two agree on every payload, except integers past 64 bits, which orjson reads as floats
    (no count of that size is usable: see ``int_or_none``)."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        try:
            value = json.loads(data)
        except ValueError:
            return None
    return value if isinstance(value, dict) else None


def not_json(data: str) -> StreamFailed:
    """The failure for a data payload that is not a JSON object (the whole sample fails as ``protocol``)."""
    return StreamFailed("protocol", f"data that is not a JSON object: {truncate(data, 120)!r}")


def error_message(body: bytes) -> str:
    """The most useful human text in an error body, whatever its envelope, truncated."""
    text = body[:65536].decode("utf-8", errors="replace")
    try:
        value = json.loads(text)
    except ValueError:
        return truncate(text) if text.strip() else "(empty body)"
    if isinstance(value, dict):
        error = value.get("error", value)
        if isinstance(error, dict):
            message = error.get("message") or error.get("status") or error.get("type")
            if isinstance(message, str):
                return truncate(message)
        elif isinstance(error, str):
            return truncate(error)
    return truncate(text)


_MAX_COUNT = 2**63 - 1  # SQLite's largest integer


def int_or_none(value: object) -> int | None:
    """A token count as the provider sent it: an int, or ``None`` when absent, null, not a whole number, or
    outside 0 .. 2**63 - 1 (a negative count means nothing, and SQLite cannot store a larger one)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _MAX_COUNT:
        return value
    return None


_CONTEXT_LENGTH_PHRASES = ("context length", "context window", "prompt is too long", "maximum number of tokens")


def mentions_context_length(message: str) -> bool:
    """Whether a 400's message says the prompt did not fit (for envelopes that have no code for it)."""
    lowered = message.lower()
    return any(phrase in lowered for phrase in _CONTEXT_LENGTH_PHRASES)


def kind_from_status(status: int) -> ErrorKind:
    """The error kind a bare HTTP status implies, before looking at the body."""
    if status == 429:
        return "rate_limited"
    if status == 402:  # Payment Required (OpenRouter: insufficient credits): waiting will not help
        return "quota"
    if status in (401, 403):
        return "auth"
    if status == 404:
        return "not_found"
    if status == 413:
        return "context_length"
    if status in (529, 503):
        return "overloaded"
    if status >= 500:
        return "server"
    return "bad_request"
