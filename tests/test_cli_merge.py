"""Several vantage points from the command line: each run records where it ran, and `probe merge` brings another
machine's database in, idempotently, or refuses it in one line with nothing changed."""

from __future__ import annotations

import hashlib
import socket
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from probe.cli import app
from probe.sim.profiles import LatencyProfile
from probe.sim.server import SimServer

from .test_store_merge import machine

FAST = LatencyProfile(ttft_s=0.01, inter_chunk_s=0.001, tokens_per_chunk=2, output_tokens=10)
KEY = "canary-merge-0123456789abcdef"


@pytest.fixture(scope="module")
def sim():
    with SimServer({"fast-a": FAST}, seed=5, api_key=KEY) as server:
        yield server


def rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as connection:
        found = connection.execute(sql).fetchall()
    connection.close()
    return found


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args))


def test_run_records_its_region_and_host_on_the_run_and_every_sample(sim, tmp_path: Path, monkeypatch) -> None:
    """`probe run --region` stores the region on the run and on each sample; the run also names this host."""
    monkeypatch.setenv("SIM_API_KEY", KEY)
    config = tmp_path / "providers.toml"
    config.write_text(f"""
[[providers]]
name = "sim"
api = "openai-chat"
base_url = "{sim.base_url}"
api_key_env = "SIM_API_KEY"
[providers.models]
"model-a" = "fast-a"
""")
    db = tmp_path / "results.db"
    result = invoke("run", "-c", str(config), "--db", str(db), "-n", "3", "-q", "--region", "eu-west")
    assert result.exit_code == 0, result.output
    assert rows(db, "SELECT host, region, status FROM runs") == [(socket.gethostname(), "eu-west", "completed")]
    assert rows(db, "SELECT region, count(*) FROM samples GROUP BY region") == [("eu-west", 3)]


def test_merge_prints_rows_added_per_table_and_nothing_the_second_time(tmp_path: Path) -> None:
    here, there = tmp_path / "results.db", tmp_path / "vm.db"
    machine(here, host="laptop", region="eu-west")
    machine(there, host="cloud-vm", region="us-east", samples=3)
    first = invoke("merge", str(there), "--db", str(here))
    assert first.exit_code == 0, first.output
    assert first.stdout.startswith(f"merged {there} into {here}: added 1 runs, 3 samples, 2 sample_traces, ")
    assert rows(here, "SELECT region, count(*) FROM samples GROUP BY region") == [("eu-west", 5), ("us-east", 3)]
    second = invoke("merge", str(there), "--db", str(here))
    assert second.exit_code == 0
    assert "added 0 runs, 0 samples, 0 sample_traces, " in second.stdout
    assert rows(here, "SELECT count(*) FROM samples") == [(8,)]


def test_merge_of_a_bad_file_is_one_line_exit_2_and_the_database_is_byte_for_byte_unchanged(tmp_path: Path) -> None:
    here, there, bad = tmp_path / "results.db", tmp_path / "vm.db", tmp_path / "bad.db"
    machine(here, host="laptop", region="eu-west")
    machine(there, host="cloud-vm", region="us-east")
    bad.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4080)
    before = hashlib.sha256(here.read_bytes()).hexdigest()
    result = invoke("merge", str(there), str(bad), "--db", str(here))
    assert result.exit_code == 2
    assert result.stderr == f"probe: {bad}: not a database, or corrupt (file is not a database)\n"
    assert hashlib.sha256(here.read_bytes()).hexdigest() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("results.db-")]  # not even opened


def test_merge_needs_at_least_one_file() -> None:
    assert invoke("merge").exit_code == 2
