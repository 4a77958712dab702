"""Which price a report uses for each (model, provider), and which prices to store so it can be reproduced. Pure.

Prices change: providers cut them, genai-prices ships new data, a config override is edited. The ``prices`` table
keeps every price a report used, with its source and when it was recorded, and a report at a given ``--now``
reads the price recorded last at or before that moment. The rules:

* A report newer than every stored price of a key is *current*: it resolves the price (config override, else
  genai-prices) and, when that differs from the stored one or none is stored, records it at ``--now``.
* A report at or before the newest stored price of a key is *historical*: it uses what was stored then, so
  re-running an old report gives the old prices. Only when nothing was stored that early does it resolve.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from probe.model import PriceRecord
from probe.pricing import Price

PriceKey = tuple[str, str]
"""(model, provider); provider `probe.model.PRICE_LIST_PROVIDER` for the model's list price."""


def plan_prices(
    wanted: Iterable[PriceKey],
    stored: Iterable[PriceRecord],
    resolve: Callable[[str, str], Price | None],
    now: str,
) -> tuple[dict[PriceKey, PriceRecord], list[PriceRecord]]:
    """The record each wanted key uses at ``now`` (keys without any price are left out), and the new records
    to store. ``now`` is an ISO 8601 UTC stamp in the samples' format; ``resolve`` is only called when needed."""
    history: dict[PriceKey, list[PriceRecord]] = {}
    for record in sorted(stored, key=lambda r: r.recorded_at):
        history.setdefault((record.model, record.provider), []).append(record)
    used: dict[PriceKey, PriceRecord] = {}
    new: list[PriceRecord] = []
    for key in dict.fromkeys(wanted):
        records = history.get(key, [])
        earlier = [r for r in records if r.recorded_at <= now]
        stored_then = earlier[-1] if earlier else None
        historical = bool(records) and now <= records[-1].recorded_at
        if historical and stored_then is not None:
            used[key] = stored_then
            continue
        price = resolve(*key)
        if price is None:
            if stored_then is not None:
                used[key] = stored_then
            continue
        record = to_record(key, price, now)
        if stored_then is not None and stored_then.same_price(record):
            used[key] = stored_then
            continue
        used[key] = record
        new.append(record)
    return used, new


def to_record(key: PriceKey, price: Price, recorded_at: str) -> PriceRecord:
    model, provider = key
    return PriceRecord(
        model=model,
        provider=provider,
        input_per_mtok=price.input_per_mtok,
        output_per_mtok=price.output_per_mtok,
        cached_input_per_mtok=price.cached_input_per_mtok,
        source=price.source,
        as_of=price.as_of,
        recorded_at=recorded_at,
    )
