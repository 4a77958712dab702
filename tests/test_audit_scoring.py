"""Provider audit scores over literal samples: each rule, its tolerance, and what it must not flag."""

from __future__ import annotations

import pytest

from probe.audit.canaries import CANARIES, canary_by_id, canary_for_prompt, normalize_answer
from probe.audit.names import base_name, same_model, tokenizer_family
from probe.audit.scoring import (
    AuditScore,
    audit_all,
    audit_availability,
    audit_billing,
    audit_model_integrity,
    audit_streaming,
    stream_case,
)
from probe.model import AUDIT_WORKLOAD, AuditProbe, ChunkTrace, OutcomeCount, Sample

MODEL = "gpt-4.1-mini"


def sample(
    id: str = "s",
    *,
    provider: str = "p",
    model: str = MODEL,
    billed: int | None = 40,
    tokens: tuple[int, ...] = (1,) * 40,
    offsets_us: tuple[int, ...] | None = None,
    channels: str | None = None,
    reasoning: int | None = None,
    max_tokens: int | None = 300,
    finish: str | None = "stop",
    workload: str | None = None,
    response_model: str | None = None,
    status: str = "ok",
) -> Sample:
    offsets = offsets_us if offsets_us is not None else tuple(500_000 + 10_000 * i for i in range(len(tokens)))
    return Sample(
        id, "run", provider, model, "openai-chat", f"2025-06-04T10:00:{len(id):02d}.000Z", status,  # type: ignore[arg-type]
        output_tokens=billed, tokens_source="usage" if billed is not None else "tokenizer", reasoning_tokens=reasoning,
        max_tokens=max_tokens, finish_reason=finish, workload=workload, response_model=response_model,
        trace=ChunkTrace(offsets, tokens, channels if channels is not None else "a" * len(tokens)),
    )  # fmt: skip


# --------------------------------------------------------------------------- canaries and names


def test_answers_are_compared_normalized() -> None:
    """Case, whitespace, quotes, emphasis, a final full stop and thousands separators do not matter; words do."""
    assert normalize_answer("  **Canberra.** ") == "canberra"
    assert normalize_answer('"391"') == normalize_answer("391.") == "391"
    assert normalize_answer("1,234") == "1234"
    assert normalize_answer("The capital is Canberra") != "canberra"
    assert len(normalize_answer("x" * 500)) == 64


def test_canaries_are_one_definition_with_distinct_prompts_and_wrong_decoys() -> None:
    assert len({c.id for c in CANARIES}) == len({c.prompt for c in CANARIES}) == len(CANARIES) >= 4
    for canary in CANARIES:
        assert canary_for_prompt(canary.prompt) is canary_by_id(canary.id) is canary
        assert normalize_answer(canary.decoy) != canary.expected


@pytest.mark.parametrize(
    ("asked", "reported", "same"),
    [
        ("gpt-4.1-mini", "gpt-4.1-mini-2025-04-14", True),
        ("gpt-4.1-mini", "openai/gpt-4.1-mini", True),
        ("gpt-4", "gpt-4-0613", True),
        ("claude-3-5-sonnet-latest", "claude-3-5-sonnet-20241022", True),
        ("gpt-4.1-mini", "gpt-4.1-nano", False),
        ("gpt-4.1", "gpt-4.1-mini", False),
        ("gpt-4.1-mini", "llama-3.1-8b-instruct", False),
        ("gpt-4.1-mini", "", False),
    ],
)
def test_a_dated_snapshot_is_the_same_model_another_size_is_not(asked: str, reported: str, same: bool) -> None:
    assert same_model(asked, reported) is same


def test_tokenizer_families_probe_ships() -> None:
    assert tokenizer_family("gpt-4.1-mini") == tokenizer_family("o4-mini") == tokenizer_family("openai/gpt-5") == "o200k_base"
    assert tokenizer_family("gpt-4-0613") == tokenizer_family("gpt-3.5-turbo") == "cl100k_base"
    assert tokenizer_family("claude-haiku-4-5") is None and tokenizer_family("omni-moderation") is None
    assert base_name("OpenAI/GPT-4.1-mini-2025-04-14") == "gpt-4.1-mini"


# --------------------------------------------------------------------------- billing


def test_honest_usage_passes_and_inflated_usage_fails() -> None:
    """Usage equal to the streamed count is clean; 40 streamed billed as 70 is inflated and listed as a worst case."""
    honest = audit_billing(MODEL, [sample(f"h{i}") for i in range(5)])
    assert honest.score == AuditScore(100.0, 5, "pass") and honest.median_ratio == 1.0
    inflated = audit_billing(MODEL, [sample("a", billed=70), sample("bb", billed=40), sample("ccc", billed=50)])
    assert (inflated.checked, inflated.inflated) == (3, 2)
    assert inflated.score.verdict == "fail" and inflated.score.value == pytest.approx(100 / 3)
    assert [c.sample_id for c in inflated.worst] == ["a", "ccc"] and inflated.worst[0].excess == 30


def test_billing_tolerance_is_ten_percent_plus_five_tokens() -> None:
    """40 streamed: 49 billed is within 40 x 1.1 + 5 = 49; 50 is not."""
    assert not audit_billing(MODEL, [sample(billed=49)]).inflated
    assert audit_billing(MODEL, [sample(billed=50)]).inflated == 1


def test_hidden_reasoning_is_taken_on_trust_streamed_reasoning_is_counted() -> None:
    """Reasoning billed but never streamed is subtracted; reasoning that streamed is part of the streamed count."""
    hidden = audit_billing(MODEL, [sample(billed=140, reasoning=100)])
    assert (hidden.inflated, hidden.adjusted_for_hidden_reasoning) == (0, 1)
    streamed = audit_billing(MODEL, [sample(billed=140, reasoning=100, channels="r" * 10 + "a" * 30)])
    assert (streamed.inflated, streamed.adjusted_for_hidden_reasoning) == (1, 0)


def test_billing_needs_usage_and_the_models_tokenizer() -> None:
    """No usage: not checked (counted apart). A model probe has no tokenizer for: no data, never 0."""
    no_usage = audit_billing(MODEL, [sample(billed=None)])
    assert (no_usage.checked, no_usage.without_usage, no_usage.score.verdict) == (0, 1, "no data")
    claude = audit_billing("claude-haiku-4-5", [sample(model="claude-haiku-4-5", billed=90)])
    assert claude.score.value is None and claude.score.verdict == "no data" and "tokenizer" in claude.score.note


# --------------------------------------------------------------------------- streaming


def test_a_stream_released_at_the_end_is_buffered_an_even_one_is_not() -> None:
    """Even arrival puts about 10 % in the last 10 %; a burst puts nearly all of it there, however fast."""
    even = stream_case("e", "t", ChunkTrace(tuple(range(0, 400_000, 10_000)), (1,) * 40, "a" * 40))
    assert even is not None and not even.buffered and even.tail_share == pytest.approx(0.1, abs=0.03)
    burst_offsets = (300_000,) + tuple(2_000_000 + i for i in range(39))  # first token early, the rest in 40 µs
    burst = stream_case("b", "t", ChunkTrace(burst_offsets, (1,) * 40, "a" * 40))
    assert burst is not None and burst.buffered and burst.tail_share > 0.9
    one_read = stream_case("o", "t", ChunkTrace((900_000,) * 40, (1,) * 40, "a" * 40))
    assert one_read is not None and one_read.buffered


def test_streaming_score_leaves_out_audit_and_short_samples() -> None:
    buffered = sample("b", offsets_us=(100_000,) * 40)
    samples = [sample("e"), buffered, sample("short", tokens=(1,) * 5), sample("audit", workload=AUDIT_WORKLOAD, offsets_us=(1,) * 40)]
    audit = audit_streaming(samples)
    assert (audit.checked, audit.buffered, audit.too_short) == (2, 1, 1)
    assert audit.score.value == 50.0 and audit.worst[0].sample_id == "b"
    assert audit.gap_max_ms == 10.0 and audit.gap_p50_ms == 0.0
    assert audit_streaming([]).score == AuditScore(None, 0, "no data", audit_streaming([]).score.note)


# --------------------------------------------------------------------------- model integrity


def canary_probe(sample_id: str, canary: str, answer: str | None, *, provider: str = "p", first_party: bool = False,
                 reported: str | None = "gpt-4.1-mini-2025-04-14") -> tuple[Sample, AuditProbe]:  # fmt: skip
    expected = canary_by_id(canary).expected  # type: ignore[union-attr]
    s = sample(sample_id, provider=provider, tokens=(1,), billed=1, max_tokens=32, workload=AUDIT_WORKLOAD, response_model=reported)
    return s, AuditProbe(sample_id, "canary", "gpt-4.1-mini", first_party, canary, expected, answer)


def test_honest_model_passes_every_check() -> None:
    probes = [canary_probe(f"c{i}", c.id, c.expected) for i, c in enumerate(CANARIES)]
    audit = audit_model_integrity(MODEL, [sample("cap", tokens=(1,) * 16, max_tokens=16, finish="length")], probes)
    assert audit.score.verdict == "pass" and audit.score.value == 100.0
    assert (audit.names_checked, audit.names_mismatched, audit.canaries_passed, audit.canaries_counted) == (4, 0, 4, 4)
    assert (audit.length_checked, audit.length_violations) == (1, 0)


def test_another_model_name_or_wrong_canaries_fail() -> None:
    """A different family reported fails the name check; wrong answers fail the canaries; the weakest part wins."""
    renamed = [canary_probe("c", "capital", "canberra", reported="llama-3.1-8b-instruct")]
    assert audit_model_integrity(MODEL, [], renamed).score.value == 0.0
    wrong = [canary_probe("c1", "capital", "sydney"), canary_probe("c2", "arithmetic", "391")]
    audit = audit_model_integrity(MODEL, [], wrong)
    assert audit.score.value == 50.0 and audit.score.verdict == "fail"


def test_canaries_are_judged_against_the_first_party_provider() -> None:
    """The first-party provider's consistent answer is accepted even when wrong (the model says so); where the
    first-party provider is itself unreliable, the canary is left out."""
    reference = [canary_probe("r1", "backwards", "maertz", provider="openai", first_party=True),
                 canary_probe("r2", "backwards", "maertz", provider="openai", first_party=True)]  # fmt: skip
    same = audit_model_integrity(MODEL, [], [canary_probe("c", "backwards", "maertz")], reference)
    assert same.reference and same.canaries[0].reference == "maertz" and same.score.value == 100.0
    other = audit_model_integrity(MODEL, [], [canary_probe("c", "backwards", "sterma")], reference)
    assert other.score.value == 0.0
    shaky = [canary_probe("r1", "backwards", "maertz", first_party=True), canary_probe("r2", "backwards", "mearts", first_party=True)]
    left_out = audit_model_integrity(MODEL, [], [canary_probe("c", "backwards", "sterma"), canary_probe("n", "capital", "canberra")], shaky)
    assert [r.counted for r in left_out.canaries] == [False, True] and left_out.score.value == 100.0


def test_an_ignored_maximum_fails_a_stopped_answer_says_nothing() -> None:
    """40 tokens streamed against a maximum of 16 is a violation; an answer that ended below its maximum is not
    a test of it; inflated usage alone is a billing matter, not this one."""
    over = sample("over", tokens=(1,) * 40, max_tokens=16, finish="stop", billed=40)
    audit = audit_model_integrity(MODEL, [over, sample("short", max_tokens=300)], [])
    assert (audit.length_checked, audit.length_violations, audit.score.value) == (1, 1, 0.0)
    assert audit.worst_lengths[0].streamed == 40 and "max length only" in audit.score.note
    billed_only = sample("b", tokens=(1,) * 16, max_tokens=16, finish="length", billed=40)
    assert audit_model_integrity(MODEL, [billed_only], []).length_violations == 0


# --------------------------------------------------------------------------- availability and assembly


def test_availability_with_and_without_rate_limits() -> None:
    rows = [
        OutcomeCount("p", MODEL, "ok", None, True, 8),
        OutcomeCount("p", MODEL, "error", "rate_limited", True, 2),
        OutcomeCount("p", MODEL, "ok", None, False, 80),
        OutcomeCount("p", MODEL, "error", "server", False, 2),
        OutcomeCount("p", MODEL, "error", "quota", False, 8),
    ]
    audit = audit_availability(rows)
    assert (audit.day.samples, audit.day.success_rate, audit.day.success_rate_without_limits) == (10, 0.8, 1.0)
    assert audit.week.samples == 100 and audit.week.success_rate == 0.88
    assert audit.score.value == pytest.approx(100 * 88 / 90) and audit.score.verdict == "warn"
    assert audit.week.error_kinds == (("quota", 8), ("rate_limited", 2), ("server", 2))
    assert audit_availability([]).score.verdict == "no data"


def test_audit_all_compares_each_provider_with_the_first_party_one() -> None:
    first = [canary_probe("r", "capital", "canberra", provider="openai", first_party=True)]
    reseller = [canary_probe("x", "capital", "sydney", provider="reseller")]
    audits = audit_all({("openai", MODEL): [sample("o", provider="openai")]}, first + reseller, [])
    assert sorted(audits) == [("openai", MODEL), ("reseller", MODEL)]
    assert audits[("openai", MODEL)].integrity.first_party and audits[("openai", MODEL)].integrity.score.value == 100.0
    resold = audits[("reseller", MODEL)]
    assert resold.integrity.reference and resold.integrity.score.verdict == "fail"
    assert resold.audit_samples == 1 and resold.availability.score.verdict == "no data"
