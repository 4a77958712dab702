"""From what the client saw to one Sample: pure code, run after the stream, off the timed path.

exchange (stamped reads) -> SSE events -> dialect stream events -> token counts -> timing -> Sample.

Decisions worth knowing:
- A stream is a success only with a 2xx status, an event-stream body, at least one generated token, no error
  event, and a proper end (the dialect's terminator or a finish reason). Anything else is an error sample.
- A data payload that is not JSON fails the sample as ``protocol``: after corrupt bytes neither the token count nor
  the timing of the rest can be trusted, and a skipped line would silently inflate decode speed.
- Token counts come from the provider's usage when it reported them (``tokens_source = 'usage'``), else from the
  offline tokenizer over the streamed text (``'tokenizer'``). Per-chunk counts in the trace always come from
  the tokenizer. A reported count that is not a whole number from 0 to 2**63 - 1 counts as not reported.
- Reasoning a provider bills but does not stream (OpenAI's hidden reasoning) was generated before the first
  visible token, so it is left out of the decode-speed numerator.
- A line longer than ``MAX_LINE_BYTES`` (1 MiB) fails the sample as ``too_large`` before anything is decoded:
  no dialect streams chunks near that size, and it bounds what the decoder and the tokenizer are handed.
- The key is scrubbed from everything the endpoint sent (an error body, each event's data) before anything is
  read out of it, so no stored field can echo it, not even a key cut in half by message truncation.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Sequence
from itertools import accumulate
from operator import itemgetter
from types import ModuleType
from typing import Any

import orjson

from probe.model import (
    Channel,
    ChunkTrace,
    EndOfStream,
    ErrorKind,
    Exchange,
    Finished,
    PlannedRequest,
    ResponseModel,
    Sample,
    SSEEvent,
    StreamEvent,
    StreamFailed,
    TextDelta,
    UsageReport,
)
from probe.dialects import Parser, int_or_none
from probe.redact import redact, scrub, without_secrets
from probe.sse import SSEDecoder
from probe.timing import NS_PER_S, TokenArrivals, decode_speed, seconds_between, stream_timing
from probe.tokens import Counter, count_tokens

_CHANNEL_CODES = {"answer": "a", "reasoning": "r", "refusal": "f", "tool": "t"}
MAX_LINE_BYTES = 1024 * 1024


def derive_sample(
    exchange: Exchange,
    request: PlannedRequest,
    dialect: ModuleType,
    counter: Counter,
    *,
    sample_id: str,
    run_id: str,
) -> Sample:
    """The sample for one finished exchange. Never raises on anything the endpoint sent."""
    secrets = (request.target.api_key,) if request.target.api_key else ()
    base = dict(
        id=sample_id,
        run_id=run_id,
        provider=request.provider,
        model=request.model,
        api=request.api,
        started_at=exchange.started_at,
        http_status=exchange.status,
        ttfb_s=seconds_between(exchange.started_ns, exchange.headers_ns),
        e2e_s=seconds_between(exchange.started_ns, exchange.ended_ns),
        connect_s=exchange.connect_ns / NS_PER_S if exchange.connect_ns is not None else None,
        tls_s=exchange.tls_ns / NS_PER_S if exchange.tls_ns is not None else None,
        read_count=len(exchange.read_times),
        retry_after_s=_retry_after_seconds(exchange.retry_after),
        region=request.region,
        workload=request.workload,
        max_tokens=request.max_tokens,
    )

    def failed(kind: ErrorKind, message: str, **measured: object) -> Sample:
        return Sample(status="error", error_kind=kind, error_message=redact(message, secrets), **{**base, **measured})

    if exchange.status is None:
        kind, message = exchange.failure or ("connect", "no response")
        return failed(kind, message)
    if not 200 <= exchange.status < 300:
        body_head = scrub(b"".join(exchange.read_payloads[:64]), secrets)
        kind, message = dialect.classify_error(exchange.status, body_head)
        if base["retry_after_s"] is None and hasattr(dialect, "retry_after_s"):
            base["retry_after_s"] = dialect.retry_after_s(body_head)  # Gemini: the delay is in the body
        return failed(kind, message)
    content_type = (exchange.content_type or "").lower()
    if "text/event-stream" not in content_type:
        return failed("protocol", f"expected an event stream, got content-type {content_type or 'none'!r}")
    if _has_line_longer_than(MAX_LINE_BYTES, exchange.read_payloads):
        return failed("too_large", f"a line of the stream is longer than {MAX_LINE_BYTES / 2**20:g} MiB")

    timed_events, pending_at_eof = _decode(exchange, dialect, secrets)
    arrivals = TokenArrivals()
    arrival_times, arrival_channels, arrival_tokens = arrivals.t_ns, arrivals.channels, arrivals.tokens
    texts: dict[str, list[str]] = {"answer": [], "reasoning": [], "refusal": [], "tool": []}
    usage_reports: list[UsageReport] = []
    finish_reason: str | None = None
    terminated = False
    failure: StreamFailed | None = None
    response_model: str | None = None
    for t_ns, event in timed_events:
        kind = type(event)
        if kind is TextDelta:  # nearly every event: one type check, no call but the token count
            channel, text = event.channel, event.text
            arrival_times.append(t_ns)
            arrival_channels.append(channel)
            arrival_tokens.append(count_tokens(counter, text))
            texts[channel].append(text)
        elif kind is UsageReport:
            usage_reports.append(event)
        elif kind is Finished:
            finish_reason = event.reason
            terminated = True
        elif kind is EndOfStream:
            terminated = True
        elif kind is StreamFailed:
            failure = failure or event
        elif kind is ResponseModel:
            response_model = response_model or event.name

    timing = stream_timing(exchange.started_ns, exchange.headers_ns, exchange.ended_ns, arrivals)
    usage = _merged_usage(usage_reports)
    if usage.output_tokens is not None:
        output_tokens, reasoning_tokens, source = usage.output_tokens, usage.reasoning_tokens, "usage"
    elif arrivals.t_ns:
        output_tokens = sum(count_tokens(counter, "".join(parts)) for parts in texts.values())
        reasoning_tokens, source = count_tokens(counter, "".join(texts["reasoning"])), "tokenizer"
    else:
        output_tokens = reasoning_tokens = source = None
    hidden_reasoning = (reasoning_tokens or 0) if source == "usage" and not texts["reasoning"] else 0
    started_ns = exchange.started_ns
    trace = ChunkTrace(
        offsets_us=tuple([(t_ns - started_ns) // 1000 for t_ns in arrivals.t_ns]),
        tokens=tuple(arrivals.tokens),
        channels="".join([_CHANNEL_CODES[channel] for channel in arrivals.channels]),
    )
    measured: dict[str, object] = dict(
        ttft_s=timing.ttft_s,
        ttfat_s=timing.ttfat_s,
        input_tokens=usage.input_tokens,
        output_tokens=output_tokens,
        reasoning_tokens=reasoning_tokens,
        tokens_source=source,
        finish_reason=finish_reason,
        chunk_count=len(arrivals.t_ns),
        response_model=response_model,
        trace=trace,
    )

    if failure is not None:
        return failed(failure.kind, failure.message, **measured)
    if exchange.truncated:
        return failed("too_large", "the response exceeded the maximum size probe keeps", **measured)
    if exchange.failure is not None:
        return failed(*exchange.failure, **measured)
    if not terminated:
        detail = " (an unterminated event was pending)" if pending_at_eof else ""
        return failed("disconnect", f"the stream ended without its terminator{detail}", **measured)
    if not arrivals.t_ns:
        return failed("empty", "the stream finished without a single generated token", **measured)
    output_tps = decode_speed(
        None if output_tokens is None else output_tokens - hidden_reasoning,
        timing.first_read_tokens,
        timing.first_token_ns,
        timing.last_token_ns,
    )
    return Sample(status="ok", output_tps=output_tps, **{**base, **measured})


def answer_text(exchange: Exchange, dialect: ModuleType, secrets: tuple[str, ...] = ()) -> str | None:
    """The answer text a finished exchange streamed (reasoning, refusals and tool calls left out), for audits that
    check what a model said; ``None`` when the endpoint sent no 2xx event stream. The key is scrubbed first."""
    if exchange.status is None or not 200 <= exchange.status < 300:
        return None
    if "text/event-stream" not in (exchange.content_type or "").lower():
        return None
    if _has_line_longer_than(MAX_LINE_BYTES, exchange.read_payloads):
        return None
    events, _ = _decode(exchange, dialect, secrets)
    return "".join(e.text for _, e in events if isinstance(e, TextDelta) and e.channel == "answer")


def _decode(
    exchange: Exchange, dialect: ModuleType, secrets: tuple[str, ...] = ()
) -> tuple[list[tuple[int, StreamEvent]], bool]:
    """SSE-decode every read and parse each event, keeping the arrival time of the read that completed it."""
    timed = _decode_plain_stream(exchange, dialect.Parser(), secrets)
    if timed is not None:
        return timed, False
    return _decode_read_by_read(exchange, dialect, secrets)


def _decode_read_by_read(
    exchange: Exchange, dialect: ModuleType, secrets: tuple[str, ...] = ()
) -> tuple[list[tuple[int, StreamEvent]], bool]:
    """``_decode`` through the SSE decoder, which takes any stream the specification allows."""
    decoder = SSEDecoder()
    parse = dialect.Parser().parse  # a new parser: parsers keep state, and the way above may have begun
    timed: list[tuple[int, StreamEvent]] = []
    for t_ns, chunk in zip(exchange.read_times, exchange.read_payloads):
        for sse_event in decoder.feed(chunk):
            if secrets:
                data = without_secrets(sse_event.data, secrets)
                if data != sse_event.data:  # a new event only when a secret was there
                    sse_event = SSEEvent(data, sse_event.event, sse_event.id)
            for event in parse(sse_event):
                timed.append((t_ns, event))
    decoder.close()
    return timed, decoder.pending_at_eof


def _decode_plain_stream(
    exchange: Exchange, parser: Parser, secrets: tuple[str, ...]
) -> list[tuple[int, StreamEvent]] | None:
    """``_decode`` for the usual stream of every dialect: events of ``data: X`` (OpenAI-style, Gemini) or of
    ``event: NAME`` then ``data: X`` (Anthropic, the Responses API), one after another from the first byte to the
    last; LF line ends, or CRLF throughout (Google's); no secret anywhere; however the reads split it. ``None`` for
    any other stream, which the SSE decoder then takes; where this applies, both give the same events at the same
    times, but for usage reports that a later one repeats (``_CountingSlot``): the same sample.

    Why: SSE decoding and a parse call per event cost about 12,000 of the 40,000 instructions a read takes to
    derive (callgrind, ``bench/README.md``). Here one regular expression finds every event's name and data in one
    call, and a JSON object's bytes go straight to orjson and the dialect's ``parse_payload``; an event that
    differs from an earlier one only in its text (``_TextSlot``), or in its text and the digits of its counts
    (``_CountingSlot``), is not parsed at all.
    """
    payloads = exchange.read_payloads
    if not payloads:
        return None
    body = b"".join(payloads)
    plain_events = _PLAIN_EVENTS
    line_end = b"\n"
    if body.find(b"\r") != -1:  # only where every CR begins a CRLF (a lone LF is refused by the pattern)
        if body.count(b"\r") != body.count(b"\r\n"):
            return None
        plain_events, line_end = _PLAIN_CRLF_EVENTS, b"\r\n"
    for secret in secrets:
        if secret and len(secret) >= 4 and body.find(secret.encode()) != -1:  # the decoder's path scrubs it
            return None
    events = plain_events.findall(body)  # (the name line with its line end, or b"" when none; the data)
    if not events:
        return None
    # Each event is stamped with the read that completed it: the first whose end is at or past the event's end.
    read_ends = list(accumulate(map(len, payloads)))
    read_times = exchange.read_times
    read = 0
    timed: list[tuple[int, StreamEvent]] = []
    append = timed.append
    parse, parse_payload = parser.parse, parser.parse_payload
    loads = orjson.loads
    names: dict[bytes, str] = {b"": "message"}  # an event's name as the SSE decoder gives it, by its name line
    name_start, name_end = len(b"event: "), -len(line_end)
    slot: _TextSlot | _CountingSlot | None = None
    slot_name = ""  # the name of the events the slot was made from: it holds for no other
    slot_sought = False
    unsettled: bytes | None = None  # the payload of the last event of a run read from a counting slot
    framing = len(b"data: ") + 2 * len(line_end)
    # The decoder ends a line at a CR already, so an event whose lines end in CRLF is complete at its last CR, the
    # byte before its end: counted from -1, ``event_end`` is that CR's end.
    event_end = -1 if line_end == b"\r\n" else 0
    for name_line, data in events:
        event_end += len(name_line) + len(data) + framing
        while read_ends[read] < event_end:  # the events' lengths add up to the body's at most
            read += 1
        name = names.get(name_line)
        if name is None:
            name = names[name_line] = name_line[name_start:name_end].decode("utf-8", "replace") or "message"
        if slot is not None and name == slot_name:
            text = slot.text_of(data)
            if text is not None:
                append((read_times[read], TextDelta(slot.channel, text)))
                if slot.counts is not None:
                    unsettled = data
                continue
        if unsettled is not None:
            _settle(timed, unsettled, parse_payload, slot_name)
            unsettled = None
        if data[:1] == b"{":
            try:
                payload = loads(data)
            except orjson.JSONDecodeError:  # the decoder's path has the json fallback and the error
                return None
            parsed = parse_payload(payload, name)
            if slot is not None:
                if isinstance(slot, _CountingSlot) and name == slot_name:
                    slot.adopt(data)  # where its counts have grown a digit, it takes their new places
            elif not slot_sought and type(parsed[0] if parsed else None) is TextDelta:
                # once: where this event's shape is not the next one's, it would not pay
                if len(parsed) == 1:
                    slot_sought, slot_name = True, name
                    slot = _TextSlot.of(data, parsed[0], parser, name)  # type: ignore[arg-type]
                elif len(parsed) == 2 and type(parsed[1]) is UsageReport:
                    slot_sought, slot_name = True, name
                    slot = _CountingSlot.of(data, parsed, parser, name)
        else:
            parsed = parse(SSEEvent(data.decode("utf-8", "replace"), name, None))
        t_ns = read_times[read]
        for stream_event in parsed:
            append((t_ns, stream_event))
    if event_end != len(body) - (line_end == b"\r\n"):  # matches found apart: something else lies between them
        return None
    if unsettled is not None:
        _settle(timed, unsettled, parse_payload, slot_name)
    return timed


def _settle(
    timed: list[tuple[int, StreamEvent]],
    data: bytes,
    parse_payload: Callable[[dict[str, Any], str], list[StreamEvent]],
    name: str,
) -> None:
    """After a run of events read from a counting slot, the last one's counts: its payload, ``data``, is parsed, and
    its events take the place of its text, the last of ``timed``. The counts of the run's other events are left
    out: usage reports are cumulative, derivation keeps the last count of each kind (``_merged_usage``), and this
    one reports every kind they did (``_CountingSlot``)."""
    t_ns = timed[-1][0]
    timed[-1:] = [(t_ns, event) for event in parse_payload(orjson.loads(data), name)]


_PLAIN_EVENTS = re.compile(rb"(event: [^\n]*\n)?data: ([^\n]*)\n\n")
"""One event of nothing but ``data: X``, or ``event: NAME`` then ``data: X``, with LF line ends (a body with a CR
takes the next pattern)."""
_PLAIN_CRLF_EVENTS = re.compile(rb"(event: [^\n]*\r\n)?data: ([^\n]*)\r\n\r\n")
"""The same with CRLF line ends, in a body whose every CR begins a CRLF: no line then holds a CR (``[^\\n]*`` stops at
the LF after it), and a lone LF ends no line here."""


class _TextSlot:
    """Where the text sits in the bytes of an event that carried nothing but text, for events of the same shape.

    A stream's text events are usually the same bytes but for the JSON string of the text (the id, the model, the
    created time repeat). For an event that starts with the same ``prefix`` and ends with the same ``suffix``, with
    one JSON string between them, and the same event name, the dialect would parse the same object but for that
    string, and give the same one ``TextDelta`` with the string's text: a parser's events depend on the payload
    and the event's name alone, apart from what it remembers of events that carried more than text (the response
    model, reported once; Anthropic's ``message_start``), as each ``parse_payload`` states. That holds only if
    the string sits where a value goes and the text is taken from it, so the slot is tried with a probe text
    before it is used. Any other event (another shape or name, an empty text, a value that is not one JSON
    string) is parsed as before.

    Why: orjson and ``parse_payload`` were 2.8 of the 4.2 µs a read of an openai-chat stream took to derive
    (``bench/README.md``); reading the text out of the slot takes a fraction of that.
    """

    __slots__ = ("channel", "_prefix", "_suffix")

    counts = None  # a slot of text alone (see ``_CountingSlot``)
    _PROBE_TEXT = "probe\u2063slot"
    _PROBE_LITERAL = orjson.dumps(_PROBE_TEXT)

    def __init__(self, prefix: bytes, suffix: bytes, channel: Channel) -> None:
        self.channel = channel
        self._prefix = prefix
        self._suffix = suffix

    @classmethod
    def of(cls, data: bytes, delta: TextDelta, parser: Parser, name: str) -> _TextSlot | None:
        """The slot of ``data``, the payload of an event called ``name`` that ``parser`` parsed to ``delta`` alone;
        ``None`` when its text is not in it as orjson writes it, or when a probe text put in its place does not come
        out as the text. The slot holds for events of that name only."""
        literal = orjson.dumps(delta.text)
        at = data.rfind(literal)  # the text comes late in the usual event; anywhere else, the probe tells
        if at == -1:
            return None
        prefix, suffix = data[:at], data[at + len(literal) :]
        if _probed(prefix + cls._PROBE_LITERAL + suffix, parser, name) != [TextDelta(delta.channel, cls._PROBE_TEXT)]:
            return None
        return cls(prefix, suffix, delta.channel)

    def text_of(self, data: bytes) -> str | None:
        """The text of an event of this shape; ``None`` for any other event, and for an empty text (``""``, which
        the parser takes as no text at all: the three bytes asked for leave it out)."""
        start, end = len(self._prefix), len(data) - len(self._suffix)
        if end - start < 3 or not (data.startswith(self._prefix) and data.endswith(self._suffix)):
            return None
        literal = data[start:end]
        if literal[0] != 0x22:  # '"': nothing but a string can take the slot
            return None
        try:
            text: str = orjson.loads(literal)  # a string, or an error: it begins with a quote
        except orjson.JSONDecodeError:  # not one string: '"a", "b"', or a quote left unescaped
            return None
        return text


class _CountingSlot:
    """A ``_TextSlot`` for text events that also carry running token counts (Gemini's), whose bytes after the text
    differ in their digits from one event to the next.

    It is made from an event that gave a text then a usage report. It takes an event of the same name that starts
    with the same bytes, then one JSON string, then bytes that are the slot's but for the values of digits: each
    where the slot's event has one (``_mask``), no number starting with a 0 (``_leading``). Such an event is valid
    JSON, the same object but for the text and those digits, and every number in it is a whole number of at most 15
    digits, as in the slot's. A parser then gives the text, and counts of the same kinds as the slot's event gave
    (``counts``): its events may depend on the payload alone and it must report a count wherever the key holds such
    a number (``Parser.parse_payload``), which a probe checks before the slot is used, with a probe text and every
    digit after the text changed (digits in ids and keys too: only what the probe shows to change nothing but counts
    may vary). When a count grows a digit, the event is parsed, and if it is of the slot's shape but for its
    digits, the slot takes the new places (``adopt``).

    Only the text is read from the slot: the counts of a run of such events are the last event's, parsed when the
    run ends (``_settle``). Usage reports are cumulative and derivation keeps the last count of each kind, so the
    sample is the one the SSE decoder's way gives; only usage reports that a later one repeats are left out.

    Why: Gemini's events carry their counts in every chunk, so none fits a ``_TextSlot``; parsing one took 3.3 µs
    (orjson 1.0, ``parse_payload`` 2.3), and a read of a Gemini stream twice what one of OpenAI's took to derive
    (``bench/README.md``).
    """

    __slots__ = ("channel", "counts", "_prefix", "_mask", "_leading")

    _OTHER_DIGITS = bytes.maketrans(b"0123456789", b"1234567891")  # no zero: no number gains a leading zero

    def __init__(self, channel: Channel, counts: tuple[bool, bool, bool], prefix: bytes, mask: bytes) -> None:
        self.channel = channel
        self.counts = counts  # the kinds of counts reported: input, output, reasoning
        self._prefix = prefix
        self._mask = mask  # the bytes after the text, each digit a 0 (``adopt`` checks its numbers)
        # the first digit of each number of two digits or more among them, and their first byte (never a digit)
        self._leading: Callable[[bytes], tuple[int, ...]] = itemgetter(0, 0)

    @classmethod
    def of(cls, data: bytes, parsed: list[StreamEvent], parser: Parser, name: str) -> _CountingSlot | None:
        """The slot of ``data``, the payload of an event called ``name`` that ``parser`` parsed to ``parsed``, a text
        then a usage report; ``None`` where the probe does not come out as the parser would give it, or where a
        number after the text is not a whole number of at most 15 digits."""
        delta, report = parsed
        assert type(delta) is TextDelta and type(report) is UsageReport
        literal = orjson.dumps(delta.text)
        at = data.rfind(literal)
        if at == -1:
            return None
        prefix, after = data[:at], data[at + len(literal) :]
        counts = _reported_kinds(report)
        probed = _probed(prefix + _TextSlot._PROBE_LITERAL + after.translate(cls._OTHER_DIGITS), parser, name)
        if (
            probed is None
            or len(probed) != 2
            or probed[0] != TextDelta(delta.channel, _TextSlot._PROBE_TEXT)
            or type(probed[1]) is not UsageReport
            or _reported_kinds(probed[1]) != counts
        ):
            return None
        slot = cls(delta.channel, counts, prefix, after.translate(_DIGITS_AS_ZERO))
        return slot if slot.adopt(data) else None

    def adopt(self, data: bytes) -> bool:
        """Take the places of the digits from ``data`` if it is an event of this slot's shape but for its digits: the
        slot's bytes, a JSON string, then the slot's bytes again but for digits, every number a whole number of at
        most 15 digits. Its events are then the text and counts of the slot's kinds (see the class)."""
        if not data.startswith(self._prefix):
            return False
        string = _JSON_STRING.match(data, len(self._prefix))
        if string is None:
            return False
        after = data[string.end() :]
        if after.translate(None, _DIGITS) != self._mask.translate(None, b"0"):  # the same bytes but for digits
            return False
        leading: list[int] = []
        at = 0
        for i, part in enumerate(_JSON_SCALARS.split(after)):  # strings and numbers at odd places
            if i % 2 and part[:1] != b'"':
                digits = part.removeprefix(b"-")
                if not digits.isdigit() or len(digits) > 15:
                    return False
                if len(digits) > 1:
                    leading.append(at + len(part) - len(digits))
            at += len(part)
        self._mask = after.translate(_DIGITS_AS_ZERO)
        self._leading = itemgetter(0, 0, *leading)  # a tuple however many; the first byte is never a digit
        return True

    def text_of(self, data: bytes) -> str | None:
        """The text of an event of this shape; ``None`` for any other event, and for an empty text. The bytes after
        the text are as long as the mask, so the text is what lies between them and the prefix."""
        prefix = self._prefix
        start, end = len(prefix), len(data) - len(self._mask)
        if end - start < 3 or not data.startswith(prefix) or data[start] != 0x22:  # '"': only a string
            return None
        after = data[end:]
        if after.translate(_DIGITS_AS_ZERO) != self._mask or 0x30 in self._leading(after):  # no number starts with 0
            return None
        try:
            text: str = orjson.loads(data[start:end])  # one string, or an error
        except orjson.JSONDecodeError:  # not one string: '"a", "b"', or a quote left unescaped
            return None
        return text


def _probed(data: bytes, parser: Parser, name: str) -> list[StreamEvent] | None:
    """What a copy of ``parser`` gives for a probe payload of an event called ``name``; ``None`` if it is not JSON."""
    try:
        return copy.copy(parser).parse_payload(orjson.loads(data), name)
    except orjson.JSONDecodeError:
        return None


def _reported_kinds(report: UsageReport) -> tuple[bool, bool, bool]:
    return report.input_tokens is not None, report.output_tokens is not None, report.reasoning_tokens is not None


_DIGITS = b"0123456789"
_DIGITS_AS_ZERO = bytes.maketrans(_DIGITS, b"0" * 10)
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
"""A JSON string as it is written: up to the first quote that no backslash escapes (orjson checks the rest)."""
_JSON_SCALARS = re.compile(rb'("[^"\\]*(?:\\.[^"\\]*)*"|-?[0-9][0-9.eE+-]*)')
"""Outside a string, JSON's strings and numbers: ``split`` gives them at odd places, what lies between at even ones."""


def _has_line_longer_than(limit: int, payloads: Sequence[bytes]) -> bool:
    """Whether some line exceeds ``limit`` bytes; a body no longer than the limit cannot hold one, so the lines
    of an ordinary stream are never scanned."""
    if sum(map(len, payloads)) <= limit:
        return False
    return _longest_line(payloads) > limit


def _longest_line(payloads: Sequence[bytes]) -> int:
    """The length in bytes of the longest line (CR or LF ends one) across all reads."""
    longest = run = 0
    for chunk in payloads:
        if b"\n" not in chunk and b"\r" not in chunk:
            run += len(chunk)
            continue
        pieces = chunk.replace(b"\r", b"\n").split(b"\n")
        longest = max(longest, run + len(pieces[0]), *(len(piece) for piece in pieces[1:-1]))
        run = len(pieces[-1])
    return max(longest, run)


def _merged_usage(reports: list[UsageReport]) -> UsageReport:
    """Usage reports are cumulative: field by field, the last value reported wins.

    Merged once at the end rather than report by report, and from the last report back (usually one step), since
    some providers report usage with every chunk."""
    return UsageReport(
        input_tokens=_last_reported(reports, "input_tokens"),
        output_tokens=_last_reported(reports, "output_tokens"),
        reasoning_tokens=_last_reported(reports, "reasoning_tokens"),
    )


def _last_reported(reports: list[UsageReport], field: str) -> int | None:
    """The last count reported in ``field``; ``None`` if none was, or if it is past what SQLite stores (a dialect's
    sum of absurd counts)."""
    for report in reversed(reports):
        value = getattr(report, field)
        if value is not None:
            return int_or_none(value)
    return None


def _retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds when it is a number (an HTTP date is rare from these APIs and kept out)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None

