"""Prices from genai-prices' bundled data, config overrides, and what a sample costs."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
from datetime import UTC, datetime

import genai_prices
import pytest

from probe.pricing import OVERRIDE_SOURCE, Price, cost_usd, lookup_price, resolve_price

AT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PACKAGE_SOURCE = f"genai-prices {genai_prices.__version__}"


def test_gpt_4_1_mini_price_from_package() -> None:
    """GPT-4.1 mini costs $0.40 in / $1.60 out / $0.10 cached per 1M tokens, credited to the package version."""
    price = lookup_price("gpt-4.1-mini", "openai", at=AT)
    assert price == Price(0.40, 1.60, 0.10, source=PACKAGE_SOURCE, as_of=None)


def test_gpt_4_1_nano_price_from_package() -> None:
    """GPT-4.1 nano costs $0.10 in / $0.40 out per 1M tokens."""
    price = lookup_price("gpt-4.1-nano", at=AT)
    assert price is not None
    assert (price.input_per_mtok, price.output_per_mtok) == (0.10, 0.40)
    assert price.source == PACKAGE_SOURCE


@pytest.mark.parametrize(
    ("model", "provider"),
    [
        ("gpt-4.1-mini", None),
        ("GPT-4.1-Mini", "OpenAI"),
        ("gpt-4.1-mini-2025-04-14", "openai"),
        ("gpt-4.1-mini", "azure"),
        ("openai/gpt-4.1-mini", "openrouter"),
        ("gpt-4.1-mini", "my-local-proxy"),
    ],
)
def test_spellings_and_hosts_of_one_model_find_its_price(model: str, provider: str | None) -> None:
    """Case, dated ids, Azure's fallback to OpenAI, OpenRouter ids and unknown local labels all reach the price."""
    price = lookup_price(model, provider, at=AT)
    assert price is not None
    assert (price.input_per_mtok, price.output_per_mtok) == (0.40, 1.60)


def test_current_haiku_and_flash_are_priced() -> None:
    """The default config's Claude Haiku and Gemini Flash ids have package prices."""
    haiku = lookup_price("claude-haiku-4-5", "anthropic", at=AT)
    flash = lookup_price("gemini-2.5-flash", "google", at=AT)
    assert haiku is not None and (haiku.input_per_mtok, haiku.output_per_mtok) == (1.0, 5.0)
    assert flash is not None and (flash.input_per_mtok, flash.output_per_mtok) == (0.30, 2.50)


def test_unknown_model_has_no_price() -> None:
    """A model genai-prices does not list has no price rather than a guessed one."""
    assert lookup_price("no-such-model-xyz", at=AT) is None
    assert lookup_price("no-such-model-xyz", "openai", at=AT) is None


def test_known_host_without_the_model_has_no_price() -> None:
    """OpenRouter does not list the bare OpenAI id, and another host's price is not borrowed."""
    assert lookup_price("gpt-4.1-mini", "openrouter", at=AT) is None


def test_model_not_priced_per_output_token_has_no_price() -> None:
    """An embedding model has no output price, so there is no per-token price to report."""
    assert lookup_price("text-embedding-3-small", "openai", at=AT) is None


def test_dated_price_change_follows_at_and_records_its_start() -> None:
    """A price with a start date applies from that date on, and ``as_of`` says which date."""
    before = lookup_price("gemini-3.6-flash", "google", at=datetime(2026, 12, 1, tzinfo=UTC))
    after = lookup_price("gemini-3.6-flash", "google", at=datetime(2027, 2, 1, tzinfo=UTC))
    assert before == Price(0.75, 3.75, 0.075, source=PACKAGE_SOURCE, as_of=None)
    assert after == Price(1.50, 7.50, 0.15, source=PACKAGE_SOURCE, as_of="2027-01-01")


def test_tiered_price_is_reported_at_its_base_rate() -> None:
    """A price with long-prompt tiers is reported at the rate short prompts pay."""
    price = lookup_price("claude-haiku-5-5", "anthropic", at=AT)
    assert price is not None
    assert (price.input_per_mtok, price.output_per_mtok, price.cached_input_per_mtok) == (0.10, 0.50, 0.01)


def test_override_wins_over_package() -> None:
    """Prices set in providers.toml replace the package's and say so."""
    price = resolve_price("gpt-4.1-mini", "openai", 0.5, 2.0, at=AT)
    assert price == Price(0.5, 2.0, None, source=OVERRIDE_SOURCE, as_of=None)


def test_override_prices_a_model_the_package_does_not_know() -> None:
    """A self-hosted model gets its price from the config alone."""
    price = resolve_price("my-finetune", "local", 1, 3)
    assert price == Price(1.0, 3.0, None, source="providers.toml", as_of=None)


def test_without_override_resolve_is_the_package_price() -> None:
    """No override means the package's price, unchanged."""
    assert resolve_price("gpt-4.1-nano", "openai", None, None, at=AT) == lookup_price("gpt-4.1-nano", "openai", at=AT)


@pytest.mark.parametrize(
    ("override_input", "override_output", "message"),
    [
        (0.5, None, "output price is missing"),
        (None, 2.0, "input price is missing"),
        (-0.1, 2.0, "input price must be finite"),
        (0.5, math.nan, "output price must be finite"),
        (0.5, math.inf, "output price must be finite"),
    ],
)
def test_bad_override_is_an_error(override_input: float | None, override_output: float | None, message: str) -> None:
    """Half an override, or a negative or non-finite one, is a config error naming the model."""
    with pytest.raises(ValueError, match=message) as raised:
        resolve_price("gpt-4.1-mini", "openai", override_input, override_output)
    assert "gpt-4.1-mini" in str(raised.value)


def test_blended_price_weights_input_three_to_one() -> None:
    """Blended price is (3 x input + output) / 4."""
    assert Price(1.0, 5.0, None, "x", None).blended_per_mtok == 2.0
    price = lookup_price("gpt-4.1-mini", at=AT)
    assert price is not None
    assert price.blended_per_mtok == pytest.approx(0.70)


def test_cost_of_a_sample() -> None:
    """A sample costs its tokens at the per-million prices."""
    price = Price(0.40, 1.60, 0.10, "x", None)
    assert cost_usd(price, 1_000, 500) == pytest.approx(0.0012)
    assert cost_usd(price, 0, 0) == 0.0


@pytest.mark.parametrize(("price", "input_tokens", "output_tokens"), [(None, 1, 1), ("p", None, 1), ("p", 1, None)])
def test_cost_unknown_when_anything_is_unknown(
    price: str | None, input_tokens: int | None, output_tokens: int | None
) -> None:
    """No price or an unmeasured token count gives no cost, never zero."""
    real = Price(1.0, 1.0, None, "x", None) if price else None
    assert cost_usd(real, input_tokens, output_tokens) is None


def test_price_is_frozen() -> None:
    """A Price cannot change after it was looked up."""
    price = Price(1.0, 1.0, None, "x", None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        price.input_per_mtok = 2.0  # type: ignore[misc]


def test_importing_pricing_does_not_import_genai_prices() -> None:
    """genai-prices loads on the first lookup, not at import, so ``probe --help`` stays fast."""
    code = (
        "import sys, probe.pricing\n"
        "assert 'genai_prices' not in sys.modules, 'genai_prices imported'\n"
        "probe.pricing.lookup_price('gpt-4.1-mini')\n"
        "assert 'genai_prices' in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
