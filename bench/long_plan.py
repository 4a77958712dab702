"""What a long plan costs beyond its streams: client CPU per request, RSS growth and the collector's pauses.

A cron run can plan thousands of requests (50 models x 10 providers x 16 samples is 8,000). Anything the runner
keeps per *planned* request (rather than per request in flight) grows with that number, and so do the collector's
full collections, which hold the GIL while streams are in flight. This runs ``--requests`` short requests
(two tokens each, 200 ms to first token) through ``probe.job.run_job`` at ``--concurrency`` against the simulator
in its own process, and prints the figures. It passes or fails nothing. With ``--input-tokens`` each prompt is
made to that length as a workload's are (10,000 for the 10k workload), to see what long prompts cost a long plan.

    .venv/bin/python bench/long_plan.py [--requests 8000] [--concurrency 64] [--input-tokens 10000]
"""

from __future__ import annotations

import argparse
import gc
import resource
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=8000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--input-tokens", type=int, default=None,
                        help="prompts of exactly this many tokens, made as `probe run --workload` makes them "
                             "(default: a short prompt each)")
    args = parser.parse_args()

    from probe.job import run_job
    from probe.model import PlannedRequest, Target, Timeouts
    from probe.sim.process import spawn_sim_process
    from probe.store import Store
    from probe.tokens import load_encoding
    from probe.workload import PromptMaker

    maker = PromptMaker(load_encoding("o200k_base"))
    pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
    started = [0.0]

    def on_collection(phase: str, info: dict) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            pauses[info["generation"]].append(time.perf_counter() - started[0])

    with spawn_sim_process("bench", seed=1) as sim, tempfile.TemporaryDirectory() as tmp:
        target = Target(base_url=sim.base_url, model_id="bench-1tok", auth="none")
        timeouts = Timeouts(connect_s=30, first_byte_s=60, stall_s=30, total_s=120)
        plan = [
            PlannedRequest(provider="sim", model="bench-1tok", api="openai-chat", target=target,
                           prompt=f"request {i}" if args.input_tokens is None else maker.fitted(args.input_tokens, f"{i:08x}"),
                           max_tokens=2, timeouts=timeouts, input_tokens=args.input_tokens)
            for i in range(args.requests)
        ]
        db = Path(tmp) / "bench.db"
        with Store.open(db):  # created and migrated outside the measured window
            pass
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        gc.callbacks.append(on_collection)
        cpu_before, wall_before = time.process_time(), time.perf_counter()
        run_job(plan, db, concurrency=args.concurrency, command="bench")
        cpu_s, wall_s = time.process_time() - cpu_before, time.perf_counter() - wall_before
        gc.callbacks.remove(on_collection)
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    print(f"{args.requests} requests at {args.concurrency} streams in {wall_s:.1f} s")
    print(f"client CPU per request   {cpu_s * 1e6 / args.requests:.0f} us")
    print(f"peak RSS                 {rss_before / 1024:.0f} -> {rss_after / 1024:.0f} MB")
    for generation, durations in pauses.items():
        longest = max(durations, default=0.0)
        print(f"generation {generation} collections {len(durations):4d}, longest {longest * 1000:5.1f} ms, "
              f"total {sum(durations) * 1000:5.0f} ms")


if __name__ == "__main__":
    main()
