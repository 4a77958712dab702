"""Latency profiles and the pure, seeded schedule of a simulated response."""

from __future__ import annotations

import pytest

from probe.sim.profiles import PROFILE_SETS, LatencyProfile, PlannedEvent, schedule

JITTERY = LatencyProfile(
    ttft_s=0.2, ttft_jitter_s=0.05, inter_chunk_s=0.01, chunk_jitter_s=0.004, tokens_per_chunk=3, output_tokens=50
)


def kinds(events: tuple[PlannedEvent, ...]) -> list[str]:
    return [e.kind for e in events]


def test_same_seed_same_plan() -> None:
    """A seed fixes the whole plan; another seed moves the times but not the shape."""
    a, b, c = schedule(JITTERY, 7), schedule(JITTERY, 7), schedule(JITTERY, 8)
    assert a == b
    assert a != c
    assert kinds(a.events) == kinds(c.events)


def test_sequence_and_token_counts() -> None:
    """Role first, then token chunks of ``tokens_per_chunk`` (last one shorter), then finish, usage, done."""
    plan = schedule(JITTERY, 1, include_usage=True)
    assert kinds(plan.events) == ["role"] + ["answer"] * 17 + ["finish", "usage", "done"]
    assert [e.n_tokens for e in plan.events if e.kind == "answer"] == [3] * 16 + [2]
    assert plan.answer_tokens == plan.completion_tokens == 50
    assert plan.finish_reason == "stop"
    assert all(e.n_tokens == 0 for e in plan.events if e.kind != "answer")


def test_offsets_never_decrease_nor_go_negative() -> None:
    """Clipped gaussian jitter keeps offsets >= 0 and in order, whatever the seed."""
    wild = LatencyProfile(ttft_s=0.01, ttft_jitter_s=1.0, inter_chunk_s=0.001, chunk_jitter_s=1.0)
    for seed in range(50):
        offsets = [e.offset_s for e in schedule(wild, seed).events]
        assert offsets[0] >= 0
        assert offsets == sorted(offsets)


def test_without_jitter_times_are_exact() -> None:
    """No jitter: first token at ttft, then one chunk per inter_chunk_s, finish one gap after the last."""
    profile = LatencyProfile(ttft_s=0.5, inter_chunk_s=0.1, output_tokens=3)
    plan = schedule(profile, 0)
    assert [(e.kind, round(e.offset_s, 9), e.n_tokens) for e in plan.events] == [
        ("role", 0.0, 0),
        ("answer", 0.5, 1),
        ("answer", 0.6, 1),
        ("answer", 0.7, 1),
        ("finish", 0.8, 0),
        ("done", 0.8, 0),
    ]
    assert plan.ttft_s == plan.ttfat_s == 0.5


def test_role_chunk_delay_is_kept_but_never_after_the_first_token() -> None:
    """The role chunk leaves at role_chunk_delay_s, or with the first token if that comes sooner."""
    early = schedule(LatencyProfile(ttft_s=0.3, inter_chunk_s=0.01, role_chunk_delay_s=0.05), 0)
    assert early.events[0] == PlannedEvent(0.05, "role")
    late = schedule(LatencyProfile(ttft_s=0.3, inter_chunk_s=0.01, role_chunk_delay_s=2.0), 0)
    assert late.events[0] == PlannedEvent(0.3, "role")


def test_max_tokens_caps_reasoning_then_answer() -> None:
    """Reasoning tokens come first and count towards the cap; a binding cap finishes with 'length'."""
    profile = LatencyProfile(ttft_s=0.1, inter_chunk_s=0.01, output_tokens=5, reasoning_tokens=4)
    full = schedule(profile, 0)
    assert kinds(full.events) == ["role"] + ["reasoning"] * 4 + ["answer"] * 5 + ["finish", "done"]
    assert (full.reasoning_tokens, full.answer_tokens, full.finish_reason) == (4, 5, "stop")
    assert full.ttft_s is not None and full.ttfat_s is not None and full.ttft_s < full.ttfat_s

    capped = schedule(profile, 0, 6)
    assert (capped.reasoning_tokens, capped.answer_tokens, capped.finish_reason) == (4, 2, "length")
    only_reasoning = schedule(profile, 0, 3)
    assert (only_reasoning.reasoning_tokens, only_reasoning.answer_tokens) == (3, 0)
    assert only_reasoning.ttfat_s is None
    exact = schedule(profile, 0, 9)
    assert exact.finish_reason == "stop"


def test_empty_response_still_finishes() -> None:
    """A profile with no tokens yields role, finish and done: the 'empty' case clients must classify."""
    plan = schedule(LatencyProfile(ttft_s=0.1, inter_chunk_s=0.01, output_tokens=0), 0)
    assert kinds(plan.events) == ["role", "finish", "done"]
    assert plan.ttft_s is None


@pytest.mark.parametrize(
    "field, value",
    [("tokens_per_chunk", 0), ("ttft_s", -0.1), ("inter_chunk_s", float("nan")), ("output_tokens", 1.5)],
)
def test_invalid_profiles_are_refused(field: str, value: float) -> None:
    """A profile that cannot be scheduled is refused when built, naming the field."""
    fields = {"ttft_s": 0.1, "inter_chunk_s": 0.01, field: value}
    with pytest.raises(ValueError, match=field):
        LatencyProfile(**fields)  # type: ignore[arg-type]


def test_named_profiles_match_public_figures() -> None:
    """The demo profiles aim at the published medians: TTFT and mean decode speed."""
    mini, nano = PROFILE_SETS["demo"]["gpt-4.1-mini"], PROFILE_SETS["demo"]["gpt-4.1-nano"]
    assert (mini.ttft_s, nano.ttft_s) == (0.56, 0.47)
    assert mini.tokens_per_s == pytest.approx(80.2)
    assert nano.tokens_per_s == pytest.approx(125.3)


def test_seeded_mean_speed_is_close_to_the_profile() -> None:
    """Over many seeds the planned decode speed averages to the profile's tokens per second."""
    profile = PROFILE_SETS["demo"]["gpt-4.1-nano"]
    speeds = []
    for seed in range(200):
        plan = schedule(profile, seed)
        answers = [e for e in plan.events if e.kind == "answer"]
        speeds.append((plan.answer_tokens - answers[0].n_tokens) / (answers[-1].offset_s - answers[0].offset_s))
    assert sum(speeds) / len(speeds) == pytest.approx(profile.tokens_per_s, rel=0.03)
