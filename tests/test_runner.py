"""The runner: every planned request reaches the sink within the run's and each provider's limits, with tasks bounded by
the concurrency, and the collector is quiet only while streams are in flight."""

from __future__ import annotations

import asyncio
import gc
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import anyio
import orjson
import pytest

from probe.model import Exchange, HttpRequest, PlannedRequest, Target, Timeouts
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


class FakeEndpoints:
    """Stands in for ``probe.client.exchange``: records which requests are in flight, per provider and in all."""

    def __init__(self, hold: Callable[[PlannedRequest], Awaitable[None]] | None = None) -> None:
        self.hold = hold
        self.started: list[str] = []
        self.in_flight: Counter[str] = Counter()
        self.most_in_flight: Counter[str] = Counter()
        self.most_in_flight_overall = 0
        self.most_tasks = 0
        self._requests: dict[str, PlannedRequest] = {}

    def plan(self, *providers: str) -> list[PlannedRequest]:
        plan = [replace(plan_for("http://127.0.0.1:9", 1)[0], provider=p, prompt=f"{p}{i}") for i, p in enumerate(providers)]
        self._requests = {request.prompt: request for request in plan}
        return plan

    async def exchange(self, client: object, http_request: HttpRequest, timeouts: Timeouts, *, clock: object) -> Exchange:
        request = self._requests[orjson.loads(http_request.body)["messages"][0]["content"]]
        self.started.append(request.prompt)
        self.in_flight[request.provider] += 1
        self.most_in_flight[request.provider] = max(self.most_in_flight[request.provider], self.in_flight[request.provider])
        self.most_in_flight_overall = max(self.most_in_flight_overall, sum(self.in_flight.values()))
        self.most_tasks = max(self.most_tasks, len(asyncio.all_tasks()))
        try:
            if self.hold is not None:
                await self.hold(request)
            await anyio.sleep(0.001)
        finally:
            self.in_flight[request.provider] -= 1
        return Exchange(started_ns=0, started_at="")


def run_with(endpoints: FakeEndpoints, plan: list[PlannedRequest], monkeypatch: pytest.MonkeyPatch, **limits: Any) -> list[str]:
    monkeypatch.setattr("probe.runner.exchange", endpoints.exchange)
    done: list[str] = []

    async def main() -> None:
        with anyio.fail_after(10):  # a scheduling bug would otherwise hang here
            await run_plan(plan, lambda request, record: done.append(request.prompt), **limits)

    anyio.run(main)
    return done


def test_no_more_requests_are_in_flight_than_the_run_allows_nor_than_a_provider_allows(monkeypatch: pytest.MonkeyPatch) -> None:
    endpoints = FakeEndpoints()
    plan = endpoints.plan(*["a", "b", "c"] * 20)
    done = run_with(endpoints, plan, monkeypatch, concurrency=5, provider_limits={"a": 1, "b": 2, "c": 0})
    assert sorted(done) == sorted(request.prompt for request in plan)
    assert endpoints.most_in_flight["a"] == 1 and endpoints.most_in_flight["b"] == 2
    assert endpoints.most_in_flight_overall == 5  # "c" has no limit of its own (0): the run's five slots fill up


def test_a_provider_at_its_limit_does_not_hold_back_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    """"a" may run one request at a time, and its first waits until all of "b" has started: that happens only if
    "a"'s waiting requests hold none of the run's three slots."""
    every_b_started = anyio.Event()

    async def hold(request: PlannedRequest) -> None:
        if request.provider == "b" and sum(p.startswith("b") for p in endpoints.started) == 3:
            every_b_started.set()
        if request.provider == "a":
            await every_b_started.wait()

    endpoints = FakeEndpoints(hold)
    plan = endpoints.plan("a", "a", "a", "a", "b", "b", "b")
    done = run_with(endpoints, plan, monkeypatch, concurrency=3, provider_limits={"a": 1})
    assert len(done) == 7


def test_the_run_s_first_slots_go_to_the_plan_s_first_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    endpoints = FakeEndpoints()
    plan = endpoints.plan("a", "b", "a", "c", "a", "b")
    run_with(endpoints, plan, monkeypatch, concurrency=2)
    assert endpoints.started[:2] == ["a0", "b1"]  # not "a0", "a2": workers start in plan order, not by provider


def test_tasks_grow_with_the_concurrency_not_with_the_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    """A task per planned request made a long cron plan hold thousands of waiting tasks: 8,000 requests at 64
    streams took 58 MB more and paused for full collections of them (up to 83 ms, with streams in flight)."""
    endpoints = FakeEndpoints()
    plan = endpoints.plan(*["a", "b"] * 200)
    done = run_with(endpoints, plan, monkeypatch, concurrency=4)
    assert len(done) == 400
    assert endpoints.most_tasks <= 2 * 4 + 1  # at most 4 workers per provider, and the main task


def test_requests_are_built_as_they_are_sent_not_all_before_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """A request's body holds its prompt: built all at once, 8,000 requests of the 10k workload would hold every
    prompt a second time (413 MB) for the whole run. Built as sent, no more bodies exist than workers."""
    import probe.runner

    endpoints = FakeEndpoints()
    built_before_each_start: list[int] = []
    built = [0]

    class CountingDialect:
        def __init__(self, dialect: Any) -> None:
            self._dialect = dialect

        def build_request(self, *args: Any) -> HttpRequest:
            built[0] += 1
            return self._dialect.build_request(*args)

    real_get_dialect = probe.runner.get_dialect
    monkeypatch.setattr("probe.runner.get_dialect", lambda api: CountingDialect(real_get_dialect(api)))

    async def hold(request: PlannedRequest) -> None:
        built_before_each_start.append(built[0])

    endpoints.hold = hold
    plan = endpoints.plan(*["a", "b"] * 50)
    done = run_with(endpoints, plan, monkeypatch, concurrency=3)
    assert len(done) == 100 and built[0] == 100
    assert built_before_each_start[0] <= 2 * 3  # each worker builds its own next request only (3 per provider)


def test_workers_starting_together_send_a_few_requests_per_pass_of_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """When a round of streams ends together, every worker starts its next request at once: the loop would poll no
    socket until all had (up to 12 ms at 256 streams), and reads left waiting meanwhile merge with the next chunk.
    The starts are spread over passes of the loop, which polls between them."""
    from probe.runner import SENDS_PER_PASS

    endpoints = FakeEndpoints()
    pass_number = [0]
    sends_per_pass: Counter[int] = Counter()

    async def hold(request: PlannedRequest) -> None:
        sends_per_pass[pass_number[0]] += 1

    endpoints.hold = hold
    monkeypatch.setattr("probe.runner.exchange", endpoints.exchange)
    plan = endpoints.plan(*["a"] * 64)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        counting = [True]

        def count_passes() -> None:  # runs once in every pass of the loop
            pass_number[0] += 1
            if counting[0]:
                loop.call_soon(count_passes)

        loop.call_soon(count_passes)
        with anyio.fail_after(10):
            await run_plan(plan, lambda request, record: None, concurrency=64)
        counting[0] = False

    anyio.run(main)
    assert sum(sends_per_pass.values()) == 64
    assert max(sends_per_pass.values()) == SENDS_PER_PASS < 64
