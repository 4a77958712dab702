"""Scheduling that cron can trust: the schedule and line `probe cron` prints, and that line run the way cron runs
it (``env -i``, another working directory, keys from an env file) against a simulator, locked and unlocked."""

from __future__ import annotations

import os
import re
import shlex
import sqlite3
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from probe.cli import app
from probe.lock import run_lock
from probe.schedule import Schedule, cron_line, cron_schedule, parse_every
from probe.sim.profiles import LatencyProfile
from probe.sim.server import SimServer

KEY = "canary-cron-0123456789abcdef"
FAST = LatencyProfile(ttft_s=0.01, inter_chunk_s=0.001, tokens_per_chunk=5, output_tokens=20)


@pytest.mark.parametrize(("text", "minutes"), [("3h", 180), ("30m", 30), ("15min", 15), ("1h", 60), ("12h", 720), ("1d", 1440), ("24h", 1440)])
def test_intervals_cron_repeats_evenly(text: str, minutes: int) -> None:
    assert parse_every(text) == minutes


@pytest.mark.parametrize(("text", "message"), [("5h", "cron cannot repeat every 5h evenly"), ("45m", "cron cannot repeat every 45m"),
                                              ("2d", "cron cannot repeat every 2d"), ("often", "not an interval such as 30m, 3h or 1d"),
                                              ("0h", "not an interval")])  # fmt: skip
def test_intervals_cron_cannot_repeat_evenly_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_every(text)


def test_schedules_are_offset_by_the_chosen_minute_and_hour() -> None:
    assert cron_schedule(180, 17, 7) == Schedule("17 1-23/3 * * *", "every 3 h, at 01:17, 04:17, 07:17, 10:17, 13:17, 16:17, 19:17, 22:17 (cron's time zone)")
    assert cron_schedule(30, 47, 0).fields == "17-59/30 * * * *"
    assert cron_schedule(1440, 5, 23).fields == "5 23 * * *"


def test_the_line_quotes_paths_escapes_percent_and_sources_the_env_file() -> None:
    line = cron_line(Schedule("0 * * * *", ""), ["/opt/my probe/bin/probe", "run", "--db", "/data/100%.db"], log="/var/log/p.log",
                     env_file="/etc/probe.env")  # fmt: skip
    assert line == (
        "0 * * * * { set -a; . /etc/probe.env; set +a; '/opt/my probe/bin/probe' run --db /data/100\\%.db; } "
        ">> /var/log/p.log 2>&1"
    )


def command_of(output: str) -> tuple[list[str], str]:
    """The comment lines and the shell command of `probe cron`'s line, unescaped as cron does."""
    lines = output.strip().splitlines()
    comments, (line,) = lines[:-1], lines[-1:]
    fields = line.split(" ", 5)
    assert re.fullmatch(r"[\d*/,-]+", fields[0]) and fields[2:5] == ["*", "*", "*"], line
    return comments, fields[5].replace("\\%", "%")


@pytest.fixture(scope="module")
def sim():
    with SimServer({"fast-a": FAST}, seed=5, api_key=KEY) as server:
        yield server


@pytest.fixture
def setup(sim, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A config, an env file with the key, and the paths cron will use, all under tmp_path/probe."""
    home = tmp_path / "probe"
    home.mkdir()
    (home / "providers.toml").write_text(f"""
[[providers]]
name = "sim"
api = "openai-chat"
base_url = "{sim.base_url}"
api_key_env = "SIM_API_KEY"
[providers.models]
"model-a" = "fast-a"
""")
    env_file = home / "probe.env"
    env_file.write_text(f"SIM_API_KEY={KEY}\n")
    env_file.chmod(0o600)
    return home


def cron_output(home: Path, monkeypatch: pytest.MonkeyPatch, *extra: str) -> str:
    monkeypatch.chdir(home)  # relative paths on the command line become absolute in the line
    result = CliRunner().invoke(app, ["cron", "--every", "3h", "--config", "providers.toml", "--db", "results.db",
                                      "--log", "probe.log", "--env-file", "probe.env", "--jitter", "0", *extra])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    return result.stdout


def run_like_cron(command: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    """As cron runs a line: /bin/sh -c, an empty environment (no PATH, no HOME), another working directory."""
    return subprocess.run(["env", "-i", "/bin/sh", "-c", command], cwd=cwd, capture_output=True, timeout=60)


def test_the_printed_line_is_absolute_locked_quiet_and_explained(setup: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    comments, command = command_of(cron_output(setup, monkeypatch, "--workload", "100", "--budget-usd", "0.5"))
    assert comments and all(c.startswith("# ") for c in comments)
    text = " ".join(comments)
    assert "every 3 h" in text and "holds" in text and "lock" in text and str(setup / "probe.log") in text
    assert f"exported from {setup / 'probe.env'}" in text
    words = shlex.split(command.replace("{", "").replace("}", ""))
    probe = words[words.index("+a;") + 1]
    assert os.path.isabs(probe) and os.access(probe, os.X_OK)
    assert words[words.index("--config") + 1] == str(setup / "providers.toml")
    assert words[words.index("--db") + 1] == str(setup / "results.db")
    assert {"--lock", "--quiet", "--jitter"} <= set(words)
    assert words[words.index("--workload") + 1] == "100" and words[words.index("--budget-usd") + 1] == "0.5"
    assert command.endswith(f">> {setup / 'probe.log'} 2>&1")


def test_without_an_env_file_the_comment_names_the_key_variables(setup: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(setup)
    result = CliRunner().invoke(app, ["cron", "-c", "providers.toml"])
    assert result.exit_code == 0, result.output
    assert "set SIM_API_KEY at the top of the crontab, or print this line again with --env-file FILE" in result.stdout
    assert "--jitter 300" in result.stdout


@pytest.mark.parametrize(("args", "message"), [(["--every", "5h"], "--every: cron cannot repeat every 5h evenly"),
                                               (["--workload", "2k"], "--workload: unknown workload '2k'"),
                                               (["-c", "missing.toml"], "missing.toml: [file]: not found")])  # fmt: skip
def test_bad_options_are_one_line_exit_2(setup: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str) -> None:
    monkeypatch.chdir(setup)
    result = CliRunner().invoke(app, ["cron", *args])
    assert result.exit_code == 2
    assert message in result.stderr and result.stderr.count("\n") == 1


def test_an_env_file_others_can_read_is_warned_about(setup: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (setup / "probe.env").chmod(0o644)
    monkeypatch.chdir(setup)
    result = CliRunner().invoke(app, ["cron", "--env-file", "probe.env"])
    assert result.exit_code == 0
    assert result.stderr == "probe: warning: probe.env can be read by other users; chmod 600 it\n"


def test_the_line_works_from_crons_bare_environment(setup: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run under env -i from another directory, the line probes with the key from the env file and writes the
    configured database, and nothing else: no output on success, no file in the working directory."""
    _, command = command_of(cron_output(setup, monkeypatch, "--workload", "100", "--samples", "2"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = run_like_cron(command, elsewhere)
    assert done.returncode == 0, (done.stdout, done.stderr, (setup / "probe.log").read_text())
    with sqlite3.connect(setup / "results.db") as conn:
        stored = conn.execute("SELECT model, status, workload, max_tokens FROM samples").fetchall()
        runs = conn.execute("SELECT status, command FROM runs").fetchall()
    conn.close()
    assert stored == [("model-a", "ok", "100", 300)] * 2
    assert runs[0][0] == "completed" and "--lock" in runs[0][1]
    assert (setup / "probe.log").read_text() == ""
    assert list(elsewhere.iterdir()) == []
    assert KEY not in (setup / "probe.log").read_text()


def test_a_run_that_finds_the_lock_held_skips_with_one_log_line_and_exit_0(setup: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two overlapping scheduled runs: the second writes one line to the log, exits 0 and sends nothing."""
    _, command = command_of(cron_output(setup, monkeypatch))
    db = setup / "results.db"
    with run_lock(db):
        done = run_like_cron(command, tmp_path)
    assert done.returncode == 0
    log = (setup / "probe.log").read_text()
    assert log == f"probe: another probe run holds the lock {db}.lock (pid {os.getpid()}); skipping this run\n"
    assert not db.exists()


def test_a_missing_env_file_stops_the_line_with_the_shells_error_in_the_log(setup: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, command = command_of(cron_output(setup, monkeypatch))
    (setup / "probe.env").unlink()
    done = run_like_cron(command, tmp_path)
    assert done.returncode != 0
    assert "probe.env" in (setup / "probe.log").read_text()
    assert not (setup / "results.db").exists()
