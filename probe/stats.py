"""Pure statistics over samples: percentiles, ranks, grouping, and verified wins. No I/O.

A win is *verified* only when the data would be unlikely to show it by chance: enough samples on both sides and a
95 % confidence interval of the difference that excludes zero. Random draws use an explicitly seeded generator, so
the same data always gives the same verdict.
"""

from __future__ import annotations

import math
import random
import zlib
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

from probe.model import AUDIT_WORKLOAD, Sample, SampleGroup


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100) with linear interpolation between order statistics; ``None`` when empty."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float | None:
    return percentile(values, 50)


# --------------------------------------------------------------------------- percentiles

Z_95 = 1.959963984540054
"""The two-sided 95 % quantile of the standard normal distribution."""

DEFAULT_MIN_SAMPLES = 20
"""Successful samples each model needs before a win over it can be verified."""

DEFAULT_RESAMPLES = 1000
"""Bootstrap resamples per median: each costs O(1) (see `bootstrap_medians`), about 1-2 ms per 1,000."""


@dataclass(frozen=True, slots=True)
class Percentiles:
    """p5, p25, median, p75 and p95 of ``n`` values (linear interpolation, as `percentile`)."""

    n: int
    p5: float
    p25: float
    p50: float
    p75: float
    p95: float


def percentiles(values: Sequence[float]) -> Percentiles | None:
    """The five percentiles reports show, from one sort; ``None`` when there are no values."""
    if not values:
        return None
    ordered = sorted(values)
    return Percentiles(len(ordered), *(quantile_sorted(ordered, q) for q in (5, 25, 50, 75, 95)))


def quantile_sorted(ordered: Sequence[float], q: float) -> float:
    """`percentile` for values already sorted ascending (not empty)."""
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def rank_values(values: Mapping[str, float], *, lower_is_better: bool) -> dict[str, int]:
    """Competition ranks (1, 2, 2, 4): 1 + how many others are strictly better."""
    ordered = sorted(-v for v in values.values()) if not lower_is_better else sorted(values.values())
    return {
        name: 1 + bisect_left(ordered, value if lower_is_better else -value) for name, value in values.items()
    }


# --------------------------------------------------------------------------- bootstrap of a median


def bootstrap_medians(ordered: Sequence[float], resamples: int, rng: random.Random) -> tuple[float, ...]:
    """Medians of ``resamples`` bootstrap resamples of ``ordered`` (sorted ascending), each drawn in O(1).

    A resample draws n indices uniformly with replacement, ``floor(n * U_i)`` with ``U_i`` uniform on (0, 1).
    ``floor(n * u)`` is monotonic, so the resample's k-th smallest value is ``ordered[floor(n * U_(k))]``, where
    ``U_(k)``, the k-th smallest of n uniforms, follows Beta(k, n + 1 - k). Drawing that one Beta variate gives
    exactly the median a full resample-and-sort would, without building the resample. For an even n the median
    also needs ``U_(k+1)``: given ``U_(k) = u``, the other n - k uniforms are uniform above u, so it is u plus
    (1 - u) times the least of n - k uniforms. From n = 1000 on, Beta(k, n + 1 - k) is drawn from its normal
    approximation (its skew is 0 since k ~ n / 2, its excess kurtosis about -6 / n): about twice as fast, and
    indistinguishable at that size.
    """
    n = len(ordered)
    if n == 0:
        raise ValueError("bootstrap_medians needs at least one value")
    if n == 1:
        return (ordered[0],) * resamples
    k = (n + 1) // 2  # 1-based rank of the (lower) middle value
    alpha, beta = float(k), float(n + 1 - k)
    if n >= _NORMAL_FROM:
        mean = alpha / (alpha + beta)
        sd = math.sqrt(alpha * beta / ((alpha + beta) ** 2 * (alpha + beta + 1)))
        gauss = rng.gauss
        middles = [gauss(mean, sd) for _ in range(resamples)]
    else:
        gamma = rng.gammavariate
        middles = []
        for _ in range(resamples):
            x = gamma(alpha, 1.0)
            middles.append(x / (x + gamma(beta, 1.0)))
    lower = _order_statistics(ordered, middles)
    if n % 2:
        return lower
    uniform = rng.random
    above = 1.0 / (n - k)
    upper = _order_statistics(ordered, [u + (1.0 - u) * (1.0 - uniform() ** above) for u in middles])
    return tuple([(a + b) / 2 for a, b in zip(lower, upper)])


_NORMAL_FROM = 1000


def _order_statistics(ordered: Sequence[float], fractions: Sequence[float]) -> tuple[float, ...]:
    """``ordered[floor(n * u)]`` for each fraction ``u``, the index kept within the values (a normal draw may
    stray outside (0, 1), in practice never)."""
    n = len(ordered)
    indices = [int(u * n) for u in fractions]
    if indices and (min(indices) < 0 or max(indices) >= n):
        indices = [min(max(i, 0), n - 1) for i in indices]
    return tuple(map(ordered.__getitem__, indices))


@dataclass(frozen=True, slots=True)
class MedianEstimate:
    """A sample median with the bootstrap distribution behind it. ``n`` is 0 (and the rest empty) without data."""

    n: int
    median: float | None
    boot: tuple[float, ...] = ()


def median_estimate(values: Sequence[float], *, resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> MedianEstimate:
    """The median of ``values`` and ``resamples`` bootstrap medians drawn with a generator seeded by ``seed``."""
    if not values:
        return MedianEstimate(0, None)
    ordered = sorted(values)
    return MedianEstimate(len(ordered), quantile_sorted(ordered, 50), bootstrap_medians(ordered, resamples, random.Random(seed)))


def stable_seed(*parts: str) -> int:
    """A seed derived from names, the same on every machine and run (unlike ``hash()``)."""
    return zlib.crc32("\x1f".join(parts).encode("utf-8"))


# --------------------------------------------------------------------------- wins

Leader: TypeAlias = Literal["a", "b"]


@dataclass(frozen=True, slots=True)
class Win:
    """Who leads a metric, whether that lead is verified, and why (or why not).

    ``difference`` is a minus b in the metric's unit, with its 95 % confidence interval when one was computed.
    ``leader`` is set whenever both sides have a value and they differ, verified or not.
    """

    leader: Leader | None
    verified: bool
    reason: str
    difference: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None


def compare_medians(
    strata: Sequence[tuple[MedianEstimate, MedianEstimate]],
    *,
    lower_is_better: bool,
    min_samples: int = DEFAULT_MIN_SAMPLES,
) -> Win:
    """Compare two models' medians, within each stratum (e.g. provider), pooled by weight n_a n_b / (n_a + n_b).

    The difference is the weighted mean of the within-stratum differences of medians, a minus b. Its 95 %
    interval comes from the bootstrap: resample i of the difference combines resample i of every median (the
    resamples are independent draws, so pairing them by index is a valid joint draw). A lead is verified when
    each model has ``min_samples`` values in all and the interval excludes 0. One stratum is the plain
    difference of medians.
    """
    strata = [(a, b) for a, b in strata if a.n and b.n]
    n_a = sum(a.n for a, _ in strata)
    n_b = sum(b.n for _, b in strata)
    if not strata:
        return Win(None, False, "no data for both models")
    weights = [a.n * b.n / (a.n + b.n) for a, b in strata]
    total = sum(weights)
    difference = sum(w * (a.median - b.median) for w, (a, b) in zip(weights, strata)) / total  # type: ignore[operator]
    leader = _leader(difference, lower_is_better)
    short = [n for n in (n_a, n_b) if n < min_samples]
    if short:
        counts = " and ".join(str(n) for n in short)
        return Win(leader, False, f"too few samples: {counts} < {min_samples}", difference)
    resamples = min(len(a.boot) for pair in strata for a in pair)
    sums = [0.0] * resamples  # left-to-right, as sum() adds up to Python 3.11, on every Python
    for w, (a, b) in zip(weights, strata):
        sums = [running + w * (x - y) for running, x, y in zip(sums, a.boot, b.boot)]
    diffs = sorted([s / total for s in sums])
    low, high = quantile_sorted(diffs, 2.5), quantile_sorted(diffs, 97.5)
    return _verdict(leader, difference, low, high)


def verified_win(
    a_values: Sequence[float],
    b_values: Sequence[float],
    lower_is_better: bool,
    min_samples: int = DEFAULT_MIN_SAMPLES,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Win:
    """Whether a's and b's medians differ: a bootstrap 95 % interval of the difference of medians excluding 0."""
    a = median_estimate(a_values, resamples=resamples, seed=seed)
    b = median_estimate(b_values, resamples=resamples, seed=seed + 1)
    return compare_medians([(a, b)], lower_is_better=lower_is_better, min_samples=min_samples)


def rate_win(ok_a: int, n_a: int, ok_b: int, n_b: int, *, min_samples: int = DEFAULT_MIN_SAMPLES) -> Win:
    """Compare two success rates (higher is better) with Newcombe's 95 % interval for a difference of proportions.

    Newcombe's hybrid score interval (1998, method 10) combines the two Wilson intervals; unlike the normal
    approximation it stays honest at rates of 100 % or 0 %, where most probing lives.
    """
    if not n_a or not n_b:
        return Win(None, False, "no data for both models")
    p_a, p_b = ok_a / n_a, ok_b / n_b
    difference = p_a - p_b
    leader = _leader(difference, lower_is_better=False)
    short = [n for n in (n_a, n_b) if n < min_samples]
    if short:
        counts = " and ".join(str(n) for n in short)
        return Win(leader, False, f"too few samples: {counts} < {min_samples}", difference)
    low_a, high_a = wilson_interval(ok_a, n_a)
    low_b, high_b = wilson_interval(ok_b, n_b)
    low = difference - math.sqrt((p_a - low_a) ** 2 + (high_b - p_b) ** 2)
    high = difference + math.sqrt((high_a - p_a) ** 2 + (p_b - low_b) ** 2)
    return _verdict(leader, difference, low, high)


def wilson_interval(ok: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson's score interval for a proportion ok / n (n > 0)."""
    p = ok / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def price_win(
    a: float | None, a_source: str | None, b: float | None, b_source: str | None, *, lower_is_better: bool = True
) -> Win:
    """Compare two list prices: verified when both prices are known and each names its source."""
    return _stated_win(a, a_source, b, b_source, lower_is_better=lower_is_better, noun="price")


def score_win(a: float | None, a_source: str | None, b: float | None, b_source: str | None) -> Win:
    """Compare two third-party scores (higher is better): verified only when both come from the same source.

    Two sources rarely run a benchmark the same way (prompting, sampling, subset), so a gap between them is not
    evidence of a difference between the models.
    """
    win = _stated_win(a, a_source, b, b_source, lower_is_better=False, noun="score")
    if win.verified and a_source != b_source:
        return Win(win.leader, False, f"different sources ({a_source} vs {b_source})", win.difference)
    return win


def _stated_win(
    a: float | None, a_source: str | None, b: float | None, b_source: str | None, *, lower_is_better: bool, noun: str
) -> Win:
    if a is None or b is None:
        return Win(None, False, f"no {noun} for " + ("either model" if a is None and b is None else "a" if a is None else "b"))
    difference = a - b
    leader = _leader(difference, lower_is_better)
    if not a_source or not b_source:
        return Win(leader, False, f"{noun} source unknown", difference)
    if leader is None:
        return Win(None, False, f"same {noun}", difference)
    return Win(leader, True, f"both {noun}s from a named source", difference)


def _leader(difference: float, lower_is_better: bool) -> Leader | None:
    if difference == 0:
        return None
    return "a" if (difference < 0) == lower_is_better else "b"


def _verdict(leader: Leader | None, difference: float, low: float, high: float) -> Win:
    if leader is None:
        return Win(None, False, "no difference", difference, low, high)
    if low <= 0 <= high:
        return Win(leader, False, "95% CI of difference includes 0", difference, low, high)
    if (low > 0) != (difference > 0):
        return Win(leader, False, "95% CI of difference disagrees with the point estimate", difference, low, high)
    return Win(leader, True, "95% CI of difference excludes 0", difference, low, high)


# --------------------------------------------------------------------------- grouping


def group_samples(samples: Iterable[Sample]) -> list[SampleGroup]:
    """Samples as `SampleGroup` columns per (provider, model, UTC day, status, error kind), in sorted order.

    The same grouping the store's ``sample_groups`` does in SQL, for samples held in memory: `probe audit` requests
    (``workload = 'audit'``) are left out.
    """
    groups: dict[tuple[str, str, str, str, str], list[Sample]] = {}
    for sample in samples:
        if sample.workload == AUDIT_WORKLOAD:
            continue
        key = (sample.provider, sample.model, sample.started_at[:10], sample.status, sample.error_kind or "")
        groups.setdefault(key, []).append(sample)
    out = []
    for (provider, model, day, status, kind), members in sorted(groups.items()):
        members.sort(key=lambda s: s.started_at)
        ok = status == "ok"
        out.append(
            SampleGroup(
                provider=provider,
                model=model,
                day=day,
                status=status,  # type: ignore[arg-type]
                error_kind=kind or None,
                count=len(members),
                first_at=members[0].started_at,
                last_at=members[-1].started_at,
                ttft_s=tuple(s.ttft_s for s in members) if ok else (),
                ttfat_s=tuple(s.ttfat_s for s in members) if ok else (),
                output_tps=tuple(s.output_tps for s in members) if ok else (),
            )
        )
    return out
