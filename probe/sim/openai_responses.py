"""The OpenAI Responses dialect of the simulator: ``POST .../responses`` with typed events.

Shapes follow the API reference's streaming example and the recorded streams: every event has an ``event:``
line equal to its payload's ``type`` and a ``sequence_number``; ``response.created`` and
``response.in_progress`` first (the role event of the plan), reasoning as ``response.reasoning_text.delta`` in a
``reasoning`` output item, the answer as ``response.output_text.delta`` (with ``obfuscation`` padding) in a
``message`` item, the ``.done`` events at the finish, and usage only in the terminal ``response.completed``
(or ``response.incomplete`` with ``max_output_tokens`` when the plan was cut short). Errors use OpenAI's
envelope, the same as Chat Completions; an in-band error is an ``error`` event nested as recorded, then
``response.failed``.
"""

from __future__ import annotations

from typing import Any

from probe.sim import openai_chat, words
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
from probe.sim.openai_chat import Rejection, check_key, model_not_found  # the same auth and envelope
from probe.sim.profiles import Plan, PlannedEvent

__all__ = ["check_key", "matches", "model_not_found", "parse_request", "renderer", "shape", "stream_required"]

_PADDING = b"Qup1BsQ3yhjoJbEFzap0h9RiQLL2ajSA"

_INBAND_ERRORS: dict[str, dict[str, Any]] = {
    "overloaded": {
        "type": "service_unavailable_error",
        "code": "server_is_overloaded",
        "message": "Our servers are currently overloaded. Please try again later.",
        "param": None,
    },
    "quota": {
        "type": "insufficient_quota",
        "code": "insufficient_quota",
        "message": "You exceeded your current quota, please check your plan and billing details.",
        "param": None,
    },
    "server": {
        "type": "server_error",
        "code": "server_error",
        "message": "The model failed to generate a response.",
        "param": None,
    },
}


def matches(path: str) -> bool:
    return path.endswith("/responses")


def stream_required() -> Rejection:
    return openai_chat.stream_required()


def shape(plan: Plan) -> Plan:
    """Usage rides in the terminal event: a separate usage event has no bytes in this dialect."""
    return drop_kinds(plan, ("usage",))


def parse_request(head: RequestHead, body: bytes) -> StreamRequest:
    """``model``, ``input`` (a string or a list of messages), ``stream`` and ``max_output_tokens``."""
    data = load_object(body)
    if data is None:
        raise _bad("We could not parse the JSON body of your request.", None)
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("Missing required parameter: 'model'.", "model")
    prompt = data.get("input")
    if not (isinstance(prompt, str) and prompt) and not (isinstance(prompt, list) and prompt):
        raise _bad("Missing required parameter: 'input'.", "input")
    max_tokens = data.get("max_output_tokens")
    if max_tokens is not None and (not is_int(max_tokens) or max_tokens < 1):
        raise _bad("'max_output_tokens' must be an integer >= 1.", "max_output_tokens")
    seed = data.get("seed")
    return StreamRequest(
        model=model,
        stream=data.get("stream") is True,
        include_usage=False,  # usage always rides in the terminal event, never as an event of its own
        max_tokens=max_tokens,
        seed=seed if is_int(seed) else None,
        prompt_tokens=count_words(prompt),
    )


def _bad(message: str, param: str | None) -> RequestRejected:
    return RequestRejected(Rejection(400, message, param=param))


def renderer(
    request_id: str, request: StreamRequest, created: int, plan: Plan, inband_error: InbandError | None = None
) -> ResponsesStreamRenderer:
    return ResponsesStreamRenderer(request_id, request, created, plan, inband_error)


class ResponsesStreamRenderer:
    """Renders one response's planned events as Responses SSE events; call ``render`` once per event, in order.

    The fixed pieces (ids, the response object) are encoded once; a token event is a few concatenations and one
    ``%d`` for its sequence number.
    """

    __slots__ = (
        "_answer_prefix", "_answer_tokens", "_answer_start", "_error", "_max_tokens", "_message_id", "_model",
        "_next_token", "_open", "_output_index", "_plan", "_prompt_tokens", "_reasoning_id", "_reasoning_prefix",
        "_reasoning_tokens", "_response", "_seq", "_text",
    )  # fmt: skip

    def __init__(
        self, request_id: str, request: StreamRequest, created: int, plan: Plan, inband_error: InbandError | None
    ) -> None:
        self._text = request.script or words
        self._plan = plan
        self._model = request.model
        self._prompt_tokens = request.prompt_tokens
        self._max_tokens = request.max_tokens
        self._reasoning_id = f"rs_{request_id}"
        self._message_id = f"msg_{request_id}"
        self._response: dict[str, Any] = {
            "id": f"resp_{request_id}",
            "object": "response",
            "created_at": created,
            "status": "in_progress",
            "error": None,
            "incomplete_details": None,
            "max_output_tokens": request.max_tokens,
            "model": request.model,
            "output": [],
            "usage": None,
        }
        self._error = _INBAND_ERRORS[inband_error or "server"]
        self._seq = 0
        self._next_token = 0
        self._open: str | None = None  # the output item being streamed: "reasoning" or "message"
        self._output_index = -1
        self._reasoning_tokens = 0
        self._answer_tokens = 0
        self._answer_start = 0
        self._reasoning_prefix: tuple[bytes, bytes] = (b"", b"")
        self._answer_prefix: tuple[bytes, bytes] = (b"", b"")

    def _event(self, payload: dict[str, Any]) -> bytes:
        """One SSE event from a payload dict (lifecycle events: not on the per-token path)."""
        payload = {"type": payload["type"], "sequence_number": self._seq, **payload}
        self._seq += 1
        return b"event: " + payload["type"].encode() + b"\ndata: " + dumps(payload) + b"\n\n"

    def render(self, event: PlannedEvent) -> bytes:
        kind = event.kind
        if kind == "answer" or kind == "reasoning":
            head = b"" if self._open == kind else self._open_item(kind)
            text = self._text.json_fragment(self._next_token, event.n_tokens)
            self._next_token += event.n_tokens
            if kind == "answer":
                self._answer_tokens += event.n_tokens
                prefix = self._answer_prefix
            else:
                self._reasoning_tokens += event.n_tokens
                prefix = self._reasoning_prefix
            pad = _PADDING[: max(1, 16 - len(text) % 16)]
            seq = b"%d" % self._seq
            self._seq += 1
            return head + prefix[0] + seq + prefix[1] + text + b'","obfuscation":"' + pad + b'"}\n\n'
        if kind == "role":
            return self._event({"type": "response.created", "response": self._response}) + self._event(
                {"type": "response.in_progress", "response": self._response}
            )
        if kind == "finish":
            return self._close_item() or b": no output item to close\n\n"  # a chunk may not be empty
        if kind == "done":
            return self._terminal()
        if kind == "error":
            return self._render_error(self._error)
        raise ValueError(f"unknown event kind {kind!r}")

    def render_error(self, message: str) -> bytes:
        """A server error inside the stream, for ``probe.sim.faults`` (``error-in-stream``)."""
        return self._render_error(dict(_INBAND_ERRORS["server"], message=message))

    def _render_error(self, error: dict[str, Any]) -> bytes:
        """The ``error`` event, nested as recorded, then ``response.failed`` with the same code."""
        failed = dict(self._response, status="failed", error={"code": error["code"], "message": error["message"]})
        failed_event = {"type": "response.failed", "response": failed}
        return self._event({"type": "error", "error": error}) + self._event(failed_event)

    def _open_item(self, kind: str) -> bytes:
        out = self._close_item()
        self._output_index += 1
        self._open = kind
        index = self._output_index
        if kind == "reasoning":
            item = {"id": self._reasoning_id, "type": "reasoning", "summary": []}
            out += self._event({"type": "response.output_item.added", "output_index": index, "item": item})
            out += self._event(
                {
                    "type": "response.content_part.added",
                    "item_id": self._reasoning_id,
                    "output_index": index,
                    "content_index": 0,
                    "part": {"type": "reasoning_text", "text": ""},
                }
            )
            self._reasoning_prefix = (
                b"event: response.reasoning_text.delta\n"
                b'data: {"type":"response.reasoning_text.delta","sequence_number":',
                b',"item_id":"%s","output_index":%d,"content_index":0,"delta":"' % (self._reasoning_id.encode(), index),
            )
            return out
        self._answer_start = self._next_token
        item = {"id": self._message_id, "type": "message", "status": "in_progress", "role": "assistant", "content": []}
        out += self._event({"type": "response.output_item.added", "output_index": index, "item": item})
        out += self._event(
            {
                "type": "response.content_part.added",
                "item_id": self._message_id,
                "output_index": index,
                "content_index": 0,
                "part": {"type": "output_text", "annotations": [], "logprobs": [], "text": ""},
            }
        )
        self._answer_prefix = (
            b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","sequence_number":',
            b',"item_id":"%s","output_index":%d,"content_index":0,"logprobs":[],"delta":"'
            % (self._message_id.encode(), index),
        )
        return out

    def _close_item(self) -> bytes:
        """The ``.done`` events of the item being streamed, with its whole text."""
        if self._open is None:
            return b""
        index = self._output_index
        part: dict[str, Any]
        if self._open == "reasoning":
            item_id, text = self._reasoning_id, self._text.text_of(0, self._reasoning_tokens)
            part = {"type": "reasoning_text", "text": text}
            item = {"id": item_id, "type": "reasoning", "summary": [], "content": [part]}
            text_done: dict[str, Any] = {"type": "response.reasoning_text.done", "text": text}
        else:
            item_id, text = self._message_id, self._text.text_of(self._answer_start, self._answer_tokens)
            part = {"type": "output_text", "annotations": [], "logprobs": [], "text": text}
            item = {"id": item_id, "type": "message", "status": "completed", "role": "assistant", "content": [part]}
            text_done = {"type": "response.output_text.done", "text": text, "logprobs": []}
        where = {"item_id": item_id, "output_index": index, "content_index": 0}
        out = self._event({**text_done, **where})
        out += self._event({"type": "response.content_part.done", **where, "part": part})
        out += self._event({"type": "response.output_item.done", "output_index": index, "item": item})
        self._open = None
        return out

    def _terminal(self) -> bytes:
        plan = self._plan
        usage = {
            "input_tokens": self._prompt_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": plan.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": plan.reasoning_tokens},
            "total_tokens": self._prompt_tokens + plan.completion_tokens,
        }
        if plan.finish_reason == "length":
            details = {"reason": "max_output_tokens"}
            response = dict(self._response, status="incomplete", incomplete_details=details, usage=usage)
            return self._event({"type": "response.incomplete", "response": response})
        response = dict(self._response, status="completed", usage=usage)
        return self._event({"type": "response.completed", "response": response})
