"""Does spreading streams over several client processes pay? The accuracy workload, split over N processes.

``accuracy.py``'s workload (200 ms to first token, one token every 10 ms, 100 tokens, a plan twice the
concurrency) against one simulator in its own process, its streams split evenly over N client processes that each
run ``probe.job.run_job`` on their share, all starting at the same moment. Prints, per split: TTFT error p50/p99
and decode-speed error p99 against the simulator's record, client CPU per 1,000 chunks summed over the
processes, each process's peak RSS, and the simulator's lateness. It passes or fails nothing.

    .venv/bin/python bench/processes.py [--streams 256] [--processes 1,2,4]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODEL, API = "bench-1tok", "openai-chat"
READY_FILE_SUFFIX = ".ready"  # a client process has warmed up
START_FILE_SUFFIX = ".start"  # every client process may start its share


def run_share(base_url: str, streams: int, requests: int, out: str, label: str) -> None:
    """One client process: warm up, wait for the start file, run its share, write what it measured to ``out``."""
    import anyio

    from probe.derive import derive_sample
    from probe.dialects import get_dialect
    from probe.job import run_job
    from probe.model import PlannedRequest, Target, Timeouts
    from probe.runner import run_plan
    from probe.store import Store
    from probe.tokens import load_encoding

    counter = load_encoding("o200k_base")
    target = Target(base_url=base_url, model_id=MODEL, auth="none")
    timeouts = Timeouts(connect_s=30, first_byte_s=60, stall_s=30, total_s=120)

    def request(prompt: str, max_tokens: int) -> PlannedRequest:
        return PlannedRequest(provider="sim", model=MODEL, api=API, target=target, prompt=prompt, max_tokens=max_tokens,
                              timeouts=timeouts)

    anyio.run(lambda: run_plan([request("warm-up", 5)], lambda request, record: None, concurrency=1))
    Path(out + READY_FILE_SUFFIX).touch()
    exchanges = []
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        with Store.open(db):
            pass
        start = Path(out + START_FILE_SUFFIX)
        while not start.exists():
            time.sleep(0.001)
        cpu_before = time.process_time()
        run_job([request(f"{label} {i}", 100) for i in range(requests)], db, concurrency=streams, command="bench",
                on_derived=lambda request, record, sample: exchanges.append((request, record)))
        cpu_s = time.process_time() - cpu_before
    measured = []
    for planned, record in exchanges:
        sample = derive_sample(record, planned, get_dialect(API), counter, sample_id="x", run_id="x")
        if sample.status == "ok":
            first_arrival_ns = record.started_ns + round(sample.ttft_s * 1e9)
            measured.append([record.request_id, first_arrival_ns, sample.chunk_count, sample.output_tps])
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    Path(out).write_text(json.dumps({"cpu_s": cpu_s, "samples": measured, "peak_rss_mb": peak_rss_mb}))


def run_split(streams: int, processes: int) -> str:
    from probe.sim.process import spawn_sim_process
    from probe.sim.records import lateness_summary
    from probe.stats import percentile

    share = streams // processes
    with spawn_sim_process("bench", seed=1) as sim, tempfile.TemporaryDirectory() as tmp:
        outs = [f"{tmp}/share{i}.json" for i in range(processes)]
        children = [
            subprocess.Popen([sys.executable, __file__, "--share", sim.base_url, str(share), str(share * 2), out, f"p{i}"])
            for i, out in enumerate(outs)
        ]
        deadline = time.monotonic() + 60
        while not all(Path(out + READY_FILE_SUFFIX).exists() for out in outs):  # imports, tokenizer, warm-up request
            if time.monotonic() > deadline or any(child.poll() is not None for child in children):
                raise SystemExit("a client process did not get ready")
            time.sleep(0.01)
        sim.reset()
        for out in outs:
            Path(out + START_FILE_SUFFIX).touch()
        for child in children:
            child.wait()
        records = {r.request_id: r for r in sim.records()}
        lateness = lateness_summary(records.values(), kinds=("answer", "reasoning"))
        shares = [json.loads(Path(out).read_text()) for out in outs]
    ttft_errors_ms, speed_errors, chunks = [], [], 0
    for measured in shares:
        for request_id, first_arrival_ns, chunk_count, output_tps in measured["samples"]:
            sent = records.get(request_id)
            if sent is None or sent.first_token is None:
                continue
            chunks += chunk_count
            ttft_errors_ms.append((first_arrival_ns - sent.first_token.write_ns) / 1e6)
            tokens = [e for e in sent.events if e.n_tokens]
            true_tps = sum(e.n_tokens for e in tokens[1:]) * 1e9 / (tokens[-1].write_ns - tokens[0].write_ns)
            speed_errors.append(abs(output_tps - true_tps) / true_tps * 100)
    cpu_s = sum(measured["cpu_s"] for measured in shares)
    rss = "+".join(f"{measured['peak_rss_mb']:.0f}" for measured in shares)
    return (f"{streams:>7} {processes:>9} {len(ttft_errors_ms):>8} {percentile(ttft_errors_ms, 50):>9.2f} ms "
            f"{percentile(ttft_errors_ms, 99):>6.2f} ms {percentile(speed_errors, 99):>11.2f} % "
            f"{cpu_s * 1e6 / chunks:>10.1f} ms  {rss:>15} MB {lateness.p99_ms:>12.2f} ms")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--share":  # internal: one client process
        base_url, streams, requests, out, label = sys.argv[2:7]
        run_share(base_url, int(streams), int(requests), out, label)
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=256)
    parser.add_argument("--processes", default="1,2,4", help="splits to measure, e.g. 1,2,4")
    args = parser.parse_args()
    print(f"{'streams':>7} {'processes':>9} {'samples':>8} {'TTFT err p50':>12} {'p99':>9} {'decode err p99':>13} "
          f"{'CPU/1k chunks':>13} {'peak RSS each':>18} {'server late p99':>15}")
    for processes in (int(x) for x in args.processes.split(",")):
        print(run_split(args.streams, processes), flush=True)


if __name__ == "__main__":
    main()
