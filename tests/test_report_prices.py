"""Which stored price a report uses at its --now, and when it records a new one."""

from __future__ import annotations

from probe.model import PriceRecord
from probe.pricing import Price
from probe.report.prices import plan_prices

KEY = ("gpt-4.1-mini", "")


def _record(value: float, at: str, source: str = "genai-prices 0.2.3") -> PriceRecord:
    return PriceRecord("gpt-4.1-mini", "", value, value * 4, None, source, None, at)


def _resolver(value: float | None):  # type: ignore[no-untyped-def]
    calls: list[tuple[str, str]] = []

    def resolve(model: str, provider: str) -> Price | None:
        calls.append((model, provider))
        return None if value is None else Price(value, value * 4, None, "genai-prices 0.2.3", None)

    return resolve, calls


def test_first_report_resolves_and_records() -> None:
    """Nothing stored: the resolved price is used and recorded at the report's time."""
    resolve, _ = _resolver(0.4)
    used, new = plan_prices([KEY], [], resolve, "2025-06-04T12:00:00.000Z")
    assert used[KEY] == _record(0.4, "2025-06-04T12:00:00.000Z")
    assert new == [used[KEY]]


def test_unchanged_price_is_not_recorded_again() -> None:
    resolve, _ = _resolver(0.4)
    stored = _record(0.4, "2025-06-01T00:00:00.000Z")
    used, new = plan_prices([KEY], [stored], resolve, "2025-06-04T12:00:00.000Z")
    assert used[KEY] is stored and new == []


def test_changed_price_is_recorded_for_a_current_report() -> None:
    """A report newer than every stored price picks up a price change and records it."""
    resolve, _ = _resolver(0.3)
    used, new = plan_prices([KEY], [_record(0.4, "2025-06-01T00:00:00.000Z")], resolve, "2025-06-04T12:00:00.000Z")
    assert used[KEY].input_per_mtok == 0.3 and len(new) == 1


def test_historical_report_reuses_what_was_stored_then() -> None:
    """Re-running a report at an old --now gives the price stored then, whatever the packages say today."""
    resolve, calls = _resolver(0.3)
    stored = [_record(0.4, "2025-06-01T00:00:00.000Z"), _record(0.5, "2025-06-10T00:00:00.000Z")]
    used, new = plan_prices([KEY], stored, resolve, "2025-06-04T12:00:00.000Z")
    assert used[KEY].input_per_mtok == 0.4 and new == [] and calls == []
    same_moment, _ = plan_prices([KEY], stored, resolve, "2025-06-10T00:00:00.000Z")
    assert same_moment[KEY].input_per_mtok == 0.5


def test_unknown_price_keeps_the_last_stored_one() -> None:
    resolve, _ = _resolver(None)
    stored = _record(0.4, "2025-06-01T00:00:00.000Z")
    used, new = plan_prices([KEY], [stored], resolve, "2025-06-04T12:00:00.000Z")
    assert used[KEY] is stored and new == []


def test_no_price_anywhere_leaves_the_key_out() -> None:
    resolve, _ = _resolver(None)
    assert plan_prices([KEY], [], resolve, "2025-06-04T12:00:00.000Z") == ({}, [])
