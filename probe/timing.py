"""Pure timing maths: stamped token-bearing events in, the latency and speed metrics out.

Definitions (one for every dialect):
- ``ttfb_s``: request start to response headers;
- ``ttft_s``: request start to the read that carried the first generated token of any kind (reasoning included);
- ``ttfat_s``: request start to the read that carried the first *answer* token;
- ``e2e_s``: request start to the end of the stream;
- ``output_tps`` (decode speed): tokens generated after the first token-bearing read, divided by the time from
  that read to the last token-bearing read. Tokens that arrived together with the first token are excluded, so
  the figure stays exact when a provider packs several tokens into one chunk. A read is stamped when its last
  byte arrived; when the last token's read also carried later events (the finish, a usage report) that may have
  come well after the token, as when a stalled client reads them together, the timing ends at the token-bearing
  read before it instead, and that last read's tokens are left out too. Only when no such read remains after the
  first is the last read used as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from probe.model import Channel

NS_PER_S = 1_000_000_000


@dataclass(slots=True)
class TokenArrivals:
    """The token-bearing events of one stream in arrival order, as three aligned columns: when the read that
    completed each arrived, its channel and its token count.

    Columns rather than an object per event: a stream has thousands of events, and deriving runs beside the
    thread that timestamps reads.
    """

    t_ns: list[int] = field(default_factory=list)
    channels: list[Channel] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    last_ends_its_read: bool = True  # the last token-bearing event was the last thing its read carried


@dataclass(frozen=True, slots=True)
class StreamTiming:
    ttfb_s: float | None
    ttft_s: float | None
    ttfat_s: float | None
    e2e_s: float | None
    first_token_ns: int | None
    last_token_ns: int | None  # where decode-speed timing ends: the last read whose stamp times a token (above)
    first_read_tokens: int  # tokens that arrived in the same read as the first token
    untimed_last_tokens: int = 0  # tokens after ``last_token_ns``: in a last read whose stamp may be a later event's


def seconds_between(start_ns: int, end_ns: int | None) -> float | None:
    return None if end_ns is None else (end_ns - start_ns) / NS_PER_S


def stream_timing(
    started_ns: int, headers_ns: int | None, ended_ns: int | None, arrivals: TokenArrivals
) -> StreamTiming:
    """Latency metrics of one stream."""
    t_ns = arrivals.t_ns
    first_ns = t_ns[0] if t_ns else None
    last_ns = t_ns[-1] if t_ns else None
    channels = arrivals.channels
    first_answer_ns = t_ns[channels.index("answer")] if "answer" in channels else None
    first_read_tokens = sum(tokens for t, tokens in zip(t_ns, arrivals.tokens) if t == first_ns)
    untimed_last_tokens = 0
    if not arrivals.last_ends_its_read and last_ns is not None:
        before = len(t_ns) - 1
        while before >= 0 and t_ns[before] == last_ns:
            before -= 1
        if before >= 0 and t_ns[before] != first_ns:  # a read after the first remains to end the timing at
            untimed_last_tokens = sum(arrivals.tokens[before + 1 :])
            last_ns = t_ns[before]
    return StreamTiming(
        ttfb_s=seconds_between(started_ns, headers_ns),
        ttft_s=seconds_between(started_ns, first_ns),
        ttfat_s=seconds_between(started_ns, first_answer_ns),
        e2e_s=seconds_between(started_ns, ended_ns),
        first_token_ns=first_ns,
        last_token_ns=last_ns,
        first_read_tokens=first_read_tokens,
        untimed_last_tokens=untimed_last_tokens,
    )


def decode_speed(
    output_tokens: int | None,
    first_read_tokens: int,
    first_ns: int | None,
    last_ns: int | None,
    untimed_last_tokens: int = 0,
) -> float | None:
    """Tokens per second after the first token; ``None`` when there is no interval to measure over."""
    if output_tokens is None or first_ns is None or last_ns is None or last_ns <= first_ns:
        return None
    decoded = output_tokens - first_read_tokens - untimed_last_tokens
    if decoded <= 0:
        return None
    return decoded * NS_PER_S / (last_ns - first_ns)
