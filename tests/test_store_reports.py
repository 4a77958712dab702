"""The store's report side: migration m002, samples grouped as columns, scores and price records."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest
from sqlite_utils import Database, Migrations

from probe.model import PriceRecord, Sample, Score
from probe.stats import group_samples
from probe.store import MIGRATION_SET, Store, m001_initial, m002_scores_prices_report_index, m003_audits


def _samples() -> list[Sample]:
    """Two providers, two models, three days, errors and unmeasured values; values exact in 6 decimals."""
    rng = random.Random(8)
    samples = []
    for index in range(240):
        provider = ("openai", "azure")[index % 2]
        model = ("gpt-4.1-mini", "gpt-4.1-nano")[(index // 2) % 2]
        day = 1 + index % 3
        started = f"2025-06-0{day}T{index % 24:02d}:{index % 60:02d}:00.000Z"
        if index % 17 == 0:
            samples.append(Sample(f"s{index}", "r", provider, model, "openai-chat", started, "error",
                                  error_kind=("server", "rate_limited")[index % 2]))
            continue
        samples.append(Sample(f"s{index}", "r", provider, model, "openai-chat", started, "ok",
                              ttft_s=round(rng.uniform(0.2, 1.5), 6),
                              ttfat_s=None if index % 11 == 0 else round(rng.uniform(0.2, 1.5), 6),
                              output_tps=round(rng.uniform(40, 200), 6)))
    return samples


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    with Store.open(tmp_path / "results.db") as opened:
        opened.insert_samples(_samples())
        yield opened


def _key(group):  # type: ignore[no-untyped-def]
    return (group.day, group.provider, group.model, group.status, group.error_kind or "")


def test_sample_groups_match_grouping_in_memory(store: Store) -> None:
    """The SQL grouping gives the same groups, counts, stamps and aligned value columns as `group_samples`."""
    from_store = sorted(store.sample_groups(), key=_key)
    in_memory = sorted(group_samples(_samples()), key=_key)
    assert len(from_store) == len(in_memory) > 10
    for stored, expected in zip(from_store, in_memory):
        assert _key(stored) == _key(expected)
        assert (stored.count, stored.first_at, stored.last_at) == (expected.count, expected.first_at, expected.last_at)
        assert sorted(zip(stored.ttft_s, stored.ttfat_s, stored.output_tps), key=repr) == sorted(
            zip(expected.ttft_s, expected.ttfat_s, expected.output_tps), key=repr
        )


def test_sample_groups_window_is_inclusive_then_exclusive(store: Store) -> None:
    """``since`` includes, ``until`` excludes, to the millisecond; ``models`` filters."""
    groups = store.sample_groups(since="2025-06-02T00:00:00.000Z", until="2025-06-03T00:00:00.000Z")
    assert {g.day for g in groups} == {"2025-06-02"}
    assert sum(g.count for g in groups) == 80
    only = store.sample_groups(models=["gpt-4.1-nano"])
    assert {g.model for g in only} == {"gpt-4.1-nano"}


def test_sample_groups_read_only_the_covering_index(store: Store) -> None:
    """Over a window, both queries search idx_samples_report by day: no table reads, no sort (fast at 1M rows)."""
    statements: list[str] = []
    store.db.conn.set_trace_callback(statements.append)
    store.sample_groups(since="2025-06-02T00:00:00.000Z", until="2025-06-03T00:00:00.000Z")
    store.db.conn.set_trace_callback(None)
    queries = [sql for sql in statements if sql.startswith("SELECT")]  # traced with their parameters bound
    assert len(queries) == 2
    for query in queries:
        plan = " ".join(row[-1] for row in store.db.execute("EXPLAIN QUERY PLAN " + query))
        assert "COVERING INDEX idx_samples_report" in plan
        assert "TEMP B-TREE" not in plan


def test_sample_groups_keep_every_float_as_stored(tmp_path: Path) -> None:
    """Values come back bit for bit, not through text with 15 significant digits (as json_group_array printed
    them before SQLite 3.43)."""
    values = (0.1 + 0.2, 1 / 3, 2.0000000000000004, 123.45678901234567)
    samples = [Sample(f"s{i}", "r", "p", "m", "openai-chat", f"2025-06-01T00:00:0{i}.000Z", "ok", ttft_s=v,
                      ttfat_s=v * 2, output_tps=v * 3) for i, v in enumerate(values)]  # fmt: skip
    with Store.open(tmp_path / "results.db") as store:
        store.insert_samples(samples)
        (group,) = store.sample_groups()
    assert sorted(zip(group.ttft_s, group.ttfat_s, group.output_tps)) == sorted((v, v * 2, v * 3) for v in values)


def test_run_starts_fold_a_run_across_days_and_read_only_their_index(tmp_path: Path) -> None:
    """A run that crosses midnight starts at its first request on the first day; audit requests and samples outside
    the window do not count; the query follows idx_samples_runs without table reads or a sort."""
    def at(index: int, run_id: str, started_at: str, workload: str | None = None) -> Sample:
        return Sample(f"s{index}", run_id, "p", "m", "openai-chat", started_at, "ok", ttft_s=0.5, workload=workload)

    with Store.open(tmp_path / "results.db") as store:
        store.insert_samples([
            at(0, "r0", "2025-05-31T23:00:00.000Z"),  # before the window
            at(1, "r1", "2025-06-01T23:59:00.000Z"),
            at(2, "r1", "2025-06-02T00:01:00.000Z"),
            at(3, "r2", "2025-06-02T04:00:00.000Z", workload="audit"),
            at(4, "r2", "2025-06-02T05:00:00.000Z"),
            at(5, "r0", "2025-06-03T00:00:00.000Z"),  # at the window's end: excluded
        ])  # fmt: skip
        statements: list[str] = []
        store.db.conn.set_trace_callback(statements.append)
        starts = store.run_starts(since="2025-06-01T00:00:00.000Z", until="2025-06-03T00:00:00.000Z")
        store.db.conn.set_trace_callback(None)
        (query,) = [sql for sql in statements if sql.startswith("SELECT")]
        plan = " ".join(row[-1] for row in store.db.execute("EXPLAIN QUERY PLAN " + query))
    assert starts == {"m": ["2025-06-01T23:59:00.000Z", "2025-06-02T05:00:00.000Z"]}
    assert "COVERING INDEX idx_samples_runs" in plan and "TEMP B-TREE" not in plan


def test_scores_replace_the_same_row(store: Store) -> None:
    """Importing a score again for the same model, benchmark, source and date replaces it."""
    store.insert_scores([Score("m", "MATH-500", 90.0, "AA", "2025-05-01"), Score("m", "AIME", 40.0, "AA", "2025-05-01")])
    store.insert_scores([Score("m", "MATH-500", 91.0, "AA", "2025-05-01")])
    assert store.scores() == [Score("m", "AIME", 40.0, "AA", "2025-05-01"), Score("m", "MATH-500", 91.0, "AA", "2025-05-01")]


def test_price_history_is_append_only(store: Store) -> None:
    """A price recorded for a (model, provider, moment) stays as first stored; records come back oldest first."""
    first = PriceRecord("m", "", 0.4, 1.6, None, "genai-prices 0.2.3", None, "2025-06-01T00:00:00.000Z")
    later = PriceRecord("m", "openai", 0.3, 1.2, 0.075, "providers.toml", "2025-05-01", "2025-06-02T00:00:00.000Z")
    assert store.record_prices([later, first]) == 2
    assert store.record_prices([PriceRecord("m", "", 9.0, 9.0, None, "x", None, "2025-06-01T00:00:00.000Z")]) == 0
    assert store.price_records() == [first, later]


def test_a_database_from_before_m002_is_upgraded(tmp_path: Path) -> None:
    """A file with only the first migration gains the scores and prices tables and the index on open."""
    path = tmp_path / "old.db"
    db = Database(sqlite3.connect(path))
    old = Migrations(MIGRATION_SET)
    old()(m001_initial)
    old.apply(db)
    db.conn.close()
    with Store.open(path) as store:
        store.insert_samples(_samples()[:10])
        assert sum(g.count for g in store.sample_groups()) == 10
        assert store.scores() == [] and store.price_records() == []
        indexes = {row[0] for row in store.db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "idx_samples_report" in indexes


def test_a_database_from_before_m004_gains_the_run_and_region_indexes(tmp_path: Path) -> None:
    """A file at m003 keeps its samples and gains idx_samples_runs and idx_samples_region on open."""
    path = tmp_path / "old.db"
    db = Database(sqlite3.connect(path))
    old = Migrations(MIGRATION_SET)
    for step in (m001_initial, m002_scores_prices_report_index, m003_audits):
        old()(step)
    old.apply(db)
    db.conn.close()
    with Store.open(path) as store:
        store.insert_samples(_samples()[:10])
        assert store.regions() == [None]
        assert sum(len(found) for found in store.run_starts(since="2025-06-01", until="2025-06-04").values()) == 2
        indexes = {row[0] for row in store.db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"idx_samples_runs", "idx_samples_region"} <= indexes
