"""Where the event loop stalls: every stretch without a poll, with what ran in it and why it lasted.

A read left waiting past its stream's next chunk is merged with it (TCP joins the two), so a TTFT or decode-speed
error at high concurrency is a stretch in which the loop polled no socket for longer than a token interval. This
runs ``bench/accuracy.py``'s workload (200 ms to first token, one token every 10 ms, 100 tokens) through
``probe.job.run_job`` against the simulator in its own process, times every poll of the selector, and prints each
stretch between two polls longer than ``--longer-than`` milliseconds:

- its wall time, the loop thread's CPU in it, the time the thread waited in the run queue for a CPU (another
  task had it: Linux ``/proc/self/task/<tid>/schedstat``) and the machine's steal ticks (the hypervisor had it);
- what took its time: callbacks by name (reads, task steps), the writer's pieces (derivation, commits),
  collections by generation, and the selector's sleep between polls (its wall time, and the thread's CPU in it).
  These overlap: a collection runs inside whatever allocated.

A diagnostic, not a benchmark: it patches asyncio's ``Handle._run`` and probe's writer to time them, which costs
the loop time of its own. Run it several times; stalls vary from run to run.

    .venv/bin/python bench/stalls.py [--streams 256] [--rounds 2] [--longer-than 8]
"""

from __future__ import annotations

import argparse
import collections
import gc
import sys
import tempfile
import threading
import time
from pathlib import Path


def run_queue_wait_ns() -> int:
    """Time this thread has spent runnable but not running since it started; 0 where Linux does not say."""
    try:
        with open(f"/proc/self/task/{threading.get_native_id()}/schedstat", encoding="ascii") as stat:
            return int(stat.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def steal_ticks() -> int:
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            return int(stat.readline().split()[8])
    except (OSError, ValueError, IndexError):
        return 0


class StallLog:
    """Accumulates what runs between two polls, and keeps the stretches longer than ``threshold_ns``."""

    def __init__(self, threshold_ns: int) -> None:
        self.threshold_ns = threshold_ns
        self.run_started_ns: int | None = None
        self.spent: collections.Counter[str] = collections.Counter()
        self.stalls: list[tuple[float, float, float, float, int, list[tuple[str, float]]]] = []
        self._last: tuple[int, int, int, int] | None = None  # wall, thread CPU, run-queue wait, steal

    def poll(self) -> None:
        now = (time.perf_counter_ns(), time.thread_time_ns(), run_queue_wait_ns(), steal_ticks())
        if self._last is not None and self.run_started_ns is not None and now[0] - self._last[0] > self.threshold_ns:
            wall, cpu, waited, steal = (b - a for a, b in zip(self._last, now))
            top = [(name, ns / 1e6) for name, ns in self.spent.most_common(4)]
            self.stalls.append(((self._last[0] - self.run_started_ns) / 1e6, wall / 1e6, cpu / 1e6, waited / 1e6,
                                steal, top))
        self.spent.clear()

    def polled(self) -> None:
        self._last = (time.perf_counter_ns(), time.thread_time_ns(), run_queue_wait_ns(), steal_ticks())


def instrument(log: StallLog) -> None:
    """Time polls, callbacks, the writer's pieces and collections (patches, for this process only)."""
    import asyncio.events

    from probe.eventloop import GatheringSelector
    from probe.writer import SampleWriter

    gathering_poll = GatheringSelector._poll  # every poll, whether epoll is asked directly or through the base

    def poll(self, timeout):  # type: ignore[no-untyped-def]
        log.poll()
        try:
            return gathering_poll(self, timeout)
        finally:
            log.polled()

    GatheringSelector._poll = poll  # type: ignore[method-assign]

    handle_run = asyncio.events.Handle._run

    def run(self):  # type: ignore[no-untyped-def]
        started = time.perf_counter_ns()
        try:
            handle_run(self)
        finally:
            name = getattr(self._callback, "__qualname__", None) or type(self._callback).__name__
            log.spent[name] += time.perf_counter_ns() - started

    asyncio.events.Handle._run = run  # type: ignore[method-assign]

    for piece in ("_derive_oldest", "_commit_piece"):
        original = getattr(SampleWriter, piece)

        def timed(self, original=original, piece=piece):  # type: ignore[no-untyped-def]
            started = time.perf_counter_ns()
            try:
                original(self)
            finally:
                log.spent[f"writer.{piece.lstrip('_')}"] += time.perf_counter_ns() - started

        setattr(SampleWriter, piece, timed)

    collection_started = [0]

    def collection(phase: str, info: dict) -> None:
        if phase == "start":
            collection_started[0] = time.perf_counter_ns()
        else:
            log.spent[f"collection, generation {info['generation']}"] += time.perf_counter_ns() - collection_started[0]

    gc.callbacks.append(collection)

    selector_init = GatheringSelector.__init__

    def init(self, **options):  # type: ignore[no-untyped-def]
        selector_init(self, **options)
        sleep = self._sleep

        def timed_sleep(seconds: float) -> None:  # the gap's sleep: its wall time, and any CPU the thread used in it
            started, cpu_started = time.perf_counter_ns(), time.thread_time_ns()
            try:
                sleep(seconds)
            finally:
                log.spent["selector sleep"] += time.perf_counter_ns() - started
                log.spent["selector sleep, CPU"] += time.thread_time_ns() - cpu_started

        self._sleep = timed_sleep

    GatheringSelector.__init__ = init  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--longer-than", type=float, default=8.0, help="milliseconds without a poll to report")
    args = parser.parse_args()

    import anyio

    from probe.job import run_job
    from probe.model import PlannedRequest, Target, Timeouts
    from probe.runner import run_plan
    from probe.sim.process import spawn_sim_process
    from probe.store import Store
    from probe.tokens import load_encoding

    load_encoding("o200k_base")
    log = StallLog(round(args.longer_than * 1e6))
    with spawn_sim_process("bench", seed=1) as sim, tempfile.TemporaryDirectory() as tmp:
        target = Target(base_url=sim.base_url, model_id="bench-1tok", auth="none")
        timeouts = Timeouts(connect_s=30, first_byte_s=60, stall_s=30, total_s=120)
        plan = [PlannedRequest(provider="sim", model="bench-1tok", api="openai-chat", target=target,
                               prompt=f"request {i}", max_tokens=100, timeouts=timeouts)
                for i in range(args.streams * args.rounds)]
        warm_up = [PlannedRequest(provider="sim", model="bench-1tok", api="openai-chat", target=target,
                                  prompt="warm-up", max_tokens=5, timeouts=timeouts)]
        anyio.run(lambda: run_plan(warm_up, lambda request, record: None, concurrency=1))
        db = Path(tmp) / "bench.db"
        with Store.open(db):
            pass
        sim.reset()
        instrument(log)
        log.run_started_ns = time.perf_counter_ns()
        run_job(plan, db, concurrency=args.streams, command="bench")

    print(f"{args.streams} streams, {len(plan)} requests: {len(log.stalls)} stretches of more than "
          f"{args.longer_than:g} ms without a poll")
    print(f"{'at ms':>7} {'wall ms':>8} {'CPU ms':>7} {'queued ms':>9} {'steal':>5}  what took the time (ms)")
    for at, wall, cpu, queued, steal, top in log.stalls:
        spent = ", ".join(f"{name} {ms:.1f}" for name, ms in top)
        print(f"{at:7.0f} {wall:8.1f} {cpu:7.1f} {queued:9.1f} {steal:5d}  {spent}")


if __name__ == "__main__":
    sys.exit(main())
