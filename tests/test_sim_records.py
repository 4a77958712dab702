"""Simulator records: JSON round trip and the lateness summary."""

from __future__ import annotations

import json

from probe.sim.records import RequestRecord, SentEvent, lateness_summary


def record(lateness_ns: list[int], seq: int = 1) -> RequestRecord:
    events = tuple(
        SentEvent("answer" if i else "role", 1 if i else 0, 1000 * i, 1000 * i + late, 1000 * i + late)
        for i, late in enumerate(lateness_ns)
    )
    return RequestRecord(
        seq=seq, request_id=f"r{seq}", connection_id=1, method="POST", path="/v1/chat/completions",
        status=200, received_ns=0, headers_sent_ns=5, model="m", seed=3, events=events,
        prompt_tokens=2, completion_tokens=len(events) - 1, reasoning_tokens=0, finish_reason="stop",
    )  # fmt: skip


def test_json_round_trip() -> None:
    """A record survives to_json -> JSON text -> from_json unchanged (the subprocess path)."""
    original = record([0, 10, 20])
    assert RequestRecord.from_json(json.loads(json.dumps(original.to_json()))) == original


def test_first_token_sent() -> None:
    """The first token-bearing event, not the role chunk, is the first token."""
    first = record([7, 3, 1]).first_token
    assert first is not None and (first.kind, first.sent_ns) == ("answer", 1003)


def test_lateness_summary_percentiles() -> None:
    """Nearest-rank p50/p99/max over all events, in milliseconds; filterable by kind; empty gives None."""
    summary = lateness_summary([record([i * 1_000_000 for i in range(1, 101)])])
    assert (summary.events, summary.p50_ms, summary.p99_ms, summary.max_ms) == (100, 50.0, 99.0, 100.0)
    answers = lateness_summary([record([5_000_000, 0, 0])], kinds={"answer"})
    assert (answers.events, answers.max_ms) == (2, 0.0)
    empty = lateness_summary([])
    assert (empty.events, empty.p50_ms, empty.p99_ms, empty.max_ms) == (0, None, None, None)
