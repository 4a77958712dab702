"""`probe run --workload/--budget-usd/--jitter` against the simulator and `probe report --workload` over a fixed
database: rows in the database, one-line messages, and what the reports say about workloads and stale data."""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from probe.cli import app
from probe.model import Sample
from probe.sim.profiles import LatencyProfile
from probe.sim.server import SimServer
from probe.store import Store

KEY = "canary-workloads-0123456789abcdef"
FAST = LatencyProfile(ttft_s=0.05, inter_chunk_s=0.002, tokens_per_chunk=2, output_tokens=20)


@pytest.fixture(scope="module")
def sim():
    with SimServer({"fast-a": FAST, "fast-b": FAST}, seed=7, api_key=KEY) as server:
        yield server


def config(tmp_path: Path, base_url: str, extra: str = "", prices: bool = True) -> Path:
    price = ", input_price = 1.0, output_price = 10.0" if prices else ""
    path = tmp_path / "providers.toml"
    path.write_text(f"""{extra}
[[providers]]
name = "sim"
api = "openai-chat"
base_url = "{base_url}"
api_key_env = "SIM_API_KEY"
[providers.models]
"model-a" = {{ id = "fast-a"{price} }}
"model-b" = {{ id = "fast-b"{price} }}
""")
    return path


def rows(db: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def run(*args: str) -> object:
    return CliRunner().invoke(app, ["run", "-q", *args])


@pytest.fixture
def keyed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIM_API_KEY", KEY)


def test_each_sample_records_its_workload_and_the_default_is_1k(sim, tmp_path: Path, keyed: None) -> None:
    db = tmp_path / "results.db"
    cfg = config(tmp_path, sim.base_url)
    assert run("-c", str(cfg), "--db", str(db), "-n", "2").exit_code == 0
    assert run("-c", str(cfg), "--db", str(db), "-n", "1", "--workload", "100").exit_code == 0
    assert run("-c", str(cfg), "--db", str(db), "-n", "1", "--workload", "100", "--max-tokens", "7").exit_code == 0
    assert rows(db, "SELECT workload, max_tokens, count(*) FROM samples GROUP BY 1, 2 ORDER BY 1, 2") == [
        ("100", 7, 2), ("100", 300, 2), ("1k", 1_000, 4)]
    assert rows(db, "SELECT DISTINCT status FROM samples") == [("ok",)]


def test_an_unknown_workload_is_one_line_exit_2(sim, tmp_path: Path, keyed: None) -> None:
    result = run("-c", str(config(tmp_path, sim.base_url)), "--db", str(tmp_path / "r.db"), "--workload", "10K")
    assert result.exit_code == 2
    assert result.stderr == "probe: --workload: unknown workload '10K' (did you mean '10k'?) (known: 100, 1k, 10k, parallel-10)\n"
    assert not (tmp_path / "r.db").exists()


def test_a_parallel_workload_sends_each_burst_at_once_and_bursts_one_after_another(sim, tmp_path: Path, keyed: None) -> None:
    """Concurrency 3 from the config: 3 requests per endpoint are in flight together (each starts before any of
    them has ended, in practice within a few ms), and the next burst starts only after the previous one has
    ended."""
    db = tmp_path / "results.db"
    cfg = config(tmp_path, sim.base_url, extra="[workloads.p3]\ninput_tokens = 64\noutput_tokens = 20\nconcurrency = 3\n")
    assert run("-c", str(cfg), "--db", str(db), "-n", "2", "-j", "1", "--workload", "p3").exit_code == 0
    stored = rows(db, "SELECT model, started_at, e2e_s FROM samples ORDER BY started_at")
    assert len(stored) == 6
    by_model: dict[str, list[tuple[datetime, float]]] = {}
    for model, started, e2e in stored:
        by_model.setdefault(model, []).append((datetime.fromisoformat(started.replace("Z", "+00:00")), e2e))
    assert sorted(by_model) == ["model-a", "model-b"] and all(len(b) == 3 for b in by_model.values())
    first, second = sorted(by_model.values(), key=lambda burst: burst[0][0])
    for burst in (first, second):
        assert max(s for s, _ in burst) < min(s + timedelta(seconds=e) for s, e in burst)
    assert min(s for s, _ in second) >= max(s + timedelta(seconds=e) for s, e in first) - timedelta(milliseconds=5)


def test_a_run_budget_sends_only_what_it_covers_and_says_so(sim, tmp_path: Path, keyed: None) -> None:
    """Workload 100 at $1/M in, $10/M out: each request reserves (100 + 32) x $1/M + 300 x $10/M = $0.003132."""
    db = tmp_path / "results.db"
    result = run("-c", str(config(tmp_path, sim.base_url)), "--db", str(db), "-n", "5", "--workload", "100", "--budget-usd", "0.02")
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        "probe: budget: sending 6 of 10 planned requests ($0.0188 at most); the next request ($0.0031 at most) would "
        "exceed the run budget of $0.0200 (--budget-usd)\n"
    )
    assert rows(db, "SELECT count(*), samples_planned FROM samples JOIN runs ON runs.id = run_id") == [(6, 6)]


def test_a_budget_without_prices_is_refused_before_anything_is_sent(sim, tmp_path: Path, keyed: None) -> None:
    db = tmp_path / "results.db"
    result = run("-c", str(config(tmp_path, sim.base_url, prices=False)), "--db", str(db), "--budget-usd", "1")
    assert result.exit_code == 2
    assert result.stderr.startswith("probe: budget: no price known for model-a on sim, model-b on sim; a budget needs one")
    assert not db.exists()


def test_the_daily_budget_counts_todays_stored_samples(sim, tmp_path: Path, keyed: None) -> None:
    """$0.05 a day, and today's samples already cost $0.0495 (yesterday's do not count): nothing is sent, exit 0."""
    db = tmp_path / "results.db"
    now = datetime.now(UTC)
    with Store.open(db) as store:
        store.insert_samples([
            Sample("today", "r", "sim", "model-a", "openai-chat", now.isoformat(timespec="milliseconds"), "ok", input_tokens=4_500, output_tokens=4_500),
            Sample("yesterday", "r", "sim", "model-b", "openai-chat", (now - timedelta(days=1, hours=1)).isoformat(), "ok", input_tokens=10**6, output_tokens=10**6),
        ])  # fmt: skip
    cfg = config(tmp_path, sim.base_url, extra="[run]\nbudget_usd_per_day = 0.05\n")
    result = run("-c", str(cfg), "--db", str(db), "--workload", "100")
    assert result.exit_code == 0, result.output
    assert "probe: budget: sending 0 of 6 planned requests" in result.stderr
    assert "the daily budget of $0.0500, of which $0.0495 is spent today (UTC)" in result.stderr
    assert rows(db, "SELECT count(*) FROM samples") == [(2,)] and rows(db, "SELECT count(*) FROM runs") == [(0,)]


def test_audits_are_held_to_the_same_budgets(sim, tmp_path: Path, keyed: None) -> None:
    """Audit requests cost money too: --budget-usd cuts the audit plan like a run's, and a spent daily budget sends
    nothing."""
    db = tmp_path / "results.db"
    cut = CliRunner().invoke(app, ["audit", "-q", "-c", str(config(tmp_path, sim.base_url)), "--db", str(db), "--budget-usd", "0.002"])
    assert cut.exit_code == 0, cut.output
    assert cut.stderr.startswith("probe: budget: sending ") and "would exceed the run budget of $0.0020" in cut.stderr
    sent = int(cut.stderr.split("sending ", 1)[1].split(" of ", 1)[0])
    assert 0 < sent < 10 and "of 10 planned requests" in cut.stderr
    assert rows(db, "SELECT count(*) FROM samples WHERE workload = 'audit'") == [(sent,)]

    spent = config(tmp_path, sim.base_url, extra="[run]\nbudget_usd_per_day = 0.0001\n")
    none = CliRunner().invoke(app, ["audit", "-q", "-c", str(spent), "--db", str(db)])
    assert none.exit_code == 0 and "probe: budget: sending 0 of 10 planned requests" in none.stderr
    assert rows(db, "SELECT count(*) FROM samples WHERE workload = 'audit'") == [(sent,)]


def test_jitter_waits_a_random_time_up_to_its_bound_before_anything(sim, tmp_path: Path, keyed: None, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    waits: list[float] = []
    bounds: list[tuple[float, float]] = []
    real_sleep = time.sleep
    monkeypatch.setattr(random, "uniform", lambda low, high: bounds.append((low, high)) or 0.25 * high)
    monkeypatch.setattr(time, "sleep", lambda s: waits.append(s) if not waits else real_sleep(s))
    result = run("-c", str(config(tmp_path, sim.base_url)), "--db", str(tmp_path / "r.db"), "-n", "1", "--jitter", "8")
    assert result.exit_code == 0, result.output
    assert bounds[0] == (0, 8) and waits[0] == 2.0


# --------------------------------------------------------------------------- reports

NOW = datetime(2025, 6, 4, 12, tzinfo=UTC)


def stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def report_db(tmp_path: Path, *, last_hours_ago: float = 1.0) -> Path:
    """Runs every 3 h for two days, both models, 4 samples per run: workload 1k; one 100 run; 5 legacy samples.
    The newest 1k run of model-b is ``last_hours_ago`` before NOW; model-a's is at NOW - 1 h."""
    rng = random.Random(1)
    samples = []
    for run_index in range(16):
        for model in ("model-a", "model-b"):
            offset = 1.0 + 3 * run_index if model == "model-a" else last_hours_ago + 3 * run_index
            for i in range(4):
                started = NOW - timedelta(hours=offset, seconds=i)
                samples.append(Sample(f"{model}-{run_index}-{i}", f"run-{run_index}", "sim", model, "openai-chat", stamp(started),
                                      "ok", ttft_s=0.3 * rng.lognormvariate(0, 0.1), output_tps=100.0, workload="1k"))  # fmt: skip
    for i in range(3):
        samples.append(Sample(f"short-{i}", "run-100", "sim", "model-a", "openai-chat", stamp(NOW - timedelta(hours=2)), "ok",
                              ttft_s=0.1, output_tps=100.0, workload="100"))  # fmt: skip
    for i in range(5):
        samples.append(Sample(f"legacy-{i}", "run-old", "sim", "model-a", "openai-chat", stamp(NOW - timedelta(hours=30)), "ok",
                              ttft_s=0.2, output_tps=100.0))  # fmt: skip
    db = tmp_path / "results.db"
    with Store.open(db) as store:
        store.insert_samples(samples)
    return db


def report(db: Path, out: Path, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, ["report", "--db", str(db), "--out", str(out), "--now", stamp(NOW), "--pair", "model-a,model-b", *args])


def test_reports_show_the_default_workload_and_say_which(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Default 1k: 64 + 64 samples, the 100 and legacy samples left out and counted in the methods."""
    monkeypatch.chdir(tmp_path)
    db, out = report_db(tmp_path), tmp_path / "r"
    result = report(db, out)
    assert result.exit_code == 0, result.output
    text = (out / "model-a-vs-model-b.md").read_text()
    assert text.splitlines()[2].startswith("Models model-a and model-b · workload 1k (1,000 input / 1,000 output tokens) · 72 h window")
    assert "128 samples (model-a 64, model-b 64)" in text
    assert ("- Workload: **1k**: prompts of exactly 1,000 tokens of message content" in text
            and "The window's 8 other samples (other workloads, and any recorded before probe had workloads) are left out" in text)
    assert "workload 1k (1,000 input / 1,000 output tokens) · 72 h window" in (out / "index.md").read_text()
    assert "Stale data:**" not in text


def test_report_workload_all_mixes_everything_and_another_workload_filters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    db = report_db(tmp_path)
    assert report(db, tmp_path / "all", "--workload", "all").exit_code == 0
    text = (tmp_path / "all" / "model-a-vs-model-b.md").read_text()
    assert "136 samples (model-a 72, model-b 64)" in text and "- Workload: all." in text
    assert report(db, tmp_path / "short", "--workload", "100").exit_code == 0
    text = (tmp_path / "short" / "model-a-vs-model-b.md").read_text()
    assert "3 samples (model-a 3, model-b 0)" in text and "workload 100 (100 input / 300 output tokens)" in text


def test_a_workload_without_samples_says_which_ones_the_window_holds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = report(report_db(tmp_path), tmp_path / "r", "--workload", "10k")
    assert result.exit_code == 0
    assert result.stderr == (
        "probe: no samples of workload '10k' in the window; the window holds 100 (3), 1k (128), none recorded (5): "
        "pass --workload NAME, or --workload all for every sample\n"
    )


def test_a_model_not_sampled_for_longer_than_twice_its_cadence_is_flagged_near_the_top(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """model-b was probed every 3 h until 7 h before the report's end: stale after 6 h, flagged before the TL;DR."""
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "r"
    assert report(report_db(tmp_path, last_hours_ago=7.0), out).exit_code == 0
    lines = (out / "model-a-vs-model-b.md").read_text().splitlines()
    assert lines[4] == (
        "> **Stale data:** the newest sample of model-b is from 2025-06-04 05:00 UTC, 7.0 h before the end of this report "
        "(it was usually probed every 3.0 h, so stale after 6.0 h). Check that the scheduled runs still work."
    )
    assert lines[6].startswith("**TL;DR:**")
    assert "model-a is from" not in "\n".join(lines)
    assert "> **Stale data:** the newest sample of model-b" in (out / "index.md").read_text()
