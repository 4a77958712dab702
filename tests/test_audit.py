"""Provider audits end to end, over a real socket: the simulator fakes what dishonest providers do (inflated
usage, buffered streaming, a substituted model, an ignored maximum) and the audits must catch each one, and only
that one, while honest providers stay clean in every group."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from typer.testing import CliRunner

from probe.audit.canaries import CANARIES
from probe.audit.plan import MAX_LENGTH_PROBE_TOKENS, build_audit_plan
from probe.auditing import collect_audits, run_audit
from probe.cli import app
from probe.config import parse_config
from probe.sim.process import SimProcess, spawn_sim_process
from probe.sim.faults import SUBSTITUTE_MODEL
from probe.store import Store

SNAPSHOT = "gpt-4.1-mini-2025-04-14"
HOSTILE = "resold <b>[cheap](https://evil.example)</b>"
PROVIDERS = {  # name -> (x-sim-fault, first_party)
    "openai": (None, True),
    HOSTILE: (None, False),
    "inflated": ("inflated-usage", False),
    "buffered": ("buffered", False),
    "substituted": ("substituted-model", False),
    "uncapped": ("ignored-max-tokens", False),
}
CAUGHT_BY = {"inflated": "billing", "buffered": "streaming", "substituted": "integrity", "uncapped": "integrity"}
GROUPS = ("billing", "streaming", "integrity", "availability")


@pytest.fixture(scope="module")
def sim() -> Iterator[SimProcess]:
    """In its own process, 40 tokens 10 ms apart: an honest stream stays honest on a busy machine."""
    with spawn_sim_process("measurement", seed=5) as server:
        yield server


def providers_toml(base_url: str) -> str:
    text = ""
    for name, (fault, first_party) in PROVIDERS.items():
        escaped = name.replace('"', '\\"')
        text += f'[[providers]]\nname = "{escaped}"\napi = "openai-chat"\nbase_url = "{base_url}"\nauth = "none"\n'
        text += f"first_party = {str(first_party).lower()}\n"
        if fault:
            text += f'headers = {{ "x-sim-fault" = "{fault}" }}\n'
        text += f'[providers.models]\n"gpt-4.1-mini" = "{SNAPSHOT}"\n'
        if name == "openai":
            text += '"gpt-4.1-nano" = "gpt-4.1-nano"\n'
        text += "\n"
    return text


@pytest.fixture(scope="module")
def audited(sim: SimProcess, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A database with one `probe audit` and one ordinary `probe run` of every provider; returns (db, config)."""
    folder = tmp_path_factory.mktemp("audit")
    config, db = folder / "providers.toml", folder / "results.db"
    config.write_text(providers_toml(sim.base_url))
    runner = CliRunner()
    audit = runner.invoke(app, ["audit", "-c", str(config), "--db", str(db), "-j", "16"])
    assert audit.exit_code == 0, audit.output
    assert "probe audit: what each provider answered" in audit.output
    run = runner.invoke(app, ["run", "-c", str(config), "--db", str(db), "-n", "3", "-j", "16", "--workload", "100",
                              "--max-tokens", "40", "-q"])  # fmt: skip
    assert run.exit_code == 0, run.output
    return db, config


def rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as connection:
        return connection.execute(sql).fetchall()


def scores(db: Path) -> dict[str, dict[str, str]]:
    with Store.open(db) as store:
        until = rows(db, "SELECT max(started_at) FROM samples")[0][0][:19] + ".999Z"
        audits = collect_audits(store, until=until).audits
    return {
        provider: {group: getattr(audit, group).score.verdict for group in GROUPS}
        for (provider, model), audit in audits.items()
        if model == "gpt-4.1-mini"
    }


def test_audit_requests_are_samples_with_their_findings(audited: tuple[Path, Path]) -> None:
    """Per provider and model: one sample per canary and a max-length probe, workload 'audit', with a row in
    audit_probes holding the normalized answer; only the first-party provider is marked so."""
    db, _ = audited
    per_pair = rows(db, "SELECT s.provider, s.model, count(*) FROM audit_probes AS a JOIN samples AS s ON s.id = a.sample_id"
                        " WHERE s.workload = 'audit' GROUP BY 1, 2")  # fmt: skip
    assert len(per_pair) == len(PROVIDERS) + 1 and {n for *_, n in per_pair} == {len(CANARIES) + 1}
    answers = dict(rows(db, "SELECT s.provider || ' ' || a.canary, a.answer FROM audit_probes AS a JOIN samples AS s"
                            " ON s.id = a.sample_id WHERE a.kind = 'canary' AND s.model = 'gpt-4.1-mini'"))  # fmt: skip
    assert answers["openai capital"] == "canberra" and answers["openai backwards"] == "maerts"
    assert answers["substituted capital"] == "sydney" and answers["substituted arithmetic"] == "381"
    assert rows(db, "SELECT DISTINCT s.provider FROM audit_probes AS a JOIN samples AS s ON s.id = a.sample_id"
                    " WHERE a.first_party = 1") == [("openai",)]  # fmt: skip
    assert rows(db, "SELECT DISTINCT a.requested_model FROM audit_probes AS a JOIN samples AS s ON s.id = a.sample_id"
                    " WHERE s.model = 'gpt-4.1-mini'") == [(SNAPSHOT,)]  # fmt: skip
    probes = rows(db, "SELECT s.max_tokens, s.finish_reason FROM audit_probes AS a JOIN samples AS s ON s.id = a.sample_id"
                      " WHERE a.kind = 'max_length' AND s.provider = 'openai' AND s.model = 'gpt-4.1-mini'")  # fmt: skip
    assert probes == [(MAX_LENGTH_PROBE_TOKENS, "length")]


def test_each_fake_fails_its_own_audit_and_honest_providers_pass_all(audited: tuple[Path, Path]) -> None:
    """Inflated usage fails billing, buffering fails streaming, a substituted model and an ignored maximum fail
    model integrity; every other group of every provider passes."""
    db, _ = audited
    verdicts = scores(db)
    assert set(verdicts) == set(PROVIDERS)
    for provider, groups in verdicts.items():
        expected = {group: "fail" if CAUGHT_BY.get(provider) == group else "pass" for group in GROUPS}
        assert groups == expected, provider


def test_audit_requests_stay_out_of_speed_statistics(audited: tuple[Path, Path]) -> None:
    """The report's sample groups count only the ordinary samples; availability counts every request."""
    db, _ = audited
    with Store.open(db) as store:
        grouped = sum(g.count for g in store.sample_groups() if g.provider == "openai" and g.model == "gpt-4.1-mini")
        assert grouped == 3
        assert {s.workload for s in store.iter_samples()} == {"audit", "100"}
    verdicts = scores(db)
    assert verdicts["openai"]["availability"] == "pass"


def test_report_shows_the_audit_table_and_a_page_per_provider(audited: tuple[Path, Path], tmp_path: Path) -> None:
    """The comparison has an Audits table linking each provider's page; names from the config stay inert text."""
    db, config = audited
    out = tmp_path / "reports"
    result = CliRunner().invoke(app, ["report", "--db", str(db), "-c", str(config), "--out", str(out), "--window", "all",
                                      "--workload", "all", "--pair", "gpt-4.1-mini,gpt-4.1-nano"])  # fmt: skip
    assert result.exit_code == 0, result.output
    report = next(out.glob("gpt-4-1-mini-vs-gpt-4-1-nano*.md")).read_text()
    section = report.split("## Audits\n", 1)[1].split("\n## ", 1)[0]
    assert section.count("[audit page](audit-") == len(PROVIDERS) + 1
    assert "| substituted | " in section and "**fail**" in section
    audit_rows = 7 * (len(CANARIES) + 1)
    assert f"{audit_rows} audit samples" in report
    pages = sorted(p.name for p in out.glob("audit-*.md"))
    assert "audit-openai.md" in pages and "audit-resold-b-cheap-https-evil-example-b.md" in pages
    page = (out / "audit-substituted.md").read_text()
    assert "llama-3.1-8b-instruct (5)" in page and "| capital |" in page and "“sydney” (1)" in page
    html = MarkdownIt("commonmark").enable("table").render(report + (out / pages[-1]).read_text())
    assert "evil.example" in html and 'href="https://evil.example' not in html and "<b>" not in html
    index = (out / "index.md").read_text()
    assert "## Provider audits" in index and "[audit page](audit-buffered.md)" in index


def test_nothing_to_audit_is_exit_code_3(tmp_path: Path) -> None:
    config = tmp_path / "providers.toml"
    config.write_text('[[providers]]\nname = "x"\napi = "openai-chat"\nbase_url = "http://127.0.0.1:9/v1"\n'
                      'api_key_env = "UNSET_AUDIT_API_KEY"\n[providers.models]\n"m" = "m"\n')  # fmt: skip
    result = CliRunner().invoke(app, ["audit", "-c", str(config), "--db", str(tmp_path / "r.db")])
    assert result.exit_code == 3 and "nothing to audit" in result.output


@pytest.mark.parametrize("api", ["openai-chat", "openai-responses", "anthropic-messages", "gemini"])
def test_every_dialect_answers_canaries_at_temperature_zero(sim: SimProcess, api: str, tmp_path: Path) -> None:
    """An honest simulated provider answers every canary right in every dialect and stops at the probe's maximum;
    a substituted one reports another model and gives the decoys."""
    base = sim.base_url.removesuffix("/v1") + ("/v1beta" if api == "gemini" else "/v1")
    config = parse_config({"providers": [
        {"name": "honest", "api": api, "base_url": base, "auth": "none", "models": {"gpt-4.1-mini": SNAPSHOT}},
        {"name": "fake", "api": api, "base_url": base, "auth": "none", "models": {"gpt-4.1-mini": SNAPSHOT},
         "headers": {"x-sim-fault": "substituted-model"}, "extra_body": {"generationConfig": {"topK": 1}} if api == "gemini" else {}},
    ]})  # fmt: skip
    plan = build_audit_plan(config, {"honest": None, "fake": None})
    canary = next(item.request for item in plan if item.canary is not None and item.request.provider == "fake")
    if api == "gemini":
        assert dict(canary.target.extra_body)["generationConfig"] == {"topK": 1, "temperature": 0}
    else:
        assert dict(canary.target.extra_body)["temperature"] == 0
    outcome = run_audit(plan, tmp_path / "r.db", concurrency=12)
    by_id = {s.id: s for s in outcome.samples}
    assert all(s.status == "ok" for s in by_id.values()), [s.error_message for s in by_id.values()]
    for probe in outcome.probes:
        sample = by_id[probe.sample_id]
        honest = sample.provider == "honest"
        assert sample.response_model == (SNAPSHOT if honest else SUBSTITUTE_MODEL)
        if probe.kind == "canary":
            assert probe.correct is honest, (probe.canary, probe.answer)
        else:
            assert sum(sample.trace.tokens) == MAX_LENGTH_PROBE_TOKENS


def test_first_party_is_a_boolean_or_judged_by_host() -> None:
    """`first_party` in the config wins; without it, a model maker's own API host is first-party."""
    from probe.audit.plan import is_first_party
    from probe.config import ConfigError

    def provider(**extra: object):  # type: ignore[no-untyped-def]
        table = {"name": "p", "api": "openai-chat", "base_url": "https://api.openai.com/v1", "models": {"m": "m"}, **extra}
        return parse_config({"providers": [table]}).providers[0]

    assert is_first_party(provider()) and not is_first_party(provider(first_party=False))
    assert is_first_party(provider(base_url="http://127.0.0.1:8000/v1", first_party=True))
    assert not is_first_party(provider(base_url="https://openrouter.ai/api/v1"))
    with pytest.raises(ConfigError, match="first_party: must be a boolean"):
        provider(first_party="yes")
