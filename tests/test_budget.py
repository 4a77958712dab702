"""The spending guard from literal plans and prices: worst-case reservations, whole bursts, today's spending, and a
refusal when a price is unknown."""

from __future__ import annotations

import pytest

from probe.budget import TEMPLATE_ALLOWANCE_TOKENS, BudgetError, fit_budget, limit_plan, spent_usd, worst_case_usd
from probe.model import PlannedRequest, Target
from probe.pricing import Price

PRICE = Price(input_per_mtok=1.0, output_per_mtok=10.0, cached_input_per_mtok=None, source="test", as_of=None)


def request(model: str = "m", provider: str = "p", input_tokens: int | None = 1_000, max_tokens: int = 1_000, prompt: str = "x") -> PlannedRequest:
    return PlannedRequest(provider, model, "openai-chat", Target("http://127.0.0.1:9/v1", model), prompt, max_tokens,
                          workload="1k", input_tokens=input_tokens)  # fmt: skip


def prices(model: str, provider: str) -> Price | None:
    return PRICE if model != "unpriced" else None


def test_the_worst_case_is_every_input_token_and_every_output_token_allowed() -> None:
    """1,000 content tokens + the template allowance at $1/M, and 1,000 output tokens at $10/M."""
    assert worst_case_usd(request(), PRICE, 1_000) == pytest.approx((1_000 + TEMPLATE_ALLOWANCE_TOKENS) * 1e-6 + 1_000 * 10e-6)


def test_fit_keeps_the_longest_prefix_of_whole_units() -> None:
    assert fit_budget([1.0, 1.0, 1.0], 2.5).kept == 2
    assert fit_budget([1.0, 1.0, 1.0], 3.0).kept == 3
    cut = fit_budget([1.0] * 6, 5.0, unit=3)
    assert (cut.kept, cut.reserved_usd, cut.next_usd) == (3, 3.0, 3.0)
    assert fit_budget([2.0], 1.0).kept == 0


def test_no_budget_leaves_the_plan_alone_even_without_prices() -> None:
    plan = [request(model="unpriced")]
    assert limit_plan(plan, prices, run_usd=None).plan == plan


def test_a_run_budget_cuts_the_plan_and_says_so_in_one_line() -> None:
    """Each request reserves about $0.011; $0.05 allows four of ten."""
    plan = [request() for _ in range(10)]
    limited = limit_plan(plan, prices, run_usd=0.05)
    assert len(limited.plan) == 4
    assert limited.message == (
        "budget: sending 4 of 10 planned requests ($0.0441 at most); the next request ($0.0110 at most) would exceed "
        "the run budget of $0.0500 (--budget-usd)"
    )


def test_the_tighter_of_the_run_and_the_daily_budget_wins() -> None:
    plan = [request() for _ in range(10)]
    limited = limit_plan(plan, prices, run_usd=1.0, day_usd=1.0, spent_today_usd=0.97)
    assert len(limited.plan) == 2
    assert "the daily budget of $1.00, of which $0.9700 is spent today (UTC)" in (limited.message or "")
    assert limit_plan(plan, prices, run_usd=None, day_usd=1.0, spent_today_usd=5.0).plan == []


def test_bursts_are_kept_or_cut_whole() -> None:
    plan = [request() for _ in range(6)]
    limited = limit_plan(plan, prices, run_usd=0.06, burst=3)
    assert len(limited.plan) == 3 and "the next burst" in (limited.message or "")


def test_a_free_length_prompt_reserves_one_token_per_byte() -> None:
    """Without a planned token count, the prompt's UTF-8 bytes bound its tokens from above."""
    free = request(input_tokens=None, prompt="é" * 500, max_tokens=1)
    assert limit_plan([free], prices, run_usd=(1_000 + TEMPLATE_ALLOWANCE_TOKENS) * 1e-6 + 10e-6).plan == [free]
    assert limit_plan([free], prices, run_usd=(999 + TEMPLATE_ALLOWANCE_TOKENS) * 1e-6 + 10e-6).plan == []


def test_a_budget_with_an_unpriced_model_is_refused_naming_it() -> None:
    with pytest.raises(BudgetError, match=r"no price known for unpriced on p; a budget needs one: set input_price"):
        limit_plan([request(), request(model="unpriced")], prices, run_usd=10.0)


def test_todays_spending_prices_stored_token_counts() -> None:
    """Sums per provider and model: missing counts cost nothing, unpriced pairs are named, not guessed."""
    total, missing = spent_usd(
        [("p", "m", 1_000_000, 100_000), ("p", "m2", None, 1_000), ("p", "unpriced", 10, 10), ("p", "idle", None, None)],
        prices,
    )
    assert total == pytest.approx(1.0 + 1.0 + 0.01)
    assert missing == [("p", "unpriced")]
