"""What every simulated dialect shares: the request it acts on, its error answers, and in-band errors.

A simulated dialect is one module (``openai_chat``, ``openai_responses``, ``anthropic_messages``, ``gemini``)
with the same small shape, so the server routes and streams without knowing any dialect's bytes:

- ``matches(path) -> bool``: whether a request path is this dialect's streaming endpoint;
- ``check_key(head, expected) -> ErrorAnswer | None``: the key, in the dialect's own header;
- ``parse_request(head, body) -> StreamRequest``, raising :class:`RequestRejected` with the dialect's 400;
- ``model_not_found(model)``, ``stream_required()``: the dialect's answers to those two mistakes;
- ``shape(plan) -> Plan``: the plan without the events the dialect has no bytes for (Gemini sends no role
  chunk and no sentinel);
- ``renderer(request_id, request, created, plan, inband_error) -> EventRenderer``: the bytes of each event.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeAlias

from probe.sim.profiles import Plan, PlannedEvent
from probe.sim.words import Script

InbandError: TypeAlias = Literal["overloaded", "quota", "server"]
"""An error a simulated provider can send inside a 200 stream, each in its dialect's own shape:
``overloaded`` (Anthropic ``overloaded_error``, Gemini 503 ``UNAVAILABLE``, OpenAI ``server_is_overloaded``),
``quota`` (OpenAI ``insufficient_quota`` as recorded from the Responses API, Gemini per-day
``RESOURCE_EXHAUSTED``, Anthropic ``billing_error``) and ``server`` (a plain server error)."""
INBAND_ERRORS: tuple[str, ...] = InbandError.__args__  # type: ignore[attr-defined]

INBAND_ERROR_HEADER = "x-sim-inband-error"
"""Request header that asks for an in-band error: ``overloaded`` or ``quota; after=3`` (after 3 tokens)."""


class ErrorAnswer(Protocol):
    """A non-2xx answer in some dialect's envelope."""

    @property
    def status(self) -> int: ...

    def body(self) -> bytes: ...


class EventRenderer(Protocol):
    """The bytes of each planned event of one response, called in plan order."""

    def render(self, event: PlannedEvent) -> bytes: ...


class RequestRejected(Exception):
    """The request cannot be served; carries the answer to send."""

    def __init__(self, rejection: ErrorAnswer) -> None:
        super().__init__(getattr(rejection, "message", str(rejection.status)))
        self.rejection = rejection


@dataclass(frozen=True, slots=True)
class StreamRequest:
    """The parts of a request the simulator acts on, whatever the dialect."""

    model: str
    stream: bool
    include_usage: bool  # a usage event in the plan (OpenAI chat asks for it; other dialects always send usage)
    max_tokens: int | None
    seed: int | None
    prompt_tokens: int  # estimate: whitespace-separated words of the prompt texts
    script: Script | None = None  # the answer's text, when the server chose one (a canary); else ``words``


def parse_inband_error(value: str | None) -> tuple[InbandError, int] | None:
    """``overloaded`` or ``quota; after=3`` -> (kind, tokens sent before it); ``None`` when absent or unknown."""
    if not value:
        return None
    kind, _, rest = value.partition(";")
    kind = kind.strip().lower()
    if kind not in INBAND_ERRORS:
        return None
    after = 0
    name, _, number = rest.partition("=")
    if name.strip() == "after" and number.strip().isdigit():
        after = int(number.strip())
    return kind, after  # type: ignore[return-value]


def with_inband_error(plan: Plan, after_tokens: int) -> Plan:
    """``plan`` cut at the first token event past ``after_tokens`` tokens, an ``error`` event in its place.

    The error is due when the event it replaces was, so a test knows when it leaves; nothing follows it.
    """
    kept: list[PlannedEvent] = []
    sent = {"reasoning": 0, "answer": 0}
    at = plan.events[-1].offset_s if plan.events else 0.0
    for event in plan.events:
        if (event.n_tokens and sum(sent.values()) >= after_tokens) or event.kind in ("finish", "usage", "done"):
            at = event.offset_s
            break
        kept.append(event)
        if event.kind in sent:
            sent[event.kind] += event.n_tokens
    kept.append(PlannedEvent(at, "error"))
    return Plan(
        events=tuple(kept),
        reasoning_tokens=sent["reasoning"],
        answer_tokens=sent["answer"],
        finish_reason=plan.finish_reason,
    )


def drop_kinds(plan: Plan, kinds: tuple[str, ...]) -> Plan:
    """``plan`` without events of ``kinds`` (for dialects that have no bytes for them)."""
    return Plan(
        events=tuple(e for e in plan.events if e.kind not in kinds),
        reasoning_tokens=plan.reasoning_tokens,
        answer_tokens=plan.answer_tokens,
        finish_reason=plan.finish_reason,
    )


def load_object(body: bytes) -> dict[str, Any] | None:
    """A request body as a JSON object, or ``None``."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def count_words(value: Any) -> int:
    """Whitespace-separated words in every ``text``/``content`` string of a prompt, however nested."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        return sum(count_words(item) for item in value)
    if isinstance(value, dict):
        return sum(count_words(value.get(key)) for key in ("text", "content", "parts"))
    return 0


def strings_in(value: Any) -> list[str]:
    """Every string value anywhere in a parsed JSON body (to spot a known prompt, whatever the dialect)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [text for item in value for text in strings_in(item)]
    if isinstance(value, dict):
        return [text for item in value.values() for text in strings_in(item)]
    return []


def dumps(value: Any) -> bytes:
    """Compact JSON bytes (for the per-request pieces renderers pre-encode)."""
    return json.dumps(value, separators=(",", ":")).encode()
