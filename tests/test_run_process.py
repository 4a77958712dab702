"""Real `probe run` processes against a simulator process: killed with SIGKILL at random moments, two at once on
one database, and stopped with Ctrl-C. Each asserts on the rows in the database."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from probe.sim.process import SimProcess, spawn_sim_process

KILLS = 8
KILL_WINDOW_S = (0.1, 1.9)  # start-up, opening and migrating the database, and the middle of the run


@pytest.fixture(scope="module")
def sim() -> Iterator[SimProcess]:
    with spawn_sim_process("fast", raise_priority=False) as process:
        yield process


@pytest.fixture
def config(sim: SimProcess, tmp_path: Path) -> Path:
    path = tmp_path / "providers.toml"
    path.write_text(
        f'[[providers]]\nname = "sim"\napi = "openai-chat"\nbase_url = "{sim.base_url}"\nauth = "none"\n'
        '[providers.models]\n"sim-fast" = "sim-fast"\n'
    )
    return path


def start_run(config: Path, db: Path, *args: str) -> subprocess.Popen[bytes]:
    """`probe run` in its own process, with Ctrl-C armed even if this process was started with SIGINT ignored."""
    return subprocess.Popen(
        [sys.executable, "-m", "probe", "run", "-c", str(config), "--db", str(db), "-q", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def committed_ids(db: Path) -> set[str]:
    """Sample ids a reader can see right now (committed), without creating the file if it does not exist yet."""
    if not db.exists():
        return set()
    try:
        with sqlite3.connect(db.resolve().as_uri() + "?mode=ro", uri=True, timeout=1) as conn:
            ids = {sample_id for (sample_id,) in conn.execute("SELECT id FROM samples")}
        conn.close()
        return ids
    except sqlite3.Error:  # not created or migrated yet
        return set()


def rows(db: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.mark.slow
def test_kill_9_at_random_moments_loses_no_committed_sample(config: Path, tmp_path: Path) -> None:
    """SIGKILL a run at spread-out random moments, eight times: every sample a reader saw committed before a kill
    is still there, the file passes integrity_check, the lock is never stale, and the next run marks each killed
    run 'interrupted'."""
    seed = int(os.environ.get("PROBE_KILL_SEED") or random.randrange(1 << 32))
    rng = random.Random(seed)
    db = tmp_path / "results.db"
    committed: set[str] = set()
    for kill in range(KILLS):
        low, high = KILL_WINDOW_S
        delay_s = low + (kill + rng.random()) * (high - low) / KILLS
        process = start_run(config, db, "-n", "500", "--lock")
        deadline = time.monotonic() + delay_s
        patience = time.monotonic() + 20  # the last kill waits for a first commit on a machine too busy to make one
        while time.monotonic() < deadline or (kill == KILLS - 1 and not committed and time.monotonic() < patience):
            committed |= committed_ids(db)
            time.sleep(0.01)
        committed |= committed_ids(db)
        process.kill()
        _, stderr = process.communicate(timeout=10)  # reaps it: a zombie's pid would still look alive
        assert process.returncode == -signal.SIGKILL, f"seed {seed}: run ended before the kill: {stderr!r}"
        if db.exists():
            assert rows(db, "PRAGMA integrity_check") == [("ok",)], f"seed {seed}, kill {kill} after {delay_s:.2f} s"
            missing = committed - committed_ids(db)
            assert not missing, f"seed {seed}, kill {kill} after {delay_s:.2f} s: lost {len(missing)} samples"

    final = subprocess.run(
        [sys.executable, "-m", "probe", "run", "-c", str(config), "--db", str(db), "-q", "-n", "3", "--lock"],
        capture_output=True, timeout=60,
    )  # fmt: skip
    assert final.returncode == 0, final.stderr
    statuses = [status for (status,) in rows(db, "SELECT status FROM runs ORDER BY started_at, rowid")]
    assert statuses[-1] == "completed" and set(statuses[:-1]) == {"interrupted"}, f"seed {seed}: {statuses}"
    assert committed <= committed_ids(db) and rows(db, "PRAGMA integrity_check") == [("ok",)]
    assert committed, f"seed {seed}: no kill landed after a sample was committed"


def test_two_runs_at_once_on_one_new_database_lose_nothing(config: Path, tmp_path: Path) -> None:
    """Two runs start together on a file that does not exist yet: both migrate, write and finish; no 'database is
    locked', every planned sample stored."""
    db = tmp_path / "results.db"
    processes = [start_run(config, db, "-n", "40", "-j", "4") for _ in range(2)]
    outcomes = [process.communicate(timeout=60) for process in processes]
    for process, (_, stderr) in zip(processes, outcomes):
        assert process.returncode == 0, stderr
        assert b"locked" not in stderr
    assert rows(db, "SELECT status, samples_planned FROM runs") == [("completed", 40), ("completed", 40)]
    assert rows(db, "SELECT run_id, count(*) FROM samples GROUP BY run_id ORDER BY 1") == sorted(
        (run_id, 40) for (run_id,) in rows(db, "SELECT id FROM runs")
    )
    assert rows(db, "PRAGMA integrity_check") == [("ok",)]


def test_ctrl_c_stops_promptly_and_keeps_completed_samples(config: Path, tmp_path: Path) -> None:
    """SIGINT mid-run: exit 130 within a second or two with one line, completed samples kept (all of them ok: the
    requests in flight are dropped, not stored), and the run marked 'interrupted'."""
    db = tmp_path / "results.db"
    process = start_run(config, db, "-n", "2000", "-j", "4")
    deadline = time.monotonic() + 20
    while len(seen := committed_ids(db)) < 10 and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    interrupted = time.monotonic()
    _, stderr = process.communicate(timeout=20)
    stopped_within_s = time.monotonic() - interrupted
    assert process.returncode == 130
    assert stderr == b"probe: interrupted: completed samples are kept; requests in flight were dropped\n"
    assert stopped_within_s < 2.0
    assert rows(db, "SELECT status, samples_planned FROM runs") == [("interrupted", 2000)]
    stored = rows(db, "SELECT status, count(*) FROM samples GROUP BY status")
    assert len(stored) == 1 and stored[0][0] == "ok" and 10 <= len(seen) <= stored[0][1] < 2000
    assert seen <= committed_ids(db)
