"""A whole report set from `Evidence`: one markdown file and three charts per pair, plus the index. Pure.

File names are relative to the output directory, and every link between the files is relative too, so the set
renders on GitHub wherever it is committed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import combinations

from probe.audit.scoring import ProviderAudit
from probe.model import PRICE_LIST_PROVIDER
from probe.report.data import (
    SPEED,
    TTFT,
    Comparison,
    Evidence,
    Nearby,
    build_comparison,
    build_index,
    display_name,
    enough_data_for_pair,
)
from probe.report.audits import audit_index, render_audit_page
from probe.report.escape import slugify
from probe.report.markdown import chart_files, render_index, render_markdown
from probe.report.svg import box_plot_svg, daily_svg

INDEX = "index.md"
MAX_NEARBY = 6


@dataclass(frozen=True, slots=True)
class ReportSet:
    """The files of a report set, ``(relative name, text)`` in writing order, and the comparisons behind them."""

    files: tuple[tuple[str, str], ...]
    comparisons: tuple[Comparison, ...]


def normalize_pairs(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Pairs in first-seen order without repeats (in either order) or self-pairs."""
    seen: set[frozenset[str]] = set()
    out = []
    for a, b in pairs:
        key = frozenset((a, b))
        if a == b or key in seen:
            continue
        seen.add(key)
        out.append((a, b))
    return out


def all_pairs(models: Sequence[str]) -> list[tuple[str, str]]:
    """Every pair of the given models, in sorted order: the fallback when no pair is configured."""
    return list(combinations(sorted(models), 2))


def pair_slug(a: str, b: str) -> str:
    """``gpt-4.1-mini``, ``gpt-4.1-nano`` -> ``gpt-4-1-mini-vs-gpt-4-1-nano``."""
    return f"{slugify(a)}-vs-{slugify(b)}"


def assign_slugs(pairs: Sequence[tuple[str, str]]) -> list[str]:
    """A distinct slug per pair; names that slug alike ("gpt-4.1" and "gpt-4-1") get a short hash suffix."""
    plain = [pair_slug(a, b) for a, b in pairs]
    counts: dict[str, int] = {}
    for slug in plain:
        counts[slug] = counts.get(slug, 0) + 1
    return [slug if counts[slug] == 1 else f"{slug}-{_digest(a, b)}" for slug, (a, b) in zip(plain, pairs)]


def _digest(a: str, b: str) -> str:
    return hashlib.sha1("\x1f".join((a, b)).encode("utf-8")).hexdigest()[:8]


def wanted_prices(evidence_models: Sequence[str], pairs: Sequence[tuple[str, str]], providers_of: dict[str, Sequence[str]]) -> list[tuple[str, str]]:
    """The prices a report set needs: every model's list price (for ranks), and each pair model's per provider."""
    keys = [(model, PRICE_LIST_PROVIDER) for model in sorted({*evidence_models, *(m for pair in pairs for m in pair)})]
    for model in sorted({m for pair in pairs for m in pair}):
        keys += [(model, provider) for provider in providers_of.get(model, ())]
    return keys


def build_reports(evidence: Evidence, pairs: Sequence[tuple[str, str]]) -> ReportSet:
    """Every comparison's markdown and charts, and the index linking them."""
    pairs = normalize_pairs(pairs)
    slugs = assign_slugs(pairs)
    bare = [build_comparison(evidence, a, b, slug=slug) for (a, b), slug in zip(pairs, slugs)]
    comparisons = [replace(c, nearby=tuple(_nearby(c, bare, evidence))) for c in bare]
    files: list[tuple[str, str]] = []
    for comparison in comparisons:
        charts = chart_files(comparison.slug)
        files.append((f"{comparison.slug}.md", render_markdown(comparison)))
        files.append((charts["ttft"], box_plot_svg("Time to first token (seconds)", comparison.charts.ttft, _s)))
        files.append((charts["speed"], box_plot_svg("Output speed (tokens per second)", comparison.charts.speed, _tps)))
        daily = (
            (f"Daily median {TTFT.label.lower()}", comparison.charts.daily_ttft, _s),
            (f"Daily median {SPEED.label.lower()}", comparison.charts.daily_speed, _tps),
        )
        files.append((charts["daily"], daily_svg(daily)))
    files.extend(audit_files(evidence))
    files.append((INDEX, render_index(build_index(evidence, comparisons)) + audit_index(evidence.audits, evidence.audit_pages)))
    return ReportSet(tuple(files), tuple(comparisons))


def audit_files(evidence: Evidence) -> list[tuple[str, str]]:
    """One audit page per provider with audits, listing every model it served in the audit window."""
    audits = evidence.audits
    if audits is None:
        return []
    by_provider: dict[str, list[ProviderAudit]] = {}
    for (provider, _), audit in sorted(audits.audits.items()):
        by_provider.setdefault(provider, []).append(audit)
    names = {model: display_name(model, evidence.metadata.get(model)) for _, model in audits.audits}
    return [
        (evidence.audit_pages[provider], render_audit_page(provider, found, names, audits.since, audits.until))
        for provider, found in by_provider.items()
    ]


def _tps(value: float) -> str:
    return f"{value:g}"


def _s(value: float) -> str:
    return f"{value:g} s"


def _nearby(comparison: Comparison, others: Sequence[Comparison], evidence: Evidence) -> list[Nearby]:
    """Other pairs of the set with enough data of both models: those sharing a model first, then the rest."""
    models = {comparison.a, comparison.b}
    ready = [o for o in others if o.slug != comparison.slug and enough_data_for_pair(evidence, o.a, o.b)]
    ranked = [o for o in ready if models & {o.a, o.b}] + [o for o in ready if not models & {o.a, o.b}]
    return [
        Nearby(o.name_a, o.name_b, o.slug, o.name(o.leader), o.depth.data_points) for o in ranked[:MAX_NEARBY]
    ]
