"""[workloads.NAME] and [run] in providers.toml: defaults, additions, replacements, and one-line errors naming file,
table and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from probe.config import ConfigError, load_config
from probe.workload import DEFAULT_WORKLOADS, Workload

GOOD = """
[[providers]]
name = "openai"
api = "openai-chat"
base_url = "https://api.openai.com/v1"
api_key_env = "OPENAI_API_KEY"
[providers.models]
"gpt-4.1-mini" = "gpt-4.1-mini"
"""


def load(tmp_path: Path, extra: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "providers.toml"
    path.write_text(GOOD + extra)
    return load_config(path)


def test_the_defaults_match_public_leaderboards(tmp_path: Path) -> None:
    config = load(tmp_path, "")
    assert config.workloads == DEFAULT_WORKLOADS
    assert [(w.name, w.input_tokens, w.output_tokens, w.concurrency) for w in config.workloads] == [
        ("100", 100, 300, None), ("1k", 1_000, 1_000, None), ("10k", 10_000, 1_500, None), ("parallel-10", 1_000, 1_000, 10)]
    assert config.budget_usd_per_day is None


def test_a_table_adds_a_workload_or_replaces_a_default(tmp_path: Path) -> None:
    config = load(tmp_path, """
[workloads.1k]
input_tokens = 1000
output_tokens = 500
[workloads.long-context]
input_tokens = 100000
output_tokens = 200
concurrency = 2
[run]
budget_usd_per_day = 2.5
""")
    assert config.workload("1k") == Workload("1k", 1_000, 500)
    assert config.workload("long-context") == Workload("long-context", 100_000, 200, 2)
    assert config.workload("10k") == Workload("10k", 10_000, 1_500)
    assert config.budget_usd_per_day == 2.5


def test_an_unknown_workload_name_suggests_the_closest() -> None:
    from probe.config import Config

    with pytest.raises(KeyError, match=r"unknown workload 'parallel10' \(did you mean 'parallel-10'\?\) \(known: 100, 1k, 10k, parallel-10\)"):
        Config(path="p", providers=()).workload("parallel10")


BROKEN = [
    ("[workloads.1k]\ninput_tokens = 1000\n", "[workloads.1k] output_tokens: missing"),
    ("[workloads.1k]\ninput_tokens = 1000\noutput_token = 5\n", "[workloads.1k] output_token: unknown key (did you mean 'output_tokens'?)"),
    ("[workloads.tiny]\ninput_tokens = 5\noutput_tokens = 5\n", "[workloads.tiny] input_tokens: must be at least 32 (room for the nonce and the instruction), got 5"),
    ("[workloads.w]\ninput_tokens = '1k'\noutput_tokens = 5\n", "[workloads.w] input_tokens: must be an integer, got a string"),
    ("[workloads.w]\ninput_tokens = 100\noutput_tokens = 0\n", "[workloads.w] output_tokens: must be at least 1, got 0"),
    ("[workloads.w]\ninput_tokens = 100\noutput_tokens = 5\nconcurrency = 0\n", "[workloads.w] concurrency: must be at least 1, got 0"),
    ("[workloads.all]\ninput_tokens = 100\noutput_tokens = 5\n", "[workloads.all]: 'all' cannot name a workload"),
    ("[workloads.audit]\ninput_tokens = 100\noutput_tokens = 5\n", "[workloads.audit]: 'audit' cannot name a workload"),
    ("workloads = 3\n", "[top level] workloads: must be tables written [workloads.NAME]"),
    ("[workloads]\nfast = 3\n", "[workloads] fast: must be a table { input_tokens = ..., output_tokens = ... }, got an integer"),
    ("[run]\nbudget_usd_per_day = -1\n", "[run] budget_usd_per_day: must be a non-negative number of US dollars, got -1"),
    ("[run]\nbudget_per_day = 1\n", "[run] budget_per_day: unknown key (did you mean 'budget_usd_per_day'?)"),
    ("[workload.1k]\ninput_tokens = 100\n", "[top level] workload: unknown key (did you mean 'workloads'?)"),
]


@pytest.mark.parametrize(("extra", "message"), BROKEN)
def test_mistakes_are_one_line_naming_table_and_key(tmp_path: Path, extra: str, message: str) -> None:
    # top-level keys must come before the first table, so these go first
    path = tmp_path / "providers.toml"
    path.write_text((extra + GOOD) if extra.startswith("workloads =") else (GOOD + extra))
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value).startswith(f"{path}: ")
    assert message in str(error.value)
    assert "\n" not in str(error.value)
