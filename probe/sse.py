"""Incremental server-sent events decoder: bytes in, events out, no I/O (WHATWG HTML §9.2).

Lines end at CR, LF or CRLF — including a CR at the end of one read and its LF at the start of the next —
and never at U+2028/U+0085, which ``str.splitlines()`` and httpx's ``aiter_lines()`` would split on and so break
JSON carried in ``data:``. Lines are decoded as UTF-8 only once complete, so a multi-byte character split across
reads is safe.
"""

from __future__ import annotations

from probe.model import SSEEvent

_BOM = "\ufeff"


class SSEDecoder:
    """Feed network reads in order; get back the events each read completed.

    ``comments`` counts ``:`` lines (keep-alives such as ``: OPENROUTER PROCESSING``), which are never events.
    After :meth:`close`, ``pending_at_eof`` tells whether the stream ended inside an unterminated event; per spec
    that event is discarded, but callers may treat it as a protocol anomaly.
    """

    __slots__ = ("_buffer", "_skip_lf", "_data", "_event", "_id", "_started", "comments", "pending_at_eof")

    def __init__(self) -> None:
        self._buffer = b""
        self._skip_lf = False  # the previous read ended in CR; a leading LF belongs to that line ending
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None
        self._started = False  # the UTF-8 BOM is stripped once, at the very start
        self.comments = 0
        self.pending_at_eof = False

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Consume one read; return the events it completed (often zero or one)."""
        if self._skip_lf and chunk[:1] == b"\n":
            chunk = chunk[1:]
        self._skip_lf = False
        if not chunk:
            return []
        buffer = self._buffer + chunk if self._buffer else chunk
        if b"\r" not in buffer:
            # The common case (LF only): split once, keep the unterminated tail.
            *lines, self._buffer = buffer.split(b"\n")
        else:
            lines, self._buffer = _split_any_eol(buffer)
            if buffer.endswith(b"\r"):
                self._skip_lf = True
        events: list[SSEEvent] = []
        for raw in lines:
            event = self._line(raw.decode("utf-8", errors="replace"))
            if event is not None:
                events.append(event)
        return events

    def close(self) -> list[SSEEvent]:
        """End of stream: a trailing line without its end-of-line is still a line, but the unterminated event is
        discarded, as the spec requires."""
        if self._buffer:
            self._line(self._buffer.decode("utf-8", errors="replace"))
            self._buffer = b""
        self.pending_at_eof = bool(self._data)
        self._data, self._event, self._id = [], "", None
        return []

    def _line(self, line: str) -> SSEEvent | None:
        if not self._started:
            self._started = True
            if line.startswith(_BOM):
                line = line[1:]
        if not line:
            return self._dispatch()
        if line[0] == ":":
            self.comments += 1
            return None
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\x00" not in value:
                self._id = value
        # "retry" and unknown fields change nothing we measure.
        return None

    def _dispatch(self) -> SSEEvent | None:
        if not self._data:
            self._event = ""
            return None
        event = SSEEvent(data="\n".join(self._data), event=self._event or "message", id=self._id)
        self._data, self._event = [], ""
        return event


def _split_any_eol(buffer: bytes) -> tuple[list[bytes], bytes]:
    """Split on CRLF, CR and LF; return complete lines and the unterminated tail."""
    lines: list[bytes] = []
    start = 0
    size = len(buffer)
    i = 0
    while i < size:
        byte = buffer[i]
        if byte == 0x0A:  # LF
            lines.append(buffer[start:i])
            i += 1
            start = i
        elif byte == 0x0D:  # CR, maybe followed by LF
            lines.append(buffer[start:i])
            i += 2 if i + 1 < size and buffer[i + 1] == 0x0A else 1
            start = i
        else:
            next_lf = buffer.find(b"\n", i)
            next_cr = buffer.find(b"\r", i)
            candidates = [p for p in (next_lf, next_cr) if p != -1]
            if not candidates:
                break
            i = min(candidates)
    return lines, buffer[start:]


def decode_all(chunks: list[bytes]) -> list[SSEEvent]:
    """Decode a whole recorded body given as reads (for tests and replays)."""
    decoder = SSEDecoder()
    events: list[SSEEvent] = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    events.extend(decoder.close())
    return events
