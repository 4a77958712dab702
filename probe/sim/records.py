"""What the simulator actually did for each request, stamped with ``time.perf_counter_ns``.

On Linux ``perf_counter_ns`` reads CLOCK_MONOTONIC, which every process on the machine shares, so a client in
another process can compare its own arrival stamps with ``sent_ns`` directly. Pure: values, JSON round-trip and
the lateness summary; the server fills records, ``bench/accuracy.py`` and the tests read them.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from probe.sim.profiles import EventKind


@dataclass(frozen=True, slots=True)
class SentEvent:
    """One event written to the socket: when it was due, when it was written, and what it carried.

    The clock is read just before the write (``write_ns``) and just after it returned (``sent_ns``), so the bytes
    reached the kernel within ``[write_ns, sent_ns]``; the interval is wide only when the server was preempted
    (in-process mode shares the GIL with the client). A client's arrival stamp is never before ``write_ns``.
    ``buffered_bytes`` is what the transport still held after the write: more than 0 means the client was not
    reading and those bytes left later.
    """

    kind: EventKind
    n_tokens: int
    scheduled_ns: int
    write_ns: int
    sent_ns: int
    buffered_bytes: int = 0

    @property
    def lateness_ns(self) -> int:
        return self.sent_ns - self.scheduled_ns


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request the simulator answered (control requests under ``/_sim/`` are not recorded).

    ``completed`` is False when the stream stopped early (client went away, server stopped). Token fields are
    ``None`` for requests that were rejected before a plan existed.
    """

    seq: int
    request_id: str
    connection_id: int
    method: str
    path: str
    status: int
    received_ns: int
    headers_sent_ns: int | None
    model: str | None = None
    seed: int | None = None
    events: tuple[SentEvent, ...] = ()
    completed: bool = True
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning_tokens: int | None = None
    finish_reason: str | None = None

    @property
    def first_token(self) -> SentEvent | None:
        """The first token-bearing event (reasoning or answer), the one TTFT is about."""
        return next((e for e in self.events if e.n_tokens), None)

    @property
    def first_answer(self) -> SentEvent | None:
        """The first answer event, the one time to first answer token is about."""
        return next((e for e in self.events if e.kind == "answer"), None)

    def to_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in _RECORD_FIELDS}
        data["events"] = [{name: getattr(e, name) for name in _EVENT_FIELDS} for e in self.events]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RequestRecord:
        events = tuple(SentEvent(**{name: e[name] for name in _EVENT_FIELDS}) for e in data["events"])
        return cls(**{name: data[name] for name in _RECORD_FIELDS}, events=events)


_EVENT_FIELDS = SentEvent.__dataclass_fields__.keys()
_RECORD_FIELDS = tuple(name for name in RequestRecord.__dataclass_fields__ if name != "events")


@dataclass(frozen=True, slots=True)
class LatenessSummary:
    """How late events left relative to their schedule (``sent_ns - scheduled_ns``), in milliseconds."""

    events: int
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None

    def to_json(self) -> dict[str, Any]:
        return {"events": self.events, "p50_ms": self.p50_ms, "p99_ms": self.p99_ms, "max_ms": self.max_ms}


def lateness_summary(records: Iterable[RequestRecord], kinds: Collection[EventKind] | None = None) -> LatenessSummary:
    """Nearest-rank percentiles of lateness over every event (or those of ``kinds``) of ``records``."""
    values = sorted(
        e.lateness_ns for r in records for e in r.events if kinds is None or e.kind in kinds
    )
    if not values:
        return LatenessSummary(0, None, None, None)
    return LatenessSummary(
        events=len(values),
        p50_ms=_rank(values, 0.50) / 1e6,
        p99_ms=_rank(values, 0.99) / 1e6,
        max_ms=values[-1] / 1e6,
    )


def _rank(sorted_values: list[int], q: float) -> int:
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]
