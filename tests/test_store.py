"""The results store: schema contract, idempotent batched writes, migrations, refusal of unusable files,
concurrency, run bookkeeping and reads that return Samples."""

from __future__ import annotations

import dataclasses
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from probe.model import ChunkTrace, Sample
from probe.store import (
    _MIGRATIONS,
    MIGRATION_SET,
    PAGE_SIZE_BYTES,
    SAMPLE_COLUMNS,
    Store,
    StoreBusy,
    StoreError,
    SummaryRow,
    WalCheckpointer,
)

MIGRATION_NAMES = [step.__name__ for step in _MIGRATIONS]  # m001_initial, then every appended migration

PUBLIC_COLUMNS = (
    "id run_id provider model api started_at status error_kind http_status ttfb_s ttft_s ttfat_s e2e_s"
    " input_tokens output_tokens reasoning_tokens tokens_source output_tps"
).split()


def make_sample(**overrides: object) -> Sample:
    fields: dict[str, object] = {
        "id": uuid.uuid4().hex,
        "run_id": "r1",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "api": "openai-chat",
        "started_at": "2025-06-01T12:00:00.000Z",
        "status": "ok",
    }
    fields.update(overrides)
    return Sample(**fields)  # type: ignore[arg-type]


def full_sample(**overrides: object) -> Sample:
    """Every field set, so a round trip exercises every column type."""
    values = dict(
        error_kind=None, error_message=None, http_status=200, ttfb_s=0.25, ttft_s=0.5, ttfat_s=0.75, e2e_s=2.5,
        connect_s=0.01, tls_s=0.02, input_tokens=120, output_tokens=300, reasoning_tokens=100,
        tokens_source="usage", output_tps=150.5, finish_reason="stop", chunk_count=3, read_count=2,
        response_model="gpt-4o-mini-2024-07-18", retry_after_s=1.5, region="eu-west", workload="short", max_tokens=512,
        trace=ChunkTrace((500_000, 600_000, 2_500_000), (1, 2, 297), "rra"),
    )  # fmt: skip
    values.update(overrides)
    return make_sample(**values)


def run_kwargs(**overrides: object) -> dict[str, object]:
    kwargs: dict[str, object] = {
        "host": "bench-1",
        "region": "eu-west",
        "probe_version": "0.1.0",
        "config_hash": "abc123",
        "command": "probe run",
        "samples_planned": 10,
    }
    kwargs.update(overrides)
    return kwargs


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "results.db"


@pytest.fixture
def store(db_path: Path):  # type: ignore[no-untyped-def]
    with Store.open(db_path) as opened:
        yield opened


def raises_one_line_store_error(path: Path, match: str, *, readonly: bool = False) -> StoreError:
    with pytest.raises(StoreError, match=match) as caught:
        Store.open(path, readonly=readonly)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    return caught.value


# --------------------------------------------------------------------------- schema


def test_samples_columns_are_exactly_the_scalar_fields_of_sample(store: Store) -> None:
    """The samples table has one column per scalar Sample field, same names, same order; the trace lives aside."""
    columns = [row[1] for row in store.db.execute("PRAGMA table_info(samples)")]
    scalar_fields = [f.name for f in dataclasses.fields(Sample) if f.name != "trace"]
    assert columns == scalar_fields == list(SAMPLE_COLUMNS)
    assert set(PUBLIC_COLUMNS) <= set(columns)
    trace_columns = [row[1] for row in store.db.execute("PRAGMA table_info(sample_traces)")]
    assert trace_columns == ["sample_id", "offsets_us", "tokens", "channels"]
    foreign_keys = store.db.execute("PRAGMA foreign_key_list(sample_traces)").fetchall()
    assert [(fk[2], fk[3], fk[4]) for fk in foreign_keys] == [("samples", "sample_id", "id")]


def test_report_indexes_exist(store: Store) -> None:
    """Reports over a million samples find rows by model, provider+model and run without a table scan."""
    indexed = {
        tuple(row[2] for row in store.db.execute(f"PRAGMA index_info({name!r})"))
        for (name,) in store.db.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'samples'")
    }
    assert {("model", "started_at"), ("provider", "model", "started_at"), ("run_id",), ("id",)} <= indexed


def test_wal_busy_timeout_and_synchronous_are_set(store: Store) -> None:
    """WAL lets reports read during a run; a 30 s busy timeout makes concurrent runs wait, not fail."""
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA busy_timeout").fetchone()[0] == 30_000
    assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_a_new_database_has_8_kib_pages_and_an_older_one_keeps_its_own(tmp_path: Path) -> None:
    """Larger pages make traced inserts faster; a file made with 4 KiB pages (before) opens and works as it is."""
    with Store.open(tmp_path / "new.db") as store:
        assert store.db.execute("PRAGMA page_size").fetchone()[0] == PAGE_SIZE_BYTES == 8192
    older = tmp_path / "older.db"
    Store.open(older).close()
    conn = sqlite3.connect(older, isolation_level=None)
    for statement in ("PRAGMA journal_mode=DELETE", "PRAGMA page_size=4096", "VACUUM"):  # as probe made it before
        conn.execute(statement)
    conn.close()
    with Store.open(older) as store:
        assert store.db.execute("PRAGMA page_size").fetchone()[0] == 4096
        assert store.insert_samples([make_sample()]) == 1


# --------------------------------------------------------------------------- samples


def test_round_trip_keeps_none_fields_and_the_trace(store: Store) -> None:
    """A sample with unmeasured (None) values and a trace comes back equal; None is never turned into 0."""
    sparse = make_sample(ttft_s=None, status="error", error_kind="timeout", error_message="first byte",
                         trace=ChunkTrace((12, 30_000), (1, 4), "ar"))  # fmt: skip
    complete = full_sample(started_at="2025-06-01T12:00:01.000Z")
    assert store.insert_samples([sparse, complete]) == 2
    assert list(store.iter_samples(with_trace=True)) == [sparse, complete]
    row = store.db.execute("SELECT ttft_s, input_tokens, http_status FROM samples WHERE id = ?", [sparse.id]).fetchone()
    assert row == (None, None, None)


def test_trace_is_compact_json_beside_the_sample(store: Store) -> None:
    """Offsets and token counts are compact JSON arrays; channels keep ChunkTrace's code string."""
    sample = full_sample()
    store.insert_samples([sample])
    row = store.db.execute("SELECT offsets_us, tokens, channels FROM sample_traces WHERE sample_id = ?", [sample.id])
    assert row.fetchone() == ("[500000,600000,2500000]", "[1,2,297]", "rra")


def test_without_trace_reads_give_an_empty_trace(store: Store) -> None:
    """The fast read skips the side table; a sample with no events stores no trace row at all."""
    traced, bare = full_sample(), make_sample(started_at="2025-06-01T13:00:00.000Z")
    store.insert_samples([traced, bare])
    assert list(store.iter_samples()) == [dataclasses.replace(traced, trace=ChunkTrace()), bare]
    assert store.db.execute("SELECT sample_id FROM sample_traces").fetchall() == [(traced.id,)]
    assert list(store.iter_samples(with_trace=True)) == [traced, bare]


def test_insert_is_idempotent(store: Store) -> None:
    """Writing the same samples again (say, a merged db) adds nothing and counts only new rows."""
    batch = [full_sample(), make_sample()]
    assert store.insert_samples(batch) == 2
    assert store.insert_samples(batch) == 0
    newcomer = make_sample()
    changed_copy = dataclasses.replace(batch[0], ttft_s=99.0, trace=ChunkTrace((1,), (1,), "a"))
    assert store.insert_samples([changed_copy, newcomer]) == 1
    assert store.count_samples() == 3
    assert next(s for s in store.iter_samples(with_trace=True) if s.id == batch[0].id) == batch[0]  # first write wins
    assert store.db.execute("SELECT count(*) FROM sample_traces").fetchone()[0] == 1


def test_a_batch_is_one_transaction_of_inserts_only(store: Store) -> None:
    """A batch of any size is one BEGIN ... COMMIT holding inserts into the two tables and nothing else."""
    for size in (10, 1000):
        statements: list[str] = []
        store.db.conn.set_trace_callback(statements.append)
        store.insert_samples([full_sample() for _ in range(size)])
        store.db.conn.set_trace_callback(None)
        kinds = [sql.split()[0].upper() for sql in statements]
        assert kinds[0] == "BEGIN" and kinds[-1] == "COMMIT"
        assert set(kinds[1:-1]) == {"INSERT"}
        assert {sql.split(" INTO ")[1].split()[0] for sql in statements[1:-1]} == {"samples", "sample_traces"}


def test_empty_batch_writes_nothing(store: Store) -> None:
    assert store.insert_samples([]) == 0


def test_filters_and_order(store: Store) -> None:
    """Every filter narrows; results come ordered by started_at whatever the insert order."""
    a = make_sample(provider="openai", model="m1", started_at="2025-06-03T00:00:00.000Z", run_id="r2")
    b = make_sample(provider="azure", model="m1", started_at="2025-06-01T00:00:00.000Z", status="error")
    c = make_sample(provider="openai", model="m2", started_at="2025-06-02T00:00:00.000Z")
    store.insert_samples([a, b, c])
    assert list(store.iter_samples()) == [b, c, a]
    assert list(store.iter_samples(since="2025-06-02")) == [c, a]
    assert list(store.iter_samples(until="2025-06-02")) == [b]
    assert list(store.iter_samples(since="2025-06-02T00:00:00.000Z", until="2025-06-03")) == [c]
    assert list(store.iter_samples(models=["m1"])) == [b, a]
    assert list(store.iter_samples(models=[])) == []
    assert list(store.iter_samples(providers=["openai"], models=["m1", "m2"])) == [c, a]
    assert list(store.iter_samples(status="error")) == [b]
    assert list(store.iter_samples(run_id="r2")) == [a]
    assert store.count_samples() == 3
    assert store.count_samples(providers=["openai"], since="2025-06-03") == 1
    with pytest.raises(TypeError, match="sequence of names"):
        store.iter_samples(models="m1")


def test_summary_rows_count_every_sample_and_take_medians_of_ok_ones(store: Store) -> None:
    """Medians skip errors and unmeasured values; a model with nothing measured gets None, not 0. Failures are
    counted by kind, the most frequent first."""
    store.insert_samples(
        [
            make_sample(model="m1", ttft_s=1.0, ttfat_s=None, output_tps=10.0, e2e_s=2.0),
            make_sample(model="m1", ttft_s=3.0, ttfat_s=None, output_tps=30.0, e2e_s=4.0),
            make_sample(model="m1", ttft_s=2.0, ttfat_s=5.0, output_tps=None, e2e_s=6.0),
            make_sample(model="m1", status="error", ttft_s=100.0, e2e_s=100.0),
            make_sample(model="m2", status="error", error_kind="server"),
            make_sample(model="m2", status="error", error_kind="timeout"),
            make_sample(model="m2", status="error", error_kind="timeout"),
            make_sample(model="m1", run_id="other", ttft_s=50.0, started_at="2025-07-01T00:00:00.000Z"),
        ]
    )
    assert store.summary_rows(run_id="r1") == [
        SummaryRow("openai", "m1", 4, 3, 2.0, 5.0, 20.0, 4.0, (("unknown", 1),)),
        SummaryRow("openai", "m2", 3, 0, None, None, None, None, (("timeout", 2), ("server", 1))),
    ]
    assert [(r.model, r.samples) for r in store.summary_rows(since="2025-07-01")] == [("m1", 1)]
    assert store.summary_rows(since="2030-01-01") == []


# --------------------------------------------------------------------------- migrations


def applied_migrations(path: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT migration_set, name, applied_at FROM _sqlite_migrations ORDER BY id").fetchall()
    conn.close()
    return rows


def test_migrations_run_once_and_record_themselves(db_path: Path) -> None:
    """Opening a new file applies and records every migration; opening again applies nothing and changes no record."""
    Store.open(db_path).close()
    first = applied_migrations(db_path)
    assert [(set_name, name) for set_name, name, _ in first] == [(MIGRATION_SET, name) for name in MIGRATION_NAMES]
    with Store.open(db_path) as store:
        store.insert_samples([make_sample()])
    Store.open(db_path).close()
    assert applied_migrations(db_path) == first


def test_newer_schema_is_refused(db_path: Path) -> None:
    """A file migrated by a newer probe is reported, not written to."""
    Store.open(db_path).close()
    with sqlite3.connect(db_path) as conn:
        conn.execute(
            "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES (?, 'm999_future', 'x')",
            [MIGRATION_SET],
        )
    conn.close()
    raises_one_line_store_error(db_path, "newer than this probe")


# --------------------------------------------------------------------------- unusable files


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


@pytest.mark.parametrize(
    "content",
    [b"this is not a database\n" * 200, os.urandom(8192), b"SQLite format 3\x00" + b"\xff" * 4080],
    ids=["text", "random", "bad-header"],
)
def test_garbage_file_raises_and_stays_byte_for_byte(tmp_path: Path, content: bytes) -> None:
    """Garbage is reported in one line naming the file, and neither it nor its directory is changed."""
    path = tmp_path / "results.db"
    path.write_bytes(content)
    before = snapshot(tmp_path)
    error = raises_one_line_store_error(path, "not a database, or corrupt")
    assert error.path == path
    assert snapshot(tmp_path) == before


def test_corrupt_probe_database_is_a_store_error(db_path: Path) -> None:
    """A probe file whose pages were overwritten reports corruption instead of a traceback."""
    with Store.open(db_path) as store:
        store.insert_samples([full_sample() for _ in range(200)])
    data = bytearray(db_path.read_bytes())
    data[4096:] = b"\x00\x13" * ((len(data) - 4096) // 2)
    db_path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="not a database, or corrupt"):
        with Store.open(db_path) as store:
            list(store.iter_samples())


def test_foreign_database_is_refused_untouched(tmp_path: Path) -> None:
    """Another program's SQLite file, even one with a 'samples' table, is neither migrated nor switched to WAL."""
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE samples (x)")
        conn.execute("INSERT INTO samples VALUES (1)")
    conn.close()
    before = snapshot(tmp_path)
    raises_one_line_store_error(path, "not a probe database .*samples")
    assert snapshot(tmp_path) == before


def test_missing_directory_is_a_store_error(tmp_path: Path) -> None:
    raises_one_line_store_error(tmp_path / "no-such-dir" / "results.db", "cannot open")


def test_readonly_open_reads_and_refuses_writes_in_one_line(db_path: Path) -> None:
    """Opened with mode=ro (what SQLite does for a file it cannot write), reads work and writes are StoreErrors.

    This is SQLite's own read-only state (SQLITE_READONLY), the same one a chmod 0444 file gives a
    non-root user; unlike chmod it holds for root too, so the test means the same as root or not.
    """
    with Store.open(db_path) as store:
        store.insert_samples([full_sample()])
    before = db_path.read_bytes()
    with Store.open(db_path, readonly=True) as store:
        assert store.count_samples() == 1
        with pytest.raises(StoreError, match="read-only, cannot write") as caught:
            store.insert_samples([make_sample()])
        assert str(caught.value).startswith(f"{db_path}: ") and "\n" not in str(caught.value)
        with pytest.raises(StoreError, match="read-only"):
            store.begin_run(**run_kwargs())  # type: ignore[arg-type]
    assert db_path.read_bytes() == before
    raises_one_line_store_error(db_path.with_name("absent.db"), "does not exist", readonly=True)
    assert not db_path.with_name("absent.db").exists()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_chmod_0444_file_fails_at_open_unchanged() -> None:
    """A file the user cannot write fails at open in one line, not later in the middle of a run.

    Root ignores file permissions, so under root the open runs in a forked child that has dropped to
    uid/gid 65534. The file lives in a fresh directory under the system temp dir because SQLite looks
    up every parent of the path, and pytest's tmp_path sits below a 0700 directory of root's.
    """
    with tempfile.TemporaryDirectory(prefix="probe-store-") as tmp:
        path = Path(tmp) / "results.db"
        with Store.open(path) as store:
            store.insert_samples([full_sample()])
        path.chmod(0o444)
        before = path.read_bytes()
        expected = f"{path}: read-only, cannot write (check the permissions of the file and its directory)"
        if os.geteuid() != 0:
            with pytest.raises(StoreError) as caught:
                Store.open(path)
            assert str(caught.value) == expected
        else:
            Path(tmp).chmod(0o777)  # the unprivileged child may create the -wal and -shm files
            assert _exit_code_as_nobody(lambda: _open_fails_with(path, expected)) == 0
        assert path.read_bytes() == before


def _open_fails_with(path: Path, expected: str) -> int:
    try:
        Store.open(path).close()
    except StoreError as error:
        return 0 if str(error) == expected else 3
    return 2


def _exit_code_as_nobody(work: Callable[[], int]) -> int:
    """Run ``work`` in a forked child that has dropped root for uid/gid 65534; its result is the exit code."""
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports only through its exit code
        code = 1
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            code = work()
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    return os.waitstatus_to_exitcode(status)


def test_disk_full_is_a_store_error_and_rolls_back(store: Store) -> None:
    """SQLITE_FULL (here from max_page_count) is named as a full disk and the batch leaves no rows behind."""
    store.insert_samples([make_sample()])
    pages = store.db.execute("PRAGMA page_count").fetchone()[0]
    store.db.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(StoreError, match="disk full"):
        store.insert_samples([full_sample() for _ in range(500)])
    assert not store.db.conn.in_transaction
    assert store.count_samples() == 1


def test_lock_held_past_the_busy_timeout_is_a_store_error(db_path: Path) -> None:
    """A writer that waits longer than the busy timeout gets a one-line error naming the wait."""
    Store.open(db_path).close()
    blocker = sqlite3.connect(db_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with Store.open(db_path, busy_timeout_s=0.2) as store:
            pass
    except StoreError as error:  # the open itself takes the write lock briefly
        assert "locked by another process for more than 0.2 s" in str(error)
    else:
        pytest.fail(f"{store} opened while another connection held the write lock")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()


def test_a_store_told_not_to_wait_for_the_lock_fails_at_once_and_writes_nothing(db_path: Path) -> None:
    """The run's writer works on the event loop: it must not stop there for seconds while another process writes.
    ``StoreBusy`` tells it to try again later; the batch is left whole."""
    with Store.open(db_path) as store:
        store.set_lock_wait(0)
        blocker = sqlite3.connect(db_path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StoreBusy, match="locked by another process for more than 0 s"):
                store.insert_samples([make_sample()])
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert not store.db.conn.in_transaction and store.count_samples() == 0
        assert store.insert_samples([make_sample()]) == 1


def test_a_store_can_leave_wal_checkpoints_to_a_checkpointer_on_another_thread(db_path: Path) -> None:
    """A checkpoint syncs the file to disk, in whichever connection commits past the WAL's limit: not the event
    loop's. The loop's store never checkpoints; a `WalCheckpointer`, made here and used on another thread, does."""
    with Store.open(db_path) as store:
        store.leave_checkpoints_to_another_connection()
        assert store.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        checkpointer = WalCheckpointer(db_path)
        try:
            size_before = db_path.stat().st_size
            store.insert_samples([full_sample(id=str(uuid.uuid4())) for _ in range(300)])
            assert db_path.stat().st_size == size_before  # every new page is still in the WAL
            done = threading.Thread(target=checkpointer.checkpoint)
            done.start()
            done.join()
            assert db_path.stat().st_size > size_before
        finally:
            checkpointer.close()
        assert store.count_samples() == 300


# --------------------------------------------------------------------------- concurrency and durability


def test_two_stores_in_two_threads_write_concurrently_without_losing_rows(db_path: Path) -> None:
    """Two connections open the same new file at once and interleave 40 batches each; every row lands."""
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []
    written: list[int] = []

    def writer(label: str) -> None:
        try:
            barrier.wait()
            with Store.open(db_path) as store:
                run_id = store.begin_run(**run_kwargs(command=label))  # type: ignore[arg-type]
                total = 0
                for _ in range(40):
                    total += store.insert_samples([full_sample(run_id=run_id) for _ in range(50)])
                store.finish_run(run_id, "completed")
                written.append(total)
        except BaseException as error:  # re-raised in the main thread below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(f"writer-{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert written == [2000, 2000]
    with Store.open(db_path) as store:
        assert store.count_samples() == 4000
        assert store.db.execute("SELECT count(*) FROM sample_traces").fetchone()[0] == 4000
        assert sorted(r.status for r in store.runs()) == ["completed", "completed"]
    assert [name for _, name, _ in applied_migrations(db_path)] == MIGRATION_NAMES


def test_a_store_belongs_to_the_thread_that_opened_it(store: Store) -> None:
    """Using a connection from another thread is refused by sqlite3 rather than racing."""
    caught: list[BaseException] = []
    thread = threading.Thread(target=lambda: _capture(caught, lambda: store.count_samples()))
    thread.start()
    thread.join()
    assert len(caught) == 1 and isinstance(caught[0], sqlite3.ProgrammingError)


def _capture(into: list[BaseException], work: object) -> None:
    try:
        work()  # type: ignore[operator]
    except BaseException as error:
        into.append(error)


KILLED_WRITER = textwrap.dedent(
    """
    import sys, uuid
    from probe.model import ChunkTrace, Sample
    from probe.store import Store

    with Store.open(sys.argv[1]) as store:
        total = 0
        while True:
            batch = [
                Sample(uuid.uuid4().hex, "r", "p", "m", "chat", "2025-06-01T00:00:00.000Z", "ok", ttft_s=0.5,
                       trace=ChunkTrace(tuple(range(0, 2_000_000, 20_000)), (1,) * 100, "a" * 100))
                for _ in range(200)
            ]
            total += store.insert_samples(batch)
            print(total, flush=True)
    """
)


@pytest.mark.slow
def test_kill_9_mid_write_leaves_a_sound_database_with_every_committed_sample(db_path: Path) -> None:
    """SIGKILL while batches are being written: integrity_check passes and every reported commit is there."""
    writer = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(db_path)], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout is not None
    committed = 0
    try:
        for line in writer.stdout:
            committed = int(line)
            if committed >= 20_000:  # a few seconds of writing, through several WAL checkpoints
                break
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        writer.stdout.close()
    assert committed >= 20_000
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    conn.close()
    with Store.open(db_path) as store:
        assert store.count_samples() >= committed


# --------------------------------------------------------------------------- runs


def test_begin_and_finish_run(store: Store) -> None:
    """A run starts 'running' with this pid and a time-ordered (UUIDv7) hex id, and ends with a status and a UTC stamp."""
    run_id = store.begin_run(**run_kwargs())  # type: ignore[arg-type]
    assert uuid.UUID(hex=run_id).version == 7 and len(run_id) == 32
    (running,) = store.runs()
    assert (running.status, running.pid, running.finished_at, running.samples_planned) == ("running", os.getpid(), None, 10)
    assert datetime.fromisoformat(running.started_at).utcoffset() == timedelta(0)
    store.finish_run(run_id, "completed")
    (finished,) = store.runs()
    assert finished.status == "completed" and finished.finished_at is not None
    assert finished.finished_at >= finished.started_at
    with pytest.raises(ValueError, match="not 'running'"):
        store.finish_run(run_id, "running")
    with pytest.raises(KeyError):
        store.finish_run("0" * 32, "failed")


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_mark_interrupted_runs(store: Store) -> None:
    """Same host and dead pid, or too old anywhere, becomes 'interrupted'; live, recent and finished runs stay."""
    long_ago = (datetime.now(timezone.utc) - timedelta(days=3)).isoformat()
    runs = {name: store.begin_run(**run_kwargs(host=host, command=name))  # type: ignore[arg-type]
            for name, host in [("alive", "here"), ("dead", "here"), ("elsewhere", "there"), ("stale", "there"),
                               ("old-but-done", "there")]}  # fmt: skip
    store.db.execute("UPDATE runs SET pid = ? WHERE id = ?", [dead_pid(), runs["dead"]])
    store.db.execute("UPDATE runs SET pid = 1, started_at = ? WHERE id IN (?, ?)", [long_ago, runs["stale"], runs["old-but-done"]])
    store.finish_run(runs["old-but-done"], "completed")

    assert store.mark_interrupted_runs(host="here", stale_after_s=24 * 3600) == 2
    status = {run.command: run.status for run in store.runs()}
    assert status == {
        "alive": "running",
        "dead": "interrupted",
        "elsewhere": "running",
        "stale": "interrupted",
        "old-but-done": "completed",
    }
    assert store.mark_interrupted_runs(host="here") == 0


def test_mark_interrupted_runs_defaults_to_this_machine(store: Store) -> None:
    """Without a host it checks runs begun under this machine's name, as `probe run` records them."""
    import socket

    run_id = store.begin_run(**run_kwargs(host=socket.gethostname()))  # type: ignore[arg-type]
    store.db.execute("UPDATE runs SET pid = ? WHERE id = ?", [dead_pid(), run_id])
    assert store.mark_interrupted_runs() == 1
