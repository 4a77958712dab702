"""Send a plan's requests concurrently and hand each finished exchange to a sink, as it completes.

Structured concurrency only: one task group of workers, as many per provider as its limit allows (the run's
concurrency at most), each taking its provider's next request and one of the run's slots (a capacity limiter).
Tasks and their objects so grow with the concurrency, not with the plan. The sink is called
on the event loop and must not block: the default sink (``probe.writer.SampleWriter.submit``) only enqueues;
derivation and storage happen in the loop's idle time (``probe.eventloop``), away from the timed path of the other
streams.
"""

from __future__ import annotations

import asyncio
import gc
import ssl
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AsyncExitStack, contextmanager

import anyio
import httpx

from probe.client import Clock, exchange, make_http_client
from probe.dialects import get_dialect
from probe.model import Exchange, HttpRequest, PlannedRequest

Sink = Callable[[PlannedRequest, Exchange], None]


async def run_plan(
    plan: list[PlannedRequest],
    sink: Sink,
    *,
    concurrency: int,
    provider_limits: Mapping[str, int] | None = None,
    insecure_providers: Iterable[str] = (),
    clock: Clock = time.perf_counter_ns,
    burst: int = 1,
) -> None:
    """Run every planned request, at most ``concurrency`` at once overall and ``provider_limits[p]`` per provider.

    TLS contexts are made before any clock starts. Each request's body is built just before it is sent (outside
    its timed section): built all at once, a plan's bodies would hold every prompt a second time for the whole run
    (8,000 requests of the 10k workload: 51.6 KB each, 413 MB); building one such body takes about 0.2 ms of the
    loop's time (``json.dumps`` of 51 KB: 183 µs), and reads stay stamped by the kernel meanwhile. One client per provider; its transport keeps a
    connection per in-flight request and reuses it (keep-alive) for the next.

    With ``burst`` N > 1 (a parallel workload), the plan is taken N requests at a time: each group is sent at the
    same moment and finishes before the next starts, and no limit applies, since N at once is what is measured.
    """
    provider_limits = provider_limits or {}
    insecure = set(insecure_providers)
    slots = max(1, concurrency)
    overall = anyio.CapacityLimiter(slots)

    tls = httpx.create_ssl_context() if any(r.target.base_url.startswith("https:") for r in plan) else None

    async with AsyncExitStack() as stack:
        stack.enter_context(_collections_of_new_objects_only())
        clients: dict[str, httpx.AsyncClient] = {}
        for request in plan:
            if request.provider not in clients:
                verify: bool | ssl.SSLContext = False if request.provider in insecure else (tls or True)
                clients[request.provider] = await stack.enter_async_context(make_http_client(verify=verify, clock=clock))

        async def together(request: PlannedRequest, http_request: HttpRequest) -> None:
            sink(request, await exchange(clients[request.provider], http_request, request.timeouts, clock=clock))

        if burst > 1:
            for start in range(0, len(plan), burst):
                group_plan = plan[start : start + burst]
                built = [_built(request) for request in group_plan]  # all built before the first is sent
                async with anyio.create_task_group() as group:
                    for request, http_request in zip(group_plan, built):
                        group.start_soon(together, request, http_request)
            return

        gate = SendGate(SENDS_PER_PASS)

        async def worker(queue: Iterator[PlannedRequest]) -> None:
            # The provider's limit is its number of workers: a worker waiting for one of the run's slots holds
            # nothing another provider could use.
            for request in queue:
                http_request = _built(request)
                async with overall:
                    await gate.turn()
                    record = await exchange(clients[request.provider], http_request, request.timeouts, clock=clock)
                sink(request, record)

        # Workers start in plan order, so the run's first slots go to the plan's first requests.
        by_provider = _by_provider(plan)
        queues = {provider: iter(requests) for provider, requests in by_provider.items()}
        workers_left = {
            provider: min(len(requests), slots, _limit(provider_limits.get(provider), slots))
            for provider, requests in by_provider.items()
        }
        async with anyio.create_task_group() as group:
            for request in plan:
                if workers_left[request.provider] > 0:
                    workers_left[request.provider] -= 1
                    group.start_soon(worker, queues[request.provider])


SENDS_PER_PASS = 16
"""Requests that may start sending in one pass of the event loop (see `SendGate`)."""


class SendGate:
    """Lets at most ``per_pass`` requests through in one pass of the event loop; the others wait for the next.

    Starting a request (the exchange's setup, the write, its timers) costs the loop 0.1-0.2 ms. When a round of
    streams ends together, hundreds of workers start their next request in the same pass, and the loop polls no
    socket until all have: 4-12 ms of CPU at 256 streams (gap diagnostics), during which a read left waiting past
    its stream's next chunk is merged with it. Between passes the loop polls. The request's clock starts when it
    is sent, so waiting here moves no measurement.
    """

    def __init__(self, per_pass: int) -> None:
        self._per_pass = per_pass
        self._left = per_pass
        self._refill_queued = False

    async def turn(self) -> None:
        while self._left <= 0:
            await asyncio.sleep(0)  # to the next pass, queued after the refill below
        self._left -= 1
        if not self._refill_queued:
            self._refill_queued = True
            asyncio.get_running_loop().call_soon(self._refill)

    def _refill(self) -> None:
        self._left = self._per_pass
        self._refill_queued = False


def _built(request: PlannedRequest) -> HttpRequest:
    return get_dialect(request.api).build_request(request.target, str(request.prompt), request.max_tokens)


def _by_provider(plan: list[PlannedRequest]) -> dict[str, list[PlannedRequest]]:
    """The plan split per provider, each in plan order."""
    queues: dict[str, list[PlannedRequest]] = {}
    for request in plan:
        queues.setdefault(request.provider, []).append(request)
    return queues


def _limit(provider_limit: int | None, slots: int) -> int:
    """A provider's own limit, when it has a positive one; else the run's."""
    return provider_limit if provider_limit and provider_limit > 0 else slots


@contextmanager
def _collections_of_new_objects_only() -> Iterator[None]:
    """While streams are in flight, the cyclic garbage collector looks only at objects made since they started.

    A full collection walks every object alive, imports, tokenizer and plan included (about 35,000 objects, 18 ms
    here), holding the GIL: no read is taken meanwhile, and a read kept waiting past the next chunk is merged with
    it, stamped as one (a 64-stream bench run had one such 29-31 ms pause; frozen, none). Frozen objects are still
    freed by reference counting; only cycles among them wait until the run is over.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
