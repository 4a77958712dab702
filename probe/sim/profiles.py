"""Latency profiles and the pure schedule that turns one into the exact events a response will carry.

Pure: no I/O, no clock. ``schedule`` is seeded, so a test (or ``bench/accuracy.py``) can know in advance what
the server will send for a request, and when, relative to the moment the request was fully read.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, TypeAlias

EventKind: TypeAlias = Literal["role", "reasoning", "answer", "finish", "usage", "done", "error"]
"""What one streamed event is. Only ``reasoning`` and ``answer`` events carry tokens; ``error`` (an error inside
the 200 stream, see ``probe.sim.dialect.with_inband_error``) is never planned by ``schedule``."""

FinishReason: TypeAlias = Literal["stop", "length"]


@dataclass(frozen=True, slots=True)
class LatencyProfile:
    """How a simulated model behaves in time. Durations in seconds; jitters are gaussian std-devs.

    ``output_tokens`` is the visible answer length when the request sets no maximum; ``reasoning_tokens``
    are streamed first (as reasoning text) and count towards the request's maximum, as OpenAI's do.
    """

    ttft_s: float
    inter_chunk_s: float
    ttft_jitter_s: float = 0.0
    chunk_jitter_s: float = 0.0
    tokens_per_chunk: int = 1
    output_tokens: int = 128
    role_chunk_delay_s: float = 0.0
    reasoning_tokens: int = 0

    def __post_init__(self) -> None:
        for name in ("ttft_s", "inter_chunk_s", "ttft_jitter_s", "chunk_jitter_s", "role_chunk_delay_s"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ValueError(f"LatencyProfile.{name} must be a finite number >= 0, got {value!r}")
        for name in ("tokens_per_chunk", "output_tokens", "reasoning_tokens"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"LatencyProfile.{name} must be an int >= 0, got {value!r}")
        if self.tokens_per_chunk < 1:
            raise ValueError(f"LatencyProfile.tokens_per_chunk must be >= 1, got {self.tokens_per_chunk}")

    @classmethod
    def from_speed(
        cls,
        ttft_s: float,
        tokens_per_s: float,
        *,
        tokens_per_chunk: int = 1,
        ttft_jitter_s: float = 0.0,
        chunk_jitter_frac: float = 0.0,
        output_tokens: int = 128,
        role_chunk_delay_s: float = 0.0,
        reasoning_tokens: int = 0,
    ) -> LatencyProfile:
        """A profile from the figures benchmarks publish: TTFT and mean decode speed (tokens per second)."""
        if tokens_per_s <= 0:
            raise ValueError(f"tokens_per_s must be > 0, got {tokens_per_s!r}")
        inter_chunk_s = tokens_per_chunk / tokens_per_s
        return cls(
            ttft_s=ttft_s,
            inter_chunk_s=inter_chunk_s,
            ttft_jitter_s=ttft_jitter_s,
            chunk_jitter_s=chunk_jitter_frac * inter_chunk_s,
            tokens_per_chunk=tokens_per_chunk,
            output_tokens=output_tokens,
            role_chunk_delay_s=role_chunk_delay_s,
            reasoning_tokens=reasoning_tokens,
        )

    @property
    def tokens_per_s(self) -> float | None:
        """Mean decode speed the profile aims at; ``None`` when chunks are instantaneous."""
        return self.tokens_per_chunk / self.inter_chunk_s if self.inter_chunk_s > 0 else None


@dataclass(frozen=True, slots=True)
class PlannedEvent:
    """One event of a response: when it is due (seconds after the request was read), what, how many tokens."""

    offset_s: float
    kind: EventKind
    n_tokens: int = 0


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything one response will carry, in order. Offsets never decrease."""

    events: tuple[PlannedEvent, ...]
    reasoning_tokens: int
    answer_tokens: int
    finish_reason: FinishReason
    extra_billed_tokens: int = 0  # tokens usage claims beyond those sent (the ``inflated-usage`` dishonesty)

    @property
    def completion_tokens(self) -> int:
        """What usage reports: reasoning included, as OpenAI's ``usage.completion_tokens``."""
        return self.reasoning_tokens + self.answer_tokens + self.extra_billed_tokens

    @property
    def ttft_s(self) -> float | None:
        """Offset of the first token-bearing event (reasoning or answer); ``None`` for an empty response."""
        return next((e.offset_s for e in self.events if e.n_tokens), None)

    @property
    def ttfat_s(self) -> float | None:
        """Offset of the first answer event; ``None`` when no answer token is sent."""
        return next((e.offset_s for e in self.events if e.kind == "answer"), None)


def schedule(
    profile: LatencyProfile,
    seed: int,
    max_tokens: int | None = None,
    *,
    include_usage: bool = False,
) -> Plan:
    """The exact events of one response for ``profile``, drawn from ``random.Random(seed)``.

    ``max_tokens`` caps reasoning plus answer tokens (reasoning first); when it cuts the response short the
    finish reason is ``length``. Gaps are drawn per chunk and accumulated into absolute offsets, so a server
    that sleeps until each offset does not accumulate its own lateness. The finish event follows the last
    token after one more gap (the end-of-sequence token); usage and ``[DONE]`` follow it at once.
    """
    rng = random.Random(seed)
    wanted = profile.reasoning_tokens + profile.output_tokens
    cap = wanted if max_tokens is None else min(wanted, max(max_tokens, 0))
    reasoning = min(profile.reasoning_tokens, cap)
    answer = cap - reasoning
    finish: FinishReason = "length" if cap < wanted else "stop"

    first_s = max(0.0, rng.gauss(profile.ttft_s, profile.ttft_jitter_s)) if profile.ttft_jitter_s else profile.ttft_s
    events = [PlannedEvent(min(profile.role_chunk_delay_s, first_s), "role")]
    t = first_s
    chunks = 0
    phases: tuple[tuple[EventKind, int], ...] = (("reasoning", reasoning), ("answer", answer))
    for kind, total in phases:
        left = total
        while left > 0:
            if chunks:
                t += _gap(rng, profile)
            n = min(profile.tokens_per_chunk, left)
            events.append(PlannedEvent(t, kind, n))
            chunks += 1
            left -= n
    if chunks:
        t += _gap(rng, profile)
    events.append(PlannedEvent(t, "finish"))
    if include_usage:
        events.append(PlannedEvent(t, "usage"))
    events.append(PlannedEvent(t, "done"))
    return Plan(events=tuple(events), reasoning_tokens=reasoning, answer_tokens=answer, finish_reason=finish)


def _gap(rng: random.Random, profile: LatencyProfile) -> float:
    if not profile.chunk_jitter_s:
        return profile.inter_chunk_s
    return max(0.0, rng.gauss(profile.inter_chunk_s, profile.chunk_jitter_s))


PROFILE_SETS: Mapping[str, Mapping[str, LatencyProfile]] = MappingProxyType(
    {
        # Public medians (LMSpeed): gpt-4.1-mini 0.56 s TTFT / 80.2 tok/s, gpt-4.1-nano 0.47 s / 125.3 tok/s.
        "demo": MappingProxyType(
            {
                "gpt-4.1-mini": LatencyProfile.from_speed(
                    0.56, 80.2, tokens_per_chunk=1, ttft_jitter_s=0.08, chunk_jitter_frac=0.3
                ),
                "gpt-4.1-nano": LatencyProfile.from_speed(
                    0.47, 125.3, tokens_per_chunk=2, ttft_jitter_s=0.06, chunk_jitter_frac=0.3
                ),
            }
        ),
        # A slower, burstier reseller of the same two models, so the demo has a provider to compare.
        "demo-reseller": MappingProxyType(
            {
                "gpt-4.1-mini": LatencyProfile.from_speed(
                    0.85, 70.0, tokens_per_chunk=3, ttft_jitter_s=0.2, chunk_jitter_frac=0.5
                ),
                "gpt-4.1-nano": LatencyProfile.from_speed(
                    0.70, 110.0, tokens_per_chunk=3, ttft_jitter_s=0.15, chunk_jitter_frac=0.5
                ),
            }
        ),
        # The accuracy benchmark's workload: 200 ms to the first token, then one token every 10 ms, no jitter.
        "bench": MappingProxyType(
            {
                "bench-1tok": LatencyProfile(ttft_s=0.200, inter_chunk_s=0.010, tokens_per_chunk=1, output_tokens=100),
                "bench-3tok": LatencyProfile(ttft_s=0.200, inter_chunk_s=0.030, tokens_per_chunk=3, output_tokens=99),
            }
        ),
        # The socket tests' workloads (tests/test_measurement*.py, the fault run, dishonest providers, audits): exact
        # schedules, no jitter, so each of probe's figures can be held against the simulator's write times.
        "measurement": MappingProxyType(
            {
                "steady": LatencyProfile(ttft_s=0.100, inter_chunk_s=0.008, tokens_per_chunk=1, output_tokens=20),
                "one-token-chunks": LatencyProfile(ttft_s=0.200, inter_chunk_s=0.010, output_tokens=30),
                "three-token-chunks": LatencyProfile(
                    ttft_s=0.200, inter_chunk_s=0.010, tokens_per_chunk=3, output_tokens=60
                ),
                "early-role-chunk": LatencyProfile(
                    ttft_s=0.200, inter_chunk_s=0.010, output_tokens=20, role_chunk_delay_s=0.010
                ),
                "reasoning-first": LatencyProfile(
                    ttft_s=0.050, inter_chunk_s=0.008, output_tokens=8, reasoning_tokens=12, role_chunk_delay_s=0.010
                ),
                "long-reasoning-first": LatencyProfile(
                    ttft_s=0.100, inter_chunk_s=0.010, output_tokens=10, reasoning_tokens=15
                ),
                "quick": LatencyProfile(ttft_s=0.010, inter_chunk_s=0.001, output_tokens=6),
                "pairs": LatencyProfile(ttft_s=0.010, inter_chunk_s=0.002, tokens_per_chunk=2, output_tokens=24),
                "sim-fast": LatencyProfile(ttft_s=0.010, inter_chunk_s=0.002, tokens_per_chunk=2, output_tokens=12),
                "sim-other": LatencyProfile(ttft_s=0.010, inter_chunk_s=0.002, tokens_per_chunk=2, output_tokens=12),
                "gpt-4.1-mini-2025-04-14": LatencyProfile(ttft_s=0.020, inter_chunk_s=0.010, output_tokens=40),
                "gpt-4.1-nano": LatencyProfile(ttft_s=0.020, inter_chunk_s=0.010, output_tokens=40),
            }
        ),
        # Quick profiles for tests and smoke runs: a whole response in well under a second.
        "fast": MappingProxyType(
            {
                "sim-fast": LatencyProfile(ttft_s=0.03, inter_chunk_s=0.002, tokens_per_chunk=2, output_tokens=20),
                "sim-reasoning": LatencyProfile(
                    ttft_s=0.03, inter_chunk_s=0.002, output_tokens=10, reasoning_tokens=6, role_chunk_delay_s=0.01
                ),
            }
        ),
    }
)
"""Named sets of model name -> profile, selectable with ``python -m probe.sim --profile-set NAME``."""
