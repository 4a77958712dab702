"""Provider audits in a report set: the audit table of a comparison, and one audit page per provider. Pure.

Scores come from `probe.audit.scoring`; this module only lays them out. Provider names, model names and canary
answers came from outside (config, endpoints) and go through `escape_md`; page names are slugs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from probe.audit import scoring
from probe.audit.canaries import canary_by_id
from probe.audit.scoring import AuditScore, AuditSet, ProviderAudit, Rates
from probe.report import format as fmt
from probe.report.escape import escape_md, slugify

NO_AUDITS = "No completed audits: run `probe audit` (its requests count for availability, never for speed), then `probe report`."


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One provider serving one of a comparison's models: its four scores and its audit page."""

    provider: str
    model: str
    name: str  # the model's display name
    page: str  # file name of the provider's audit page, relative to the report
    audit: ProviderAudit


def audit_pages(providers: Iterable[str]) -> dict[str, str]:
    """A distinct page name per provider: ``audit-<slug>.md``, with a short hash when two names slug alike."""
    names = sorted(set(providers))
    slugs = {p: slugify(p) for p in names}
    taken: dict[str, int] = {}
    for slug in slugs.values():
        taken[slug] = taken.get(slug, 0) + 1
    return {
        p: f"audit-{slug}.md" if taken[slug] == 1 else f"audit-{slug}-{hashlib.sha1(p.encode()).hexdigest()[:8]}.md"
        for p, slug in slugs.items()
    }


def audit_rows(audits: AuditSet | None, pages: Mapping[str, str], models: Sequence[tuple[str, str]]) -> tuple[AuditRow, ...]:
    """Rows for ``models`` (canonical name, display name), by provider then in the given model order."""
    if audits is None:
        return ()
    rows = []
    for provider in sorted({p for model, _ in models for p in audits.providers(model)}):
        for model, name in models:
            found = audits.get(provider, model)
            if found is not None:
                rows.append(AuditRow(provider, model, name, pages[provider], found))
    return tuple(rows)


# --------------------------------------------------------------------------- the comparison's table


def score_cell(score: AuditScore, *, percent: bool = False) -> str:
    """``100 pass (40)``; ``99.5% warn (52)`` for availability; ``no data`` when nothing was judged."""
    if score.value is None:
        return "no data"
    value = f"{score.value:.1f}".removesuffix(".0") + ("%" if percent else "")
    verdict = f"**{score.verdict}**" if score.verdict == "fail" else score.verdict
    return f"{value} {verdict} ({fmt.count(score.n)})"


def audit_table(rows: Sequence[AuditRow], since: str | None, until: str | None) -> list[str]:
    """The comparison report's "Audits" section body."""
    if not rows:
        return [NO_AUDITS]
    lines = [
        f"Four score groups per provider over the 7 days ending {fmt.timestamp(until or '')}, 0 to 100 (higher is "
        "better), each with its verdict and, in brackets, the samples behind it: **billing integrity** (reported "
        "usage against probe's own count of the streamed text), **streaming integrity** (tokens arriving as they are "
        "generated, not held back and released in a burst), **model integrity** (the model the endpoint reports, "
        "known-answer canary prompts at temperature 0, the maximum output length honoured) and **availability** "
        "(success rate, rate limits left out). Each provider's page has the evidence and the worst cases.",
        "",
        "| Provider | Model | Billing | Streaming | Model integrity | Availability | Audit requests | Details |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        a = row.audit
        last = f", last {fmt.timestamp(a.last_audit_at)}" if a.last_audit_at else ""
        lines.append(
            f"| {escape_md(row.provider)} | {escape_md(row.name)} | {score_cell(a.billing.score)} "
            f"| {score_cell(a.streaming.score)} | {score_cell(a.integrity.score)} "
            f"| {score_cell(a.availability.score, percent=True)} | {fmt.count(a.audit_samples)}{last} "
            f"| [audit page]({row.page}) |"
        )
    return lines


def audit_index(audits: AuditSet | None, pages: Mapping[str, str]) -> str:
    """The index's "Provider audits" section (with its leading blank line), or nothing when audits were not read."""
    if audits is None:
        return ""
    lines = ["", "## Provider audits", ""]
    if not audits.audits:
        return "\n".join([*lines, NO_AUDITS]) + "\n"
    lines += [
        f"The 7 days ending {fmt.timestamp(audits.until)}: billing, streaming and model integrity, and availability.",
        "",
        "| Provider | Models | Failing scores | Audit requests | Details |",
        "|---|---|---|---|---|",
    ]
    by_provider: dict[str, list[ProviderAudit]] = {}
    for (provider, _), audit in sorted(audits.audits.items()):
        by_provider.setdefault(provider, []).append(audit)
    for provider, found in by_provider.items():
        failing = sum(1 for a in found for _, score in a.scores if score.verdict == "fail")
        lines.append(
            f"| {escape_md(provider)} | {len(found)} | {failing} | {fmt.count(sum(a.audit_samples for a in found))} "
            f"| [audit page]({pages[provider]}) |"
        )
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- one provider's page


def render_audit_page(provider: str, audits: Sequence[ProviderAudit], names: Mapping[str, str], since: str, until: str) -> str:
    """A provider's audit page: per model, the four scores and the evidence behind each."""
    lines = [
        f"# Audit: {escape_md(provider)}",
        "",
        f"The 7 days from {fmt.timestamp(since)} to {fmt.timestamp(until)}. Scores run from 0 to 100, higher is better; "
        "each rests on the samples counted beside it. How each is computed is under Methods at the end.",
        "",
    ]
    for audit in audits:
        name = names.get(audit.model, audit.model)
        heading = escape_md(name) if name == audit.model else f"{escape_md(name)} ({escape_md(audit.model)})"
        lines += [f"## {heading}", "", *_summary(audit), "", *_billing(audit), "", *_streaming(audit), "",
                  *_integrity(audit), "", *_availability(audit), ""]  # fmt: skip
    lines += ["## Methods", "", *_methods()]
    return "\n".join(lines) + "\n"


def _summary(audit: ProviderAudit) -> list[str]:
    lines = ["| Score group | Score | Verdict | Samples | Note |", "|---|---|---|---|---|"]
    for label, score in audit.scores:
        value = fmt.NO_DATA if score.value is None else f"{score.value:.1f}".removesuffix(".0")
        lines.append(f"| {label} | {value} | {score.verdict} | {fmt.count(score.n)} | {escape_md(score.note) or '–'} |")
    runs = (
        f"{fmt.count(audit.audit_samples)} `probe audit` requests, the last at {fmt.timestamp(audit.last_audit_at)}."
        if audit.last_audit_at
        else "No `probe audit` requests in these 7 days: model integrity rests on ordinary samples only."
    )
    return [*lines, "", runs]


def _billing(audit: ProviderAudit) -> list[str]:
    b = audit.billing
    lines = ["### Billing integrity", ""]
    if b.tokenizer is None:
        return [*lines, f"{escape_md(b.score.note)}."]
    text = (
        f"{fmt.count(b.checked)} successful samples with reported usage, counted with {b.tokenizer}: "
        f"{fmt.count(b.inflated)} inflated (billed more than streamed x {1 + scoring.BILLING_TOLERANCE:g} + "
        f"{scoring.BILLING_SLACK_TOKENS} tokens). Billed {fmt.count(b.billed_tokens)} output tokens, streamed "
        f"{fmt.count(b.streamed_tokens)}"
    )
    text += f"; median billed / streamed {b.median_ratio:.2f}." if b.median_ratio is not None else "."
    if b.adjusted_for_hidden_reasoning:
        text += (
            f" {fmt.count(b.adjusted_for_hidden_reasoning)} reported reasoning tokens that never streamed (hidden "
            "reasoning); those are billed unseen, taken on trust and left out of the comparison."
        )
    if b.without_usage:
        text += f" {fmt.count(b.without_usage)} successful samples reported no usage or streamed no text."
    lines.append(text)
    if b.worst:
        lines += ["", "| Sample | Started | Billed | Streamed | Excess |", "|---|---|---|---|---|"]
        lines += [
            f"| {escape_md(c.sample_id)} | {fmt.timestamp(c.started_at)} | {fmt.count(c.billed_visible)} "
            f"| {fmt.count(c.streamed)} | {fmt.count(c.excess)} |"
            for c in b.worst
        ]
    return lines


def _streaming(audit: ProviderAudit) -> list[str]:
    s = audit.streaming
    lines = ["### Streaming integrity", ""]
    if not s.checked:
        return [*lines, f"{escape_md(s.score.note)}."]
    text = (
        f"{fmt.count(s.checked)} successful samples with at least {scoring.MIN_STREAM_TOKENS} streamed tokens: "
        f"{fmt.count(s.buffered)} buffered (more than {scoring.BUFFERED_TAIL_SHARE:.0%} of their tokens in the last "
        f"{scoring.TAIL_FRACTION:.0%} of the stream). Median share of tokens in the last {scoring.TAIL_FRACTION:.0%}: "
        f"{fmt.percent(s.median_tail_share or 0)}; median token chunks per answer {s.median_chunks:g}, "
        f"{s.median_tokens_per_chunk:.1f} tokens each; gaps between chunks p50 {_ms(s.gap_p50_ms)}, "
        f"p95 {_ms(s.gap_p95_ms)}, longest {_ms(s.gap_max_ms)}."
    )
    if s.too_short:
        text += f" {fmt.count(s.too_short)} shorter answers were not judged."
    lines.append(text)
    if s.worst:
        lines += ["", "| Sample | Started | Tokens | Chunks | Tokens in last 10% | Span |", "|---|---|---|---|---|---|"]
        lines += [
            f"| {escape_md(c.sample_id)} | {fmt.timestamp(c.started_at)} | {fmt.count(c.tokens)} | {fmt.count(c.chunks)} "
            f"| {fmt.percent(c.tail_share)} | {_ms(c.span_ms)} |"
            for c in s.worst
        ]
    return lines


def _integrity(audit: ProviderAudit) -> list[str]:
    m = audit.integrity
    lines = ["### Model integrity", ""]
    if m.names_checked:
        reported = ", ".join(f"{escape_md(name)} ({fmt.count(n)})" for name, n in m.reported)
        lines.append(
            f"- Reported model: {reported}; {fmt.count(m.names_mismatched)} of {fmt.count(m.names_checked)} audit "
            "requests named another model than the one asked for (dated snapshots and vendor prefixes allowed)."
        )
    else:
        lines.append("- Reported model: no audit request reported one.")
    if m.first_party:
        basis = "this provider is first-party for the model: its answers are the reference."
    elif m.reference:
        basis = "answers are compared with the expected answer and with the first-party provider's."
    else:
        basis = "no first-party provider was audited for this model, so answers are compared with the expected answer only."
    if m.canaries:
        lines += [
            f"- Canary prompts at temperature 0: {fmt.count(m.canaries_passed)} of {fmt.count(m.canaries_counted)} "
            f"counted answers right; {basis}",
            "",
            "| Canary | Prompt | Expected | Answers here | First-party answer | Right |",
            "|---|---|---|---|---|---|",
        ]
        for r in m.canaries:
            canary = canary_by_id(r.canary)
            answers = ", ".join(f"{_quoted(a)} ({n})" for a, n in r.answers) or "none"
            right = f"{r.passed} of {r.answered}" + ("" if r.counted else " (not counted: the first-party provider is unreliable on it)")
            lines.append(
                f"| {escape_md(r.canary)} | {escape_md(canary.prompt) if canary else '–'} | {_quoted(r.expected)} "
                f"| {answers} | {_quoted(r.reference) if r.reference is not None else '–'} | {right} |"
            )
        lines.append("")
    else:
        lines.append("- Canary prompts: none answered in these 7 days.")
    stopped = (
        f"; {fmt.count(m.length_probes_stopped)} of {fmt.count(m.length_probes)} max-length probes ended with a "
        "length finish reason"
        if m.length_probes
        else ""
    )
    lines.append(
        f"- Maximum output length: {fmt.count(m.length_violations)} of {fmt.count(m.length_checked)} samples that "
        f"reached their maximum went past it{stopped}."
    )
    if m.worst_lengths:
        lines += ["", "| Sample | Started | Maximum | Streamed | Billed | Finish reason |", "|---|---|---|---|---|---|"]
        lines += [
            f"| {escape_md(c.sample_id)} | {fmt.timestamp(c.started_at)} | {fmt.count(c.max_tokens)} "
            f"| {fmt.count(c.streamed)} | {fmt.count(c.billed) if c.billed is not None else '–'} "
            f"| {escape_md(c.finish_reason) if c.finish_reason else '–'} |"
            for c in m.worst_lengths
        ]
    return lines


def _availability(audit: ProviderAudit) -> list[str]:
    def row(label: str, r: Rates) -> str:
        def rate(value: float | None) -> str:
            return fmt.NO_DATA if value is None else fmt.percent(value)

        errors = ", ".join(f"{escape_md(kind)} {fmt.count(n)}" for kind, n in r.error_kinds) or "none"
        return (
            f"| {label} | {fmt.count(r.samples)} | {rate(r.success_rate)} | {rate(r.success_rate_without_limits)} "
            f"| {errors} |"
        )

    a = audit.availability
    return [
        "### Availability",
        "",
        "| Span | Requests | Success | Success, rate limits left out | Errors by kind |",
        "|---|---|---|---|---|",
        row("Last 24 h", a.day),
        row("Last 7 days", a.week),
    ]


def _methods() -> list[str]:
    return [
        f"- **Billing integrity**: per successful sample with reported usage, the output tokens billed (less "
        "reasoning tokens reported but never streamed) against probe's own count of the streamed text with the "
        f"model's tokenizer; inflated when billed > streamed x {1 + scoring.BILLING_TOLERANCE:g} + "
        f"{scoring.BILLING_SLACK_TOKENS}. Score: the share not inflated. Models whose tokenizer probe does not ship "
        "(Claude, Gemini, Llama ...) are not assessed.",
        f"- **Streaming integrity**: per successful ordinary sample with at least {scoring.MIN_STREAM_TOKENS} tokens, "
        f"the share of tokens arriving in the last {scoring.TAIL_FRACTION:.0%} of the time from the first token chunk "
        f"to the last (at least the tokens at {scoring.MAX_PLAUSIBLE_TPS:,.0f} tok/s); buffered above "
        f"{scoring.BUFFERED_TAIL_SHARE:.0%}. Score: the share not buffered.",
        "- **Model integrity**: the lowest of three shares: audit requests whose reported model is the one asked "
        "for; canary answers (normalized exact match) equal to the expected answer or to the first-party "
        "provider's usual answer; samples stopped by their maximum output length (or past it) that stayed within "
        f"it (streamed tokens <= maximum x {1 + scoring.LENGTH_TOLERANCE:g} + {scoring.LENGTH_SLACK_TOKENS}).",
        "- **Availability**: successful requests over the last 7 days, rate-limited and quota errors left out; "
        "audit requests count too.",
        f"- Verdicts: integrity scores pass at {scoring.INTEGRITY_THRESHOLDS[0]:g} and warn at "
        f"{scoring.INTEGRITY_THRESHOLDS[1]:g}; availability passes at {scoring.AVAILABILITY_THRESHOLDS[0]:g} and "
        f"warns at {scoring.AVAILABILITY_THRESHOLDS[1]:g}; below, they fail.",
    ]


def _ms(value: float | None) -> str:
    if value is None:
        return fmt.NO_DATA
    return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def _quoted(answer: str) -> str:
    """An answer from an endpoint, inert and visibly delimited (an empty answer shows as "")."""
    return f"\u201c{escape_md(answer)}\u201d"
