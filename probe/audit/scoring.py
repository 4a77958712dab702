"""Provider audits: four score groups per provider and model, each from measured samples. Pure: values in, values out.

Every score is 0-100 (higher is better) with the number of samples behind it and a verdict; ``None`` with the
verdict ``no data`` when nothing could be judged, never 0. Each group keeps its evidence (counts, the worst cases
with their sample ids) so an audit page can show why.

Billing integrity, over successful samples whose provider reported usage:
    streamed = probe's own count of the streamed text (the sum of the trace's per-chunk tokenizer counts),
    billed = the reported output tokens, less reasoning tokens reported but never streamed (hidden reasoning is
    billed and unseen, so it is taken on trust and the sample counted as adjusted).
    A sample is *inflated* when billed > streamed x 1.10 + 5. Score: share of samples not inflated. Only for
    models whose tokenizer probe ships (`probe.audit.names.tokenizer_family`); others read "no data".
Streaming integrity, over successful non-audit samples with at least 20 streamed tokens:
    the *tail share* is the share of tokens arriving in the last 10 % of the time from the first token chunk to
    the last (that span taken as at least the tokens at 2,000 tok/s, faster than any endpoint decodes). A stream
    delivered as generated puts about 10 % there; one held back and released at the end puts nearly all. A sample is *buffered* when its tail share exceeds 50 %. Score: share of samples not buffered.
    Chunk counts and inter-chunk gaps (p50, p95, max) are evidence, not scored: some honest APIs send big chunks.
Model integrity, the weakest of three shares:
    names: audit samples whose reported model is the one asked for (`probe.audit.names.same_model`);
    canaries: audit canary answers that match the expected answer, or the answer the model's first-party provider
    gives most often (at temperature 0 the same model answers the same way); a canary the first-party provider
    gets wrong, and not always the same way, is left out (the model itself cannot do it reliably);
    max length: successful samples that tested their maximum (stopped with a length finish reason, or went over
    it: the audit's max-length probe always does) and stayed within it: streamed tokens <= max x 1.10 + 2 where
    the tokenizer is probe's (so inflated usage alone counts against billing, not here), else reported usage
    <= max.
Availability, over every request of the last 7 days (audit requests included):
    score: the success rate without rate limits (``rate_limited`` and ``quota`` errors left out); the page also
    shows the rate with them, the last 24 hours, and the errors by kind.
Verdicts: integrity scores pass at 95 or more, warn at 80 or more, else fail; availability passes at 99, warns
at 95.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from statistics import median
from typing import Literal, TypeAlias

from probe.audit.names import same_model, tokenizer_family
from probe.model import AUDIT_WORKLOAD, AuditProbe, ChunkTrace, OutcomeCount, Sample

Verdict: TypeAlias = Literal["pass", "warn", "fail", "no data"]

INTEGRITY_THRESHOLDS = (95.0, 80.0)
"""Pass at or above the first, warn at or above the second, else fail (billing, streaming, model)."""
AVAILABILITY_THRESHOLDS = (99.0, 95.0)
BILLING_TOLERANCE = 0.10
BILLING_SLACK_TOKENS = 5
TAIL_FRACTION = 0.10
BUFFERED_TAIL_SHARE = 0.5
MAX_PLAUSIBLE_TPS = 2000.0
"""No endpoint decodes one stream faster than this (tokens per second): a stream's span is taken as at least its
tokens at this speed, so a burst delivered in microseconds reads as one burst rather than as a tiny stream."""
MIN_STREAM_TOKENS = 20
LENGTH_TOLERANCE = 0.10
LENGTH_SLACK_TOKENS = 2
RATE_LIMIT_KINDS = frozenset({"rate_limited", "quota"})
LENGTH_FINISH_REASONS = frozenset({"length", "max_tokens", "max_output_tokens"})
"""Finish reasons (lower-cased) that say the maximum output length stopped generation, in every dialect."""
WORST_CASES = 5


@dataclass(frozen=True, slots=True)
class AuditScore:
    """A 0-100 score (``None`` when nothing could be judged), the samples behind it, and its verdict."""

    value: float | None
    n: int
    verdict: Verdict
    note: str = ""


def _score(good: int, n: int, thresholds: tuple[float, float], note: str = "") -> AuditScore:
    if n == 0:
        return AuditScore(None, 0, "no data", note)
    value = 100.0 * good / n
    verdict: Verdict = "pass" if value >= thresholds[0] else "warn" if value >= thresholds[1] else "fail"
    return AuditScore(value, n, verdict, note)


# --------------------------------------------------------------------------- billing


@dataclass(frozen=True, slots=True)
class BillingCase:
    """One sample's billed output against probe's own count of what it streamed."""

    sample_id: str
    started_at: str
    billed: int
    streamed: int
    hidden_reasoning: int = 0

    @property
    def billed_visible(self) -> int:
        return self.billed - self.hidden_reasoning

    @property
    def excess(self) -> int:
        return self.billed_visible - self.streamed

    @property
    def inflated(self) -> bool:
        return self.billed_visible > self.streamed * (1 + BILLING_TOLERANCE) + BILLING_SLACK_TOKENS


@dataclass(frozen=True, slots=True)
class BillingAudit:
    score: AuditScore
    tokenizer: str | None  # the family probe counted with; None: not comparable
    checked: int
    inflated: int
    adjusted_for_hidden_reasoning: int
    without_usage: int  # successful samples with no reported usage or no streamed text
    billed_tokens: int
    streamed_tokens: int
    median_ratio: float | None  # billed / streamed, per sample
    worst: tuple[BillingCase, ...]


def audit_billing(model: str, samples: Iterable[Sample]) -> BillingAudit:
    """Reported usage against the streamed text of each successful sample (see the module's rules)."""
    family = tokenizer_family(model)
    cases: list[BillingCase] = []
    without_usage = 0
    for sample in samples:
        if sample.status != "ok":
            continue
        if sample.tokens_source != "usage" or sample.output_tokens is None or not sample.trace.tokens:
            without_usage += 1
            continue
        hidden = (sample.reasoning_tokens or 0) if "r" not in sample.trace.channels else 0
        cases.append(BillingCase(sample.id, sample.started_at, sample.output_tokens, sum(sample.trace.tokens), hidden))
    if family is None:
        note = "not assessed: probe does not ship this model's tokenizer, so its counts differ by tokenizer"
        return BillingAudit(AuditScore(None, 0, "no data", note), None, 0, 0, 0, without_usage, 0, 0, None, ())
    inflated = [c for c in cases if c.inflated]
    ratios = [c.billed_visible / c.streamed for c in cases if c.streamed > 0]
    note = "" if cases else "no successful sample with reported usage"
    return BillingAudit(
        score=_score(len(cases) - len(inflated), len(cases), INTEGRITY_THRESHOLDS, note),
        tokenizer=family,
        checked=len(cases),
        inflated=len(inflated),
        adjusted_for_hidden_reasoning=sum(1 for c in cases if c.hidden_reasoning),
        without_usage=without_usage,
        billed_tokens=sum(c.billed_visible for c in cases),
        streamed_tokens=sum(c.streamed for c in cases),
        median_ratio=median(ratios) if ratios else None,
        worst=tuple(sorted(inflated, key=lambda c: (-c.excess, c.started_at, c.sample_id))[:WORST_CASES]),
    )


# --------------------------------------------------------------------------- streaming


@dataclass(frozen=True, slots=True)
class StreamCase:
    """The shape of one sample's stream: tokens, token-bearing chunks, tail share, span and largest gap."""

    sample_id: str
    started_at: str
    tokens: int
    chunks: int
    tail_share: float
    span_ms: float  # first to last token chunk
    max_gap_ms: float

    @property
    def buffered(self) -> bool:
        return self.tail_share > BUFFERED_TAIL_SHARE


@dataclass(frozen=True, slots=True)
class StreamingAudit:
    score: AuditScore
    checked: int
    buffered: int
    too_short: int  # successful samples with fewer than MIN_STREAM_TOKENS streamed tokens
    median_tail_share: float | None
    median_chunks: float | None
    median_tokens_per_chunk: float | None
    gap_p50_ms: float | None
    gap_p95_ms: float | None
    gap_max_ms: float | None
    worst: tuple[StreamCase, ...]


def stream_case(sample_id: str, started_at: str, trace: ChunkTrace) -> StreamCase | None:
    """The stream shape of one trace; ``None`` without a token chunk."""
    offsets, tokens = trace.offsets_us, trace.tokens
    total = sum(tokens)
    if not offsets or total == 0:
        return None
    first, last = offsets[0], offsets[-1]
    span_us = max(last - first, total / MAX_PLAUSIBLE_TPS * 1e6)
    cutoff = last - span_us * TAIL_FRACTION
    tail = sum(n for at, n in zip(offsets, tokens) if at >= cutoff)
    gaps = [b - a for a, b in zip(offsets, offsets[1:])]
    return StreamCase(
        sample_id, started_at, total, len(offsets), tail / total, (last - first) / 1000, max(gaps, default=0) / 1000
    )


def audit_streaming(samples: Iterable[Sample]) -> StreamingAudit:
    """Whether tokens arrive as generated, over successful ordinary samples (see the module's rules)."""
    cases: list[StreamCase] = []
    gaps_ms: list[float] = []
    too_short = 0
    for sample in samples:
        if sample.status != "ok" or sample.workload == AUDIT_WORKLOAD:
            continue
        case = stream_case(sample.id, sample.started_at, sample.trace)
        if case is None or case.tokens < MIN_STREAM_TOKENS:
            too_short += 1
            continue
        cases.append(case)
        offsets = sample.trace.offsets_us
        gaps_ms.extend((b - a) / 1000 for a, b in zip(offsets, offsets[1:]))
    buffered = [c for c in cases if c.buffered]
    gaps_ms.sort()
    note = "" if cases else f"no successful sample with at least {MIN_STREAM_TOKENS} streamed tokens"
    return StreamingAudit(
        score=_score(len(cases) - len(buffered), len(cases), INTEGRITY_THRESHOLDS, note),
        checked=len(cases),
        buffered=len(buffered),
        too_short=too_short,
        median_tail_share=median(c.tail_share for c in cases) if cases else None,
        median_chunks=median(c.chunks for c in cases) if cases else None,
        median_tokens_per_chunk=median(c.tokens / c.chunks for c in cases) if cases else None,
        gap_p50_ms=_quantile(gaps_ms, 0.50),
        gap_p95_ms=_quantile(gaps_ms, 0.95),
        gap_max_ms=gaps_ms[-1] if gaps_ms else None,
        worst=tuple(sorted(buffered, key=lambda c: (-c.tail_share, c.started_at, c.sample_id))[:WORST_CASES]),
    )


def _quantile(ordered: Sequence[float], q: float) -> float | None:
    """Nearest-rank quantile of sorted values."""
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


# --------------------------------------------------------------------------- model integrity


@dataclass(frozen=True, slots=True)
class CanaryResult:
    """One canary's answers from one provider, with what the first-party provider answered."""

    canary: str
    expected: str
    answers: tuple[tuple[str, int], ...]  # (normalized answer, how many times), most frequent first
    asked: int  # audit requests for it, failed ones included
    passed: int
    reference: str | None  # the first-party provider's most frequent answer, when there is one
    counted: bool  # False when the first-party provider gets it wrong, and not always the same way

    @property
    def answered(self) -> int:
        return sum(count for _, count in self.answers)


@dataclass(frozen=True, slots=True)
class LengthCase:
    """A sample that produced more than the maximum it asked for."""

    sample_id: str
    started_at: str
    max_tokens: int
    billed: int | None
    streamed: int
    finish_reason: str | None


@dataclass(frozen=True, slots=True)
class ModelIntegrityAudit:
    score: AuditScore
    first_party: bool
    reference: bool  # a first-party provider's canary answers were there to compare with
    names_checked: int
    names_mismatched: int
    reported: tuple[tuple[str, int], ...]  # reported model names, most frequent first
    canaries: tuple[CanaryResult, ...]
    length_checked: int
    length_violations: int
    length_probes: int  # dedicated max-length probes among them
    length_probes_stopped: int  # ... that ended with a length finish reason
    worst_lengths: tuple[LengthCase, ...]

    @property
    def canaries_counted(self) -> int:
        return sum(r.answered for r in self.canaries if r.counted)

    @property
    def canaries_passed(self) -> int:
        return sum(r.passed for r in self.canaries if r.counted)


def checks_length(sample: Sample) -> bool:
    """Whether a sample tested its maximum: successful, with a count to hold against the maximum, and either
    stopped by it (a length finish reason) or over it. An answer that ended on its own below the maximum says
    nothing about whether the maximum would have been honoured."""
    if sample.status != "ok" or sample.max_tokens is None:
        return False
    if tokenizer_family(sample.model) is None and sample.tokens_source != "usage":
        return False
    return (sample.finish_reason or "").lower() in LENGTH_FINISH_REASONS or length_violation(sample) is not None


def length_violation(sample: Sample) -> LengthCase | None:
    """A sample that generated more than its maximum: by probe's own count of the streamed text where probe has the
    model's tokenizer (so inflated usage alone is a billing matter, not this), else by its reported usage."""
    if sample.status != "ok" or sample.max_tokens is None:
        return None
    streamed = sum(sample.trace.tokens)
    billed = sample.output_tokens if sample.tokens_source == "usage" else None
    if tokenizer_family(sample.model) is not None:
        over = streamed > sample.max_tokens * (1 + LENGTH_TOLERANCE) + LENGTH_SLACK_TOKENS
    else:
        over = billed is not None and billed > sample.max_tokens
    if not over:
        return None
    return LengthCase(sample.id, sample.started_at, sample.max_tokens, billed, streamed, sample.finish_reason)


def audit_model_integrity(
    model: str,
    samples: Iterable[Sample],
    probes: Sequence[tuple[Sample, AuditProbe]],
    reference: Sequence[tuple[Sample, AuditProbe]] = (),
) -> ModelIntegrityAudit:
    """Reported names, canary answers and max-length compliance (see the module's rules).

    ``samples`` are successful samples of any workload; ``probes`` this provider's audit requests for ``model``;
    ``reference`` the audit requests of the model's first-party provider (this one's own when it is first-party).
    """
    reported: Counter[str] = Counter()
    mismatched = 0
    for sample, probe in probes:
        if sample.response_model:
            reported[sample.response_model] += 1
            if not (same_model(probe.requested_model, sample.response_model) or same_model(model, sample.response_model)):
                mismatched += 1
    names_checked = sum(reported.values())

    canaries = _canary_results(probes, reference)

    by_id = {s.id: s for s in samples if s.status == "ok"}
    by_id.update((s.id, s) for s, _ in probes if s.status == "ok")
    violations = [case for s in by_id.values() if (case := length_violation(s)) is not None]
    length_ids = {s.id for s in by_id.values() if checks_length(s)}
    checked_lengths = len(length_ids)
    length_probes = [s for s, p in probes if p.kind == "max_length" and s.status == "ok"]

    counted = sum(r.answered for r in canaries if r.counted)
    parts = [
        (names_checked - mismatched, names_checked),
        (sum(r.passed for r in canaries if r.counted), counted),
        (checked_lengths - len(violations), checked_lengths),
    ]
    judged = [(good, n) for good, n in parts if n]
    counted_canaries = {r.canary for r in canaries if r.counted}
    evidence = len(
        length_ids
        | {s.id for s, _ in probes if s.response_model}
        | {s.id for s, p in probes if p.canary in counted_canaries and s.status == "ok" and p.answer is not None}
    )
    if judged:
        good, n = min(judged, key=lambda part: part[0] / part[1])
        weakest = _score(good, n, INTEGRITY_THRESHOLDS)
        note = "" if probes else "max length only: no `probe audit` requests in the window"
        score = AuditScore(weakest.value, evidence, weakest.verdict, note)
    else:
        score = AuditScore(None, 0, "no data", "no successful sample to judge")
    return ModelIntegrityAudit(
        score=score,
        first_party=any(p.first_party for _, p in probes),
        reference=bool(reference),
        names_checked=names_checked,
        names_mismatched=mismatched,
        reported=tuple(sorted(reported.items(), key=lambda item: (-item[1], item[0]))),
        canaries=canaries,
        length_checked=checked_lengths,
        length_violations=len(violations),
        length_probes=len(length_probes),
        length_probes_stopped=sum(1 for s in length_probes if (s.finish_reason or "").lower() in LENGTH_FINISH_REASONS),
        worst_lengths=tuple(
            sorted(violations, key=lambda c: (-(max(c.billed or 0, c.streamed) - c.max_tokens), c.started_at))[:WORST_CASES]
        ),
    )


def _canary_results(
    probes: Sequence[tuple[Sample, AuditProbe]], reference: Sequence[tuple[Sample, AuditProbe]]
) -> tuple[CanaryResult, ...]:
    def answers(rows: Sequence[tuple[Sample, AuditProbe]], canary: str) -> Counter[str]:
        return Counter(
            p.answer for s, p in rows if p.kind == "canary" and p.canary == canary and s.status == "ok" and p.answer is not None
        )

    results = []
    for canary in sorted({p.canary for _, p in probes if p.kind == "canary" and p.canary}):
        expected = next(p.expected or "" for _, p in probes if p.canary == canary)
        own = answers(probes, canary)
        theirs = answers(reference, canary)
        top = min(theirs.items(), key=lambda item: (-item[1], item[0]))[0] if theirs else None
        reference_right = sum(n for answer, n in theirs.items() if answer == expected) * 2 > sum(theirs.values())
        accepted = {expected} | ({top} if top is not None else set())
        results.append(
            CanaryResult(
                canary=canary,
                expected=expected,
                answers=tuple(sorted(own.items(), key=lambda item: (-item[1], item[0]))),
                asked=sum(1 for _, p in probes if p.canary == canary),
                passed=sum(n for answer, n in own.items() if answer in accepted),
                reference=top,
                counted=not theirs or reference_right or len(theirs) == 1,
            )
        )
    return tuple(results)


# --------------------------------------------------------------------------- availability


@dataclass(frozen=True, slots=True)
class Rates:
    """Outcomes over one span: all requests, the successful ones, and those refused by rate limits or quota."""

    samples: int
    ok: int
    rate_limited: int
    error_kinds: tuple[tuple[str, int], ...]

    @property
    def success_rate(self) -> float | None:
        return self.ok / self.samples if self.samples else None

    @property
    def success_rate_without_limits(self) -> float | None:
        judged = self.samples - self.rate_limited
        return self.ok / judged if judged else None


@dataclass(frozen=True, slots=True)
class AvailabilityAudit:
    score: AuditScore
    day: Rates
    week: Rates


def audit_availability(outcomes: Iterable[OutcomeCount]) -> AvailabilityAudit:
    """Success rates over the last 24 hours and 7 days, with and without rate limits (see the module's rules)."""
    rows = list(outcomes)
    day, week = _rates(r for r in rows if r.recent), _rates(rows)
    judged = week.samples - week.rate_limited
    note = "" if judged else ("every request was rate limited" if week.samples else "no request in the last 7 days")
    return AvailabilityAudit(_score(week.ok, judged, AVAILABILITY_THRESHOLDS, note), day, week)


def _rates(rows: Iterable[OutcomeCount]) -> Rates:
    samples = ok = limited = 0
    kinds: Counter[str] = Counter()
    for row in rows:
        samples += row.count
        if row.status == "ok":
            ok += row.count
            continue
        kind = row.error_kind or "unknown"
        kinds[kind] += row.count
        if kind in RATE_LIMIT_KINDS:
            limited += row.count
    return Rates(samples, ok, limited, tuple(sorted(kinds.items(), key=lambda item: (-item[1], item[0]))))


# --------------------------------------------------------------------------- one provider and model


@dataclass(frozen=True, slots=True)
class ProviderAudit:
    """The four score groups of one provider serving one model, with their evidence."""

    provider: str
    model: str
    audit_samples: int  # `probe audit` requests in the window
    last_audit_at: str | None
    billing: BillingAudit
    streaming: StreamingAudit
    integrity: ModelIntegrityAudit
    availability: AvailabilityAudit

    @property
    def scores(self) -> tuple[tuple[str, AuditScore], ...]:
        return (
            ("Billing integrity", self.billing.score),
            ("Streaming integrity", self.streaming.score),
            ("Model integrity", self.integrity.score),
            ("Availability", self.availability.score),
        )


def audit_provider(
    provider: str,
    model: str,
    *,
    samples: Sequence[Sample],
    probes: Sequence[tuple[Sample, AuditProbe]] = (),
    reference: Sequence[tuple[Sample, AuditProbe]] = (),
    outcomes: Iterable[OutcomeCount] = (),
) -> ProviderAudit:
    """All four groups for one provider and model. ``samples``: its recent successful samples (traces included);
    ``probes``: its audit requests; ``reference``: the first-party provider's; ``outcomes``: its request counts."""
    evidence = list(samples)
    by_id = {s.id for s in evidence}
    evidence += [s for s, _ in probes if s.id not in by_id]
    return ProviderAudit(
        provider=provider,
        model=model,
        audit_samples=len(probes),
        last_audit_at=max((s.started_at for s, _ in probes), default=None),
        billing=audit_billing(model, evidence),
        streaming=audit_streaming(evidence),
        integrity=audit_model_integrity(model, evidence, probes, reference),
        availability=audit_availability(outcomes),
    )


def audit_all(
    samples: Mapping[tuple[str, str], Sequence[Sample]],
    probes: Sequence[tuple[Sample, AuditProbe]],
    outcomes: Sequence[OutcomeCount],
) -> dict[tuple[str, str], ProviderAudit]:
    """Audits for every (provider, model) with samples, probes or outcomes. A model's canary answers are compared
    with those of the providers its audits marked first-party."""
    own: dict[tuple[str, str], list[tuple[Sample, AuditProbe]]] = {}
    first_party: dict[str, list[tuple[Sample, AuditProbe]]] = {}
    for sample, probe in probes:
        own.setdefault((sample.provider, sample.model), []).append((sample, probe))
        if probe.first_party:
            first_party.setdefault(sample.model, []).append((sample, probe))
    counts: dict[tuple[str, str], list[OutcomeCount]] = {}
    for row in outcomes:
        counts.setdefault((row.provider, row.model), []).append(row)
    keys = sorted({*samples, *own, *counts})
    return {
        (provider, model): audit_provider(
            provider,
            model,
            samples=samples.get((provider, model), ()),
            probes=own.get((provider, model), ()),
            reference=first_party.get(model, ()),
            outcomes=counts.get((provider, model), ()),
        )
        for provider, model in keys
    }


@dataclass(frozen=True, slots=True)
class AuditSet:
    """The audits a report shows: every (provider, model) with requests from ``since`` up to ``until``."""

    since: str
    until: str
    audits: Mapping[tuple[str, str], ProviderAudit]

    def providers(self, model: str) -> tuple[str, ...]:
        return tuple(sorted(p for p, m in self.audits if m == model))

    def get(self, provider: str, model: str) -> ProviderAudit | None:
        return self.audits.get((provider, model))
