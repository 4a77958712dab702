"""Incremental server-sent events decoder: bytes in, events out, no I/O (WHATWG HTML §9.2).

Lines end at CR, LF or CRLF — including a CR at the end of one read and its LF at the start of the next —
and never at U+2028/U+0085, which ``str.splitlines()`` and httpx's ``aiter_lines()`` would split on and so break
JSON carried in ``data:``. Lines are decoded as UTF-8 only once complete, so a multi-byte character split across
reads is safe. (``decode`` gets its error handler positionally: a keyword makes every call slower.)
"""

from __future__ import annotations

from probe.model import SSEEvent

_BOM = "\ufeff".encode()  # U+FEFF in UTF-8; the first line of a stream may start with it


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
        if self._started and not (self._buffer or self._skip_lf or self._data):
            if chunk.endswith(b"\n\n"):
                event = self._whole_event(chunk)
            elif chunk.endswith(b"\r\n\r\n"):
                event = self._whole_crlf_event(chunk)
            else:
                event = None
            if event is not None:
                return [event]
        lines = self._complete_lines(chunk)
        if not lines:
            return []
        if not self._started:
            self._started = True
            if lines[0].startswith(_BOM):
                lines[0] = lines[0][len(_BOM) :]
        events: list[SSEEvent] = []
        for raw in lines:
            # Blank lines, ``data: `` and ``event: `` lines are nearly all a stream has: they are handled inline,
            # before the general field rules, because this loop runs for every line of every stream.
            if not raw:
                event = self._dispatch()
                if event is not None:
                    events.append(event)
            elif raw.startswith(b"data: "):
                self._data.append(raw[6:].decode("utf-8", "replace"))
            elif raw.startswith(b"event: "):
                self._event = raw[7:].decode("utf-8", "replace")
            else:
                self._field(raw.decode("utf-8", "replace"))
        return events

    def _whole_event(self, chunk: bytes) -> SSEEvent | None:
        """The usual read of a stream, decoded without splitting it into lines: exactly one event, either
        ``data: X`` or ``event: E`` then ``data: X``, LF-terminated, with nothing pending before it. ``None`` for
        any other read, which the general rules then take; both paths give the same event."""
        first_end = chunk.find(b"\n")
        last_end = len(chunk) - 2
        if first_end == last_end and chunk.startswith(b"data: "):
            name, data = self._event, chunk[6:last_end]
        elif (
            chunk.startswith(b"event: ")
            and chunk.find(b"\n", first_end + 1) == last_end
            and chunk.startswith(b"data: ", first_end + 1)
        ):
            name, data = chunk[7:first_end].decode("utf-8", "replace"), chunk[first_end + 7 : last_end]
        else:
            return None
        if chunk.find(b"\r") != -1:  # a CR would end a line too
            return None
        self._event = ""
        return SSEEvent(data.decode("utf-8", "replace"), name or "message", self._id)

    def _whole_crlf_event(self, chunk: bytes) -> SSEEvent | None:
        """The usual read of a stream whose lines end in CRLF (Gemini): exactly ``data: X\\r\\n\\r\\n``, nothing
        pending before it; ``None`` for any other read. Both paths give the same event."""
        end = len(chunk) - 4
        if not (chunk.startswith(b"data: ") and chunk.find(b"\r") == end and chunk.find(b"\n") == end + 1):
            return None
        name, self._event = self._event, ""
        return SSEEvent(chunk[6:end].decode("utf-8", "replace"), name or "message", self._id)

    def close(self) -> list[SSEEvent]:
        """End of stream: a trailing line without its end-of-line is still a line, but the unterminated event is
        discarded, as the spec requires."""
        if self._buffer:
            self.feed(b"\n")  # end the last line, as if its line ending had come
        self.pending_at_eof = bool(self._data)
        self._data, self._event, self._id = [], "", None
        return []

    def _complete_lines(self, chunk: bytes) -> list[bytes]:
        """The lines this read completes, without their line endings; the unterminated tail stays buffered."""
        if self._skip_lf and chunk[:1] == b"\n":
            chunk = chunk[1:]
        self._skip_lf = False
        if not chunk:
            return []
        buffer = self._buffer + chunk if self._buffer else chunk
        if buffer.find(b"\r") != -1:  # not ``b"\r" in buffer``: that first tries the byte as an int and fails
            # CRLF and a lone CR end a line as LF does. A CR ending this read has ended its line; an LF starting
            # the next read belongs to the same line ending.
            self._skip_lf = buffer.endswith(b"\r")
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = buffer.split(b"\n")
        self._buffer = lines.pop()
        return lines

    def _field(self, line: str) -> None:
        """A comment, or a field line ``feed`` did not take inline (WHATWG: "process the field")."""
        if line[0] == ":":
            self.comments += 1
            return
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

    def _dispatch(self) -> SSEEvent | None:
        if not self._data:
            self._event = ""
            return None
        event = SSEEvent("\n".join(self._data), self._event or "message", self._id)
        self._data, self._event = [], ""
        return event


def decode_all(chunks: list[bytes]) -> list[SSEEvent]:
    """Decode a whole recorded body given as reads (for tests and replays)."""
    decoder = SSEDecoder()
    events: list[SSEEvent] = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    events.extend(decoder.close())
    return events
