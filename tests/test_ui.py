"""The Datasette metadata shipped for `probe ui`: every canned query runs on a probe database with plain sqlite3 and
says what it should; the files and command `probe ui` hands Datasette; the one-line hint without the extra.

Datasette itself is an optional extra and is not needed here.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time as clock
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

import probe.ui
from probe.cli import app
from probe.model import Sample
from probe.store import Store
from probe.ui import DEFAULT_DATABASE, SQL_TIME_LIMIT_MS, canned_queries, datasette_command, datasette_files, load_metadata

MIDDAY = datetime.combine(datetime.now(UTC).date(), time(12), UTC)  # today, whatever the hour the tests run
TODAY = MIDDAY.date().isoformat()
YESTERDAY = (MIDDAY - timedelta(days=1)).date().isoformat()


def stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ok(index: int, provider: str, model: str, at: datetime, ttft_s: float, tps: float, region: str | None = "eu",
       workload: str = "1k") -> Sample:
    return Sample(f"s{index}", "run-1", provider, model, "openai-chat", stamp(at), "ok", ttft_s=ttft_s, output_tps=tps,
                  region=region, workload=workload)  # fmt: skip


def error(index: int, provider: str, kind: str, at: datetime) -> Sample:
    return Sample(f"s{index}", "run-1", provider, "mini", "openai-chat", stamp(at), "error", error_kind=kind, region="eu",
                  workload="1k")  # fmt: skip


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Today: mini on openai with TTFT 1..4 s, on azure 0.5 s and three errors (two 429s); nano twice (0.3 and 0.6 s) with no region.
    Yesterday: mini once more. 40 days ago: one sample the default windows leave out. An audit request today, which
    counts for success rates only. All in one run."""
    path = tmp_path_factory.mktemp("ui") / "results.db"
    samples = [ok(i, "openai", "mini", MIDDAY - timedelta(seconds=i), float(i), 10.0 * i) for i in (1, 2, 3, 4)]
    samples += [ok(5, "azure", "mini", MIDDAY, 0.5, 50.0, region="us"), ok(6, "openai", "nano", MIDDAY, 0.3, 100.0, region=None),
                ok(12, "openai", "nano", MIDDAY, 0.6, 120.0, region=None)]
    samples += [error(7, "azure", "rate_limited", MIDDAY), error(8, "azure", "rate_limited", MIDDAY),
                error(9, "azure", "server", MIDDAY)]  # fmt: skip
    samples += [ok(10, "openai", "mini", MIDDAY - timedelta(days=1), 9.0, 90.0),
                ok(11, "openai", "mini", MIDDAY - timedelta(days=40), 7.0, 7.0),
                ok(13, "openai", "mini", MIDDAY, 60.0, 1.0, workload="audit")]  # fmt: skip
    with Store.open(path) as store:
        run_id = store.begin_run(host="laptop", region="eu", probe_version="0.1.0", config_hash="", command="probe run",
                                 samples_planned=13)  # fmt: skip
        store.insert_samples([dataclasses.replace(sample, run_id=run_id) for sample in samples])
        store.finish_run(run_id, "completed")
    return path


def run(db: Path, name: str, **params: str) -> list[dict[str, object]]:
    """A canned query as Datasette runs it: every named parameter bound, empty when not given."""
    sql = canned_queries()[name]["sql"]
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        conn.row_factory = sqlite3.Row
        cursor = conn.execute(sql, {"days": params.get("days", "")} if ":days" in sql else {})
        found = [dict(row) for row in cursor]
    conn.close()
    return found


def test_every_canned_query_runs_and_has_a_title_and_description(db: Path) -> None:
    queries = canned_queries()
    assert {"latest_samples", "error_kinds_per_provider", "daily_medians", "success_rate_per_provider"} <= set(queries)
    for name, query in queries.items():
        assert query["title"] and query["description"] and query["sql"], name
        assert run(db, name), name


def test_latest_samples_come_newest_first(db: Path) -> None:
    found = run(db, "latest_samples")
    assert len(found) == 13
    assert [row["started_at"] for row in found] == sorted((row["started_at"] for row in found), reverse=True)


def test_error_kinds_per_provider_count_and_share(db: Path) -> None:
    assert [(r["provider"], r["error_kind"], r["errors"], r["pct_of_requests"]) for r in run(db, "error_kinds_per_provider")] == [
        ("azure", "rate_limited", 2, 50.0),
        ("azure", "server", 1, 25.0),
    ]


def test_daily_medians_are_true_medians(db: Path) -> None:
    """The window-function median: the mean of the two middle values for an even count, the middle one for odd."""
    rows = {(r["day"], r["model"], r["workload"]): r for r in run(db, "daily_medians")}
    today = rows[(TODAY, "mini", "1k")]
    assert (today["samples"], today["median_ttft_s"], today["ttft_n"], today["median_output_tps"]) == (8, 2.0, 5, 30.0)
    assert today["success_pct"] == 62.5
    assert rows[(YESTERDAY, "mini", "1k")]["median_ttft_s"] == 9.0
    nano = rows[(TODAY, "nano", "1k")]
    assert (nano["median_ttft_s"], nano["ttft_n"]) == (pytest.approx(0.45), 2)
    audit = rows[(TODAY, "mini", "audit")]  # counted, never a latency
    assert (audit["samples"], audit["success_pct"], audit["median_ttft_s"]) == (1, 100.0, None)
    assert len(rows) == 4  # the sample from 40 days ago is outside the default 30 days
    assert len(run(db, "daily_medians", days="60")) == 5


def test_success_rate_per_provider_with_and_without_rate_limits(db: Path) -> None:
    found = {r["provider"]: r for r in run(db, "success_rate_per_provider")}
    azure = found["azure"]
    assert (azure["samples"], azure["ok"], azure["success_pct"], azure["success_pct_without_rate_limits"]) == (4, 1, 25.0, 50.0)
    assert azure["rate_limited"] == 2
    assert (found["openai"]["samples"], found["openai"]["success_pct"]) == (8, 100.0)


def test_medians_by_region_split_each_provider_by_where_probe_ran(db: Path) -> None:
    found = {(r["model"], r["provider"], r["region"], r["workload"]): r for r in run(db, "medians_by_region")}
    assert set(found) == {("mini", "azure", "eu", "1k"), ("mini", "azure", "us", "1k"), ("mini", "openai", "eu", "1k"),
                          ("mini", "openai", "eu", "audit"), ("nano", "openai", "(not recorded)", "1k")}  # fmt: skip
    mini = found[("mini", "openai", "eu", "1k")]
    assert (mini["samples"], mini["median_ttft_s"]) == (5, 3.0)
    assert found[("mini", "azure", "eu", "1k")]["median_ttft_s"] is None  # errors only
    assert found[("mini", "openai", "eu", "audit")]["median_ttft_s"] is None


def test_latest_runs_count_their_samples(db: Path) -> None:
    [latest] = run(db, "latest_runs")
    assert (latest["host"], latest["region"], latest["status"], latest["samples"]) == ("laptop", "eu", "completed", 13)


# --------------------------------------------------------------------------- what probe ui hands Datasette


def test_datasette_0x_gets_one_metadata_file_keyed_by_the_database_name(tmp_path: Path) -> None:
    metadata, config = datasette_files(tmp_path / "vm-results.db", "0.65.1")
    assert config is None
    assert list(metadata["databases"]) == ["vm-results"]
    assert metadata["databases"]["vm-results"]["queries"] == canned_queries()
    assert DEFAULT_DATABASE in load_metadata()["databases"]  # the shipped file itself is untouched
    command = datasette_command(tmp_path / "vm-results.db", datasette_version="0.65.1", metadata=tmp_path / "m.json",
                                config=None, host="127.0.0.1", port=8123, open_browser=False)  # fmt: skip
    assert command[1:] == ["-m", "datasette", "serve", str(tmp_path / "vm-results.db"), "--metadata", str(tmp_path / "m.json"),
                           "--setting", "sql_time_limit_ms", str(SQL_TIME_LIMIT_MS), "--host", "127.0.0.1", "--port", "8123"]  # fmt: skip


def test_datasette_1x_gets_canned_queries_and_settings_in_its_config(tmp_path: Path) -> None:
    metadata, config = datasette_files(tmp_path / "results.db", "1.0a19")
    assert config == {"settings": {"sql_time_limit_ms": SQL_TIME_LIMIT_MS}, "databases": {"results": {"queries": canned_queries()}}}
    assert "queries" not in metadata["databases"]["results"] and metadata["databases"]["results"]["tables"]
    command = datasette_command(tmp_path / "results.db", datasette_version="1.0a19", metadata=tmp_path / "m.json",
                                config=tmp_path / "c.json", host="127.0.0.1", port=8001, open_browser=True)  # fmt: skip
    assert "--config" in command and "--setting" not in command and command[-1] == "--open"


def test_without_datasette_probe_ui_says_how_to_install_it(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "datasette" else find_spec(name, *a))
    result = CliRunner().invoke(app, ["ui", "--db", str(db)])
    assert result.exit_code == 2
    assert result.stderr.startswith("probe: datasette is not installed; install the ui extra: pip install 'probe[ui]'")
    assert result.stderr.count("\n") == 1


def test_probe_ui_serves_the_database_with_the_metadata(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With Datasette present (faked here), `probe ui` runs it on the database with metadata keyed by its name."""
    import importlib.metadata
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "datasette" else find_spec(name, *a))
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "0.65.1")
    seen: list[tuple[list[str], dict[str, object]]] = []

    def fake_serve(command: list[str]) -> int:
        metadata = json.loads(Path(command[command.index("--metadata") + 1]).read_text(encoding="utf-8"))
        seen.append((command, metadata))
        return 0

    monkeypatch.setattr(probe.ui, "serve", fake_serve)
    result = CliRunner().invoke(app, ["ui", "--db", str(db), "--no-open", "--port", "8765"])
    assert result.exit_code == 0, result.output
    [(command, metadata)] = seen
    assert command[command.index("serve") + 1] == str(db) and "--open" not in command and "8765" in command
    assert list(metadata["databases"]) == ["results"] and metadata["databases"]["results"]["queries"] == canned_queries()


def test_probe_ui_on_a_missing_database_is_one_line_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "datasette" else find_spec(name, *a))
    result = CliRunner().invoke(app, ["ui", "--db", str(tmp_path / "none.db")])
    assert result.exit_code == 2 and "does not exist" in result.stderr


FAKE_DATASETTE = """
import os, pathlib, signal, sys, time
pathlib.Path(os.environ["FAKE_DATASETTE_PID"]).write_text(str(os.getpid()))
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
time.sleep(60)
"""


def test_sigterm_to_probe_ui_stops_datasette_too(db: Path, tmp_path: Path) -> None:
    """A service manager stopping `probe ui` must not leave the server running on its port."""
    fake = tmp_path / "site"
    (fake / "datasette").mkdir(parents=True)
    (fake / "datasette" / "__init__.py").write_text("")
    (fake / "datasette" / "__main__.py").write_text(FAKE_DATASETTE)
    (fake / "datasette-0.65.1.dist-info").mkdir()
    (fake / "datasette-0.65.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: datasette\nVersion: 0.65.1\n")
    pid_file = tmp_path / "datasette.pid"
    env = {**os.environ, "PYTHONPATH": str(fake), "FAKE_DATASETTE_PID": str(pid_file)}
    command = [sys.executable, "-m", "probe", "ui", "--db", str(db), "--no-open", "--port", "0"]
    with subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as probe_ui:
        try:
            deadline = clock.monotonic() + 20
            while not pid_file.exists() or not pid_file.read_text():
                assert probe_ui.poll() is None, probe_ui.communicate()[1].decode()
                assert clock.monotonic() < deadline, "the server never started"
                clock.sleep(0.05)
            server_pid = int(pid_file.read_text())
            probe_ui.send_signal(signal.SIGTERM)
            assert probe_ui.wait(timeout=10) == 0  # the fake server exits 0 on SIGTERM; probe passes its code on
            with pytest.raises(ProcessLookupError):
                os.kill(server_pid, 0)  # reaped by probe: no such process any more
        finally:
            probe_ui.kill()
