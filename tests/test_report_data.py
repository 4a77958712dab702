"""Comparison data from literal samples: windows, like-for-like verdicts, ranks, thin data, pairs and slugs."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from probe.model import PriceRecord, Sample
from probe.report import Evidence, Settings, build_comparison, parse_window
from probe.report.build import all_pairs, assign_slugs, normalize_pairs
from probe.report.data import SPEED, TTFT
from probe.report.markdown import render_markdown
from probe.stats import group_samples

NOW = datetime(2025, 6, 4, 12, tzinfo=UTC)


def _samples(provider: str, model: str, n: int, ttft: float, speed: float, seed: int, errors: int = 0) -> list[Sample]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        started = (NOW - timedelta(hours=60 * (i + 1) / n)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        if i < errors:
            out.append(Sample(f"{provider}{model}{i}", "r", provider, model, "openai-chat", started, "error", error_kind="server"))
        else:
            out.append(Sample(f"{provider}{model}{i}", "r", provider, model, "openai-chat", started, "ok",
                              ttft_s=ttft * rng.lognormvariate(0, 0.1), ttfat_s=ttft, output_tps=speed * rng.lognormvariate(0, 0.1)))
    return out


def _evidence(samples: list[Sample], **kwargs: object) -> Evidence:
    return Evidence(group_samples(samples), prices=kwargs.get("prices", {}), scores=[], metadata={},  # type: ignore[arg-type]
                    window=parse_window("72h", NOW), settings=Settings())


def _row(comparison, metric):  # type: ignore[no-untyped-def]
    return next(row for row in comparison.metrics if row.metric is metric)


@pytest.mark.parametrize(
    ("text", "label", "since"),
    [
        ("72h", "72 h", "2025-06-01T12:00:00.000Z"),
        ("14d", "14 days", "2025-05-21T12:00:00.000Z"),
        ("all", "all time", None),
        (" ALL ", "all time", None),
    ],
)
def test_parse_window(text: str, label: str, since: str | None) -> None:
    """Windows end at --now and are written as the samples' stamps, so they compare as text."""
    window = parse_window(text, NOW)
    assert (window.label, window.since, window.until) == (label, since, "2025-06-04T12:00:00.000Z")


@pytest.mark.parametrize("text", ["", "72", "0h", "3w", "-1d", "72 hours"])
def test_bad_windows_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a number of hours or days"):
        parse_window(text, NOW)


def test_naive_now_is_utc() -> None:
    assert parse_window("all", datetime(2025, 6, 4, 12)).until == "2025-06-04T12:00:00.000Z"


def test_shared_provider_decides_over_a_provider_mix() -> None:
    """On the provider serving both, the models are equal; elsewhere a sits on a fast host and b on a slow one.

    Compared like with like, there is no verified latency or speed win; the report says it compared within
    the shared provider.
    """
    samples = (
        _samples("shared", "a", 40, 0.5, 100, 1) + _samples("shared", "b", 40, 0.5, 100, 2)
        + _samples("fast", "a", 200, 0.2, 300, 3) + _samples("slow", "b", 200, 1.5, 30, 4)
    )
    comparison = build_comparison(_evidence(samples), "a", "b", slug="a-vs-b")
    assert comparison.shared_providers == ("shared",)
    for metric in (TTFT, SPEED):
        row = _row(comparison, metric)
        assert row.basis == "same-provider"
        assert not row.win.verified, metric.key
    assert "Both models were measured on **shared**" in render_markdown(comparison)


def test_without_a_shared_provider_all_samples_decide() -> None:
    samples = _samples("p1", "a", 40, 0.3, 100, 1) + _samples("p2", "b", 40, 0.6, 100, 2)
    comparison = build_comparison(_evidence(samples), "a", "b", slug="a-vs-b")
    row = _row(comparison, TTFT)
    assert (row.basis, row.win.leader, row.win.verified) == ("all-providers", "a", True)
    assert comparison.leader == "a"


def test_thin_model_is_not_enough_data_and_unranked() -> None:
    """A model below the minimum shows "not enough data" and takes no rank, yet the others keep theirs."""
    samples = _samples("p", "a", 8, 0.1, 500, 1) + _samples("p", "b", 40, 0.6, 100, 2) + _samples("p", "c", 40, 0.4, 90, 3)
    comparison = build_comparison(_evidence(samples), "a", "b", slug="a-vs-b")
    row = _row(comparison, TTFT)
    assert row.a.short and row.a.rank is None and row.a.n == 8
    assert (row.b.rank, row.b.pool) == (2, 2)
    assert row.win.reason == "too few samples: 8 < 20"
    text = render_markdown(comparison)
    assert "not enough data (8 < 20)" in text
    assert "0.00 s" not in text


def test_success_rate_counts_errors() -> None:
    samples = _samples("p", "a", 100, 0.5, 100, 1, errors=30) + _samples("p", "b", 100, 0.5, 100, 2)
    comparison = build_comparison(_evidence(samples), "a", "b", slug="a-vs-b")
    success = comparison.metrics[7]
    assert success.metric.key == "success_rate"
    assert (success.a.value, success.b.value, success.win.leader, success.win.verified) == (0.7, 1.0, "b", True)
    assert comparison.providers[0].error_kinds == (("server", 30),)


def test_prices_compare_list_prices() -> None:
    prices = {
        ("a", ""): PriceRecord("a", "", 0.4, 1.6, None, "genai-prices 0.2.3", None, "t"),
        ("b", ""): PriceRecord("b", "", 0.1, 0.4, None, "providers.toml", None, "t"),
    }
    samples = _samples("p", "a", 30, 0.5, 100, 1) + _samples("p", "b", 30, 0.5, 100, 2)
    comparison = build_comparison(_evidence(samples, prices=prices), "a", "b", slug="a-vs-b")
    blended = next(row for row in comparison.metrics if row.metric.key == "blended_price")
    assert (blended.a.value, blended.b.value) == (pytest.approx(0.7), pytest.approx(0.175))
    assert (blended.win.leader, blended.win.verified) == ("b", True)


def test_pairs_are_deduplicated_and_all_pairs_sorted() -> None:
    assert normalize_pairs([("a", "b"), ("b", "a"), ("a", "a"), ("c", "a")]) == [("a", "b"), ("c", "a")]
    assert all_pairs(["c", "a", "b"]) == [("a", "b"), ("a", "c"), ("b", "c")]


def test_slugs_that_collide_get_a_hash() -> None:
    """gpt-4.1 and gpt-4-1 slug alike; each report still gets its own file."""
    slugs = assign_slugs([("gpt-4.1", "x"), ("gpt-4-1", "x"), ("y", "z")])
    assert slugs[2] == "y-vs-z"
    assert slugs[0] != slugs[1] and all(s.startswith("gpt-4-1-vs-x-") for s in slugs[:2])


def test_unmeasured_values_are_left_out_of_cells_and_daily_medians() -> None:
    """``None`` values drop out of a cell's sorted values and of daily medians, a group's lone ``None`` included."""
    def ok(index: int, ttft: float | None, ttfat: float | None, speed: float | None, model: str = "m") -> Sample:
        return Sample(f"s{index}", "r", "p", model, "openai-chat", f"2025-06-0{1 + index % 2}T12:00:0{index}.000Z", "ok",
                      ttft_s=ttft, ttfat_s=ttfat, output_tps=speed)  # fmt: skip

    evidence = _evidence([ok(0, 0.3, None, 50.0), ok(1, None, None, 40.0), ok(2, 0.1, None, None), ok(3, 0.2, 0.5, 60.0),
                          ok(4, 0.4, None, 30.0, model="n")])  # fmt: skip
    assert evidence.cell("n").values["ttfat_s"] == () and evidence.daily_medians("n", "ttfat_s") == ()
    cell = evidence.cell("m", "p")
    assert cell.values[TTFT.key] == (0.1, 0.2, 0.3)
    assert cell.values["ttfat_s"] == (0.5,)
    assert cell.values[SPEED.key] == (40.0, 50.0, 60.0)
    assert cell.values["e2e_500_s"] == (0.2 + 500 / 60.0, 0.3 + 500 / 50.0)
    assert evidence.daily_medians("m", TTFT.key) == (("2025-06-01", 0.2), ("2025-06-02", 0.2))
    assert evidence.daily_medians("m", "ttfat_s") == (("2025-06-02", 0.5),)
