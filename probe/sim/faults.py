"""Endpoint faults the simulator serves on request, so tests can check that probe records every failure right.

A request picks a fault with the header ``x-sim-fault: NAME``; in providers.toml that is
``headers = { "x-sim-fault" = "stall" }`` on a provider pointing at the simulator. The header is read before
routing, so every dialect gets the same faults, and this module never looks inside the bytes a dialect renders:

- an *answer* fault replaces the whole response: an error status with its body, a JSON body where a stream was
  asked for, or no response at all;
- a *stream* fault reshapes a normal response: it drops planned events, splices bytes into the rendered ones,
  repeats token events forever, or ends the body without its terminator by cutting the connection or going silent.

A *dishonesty* (``DISHONESTY``) answers successfully but cheats: usage claims more tokens than were sent, tokens
are buffered and released at the end, another model answers (and reports its name), or the request's maximum
output length is ignored. Provider audits must catch each one; ``Simulator`` applies them.

"After a few chunks" means after the second token-bearing event, whatever the dialect sends before it. Error
texts echo the credential the request presented, as careless endpoints and proxies do, so a test can prove that
probe keeps it out of everything it writes. An unknown fault name is answered with a 400 listing the known ones.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Literal, Protocol

from probe.sim import http1
from probe.sim.profiles import Plan, PlannedEvent

FAULT_HEADER = "x-sim-fault"

ANSWER_FAULTS: Mapping[str, str] = MappingProxyType({
    "rate-limit": "429 with Retry-After: 7 and OpenAI's rate_limit_exceeded body",
    "server-error": "500 with a JSON error body",
    "html-error": "502 with a proxy's HTML error page, several KB long, echoing the credential",
    "unauthorized": "401 whose JSON message echoes the credential",
    "not-a-stream": "200 with a complete JSON completion although a stream was asked for",
    "no-headers": "reads the request and never answers",
})
STREAM_FAULTS: Mapping[str, str] = MappingProxyType({
    "cut": "the connection closes after a few chunks, without the chunked body's end",
    "stall": "no byte after a few chunks, until the client leaves",
    "endless": "token chunks keep coming, never a finish or terminator",
    "huge-line": "a 5 MB data line after a few chunks, then the rest of the stream",
    "bad-json": "a data line of broken JSON after a few chunks, then the rest of the stream",
    "no-terminator": "the body ends cleanly after the last token chunk: no finish, no terminator",
    "no-tokens": "a well-formed stream with every token-bearing event left out",
    "error-in-stream": "an error event after a few chunks, echoing the credential, then the body ends",
})
FAULTS: tuple[str, ...] = (*ANSWER_FAULTS, *STREAM_FAULTS)
"""Every fault that makes a request fail, each with the error kind probe must store for it."""

SUBSTITUTE_MODEL = "llama-3.1-8b-instruct"
"""The model the ``substituted-model`` dishonesty reports (and answers as) instead of the one asked for."""
DISHONESTY: Mapping[str, str] = MappingProxyType({
    "inflated-usage": "usage claims half as many output tokens again as were streamed, plus 10",
    "buffered": "every token held back, then released in one burst when the answer is complete",
    "substituted-model": f"answers as another model: reports {SUBSTITUTE_MODEL!r} and gets canary prompts wrong",
    "ignored-max-tokens": "streams the whole answer whatever maximum the request set",
})
"""Ways a provider can cheat while every request succeeds, for provider audits (``probe.audit``) to catch.
Asked for with the same ``x-sim-fault`` header."""

TOKEN_EVENTS_BEFORE_FAULT = 2
HUGE_LINE_BYTES = 5 * 1024 * 1024
RETRY_AFTER_S = 7
_POLL_S = 0.02
_CREDENTIAL_HEADERS = ("authorization", "x-api-key", "api-key", "x-goog-api-key")
_BROKEN_JSON_LINE = b'data: {"choices":[{"index":0,"delta":{"content":"half a chunk\n\n'

Ending = Literal["complete", "cut", "stall"]
"""How a shaped stream ends: its last frame ends the chunked body, the connection closes, or nothing more comes."""


class Renderer(Protocol):
    def render(self, event: PlannedEvent) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Requested:
    """The fault a request asked for, and the credential it presented (echoed by error texts)."""

    name: str
    credential: str = field(repr=False)

    @property
    def replaces_response(self) -> bool:
        """True for answer faults and unknown names; False for faults that reshape or falsify a normal stream."""
        return self.name not in STREAM_FAULTS and self.name not in DISHONESTY

    @property
    def shapes_stream(self) -> bool:
        """True for faults `shape_stream` applies (stream faults and ``buffered``)."""
        return self.name in STREAM_FAULTS or self.name == "buffered"


@dataclass(frozen=True, slots=True)
class ShapedStream:
    """What the server streams instead of the plan: ``last`` is the index whose frame ends the chunked body
    (``None``: the body never ends properly), ``ending`` what happens after the last event."""

    events: Iterable[PlannedEvent]
    renderer: Renderer
    last: int | None
    ending: Ending


def requested(head: http1.RequestHead) -> Requested | None:
    """The fault named by the request's ``x-sim-fault`` header, or ``None`` for a healthy response."""
    name = head.header(FAULT_HEADER)
    if name is None:
        return None
    return Requested(name.strip().lower(), _credential(head))


def _credential(head: http1.RequestHead) -> str:
    for name in _CREDENTIAL_HEADERS:
        value = head.header(name)
        if value:
            return value
    keys = head.query.get("key")
    return keys[0] if keys else "(none)"


# --------------------------------------------------------------------------- answer faults


async def answer(
    fault: Requested,
    head: http1.RequestHead,
    request_id: str,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
) -> int:
    """Serve an answer fault; returns the status written, or 0 when nothing was (``no-headers``)."""
    if fault.name == "no-headers":
        await wait_until_client_leaves(reader, writer.transport)
        return 0
    status, content_type, body, headers = _answer(fault)
    headers = (("x-sim-request-id", request_id), *headers)
    writer.write(http1.full_response(status, body, content_type, headers, head.keep_alive))
    return status


def _answer(fault: Requested) -> tuple[int, str, bytes, tuple[tuple[str, str], ...]]:
    name, credential = fault.name, fault.credential
    if name == "rate-limit":
        message = "Rate limit reached for requests per min (RPM). Please try again in 7s."
        body = _error_body(message, "requests", "rate_limit_exceeded")
        return 429, "application/json", body, (("retry-after", str(RETRY_AFTER_S)),)
    if name == "server-error":
        message = "The server had an error processing your request."
        return 500, "application/json", _error_body(message, "server_error"), ()
    if name == "html-error":
        return 502, "text/html; charset=utf-8", _html_page(credential), ()
    if name == "unauthorized":
        message = f"Incorrect API key provided: {credential}. You can find your API key in your account settings."
        return 401, "application/json", _error_body(message, None, "invalid_api_key"), ()
    if name == "not-a-stream":
        answer = {"role": "assistant", "content": "A whole answer at once."}
        completion = {
            "id": "chatcmpl-sim-not-a-stream",
            "object": "chat.completion",
            "choices": [{"index": 0, "message": answer, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8},
        }
        return 200, "application/json", json.dumps(completion).encode(), ()
    message = f"Unknown {FAULT_HEADER} {name!r}; known: {', '.join((*FAULTS, *DISHONESTY))}."
    return 400, "application/json", _error_body(message, "invalid_request_error"), ()


def _error_body(message: str, type_: str | None, code: str | None = None) -> bytes:
    """An ``{"error": {...}}`` envelope every dialect's error parser reads; a ``type`` only where it means the
    same thing in every dialect (Anthropic reads ``invalid_request_error`` as a 400 whatever the status)."""
    error = {"message": message, "type": type_, "param": None, "code": code}
    return json.dumps({"error": {key: value for key, value in error.items() if value is not None}}).encode()


def _html_page(credential: str) -> bytes:
    """A gateway's error page: markup, a credential echoed in a debug block, and kilobytes of filler."""
    filler = "<p>" + "The upstream server did not answer in time. " * 120 + "</p>"
    return (
        "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>"
        "<h1>502 Bad Gateway</h1>"
        f"<pre>request header authorization: {credential}</pre>"
        f"{filler}<hr><center>sim-gateway</center></body></html>"
    ).encode()


# --------------------------------------------------------------------------- stream faults


def shape_stream(fault: Requested, plan: Plan, renderer: Renderer) -> ShapedStream:
    """Reshape a planned response for a stream fault or ``buffered`` (``fault.shapes_stream`` must be True)."""
    events = plan.events
    name = fault.name
    cut_at = _after_tokens(events, TOKEN_EVENTS_BEFORE_FAULT)
    if name == "cut":
        return ShapedStream(events[:cut_at], renderer, None, "cut")
    if name == "stall":
        return ShapedStream(events[:cut_at], renderer, None, "stall")
    if name == "endless":
        return ShapedStream(_endless(events), renderer, None, "stall")
    if name in ("huge-line", "bad-json"):
        extra = _huge_line() if name == "huge-line" else _BROKEN_JSON_LINE
        return ShapedStream(events, _Spliced(renderer, cut_at - 1, extra), len(events) - 1, "complete")
    if name == "no-terminator":
        kept = events[: _after_tokens(events, sum(1 for e in events if e.n_tokens))]
        return ShapedStream(kept, renderer, len(kept) - 1, "complete")
    if name == "no-tokens":
        kept = tuple(e for e in events if not e.n_tokens)
        return ShapedStream(kept, renderer, len(kept) - 1, "complete")
    if name == "buffered":
        end_s = events[-1].offset_s if events else 0.0
        held = tuple(replace(e, offset_s=end_s) if e.n_tokens else e for e in events)
        return ShapedStream(held, renderer, len(held) - 1, "complete")
    if name == "error-in-stream":
        message = f"The server had an error while processing your request (credential {fault.credential})."
        render_error = getattr(renderer, "render_error", None)
        error = render_error(message) if render_error is not None else _openai_stream_error(message)
        kept = events[: cut_at + 1]
        return ShapedStream(kept, _Spliced(renderer, len(kept) - 1, error, replace=True), len(kept) - 1, "complete")
    raise ValueError(f"{name!r} is not a stream fault")


async def end_stream(ending: Ending, reader: asyncio.StreamReader, transport: asyncio.BaseTransport) -> None:
    """After the last event of a shaped stream that does not complete: cut the connection, or go silent."""
    if ending == "cut":
        transport.close()  # the bytes written so far leave, then FIN: the chunked body never ends
    elif ending == "stall":
        await wait_until_client_leaves(reader, transport)


async def wait_until_client_leaves(reader: asyncio.StreamReader, transport: asyncio.BaseTransport) -> None:
    """Hold the connection open, silent, until the client closes it (or the server stops and cancels us)."""
    while not (transport.is_closing() or reader.at_eof()):
        await asyncio.sleep(_POLL_S)


def _after_tokens(events: tuple[PlannedEvent, ...], count: int) -> int:
    """The number of leading events that holds the first ``count`` token-bearing ones (all events if fewer)."""
    seen = 0
    for index, event in enumerate(events):
        if event.n_tokens:
            seen += 1
            if seen == count:
                return index + 1
    return len(events)


def _endless(events: tuple[PlannedEvent, ...]) -> Iterator[PlannedEvent]:
    """The plan up to its last token event, then the same token event again and again at the plan's pace."""
    tokens = [e for e in events if e.n_tokens]
    if not tokens:
        tokens = [PlannedEvent(events[0].offset_s if events else 0.0, "answer", 1)]
    yield from events[: _after_tokens(events, len(tokens))]
    gap_s = (tokens[-1].offset_s - tokens[0].offset_s) / (len(tokens) - 1) if len(tokens) > 1 else 0.01
    gap_s = max(gap_s, 0.001)
    offset_s, last = tokens[-1].offset_s, tokens[-1]
    while True:
        offset_s += gap_s
        yield PlannedEvent(offset_s, last.kind, last.n_tokens)


def _huge_line() -> bytes:
    """One SSE event whose data line is 5 MB of valid JSON that no dialect knows."""
    prefix, suffix = b'data: {"sim_padding":"', b'"}\n\n'
    return prefix + b"x" * (HUGE_LINE_BYTES - len(prefix) - len(suffix)) + suffix


def _openai_stream_error(message: str) -> bytes:
    """OpenAI's shape for an error inside a 200 stream; a dialect's renderer may offer ``render_error`` instead."""
    error = {"message": message, "type": "server_error", "param": None, "code": None}
    return b"data: " + json.dumps({"error": error}).encode() + b"\n\n"


class _Spliced:
    """Renders like ``inner``, but the event at ``index`` gets ``extra`` after its bytes (or instead of them)."""

    __slots__ = ("_count", "_extra", "_index", "_inner", "_replace")

    def __init__(self, inner: Renderer, index: int, extra: bytes, *, replace: bool = False) -> None:
        self._inner, self._index, self._extra, self._replace = inner, index, extra, replace
        self._count = 0

    def render(self, event: PlannedEvent) -> bytes:
        index = self._count
        self._count += 1
        data = self._inner.render(event)  # always, so the inner renderer's state (token position) advances
        if index != self._index:
            return data
        return self._extra if self._replace else data + self._extra
