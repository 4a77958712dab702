"""The store's audit side: migration m003, audit probes and their samples, the reads audits need, and audit
requests kept out of the report's speed reads."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlite_utils import Database, Migrations

from probe.model import AUDIT_WORKLOAD, AuditProbe, ChunkTrace, OutcomeCount, Sample
from probe.store import MIGRATION_SET, Store, m001_initial, m002_scores_prices_report_index
from tests.support import assert_reads_only_the_report_index


def _sample(id: str, started: str, *, provider: str = "p", status: str = "ok", kind: str | None = None,
            workload: str | None = None) -> Sample:  # fmt: skip
    return Sample(id, "r", provider, "m", "openai-chat", started, status, error_kind=kind,  # type: ignore[arg-type]
                  ttft_s=0.5 if status == "ok" else None, workload=workload,
                  trace=ChunkTrace((10, 20), (1, 2), "aa") if status == "ok" else ChunkTrace())  # fmt: skip


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    with Store.open(tmp_path / "results.db") as opened:
        opened.insert_samples([
            _sample("old", "2025-06-01T10:00:00.000Z"),
            _sample("a1", "2025-06-03T10:00:00.000Z", workload=AUDIT_WORKLOAD),
            _sample("a2", "2025-06-04T09:00:00.000Z", workload=AUDIT_WORKLOAD, status="error", kind="rate_limited"),
            _sample("o1", "2025-06-04T10:00:00.000Z", workload="1k"),
            _sample("o2", "2025-06-04T11:00:00.000Z"),
            _sample("e1", "2025-06-02T11:00:00.000Z", status="error", kind="server"),
        ])  # fmt: skip
        yield opened


def test_probes_are_stored_once_and_only_with_their_sample(store: Store) -> None:
    """A probe whose sample was never stored is skipped (a killed run), a repeated one kept as first written."""
    canary = AuditProbe("a1", "canary", "m-2025", True, "capital", "canberra", "canberra")
    assert store.insert_audit_probes([canary, AuditProbe("missing", "max_length", "m", False)]) == 1
    assert store.insert_audit_probes([AuditProbe("a1", "max_length", "x", False)]) == 0
    assert store.db.execute("SELECT sample_id, kind, first_party, correct FROM audit_probes").fetchall() == [
        ("a1", "canary", 1, 1)
    ]
    ((sample, probe),) = store.audit_probes(since="2025-06-02", until="2025-06-05")
    assert probe == canary and sample.id == "a1" and sample.trace == ChunkTrace((10, 20), (1, 2), "aa")
    assert store.audit_probes(since="2025-06-04", until="2025-06-05") == []


def test_latest_samples_are_the_newest_successful_ones_with_traces(store: Store) -> None:
    latest = store.latest_samples("p", "m", since="2025-06-02", until="2025-06-05", limit=2)
    assert [s.id for s in latest] == ["o2", "o1"] and latest[0].trace.tokens == (1, 2)
    assert [s.id for s in store.latest_samples("p", "m", since="2025-06-02", until="2025-06-05")] == ["o2", "o1", "a1"]


def test_outcome_counts_split_the_last_day(store: Store) -> None:
    """Every request counts, audit ones included, split at the recent mark, within the window."""
    counts = store.outcome_counts(since="2025-06-02T00:00:00.000Z", until="2025-06-05T00:00:00.000Z",
                                  recent_since="2025-06-04T00:00:00.000Z")  # fmt: skip
    assert sorted(counts, key=repr) == sorted([
        OutcomeCount("p", "m", "error", "rate_limited", True, 1),
        OutcomeCount("p", "m", "error", "server", False, 1),
        OutcomeCount("p", "m", "ok", None, False, 1),
        OutcomeCount("p", "m", "ok", None, True, 2),
    ], key=repr)  # fmt: skip


def test_report_reads_leave_audit_requests_out_and_still_read_only_the_index(store: Store) -> None:
    assert sum(g.count for g in store.sample_groups()) == 4
    assert {r.samples for r in store.summary_rows()} == {4}
    assert_reads_only_the_report_index(
        store, lambda: store.sample_groups(since="2025-06-02T00:00:00.000Z", until="2025-06-05T00:00:00.000Z")
    )


def test_a_database_from_before_m003_gains_audits(tmp_path: Path) -> None:
    """A file at m002 keeps its samples, gains audit_probes, and its report index gains workload."""
    path = tmp_path / "old.db"
    db = Database(sqlite3.connect(path))
    old = Migrations(MIGRATION_SET)
    old()(m001_initial)
    old()(m002_scores_prices_report_index)
    old.apply(db)
    db.conn.execute("INSERT INTO samples (id, run_id, provider, model, api, started_at, status) VALUES"
                    " ('x', 'r', 'p', 'm', 'openai-chat', '2025-06-01T00:00:00.000Z', 'ok')")  # fmt: skip
    db.conn.commit()
    db.conn.close()
    with Store.open(path) as store:
        assert [s.id for s in store.iter_samples()] == ["x"]
        assert store.insert_audit_probes([AuditProbe("x", "max_length", "m", False)]) == 1
        (sql,) = store.db.execute("SELECT sql FROM sqlite_master WHERE name = 'idx_samples_report'").fetchone()
    assert sql.rstrip(")").endswith("workload")


def test_merging_copies_audit_probes(store: Store, tmp_path: Path) -> None:
    """Another machine's audit probes come along with their samples, once."""
    other_path = tmp_path / "other.db"
    with Store.open(other_path) as other:
        other.insert_samples([_sample("far", "2025-06-04T08:00:00.000Z", provider="q", workload=AUDIT_WORKLOAD)])
        other.insert_audit_probes([AuditProbe("far", "canary", "m", False, "capital", "canberra", "sydney")])
    store.merge(other_path)
    store.merge(other_path)
    assert store.db.execute("SELECT sample_id, answer, correct FROM audit_probes").fetchall() == [("far", "sydney", 0)]
