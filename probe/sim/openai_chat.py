"""The OpenAI Chat Completions dialect of the simulator: what a request means and which bytes each event is.

Pure: bytes in, values out; values in, bytes out. Everything the server writes for this dialect is built here,
so another dialect (Responses, Anthropic, Gemini) is another module of the same shape. Event bytes are
assembled from per-request pre-encoded pieces, with no ``json.dumps`` per chunk, so rendering stays off the
hot path. Shapes follow the recorded OpenAI streams (role-only first chunk, ``"usage":null`` on every chunk,
empty-delta finish chunk, usage chunk with ``"choices":[]``, ``data: [DONE]``).
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from typing import Any

from probe.sim import words
from probe.sim.dialect import InbandError, RequestRejected, StreamRequest
from probe.sim.http1 import RequestHead
from probe.sim.profiles import PlannedEvent, Plan

DONE = b"data: [DONE]\n\n"
SYSTEM_FINGERPRINT = "fp_probe_sim"
_NOT_FINISHED = b',"logprobs":null,"finish_reason":null}],"usage":null}\n\n'
_DELTA_END = b'"}' + _NOT_FINISHED


ChatRequest = StreamRequest
"""What the simulator acts on in a chat request: ``max_tokens`` is ``max_completion_tokens``, else the deprecated
``max_tokens``; ``include_usage`` is ``stream_options.include_usage``."""


@dataclass(frozen=True, slots=True)
class Rejection:
    """A non-2xx answer in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``."""

    status: int
    message: str
    type: str = "invalid_request_error"
    param: str | None = None
    code: str | None = None

    def body(self) -> bytes:
        error = {"message": self.message, "type": self.type, "param": self.param, "code": self.code}
        return json.dumps({"error": error}).encode()


def model_not_found(model: str) -> Rejection:
    return Rejection(
        404,
        f"The model `{model}` does not exist or you do not have access to it.",
        param=None,
        code="model_not_found",
    )


def missing_api_key() -> Rejection:
    return Rejection(401, "You didn't provide an API key in an Authorization: Bearer header.", code=None)


def invalid_api_key() -> Rejection:
    """Never echoes the key, not even masked."""
    return Rejection(401, "Incorrect API key provided.", code="invalid_api_key")


def invalid_url(method: str, path: str) -> Rejection:
    return Rejection(404, f"Invalid URL ({method} {path})")


def stream_required() -> Rejection:
    return Rejection(
        400, 'The simulator only streams: set "stream": true.', param="stream", code="unsupported_value"
    )


def matches(path: str) -> bool:
    return path.endswith("/chat/completions")


def check_key(head: RequestHead, expected: bytes) -> Rejection | None:
    """``Authorization: Bearer <key>``; the scheme is case-insensitive, the key is compared in constant time."""
    scheme, _, token = (head.header("authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return missing_api_key()
    if not hmac.compare_digest(token.strip().encode(), expected):
        return invalid_api_key()
    return None


def parse_request(head: RequestHead, body: bytes) -> ChatRequest:
    return parse_chat_request(body)


def shape(plan: Plan) -> Plan:
    return plan


def renderer(
    request_id: str, request: StreamRequest, created: int, plan: Plan, inband_error: InbandError | None = None
) -> ChatStreamRenderer:
    return ChatStreamRenderer(
        request_id, request.model, created, request.prompt_tokens, plan, inband_error, script=request.script
    )


def parse_chat_request(body: bytes) -> ChatRequest:
    """Validate a request body; raise ``RequestRejected`` (400) naming the offending field."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise _bad("We could not parse the JSON body of your request.", None) from None
    if not isinstance(data, dict):
        raise _bad("The request body must be a JSON object.", None)
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("Missing required parameter: 'model'.", "model", "missing_required_parameter")
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _bad("'messages' must be a non-empty array.", "messages")
    options = data.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise _bad("'stream_options' must be an object.", "stream_options")
    max_tokens = None
    for name in ("max_completion_tokens", "max_tokens"):
        value = data.get(name)
        if value is None:
            continue
        if not _is_int(value) or value < 1:
            raise _bad(f"'{name}' must be an integer >= 1.", name)
        max_tokens = value
        break
    seed = data.get("seed")
    if seed is not None and not _is_int(seed):
        raise _bad("'seed' must be an integer.", "seed")
    return ChatRequest(
        model=model,
        stream=data.get("stream") is True,
        include_usage=bool(options and options.get("include_usage") is True),
        max_tokens=max_tokens,
        seed=seed,
        prompt_tokens=_count_words(messages),
    )


def _bad(message: str, param: str | None, code: str | None = None) -> RequestRejected:
    return RequestRejected(Rejection(400, message, param=param, code=code))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _count_words(messages: list[Any]) -> int:
    count = 0
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            count += len(content.split())
        elif isinstance(content, list):
            for part in content:
                text = part.get("text") if isinstance(part, dict) else None
                if isinstance(text, str):
                    count += len(text.split())
    return count


class ChatStreamRenderer:
    """Renders the planned events of one response as SSE event bytes (``data: {...}\\n\\n``).

    Built once per request: the common prefix of every chunk (id, created, model) and the fixed events are
    encoded here, so rendering a token event is a few byte concatenations. Token ``i`` of the response is ``words.WORDS[i % len(WORDS)]``,
    reasoning first, so reasoning text and answer text never repeat the same position.
    """

    __slots__ = ("_answer", "_error", "_finish", "_next_token", "_reasoning", "_role", "_text", "_usage")

    def __init__(
        self,
        completion_id: str,
        model: str,
        created: int,
        prompt_tokens: int,
        plan: Plan,
        inband_error: InbandError | None = None,
        *,
        script: words.Script | None = None,
    ) -> None:
        self._text = script or words
        head = json.dumps(
            {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": SYSTEM_FINGERPRINT,
            },
            separators=(",", ":"),
        ).encode()[:-1]
        prefix = b"data: " + head + b',"choices":[{"index":0,"delta":'
        self._role = prefix + b'{"role":"assistant","content":"","refusal":null}' + _NOT_FINISHED
        self._answer = prefix + b'{"content":"'
        self._reasoning = prefix + b'{"content":null,"reasoning_content":"'
        finish = plan.finish_reason.encode()
        self._finish = prefix + b'{},"logprobs":null,"finish_reason":"' + finish + b'"}],"usage":null}\n\n'
        usage = (
            b'{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d,'
            b'"completion_tokens_details":{"reasoning_tokens":%d}}'
        ) % (prompt_tokens, plan.completion_tokens, prompt_tokens + plan.completion_tokens, plan.reasoning_tokens)
        self._usage = b"data: " + head + b',"choices":[],"usage":' + usage + b"}\n\n"
        self._error = b"data: " + head + b',"error":' + _INBAND_ERRORS[inband_error or "server"] + b"}\n\n"
        self._next_token = 0

    def render(self, event: PlannedEvent) -> bytes:
        """The bytes of ``event``; call once per event, in plan order (token text advances)."""
        kind = event.kind
        if kind == "answer" or kind == "reasoning":
            text = self._text.json_fragment(self._next_token, event.n_tokens)
            self._next_token += event.n_tokens
            start = self._answer if kind == "answer" else self._reasoning
            return start + text + _DELTA_END
        if kind == "role":
            return self._role
        if kind == "finish":
            return self._finish
        if kind == "usage":
            return self._usage
        if kind == "done":
            return DONE
        if kind == "error":
            return self._error
        raise ValueError(f"unknown event kind {kind!r}")



# An error object inside the 200 stream, at top level next to the usual chunk fields (as OpenRouter sends it and
# as openai-python checks for it), with OpenAI's codes.
_INBAND_ERRORS: dict[str, bytes] = {
    "overloaded": b'{"message":"The server is overloaded. Please retry your request later.",'
    b'"type":"service_unavailable_error","param":null,"code":"server_is_overloaded"}',
    "quota": b'{"message":"You exceeded your current quota, please check your plan and billing details.",'
    b'"type":"insufficient_quota","param":null,"code":"insufficient_quota"}',
    "server": b'{"message":"The server had an error while processing your request.",'
    b'"type":"server_error","param":null,"code":null}',
}
