"""`probe run` against endpoints failing in every way, with a canary key, and on databases it cannot use.

In-process (typer's CliRunner) so DNS can be faked and output captured; the simulators run on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from probe.cli import app
from probe.lock import run_lock
from probe.sim import LatencyProfile, SimServer
from probe.sim.faults import FAULT_HEADER
from probe.sim.process import spawn_sim_process
from tests.support import FAULT_KINDS, SIM_DIALECTS, closed_port, fail_dns_for_invalid_hosts, tls_simulator

CANARY = "canary-3b9f1e7d5a2c8e6f4d0b1a9c"  # shaped like no provider's key: only the known-secret rule can catch it
KEY_ENV = "PROBE_CANARY_API_KEY"
QUICK = LatencyProfile(ttft_s=0.01, inter_chunk_s=0.002, tokens_per_chunk=2, output_tokens=12)
PROFILES = {"sim-fast": QUICK, "sim-other": QUICK}
TOTAL_S = 2.0  # deadlines with room for a busy machine: a healthy request here takes about 50 ms
TIMEOUTS = f"timeouts = {{ connect_s = 1, first_byte_s = 0.8, stall_s = 0.5, total_s = {TOTAL_S} }}"
SAMPLES = 2


def provider(
    name: str, base_url: str, *, api: str = "openai-chat", fault: str | None = None, verify_tls: bool = True,
    models: tuple[str, ...] = ("sim-fast",),
) -> str:
    lines = [
        "[[providers]]",
        f'name = "{name}"',
        f'api = "{api}"',
        f'base_url = "{base_url}"',
        f'api_key_env = "{KEY_ENV}"',
        TIMEOUTS,
    ]
    if fault:
        lines.append(f'headers = {{ "{FAULT_HEADER}" = "{fault}" }}')
    if not verify_tls:
        lines.append("verify_tls = false")
    lines += ["[providers.models]", *(f'"{model}" = "{model}"' for model in models), ""]
    return "\n".join(lines)


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env=env)


def rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


@dataclass(frozen=True)
class FaultRun:
    result: Result
    elapsed_s: float
    db: Path
    folder: Path


@pytest.fixture(scope="module")
def fault_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultRun]:
    """One `probe run` over, in every dialect, a healthy provider and one provider per fault, plus endpoints that
    refuse, do not resolve or present an untrusted certificate; all with the canary key."""
    folder = tmp_path_factory.mktemp("fault-run")
    switch_interval = sys.getswitchinterval()
    # The simulator in its own process: in this one it would wait for the GIL behind 64 streams and send late.
    with spawn_sim_process("measurement") as sim, tls_simulator(PROFILES) as tls_url, pytest.MonkeyPatch.context() as patch:
        fail_dns_for_invalid_hosts(patch)
        tables = [provider(f"{api}-healthy", sim.base_url, api=api, models=tuple(PROFILES)) for api in SIM_DIALECTS]
        tables += [provider(f"{api}-{name}", sim.base_url, api=api, fault=name) for api in SIM_DIALECTS for name in FAULT_KINDS]
        tables += [
            provider("refused", f"http://127.0.0.1:{closed_port()}/v1"),
            provider("dns", "http://nonexistent.invalid/v1"),
            provider("tls-untrusted", tls_url),
            provider("tls-unverified", tls_url, verify_tls=False),
        ]
        config = folder / "providers.toml"
        config.write_text("\n".join(tables))
        db = folder / "results.db"
        started = time.perf_counter()
        result = invoke("run", "-c", str(config), "--db", str(db), "-n", str(SAMPLES), "-j", "64", env={KEY_ENV: CANARY})
        elapsed = time.perf_counter() - started
        reported = invoke("report", "--db", str(db), "-c", str(config), "-o", str(folder / "reports"), "--window", "all",
                          "--pair", "sim-fast,sim-other")
    sys.setswitchinterval(switch_interval)
    assert reported.exit_code == 0, reported.output
    yield FaultRun(result, elapsed, db, folder)


EXPECTED = {f"{api}-{name}": kind for api in SIM_DIALECTS for name, kind in FAULT_KINDS.items()} | {
    "refused": "connect",
    "dns": "connect",
    "tls-untrusted": "connect",
}


def test_the_run_completes_within_its_timeouts(fault_run: FaultRun) -> None:
    """Exit 0 (error samples are data), one completed run, and the deadlines ran side by side: waited for one after
    another, the 24 deadline-bound requests alone would take about 26 s."""
    assert fault_run.result.exit_code == 0, fault_run.result.output
    planned = SAMPLES * (len(EXPECTED) + len(PROFILES) * len(SIM_DIALECTS) + 1)
    assert rows(fault_run.db, "SELECT status, samples_planned FROM runs") == [("completed", planned)]
    assert fault_run.elapsed_s < 4 * TOTAL_S + 5.0  # start-up and the writer included, on a busy 2-core machine


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_failure_is_stored_with_its_kind(fault_run: FaultRun, name: str) -> None:
    stored = rows(fault_run.db, f"SELECT status, error_kind FROM samples WHERE provider = '{name}'")
    assert stored == [("error", EXPECTED[name])] * SAMPLES


def test_the_other_samples_of_the_run_are_intact(fault_run: FaultRun) -> None:
    """The healthy providers' samples, and those through a TLS endpoint with verification off, all succeed."""
    stored = rows(fault_run.db, "SELECT provider, status, output_tokens FROM samples WHERE provider NOT IN ({})".format(
        ", ".join(f"'{name}'" for name in EXPECTED)))
    healthy = [f"{api}-healthy" for api in SIM_DIALECTS for _ in PROFILES] + ["tls-unverified"]
    assert sorted(stored) == sorted((name, "ok", 12) for name in healthy for _ in range(SAMPLES))


def test_turning_tls_verification_off_is_announced(fault_run: FaultRun) -> None:
    assert "probe: warning: TLS verification is OFF for provider 'tls-unverified' (verify_tls = false)\n" in fault_run.result.stderr


def test_the_canary_key_is_in_no_file_and_no_output(fault_run: FaultRun) -> None:
    """Endpoints echoed the key in a 401 body, an HTML page and an in-stream error; none of it reached the
    database (its WAL included), the reports or any output."""
    written = [path for path in fault_run.folder.rglob("*") if path.is_file()]
    assert fault_run.db in written and any(path.suffix == ".md" for path in written)
    for path in written:
        assert CANARY.encode() not in path.read_bytes(), path
    assert CANARY not in fault_run.result.stdout and CANARY not in fault_run.result.stderr
    echoed = rows(fault_run.db, "SELECT DISTINCT provider FROM samples WHERE error_message LIKE '%[redacted]%'")
    assert sorted(p for (p,) in echoed) == sorted(
        f"{api}-{name}" for api in SIM_DIALECTS for name in ("error-in-stream", "html-error", "unauthorized")
    )


# --------------------------------------------------------------------------- databases probe cannot use


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with SimServer(PROFILES) as server:
        yield server


@pytest.fixture
def config(sim: SimServer, tmp_path: Path) -> Path:
    path = tmp_path / "providers.toml"
    path.write_text(provider("sim", sim.base_url).replace(f'api_key_env = "{KEY_ENV}"', 'auth = "none"'))
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_one_line_exit_2(result: Result, db: Path, problem: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"probe: {db}: ") and problem in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"\x13\x37 this is not a database " * 400, "not a database, or corrupt"),
        (b"SQLite format 3\x00" + b"\xff" * 4000, "not a database, or corrupt"),
    ],
    ids=["garbage", "broken-header"],
)
def test_a_corrupt_database_is_one_line_and_left_untouched(config: Path, tmp_path: Path, content: bytes, problem: str) -> None:
    db = tmp_path / "results.db"
    db.write_bytes(content)
    assert_one_line_exit_2(invoke("run", "-c", str(config), "--db", str(db), "-q"), db, problem)
    assert db.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["providers.toml", "results.db"]


def test_a_database_with_a_corrupt_page_is_one_line(config: Path, tmp_path: Path) -> None:
    """A probe database whose samples page is overwritten fails the next run cleanly (exit 2), and probe writes
    nothing over the damaged page: what is left of it stays for a recovery tool."""
    db = tmp_path / "results.db"
    assert invoke("run", "-c", str(config), "--db", str(db), "-n", "3", "-q").exit_code == 0
    ((root_page,),) = rows(db, "SELECT rootpage FROM sqlite_master WHERE name = 'samples'")
    ((page_size,),) = rows(db, "PRAGMA page_size")
    offset = (root_page - 1) * page_size
    with db.open("r+b") as file:
        file.seek(offset)
        file.write(b"\xff" * page_size)
    result = invoke("run", "-c", str(config), "--db", str(db), "-n", "50", "-q")
    assert_one_line_exit_2(result, db, "not a database, or corrupt")
    assert db.read_bytes()[offset : offset + page_size] == b"\xff" * page_size


def test_another_programs_database_is_refused_untouched(config: Path, tmp_path: Path) -> None:
    db = tmp_path / "results.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
        conn.execute("INSERT INTO invoices VALUES (1, 9.5)")
    conn.close()
    before = sha256(db)
    assert_one_line_exit_2(invoke("run", "-c", str(config), "--db", str(db), "-q"), db, "not a probe database (it has other tables: invoices)")
    assert sha256(db) == before


def test_a_read_only_database_is_one_line_and_left_untouched(config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Read-only by permission; under root, whom permissions do not stop, by opening the file read-only."""
    db = tmp_path / "results.db"
    assert invoke("run", "-c", str(config), "--db", str(db), "-n", "3", "-q").exit_code == 0
    before = sha256(db)
    if os.geteuid() != 0:
        db.chmod(0o444)
    else:
        connect = sqlite3.connect

        def read_only(path, *args, **kwargs):  # type: ignore[no-untyped-def]
            if isinstance(path, Path):
                return connect(path.resolve().as_uri() + "?mode=ro", *args, uri=True, **kwargs)
            return connect(path, *args, **kwargs)

        monkeypatch.setattr(sqlite3, "connect", read_only)
    result = invoke("run", "-c", str(config), "--db", str(db), "-q")
    monkeypatch.undo()
    db.chmod(0o644)
    assert_one_line_exit_2(result, db, "")
    assert "read-only" in result.stderr or "cannot open" in result.stderr
    assert sha256(db) == before


def test_a_full_disk_mid_run_is_one_line_and_keeps_what_was_stored(config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLITE_FULL for real: every connection may not grow the file (``max_page_count``), so a run of many samples
    fills it mid-run. Exit 2 with one line, the earlier run's samples intact, the file still sound."""
    db = tmp_path / "results.db"
    assert invoke("run", "-c", str(config), "--db", str(db), "-n", "3", "-q").exit_code == 0
    earlier = rows(db, "SELECT * FROM samples ORDER BY id")
    connect = sqlite3.connect

    def no_room(*args, **kwargs):  # type: ignore[no-untyped-def]
        conn = connect(*args, **kwargs)
        conn.execute("PRAGMA max_page_count = 1")  # clamped to the file's current size
        return conn

    monkeypatch.setattr(sqlite3, "connect", no_room)
    result = invoke("run", "-c", str(config), "--db", str(db), "-n", "400", "-j", "16", "-q")
    monkeypatch.undo()
    assert_one_line_exit_2(result, db, "disk full, cannot write")
    assert rows(db, "SELECT * FROM samples WHERE run_id = (SELECT id FROM runs ORDER BY rowid LIMIT 1) ORDER BY id") == earlier
    assert rows(db, "PRAGMA integrity_check") == [("ok",)]
    assert [status for (status,) in rows(db, "SELECT status FROM runs ORDER BY rowid")] == ["completed", "failed"]


# --------------------------------------------------------------------------- --lock


def test_a_locked_run_skips_with_one_line_while_another_holds_the_lock(config: Path, tmp_path: Path) -> None:
    """While another run holds ``results.db.lock``, `probe run --lock` exits 0 at once and touches nothing."""
    db = tmp_path / "results.db"
    with run_lock(db):
        result = invoke("run", "-c", str(config), "--db", str(db), "--lock", "-q")
    assert result.exit_code == 0
    assert result.stderr.startswith(f"probe: another probe run holds the lock {db}.lock (pid ")
    assert result.stderr.endswith("; skipping this run\n") and result.stderr.count("\n") == 1
    assert not db.exists()
    result = invoke("run", "-c", str(config), "--db", str(db), "--lock", "-n", "2", "-q")
    assert result.exit_code == 0 and rows(db, "SELECT count(*) FROM samples") == [(2,)]
    with run_lock(db):  # released when the run ended
        pass
