"""The results database: numbered migrations, batched writes, and reads that return `Sample` objects.

One SQLite file through sqlite-utils, in WAL mode so a report can read while a run writes, with a
busy timeout so two runs sharing a file wait for each other instead of failing. Raw samples (arrival
offsets included) are kept and statistics are computed on read, so a new metric works over old runs.

Schema, a public contract that outside scripts read:

* ``runs``: one row per ``probe run``; ``id`` is a time-ordered uuid (UUIDv7 layout, hex), unique across machines.
* ``samples``: exactly the scalar fields of `probe.model.Sample`, same names.
* ``sample_traces``: the `ChunkTrace` of a sample, kept aside so ``samples`` stays narrow.
  ``offsets_us`` and ``tokens`` are compact JSON arrays of integers; ``channels`` is the trace's
  code string as is (one letter per event: ``a`` answer, ``r`` reasoning, ``f`` refusal, ``t`` tool).
  Samples without token-bearing events have no row here.

A connection belongs to the thread that opened it: open one `Store` per thread.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import socket
import sqlite3
import statistics
import time

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from itertools import groupby
from operator import attrgetter, itemgetter
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeAlias

import orjson
from sqlite_utils import Database, Migrations

from probe.ids import new_id
from probe.model import (
    AUDIT_WORKLOAD,
    AuditProbe,
    ChunkTrace,
    OutcomeCount,
    PriceRecord,
    RegionGroup,
    Sample,
    SampleGroup,
    Score,
)

__all__ = [
    "MERGED_TABLES",
    "MIGRATION_SET",
    "SAMPLE_COLUMNS",
    "MergeCounts",
    "merge_into",
    "Run",
    "RunStatus",
    "Store",
    "StoreError",
    "SummaryRow",
]

RunStatus: TypeAlias = Literal["running", "completed", "interrupted", "failed"]
RUN_STATUSES: tuple[str, ...] = RunStatus.__args__  # type: ignore[attr-defined]

MIGRATION_SET = "probe"
"""Name of probe's set in sqlite-utils' ``_sqlite_migrations`` table."""

SAMPLE_COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Sample) if f.name != "trace")
"""Columns of ``samples``, in `Sample` field order, so a row unpacks straight into `Sample(*row)`."""

_TRACE_COLUMNS = ("sample_id", "offsets_us", "tokens", "channels")
_RUN_COLUMNS = (
    "id",
    "started_at",
    "finished_at",
    "host",
    "region",
    "probe_version",
    "config_hash",
    "command",
    "status",
    "samples_planned",
    "pid",
)
_PRICE_COLUMNS = tuple(f.name for f in dataclasses.fields(PriceRecord))
"""Columns of ``prices``, in `PriceRecord` field order."""
_DAY = "substr(s.started_at, 1, 10)"  # a sample's UTC day, exactly as idx_samples_report indexes it
_DEFAULT_BUSY_TIMEOUT_S = 30.0
PAGE_SIZE_BYTES = 8192
_CONNECTION_PRAGMAS = (
    # A commit survives a killed process; only a power cut can lose the last commits (never corrupt).
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    # Each batch touches pages all over the (model, provider, day) indexes: keep them cached (64 MiB at most,
    # allocated as used) and checkpoint every 10,000 pages of WAL rather than every 1,000, which halves the cost
    # of a write; truncate the WAL back to 64 MiB after a checkpoint.
    "PRAGMA cache_size=-65536",
    "PRAGMA wal_autocheckpoint=10000",
    "PRAGMA journal_size_limit=67108864",
)
_SQLITE_MAX_VARIABLES = 30_000  # below SQLite's default limit of 32,766 bound parameters per statement


# --------------------------------------------------------------------------- errors


class StoreError(Exception):
    """The database file cannot be used; the message is one line naming the file and the problem."""

    def __init__(self, path: str | Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = Path(path)
        self.problem = problem


class StoreBusy(StoreError):
    """Another connection held the write lock for longer than this one waits (`Store.set_lock_wait`)."""


def _problem(error: sqlite3.Error, busy_timeout_s: float) -> str | None:
    """Name an environmental SQLite failure in words, or None for errors that are bugs in probe."""
    code = getattr(error, "sqlite_errorcode", None)
    if code is None:
        return None
    primary = code & 0xFF
    if primary in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT):
        return f"not a database, or corrupt ({error})"
    if primary == sqlite3.SQLITE_READONLY:
        return "read-only, cannot write (check the permissions of the file and its directory)"
    if primary == sqlite3.SQLITE_FULL:
        return "disk full, cannot write"
    if _is_busy(error):
        return f"locked by another process for more than {busy_timeout_s:g} s"
    if primary in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM, sqlite3.SQLITE_AUTH):
        return f"cannot open ({error}; does the directory exist and is it accessible?)"
    if primary == sqlite3.SQLITE_IOERR:
        return f"input/output error ({error})"
    return None


def _is_busy(error: sqlite3.Error) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


@contextmanager
def _translated(path: Path, busy_timeout_s: float) -> Iterator[None]:
    """Turn a broken, full, locked or read-only database into a `StoreError` (`StoreBusy` when locked); let bugs
    through."""
    try:
        yield
    except sqlite3.Error as error:
        problem = _problem(error, busy_timeout_s)
        if problem is None:
            raise
        raise (StoreBusy if _is_busy(error) else StoreError)(path, problem) from error


# --------------------------------------------------------------------------- migrations
# Append only: never edit a migration that has shipped; add m00N_... and append it to _MIGRATIONS.


def m001_initial(db: Database) -> None:
    """Runs, narrow samples, their traces aside, and the indexes reports over ~1M samples need."""
    db["runs"].create(
        {
            "id": str,
            "started_at": str,
            "finished_at": str,
            "host": str,
            "region": str,
            "probe_version": str,
            "config_hash": str,
            "command": str,
            "status": str,
            "samples_planned": int,
            "pid": int,
        },
        pk="id",
        not_null=["started_at", "host", "status"],
    )
    db["samples"].create(
        {
            "id": str,
            "run_id": str,
            "provider": str,
            "model": str,
            "api": str,
            "started_at": str,
            "status": str,
            "error_kind": str,
            "error_message": str,
            "http_status": int,
            "ttfb_s": float,
            "ttft_s": float,
            "ttfat_s": float,
            "e2e_s": float,
            "connect_s": float,
            "tls_s": float,
            "input_tokens": int,
            "output_tokens": int,
            "reasoning_tokens": int,
            "tokens_source": str,
            "output_tps": float,
            "finish_reason": str,
            "chunk_count": int,
            "read_count": int,
            "response_model": str,
            "retry_after_s": float,
            "region": str,
            "workload": str,
            "max_tokens": int,
        },
        pk="id",
        not_null=["run_id", "provider", "model", "api", "started_at", "status"],
    )
    db["sample_traces"].create(
        {"sample_id": str, "offsets_us": str, "tokens": str, "channels": str},
        pk="sample_id",
        foreign_keys=[("sample_id", "samples", "id")],
    )
    samples = db.table("samples")
    samples.create_index(["model", "started_at"], index_name="idx_samples_model_started_at")
    samples.create_index(
        ["provider", "model", "started_at"], index_name="idx_samples_provider_model_started_at"
    )
    samples.create_index(["run_id"], index_name="idx_samples_run_id")
    samples.create_index(["started_at"], index_name="idx_samples_started_at")
    db.table("runs").create_index(["status"], index_name="idx_runs_status")


def m002_scores_prices_report_index(db: Database) -> None:
    """Third-party scores, every price a report used (with source and date), and a covering index for reports.

    ``idx_samples_report`` holds everything a report reads from ``samples``, ordered by UTC day, so a report
    over a window scans only that window's days and never touches the table or sorts: over 1,000,000
    samples, reading 72 hours takes about 0.4 s instead of 0.8 s, all time about 2 s instead of 5 s. It costs
    about a quarter more file size.
    """
    db["scores"].create(
        {"model": str, "benchmark": str, "score": float, "source": str, "date": str, "imported_at": str},
        pk=("model", "benchmark", "source", "date"),
        not_null=["model", "benchmark", "score", "source", "date", "imported_at"],
    )
    db["prices"].create(
        {
            "model": str,
            "provider": str,  # '' for the model's list price
            "input_per_mtok": float,
            "output_per_mtok": float,
            "cached_input_per_mtok": float,
            "source": str,
            "as_of": str,
            "recorded_at": str,
        },
        pk=("model", "provider", "recorded_at"),
        not_null=["model", "provider", "input_per_mtok", "output_per_mtok", "source", "recorded_at"],
    )
    db.execute(
        "CREATE INDEX idx_samples_report ON samples (substr(started_at, 1, 10), provider, model, status,"
        " error_kind, started_at, ttft_s, ttfat_s, output_tps)"
    )


def m003_audits(db: Database) -> None:
    """Provider audits: what each `probe audit` request was for and found, and ``workload`` in the report index.

    ``audit_probes`` has one row per audit request (its sample has ``workload = 'audit'``): a canary with its
    normalized expected and streamed answers, or a max-length probe. ``idx_samples_report`` is rebuilt with
    ``workload`` as its last column, so reports leave audit samples out of speed statistics and still read only
    the index.
    """
    db["audit_probes"].create(
        {
            "sample_id": str,
            "kind": str,  # canary | max_length
            "requested_model": str,  # the model id sent to the provider
            "first_party": int,  # 1 when the provider is the model's own maker
            "canary": str,
            "expected": str,
            "answer": str,
            "correct": int,  # 1 or 0 for an answered canary, else NULL
        },
        pk="sample_id",
        not_null=["kind", "requested_model", "first_party"],
        foreign_keys=[("sample_id", "samples", "id")],
    )
    db.execute("DROP INDEX idx_samples_report")
    db.execute(
        "CREATE INDEX idx_samples_report ON samples (substr(started_at, 1, 10), provider, model, status,"
        " error_kind, started_at, ttft_s, ttfat_s, output_tps, workload)"
    )


def m004_report_run_and_region_indexes(db: Database) -> None:
    """Two indexes for what a report reads besides `idx_samples_report`, so neither read touches the table or sorts.

    ``idx_samples_runs`` orders samples by UTC day, model and run: each run's first request per model
    (`Store.run_starts`) is one pass over the window's days. ``idx_samples_region`` makes finding which regions a
    window holds (`Store.regions`) a few seeks. Over the report bench's 1,000,000 samples they take the file from
    556 to 702 MB and inserts about 15 % longer (``bench/store.py``).
    """
    db.execute(
        "CREATE INDEX idx_samples_runs ON samples (substr(started_at, 1, 10), model, run_id, started_at, workload)"
    )
    db.table("samples").create_index(["region", "started_at", "workload"], index_name="idx_samples_region")


_MIGRATIONS: tuple[Callable[[Database], None], ...] = (
    m001_initial,
    m002_scores_prices_report_index,
    m003_audits,
    m004_report_run_and_region_indexes,
)


def _migrations() -> Migrations:
    """A fresh sqlite-utils migration set holding probe's migrations, in order."""
    migrations = Migrations(MIGRATION_SET)
    for step in _MIGRATIONS:
        migrations()(step)
    return migrations


# --------------------------------------------------------------------------- values


@dataclasses.dataclass(frozen=True, slots=True)
class Run:
    """One row of ``runs``. ``finished_at`` is None while running or when the run was interrupted."""

    id: str
    started_at: str
    finished_at: str | None
    host: str
    region: str | None
    probe_version: str | None
    config_hash: str | None
    command: str | None
    status: RunStatus
    samples_planned: int | None
    pid: int | None


@dataclasses.dataclass(frozen=True, slots=True)
class SummaryRow:
    """Counts and medians for one (provider, model); medians are over ok samples, None when none measured.
    ``error_kinds``: how many samples failed with each kind, most frequent first."""

    provider: str
    model: str
    samples: int
    ok: int
    median_ttft_s: float | None
    median_ttfat_s: float | None
    median_output_tps: float | None
    median_e2e_s: float | None
    error_kinds: tuple[tuple[str, int], ...] = ()


MERGED_TABLES: tuple[str, ...] = ("runs", "samples", "sample_traces", "audit_probes", "scores", "prices")
"""The tables `Store.merge` copies from another probe database, parents before children. Every key in them is global
(time-ordered uuids, or natural keys such as a score's model, benchmark, source and date), so a row already present
is the same row and is skipped. A table a later migration adds belongs here only if its keys are global too."""


@dataclasses.dataclass(frozen=True, slots=True)
class MergeCounts:
    """What `Store.merge` did with one other database.

    ``added`` holds the new rows per table, in `MERGED_TABLES` order, leaving out tables the other file does not
    have yet (it is at an older migration). ``runs_finished`` counts runs stored here without an end that learned
    their end and status from the other file.
    """

    source: Path
    added: tuple[tuple[str, int], ...]
    runs_finished: int = 0

    @property
    def total(self) -> int:
        return sum(count for _, count in self.added)


# --------------------------------------------------------------------------- store


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _pid_alive(pid: int) -> bool:
    """True unless the process is certainly gone (signal 0 probes without touching it; POSIX only)."""
    if os.name != "posix":
        return True  # os.kill would terminate it on Windows; fall back to the age rule
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _json_ints(values: tuple[int, ...]) -> str:
    """Compact JSON array (``[0,2051,4100]``). orjson writes the same text as ``json`` in a seventh of the time: a
    trace's offsets were a seventh of a traced insert (bench/store.py)."""
    return orjson.dumps(values).decode()


@functools.lru_cache(maxsize=1024)
def _json_token_counts(tokens: tuple[int, ...]) -> str:
    """Tokens per chunk repeat from sample to sample (most chunks carry one token), so their text is cached:
    encoding them was a sixth of a traced insert (bench/store.py)."""
    return _json_ints(tokens)


_sample_values = attrgetter(*SAMPLE_COLUMNS)
_INSERT_SAMPLES = "INSERT OR IGNORE INTO samples ({}) VALUES ({})".format(
    ", ".join(SAMPLE_COLUMNS), ", ".join("?" * len(SAMPLE_COLUMNS))
)
_INSERT_TRACES = "INSERT OR IGNORE INTO sample_traces ({}) VALUES (?, ?, ?, ?)".format(", ".join(_TRACE_COLUMNS))
_SELECT_SAMPLES = "SELECT {} FROM samples AS s".format(", ".join(f"s.{c}" for c in SAMPLE_COLUMNS))
_SELECT_SAMPLES_WITH_TRACE = (
    _SELECT_SAMPLES.replace(" FROM ", ", t.offsets_us, t.tokens, t.channels FROM ", 1)
    + " LEFT JOIN sample_traces AS t ON t.sample_id = s.id"
)


class Store:
    """probe's results database. Open with `Store.open`; use from the thread that opened it."""

    DEFAULT_LOCK_WAIT_S = _DEFAULT_BUSY_TIMEOUT_S
    """How long a write waits for another process's write lock, unless told otherwise."""

    def __init__(self, db: Database, path: Path, busy_timeout_s: float) -> None:
        """Wrap an open, migrated database; use `Store.open` rather than calling this."""
        self._db = db
        self._path = path
        self._busy_timeout_s = busy_timeout_s
        self._closed = False

    # ----------------------------------------------------------------- lifecycle

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        readonly: bool = False,
        busy_timeout_s: float = _DEFAULT_BUSY_TIMEOUT_S,
    ) -> Store:
        """Open (creating and migrating if needed) the database at ``path``.

        A file that is corrupt, not SQLite, another program's database, or from a newer probe is
        reported as a `StoreError` and left byte-for-byte untouched. ``readonly`` opens without any
        write (for reports over an archived file) and needs a database already at this probe's schema.
        """
        path = Path(path)
        with _translated(path, busy_timeout_s):
            if readonly:
                if not path.is_file():
                    raise StoreError(path, "does not exist")
                conn = sqlite3.connect(_readonly_uri(path), uri=True, timeout=busy_timeout_s, isolation_level=None)
            else:
                conn = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None)
            try:
                db = Database(conn, execute_plugins=False)
                cls._prepare(db, path, readonly=readonly)
            except BaseException:
                conn.close()
                raise
        return cls(db, path, busy_timeout_s)

    @staticmethod
    def _prepare(db: Database, path: Path, *, readonly: bool) -> None:
        """Check the file is ours (reads only), then switch to WAL and apply pending migrations."""
        migrations = _migrations()
        pending = _check_schema(db, path, migrations)
        for pragma in _CONNECTION_PRAGMAS:  # settings of this connection; none writes to the file
            db.execute(pragma)
        if readonly:
            if pending:
                raise StoreError(path, "schema is older than this probe; open it once read-write to upgrade")
            return
        # A new file gets 8 KiB pages: a traced sample is about 2 KB across its row, its trace and eight index
        # entries, and inserts ran 10-30 % faster than with 4 KiB pages (bench/store.py). Once a file has
        # content (or is in WAL mode) its page size is fixed and this changes nothing.
        db.execute(f"PRAGMA page_size={PAGE_SIZE_BYTES}")
        mode = _enable_wal(db, path)
        if str(mode).lower() != "wal":
            raise StoreError(path, f"cannot use WAL journal mode (got {mode!r}); use a file on a local disk")
        # The write lock is taken before looking at the schema, so two processes opening the same new
        # file migrate it once, one after the other.
        with _immediate(db):
            if _check_schema(db, path, migrations):
                migrations.apply(db)
            # In WAL mode BEGIN IMMEDIATE succeeds even on a file this process cannot write (the write
            # lock lives in the -shm file); only writing a page fails. Rewrite user_version with its own
            # value so a read-only file fails here.
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            db.execute(f"PRAGMA user_version = {version}")

    def set_lock_wait(self, seconds: float) -> None:
        """How long a write waits for another connection's write lock before it fails with `StoreBusy`."""
        with self._errors():
            self._db.execute(f"PRAGMA busy_timeout={round(seconds * 1000)}")
        self._busy_timeout_s = seconds

    def leave_checkpoints_to_another_connection(self) -> None:
        """Stop this connection from checkpointing the WAL after its commits (see `WalCheckpointer`).

        A checkpoint copies the WAL into the database file and syncs it: up to 10,000 pages here, which can
        take tens of milliseconds or more on a slow disk, in the thread that happened to commit."""
        with self._errors():
            self._db.execute("PRAGMA wal_autocheckpoint=0")

    def close(self) -> None:
        """Close the connection; the last one to close also checkpoints and removes the WAL file."""
        if not self._closed:
            self._closed = True
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def path(self) -> Path:
        return self._path

    @property
    def db(self) -> Database:
        """The sqlite-utils database, for ad-hoc queries; writes through it bypass this API's checks."""
        return self._db

    @contextmanager
    def _errors(self) -> Iterator[None]:
        with _translated(self._path, self._busy_timeout_s):
            yield

    # ----------------------------------------------------------------- runs

    def begin_run(
        self,
        *,
        host: str,
        region: str | None,
        probe_version: str,
        config_hash: str,
        command: str,
        samples_planned: int | None,
    ) -> str:
        """Record a run as 'running' with this process's pid, so a later probe can tell if it died."""
        run_id = new_id()
        row = {
            "id": run_id,
            "started_at": _utc_now(),
            "finished_at": None,
            "host": host,
            "region": region,
            "probe_version": probe_version,
            "config_hash": config_hash,
            "command": command,
            "status": "running",
            "samples_planned": samples_planned,
            "pid": os.getpid(),
        }
        with self._errors(), _immediate(self._db):
            self._db.execute(
                "INSERT INTO runs ({}) VALUES ({})".format(", ".join(row), ", ".join("?" * len(row))),
                list(row.values()),
            )
        return run_id

    def finish_run(self, run_id: str, status: RunStatus) -> None:
        """Stamp the end of a run with its final status."""
        if status not in RUN_STATUSES or status == "running":
            raise ValueError(f"a run finishes as completed, interrupted or failed, not {status!r}")
        with self._errors(), _immediate(self._db):
            cursor = self._db.execute(
                "UPDATE runs SET status = ?, finished_at = ? WHERE id = ?", [status, _utc_now(), run_id]
            )
            if cursor.rowcount != 1:
                raise KeyError(f"no run {run_id!r} in {self._path}")

    def mark_interrupted_runs(self, *, host: str | None = None, stale_after_s: float = 24 * 3600) -> int:
        """Mark 'running' runs whose process is gone as 'interrupted'; return how many.

        A run is gone when it was started on ``host`` (default: this machine's name, which should be
        what `begin_run` was given) by a pid that no longer exists, or, wherever it ran, when it
        started more than ``stale_after_s`` ago (covers other machines and reused pids).
        """
        host = socket.gethostname() if host is None else host
        cutoff = datetime.now(timezone.utc) - timedelta(seconds=stale_after_s)
        with self._errors(), _immediate(self._db):
            stale = [
                run_id
                for run_id, run_host, pid, started_at in self._db.execute(
                    "SELECT id, host, pid, started_at FROM runs WHERE status = 'running'"
                ).fetchall()
                if (run_host == host and pid is not None and not _pid_alive(pid))
                or _older_than(started_at, cutoff)
            ]
            self._db.conn.executemany(
                "UPDATE runs SET status = 'interrupted' WHERE id = ? AND status = 'running'",
                [(run_id,) for run_id in stale],
            )
        return len(stale)

    def runs(self) -> list[Run]:
        """Every run, oldest first."""
        with self._errors():
            rows = self._db.execute(
                "SELECT {} FROM runs ORDER BY started_at, rowid".format(", ".join(_RUN_COLUMNS))
            ).fetchall()
        return [Run(*row) for row in rows]

    # ----------------------------------------------------------------- samples

    def insert_samples(self, samples: Sequence[Sample]) -> int:
        """Write a batch in one transaction (two statements); return how many were new.

        Sample ids are global, so a sample already stored (say, merged from another machine) is
        skipped rather than an error, and writing the same batch twice is harmless.
        """
        if not samples:
            return 0
        sample_rows = [_sample_values(s) for s in samples]
        trace_rows = [
            (s.id, _json_ints(s.trace.offsets_us), _json_token_counts(s.trace.tokens), s.trace.channels)
            for s in samples
            if s.trace.offsets_us or s.trace.tokens or s.trace.channels
        ]
        with self._errors(), _immediate(self._db):
            inserted = self._db.conn.executemany(_INSERT_SAMPLES, sample_rows).rowcount
            if trace_rows:
                self._db.conn.executemany(_INSERT_TRACES, trace_rows)
        return inserted

    def iter_samples(
        self,
        *,
        since: str | None = None,
        until: str | None = None,
        models: Sequence[str] | None = None,
        providers: Sequence[str] | None = None,
        status: str | None = None,
        run_id: str | None = None,
        workload: str | None = None,
        with_trace: bool = False,
    ) -> Iterator[Sample]:
        """Samples matching every given filter, ordered by ``started_at``.

        ``since`` (inclusive) and ``until`` (exclusive) are ISO 8601 UTC strings compared as text, so a
        bare date such as ``"2025-06-01"`` works. An empty ``models`` or ``providers`` matches nothing.
        Without ``with_trace`` each sample carries an empty `ChunkTrace`, which is much faster.
        """
        where, params = _where(since, until, models, providers, status, run_id, workload=workload)
        sql = (_SELECT_SAMPLES_WITH_TRACE if with_trace else _SELECT_SAMPLES) + where
        return self._iter_rows(sql + " ORDER BY s.started_at, s.rowid", params, with_trace)

    def _iter_rows(self, sql: str, params: list[Any], with_trace: bool) -> Iterator[Sample]:
        """Stream rows into Samples, a page at a time, so a million samples never sit in memory as rows."""
        with self._errors():
            cursor = self._db.conn.execute(sql, params)
            try:
                while rows := cursor.fetchmany(1000):
                    if with_trace:
                        yield from map(_with_trace, rows)
                    else:
                        for row in rows:
                            yield Sample(*row)
            finally:
                cursor.close()  # ends the read snapshot even if the caller stops early

    def count_samples(
        self,
        *,
        since: str | None = None,
        until: str | None = None,
        models: Sequence[str] | None = None,
        providers: Sequence[str] | None = None,
        status: str | None = None,
        run_id: str | None = None,
    ) -> int:
        """How many samples `iter_samples` would yield with the same filters."""
        where, params = _where(since, until, models, providers, status, run_id)
        with self._errors():
            return int(self._db.execute("SELECT count(*) FROM samples AS s" + where, params).fetchone()[0])

    def summary_rows(self, *, run_id: str | None = None, since: str | None = None) -> list[SummaryRow]:
        """Per (provider, model): samples, ok samples, medians over the ok samples' measured values, and the
        failures by kind. `probe run` prints these for its run: read back from the database, so that a run need not
        keep its samples in memory however long its plan."""
        where, params = _where(since, None, None, None, None, run_id)
        sql = (
            "SELECT s.provider, s.model, s.status, s.error_kind, s.ttft_s, s.ttfat_s, s.output_tps, s.e2e_s"
            " FROM samples AS s" + _and(where, _NOT_AUDIT) + " ORDER BY s.provider, s.model"
        )
        summaries: list[SummaryRow] = []
        with self._errors():
            rows = self._db.conn.execute(sql, params)
            for (provider, model), group in groupby(rows, key=itemgetter(0, 1)):
                count = ok = 0
                measured: tuple[list[float], ...] = ([], [], [], [])
                kinds: dict[str, int] = {}
                for _, _, status, error_kind, *values in group:
                    count += 1
                    if status != "ok":
                        kind = error_kind or "unknown"
                        kinds[kind] = kinds.get(kind, 0) + 1
                        continue
                    ok += 1
                    for column, value in zip(measured, values):
                        if value is not None:
                            column.append(value)
                by_frequency = tuple(sorted(kinds.items(), key=lambda item: (-item[1], item[0])))
                summaries.append(SummaryRow(provider, model, count, ok, *(_median(c) for c in measured), by_frequency))
        return summaries


    def token_totals(self, *, since: str, until: str | None = None) -> list[tuple[str, str, int | None, int | None]]:
        """(provider, model, input tokens, output tokens) summed over the samples in the window, audits included:
        what the spending guard prices. A sum is ``None`` when no sample had the count."""
        where, params = _where(since, until, None, None, None, None)
        sql = "SELECT s.provider, s.model, sum(s.input_tokens), sum(s.output_tokens) FROM samples AS s" + where
        with self._errors():
            return list(self._db.conn.execute(sql + " GROUP BY s.provider, s.model ORDER BY 1, 2", params))

    def workload_counts(self, *, since: str | None = None, until: str | None = None) -> dict[str | None, int]:
        """How many samples of each workload the window holds (``None``: recorded before probe had workloads),
        audit requests left out. Reads only the report index."""
        where, params = _where(since, until, None, None, None, None)
        sql = "SELECT s.workload, count(*) FROM samples AS s" + _and(where, _NOT_AUDIT) + " GROUP BY s.workload"
        with self._errors():
            return dict(self._db.conn.execute(sql, params).fetchall())

    def run_starts(self, *, since: str, until: str, workload: str | None = None) -> dict[str, list[str]]:
        """Per model, when each run that sampled it in the window sent its first request (sorted): how often a model
        is usually probed, for the stale-data warning. ``workload`` as in `sample_groups`.

        One pass over ``idx_samples_runs`` in its own order (per day, model and run, so no table reads and no sort),
        the days folded here: about 0.1 s for 7 days of a 1,000,000-sample database (grouping the window's rows by
        model and run took 0.4 s).
        """
        where, params = _where(since, until, None, None, None, None)
        clauses = [f"{_DAY} >= ?", f"{_DAY} <= ?", _NOT_AUDIT] + (["s.workload = ?"] if workload is not None else [])
        sql = (
            "SELECT s.model, s.run_id, min(s.started_at) FROM samples AS s" + _and(where, *clauses)
            + f" GROUP BY {_DAY}, s.model, s.run_id"
        )
        firsts: dict[tuple[str, str], str] = {}
        with self._errors():
            for model, run_id, started_at in self._db.conn.execute(
                sql, [*params, since[:10], until[:10], *([workload] if workload is not None else [])]
            ):
                known = firsts.get((model, run_id))
                if known is None or started_at < known:
                    firsts[(model, run_id)] = started_at
        starts: dict[str, list[str]] = {}
        for (model, _), started_at in sorted(firsts.items(), key=lambda item: (item[0][0], item[1])):
            starts.setdefault(model, []).append(started_at)
        return starts

    # ----------------------------------------------------------------- report reads and reference data

    def sample_groups(
        self,
        *,
        since: str | None = None,
        until: str | None = None,
        models: Sequence[str] | None = None,
        workload: str | None = None,
    ) -> list[SampleGroup]:
        """Samples in a window as `SampleGroup` columns per (UTC day, provider, model, status, error kind).

        Two passes over the covering index ``idx_samples_report`` in its own order (no table reads, no sort), in
        one read transaction so both see the same rows: one counts the groups, the other streams the successful
        samples' values, which split into the groups by those counts. The window is also bounded on the day so
        only its days are scanned: about 0.3 s for 72 hours and 1 s for all of a 1,000,000-sample database.
        Value columns hold one entry per sample, the stored float exactly, ``None`` where not measured.
        ``workload`` keeps only the samples of that workload; ``None`` keeps every one (none recorded included).
        """
        clauses: list[str] = []
        params: list[Any] = []
        if since is not None:  # the day bounds let the index skip whole days; the stamps then cut exactly
            clauses.append(f"{_DAY} >= ?")
            params.append(since[:10])
        if until is not None:
            clauses.append(f"{_DAY} <= ?")
            params.append(until[:10])
        exact, more = _where(since, until, models, None, None, None)
        if exact:
            clauses.append(exact.removeprefix(" WHERE "))
            params.extend(more)
        clauses.append(_NOT_AUDIT)  # audit requests are availability evidence, not speed samples
        if workload is not None:
            clauses.append("s.workload = ?")
            params.append(workload)
        where = " WHERE " + " AND ".join(clauses)
        keys = f"{_DAY}, s.provider, s.model, s.status, s.error_kind"
        counted = (
            f"SELECT {keys}, count(*), min(s.started_at), max(s.started_at) FROM samples AS s{where}"
            f" GROUP BY {keys} ORDER BY {keys}"
        )
        # Values are streamed rather than gathered with json_group_array, which printed every float as text (to 15
        # significant digits before SQLite 3.43, so not the stored value) for Python to parse back: that took most
        # of the time. Error rows are streamed too and read past: with ``status = 'ok'`` in the WHERE clause SQLite
        # sorts instead of following the index.
        measured = f"SELECT s.ttft_s, s.ttfat_s, s.output_tps FROM samples AS s{where} ORDER BY {keys}, s.started_at"
        groups = []
        with self._errors(), _snapshot(self._db):
            rows = self._db.conn.execute(counted, params).fetchall()
            values = self._db.conn.execute(measured, params)
            for day, provider, model, status, kind, count, first_at, last_at in rows:
                members = values.fetchmany(count)
                if len(members) != count:
                    raise StoreError(self._path, "samples changed while a report read them")
                columns = tuple(zip(*members)) if status == "ok" else ((), (), ())
                groups.append(SampleGroup(provider, model, day, status, kind, count, first_at, last_at, *columns))
        return groups

    def regions(
        self, *, since: str | None = None, until: str | None = None, workload: str | None = None
    ) -> list[str | None]:
        """The distinct regions samples in the window were sent from (audit requests left out), sorted, ``None`` (not
        recorded) last. ``workload`` as in `sample_groups`.

        A few seeks in ``idx_samples_region`` however big the window: every region recorded, found one after the
        other, then for each whether the window holds a sample from it (reading the window's rows instead took
        0.3 s for all of a 1,000,000-sample database).
        """
        where, params = _where(since, until, None, None, None, None, workload=workload)
        held = "SELECT EXISTS (SELECT 1 FROM samples AS s" + _and(where, _NOT_AUDIT, "s.region IS ?") + ")"
        found: list[str | None] = []
        with self._errors(), _snapshot(self._db):
            execute = self._db.conn.execute
            recorded: list[str | None] = []
            region = execute("SELECT min(region) FROM samples").fetchone()[0]
            while region is not None:
                recorded.append(region)
                region = execute("SELECT min(region) FROM samples WHERE region > ?", [region]).fetchone()[0]
            for region in [*recorded, None]:
                if execute(held, [*params, region]).fetchone()[0]:
                    found.append(region)
        return sorted(found, key=lambda region: (region is None, region or ""))

    def region_groups(
        self,
        *,
        since: str | None = None,
        until: str | None = None,
        models: Sequence[str] | None = None,
        workload: str | None = None,
    ) -> list[RegionGroup]:
        """Samples in a window as `RegionGroup` columns per (region, provider, model), sorted by those names; audit
        requests left out and ``workload`` as in `sample_groups`.

        Grouped here rather than in SQL: streaming the rows into lists takes about half the time of SQLite's
        ``GROUP BY`` with ``json_group_array`` (0.35 s instead of 0.55 s for 72 hours of 1,000,000 samples).
        """
        where, params = _where(since, until, models, None, None, None, workload=workload)
        sql = "SELECT s.region, s.provider, s.model, s.status, s.ttft_s, s.output_tps FROM samples AS s" + _and(
            where, _NOT_AUDIT
        )
        found: dict[tuple[str | None, str, str], tuple[list[int], list[float | None], list[float | None]]] = {}
        with self._errors():
            for region, provider, model, status, ttft, tps in self._db.conn.execute(sql, params):
                group = found.get((region, provider, model))
                if group is None:
                    group = found[(region, provider, model)] = ([0, 0], [], [])
                group[0][0] += 1
                if status == "ok":
                    group[0][1] += 1
                    group[1].append(ttft)
                    group[2].append(tps)
        return [
            RegionGroup(region, provider, model, count, ok, tuple(ttft_s), tuple(output_tps))
            for (region, provider, model), ((count, ok), ttft_s, output_tps) in sorted(
                found.items(), key=lambda item: (item[0][0] is None, item[0][0] or "", item[0][1], item[0][2])
            )
        ]

    def insert_scores(self, scores: Sequence[Score], *, imported_at: str | None = None) -> int:
        """Store third-party scores; a row with the same (model, benchmark, source, date) is replaced. Returns
        how many rows were written."""
        stamp = imported_at or _utc_now()
        rows = [(s.model, s.benchmark, s.score, s.source, s.date, stamp) for s in scores]
        with self._errors(), _immediate(self._db):
            self._db.conn.executemany(
                "INSERT OR REPLACE INTO scores (model, benchmark, score, source, date, imported_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
        return len(rows)

    def scores(self) -> list[Score]:
        """Every stored score, sorted by model, benchmark, source and date."""
        with self._errors():
            rows = self._db.execute(
                "SELECT model, benchmark, score, source, date FROM scores ORDER BY model, benchmark, source, date"
            ).fetchall()
        return [Score(*row) for row in rows]

    def record_prices(self, records: Sequence[PriceRecord]) -> int:
        """Store prices a report used; history is append-only, so a record already stored is kept as it was."""
        if not records:
            return 0
        rows = [tuple(getattr(r, c) for c in _PRICE_COLUMNS) for r in records]
        with self._errors(), _immediate(self._db):
            return self._db.conn.executemany(
                "INSERT OR IGNORE INTO prices ({}) VALUES ({})".format(
                    ", ".join(_PRICE_COLUMNS), ", ".join("?" * len(_PRICE_COLUMNS))
                ),
                rows,
            ).rowcount

    def price_records(self) -> list[PriceRecord]:
        """Every stored price, oldest record first (the table holds one row per price change, so it stays small)."""
        with self._errors():
            rows = self._db.execute(
                "SELECT {} FROM prices ORDER BY recorded_at, model, provider".format(", ".join(_PRICE_COLUMNS))
            ).fetchall()
        return [PriceRecord(*row) for row in rows]

    # ----------------------------------------------------------------- merging another machine's database

    def merge(self, *others: str | Path) -> list[MergeCounts]:
        """Add other probe databases' runs, samples with their traces, scores and prices; one transaction per file.

        Ids are global, so a row already here is skipped and merging the same file again adds nothing; on a key
        both files hold, this database's row is kept. A run stored here without an end (it was still going when its
        file was merged before) takes the end and status the other file records. Every file is checked before any
        is copied: each is opened read-only and must be a probe database at this probe's schema or an older one
        (tables and columns it does not have yet are left out); one that is missing, foreign, corrupt or from a
        newer probe is a `StoreError` naming it, and nothing here is written. Each copy is one
        ``INSERT OR IGNORE ... SELECT`` per table from the attached file, so no row passes through Python: about
        15 s for 1,000,000 samples into an empty database, 2 s to find nothing new in them.
        """
        sources = [(Path(other), _merge_source_tables(Path(other), self._path, self._busy_timeout_s)) for other in others]
        return [self._merge_one(path, tables) for path, tables in sources]

    def _merge_one(self, other: Path, source: dict[str, set[str]]) -> MergeCounts:
        """Copy one checked file. On a connection of its own, opened with URI names, since only such a connection
        can ATTACH a file read-only (``mode=ro``) whatever options SQLite was built with."""
        with self._errors():
            conn = sqlite3.connect(
                self._path.resolve().as_uri(), uri=True, timeout=self._busy_timeout_s, isolation_level=None
            )
            try:
                for pragma in _CONNECTION_PRAGMAS:
                    conn.execute(pragma)
                conn.execute(f"ATTACH DATABASE ? AS {_MERGE_SOURCE}", [_readonly_uri(other)])
                db = Database(conn, execute_plugins=False)
                with _immediate(db):
                    added = []
                    for table in MERGED_TABLES:
                        if table not in source:
                            continue
                        here = [row[1] for row in conn.execute(f"PRAGMA main.table_info({table})")]
                        columns = ", ".join(f'"{c}"' for c in here if c in source[table])
                        cursor = conn.execute(
                            f"INSERT OR IGNORE INTO main.{table} ({columns}) SELECT {columns} FROM {_MERGE_SOURCE}.{table}"
                        )
                        added.append((table, cursor.rowcount))
                    finished = conn.execute(_FINISH_MERGED_RUNS).rowcount
            finally:
                conn.close()
        return MergeCounts(other, tuple(added), finished)


    # ----------------------------------------------------------------- provider audits

    def insert_audit_probes(self, probes: Sequence[AuditProbe]) -> int:
        """Store what audit requests were for and found; return how many were new. A probe already stored is kept
        as it was; one whose sample is not stored (a run that failed before writing it) is skipped."""
        rows = [
            (p.sample_id, p.kind, p.requested_model, int(p.first_party), p.canary, p.expected, p.answer,
             None if p.correct is None else int(p.correct), p.sample_id)
            for p in probes
        ]  # fmt: skip
        if not rows:
            return 0
        sql = "INSERT OR IGNORE INTO audit_probes ({}) SELECT {} WHERE EXISTS (SELECT 1 FROM samples WHERE id = ?)"
        with self._errors(), _immediate(self._db):
            return self._db.conn.executemany(
                sql.format(", ".join(_AUDIT_COLUMNS), ", ".join("?" * len(_AUDIT_COLUMNS))), rows
            ).rowcount

    def audit_probes(
        self, *, since: str | None = None, until: str | None = None, models: Sequence[str] | None = None
    ) -> list[tuple[Sample, AuditProbe]]:
        """Audit probes whose samples started in the window, each with its sample (trace included), oldest first."""
        where, params = _where(since, until, models, None, None, None)
        sql = (  # CROSS JOIN keeps audit_probes (small) as the outer loop instead of scanning the window's samples
            "SELECT {}, t.offsets_us, t.tokens, t.channels, {} FROM audit_probes AS a CROSS JOIN samples AS s"
            " ON s.id = a.sample_id LEFT JOIN sample_traces AS t ON t.sample_id = s.id{} ORDER BY s.started_at, s.rowid"
        ).format(", ".join(f"s.{c}" for c in SAMPLE_COLUMNS), ", ".join(f"a.{c}" for c in _AUDIT_COLUMNS[1:]), where)
        width = len(SAMPLE_COLUMNS) + 3
        found = []
        with self._errors():
            for row in self._db.conn.execute(sql, params):
                sample = _with_trace(row[:width])
                kind, requested, first_party, canary, expected, answer, _correct = row[width:]
                found.append((sample, AuditProbe(sample.id, kind, requested, bool(first_party), canary, expected, answer)))
        return found

    def latest_samples(
        self, provider: str, model: str, *, since: str | None = None, until: str | None = None, limit: int = 100
    ) -> list[Sample]:
        """The newest ``limit`` successful samples of one provider and model in the window, traces included, newest
        first: audit evidence stays bounded however dense the database (the provider-model-time index serves it)."""
        where, params = _where(since, until, [model], [provider], "ok", None)
        sql = _SELECT_SAMPLES_WITH_TRACE + where + " ORDER BY s.started_at DESC LIMIT ?"
        with self._errors():
            return [_with_trace(row) for row in self._db.conn.execute(sql, [*params, limit])]

    def outcome_counts(
        self, *, since: str, until: str, recent_since: str, models: Sequence[str] | None = None
    ) -> list[OutcomeCount]:
        """Samples of every kind (audit requests included) per provider, model, status and error kind in the window,
        split at ``recent_since``. One pass over the report index in its own order (per day, so no sort), the days
        folded here: about 0.3 s for 7 days of a 1,000,000-sample database."""
        exact, params = _where(since, until, models, None, None, None)
        sql = (
            "SELECT s.provider, s.model, s.status, s.error_kind, count(*), sum(s.started_at >= ?) FROM samples AS s"
            + _and(exact, f"{_DAY} >= ?", f"{_DAY} <= ?")
            + f" GROUP BY {_DAY}, s.provider, s.model, s.status, s.error_kind"
        )
        totals: dict[tuple[str, str, str, str | None], list[int]] = {}
        with self._errors():
            for provider, model, status, kind, count, recent in self._db.conn.execute(
                sql, [recent_since, *params, since[:10], until[:10]]
            ):
                found = totals.setdefault((provider, model, status, kind), [0, 0])
                found[0] += count
                found[1] += recent
        counts = []
        for (provider, model, status, kind), (count, recent) in sorted(totals.items(), key=lambda item: tuple(str(v) for v in item[0])):
            if recent:
                counts.append(OutcomeCount(provider, model, status, kind, True, recent))
            if count > recent:
                counts.append(OutcomeCount(provider, model, status, kind, False, count - recent))
        return counts


# --------------------------------------------------------------------------- helpers


class WalCheckpointer:
    """Checkpoints the WAL of a database whose writer leaves that to another connection
    (`Store.leave_checkpoints_to_another_connection`), from a thread that can afford to wait for the disk.

    Made on any thread, then used by one other (its connection is not bound to the thread that made it). Each
    checkpoint copies the whole WAL into the database and has the next write start it afresh (SQLite's RESTART),
    so the file stays as small as what is written between two checkpoints: a passive checkpoint, which never
    blocks a writer, let a busy run's WAL grow past three times its database (14.6 MB for 4.8) since it never
    caught up. Meanwhile writers are held off; a writer that does not wait for locks tries again later. SQLite
    releases the GIL while it works.
    """

    def __init__(self, path: str | Path, busy_timeout_s: float = _DEFAULT_BUSY_TIMEOUT_S) -> None:
        self._path = Path(path)
        self._busy_timeout_s = busy_timeout_s
        with _translated(self._path, busy_timeout_s):
            self._conn = sqlite3.connect(
                self._path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
            )

    def checkpoint(self) -> None:
        with _translated(self._path, self._busy_timeout_s):
            self._conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()

    def close(self) -> None:
        """Close the connection; if it is the last, SQLite checkpoints the rest and removes the WAL file."""
        self._conn.close()


def _enable_wal(db: Database, path: Path) -> str:
    """Switch to WAL, waiting out a concurrent opener: changing the journal mode of a new file while another
    connection holds a lock fails at once with "database is locked" instead of calling the busy handler."""
    timeout_s = float(db.execute("PRAGMA busy_timeout").fetchone()[0]) / 1000
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return str(db.execute("PRAGMA journal_mode=wal").fetchone()[0])
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


@contextmanager
def _immediate(db: Database) -> Iterator[None]:
    """A write transaction that takes the write lock up front.

    sqlite-utils' ``atomic()`` issues a deferred BEGIN; under WAL a deferred transaction that read
    before writing gets SQLITE_BUSY at once when another writer got in first, without waiting for the
    busy timeout. Taking the lock at BEGIN makes concurrent runs queue instead. Nested ``atomic()``
    blocks (as in ``Migrations.apply``) become savepoints inside this transaction.
    """
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.conn.execute("COMMIT")  # a COMMIT that fails (disk full, I/O) leaves the transaction open
    except BaseException:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise


@contextmanager
def _snapshot(db: Database) -> Iterator[None]:
    """A read transaction (unless one is open already), so several SELECTs see the same rows under WAL."""
    if db.conn.in_transaction:
        yield
        return
    db.conn.execute("BEGIN")
    try:
        yield
    finally:
        if db.conn.in_transaction:
            db.conn.execute("COMMIT")


def merge_into(
    target: str | Path, others: Sequence[str | Path], *, busy_timeout_s: float = _DEFAULT_BUSY_TIMEOUT_S
) -> list[MergeCounts]:
    """`Store.merge` ``others`` into the database at ``target``, creating it if needed, but only once every file has
    passed its checks: when one is refused, ``target`` is neither created nor opened."""
    target = Path(target)
    sources = [(Path(other), _merge_source_tables(Path(other), target, busy_timeout_s)) for other in others]
    with Store.open(target, busy_timeout_s=busy_timeout_s) as store:
        return [store._merge_one(path, tables) for path, tables in sources]


_MERGE_SOURCE = "merge_source"
_FINISH_MERGED_RUNS = (
    f"UPDATE main.runs SET (status, finished_at) = (SELECT o.status, o.finished_at FROM {_MERGE_SOURCE}.runs AS o"
    " WHERE o.id = runs.id) WHERE finished_at IS NULL"
    f" AND id IN (SELECT id FROM {_MERGE_SOURCE}.runs WHERE finished_at IS NOT NULL)"
)


def _readonly_uri(path: Path) -> str:
    return path.resolve().as_uri() + "?mode=ro"


def _merge_source_tables(path: Path, target: Path, busy_timeout_s: float) -> dict[str, set[str]]:
    """Check, reading only, that the file at ``path`` can be merged into ``target``; return the columns of each
    merged table it has.

    Refused: a missing file, the target itself, another program's database, an empty file, a file from a newer
    probe, and one whose pages fail SQLite's ``quick_check`` (about 1 s per 500 MB; a merge reads it all anyway).
    """
    if not path.is_file():
        raise StoreError(path, "does not exist")
    if target.exists() and os.path.samefile(path, target):
        raise StoreError(path, "is the database being merged into; name another machine's file")
    with _translated(path, busy_timeout_s):
        conn = sqlite3.connect(_readonly_uri(path), uri=True, timeout=busy_timeout_s, isolation_level=None)
        try:
            db = Database(conn, execute_plugins=False)
            if _MIGRATIONS[0].__name__ in _check_schema(db, path, _migrations()):
                raise StoreError(path, "not a probe database (it has no probe tables); choose another file")
            problems = [str(row[0]) for row in conn.execute("PRAGMA quick_check(3)")]
            if problems != ["ok"]:
                raise StoreError(path, f"not a database, or corrupt (quick_check: {'; '.join(problems)})")
            return {
                table: columns
                for table in MERGED_TABLES
                if (columns := {str(row[1]) for row in conn.execute(f"PRAGMA table_info({table})")})
            }
        finally:
            conn.close()


def _check_schema(db: Database, path: Path, migrations: Migrations) -> list[str]:
    """Return the names of pending migrations; raise if the file is someone else's or from a newer probe.

    Reads only, so a foreign or corrupt file is never modified.
    """
    tables = {
        name
        for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        if not name.startswith("sqlite_")
    }
    applied = [m.name for m in migrations.applied(db)] if Migrations.migrations_table in tables else []
    known = [step.__name__ for step in _MIGRATIONS]
    if not applied and tables:
        listed = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
        raise StoreError(path, f"not a probe database (it has other tables: {listed}); choose another file")
    unknown = [name for name in applied if name not in known]
    if unknown:
        raise StoreError(
            path, f"schema is newer than this probe knows (migration {unknown[-1]}); upgrade probe to use it"
        )
    return [name for name in known if name not in applied]


def _where(
    since: str | None,
    until: str | None,
    models: Sequence[str] | None,
    providers: Sequence[str] | None,
    status: str | None,
    run_id: str | None,
    *,
    workload: str | None = None,
) -> tuple[str, list[Any]]:
    """A WHERE clause over ``samples AS s`` and its parameters; every filter given must hold."""
    clauses: list[str] = []
    params: list[Any] = []
    if since is not None:
        clauses.append("s.started_at >= ?")
        params.append(since)
    if until is not None:
        clauses.append("s.started_at < ?")
        params.append(until)
    for column, values in (("model", models), ("provider", providers)):
        if values is None:
            continue
        if isinstance(values, str):
            raise TypeError(f"{column}s must be a sequence of names, not the string {values!r}")
        values = list(dict.fromkeys(values))
        if len(values) > _SQLITE_MAX_VARIABLES:
            raise ValueError(f"at most {_SQLITE_MAX_VARIABLES} {column}s per query")
        clauses.append(f"s.{column} IN ({', '.join('?' * len(values))})")
        params.extend(values)
    if status is not None:
        clauses.append("s.status = ?")
        params.append(status)
    if run_id is not None:
        clauses.append("s.run_id = ?")
        params.append(run_id)
    if workload is not None:
        clauses.append("s.workload = ?")
        params.append(workload)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


_NOT_AUDIT = f"(s.workload IS NULL OR s.workload <> '{AUDIT_WORKLOAD}')"
"""Leaves `probe audit` requests out of speed and latency reads."""
_AUDIT_COLUMNS = ("sample_id", "kind", "requested_model", "first_party", "canary", "expected", "answer", "correct")


def _and(where: str, *clauses: str) -> str:
    """``where`` (a WHERE clause or nothing) with more conditions that must also hold."""
    joined = " AND ".join(clauses)
    return f"{where} AND {joined}" if where else f" WHERE {joined}"


def _with_trace(row: Sequence[Any]) -> Sample:
    """A sample from a row of ``_SELECT_SAMPLES_WITH_TRACE``."""
    width = len(SAMPLE_COLUMNS)
    offsets, tokens, channels = row[width : width + 3]
    trace = ChunkTrace(tuple(orjson.loads(offsets)), tuple(orjson.loads(tokens)), channels) if channels is not None else ChunkTrace()
    return Sample(*row[:width], trace=trace)


def _older_than(started_at: str, cutoff: datetime) -> bool:
    """Whether an ISO 8601 timestamp lies before ``cutoff``; naive stamps are read as UTC."""
    try:
        stamp = datetime.fromisoformat(started_at)
    except ValueError:
        return False  # unreadable: not evidence that the run is stale
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return stamp < cutoff


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None
