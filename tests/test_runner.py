"""The runner: every planned request reaches the sink, and the collector is quiet only while streams are in flight."""

from __future__ import annotations

import gc

import anyio
import pytest

from probe.model import Exchange, PlannedRequest, Target, Timeouts
from probe.runner import run_plan
from probe.sim.server import SimServer


def plan_for(base_url: str, count: int) -> list[PlannedRequest]:
    target = Target(base_url=base_url, model_id="gpt-4.1-nano", auth="none")
    timeouts = Timeouts(connect_s=5, first_byte_s=5, stall_s=5, total_s=20)
    return [PlannedRequest(provider="sim", model="gpt-4.1-nano", api="openai-chat", target=target, prompt=f"hi {i}",
                           max_tokens=3, timeouts=timeouts) for i in range(count)]


def test_every_request_reaches_the_sink_and_objects_made_before_the_run_are_not_scanned_meanwhile() -> None:
    """A full collection walking the objects made before the run held the GIL for ~18 ms while reads waited to be
    stamped; during the run they are frozen, and afterwards the collector sees them again."""
    frozen_during: list[int] = []

    def sink(request: PlannedRequest, record: Exchange) -> None:
        frozen_during.append(gc.get_freeze_count())

    with SimServer() as sim:
        assert gc.get_freeze_count() == 0
        anyio.run(lambda: run_plan(plan_for(sim.base_url, 6), sink, concurrency=3))
    assert len(frozen_during) == 6 and min(frozen_during) > 1000
    assert gc.get_freeze_count() == 0


def test_the_collector_is_restored_when_the_run_fails() -> None:
    def failing_sink(request: PlannedRequest, record: Exchange) -> None:
        raise RuntimeError("the sink broke")

    with SimServer() as sim, pytest.raises(ExceptionGroup) as caught:
        anyio.run(lambda: run_plan(plan_for(sim.base_url, 2), failing_sink, concurrency=1))
    assert caught.group_contains(RuntimeError, match="the sink broke")
    assert gc.get_freeze_count() == 0
