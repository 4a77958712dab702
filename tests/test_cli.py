"""The command line: exit codes cron can act on, rows in the database, one-line errors, keys never shown."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from probe.cli import app
from probe.sim.profiles import LatencyProfile
from probe.sim.server import SimServer

FAST = LatencyProfile(ttft_s=0.02, inter_chunk_s=0.002, tokens_per_chunk=2, output_tokens=20)
KEY = "canary-cli-0123456789abcdef"


@pytest.fixture(scope="module")
def sim():
    with SimServer({"fast-a": FAST, "fast-b": FAST}, seed=3, api_key=KEY) as server:
        yield server


def config(tmp_path: Path, base_url: str, *, key_env: str = "SIM_API_KEY", extra: str = "") -> Path:
    path = tmp_path / "providers.toml"
    path.write_text(f"""
[[providers]]
name = "sim"
api = "openai-chat"
base_url = "{base_url}"
api_key_env = "{key_env}"
{extra}
[providers.models]
"model-a" = "fast-a"
"model-b" = "fast-b"
""")
    return path


def rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as connection:
        return connection.execute(sql).fetchall()


def test_run_stores_one_row_per_request_and_exits_0(sim, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SIM_API_KEY", KEY)
    db = tmp_path / "results.db"
    result = CliRunner().invoke(app, ["run", "--config", str(config(tmp_path, sim.base_url)), "--db", str(db), "--samples", "3", "--concurrency", "4"])
    assert result.exit_code == 0, result.output
    assert rows(db, "select model, status, count(*) from samples group by model, status order by model") == [
        ("model-a", "ok", 3), ("model-b", "ok", 3)]
    assert rows(db, "select status, samples_planned from runs") == [("completed", 6)]
    for ttft, ttfat, tps, source in rows(db, "select ttft_s, ttfat_s, output_tps, tokens_source from samples"):
        # A decode speed needs two reads with tokens: on a starved machine this 18 ms answer can come in one read.
        assert ttft > 0.015 and ttfat == ttft and (tps is None or tps > 0) and source == "usage"
    assert "model-a" in result.output and "6 samples stored" in result.output


def test_filters_pick_providers_and_models(sim, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SIM_API_KEY", KEY)
    db = tmp_path / "results.db"
    result = CliRunner().invoke(app, ["run", "-c", str(config(tmp_path, sim.base_url)), "--db", str(db), "-n", "2", "--model", "model-b", "--quiet"])
    assert result.exit_code == 0, result.output
    assert rows(db, "select distinct model from samples") == [("model-b",)]
    assert result.output == ""


def test_wrong_key_is_data_not_a_crash(sim, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SIM_API_KEY", "wrong-key-000000000000000000")
    db = tmp_path / "results.db"
    result = CliRunner().invoke(app, ["run", "-c", str(config(tmp_path, sim.base_url)), "--db", str(db), "-n", "1"])
    assert result.exit_code == 0
    assert rows(db, "select distinct status, error_kind, http_status from samples") == [("error", "auth", 401)]
    assert "0/1" in result.output and "auth 1" in result.output  # the summary counts failures by kind


def test_unset_key_skips_the_provider_and_nothing_to_send_exits_3(sim, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["run", "-c", str(config(tmp_path, sim.base_url)), "--db", str(tmp_path / "r.db")])
    assert result.exit_code == 3
    assert "skipping provider 'sim': environment variable SIM_API_KEY is not set" in result.output


def test_unreachable_endpoint_exits_3_and_keeps_the_error_samples(tmp_path: Path, monkeypatch) -> None:
    import socket

    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("SIM_API_KEY", KEY)
    db = tmp_path / "results.db"
    result = CliRunner().invoke(app, ["run", "-c", str(config(tmp_path, f"http://127.0.0.1:{port}/v1")), "--db", str(db), "-n", "1"])
    assert result.exit_code == 3
    assert rows(db, "select distinct error_kind from samples") == [("connect",)]


def test_bad_config_is_one_line_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "providers.toml"
    path.write_text('[[providers]]\nname = "x"\napi = "openai-chatt"\n')
    result = CliRunner().invoke(app, ["run", "-c", str(path)])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0
    assert "providers.toml: [providers.x] api: unknown dialect 'openai-chatt'" in result.output
    assert "Traceback" not in result.output


def test_providers_shows_key_presence_never_the_key(sim, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SIM_API_KEY", KEY)
    result = CliRunner().invoke(app, ["providers", "-c", str(config(tmp_path, sim.base_url))])
    assert result.exit_code == 0
    assert "SIM_API_KEY set" in result.output and KEY not in result.output
    monkeypatch.setenv("SIM_API_KEY", KEY + "\n")  # a line break no header can carry: `probe run` skips it
    result = CliRunner().invoke(app, ["providers", "-c", str(config(tmp_path, sim.base_url))])
    assert "SIM_API_KEY set but UNUSABLE" in result.output and KEY not in result.output


@pytest.mark.parametrize(
    "command",
    [[], ["run"], ["providers"], ["demo"], ["cron"], ["report"], ["audit"], ["merge"], ["export"], ["ui"], ["scores", "import"]],
)
def test_help_explains_the_metrics_one_line_each(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    for metric in ("TTFB", "TTFT", "TTFAT", "tok/s", "E2E"):
        assert any(line.strip().startswith(metric + " ") for line in lines), metric


def test_demo_runs_the_whole_pipeline(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["demo", "--samples", "1", "--db", str(tmp_path / "demo.db")])
    assert result.exit_code == 0, result.output
    assert rows(tmp_path / "demo.db", "select provider, model, status from samples where workload <> 'audit' order by 1, 2") == [
        ("sim-openai", "gpt-4.1-mini", "ok"), ("sim-openai", "gpt-4.1-nano", "ok"),
        ("sim-reseller", "gpt-4.1-mini", "ok"), ("sim-reseller", "gpt-4.1-nano", "ok")]
    # the demo audits both providers too (4 canaries and a max-length probe each), and every canary is answered right
    assert rows(tmp_path / "demo.db", "select count(*), sum(correct) from audit_probes") == [(20, 16)]
