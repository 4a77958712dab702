"""Merging another machine's database: idempotent, complete (traces, scores, prices), tolerant of an older schema,
and all-or-nothing when a file cannot be used. Also the per-region reads reports split latency with."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from sqlite_utils import Database, Migrations

from probe.ids import new_id
from probe.model import ChunkTrace, PriceRecord, RegionGroup, Sample, Score
from probe.store import MERGED_TABLES, MIGRATION_SET, Store, StoreError, m001_initial, merge_into

DAY = "2025-06-01"


def sample(run_id: str, region: str | None, index: int, **overrides: object) -> Sample:
    values: dict[str, object] = dict(
        id=new_id(), run_id=run_id, provider="openai", model="gpt-4.1-mini", api="openai-chat",
        started_at=f"{DAY}T12:00:{index:02d}.000Z", status="ok", ttft_s=0.5 + index / 100, output_tps=80.0 + index,
        output_tokens=3, tokens_source="usage", region=region, workload="1k",
        trace=ChunkTrace((500_000, 600_000, 700_000), (1, 1, 1), "aaa"),
    )  # fmt: skip
    values.update(overrides)
    return Sample(**values)  # type: ignore[arg-type]


def machine(path: Path, *, host: str, region: str, samples: int = 5, finish: bool = True) -> str:
    """A results database as one machine leaves it: a run, its samples with traces, a score and a price."""
    with Store.open(path) as store:
        run_id = store.begin_run(host=host, region=region, probe_version="0.1.0", config_hash="c", command="probe run",
                                 samples_planned=samples)  # fmt: skip
        store.insert_samples([sample(run_id, region, i) for i in range(samples - 1)])
        store.insert_samples([sample(run_id, region, 59, status="error", error_kind="server", ttft_s=None,
                                     output_tps=None, trace=ChunkTrace())])  # fmt: skip
        store.insert_scores([Score("gpt-4.1-mini", f"bench-{host}", 90.0, "Example Evals", "2025-05-01")])
        recorded_at = f"{DAY}T{len(host):02d}:00:00.000Z"  # when this machine's first report stored the price
        store.record_prices([PriceRecord("gpt-4.1-mini", "", 0.4, 1.6, None, f"prices-{host}", None, recorded_at)])
        if finish:
            store.finish_run(run_id, "completed")
    return run_id


def dump(path: Path) -> list[str]:
    """The database's content, statement by statement (independent of WAL checkpoints and page layout)."""
    with sqlite3.connect(path) as conn:
        lines = list(conn.iterdump())
    conn.close()
    return lines


def table_rows(path: Path, table: str) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
    conn.close()
    return rows


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def here(tmp_path: Path) -> Path:
    path = tmp_path / "here.db"
    machine(path, host="laptop", region="eu-west")
    return path


@pytest.fixture
def there(tmp_path: Path) -> Path:
    path = tmp_path / "there.db"
    machine(path, host="cloud-vm", region="us-east")
    return path


# --------------------------------------------------------------------------- merging


def test_merging_twice_adds_nothing_the_second_time(here: Path, there: Path) -> None:
    """The first merge adds every row of the other file; the second adds none and changes no row."""
    [first] = merge_into(here, [there])
    expected = {"runs": 1, "samples": 5, "sample_traces": 4, "scores": 1, "prices": 1}
    assert first.added == tuple((table, expected.get(table, 0)) for table in MERGED_TABLES)
    after_first = dump(here)
    [second] = merge_into(here, [there])
    assert second.total == 0 and second.runs_finished == 0
    assert dump(here) == after_first


def test_merge_brings_runs_samples_traces_scores_and_prices(here: Path, there: Path) -> None:
    """Every table ends up holding both machines' rows, and the other machine's samples read back whole."""
    merge_into(here, [there])
    for table in ("runs", "samples", "sample_traces", "scores", "prices"):
        assert set(table_rows(there, table)) <= set(table_rows(here, table)), table
    with Store.open(there, readonly=True) as other:
        theirs = list(other.iter_samples(with_trace=True))
    with Store.open(here, readonly=True) as store:
        merged = {s.id: s for s in store.iter_samples(with_trace=True)}
        assert [(r.host, r.region) for r in store.runs()] == [("laptop", "eu-west"), ("cloud-vm", "us-east")]
    assert all(merged[s.id] == s for s in theirs)
    assert merged[theirs[0].id].trace == ChunkTrace((500_000, 600_000, 700_000), (1, 1, 1), "aaa")


def test_merge_leaves_the_other_file_untouched(here: Path, there: Path) -> None:
    """The other file is opened read-only: its bytes are the same after the merge."""
    before = sha256(there)
    merge_into(here, [there])
    assert sha256(there) == before


def test_a_row_both_files_hold_keeps_the_local_version(here: Path, there: Path) -> None:
    """Ids are global, so a clash is the same row: the one already here stays as it is."""
    with Store.open(here) as store:
        [local] = [s for s in store.iter_samples() if s.status == "error"]
    with Store.open(there) as store:
        store.insert_samples([Sample(local.id, local.run_id, "changed", "changed", "x", local.started_at, "ok")])
    merge_into(here, [there])
    with Store.open(here, readonly=True) as store:
        assert [s for s in store.iter_samples() if s.id == local.id] == [local]


def test_a_run_merged_while_running_learns_its_end_once(tmp_path: Path, here: Path) -> None:
    """A run copied while still going takes the end and status the other file records at a later merge."""
    there = tmp_path / "there.db"
    run_id = machine(there, host="cloud-vm", region="us-east", finish=False)
    merge_into(here, [there])
    with Store.open(there) as store:
        store.finish_run(run_id, "completed")
    [counts] = merge_into(here, [there])
    assert counts.total == 0 and counts.runs_finished == 1
    with Store.open(here, readonly=True) as store:
        [run] = [r for r in store.runs() if r.id == run_id]
    assert run.status == "completed" and run.finished_at is not None
    assert merge_into(here, [there])[0].runs_finished == 0


def test_an_older_schema_file_merges_what_it_has(here: Path, tmp_path: Path) -> None:
    """A file at an older migration (here only m001: no scores or prices yet) merges its tables and columns."""
    old = tmp_path / "old.db"
    migrations = Migrations(MIGRATION_SET)
    migrations()(m001_initial)
    db = Database(old)
    migrations.apply(db)
    db["runs"].insert({"id": "old-run", "started_at": f"{DAY}T00:00:00Z", "host": "old-box", "status": "completed"})
    db["samples"].insert({"id": "old-sample", "run_id": "old-run", "provider": "p", "model": "m", "api": "openai-chat",
                          "started_at": f"{DAY}T00:00:01Z", "status": "ok", "ttft_s": 0.25})  # fmt: skip
    db.close()
    [counts] = merge_into(here, [old])
    assert dict(counts.added) == {"runs": 1, "samples": 1, "sample_traces": 0}
    with Store.open(here, readonly=True) as store:
        [merged] = [s for s in store.iter_samples() if s.id == "old-sample"]
    assert (merged.model, merged.ttft_s, merged.workload) == ("m", 0.25, None)


def test_store_merge_takes_several_files(tmp_path: Path, here: Path, there: Path) -> None:
    """`Store.merge` on an open store: one count per file, in order; the same file twice adds nothing the second time."""
    third = tmp_path / "third.db"
    machine(third, host="office", region="ap-south", samples=2)
    with Store.open(here) as store:
        counts = store.merge(there, third, there)
    assert [c.source for c in counts] == [there, third, there]
    assert [dict(c.added)["samples"] for c in counts] == [5, 2, 0]


# --------------------------------------------------------------------------- refusals


def _newer(path: Path) -> None:
    machine(path, host="future", region="x")
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES (?, 'm999_future', 'x')",
                     [MIGRATION_SET])  # fmt: skip
    conn.close()


def _foreign(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE samples (x)")
    conn.close()


def _corrupt(path: Path) -> None:
    with Store.open(path) as store:
        store.insert_samples([sample("r", None, i % 60) for i in range(300)])
    data = bytearray(path.read_bytes())
    data[4096:] = b"\x00\x13" * ((len(data) - 4096) // 2)
    path.write_bytes(bytes(data))


BAD_FILES = {
    "missing": (lambda path: None, "does not exist"),
    "text": (lambda path: path.write_text("not a database\n" * 100), "not a database, or corrupt"),
    "empty": (lambda path: path.write_bytes(b""), "not a probe database"),
    "foreign": (_foreign, "not a probe database .*samples"),
    "newer": (_newer, "newer than this probe knows"),
    "corrupt": (_corrupt, "not a database, or corrupt"),
}


@pytest.mark.parametrize("kind", BAD_FILES)
def test_a_file_that_cannot_be_merged_is_named_and_nothing_changes(kind: str, here: Path, there: Path, tmp_path: Path) -> None:
    """Missing, garbage, empty, foreign, newer or corrupt: a one-line `StoreError` naming that file, raised before
    anything is copied, even from the good file listed before it."""
    make, problem = BAD_FILES[kind]
    bad = tmp_path / "bad.db"
    make(bad)
    before = dump(here)
    with pytest.raises(StoreError, match=problem) as caught:
        merge_into(here, [there, bad])
    assert caught.value.path == bad and "\n" not in str(caught.value)
    assert dump(here) == before


def test_merging_a_database_into_itself_is_refused(here: Path) -> None:
    with pytest.raises(StoreError, match="is the database being merged into"):
        merge_into(here, [here])


def test_a_refused_merge_does_not_create_the_target(tmp_path: Path) -> None:
    target = tmp_path / "new.db"
    with pytest.raises(StoreError):
        merge_into(target, [tmp_path / "missing.db"])
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- regions


def test_regions_and_region_groups_read_the_window_without_audit_requests(tmp_path: Path) -> None:
    """Distinct regions (not recorded last) and, per region, provider and model, counts and successful values."""
    path = tmp_path / "results.db"
    with Store.open(path) as store:
        store.insert_samples([
            sample("r", "eu-west", 1, ttft_s=0.4),
            sample("r", "eu-west", 2, status="error", error_kind="server", ttft_s=None, output_tps=None),
            sample("r", "us-east", 3, ttft_s=0.9, output_tps=None),
            sample("r", None, 4),
            sample("r", "zz-audit", 5, workload="audit"),
            sample("r", "ap-south", 6, started_at="2025-05-01T00:00:00.000Z"),  # before the window
        ])  # fmt: skip
        assert store.regions(since=DAY) == ["eu-west", "us-east", None]
        assert store.regions(since=DAY, workload="10k") == []
        groups = store.region_groups(since=DAY, until="2025-06-02")
    assert groups == [
        RegionGroup("eu-west", "openai", "gpt-4.1-mini", 2, 1, (0.4,), (81.0,)),
        RegionGroup("us-east", "openai", "gpt-4.1-mini", 1, 1, (0.9,), (None,)),
        RegionGroup(None, "openai", "gpt-4.1-mini", 1, 1, (0.54,), (84.0,)),
    ]


def test_regions_seek_the_region_index_instead_of_reading_the_window(tmp_path: Path) -> None:
    """Every query `Store.regions` sends searches idx_samples_region, so its cost follows the regions recorded, not
    the samples in the window; a region with samples only outside the window, or only audit requests, is left out."""
    with Store.open(tmp_path / "results.db") as store:
        store.insert_samples([
            sample("r", "eu-west", 1),
            sample("r", None, 2),
            sample("r", "ap-south", 3, started_at="2025-05-01T00:00:00.000Z"),
            sample("r", "zz-audit", 4, workload="audit"),
        ])  # fmt: skip
        statements: list[str] = []
        store.db.conn.set_trace_callback(statements.append)
        assert store.regions(since=DAY, until="2025-06-02") == ["eu-west", None]
        store.db.conn.set_trace_callback(None)
        queries = [sql for sql in statements if sql.startswith("SELECT")]
        plans = [" ".join(row[-1] for row in store.db.execute("EXPLAIN QUERY PLAN " + sql)) for sql in queries]
    assert len(queries) == 4 + 4  # the first region and the next after each of three; a check per region and for None
    assert all("USING COVERING INDEX idx_samples_region" in plan and "SCAN s" not in plan for plan in plans)
