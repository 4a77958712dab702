"""Store reads for workloads, budgets and staleness, and the stale-data rule itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from probe.model import Sample
from probe.report.data import STALE_AFTER_S, STALE_FLOOR_S, stale_limit_s, usual_interval_s
from probe.store import Store
from tests.support import assert_reads_only_the_report_index


def sample(sample_id: str, run_id: str, model: str, started_at: str, workload: str | None, **values: object) -> Sample:
    return Sample(sample_id, run_id, "p", model, "openai-chat", started_at, "ok", ttft_s=0.5, output_tps=50.0,
                  workload=workload, **values)  # type: ignore[arg-type]  # fmt: skip


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    with Store.open(tmp_path / "results.db") as opened:
        opened.insert_samples([
            sample("a1", "r1", "m", "2025-06-01T00:00:01.000Z", "1k", input_tokens=1_007, output_tokens=1_000),
            sample("a2", "r1", "m", "2025-06-01T00:00:00.000Z", "1k", input_tokens=1_007, output_tokens=None),
            sample("b1", "r2", "m", "2025-06-01T03:00:00.000Z", "1k"),
            sample("c1", "r3", "m", "2025-06-01T06:00:00.000Z", "100", input_tokens=107, output_tokens=300),
            sample("d1", "r4", "m", "2025-06-01T07:00:00.000Z", None),
            sample("e1", "r5", "m", "2025-06-01T08:00:00.000Z", "audit", input_tokens=50, output_tokens=16),
        ])  # fmt: skip
        yield opened


def test_sample_groups_filter_by_workload_or_keep_every_sample(store: Store) -> None:
    assert sum(g.count for g in store.sample_groups(workload="1k")) == 3
    assert sum(g.count for g in store.sample_groups(workload="100")) == 1
    assert sum(g.count for g in store.sample_groups()) == 5  # audit requests never count for speed


def test_a_workload_filter_still_reads_only_the_covering_index(store: Store) -> None:
    assert_reads_only_the_report_index(
        store,
        lambda: store.sample_groups(since="2025-06-01T00:00:00.000Z", until="2025-06-02T00:00:00.000Z", workload="1k"),
    )


def test_workload_counts_name_every_workload_and_the_unrecorded(store: Store) -> None:
    assert store.workload_counts() == {"1k": 3, "100": 1, None: 1}


def test_token_totals_sum_per_provider_and_model_audits_included(store: Store) -> None:
    assert store.token_totals(since="2025-06-01") == [("p", "m", 2_171, 1_316)]
    assert store.token_totals(since="2025-06-01T06:30") == [("p", "m", 50, 16)]


def test_run_starts_are_each_runs_first_request_per_model(store: Store) -> None:
    starts = store.run_starts(since="2025-06-01", until="2025-06-02", workload="1k")
    assert starts == {"m": ["2025-06-01T00:00:00.000Z", "2025-06-01T03:00:00.000Z"]}


def test_the_usual_interval_is_the_median_gap_once_there_are_three_runs() -> None:
    assert usual_interval_s(["2025-06-01T00:00:00Z", "2025-06-01T03:00:00Z"]) is None
    assert usual_interval_s(["2025-06-01T06:00:00Z", "2025-06-01T00:00:00Z", "2025-06-01T03:00:00Z", "2025-06-01T03:10:00Z"]) == 2 * 3600 + 50 * 60


@pytest.mark.parametrize(("usual_s", "limit_s"), [(None, STALE_AFTER_S), (3 * 3600, 6 * 3600), (60, STALE_FLOOR_S), (86_400, STALE_AFTER_S)])
def test_stale_after_twice_the_usual_interval_within_an_hour_and_a_day(usual_s: float | None, limit_s: float) -> None:
    assert stale_limit_s(usual_s) == limit_s
