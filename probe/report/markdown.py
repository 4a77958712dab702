"""Render a `Comparison` as GitHub-flavoured markdown, and the report set's index. Pure: data in, text out.

Every sentence is generated from the numbers; every name or message that came from outside goes through
`escape_md`. The same `Comparison` always renders to the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from probe.catalog import ModelInfo
from probe.report import format as fmt
from probe.report.data import (
    BLENDED_PRICE,
    E2E,
    INPUT_PRICE,
    MEASURED,
    OUTPUT_PRICE,
    PRICES,
    SPEED,
    SUCCESS,
    TTFAT,
    TTFT,
    Comparison,
    Index,
    Metric,
    MetricRow,
    ProviderRow,
    Side,
    StaleModel,
    Value,
    Window,
    WorkloadScope,
)
from probe.report.audits import audit_table
from probe.report.escape import escape_md
from probe.stats import Win

AUDITS_NOTE = "requests of `probe audit` in the 7 days before the report's end"


def chart_files(slug: str) -> dict[str, str]:
    """The chart files of one report, by chart: relative names next to the markdown file."""
    return {"ttft": f"{slug}-ttft.svg", "speed": f"{slug}-speed.svg", "daily": f"{slug}-daily.svg"}


def value_text(metric: Metric, value: float) -> str:
    """A metric's value in its unit."""
    if metric.unit == "s":
        return fmt.seconds(value)
    if metric.unit == "tok/s":
        return fmt.speed(value)
    if metric.unit == "$/M":
        return fmt.price(value)
    if metric.unit == "rate":
        return fmt.percent(value)
    return fmt.score(value)


# --------------------------------------------------------------------------- one comparison


def render_markdown(c: Comparison) -> str:
    """The full report on one pair, sections in the order readers of the public page expect."""
    md = escape_md
    a, b = md(c.name_a), md(c.name_b)
    lines = [
        f"# {a} vs {b}",
        "",
        f"Models {md(c.a)} and {md(c.b)} · {_workload_of(c.workload)}{_span_of(c.window)} · "
        f"**{fmt.count(c.depth.data_points)} data points**",
        "",
        *_stale_warning(c.stale, {c.a: c.name_a, c.b: c.name_b}),
        _tldr(c),
        "",
        "## Decision read",
        "",
        _decision(c),
        "",
        "## Evidence depth",
        "",
        *_depth(c),
        "",
        "## Model compare",
        "",
        *_compare_table(c),
        "",
        "## Same provider, same window",
        "",
        *_same_provider(c),
        "",
        "## Metrics",
        "",
        *_metric_table(c),
        "",
        "## Audits",
        "",
        *audit_table(c.audits, *(c.audit_span or (None, None))),
        "",
        "## Providers",
        "",
        *_provider_table(c),
        "",
        *_by_region(c),
        "## When to choose each model",
        "",
        *_guidance(c),
        "",
        "## Model metadata",
        "",
        *_metadata_table(c),
        "",
        "## Charts",
        "",
        *_charts(c),
        "",
        "## Nearby comparisons",
        "",
        *_nearby(c),
        "",
        "## Methods",
        "",
        *_methods(c),
    ]
    return "\n".join(lines) + "\n"


def _workload_of(scope: WorkloadScope | None) -> str:
    """"workload 1k (1,000 input / 1,000 output tokens) · " for the header line; nothing when not filtered."""
    if scope is None:
        return ""
    if scope.input_tokens is None or scope.output_tokens is None:
        return f"workload {escape_md(scope.name)} · "
    burst = f", {scope.concurrency} at once" if scope.concurrency else ""
    return (
        f"workload {escape_md(scope.name)} ({fmt.count(scope.input_tokens)} input / "
        f"{fmt.count(scope.output_tokens)} output tokens{burst}) · "
    )


def _stale_warning(stale: Sequence[StaleModel] | None, names: dict[str, str]) -> list[str]:
    """One quoted line per model whose newest sample is older than expected, each followed by a blank line."""
    lines = []
    for found in stale or ():
        usual = (
            f"it was usually probed every {fmt.duration(found.usual_s)}, so stale after {fmt.duration(found.limit_s)}"
            if found.usual_s is not None
            else f"stale after {fmt.duration(found.limit_s)}"
        )
        lines += [
            f"> **Stale data:** the newest sample of {escape_md(names.get(found.model, found.model))} is from "
            f"{fmt.timestamp(found.last_at)}, {fmt.duration(found.age_s)} before the end of this report ({usual}). "
            "Check that the scheduled runs still work.",
            "",
        ]
    return lines


def _tldr(c: Comparison) -> str:
    wins_a, wins_b = len(c.verified_wins("a")), len(c.verified_wins("b"))
    points = fmt.count(c.depth.data_points)
    if c.leader is None:
        if wins_a == wins_b == 0:
            return (
                f"**TL;DR:** no clear leader between {escape_md(c.name_a)} and {escape_md(c.name_b)} yet: no metric "
                f"difference is verified across {points} data points ({_short_span(c.window)})."
            )
        return (
            f"**TL;DR:** no clear leader: {escape_md(c.name_a)} and {escape_md(c.name_b)} split verified wins "
            f"{wins_a} to {wins_b} across {points} data points ({_strengths(c, 'a')} vs {_strengths(c, 'b')})."
        )
    leader, other = c.leader, _other(c.leader)
    text = (
        f"**TL;DR:** {escape_md(c.name(leader))} leads with {len(c.verified_wins(leader))} of {wins_a + wins_b} "
        f"verified metric wins ({_strengths(c, leader)}) across {points} data points ({_short_span(c.window)})"
    )
    if c.verified_wins(other):
        text += f"; {escape_md(c.name(other))} wins on {_strengths(c, other)}"
    return text + "."


def _strengths(c: Comparison, side: Side) -> str:
    categories = _categories(c.verified_wins(side))
    return _join(categories) if categories else "nothing verified"


_CATEGORY_WORDS = {
    "latency": "latency",
    "speed": "output speed",
    "price": "price",
    "reliability": "reliability",
    "quality": "benchmark scores",
}


def _categories(rows: Sequence[MetricRow]) -> list[str]:
    seen: list[str] = []
    for category in _CATEGORY_WORDS:
        if any(row.metric.category == category for row in rows):
            seen.append(_CATEGORY_WORDS[category])
    return seen


def _decision(c: Comparison) -> str:
    wins_a, wins_b = len(c.verified_wins("a")), len(c.verified_wins("b"))
    split = f"verified wins split {wins_a} to {wins_b} ({escape_md(c.name_a)} {wins_a}, {escape_md(c.name_b)} {wins_b})"
    if c.leader is not None:
        name = escape_md(c.name(c.leader))
        return f"**{name}** currently has the stronger profile, with {split}. Start with {name}."
    pending = sum(1 for row in c.metrics if not row.win.verified and "too few samples" in row.win.reason)
    text = f"**No clear leader.** The {split}."
    if pending:
        text += f" {pending} metric{'s' if pending != 1 else ''} need{'s' if pending == 1 else ''} more samples before a difference can be verified."
    return text


def _depth(c: Comparison) -> list[str]:
    d = c.depth
    lines = [
        f"**{fmt.count(d.data_points)} data points**: {fmt.count(d.samples)} samples ({escape_md(c.name_a)} "
        f"{fmt.count(d.samples_a)}, {escape_md(c.name_b)} {fmt.count(d.samples_b)}), "
        f"{fmt.count(d.benchmark_rows)} benchmark rows, {fmt.count(d.audit_samples)} audit samples "
        f"({AUDITS_NOTE}) and {fmt.count(d.provider_examples)} provider examples (rows of the provider table).",
        "",
    ]
    window = _span_of(c.window, article=True)
    if d.first_at and d.last_at:
        lines.append(
            f"Samples cover {fmt.timestamp(d.first_at)} to {fmt.timestamp(d.last_at)} "
            f"({_span(d.first_at, d.last_at)}) of {window}."
        )
    else:
        lines.append(f"No samples of either model in {window}.")
    return lines


def _span(first: str, last: str) -> str:
    start = datetime.fromisoformat(first.replace("Z", "+00:00"))
    end = datetime.fromisoformat(last.replace("Z", "+00:00"))
    return fmt.duration((end - start).total_seconds())


def _compare_table(c: Comparison) -> list[str]:
    def standing(side: Side) -> str:
        if c.leader is None:
            return "Tied" if c.verified_wins("a") else "No verified lead"
        return "Leading" if c.leader == side else "Contender"

    def listed(rows: Sequence[MetricRow]) -> str:
        return ", ".join(escape_md(row.metric.label) for row in rows) or "–"

    wins = {side: len(c.verified_wins(side)) for side in ("a", "b")}
    return [
        f"| Model compare | {escape_md(c.name_a)} | {escape_md(c.name_b)} |",
        "|---|---|---|",
        f"| Overall leader | {standing('a')} | {standing('b')} |",
        f"| Verified metric wins | {_wins(wins['a'])} | {_wins(wins['b'])} |",
        f"| Where it leads (verified) | {listed(c.verified_wins('a'))} | {listed(c.verified_wins('b'))} |",
        f"| Leads, not verified | {listed(c.unverified_leads('a'))} | {listed(c.unverified_leads('b'))} |",
    ]


def _wins(count: int) -> str:
    return f"{count} win" if count == 1 else f"{count} wins"


def _same_provider(c: Comparison) -> list[str]:
    lines = []
    if c.shared_providers:
        names = _join([f"**{escape_md(p)}**" for p in c.shared_providers])
        lines.append(
            f"Both models were measured on {names} (at least {c.settings.min_samples} successful samples of each), "
            "so the latency, speed and success-rate verdicts below compare like with like: each difference is "
            "taken within a provider, in the same window, and combined across these providers weighted by "
            "n_a·n_b / (n_a + n_b). Providers serving only one model appear in the provider table but do not "
            "decide a win."
        )
    else:
        lines.append(
            "No provider served both models with enough samples in this window, so latency, speed and success-rate "
            "verdicts compare each model over all of its providers; differences between providers (network path, "
            "load, hardware) are part of the difference."
        )
    if c.thin_shared_providers:
        lines += [
            "",
            f"Also serving both, but with fewer than {c.settings.min_samples} successful samples of one model: "
            f"{_join([escape_md(p) for p in c.thin_shared_providers])}.",
        ]
    if not c.same_provider:
        return lines
    lines += [
        "",
        "| Provider | Samples | TTFT median | Output speed median | Success rate | Verdicts |",
        "|---|---|---|---|---|---|",
    ]
    for row in c.same_provider:
        verdicts = "; ".join(
            f"{label}: {_short_verdict(c, win)}"
            for label, win in (("TTFT", row.ttft_win), ("speed", row.speed_win), ("success", row.success_win))
        )
        lines.append(
            f"| {escape_md(row.provider)} | {fmt.count(row.samples_a)} / {fmt.count(row.samples_b)} "
            f"| {_pair(row.ttft_a, row.ttft_b, fmt.seconds)} | {_pair(row.speed_a, row.speed_b, fmt.speed)} "
            f"| {_pair(row.success_a, row.success_b, fmt.percent)} | {verdicts} |"
        )
    lines += ["", f"Each cell reads {escape_md(c.name_a)} / {escape_md(c.name_b)}."]
    return lines


def _pair(a: float | None, b: float | None, show: object) -> str:
    def one(value: float | None) -> str:
        return fmt.NO_DATA if value is None else show(value)  # type: ignore[operator]

    return f"{one(a)} / {one(b)}"


def _short_verdict(c: Comparison, win: Win) -> str:
    if win.leader is None:
        return "tie" if win.difference == 0 else "–"
    name = escape_md(c.name(win.leader))
    return f"{name} (verified)" if win.verified else f"{name} (not verified)"


def _metric_table(c: Comparison) -> list[str]:
    lines = [
        f"Medians over successful samples in the window; prices are list prices per million tokens. `#n` is the "
        f"model's rank among the models in this database ranked on that metric (models with at least "
        f"{c.settings.min_samples} successful samples in the window; scores: models with a score from the same "
        "source).",
        "",
        f"| Metric | {escape_md(c.name_a)} | {escape_md(c.name_b)} | Ranked | Leader | Verdict |",
        "|---|---|---|---|---|---|",
    ]
    for row in c.metrics:
        label = escape_md(row.metric.label)
        if row.basis == "score":
            label += f" ({_join(sorted({escape_md(v.source) for v in (row.a, row.b) if v.source}))})"
        lines.append(
            f"| {label} | {_value_cell(c, row.metric, row.a)} | {_value_cell(c, row.metric, row.b)} "
            f"| {_pool(row)} | {_leader_cell(c, row)} | {_verdict_cell(c, row)} |"
        )
    return lines


def _value_cell(c: Comparison, metric: Metric, value: Value) -> str:
    if value.value is None:
        return fmt.NO_DATA
    if value.short:
        return f"not enough data ({value.n} < {c.settings.min_samples})"
    text = value_text(metric, value.value)
    return f"{text} #{value.rank}" if value.rank is not None else text


def _pool(row: MetricRow) -> str:
    pools = [v.pool for v in (row.a, row.b) if v.pool is not None]
    if not pools:
        return "–"
    if len(set(pools)) == 1:
        return f"of {pools[0]}"
    return " / ".join(f"of {p}" for p in pools)


def _advantage(row: MetricRow) -> tuple[float, float | None, float | None]:
    """The leader's margin and its interval, both positive-is-better-for-the-leader."""
    win = row.win
    sign = 1.0 if (win.leader == "a") != row.metric.lower_is_better else -1.0
    margin = (win.difference or 0.0) * sign
    if win.ci_low is None or win.ci_high is None:
        return margin, None, None
    low, high = sorted((win.ci_low * sign, win.ci_high * sign))
    return margin, low, high


def _margin_text(metric: Metric, margin: float) -> str:
    if metric.unit == "s":
        return f"{fmt.seconds(margin)} {'sooner' if metric.category == 'latency' else 'faster'}"
    if metric.unit == "tok/s":
        return f"{fmt.speed(margin)} faster"
    if metric.unit == "$/M":
        return f"{fmt.price(margin)} cheaper"
    if metric.unit == "rate":
        return f"{fmt.percentage_points(margin)} higher"
    return f"{fmt.score(margin)} points higher"


def _interval_text(metric: Metric, low: float, high: float) -> str:
    if metric.unit == "rate":
        return f"{low * 100:.1f} to {high * 100:.1f} pp"
    if metric.unit == "s":
        return f"{low:.3f} to {high:.3f} s"
    if metric.unit == "tok/s":
        return f"{low:.1f} to {high:.1f} tok/s"
    return f"{value_text(metric, low)} to {value_text(metric, high)}"


def _leader_cell(c: Comparison, row: MetricRow) -> str:
    if row.win.leader is None:
        return "tie" if row.win.difference == 0 else "–"
    margin, _, _ = _advantage(row)
    return f"{escape_md(c.name(row.win.leader))}, {_margin_text(row.metric, margin)}"


def _verdict_cell(c: Comparison, row: MetricRow) -> str:
    win = row.win
    basis = {"same-provider": " (same provider)", "all-providers": " (all providers)"}.get(row.basis, "")
    if win.verified:
        _, low, high = _advantage(row)
        if low is not None and high is not None:
            return f"verified: 95% CI {_interval_text(row.metric, low, high)}{basis}"
        if row.basis == "score":
            return f"verified: both from {escape_md(row.a.source)}"
        return "verified: " + _reason(row)
    if win.leader is None:
        return _reason(row)
    if win.ci_low is not None:
        _, low, high = _advantage(row)
        return f"not verified: {_reason(row)} ({_interval_text(row.metric, low, high)}){basis}"  # type: ignore[arg-type]
    return f"not verified: {_reason(row)}{basis}"


def _reason(row: MetricRow) -> str:
    """Why a lead is or is not verified. The statistics' reasons are probe's own words; a score's sources came
    from an imported file, so that reason is rebuilt from the escaped names."""
    if row.basis == "score" and row.a.source != row.b.source:
        return f"different sources ({escape_md(row.a.source)} vs {escape_md(row.b.source)})"
    return row.win.reason


def _provider_table(c: Comparison) -> list[str]:
    if not c.providers:
        return ["No provider served either model in this window."]
    lines = [
        "Medians with p5–p95 over each provider's successful samples; prices per million tokens as this provider "
        "bills them (input / output).",
        "",
        "| Provider | Model | Samples | Success | TTFT median (p5–p95) | Output speed median (p5–p95) "
        "| Price in / out | Price source | Errors | Last test |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in c.providers:
        lines.append(
            f"| {escape_md(row.provider)} | {escape_md(c.name(row.side))} | {fmt.count(row.samples)} "
            f"| {fmt.percent(row.success_rate) if row.success_rate is not None else fmt.NO_DATA} "
            f"| {_spread(row.ttft, fmt.seconds)} | {_spread(row.speed, fmt.speed)} | {_price_pair(row)} "
            f"| {_price_source(row)} | {_errors(row)} | {fmt.timestamp(row.last_at) if row.last_at else fmt.NO_DATA} |"
        )
    return lines


def _by_region(c: Comparison) -> list[str]:
    """The "By region" section, followed by a blank line; nothing when the samples come from a single region."""
    if not c.regions:
        return []
    lines = [
        "## By region",
        "",
        "The samples were sent from more than one place (`probe run --region`). Network distance is part of every "
        "latency, so compare a provider with itself across regions, and models within one region. Medians over "
        "successful samples.",
        "",
        "| Model | Provider | Region | Samples | Success | TTFT median | Output speed median |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in c.regions:
        region = escape_md(row.region) if row.region is not None else "not recorded"
        success = fmt.percent(row.ok / row.samples) if row.samples else fmt.NO_DATA
        ttft = fmt.seconds(row.ttft_s) if row.ttft_s is not None else fmt.NO_DATA
        speed = fmt.speed(row.output_tps) if row.output_tps is not None else fmt.NO_DATA
        lines.append(
            f"| {escape_md(c.name(row.side))} | {escape_md(row.provider)} | {region} | {fmt.count(row.samples)} "
            f"| {success} | {ttft} | {speed} |"
        )
    return [*lines, ""]


def _spread(stats: object, show: object) -> str:
    if stats is None:
        return fmt.NO_DATA
    return f"{show(stats.p50)} ({show(stats.p5)}–{show(stats.p95)})"  # type: ignore[attr-defined,operator]


def _price_pair(row: ProviderRow) -> str:
    if row.price is None:
        return fmt.NO_DATA
    return f"{fmt.price(row.price.input_per_mtok)} / {fmt.price(row.price.output_per_mtok)}"


def _price_source(row: ProviderRow) -> str:
    if row.price is None:
        return "–"
    as_of = f", from {escape_md(row.price.as_of)}" if row.price.as_of else ""
    return escape_md(row.price.source) + as_of


def _errors(row: ProviderRow) -> str:
    return ", ".join(f"{escape_md(kind)} {n}" for kind, n in row.error_kinds) or "none"


def _guidance(c: Comparison) -> list[str]:
    lines = []
    for side in ("a", "b"):
        lines.append(f"- {_choose(c, side)}")  # type: ignore[arg-type]
    return lines


def _choose(c: Comparison, side: Side) -> str:
    name = escape_md(c.name(side))
    wins = c.verified_wins(side)
    if not wins:
        leads = c.unverified_leads(side)
        text = f"**{name}**: no verified advantage in this window."
        if leads:
            text += f" It leads, without verification, on {_join([escape_md(r.metric.label) for r in leads])}."
        return text
    clauses = []
    for category in _CATEGORY_WORDS:
        rows = [row for row in wins if row.metric.category == category]
        if rows:
            clauses.append(_clause(c, side, category, rows))
    return (
        f"**Choose {name}** when you prioritize {_join(_categories(wins))}: {_join(clauses)}."
    )


_PREFERRED = {"latency": (TTFAT, TTFT), "speed": (SPEED, E2E), "price": (BLENDED_PRICE, INPUT_PRICE, OUTPUT_PRICE)}


def _clause(c: Comparison, side: Side, category: str, rows: Sequence[MetricRow]) -> str:
    by_metric = {row.metric.key: row for row in rows}
    if category in _PREFERRED:
        row = next(by_metric[m.key] for m in _PREFERRED[category] if m.key in by_metric)
    else:
        row = rows[0]
    mine, theirs = (row.a, row.b) if side == "a" else (row.b, row.a)
    margin, _, _ = _advantage(row)
    values = f"{_plain(row.metric, mine)} vs {_plain(row.metric, theirs)}"
    metric = row.metric
    if metric is TTFAT:
        return f"its first answer token arrives {fmt.seconds(margin)} sooner ({values} median)"
    if metric is TTFT:
        return f"its first token arrives {fmt.seconds(margin)} sooner ({values} median)"
    if metric is SPEED:
        return f"it streams {fmt.speed(margin)} faster ({values} median)"
    if metric is E2E:
        return f"a 500-token answer completes {fmt.seconds(margin)} sooner ({values} median)"
    if metric in PRICES:
        base = (theirs.value or 0.0)
        relative = f"{margin / base * 100:.0f}% " if base else ""
        return f"its {metric.label.lower()} is {relative}lower ({values})"
    if metric is SUCCESS:
        return f"more of its requests succeed ({values})"
    names = _join([f"{escape_md(r.metric.label)} ({_plain(r.metric, r.a if side == 'a' else r.b)} vs "
                   f"{_plain(r.metric, r.b if side == 'a' else r.a)})" for r in rows])  # fmt: skip
    return f"it scores higher on {names}"


def _plain(metric: Metric, value: Value) -> str:
    return fmt.NO_DATA if value.value is None else value_text(metric, value.value)


_FEATURE_NAMES = {
    "tool_calling": "Tool calling",
    "structured_outputs": "Structured outputs",
    "json_mode": "JSON mode",
    "reasoning": "Reasoning",
}
_MODALITY_NAMES = {"text": "Text", "image": "Image", "audio": "Audio", "video": "Video", "pdf": "File (PDF)"}


def _metadata_table(c: Comparison) -> list[str]:
    def rows(info: ModelInfo | None) -> list[str]:
        if info is None:
            return [fmt.NO_DATA] * 10
        return [
            _or_none(info.developer),
            fmt.tokens(info.context_window) if info.context_window else fmt.NO_DATA,
            fmt.tokens(info.max_output) if info.max_output else fmt.NO_DATA,
            fmt.month(info.release_date),
            _or_none(info.knowledge_cutoff),
            _listing(info.input_modalities, _MODALITY_NAMES),
            _listing(info.output_modalities, _MODALITY_NAMES),
            _listing(info.features, _FEATURE_NAMES) if info.features is not None else fmt.NO_DATA,
            _or_none(info.tokenizer),
            _or_none(info.openrouter_id),
        ]

    labels = (
        "Developer",
        "Context window",
        "Max output",
        "Released",
        "Knowledge cutoff",
        "Input modalities",
        "Output modalities",
        "Features",
        "Tokenizer",
        "OpenRouter ID",
    )
    left, right = rows(c.info_a), rows(c.info_b)
    lines = [f"| Model metadata | {escape_md(c.name_a)} | {escape_md(c.name_b)} |", "|---|---|---|"]
    lines += [f"| {label} | {x} | {y} |" for label, x, y in zip(labels, left, right)]
    sources = _join([escape_md(s) for s in c.metadata_sources]) or "none"
    lines += ["", f"Source: {sources}. A feature not listed is unsupported or not recorded by the source."]
    return lines


def _or_none(value: str | None) -> str:
    return escape_md(value) if value else fmt.NO_DATA


def _listing(values: tuple[str, ...] | None, names: dict[str, str]) -> str:
    if values is None:
        return fmt.NO_DATA
    return ", ".join(escape_md(names.get(v, v)) for v in values) or "none recorded"


def _charts(c: Comparison) -> list[str]:
    files = chart_files(c.slug)
    return [
        f"![Time to first token per model and provider: box plot, p5 to p95]({files['ttft']})",
        "",
        f"![Output speed per model and provider: box plot, p5 to p95]({files['speed']})",
        "",
        f"![Daily medians of time to first token and output speed]({files['daily']})",
    ]


def _nearby(c: Comparison) -> list[str]:
    if not c.nearby:
        return [f"No other comparison in this report set has at least {c.settings.min_samples} successful samples of both models yet."]
    lines = [
        f"Other comparisons in this report set with at least {c.settings.min_samples} successful samples of both models:",
        "",
    ]
    for other in c.nearby:
        leader = f"{escape_md(other.leader)} leads" if other.leader else "no clear leader"
        lines.append(
            f"- [{escape_md(other.name_a)} vs {escape_md(other.name_b)}]({other.slug}.md): {leader}, "
            f"{fmt.count(other.data_points)} data points"
        )
    return lines


def _methods(c: Comparison) -> list[str]:
    s = c.settings
    definitions = "; ".join(f"**{m.label}**: {m.definition}" for m in (*MEASURED, *PRICES, SUCCESS))
    prices = _join([escape_md(p) for p in c.price_sources]) or "none found"
    scores = _join([escape_md(p) for p in c.score_sources]) or "none imported for both models"
    return [
        f"- Window: {_span_of(c.window, article=True)} (the end is the report's `--now`; later samples are left "
        "out); statistics are computed on read from raw samples.",
        f"- Metrics: {definitions}.",
        "- Statistic: the median over successful samples, with p5, p25, p75 and p95 where distributions are shown.",
        f"- Verified: a measured win needs at least {s.min_samples} successful samples of each model and a 95% "
        f"bootstrap confidence interval of the difference of medians that excludes 0 ({s.resamples:,} resamples per "
        "median, drawn from the distribution of the median's order statistic (exact below 1,000 samples, its normal "
        "approximation above) with a generator seeded by model, provider and metric, so the same data always give "
        "the same verdict). Success rates use Newcombe's interval for a "
        "difference of proportions. A price win is verified when both prices name their source; a score win when "
        "both scores come from the same source.",
        "- Like with like: where providers serve both models, latency, speed and success-rate verdicts use only "
        "those providers, comparing the models within each provider.",
        "- Overall leader: the model with more verified metric wins; equal counts mean no clear leader.",
        *_workload_methods(c.workload, c.stale),
        f"- Data sources: samples from probe's own requests; prices from {prices} (stored in the database with "
        f"their source and date, so this report can be reproduced); model metadata from "
        f"{_join([escape_md(m) for m in c.metadata_sources]) or 'no source'}; benchmark scores from {scores}; "
        f"audits: {_audit_sources(c)}.",
    ]


def _audit_sources(c: Comparison) -> str:
    if not c.audits:
        return "none (run `probe audit`)"
    return (
        "`probe audit` requests and the providers' newest ordinary samples of the 7 days before the report's end, "
        "scored as each provider's audit page explains"
    )


def _workload_methods(scope: WorkloadScope | None, stale: Sequence[StaleModel] | None) -> list[str]:
    lines = []
    if scope is not None and scope.name == "all":
        lines.append(
            "- Workload: all. Samples of every workload are mixed, those recorded before probe had workloads "
            "included, so latency and speed mix prompt and answer lengths."
        )
    elif scope is not None:
        shape = ""
        if scope.input_tokens is not None and scope.output_tokens is not None:
            burst = f"; sent {scope.concurrency} at a time to one endpoint" if scope.concurrency else ""
            shape = (
                f": prompts of exactly {fmt.count(scope.input_tokens)} tokens of message content, counted with the "
                "model's tokenizer (o200k or cl100k; other model families are counted with o200k) and opened by a "
                "unique nonce so no cache can serve them (providers report a few more input tokens: their chat "
                f"template's); answers of up to {fmt.count(scope.output_tokens)} tokens, asked to keep going until "
                f"cut{burst}"
            )
        left = (
            f"The window's {fmt.count(scope.left_out)} other samples (other workloads, and any recorded before probe "
            "had workloads) are left out"
            if scope.left_out
            else "Samples of other workloads, and samples recorded before probe had workloads, are left out"
        )
        lines.append(
            f"- Workload: **{escape_md(scope.name)}**{shape}. {left}; `probe report --workload all` mixes them."
        )
    if stale is not None:
        lines.append(
            "- Stale data: a model is flagged when its newest sample is older, at the end of the report, than twice "
            "its usual interval between runs (the median gap between the runs that sampled it in the window's last "
            "7 days), "
            "kept within 1 hour and 24 hours; with fewer than three runs, 24 hours."
        )
    return lines


def _span_of(window: Window, *, article: bool = False) -> str:
    """"72 h window ending 2025-06-04 12:00 UTC", or "all time up to ..." for the unbounded window."""
    end = fmt.timestamp(window.until)
    if window.since is None:
        return f"all time up to {end}"
    return f"{'the ' if article else ''}{window.label} window ending {end}"


def _short_span(window: Window) -> str:
    return "all time" if window.since is None else f"{window.label} window"


def _other(side: Side) -> Side:
    return "b" if side == "a" else "a"


def _join(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


# --------------------------------------------------------------------------- the index


def render_index(index: Index) -> str:
    """The report set's front page: a line per comparison, and every model measured in the window."""
    lines = [
        "# probe comparison reports",
        "",
        f"{_workload_of(index.workload)}{_span_of(index.window)} · "
        f"{len(index.comparisons)} comparison{'s' if len(index.comparisons) != 1 else ''} · "
        f"{len(index.models)} model{'s' if len(index.models) != 1 else ''} with samples",
        "",
        *_stale_warning(index.stale, {m.model: m.name for m in index.models}),
        "## Comparisons",
        "",
    ]
    if index.comparisons:
        lines += ["| Comparison | Leader | Verified wins | Data points |", "|---|---|---|---|"]
        for c in index.comparisons:
            leader = escape_md(c.name(c.leader)) if c.leader else "No clear leader"
            lines.append(
                f"| [{escape_md(c.name_a)} vs {escape_md(c.name_b)}]({c.slug}.md) | {leader} "
                f"| {len(c.verified_wins('a'))} to {len(c.verified_wins('b'))} | {fmt.count(c.depth.data_points)} |"
            )
    else:
        lines.append("No comparisons: configure `[[compare]]` pairs in providers.toml or pass `--pair A,B`.")
    lines += ["", "## Models in this window", ""]
    if not index.models:
        lines.append("No samples in this window.")
    else:
        lines += [
            "| Model | Samples | Success | Providers | TTFT median | Output speed median | Blended price |",
            "|---|---|---|---|---|---|---|",
        ]
        for m in index.models:
            success = fmt.percent(m.ok / m.samples) if m.samples else fmt.NO_DATA
            name = escape_md(m.name) if m.name == m.model else f"{escape_md(m.name)} ({escape_md(m.model)})"
            lines.append(
                f"| {name} | {fmt.count(m.samples)} | {success} | {m.providers} "
                f"| {_index_value(index, TTFT, m.ttft_s)} | {_index_value(index, SPEED, m.speed)} "
                f"| {_index_value(index, BLENDED_PRICE, m.blended_price)} |"
            )
    lines += [
        "",
        f"Medians over successful samples; `#n` ranks models with at least {index.settings.min_samples} successful "
        "samples (prices: models with a known list price). Blended price is (3 x input + output) / 4 per million tokens.",
    ]
    return "\n".join(lines) + "\n"


def _index_value(index: Index, metric: Metric, value: Value) -> str:
    if value.value is None:
        return fmt.NO_DATA
    if value.short:
        return f"not enough data ({value.n} < {index.settings.min_samples})"
    text = value_text(metric, value.value)
    return f"{text} #{value.rank}" if value.rank is not None else text
