"""providers.toml: the documented shape loads; every mistake is one line naming file, table, key and problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from probe.config import ConfigError, load_config, resolve_keys

REPO = Path(__file__).resolve().parent.parent

GOOD = """
[[providers]]
name = "openai"
api = "openai-chat"
base_url = "https://api.openai.com/v1"
api_key_env = "OPENAI_API_KEY"
[providers.models]
"gpt-4.1-mini" = "gpt-4.1-mini"
"gpt-4.1-nano" = { id = "gpt-4.1-nano-2025-04-14", input_price = 0.10, output_price = 0.40 }
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "providers.toml"
    path.write_text(text)
    return path


def test_the_documented_shape_loads(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    (openai,) = config.providers
    assert (openai.name, openai.api, openai.base_url, openai.api_key_env, openai.auth) == (
        "openai", "openai-chat", "https://api.openai.com/v1", "OPENAI_API_KEY", "bearer")
    mini, nano = openai.models
    assert (mini.name, mini.id, mini.input_price) == ("gpt-4.1-mini", "gpt-4.1-mini", None)
    assert (nano.id, nano.input_price, nano.output_price) == ("gpt-4.1-nano-2025-04-14", 0.10, 0.40)
    assert len(config.digest) == 64


def test_the_shipped_providers_toml_is_valid() -> None:
    config = load_config(REPO / "providers.toml")
    assert {"gpt-4.1-mini", "gpt-4.1-nano"} <= set(config.model_names())
    assert config.compare


def test_optional_provider_settings(tmp_path: Path) -> None:
    text = GOOD.replace('api_key_env = "OPENAI_API_KEY"', '''api_key_env = "OPENAI_API_KEY"
max_concurrency = 2
region = "eu-west"
headers = { "x-team" = "bench" }
query = { "api-version" = "2024-10-21" }
extra_body = { reasoning_effort = "low" }
timeouts = { connect_s = 3, stall_s = 5 }''')
    provider = load_config(write(tmp_path, text)).providers[0]
    assert provider.max_concurrency == 2 and provider.region == "eu-west"
    assert provider.headers == (("x-team", "bench"),) and provider.query == (("api-version", "2024-10-21"),)
    assert provider.extra_body == (("reasoning_effort", "low"),)
    assert provider.timeouts.connect_s == 3 and provider.timeouts.stall_s == 5 and provider.timeouts.total_s == 300


BROKEN = [
    ("apii = 'x'\n" + GOOD, "[top level] apii: unknown key"),
    (GOOD.replace('api = "openai-chat"', 'api = "openai-chatt"'), "[providers.openai] api: unknown dialect 'openai-chatt' (did you mean 'openai-chat'?)"),
    (GOOD.replace('api = "openai-chat"', 'aip = "openai-chat"'), "[providers.openai] aip: unknown key (did you mean 'api'?)"),
    (GOOD.replace('base_url = "https://api.openai.com/v1"\n', ""), "[providers.openai] base_url: missing"),
    (GOOD.replace('"https://api.openai.com/v1"', '"api.openai.com"'), "[providers.openai] base_url: 'api.openai.com' is not an http(s) URL"),
    (GOOD.replace('api_key_env = "OPENAI_API_KEY"', 'api_key_env = "sk-abc def"'), "[providers.openai] api_key_env: 'sk-abc def' is not an environment variable name"),
    (GOOD.replace('api_key_env = "OPENAI_API_KEY"', 'api_key_env = "K"\nmax_concurrency = -1'), "[providers.openai] max_concurrency: must be at least 1, got -1"),
    (GOOD.replace('api_key_env = "OPENAI_API_KEY"', 'api_key_env = "K"\nmax_concurrency = "4"'), "[providers.openai] max_concurrency: must be an integer, got a string"),
    (GOOD + GOOD, "[providers.openai] name: duplicate provider name 'openai'"),
    (GOOD.replace("input_price = 0.10", "input_price = -1"), "[providers.openai.models.gpt-4.1-nano] input_price: must be a non-negative number"),
    (GOOD.replace("input_price = 0.10", "inpt_price = 0.10"), "[providers.openai.models.gpt-4.1-nano] inpt_price: unknown key (did you mean 'input_price'?)"),
    (GOOD.replace('"gpt-4.1-mini" = "gpt-4.1-mini"', '"gpt-4.1-mini" = 4'), "[providers.openai.models] gpt-4.1-mini: must be a model id string or a table"),
    ("[providers]\nname='x'\n", "[top level] providers: must be an array of tables written [[providers]]"),
    ("", "[top level] providers: missing"),
    ("[[providers]\n", "[file]: is not valid TOML"),
    (GOOD.replace('api_key_env = "OPENAI_API_KEY"', 'api_key_env = "K"\nheaders = { Authorization = "Bearer x" }'), "[providers.openai.headers] Authorization: credentials do not belong in the file"),
    (GOOD.replace('api_key_env = "OPENAI_API_KEY"', 'api_key_env = "K"\ntimeouts = { stall_s = 0 }'), "[providers.openai.timeouts] stall_s: must be a positive number of seconds, got 0"),
    (GOOD.replace('api_key_env = "OPENAI_API_KEY"', 'api_key_env = "K"\nauth = "bearr"'), "[providers.openai] auth: unknown auth style 'bearr' (did you mean 'bearer'?)"),
    (GOOD.replace(", output_price = 0.40", ""), "[providers.openai.models.gpt-4.1-nano] output_price: missing: give both"),
    (GOOD + '[[compare]]\nmodels = ["gpt-4.1-mini"]\n', "[compare #1] models: must list exactly two model names"),
]


@pytest.mark.parametrize(("text", "expected"), BROKEN, ids=[e.split(":")[0] + "|" + e.split(":")[1][:25] for _, e in BROKEN])
def test_broken_config_names_file_table_key_and_problem(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert expected in message
    assert "\n" not in message


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")


def test_unset_key_variable_skips_the_provider_with_one_line(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    keys, skipped = resolve_keys(config, {})
    assert keys == {} and skipped == {"openai": "skipping provider 'openai': environment variable OPENAI_API_KEY is not set"}
    keys, skipped = resolve_keys(config, {"OPENAI_API_KEY": "sk-x"})
    assert keys == {"openai": "sk-x"} and skipped == {}
