"""The Anthropic Messages dialect of the simulator: ``POST .../messages`` with named events.

Shapes follow the SDK fixtures and recorded streams: ``message_start`` (input tokens, and the placeholder
``output_tokens: 1``) then a ``ping`` at the plan's role event; a ``thinking`` block (``thinking_delta``s, then
a ``signature_delta`` and ``content_block_stop`` when the answer starts) and a ``text`` block
(``text_delta``s); at the finish ``content_block_stop`` and one ``message_delta`` with the stop reason and the
cumulative usage (``output_tokens`` including thinking, ``output_tokens_details.thinking_tokens``);
``message_stop`` last. Requests need ``x-api-key``, ``anthropic-version`` and ``max_tokens``; errors use
Anthropic's envelope, and an in-band error is ``event: error`` (``overloaded_error`` ...).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

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

_SIGNATURE = "c2ltdWxhdGVkLXNpZ25hdHVyZS1ub3QtYS1yZWFsLW9uZQ=="
_INBAND_ERRORS = {
    "overloaded": ("overloaded_error", "Overloaded"),
    "quota": ("billing_error", "Your credit balance is too low to access the Anthropic API."),
    "server": ("api_error", "Internal server error"),
}


@dataclass(frozen=True, slots=True)
class Rejection:
    """A non-2xx answer in Anthropic's shape: ``{"type":"error","error":{"type","message"}}``."""

    status: int
    type: str
    message: str

    def body(self) -> bytes:
        return dumps({"type": "error", "error": {"type": self.type, "message": self.message}})


def matches(path: str) -> bool:
    return path.endswith("/messages")


def check_key(head: RequestHead, expected: bytes) -> Rejection | None:
    key = (head.header("x-api-key") or "").strip()
    if not key:
        return Rejection(401, "authentication_error", "x-api-key header is required")
    if not hmac.compare_digest(key.encode(), expected):
        return Rejection(401, "authentication_error", "invalid x-api-key")
    return None


def model_not_found(model: str) -> Rejection:
    return Rejection(404, "not_found_error", f"model: {model}")


def stream_required() -> Rejection:
    return Rejection(400, "invalid_request_error", 'The simulator only streams: set "stream": true.')


def shape(plan: Plan) -> Plan:
    """Usage rides in the terminal event: a separate usage event has no bytes in this dialect."""
    return drop_kinds(plan, ("usage",))


def parse_request(head: RequestHead, body: bytes) -> StreamRequest:
    """``anthropic-version`` header, ``model``, ``messages``, the required ``max_tokens`` and ``stream``."""
    if not head.header("anthropic-version"):
        raise _bad("anthropic-version: header is required")
    data = load_object(body)
    if data is None:
        raise _bad("There was an issue with your request body: it is not a JSON object.")
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("model: Field required")
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _bad("messages: Field required")
    max_tokens = data.get("max_tokens")
    if max_tokens is None:
        raise _bad("max_tokens: Field required")
    if not is_int(max_tokens) or max_tokens < 1:
        raise _bad("max_tokens: Input should be a valid integer greater than or equal to 1")
    return StreamRequest(
        model=model,
        stream=data.get("stream") is True,
        include_usage=False,
        max_tokens=max_tokens,
        seed=None,
        prompt_tokens=count_words(messages) + count_words(data.get("system")),
    )


def _bad(message: str) -> RequestRejected:
    return RequestRejected(Rejection(400, "invalid_request_error", message))


def renderer(
    request_id: str, request: StreamRequest, created: int, plan: Plan, inband_error: InbandError | None = None
) -> MessagesStreamRenderer:
    return MessagesStreamRenderer(request_id, request, plan, inband_error)


def _event(name: str, data: bytes) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + data + b"\n\n"


def _error_event(error_type: str, message: str) -> bytes:
    return _event("error", dumps({"type": "error", "error": {"type": error_type, "message": message}}))


class MessagesStreamRenderer:
    """Renders one message's planned events; call ``render`` once per event, in plan order."""

    __slots__ = ("_block", "_error", "_finish", "_index", "_next_token", "_start", "_stop", "_text")

    def __init__(self, request_id: str, request: StreamRequest, plan: Plan, inband_error: InbandError | None) -> None:
        self._text = request.script or words
        message = {
            "id": f"msg_{request_id}",
            "type": "message",
            "role": "assistant",
            "model": request.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": request.prompt_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": 1,
                "service_tier": "standard",
            },
        }
        self._start = _event("message_start", dumps({"type": "message_start", "message": message})) + _event(
            "ping", b'{"type": "ping"}'
        )
        usage: dict[str, object] = {"output_tokens": plan.completion_tokens}
        if plan.reasoning_tokens:
            usage["output_tokens_details"] = {"thinking_tokens": plan.reasoning_tokens}
        stop_reason = "max_tokens" if plan.finish_reason == "length" else "end_turn"
        delta = {"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None}, "usage": usage}
        self._finish = _event("message_delta", dumps(delta))
        self._stop = _event("message_stop", b'{"type":"message_stop"}')
        self._error = _error_event(*_INBAND_ERRORS[inband_error or "server"])
        self._block: str | None = None  # the content block being streamed: "reasoning" or "answer"
        self._index = -1
        self._next_token = 0

    def render(self, event: PlannedEvent) -> bytes:
        kind = event.kind
        if kind == "answer" or kind == "reasoning":
            head = b"" if self._block == kind else self._open_block(kind)
            text = self._text.json_fragment(self._next_token, event.n_tokens)
            self._next_token += event.n_tokens
            if kind == "answer":
                body = b',"delta":{"type":"text_delta","text":"'
            else:
                body = b',"delta":{"type":"thinking_delta","thinking":"'
            return (
                head
                + b'event: content_block_delta\ndata: {"type":"content_block_delta","index":%d' % self._index
                + body
                + text
                + b'"}}\n\n'
            )
        if kind == "role":
            return self._start
        if kind == "finish":
            return self._close_block() + self._finish
        if kind == "done":
            return self._stop
        if kind == "error":
            return self._error
        raise ValueError(f"unknown event kind {kind!r}")

    def render_error(self, message: str) -> bytes:
        """A server error inside the stream, for ``probe.sim.faults`` (``error-in-stream``)."""
        return _error_event("api_error", message)

    def _open_block(self, kind: str) -> bytes:
        out = self._close_block()
        self._index += 1
        self._block = kind
        block: dict[str, str] = {"type": "text", "text": ""}
        if kind == "reasoning":
            block = {"type": "thinking", "thinking": "", "signature": ""}
        start = {"type": "content_block_start", "index": self._index, "content_block": block}
        return out + _event("content_block_start", dumps(start))

    def _close_block(self) -> bytes:
        if self._block is None:
            return b""
        out = b""
        if self._block == "reasoning":
            signature = {"type": "signature_delta", "signature": _SIGNATURE}
            delta = {"type": "content_block_delta", "index": self._index, "delta": signature}
            out += _event("content_block_delta", dumps(delta))
        out += _event("content_block_stop", dumps({"type": "content_block_stop", "index": self._index}))
        self._block = None
        return out
