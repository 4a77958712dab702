"""Comparison data: everything a report states about two models, computed from plain inputs. Pure.

`Evidence` takes what was read once (samples grouped as columns, stored prices, scores, model metadata, the
window) and answers per-model questions with caching, so building fifty reports costs little more than one.
`build_comparison` turns it into a `Comparison`: numbers, ranks and verdicts, no text. Rendering is elsewhere.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import chain
from typing import Literal, TypeAlias

from probe.audit.scoring import AuditSet
from probe.catalog import ModelInfo
from probe.model import PRICE_LIST_PROVIDER, PriceRecord, RegionGroup, SampleGroup, Score
from probe.report.audits import AuditRow, audit_pages, audit_rows
from probe.scores import latest_scores
from probe.stats import (
    DEFAULT_MIN_SAMPLES,
    DEFAULT_RESAMPLES,
    MedianEstimate,
    Percentiles,
    Win,
    bootstrap_medians,
    compare_medians,
    price_win,
    quantile_sorted,
    rank_values,
    rate_win,
    score_win,
    stable_seed,
)

# --------------------------------------------------------------------------- window and settings


@dataclass(frozen=True, slots=True)
class Window:
    """The span a report covers: samples started at or after ``since`` and before ``until`` (ISO 8601 UTC).

    ``until`` is the report's "now"; ``since`` is ``None`` for all time.
    """

    label: str
    since: str | None
    until: str


_WINDOW = re.compile(r"^(\d+)([hd])$")


def parse_window(text: str, now: datetime) -> Window:
    """``72h``, ``14d`` or ``all``, ending at ``now`` (naive means UTC). Raises ``ValueError`` otherwise."""
    now = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    until = iso_utc(now)
    spec = text.strip().lower()
    if spec == "all":
        return Window("all time", None, until)
    match = _WINDOW.match(spec)
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"window {text!r} is not a number of hours or days (72h, 14d) or 'all'")
    amount, unit = int(match.group(1)), match.group(2)
    span = timedelta(hours=amount) if unit == "h" else timedelta(days=amount)
    return Window(f"{amount} h" if unit == "h" else f"{amount} days", iso_utc(now - span), until)


def iso_utc(moment: datetime) -> str:
    """The stamp format samples carry: ``2025-06-04T12:00:00.000Z``, so windows compare as text."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Settings:
    """How sure a report must be: successful samples per model for a verified win, bootstrap resamples, and
    the answer length of the standard end-to-end time."""

    min_samples: int = DEFAULT_MIN_SAMPLES
    resamples: int = DEFAULT_RESAMPLES
    answer_tokens: int = 500


@dataclass(frozen=True, slots=True)
class WorkloadScope:
    """Which workload a report shows: ``name`` (or "all": every sample, whatever its workload), its definition
    when known, how many samples in the window belong to other workloads (or to none) and are left out, and the
    sample count of every workload in the window (``None``: recorded before probe had workloads)."""

    name: str
    input_tokens: int | None = None
    output_tokens: int | None = None
    concurrency: int | None = None
    left_out: int = 0
    present: tuple[tuple[str | None, int], ...] = ()

    @property
    def shown(self) -> int:
        """Samples in the window the report covers (audit requests aside)."""
        if self.name == "all":
            return sum(n for _, n in self.present)
        return sum(n for found, n in self.present if found == self.name)


STALE_AFTER_S = 24 * 3600.0
"""A model whose newest sample is older than this (before the report's end) is stale, whatever its cadence."""
STALE_FLOOR_S = 3600.0
"""Never stale sooner than this, however often a model was probed (bursts of manual runs)."""
CADENCE_SPAN = timedelta(days=7)
"""A model's usual interval between runs is read from its runs in the window's last 7 days at most."""


@dataclass(frozen=True, slots=True)
class StaleModel:
    """A model whose newest sample is older than expected: ``age_s`` before the report's end, against a limit of
    ``limit_s`` (twice ``usual_s``, its usual interval between runs, kept within one hour and 24 hours)."""

    model: str
    last_at: str
    age_s: float
    usual_s: float | None
    limit_s: float


def usual_interval_s(run_starts: Sequence[str]) -> float | None:
    """The median gap between consecutive runs' first requests; ``None`` with fewer than three runs."""
    if len(run_starts) < 3:
        return None
    moments = sorted(_parse_iso(stamp) for stamp in run_starts)
    gaps = sorted((b - a).total_seconds() for a, b in zip(moments, moments[1:]))
    return quantile_sorted(gaps, 50)


def stale_limit_s(usual_s: float | None) -> float:
    """How old the newest sample may be: twice the usual interval, at least an hour, at most 24 hours."""
    if usual_s is None:
        return STALE_AFTER_S
    return min(STALE_AFTER_S, max(STALE_FLOOR_S, 2 * usual_s))


def _parse_iso(stamp: str) -> datetime:
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# --------------------------------------------------------------------------- metrics

Unit: TypeAlias = Literal["s", "tok/s", "$/M", "rate", "score"]
Category: TypeAlias = Literal["latency", "speed", "price", "reliability", "quality"]


@dataclass(frozen=True, slots=True)
class Metric:
    """One row of the metric table: what it is, its unit, which way is better, and the trait it speaks to."""

    key: str
    label: str
    unit: Unit
    lower_is_better: bool
    category: Category
    definition: str = ""


TTFAT = Metric("ttfat_s", "Time to first answer token", "s", True, "latency",
               "from sending the request to the first token of the answer itself (reasoning excluded)")  # fmt: skip
TTFT = Metric("ttft_s", "Time to first token", "s", True, "latency",
              "from sending the request to the first generated token of any kind (reasoning included)")  # fmt: skip
SPEED = Metric("output_tps", "Output speed", "tok/s", False, "speed",
               "tokens after the first token chunk divided by the time from the first to the last token chunk")  # fmt: skip
E2E = Metric("e2e_500_s", "End-to-end time for a 500-token answer", "s", True, "speed",
             "per sample, time to first token + 500 / output speed: how long a standard 500-token answer takes")  # fmt: skip
INPUT_PRICE = Metric("input_price", "Input price", "$/M", True, "price", "USD per million input tokens (list price)")
OUTPUT_PRICE = Metric("output_price", "Output price", "$/M", True, "price", "USD per million output tokens (list price)")
BLENDED_PRICE = Metric("blended_price", "Blended price", "$/M", True, "price",
                       "(3 x input price + output price) / 4, the 3:1 token mix public price tables rank by")  # fmt: skip
SUCCESS = Metric("success_rate", "Success rate", "rate", False, "reliability",
                 "successful requests / all requests, errors of every kind (rate limits included) counted as failures")  # fmt: skip

MEASURED: tuple[Metric, ...] = (TTFAT, TTFT, SPEED, E2E)
PRICES: tuple[Metric, ...] = (INPUT_PRICE, OUTPUT_PRICE, BLENDED_PRICE)


def score_metric(benchmark: str) -> Metric:
    return Metric(f"score:{benchmark}", benchmark, "score", False, "quality", "third-party benchmark score")


# --------------------------------------------------------------------------- per-model cells


@dataclass(frozen=True, slots=True)
class Cell:
    """One model's samples in the window, from one provider or (``provider`` None) from all of them.

    ``values`` maps each measured metric's key to its values over successful samples, sorted ascending.
    """

    model: str
    provider: str | None
    samples: int
    ok: int
    first_at: str | None
    last_at: str | None
    error_kinds: tuple[tuple[str, int], ...]
    values: Mapping[str, tuple[float, ...]]

    @property
    def success_rate(self) -> float | None:
        return self.ok / self.samples if self.samples else None

    def n(self, metric: str) -> int:
        return len(self.values.get(metric, ()))

    def median(self, metric: str) -> float | None:
        ordered = self.values.get(metric, ())
        return quantile_sorted(ordered, 50) if ordered else None

    def percentiles(self, metric: str) -> Percentiles | None:
        ordered = self.values.get(metric, ())
        if not ordered:
            return None
        return Percentiles(len(ordered), *(quantile_sorted(ordered, q) for q in (5, 25, 50, 75, 95)))


class Evidence:
    """Everything reports may state, read once, with per-model figures computed on first use and kept.

    Inputs are plain values: ``groups`` of samples in ``window`` (all models, so ranks are over the whole
    database), ``prices`` keyed by (model, provider) with `PRICE_LIST_PROVIDER` for list prices, ``scores``
    (all rows; the latest per model, benchmark and source counts), and ``metadata`` per model.
    """

    def __init__(
        self,
        groups: Iterable[SampleGroup],
        *,
        prices: Mapping[tuple[str, str], PriceRecord],
        scores: Iterable[Score],
        metadata: Mapping[str, ModelInfo | None],
        window: Window,
        settings: Settings = Settings(),
        workload: WorkloadScope | None = None,
        run_starts: Mapping[str, Sequence[str]] | None = None,
        regions: Iterable[RegionGroup] = (),
        audits: AuditSet | None = None,
    ) -> None:
        self.window = window
        self.audits = audits  # None: audits were not read; the report says there are none
        self.audit_pages = audit_pages(p for p, _ in audits.audits) if audits is not None else {}
        self.settings = settings
        self.workload = workload  # None: the caller did not filter by workload and the report says nothing of it
        self._run_starts = run_starts  # None: no stale-data check
        self.prices = dict(prices)
        self.metadata = dict(metadata)
        self.scores = latest_scores(scores)
        self._groups: dict[str, dict[str, list[SampleGroup]]] = {}
        for group in groups:
            self._groups.setdefault(group.model, {}).setdefault(group.provider, []).append(group)
        self._regions: dict[str, list[RegionGroup]] = {}  # by model; empty unless the window has several regions
        for region_group in regions:
            self._regions.setdefault(region_group.model, []).append(region_group)
        self._cells: dict[tuple[str, str | None], Cell] = {}
        self._estimates: dict[tuple[str, str | None, str], MedianEstimate] = {}
        self._ranks: dict[str, tuple[dict[str, int], int]] = {}

    # ----------------------------------------------------------------- samples

    def models(self) -> tuple[str, ...]:
        """Models with at least one sample in the window, sorted."""
        return tuple(sorted(self._groups))

    def providers(self, model: str) -> tuple[str, ...]:
        return tuple(sorted(self._groups.get(model, {})))

    def region_groups(self, model: str) -> tuple[RegionGroup, ...]:
        """A model's samples per provider and region, when the caller read them (several regions in the window)."""
        return tuple(self._regions.get(model, ()))

    def cell(self, model: str, provider: str | None = None) -> Cell:
        """A model's figures from one provider, or (``provider`` None) from all of them."""
        key = (model, provider)
        if key not in self._cells:
            if provider is None:
                self._cells[key] = _merge(model, [self.cell(model, p) for p in self.providers(model)])
            else:
                groups = self._groups.get(model, {}).get(provider, [])
                self._cells[key] = _cell(model, provider, groups, self.settings.answer_tokens)
        return self._cells[key]

    def estimate(self, model: str, provider: str | None, metric: str) -> MedianEstimate:
        """The median of a metric with its bootstrap distribution, seeded by the names so it never varies."""
        key = (model, provider, metric)
        if key not in self._estimates:
            ordered = self.cell(model, provider).values.get(metric, ())
            if not ordered:
                self._estimates[key] = MedianEstimate(0, None)
            else:
                rng = random.Random(stable_seed(model, provider or "*", metric))
                boot = bootstrap_medians(ordered, self.settings.resamples, rng)
                self._estimates[key] = MedianEstimate(len(ordered), quantile_sorted(ordered, 50), boot)
        return self._estimates[key]

    def daily_medians(self, model: str, metric: str) -> tuple[tuple[str, float], ...]:
        """Per UTC day, the median of a measured metric over all providers' successful samples."""
        days: dict[str, list[float | None]] = {}
        for groups in self._groups.get(model, {}).values():
            for group in groups:
                if group.status == "ok":
                    days.setdefault(group.day, []).extend(_metric_values(group, metric, self.settings.answer_tokens))
        medians = []
        for day, values in sorted(days.items()):
            ordered = _ascending(values)
            if ordered:
                medians.append((day, quantile_sorted(ordered, 50)))
        return tuple(medians)

    def enough_data(self, model: str) -> bool:
        return self.cell(model).ok >= self.settings.min_samples

    def stale(self, model: str) -> StaleModel | None:
        """The model, if its newest sample in the window is older than its usual cadence allows (see
        `stale_limit_s`); ``None`` when it is fresh, has no samples, or the check is off."""
        last_at = self.cell(model).last_at
        if self._run_starts is None or last_at is None:
            return None
        age_s = (_parse_iso(self.window.until) - _parse_iso(last_at)).total_seconds()
        usual_s = usual_interval_s(self._run_starts.get(model, ()))
        limit_s = stale_limit_s(usual_s)
        return StaleModel(model, last_at, age_s, usual_s, limit_s) if age_s > limit_s else None

    def stale_of(self, models: Iterable[str]) -> tuple[StaleModel, ...] | None:
        """The stale ones among ``models``; ``None`` when the check is off (no run starts were given)."""
        if self._run_starts is None:
            return None
        return tuple(found for found in map(self.stale, models) if found is not None)

    # ----------------------------------------------------------------- prices and scores

    def list_price(self, model: str) -> PriceRecord | None:
        return self.prices.get((model, PRICE_LIST_PROVIDER))

    def provider_price(self, model: str, provider: str) -> PriceRecord | None:
        return self.prices.get((model, provider))

    def model_scores(self, model: str) -> dict[str, list[Score]]:
        """The latest scores of a model per benchmark, one per source."""
        found: dict[str, list[Score]] = {}
        for score in self.scores:
            if score.model == model:
                found.setdefault(score.benchmark, []).append(score)
        return found

    # ----------------------------------------------------------------- ranks

    def rank(self, metric: Metric, model: str) -> tuple[int | None, int]:
        """The model's rank on a measured, price or reliability metric among models in the window, and how many
        models were ranked. Measured metrics and success rate rank only models with enough successful samples."""
        if metric.key not in self._ranks:
            values: dict[str, float] = {}
            for name in self.models():
                value = self._rankable(metric, name)
                if value is not None:
                    values[name] = value
            self._ranks[metric.key] = (rank_values(values, lower_is_better=metric.lower_is_better), len(values))
        ranks, pool = self._ranks[metric.key]
        return ranks.get(model), pool

    def _rankable(self, metric: Metric, model: str) -> float | None:
        if metric in PRICES:
            return _price_value(metric, self.list_price(model))
        cell = self.cell(model)
        if metric is SUCCESS:
            return cell.success_rate if cell.samples >= self.settings.min_samples else None
        if cell.n(metric.key) < self.settings.min_samples:
            return None
        return cell.median(metric.key)

    def score_rank(self, benchmark: str, source: str, model: str) -> tuple[int | None, int]:
        """The model's rank on a benchmark among models that have a score for it from the same source."""
        values = {s.model: s.score for s in self.scores if s.benchmark == benchmark and s.source == source}
        return rank_values(values, lower_is_better=False).get(model), len(values)


def _cell(model: str, provider: str | None, groups: Sequence[SampleGroup], answer_tokens: int) -> Cell:
    samples = ok = 0
    first_at: str | None = None
    last_at: str | None = None
    kinds: dict[str, int] = {}
    values: dict[str, list[float | None]] = {m.key: [] for m in MEASURED}
    for group in groups:
        samples += group.count
        first_at = group.first_at if first_at is None or group.first_at < first_at else first_at
        last_at = group.last_at if last_at is None or group.last_at > last_at else last_at
        if group.status == "ok":
            ok += group.count
            for metric in MEASURED:
                values[metric.key].extend(_metric_values(group, metric.key, answer_tokens))
        else:
            kind = group.error_kind or "unknown"
            kinds[kind] = kinds.get(kind, 0) + group.count
    return Cell(
        model=model,
        provider=provider,
        samples=samples,
        ok=ok,
        first_at=first_at,
        last_at=last_at,
        error_kinds=tuple(sorted(kinds.items(), key=lambda item: (-item[1], item[0]))),
        values={key: _ascending(found) for key, found in values.items()},
    )


def _merge(model: str, cells: Sequence[Cell]) -> Cell:
    """One model's cell from its providers' cells: counts add up, sorted values merge (Timsort merges the sorted
    runs in about linear time, so no value is filtered or sorted twice)."""
    kinds: dict[str, int] = {}
    for cell in cells:
        for kind, count in cell.error_kinds:
            kinds[kind] = kinds.get(kind, 0) + count
    starts = [c.first_at for c in cells if c.first_at]
    ends = [c.last_at for c in cells if c.last_at]
    return Cell(
        model=model,
        provider=None,
        samples=sum(c.samples for c in cells),
        ok=sum(c.ok for c in cells),
        first_at=min(starts) if starts else None,
        last_at=max(ends) if ends else None,
        error_kinds=tuple(sorted(kinds.items(), key=lambda item: (-item[1], item[0]))),
        values={m.key: tuple(sorted(chain.from_iterable(c.values.get(m.key, ()) for c in cells))) for m in MEASURED},
    )


def _metric_values(group: SampleGroup, metric: str, answer_tokens: int) -> Sequence[float | None]:
    """A measured metric's values in one group, ``None`` where not measured (`_ascending` leaves those out); the
    end-to-end time pairs each sample's TTFT with its speed."""
    if metric == E2E.key:
        return [t + answer_tokens / s for t, s in zip(group.ttft_s, group.output_tps) if t is not None and s]
    column: tuple[float | None, ...] = getattr(group, metric)
    return column


def _ascending(values: list[float | None]) -> tuple[float, ...]:
    """The measured values, sorted, without ``None``. Sorting raises at a ``None`` among two or more values, so the
    usual list (every value measured) is not scanned for one beforehand (over a million samples, scanning took
    about 0.2 s)."""
    try:
        ordered = sorted(values)  # type: ignore[type-var]
    except TypeError:
        ordered = sorted(v for v in values if v is not None)
    if ordered and ordered[0] is None:  # a lone unmeasured value sorts without complaint
        return ()
    return tuple(ordered)


def _price_value(metric: Metric, price: PriceRecord | None) -> float | None:
    if price is None:
        return None
    if metric is INPUT_PRICE:
        return price.input_per_mtok
    if metric is OUTPUT_PRICE:
        return price.output_per_mtok
    return price.blended_per_mtok


# --------------------------------------------------------------------------- the comparison

Side: TypeAlias = Literal["a", "b"]


@dataclass(frozen=True, slots=True)
class Value:
    """One model's figure on one metric: the value (``None``: none, or too little data), its rank and pool.

    ``n`` is the number of successful samples behind a measured value. ``short`` is set when data exist but are
    fewer than the minimum: the report shows "not enough data", never the value as if it were solid.
    """

    value: float | None
    rank: int | None = None
    pool: int | None = None
    n: int | None = None
    short: bool = False
    source: str | None = None


@dataclass(frozen=True, slots=True)
class MetricRow:
    """One metric for both models, with who leads and whether that is verified.

    ``basis`` says which data decided the win: "same-provider" (providers serving both), "all-providers",
    "list-price" or "score".
    """

    metric: Metric
    a: Value
    b: Value
    win: Win
    basis: Literal["same-provider", "all-providers", "list-price", "score"]


@dataclass(frozen=True, slots=True)
class ProviderRow:
    """One provider serving one of the two models: volume, distribution and price."""

    provider: str
    model: str
    side: Side
    samples: int
    ok: int
    ttft: Percentiles | None
    speed: Percentiles | None
    success_rate: float | None
    price: PriceRecord | None
    last_at: str | None
    error_kinds: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class RegionRow:
    """One model from one provider, requested from one region (``None``: not recorded): volume and medians over the
    successful samples."""

    model: str
    side: Side
    provider: str
    region: str | None
    samples: int
    ok: int
    ttft_s: float | None
    output_tps: float | None


@dataclass(frozen=True, slots=True)
class SameProviderRow:
    """Both models on one provider in the same window: medians and verdicts like for like."""

    provider: str
    samples_a: int
    samples_b: int
    ttft_a: float | None
    ttft_b: float | None
    speed_a: float | None
    speed_b: float | None
    success_a: float | None
    success_b: float | None
    ttft_win: Win
    speed_win: Win
    success_win: Win


@dataclass(frozen=True, slots=True)
class Depth:
    """How much evidence stands behind the comparison."""

    samples_a: int
    samples_b: int
    benchmark_rows: int
    audit_samples: int
    provider_examples: int
    first_at: str | None
    last_at: str | None

    @property
    def samples(self) -> int:
        return self.samples_a + self.samples_b

    @property
    def data_points(self) -> int:
        return self.samples + self.benchmark_rows + self.audit_samples + self.provider_examples


@dataclass(frozen=True, slots=True)
class BoxRow:
    """One box of a box plot: a label, whether it is a model's overall row, which side, and its percentiles."""

    label: str
    side: Side
    overall: bool
    stats: Percentiles


@dataclass(frozen=True, slots=True)
class Charts:
    ttft: tuple[BoxRow, ...]
    speed: tuple[BoxRow, ...]
    daily_ttft: tuple[tuple[str, tuple[tuple[str, float], ...]], ...]  # (model name, ((day, median), ...))
    daily_speed: tuple[tuple[str, tuple[tuple[str, float], ...]], ...]


@dataclass(frozen=True, slots=True)
class Nearby:
    """Another comparison in the same report set: its models' names, file slug and leader's name."""

    name_a: str
    name_b: str
    slug: str
    leader: str | None
    data_points: int


@dataclass(frozen=True, slots=True)
class Comparison:
    """Everything one report states, as numbers and verdicts."""

    a: str
    b: str
    name_a: str
    name_b: str
    slug: str
    window: Window
    settings: Settings
    depth: Depth
    shared_providers: tuple[str, ...]
    thin_shared_providers: tuple[str, ...]
    same_provider: tuple[SameProviderRow, ...]
    metrics: tuple[MetricRow, ...]
    providers: tuple[ProviderRow, ...]
    info_a: ModelInfo | None
    info_b: ModelInfo | None
    charts: Charts
    nearby: tuple[Nearby, ...] = ()
    price_sources: tuple[str, ...] = ()
    score_sources: tuple[str, ...] = ()
    metadata_sources: tuple[str, ...] = ()
    workload: WorkloadScope | None = None
    stale: tuple[StaleModel, ...] | None = None  # None: not checked
    regions: tuple[RegionRow, ...] = ()  # empty unless the pair's samples come from more than one region
    audits: tuple[AuditRow, ...] = ()
    audit_span: tuple[str, str] | None = None  # (since, until) of the audits; None: not read

    def name(self, side: Side | None) -> str | None:
        return None if side is None else self.name_a if side == "a" else self.name_b

    def verified_wins(self, side: Side) -> tuple[MetricRow, ...]:
        return tuple(row for row in self.metrics if row.win.verified and row.win.leader == side)

    def unverified_leads(self, side: Side) -> tuple[MetricRow, ...]:
        return tuple(row for row in self.metrics if not row.win.verified and row.win.leader == side)

    @property
    def leader(self) -> Side | None:
        """The model with more verified metric wins; ``None`` for a tie, including none at all."""
        wins_a, wins_b = len(self.verified_wins("a")), len(self.verified_wins("b"))
        if wins_a == wins_b:
            return None
        return "a" if wins_a > wins_b else "b"


def display_name(model: str, info: ModelInfo | None) -> str:
    """The name a report uses for a model: models.dev's name for it, else probe's canonical name."""
    return info.name if info is not None and info.name else model


def enough_data_for_pair(evidence: Evidence, a: str, b: str) -> bool:
    return evidence.enough_data(a) and evidence.enough_data(b)


def build_comparison(evidence: Evidence, a: str, b: str, *, slug: str, nearby: Sequence[Nearby] = ()) -> Comparison:
    """Compute everything the report on ``a`` vs ``b`` states."""
    settings = evidence.settings
    info_a, info_b = evidence.metadata.get(a), evidence.metadata.get(b)
    name_a, name_b = display_name(a, info_a), display_name(b, info_b)
    if name_a == name_b:  # two canonical names that models.dev calls the same: keep them apart
        name_a, name_b = a, b
    shared, thin = _shared_providers(evidence, a, b)
    basis: Literal["same-provider", "all-providers"] = "same-provider" if shared else "all-providers"
    strata: tuple[str | None, ...] = tuple(shared) if shared else (None,)

    metrics: list[MetricRow] = []
    for metric in MEASURED:
        win = compare_medians(
            [(evidence.estimate(a, p, metric.key), evidence.estimate(b, p, metric.key)) for p in strata],
            lower_is_better=metric.lower_is_better,
            min_samples=settings.min_samples,
        )
        metrics.append(MetricRow(metric, _measured_value(evidence, metric, a), _measured_value(evidence, metric, b), win, basis))
    for metric in PRICES:
        price_a, price_b = evidence.list_price(a), evidence.list_price(b)
        value_a, value_b = _price_value(metric, price_a), _price_value(metric, price_b)
        win = price_win(value_a, price_a.source if price_a else None, value_b, price_b.source if price_b else None)
        metrics.append(MetricRow(metric, _ranked(evidence, metric, a, value_a, price_a), _ranked(evidence, metric, b, value_b, price_b), win, "list-price"))
    ok_a, n_a = _success_counts(evidence, a, strata)
    ok_b, n_b = _success_counts(evidence, b, strata)
    metrics.append(
        MetricRow(
            SUCCESS,
            _success_value(evidence, a),
            _success_value(evidence, b),
            rate_win(ok_a, n_a, ok_b, n_b, min_samples=settings.min_samples),
            basis,
        )
    )
    score_rows, score_sources = _score_rows(evidence, a, b)
    metrics.extend(score_rows)

    cell_a, cell_b = evidence.cell(a), evidence.cell(b)
    providers = _provider_rows(evidence, a, b)
    starts = [c.first_at for c in (cell_a, cell_b) if c.first_at]
    ends = [c.last_at for c in (cell_a, cell_b) if c.last_at]
    benchmark_rows = sum(len(found) for model in (a, b) for found in evidence.model_scores(model).values())
    audits = audit_rows(evidence.audits, evidence.audit_pages, ((a, name_a), (b, name_b)))
    depth = Depth(
        samples_a=cell_a.samples,
        samples_b=cell_b.samples,
        benchmark_rows=benchmark_rows,
        audit_samples=sum(row.audit.audit_samples for row in audits),
        provider_examples=len(providers),
        first_at=min(starts) if starts else None,
        last_at=max(ends) if ends else None,
    )
    price_records = [evidence.list_price(a), evidence.list_price(b)] + [row.price for row in providers]
    return Comparison(
        a=a,
        b=b,
        name_a=name_a,
        name_b=name_b,
        slug=slug,
        window=evidence.window,
        settings=settings,
        depth=depth,
        shared_providers=tuple(shared),
        thin_shared_providers=tuple(thin),
        same_provider=tuple(_same_provider_row(evidence, a, b, p) for p in shared),
        metrics=tuple(metrics),
        providers=providers,
        info_a=info_a,
        info_b=info_b,
        charts=_charts(evidence, a, b, name_a, name_b),
        nearby=tuple(nearby),
        price_sources=tuple(sorted({p.source for p in price_records if p is not None})),
        score_sources=score_sources,
        metadata_sources=tuple(sorted({i.source for i in (info_a, info_b) if i is not None and i.source})),
        workload=evidence.workload,
        stale=evidence.stale_of((a, b)),
        regions=_region_rows(evidence, a, b),
        audits=audits,
        audit_span=(evidence.audits.since, evidence.audits.until) if evidence.audits is not None else None,
    )


def _shared_providers(evidence: Evidence, a: str, b: str) -> tuple[list[str], list[str]]:
    """Providers serving both models: those with enough successful samples of each, and the thinner rest."""
    both = sorted(set(evidence.providers(a)) & set(evidence.providers(b)))
    minimum = evidence.settings.min_samples
    shared = [p for p in both if evidence.cell(a, p).ok >= minimum and evidence.cell(b, p).ok >= minimum]
    return shared, [p for p in both if p not in shared]


def _measured_value(evidence: Evidence, metric: Metric, model: str) -> Value:
    cell = evidence.cell(model)
    n = cell.n(metric.key)
    if n == 0:
        return Value(None, n=0)
    rank, pool = evidence.rank(metric, model)
    return Value(cell.median(metric.key), rank=rank, pool=pool, n=n, short=n < evidence.settings.min_samples)


def _ranked(evidence: Evidence, metric: Metric, model: str, value: float | None, price: PriceRecord | None) -> Value:
    if value is None:
        return Value(None)
    rank, pool = evidence.rank(metric, model)
    return Value(value, rank=rank, pool=pool, source=price.source if price else None)


def _success_value(evidence: Evidence, model: str) -> Value:
    cell = evidence.cell(model)
    if not cell.samples:
        return Value(None, n=0)
    rank, pool = evidence.rank(SUCCESS, model)
    return Value(cell.success_rate, rank=rank, pool=pool, n=cell.samples, short=cell.samples < evidence.settings.min_samples)


def _success_counts(evidence: Evidence, model: str, strata: Sequence[str | None]) -> tuple[int, int]:
    cells = [evidence.cell(model, p) for p in strata]
    return sum(c.ok for c in cells), sum(c.samples for c in cells)


def _score_rows(evidence: Evidence, a: str, b: str) -> tuple[list[MetricRow], tuple[str, ...]]:
    """One row per benchmark both models have, from a source they share when there is one."""
    scores_a, scores_b = evidence.model_scores(a), evidence.model_scores(b)
    rows: list[MetricRow] = []
    sources: set[str] = set()
    for benchmark in sorted(set(scores_a) & set(scores_b)):
        by_source_a = {s.source: s for s in scores_a[benchmark]}
        by_source_b = {s.source: s for s in scores_b[benchmark]}
        common = sorted(set(by_source_a) & set(by_source_b), key=lambda s: (-_date_key(max(by_source_a[s].date, by_source_b[s].date)), s))
        if common:
            pick_a, pick_b = by_source_a[common[0]], by_source_b[common[0]]
        else:
            pick_a, pick_b = _latest(scores_a[benchmark]), _latest(scores_b[benchmark])
        sources.update((pick_a.source, pick_b.source))
        metric = score_metric(benchmark)
        rank_a, pool_a = evidence.score_rank(benchmark, pick_a.source, a)
        rank_b, pool_b = evidence.score_rank(benchmark, pick_b.source, b)
        rows.append(
            MetricRow(
                metric,
                Value(pick_a.score, rank=rank_a, pool=pool_a, source=pick_a.source),
                Value(pick_b.score, rank=rank_b, pool=pool_b, source=pick_b.source),
                score_win(pick_a.score, pick_a.source, pick_b.score, pick_b.source),
                "score",
            )
        )
    return rows, tuple(sorted(sources))


def _date_key(date: str) -> int:
    return int(date.replace("-", "").ljust(8, "0"))


def _latest(scores: Sequence[Score]) -> Score:
    return sorted(scores, key=lambda s: (-_date_key(s.date), s.source))[0]


def _provider_rows(evidence: Evidence, a: str, b: str) -> tuple[ProviderRow, ...]:
    rows = []
    for provider in sorted(set(evidence.providers(a)) | set(evidence.providers(b))):
        for side, model in (("a", a), ("b", b)):
            if provider not in evidence.providers(model):
                continue
            cell = evidence.cell(model, provider)
            rows.append(
                ProviderRow(
                    provider=provider,
                    model=model,
                    side=side,  # type: ignore[arg-type]
                    samples=cell.samples,
                    ok=cell.ok,
                    ttft=cell.percentiles(TTFT.key),
                    speed=cell.percentiles(SPEED.key),
                    success_rate=cell.success_rate,
                    price=evidence.provider_price(model, provider),
                    last_at=cell.last_at,
                    error_kinds=cell.error_kinds,
                )
            )
    return tuple(rows)


def _region_rows(evidence: Evidence, a: str, b: str) -> tuple[RegionRow, ...]:
    """Per model, provider and region, when the pair's samples were sent from more than one region; else none."""
    found = [(side, group) for side, model in (("a", a), ("b", b)) for group in evidence.region_groups(model)]
    if len({group.region for _, group in found}) < 2:
        return ()
    found.sort(key=lambda item: (item[0], item[1].provider, item[1].region is None, item[1].region or ""))
    return tuple(
        RegionRow(
            model=group.model,
            side=side,  # type: ignore[arg-type]
            provider=group.provider,
            region=group.region,
            samples=group.count,
            ok=group.ok,
            ttft_s=_median_of(group.ttft_s),
            output_tps=_median_of(group.output_tps),
        )
        for side, group in found
    )


def _median_of(values: Sequence[float | None]) -> float | None:
    measured = sorted(v for v in values if v is not None)
    return quantile_sorted(measured, 50) if measured else None


def _same_provider_row(evidence: Evidence, a: str, b: str, provider: str) -> SameProviderRow:
    cell_a, cell_b = evidence.cell(a, provider), evidence.cell(b, provider)
    minimum = evidence.settings.min_samples

    def medians(metric: Metric) -> Win:
        return compare_medians(
            [(evidence.estimate(a, provider, metric.key), evidence.estimate(b, provider, metric.key))],
            lower_is_better=metric.lower_is_better,
            min_samples=minimum,
        )

    return SameProviderRow(
        provider=provider,
        samples_a=cell_a.samples,
        samples_b=cell_b.samples,
        ttft_a=cell_a.median(TTFT.key),
        ttft_b=cell_b.median(TTFT.key),
        speed_a=cell_a.median(SPEED.key),
        speed_b=cell_b.median(SPEED.key),
        success_a=cell_a.success_rate,
        success_b=cell_b.success_rate,
        ttft_win=medians(TTFT),
        speed_win=medians(SPEED),
        success_win=rate_win(cell_a.ok, cell_a.samples, cell_b.ok, cell_b.samples, min_samples=minimum),
    )


def _charts(evidence: Evidence, a: str, b: str, name_a: str, name_b: str) -> Charts:
    def boxes(metric: Metric) -> tuple[BoxRow, ...]:
        rows = []
        for side, model, name in (("a", a, name_a), ("b", b, name_b)):
            overall = evidence.cell(model).percentiles(metric.key)
            if overall is None:
                continue
            rows.append(BoxRow(f"{name}, all providers", side, True, overall))  # type: ignore[arg-type]
            for provider in evidence.providers(model):
                stats = evidence.cell(model, provider).percentiles(metric.key)
                if stats is not None:
                    rows.append(BoxRow(f"{name} · {provider}", side, False, stats))  # type: ignore[arg-type]
        return tuple(rows)

    return Charts(
        ttft=boxes(TTFT),
        speed=boxes(SPEED),
        daily_ttft=((name_a, evidence.daily_medians(a, TTFT.key)), (name_b, evidence.daily_medians(b, TTFT.key))),
        daily_speed=((name_a, evidence.daily_medians(a, SPEED.key)), (name_b, evidence.daily_medians(b, SPEED.key))),
    )


__all__ = [
    "BLENDED_PRICE",
    "E2E",
    "INPUT_PRICE",
    "MEASURED",
    "OUTPUT_PRICE",
    "PRICES",
    "SPEED",
    "SUCCESS",
    "TTFAT",
    "TTFT",
    "BoxRow",
    "Cell",
    "Charts",
    "Comparison",
    "Depth",
    "Evidence",
    "Index",
    "ModelLine",
    "Metric",
    "MetricRow",
    "Nearby",
    "ProviderRow",
    "RegionRow",
    "SameProviderRow",
    "Settings",
    "StaleModel",
    "Value",
    "Window",
    "WorkloadScope",
    "build_comparison",
    "build_index",
    "display_name",
    "enough_data_for_pair",
    "iso_utc",
    "parse_window",
    "score_metric",
]


# --------------------------------------------------------------------------- the index


@dataclass(frozen=True, slots=True)
class ModelLine:
    """One model in the index: volume, medians and list price over the window."""

    model: str
    name: str
    samples: int
    ok: int
    providers: int
    ttft_s: Value
    speed: Value
    blended_price: Value


@dataclass(frozen=True, slots=True)
class Index:
    window: Window
    settings: Settings
    comparisons: tuple[Comparison, ...]
    models: tuple[ModelLine, ...]
    workload: WorkloadScope | None = None
    stale: tuple[StaleModel, ...] | None = None  # None: not checked


def build_index(evidence: Evidence, comparisons: Sequence[Comparison]) -> Index:
    """The report set's front page: every comparison, and every model in the window."""
    lines = []
    for model in evidence.models():
        cell = evidence.cell(model)
        price = evidence.list_price(model)
        lines.append(
            ModelLine(
                model=model,
                name=display_name(model, evidence.metadata.get(model)),
                samples=cell.samples,
                ok=cell.ok,
                providers=len(evidence.providers(model)),
                ttft_s=_measured_value(evidence, TTFT, model),
                speed=_measured_value(evidence, SPEED, model),
                blended_price=_ranked(evidence, BLENDED_PRICE, model, _price_value(BLENDED_PRICE, price), price),
            )
        )
    stale = evidence.stale_of(evidence.models())
    return Index(evidence.window, evidence.settings, tuple(comparisons), tuple(lines), evidence.workload, stale)
