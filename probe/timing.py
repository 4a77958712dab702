"""Pure timing maths: stamped token-bearing events in, the latency and speed metrics out.

Definitions (one for every dialect):
- ``ttfb_s``: request start to response headers;
- ``ttft_s``: request start to the read that carried the first generated token of any kind (reasoning included);
- ``ttfat_s``: request start to the read that carried the first *answer* token;
- ``e2e_s``: request start to the end of the stream;
- ``output_tps`` (decode speed): tokens generated after the first token-bearing read, divided by the time from
  that read to the last token-bearing read. Tokens that arrived together with the first token are excluded, so
  the figure stays exact when a provider packs several tokens into one chunk.
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


@dataclass(frozen=True, slots=True)
class StreamTiming:
    ttfb_s: float | None
    ttft_s: float | None
    ttfat_s: float | None
    e2e_s: float | None
    first_token_ns: int | None
    last_token_ns: int | None
    first_read_tokens: int  # tokens that arrived in the same read as the first token


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
    return StreamTiming(
        ttfb_s=seconds_between(started_ns, headers_ns),
        ttft_s=seconds_between(started_ns, first_ns),
        ttfat_s=seconds_between(started_ns, first_answer_ns),
        e2e_s=seconds_between(started_ns, ended_ns),
        first_token_ns=first_ns,
        last_token_ns=last_ns,
        first_read_tokens=first_read_tokens,
    )


def decode_speed(
    output_tokens: int | None, first_read_tokens: int, first_ns: int | None, last_ns: int | None
) -> float | None:
    """Tokens per second after the first token; ``None`` when there is no interval to measure over."""
    if output_tokens is None or first_ns is None or last_ns is None or last_ns <= first_ns:
        return None
    decoded = output_tokens - first_read_tokens
    if decoded <= 0:
        return None
    return decoded * NS_PER_S / (last_ns - first_ns)
