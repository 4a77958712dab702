"""Prices per million tokens: genai-prices' offline data, overridden by providers.toml.

Prices change, so a report is only reproducible when each price carries where it came from (``source``) and since
when it applies (``as_of``); the store keeps both next to the run. Providers' pricing differences stay in
genai-prices' data, read through its own matching rules: this module only picks the standard per-token prices out
of the match and turns them into one small value.

genai-prices is imported inside functions, never at module level: importing it costs about 0.2 s (it pulls in its
price-update HTTP client), which ``probe --help`` must not pay.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from decimal import Decimal

    from genai_prices import types as gp

OVERRIDE_SOURCE = "providers.toml"
"""``Price.source`` of a price set in the config; it wins over any package price."""


@dataclass(frozen=True, slots=True)
class Price:
    """Standard (non-batch, default-tier) prices in USD per million tokens, with their provenance.

    ``cached_input_per_mtok`` is the cache-read price, ``None`` when the source has none. ``as_of`` is the ISO date
    the price took effect, when the source records one. Tiered prices (a higher rate above some prompt length,
    typically 100k-200k tokens) are represented by their base rate, the one ordinary prompts pay.
    """

    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float | None
    source: str
    as_of: str | None

    @property
    def blended_per_mtok(self) -> float:
        """One number to rank models by: a 3:1 input:output token mix, the convention of public price tables."""
        return (3 * self.input_per_mtok + self.output_per_mtok) / 4


def lookup_price(model: str, provider: str | None = None, *, at: datetime | None = None) -> Price | None:
    """The package's price for ``model`` at ``at`` (default: now), or ``None`` when genai-prices has none.

    ``provider`` is a genai-prices provider id or alias ('openai', 'azure', 'anthropic', 'google', 'openrouter',
    ...); it matters because the same model can cost differently per host (OpenRouter ids look like
    'openai/gpt-4.1-mini'). A provider genai-prices does not know is taken for a local label (a proxy, a config
    name) and the model is matched by name alone. A provider it knows but that does not list the model gives
    ``None``: guessing another host's price would be a silent error.

    The price is the one in force at the instant ``at`` (naive means UTC), by genai-prices' rules; a few prices
    (DeepSeek's off-peak hours) depend on the hour as well as the date: pass a sample's start time to cost it.
    """
    found = _find_model(model, provider)
    if found is None:
        return None
    when = at if at is not None else datetime.now(tz=UTC)
    prices = found.get_prices(when)
    input_per_mtok = _per_mtok(prices.input_mtok)
    output_per_mtok = _per_mtok(prices.output_mtok)
    if input_per_mtok is None or output_per_mtok is None:
        return None  # not priced per token (embeddings, images, speech): nothing to blend
    return Price(
        input_per_mtok=input_per_mtok,
        output_per_mtok=output_per_mtok,
        cached_input_per_mtok=_per_mtok(prices.cache_read_mtok),
        source=_package_source(),
        as_of=_effective_date(found, prices),
    )


def resolve_price(
    model: str,
    provider: str | None,
    override_input: float | None,
    override_output: float | None,
    at: datetime | None = None,
) -> Price | None:
    """The price a report uses: the config's override when it sets one, else the package's.

    An override must give both prices: half of one, completed from the package, would be a price nobody stated.
    """
    if override_input is None and override_output is None:
        return lookup_price(model, provider, at=at)
    if override_input is None or override_output is None:
        missing = "input" if override_input is None else "output"
        raise ValueError(f"price override for {model!r} sets only one price; the {missing} price is missing")
    for label, value in (("input", override_input), ("output", override_output)):
        if isinstance(value, bool) or not math.isfinite(value) or value < 0:
            raise ValueError(f"price override for {model!r}: {label} price must be finite and >= 0, got {value!r}")
    return Price(
        input_per_mtok=float(override_input),
        output_per_mtok=float(override_output),
        cached_input_per_mtok=None,
        source=OVERRIDE_SOURCE,
        as_of=None,
    )


def cost_usd(price: Price | None, input_tokens: int | None, output_tokens: int | None) -> float | None:
    """What one sample cost at list price, ignoring cache discounts; ``None`` when any input is unknown.

    Reasoning tokens are billed as output and are already inside ``output_tokens``.
    """
    if price is None or input_tokens is None or output_tokens is None:
        return None
    return (input_tokens * price.input_per_mtok + output_tokens * price.output_per_mtok) / 1_000_000


# --------------------------------------------------------------------------- genai-prices access


@lru_cache(maxsize=1)
def _package_source() -> str:
    """``source`` for package prices: the version pins the bundled data, so the price can be found again."""
    import genai_prices

    return f"genai-prices {genai_prices.__version__}"


@lru_cache(maxsize=512)
def _find_model(model: str, provider: str | None) -> gp.ModelInfo | None:
    """genai-prices' entry for the model, found by its own rules (aliases, dated ids, host fallbacks)."""
    from genai_prices import data_snapshot

    snapshot = data_snapshot.get_snapshot()
    if provider is not None and data_snapshot.find_provider_by_id(snapshot.providers, provider) is None:
        provider = None
    try:
        _, found = snapshot.find_provider_model(model, None, provider, None)
    except LookupError:
        return None
    return found


def _per_mtok(value: Decimal | gp.TieredPrices | None) -> float | None:
    """A package price as a float; a tiered price by its base rate."""
    if value is None:
        return None
    from genai_prices.types import TieredPrices

    return float(value.base if isinstance(value, TieredPrices) else value)


def _effective_date(found: gp.ModelInfo, chosen: gp.ModelPrice) -> str | None:
    """The start date of the dated price that applies, if the chosen price is one."""
    from genai_prices.types import StartDateConstraint

    if not isinstance(found.prices, list):
        return None  # one undated price: in force since the model was listed
    for conditional in found.prices:
        if conditional.prices is chosen and isinstance(conditional.constraint, StartDateConstraint):
            return conditional.constraint.start_date.isoformat()
    return None
