"""Statistics with known answers: percentiles, the O(1) bootstrap of a median, and what counts as a verified win."""

from __future__ import annotations

import hashlib
import math
import random
from collections import Counter

import pytest

from probe.model import Sample
from probe.stats import (
    MedianEstimate,
    Percentiles,
    Win,
    bootstrap_medians,
    compare_medians,
    group_samples,
    median_estimate,
    percentiles,
    price_win,
    quantile_sorted,
    rank_values,
    rate_win,
    score_win,
    stable_seed,
    verified_win,
    wilson_interval,
)


def test_percentiles_of_one_to_hundred() -> None:
    """p5..p95 of 1..101 are the values themselves (linear interpolation between order statistics)."""
    assert percentiles([float(v) for v in range(101, 0, -1)]) == Percentiles(101, 6.0, 26.0, 51.0, 76.0, 96.0)


def test_percentiles_of_nothing_is_none() -> None:
    """No values, no percentiles: never a row of zeros."""
    assert percentiles([]) is None


def test_quantile_interpolates() -> None:
    """The median of an even count is the mean of the two middle values."""
    assert quantile_sorted([1.0, 2.0, 3.0, 10.0], 50) == 2.5


def test_rank_values_uses_competition_ranking() -> None:
    """Ties share a rank and the next rank skips: 1, 2, 2, 4; the direction follows the metric."""
    values = {"a": 1.0, "b": 2.0, "c": 2.0, "d": 3.0}
    assert rank_values(values, lower_is_better=True) == {"a": 1, "b": 2, "c": 2, "d": 4}
    assert rank_values(values, lower_is_better=False) == {"a": 4, "b": 2, "c": 2, "d": 1}


# --------------------------------------------------------------------------- bootstrap


def test_bootstrap_median_of_three_has_the_exact_distribution() -> None:
    """Resampling [1, 2, 3]: the median is 1 or 3 with probability 7/27 each and 2 with 13/27."""
    medians = bootstrap_medians([1.0, 2.0, 3.0], 27_000, random.Random(1))
    counts = Counter(medians)
    assert counts[1.0] / 27_000 == pytest.approx(7 / 27, abs=0.01)
    assert counts[2.0] / 27_000 == pytest.approx(13 / 27, abs=0.01)
    assert counts[3.0] / 27_000 == pytest.approx(7 / 27, abs=0.01)


def test_bootstrap_median_of_two_averages_the_middle_pair() -> None:
    """Resampling [1, 2]: medians 1 and 2 with probability 1/4 each, 1.5 with 1/2 (the even-n path)."""
    counts = Counter(bootstrap_medians([1.0, 2.0], 20_000, random.Random(2)))
    assert set(counts) == {1.0, 1.5, 2.0}
    assert counts[1.5] / 20_000 == pytest.approx(0.5, abs=0.015)
    assert counts[1.0] / 20_000 == pytest.approx(0.25, abs=0.015)


@pytest.mark.parametrize("n", [40, 41, 4_000, 4_001])
def test_bootstrap_median_spread_matches_theory(n: int) -> None:
    """For uniform data the median's standard error is about 1 / (2 sqrt(n)), on the exact and the normal path."""
    rng = random.Random(n)
    ordered = sorted(rng.random() for _ in range(n))
    medians = bootstrap_medians(ordered, 4_000, random.Random(7))
    mean = sum(medians) / len(medians)
    sd = math.sqrt(sum((m - mean) ** 2 for m in medians) / (len(medians) - 1))
    assert sd == pytest.approx(0.5 / math.sqrt(n), rel=0.25)
    assert min(medians) >= ordered[0] and max(medians) <= ordered[-1]


def test_bootstrap_of_one_value_is_that_value() -> None:
    assert bootstrap_medians([4.2], 5, random.Random(0)) == (4.2,) * 5


@pytest.mark.parametrize(
    ("n", "digest"),
    [(40, "17fd7ab9bc273431"), (41, "9f8deb99a1af813a"), (1000, "bdbb75dbfb918e22"), (1001, "4e1e7f8f66e97b28")],
)
def test_bootstrap_draws_are_pinned(n: int, digest: str) -> None:
    """The resampled medians for a seed never change (both paths, odd and even n): reports made before a faster
    implementation state the same confidence intervals after it."""
    ordered = sorted(random.Random(n).lognormvariate(0, 1) for _ in range(n))
    boot = bootstrap_medians(ordered, 1000, random.Random(n * 7))
    assert hashlib.sha256(repr(boot).encode()).hexdigest()[:16] == digest


def test_pooled_interval_is_pinned() -> None:
    """Two strata pooled: the difference and its bootstrap interval, to the last bit."""
    a = median_estimate([random.Random(1).random() + i % 7 for i in range(1001)], seed=1)
    b = median_estimate([random.Random(2).random() + i % 5 for i in range(1000)], seed=2)
    c = median_estimate([i / 999 for i in range(999)], seed=3)
    assert compare_medians([(a, b), (c, a)], lower_is_better=True) == Win(
        "a", True, "95% CI of difference excludes 0", -1.2279152970956337, -1.2419258032247928, -1.2129040405286782
    )


def test_median_estimate_is_deterministic_for_a_seed() -> None:
    """The same values and seed give the same bootstrap, so a report's verdicts never flicker."""
    values = [random.Random(3).random() for _ in range(50)]
    assert median_estimate(values, seed=11) == median_estimate(list(reversed(values)), seed=11)


def test_stable_seed_does_not_depend_on_the_process() -> None:
    """Seeds come from names through CRC-32, not from hash(), which varies per process."""
    assert stable_seed("gpt-4.1-mini", "openai", "ttft_s") == stable_seed("gpt-4.1-mini", "openai", "ttft_s")
    assert stable_seed("a", "bc") != stable_seed("ab", "c")


# --------------------------------------------------------------------------- verified wins


def _lognormal(rng: random.Random, median: float, n: int, sigma: float = 0.3) -> list[float]:
    return [median * rng.lognormvariate(0, sigma) for _ in range(n)]


def test_clearly_different_distributions_give_a_verified_win() -> None:
    """TTFT around 0.47 s against 0.56 s, 60 samples each: b leads and the lead is verified."""
    rng = random.Random(42)
    win = verified_win(_lognormal(rng, 0.56, 60), _lognormal(rng, 0.47, 60), lower_is_better=True)
    assert win.leader == "b"
    assert win.verified
    assert win.reason == "95% CI of difference excludes 0"
    assert win.difference is not None and win.difference > 0
    assert win.ci_low is not None and 0 < win.ci_low < win.difference < win.ci_high  # type: ignore[operator]


def test_higher_is_better_flips_the_leader() -> None:
    """For output speed the larger median leads."""
    rng = random.Random(5)
    win = verified_win(_lognormal(rng, 80, 50), _lognormal(rng, 125, 50), lower_is_better=False)
    assert (win.leader, win.verified) == ("b", True)


@pytest.mark.parametrize("n", [25, 1200])
def test_identical_distributions_rarely_give_a_verified_win(n: int) -> None:
    """Over 200 seeds, two samples of one distribution give a verified win at most ~7 % of the time (nominal 5 %),
    on the exact bootstrap path (n < 1000) and the normal one."""
    false_wins = 0
    for seed in range(200):
        rng = random.Random(seed)
        win = verified_win(_lognormal(rng, 0.5, n), _lognormal(rng, 0.5, n), lower_is_better=True, seed=seed)
        false_wins += win.verified
    assert false_wins / 200 <= 0.07


def test_too_few_samples_are_not_verified() -> None:
    """12 samples against a minimum of 20: the leader is shown, not verified, and the reason says why."""
    rng = random.Random(1)
    win = verified_win(_lognormal(rng, 1.0, 12), _lognormal(rng, 0.2, 80), lower_is_better=True)
    assert win.leader == "b"
    assert not win.verified
    assert win.reason == "too few samples: 12 < 20"


def test_no_data_has_no_leader() -> None:
    win = verified_win([], [1.0, 2.0], lower_is_better=True)
    assert (win.leader, win.verified) == (None, False)


def test_min_samples_is_configurable() -> None:
    rng = random.Random(9)
    a, b = _lognormal(rng, 1.0, 15, 0.05), _lognormal(rng, 0.5, 15, 0.05)
    assert not verified_win(a, b, True).verified
    assert verified_win(a, b, True, min_samples=10).verified


def test_comparing_within_providers_removes_a_provider_mix_confound() -> None:
    """Within each provider the models are identical; only the provider mix differs.

    Pooled, a looks faster because most of its samples come from the fast provider; compared like with like
    (within each provider, then combined) there is no verified difference.
    """
    rng = random.Random(3)
    fast_a, slow_a = _lognormal(rng, 0.3, 90, 0.1), _lognormal(rng, 0.9, 10, 0.1)
    fast_b, slow_b = _lognormal(rng, 0.3, 10, 0.1), _lognormal(rng, 0.9, 90, 0.1)
    pooled = verified_win(fast_a + slow_a, fast_b + slow_b, lower_is_better=True)
    assert (pooled.leader, pooled.verified) == ("a", True)
    strata = [
        (median_estimate(fast_a, seed=1), median_estimate(fast_b, seed=2)),
        (median_estimate(slow_a, seed=3), median_estimate(slow_b, seed=4)),
    ]
    within = compare_medians(strata, lower_is_better=True)
    assert not within.verified
    assert within.reason == "95% CI of difference includes 0"


def test_strata_without_data_on_one_side_are_ignored() -> None:
    only = (median_estimate([1.0] * 30, seed=1), median_estimate([2.0] * 30, seed=2))
    win = compare_medians([only, (MedianEstimate(0, None), median_estimate([5.0], seed=3))], lower_is_better=True)
    assert win.leader == "a" and win.difference == -1.0


# --------------------------------------------------------------------------- rates, prices, scores


def test_wilson_interval_of_zero_successes() -> None:
    """0 of 10: the Wilson upper bound is about 0.278, not the normal approximation's 0."""
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)


def test_success_rate_difference_verified_with_enough_evidence() -> None:
    """100 % of 200 against 80 % of 200 is verified; 20/20 against 19/20 is not."""
    assert rate_win(200, 200, 160, 200).verified
    close = rate_win(20, 20, 19, 20)
    assert close.leader == "a" and not close.verified


def test_success_rate_needs_min_samples() -> None:
    assert rate_win(10, 10, 0, 10).reason == "too few samples: 10 and 10 < 20"


def test_price_win_verified_when_both_sources_are_known() -> None:
    win = price_win(0.40, "genai-prices 0.2.3", 0.10, "providers.toml")
    assert (win.leader, win.verified) == ("b", True)
    assert not price_win(0.40, "", 0.10, "providers.toml").verified
    assert price_win(None, None, 0.10, "x").reason == "no price for a"


def test_score_win_needs_one_source() -> None:
    """Two sources run a benchmark differently: a gap between them is not verified."""
    assert score_win(92.5, "AA", 84.8, "AA").verified
    different = score_win(92.5, "AA", 84.8, "Vendor card")
    assert different.leader == "a" and not different.verified
    assert different.reason == "different sources (AA vs Vendor card)"


# --------------------------------------------------------------------------- grouping


def test_group_samples_keeps_columns_aligned() -> None:
    """Groups split by provider, model, day and outcome; value columns keep one entry per sample, None included."""
    samples = [
        Sample("1", "r", "p", "m", "openai-chat", "2025-06-01T10:00:00.000Z", "ok", ttft_s=0.5, output_tps=None),
        Sample("2", "r", "p", "m", "openai-chat", "2025-06-01T11:00:00.000Z", "ok", ttft_s=None, output_tps=90.0),
        Sample("3", "r", "p", "m", "openai-chat", "2025-06-01T12:00:00.000Z", "error", error_kind="server"),
        Sample("4", "r", "p", "m", "openai-chat", "2025-06-02T00:00:00.000Z", "ok", ttft_s=0.7, output_tps=80.0),
    ]
    groups = group_samples(samples)
    assert [(g.day, g.status, g.error_kind, g.count) for g in groups] == [
        ("2025-06-01", "error", "server", 1),
        ("2025-06-01", "ok", None, 2),
        ("2025-06-02", "ok", None, 1),
    ]
    assert groups[1].ttft_s == (0.5, None) and groups[1].output_tps == (None, 90.0)
    assert groups[0].ttft_s == ()
