"""The spending guard: what a run may cost at most, and what today's samples already cost. Pure.

Costs are list prices x tokens (`probe.pricing.cost_usd`). Before anything is sent, each planned request
reserves its worst case: its message-content tokens plus `TEMPLATE_ALLOWANCE_TOKENS` at the input price, and its
whole ``max_tokens`` (reasoning included) at the output price. The plan is cut before the first request whose
reservation would take the total past the budget, so what is sent cannot cost more than the budget, whatever the
endpoints answer. Reserving in plan order is the same as reserving before each send: the order is fixed and a
reservation is never given back. A burst of a parallel workload is kept or cut whole.

Today's spending (for ``[run] budget_usd_per_day``) is the cost of the samples stored since 00:00 UTC, from their
stored token counts; a count a sample lacks (a request that failed before the provider reported usage) costs
nothing, as providers do not bill requests they reject.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from probe.model import PlannedRequest
from probe.pricing import Price, cost_usd

TEMPLATE_ALLOWANCE_TOKENS = 32
"""Input tokens reserved per request beyond the message content: chat templates add role and separator tokens
(about 7 for one OpenAI chat message), and other providers count their own wrapping."""

PriceOf = Callable[[str, str], Price | None]
"""(canonical model, provider) -> the price that provider charges, ``None`` when unknown."""


@dataclass(frozen=True, slots=True)
class Cut:
    """How much of a plan fits a budget: the first ``kept`` requests, reserving ``reserved_usd`` at worst;
    ``next_usd`` is the worst case of the first request (or burst) left out, ``None`` when all fit."""

    kept: int
    reserved_usd: float
    next_usd: float | None


def unpriced(plan: Sequence[PlannedRequest], price_of: PriceOf) -> list[tuple[str, str]]:
    """The (provider, model) pairs of a plan with no known price, in plan order: a budget cannot cover them."""
    missing: dict[tuple[str, str], None] = {}
    for request in plan:
        if price_of(request.model, request.provider) is None:
            missing.setdefault((request.provider, request.model))
    return list(missing)


def worst_case_usd(request: PlannedRequest, price: Price, input_tokens: int) -> float:
    """The most one request can cost: ``input_tokens`` of content plus the template allowance, and every output
    token it may generate."""
    cost = cost_usd(price, input_tokens + TEMPLATE_ALLOWANCE_TOKENS, request.max_tokens)
    assert cost is not None  # every argument is known
    return cost


def fit_budget(costs: Sequence[float], budget_usd: float, unit: int = 1) -> Cut:
    """The longest prefix of ``costs``, in whole groups of ``unit``, whose sum stays within ``budget_usd``."""
    unit = max(1, unit)
    reserved = 0.0
    for start in range(0, len(costs), unit):
        group = sum(costs[start : start + unit])
        if reserved + group > budget_usd:
            return Cut(start, reserved, group)
        reserved += group
    return Cut(len(costs), reserved, None)


def spent_usd(totals: Iterable[tuple[str, str, int | None, int | None]], price_of: PriceOf) -> tuple[float, list[tuple[str, str]]]:
    """What stored samples cost: ``totals`` are (provider, model, input tokens, output tokens) sums. Returns the
    cost of the priced ones and the (provider, model) pairs that had tokens but no known price."""
    total = 0.0
    missing = []
    for provider, model, input_tokens, output_tokens in totals:
        if not input_tokens and not output_tokens:
            continue
        price = price_of(model, provider)
        if price is None:
            missing.append((provider, model))
            continue
        total += cost_usd(price, input_tokens or 0, output_tokens or 0) or 0.0
    return total, missing


class BudgetError(Exception):
    """A budget was set but cannot be kept: some planned request has no known price."""


@dataclass(frozen=True, slots=True)
class Limited:
    """The part of a plan a budget allows, and the one line saying what was left out (``None``: nothing was)."""

    plan: list[PlannedRequest]
    message: str | None


def limit_plan(
    plan: Sequence[PlannedRequest],
    price_of: PriceOf,
    *,
    run_usd: float | None,
    day_usd: float | None = None,
    spent_today_usd: float = 0.0,
    burst: int = 1,
) -> Limited:
    """Cut ``plan`` to the requests whose worst cases fit the tighter of ``run_usd`` and what is left of
    ``day_usd`` after ``spent_today_usd``; with neither, the plan is unchanged. Raises `BudgetError` naming every
    unpriced (provider, model) when a budget is set: a budget probe cannot compute is not kept.

    A request's input is its planned token count, or, for a free-length prompt, its UTF-8 bytes (a token is at
    least one byte, so never fewer).
    """
    if run_usd is None and day_usd is None:
        return Limited(list(plan), None)
    missing = unpriced(plan, price_of)
    if missing:
        listed = ", ".join(f"{model} on {provider}" for provider, model in missing)
        raise BudgetError(
            f"no price known for {listed}; a budget needs one: set input_price and output_price for it in "
            "providers.toml, or leave it out with --provider/--model"
        )
    limits: list[tuple[float, str]] = []
    if run_usd is not None:
        limits.append((run_usd, f"the run budget of {_usd(run_usd)} (--budget-usd)"))
    if day_usd is not None:
        left = max(0.0, day_usd - spent_today_usd)
        limits.append((left, f"the daily budget of {_usd(day_usd)}, of which {_usd(spent_today_usd)} is spent today (UTC)"))
    budget, why = min(limits)
    costs = []
    for request in plan:
        price = price_of(request.model, request.provider)
        assert price is not None  # checked above
        tokens = request.input_tokens if request.input_tokens is not None else len(request.prompt.encode())
        costs.append(worst_case_usd(request, price, tokens))
    cut = fit_budget(costs, budget, burst)
    if cut.kept == len(plan):
        return Limited(list(plan), None)
    message = (
        f"budget: sending {cut.kept} of {len(plan)} planned requests ({_usd(cut.reserved_usd)} at most); "
        f"the next {'burst' if burst > 1 else 'request'} ({_usd(cut.next_usd or 0.0)} at most) would exceed {why}"
    )
    return Limited(list(plan[: cut.kept]), message)


def _usd(value: float) -> str:
    """$12.50, $0.0042: enough digits that a single request's cost is not shown as $0.00."""
    return f"${value:,.2f}" if value >= 1 else f"${value:.4f}"
