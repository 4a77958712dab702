"""How far probe's own overhead moves its numbers: TTFT and decode-speed error against the simulator's record.

For 1, 16, 64 and 256 concurrent streams (200 ms to first token, one token every 10 ms, 100 tokens), each level
runs in a fresh process through the production path (``probe.job.run_job``: runner -> client -> derivation in
the loop's idle time -> commits to SQLite there too) against a simulator in its own process, and prints: TTFT error p50/p99 (probe's arrival stamp minus the simulator's write
time of the same bytes), decode-speed error p99, client CPU per 1,000 streamed chunks, peak RSS, and the
simulator's own lateness on the token events being measured. A level whose simulator was late (p99 over 10 ms,
one inter-chunk gap: the stream it sent was no longer the workload asked for) is reported as such, without a
client figure. Each level names the targets of issue 7 its figures miss, if any.

With ``--repeat N`` the whole set runs N times, then a summary gives each level's range of figures over the runs,
how many runs missed a target, and CPU per 1,000 chunks by the steal the runs saw: on a shared virtual machine
one run says little, and the CPU figure rises with the time other guests take.

    .venv/bin/python bench/accuracy.py [--levels 1,16,64,256] [--api openai-chat|...|all] [--model bench-1tok]
                                       [--loop probe|asyncio|uvloop] [--repeat N] [--steal BUSY/PERIOD]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

def cpu_ticks() -> tuple[int, int] | None:
    """(steal, all) ticks of the machine's CPUs since boot (Linux ``/proc/stat``); ``None`` elsewhere. Steal is time
    the hypervisor gave the virtual CPUs to someone else: this benchmark's CPU figures rise with it (other guests
    evict the caches), so each level prints the share it saw."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = [int(x) for x in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return (fields[7] if len(fields) > 7 else 0), sum(fields)


SERVER_LATE_P99_MS = 10.0  # one inter-chunk gap: later than that, the chunk cadence is not the workload asked for
ROUNDS = {1: 10, 16: 3, 64: 2, 256: 2}
APIS = ("openai-chat", "openai-responses", "anthropic-messages", "gemini")


@dataclass(frozen=True)
class Targets:
    """Issue 7's targets for one concurrency level; ``None`` where the issue sets none."""

    ttft_error_p99_ms: float
    decode_error_p99_pct: float
    cpu_ms_per_1k_chunks: float | None = None
    peak_rss_mb: float | None = None


TARGETS = {
    1: Targets(ttft_error_p99_ms=2, decode_error_p99_pct=1),
    16: Targets(ttft_error_p99_ms=3, decode_error_p99_pct=1),
    64: Targets(ttft_error_p99_ms=4, decode_error_p99_pct=1, cpu_ms_per_1k_chunks=40),
    256: Targets(ttft_error_p99_ms=25, decode_error_p99_pct=3, cpu_ms_per_1k_chunks=40, peak_rss_mb=150),
}
STEAL_BANDS = ((0, 2), (3, 6), (7, 10), (11, 100))
"""Steal shares (%, rounded) by which the summary groups CPU figures."""


def missed_targets(level: dict) -> list[str]:
    """What a level's figures miss of its targets, as text (empty when it meets them all, or has none). A level
    whose simulator was late has no client figure to judge; a failed request, or a level whose process failed, is a
    miss in itself."""
    if level.get("crashed"):
        return ["the level's process failed"]
    targets = TARGETS.get(level["streams"])
    if targets is None or server_was_late(level):
        return []
    misses = [f"{level['failures']} requests failed"] if level["failures"] else []
    checks = (
        ("TTFT error p99", level["ttft_error_p99_ms"], targets.ttft_error_p99_ms, "ms"),
        ("decode error p99", level["decode_error_p99_pct"], targets.decode_error_p99_pct, "%"),
        ("CPU/1k chunks", level["cpu_ms_per_1k_chunks"], targets.cpu_ms_per_1k_chunks, "ms"),
        ("peak RSS", level["peak_rss_mb"], targets.peak_rss_mb, "MB"),
    )
    for name, figure, limit, unit in checks:
        if limit is not None and (figure is None or figure > limit):
            shown = "none" if figure is None else f"{figure:.3f}"
            misses.append(f"{name} {shown} > {limit:g} {unit}")
    return misses


def server_was_late(level: dict) -> bool:
    return not level.get("crashed") and level["server_lateness_p99_ms"] > SERVER_LATE_P99_MS


def gave_a_figure(level: dict) -> bool:
    """The level ran, and its simulator kept to the workload: its client figures stand."""
    return not level.get("crashed") and not server_was_late(level)


def run_level(streams: int, model: str, loop: str, api: str) -> dict:
    """One concurrency level, in this process: returns the figures as a dict."""
    import anyio

    from probe.derive import derive_sample
    from probe.dialects import get_dialect
    from probe.job import run_job
    from probe.model import PlannedRequest, Target, Timeouts
    from probe.runner import run_plan
    from probe.sim.process import spawn_sim_process
    from probe.sim.records import lateness_summary
    from probe.stats import percentile
    from probe.store import Store
    from probe.tokens import load_encoding
    from probe.writer import SampleWriter

    counter = load_encoding("o200k_base")
    total = streams * ROUNDS.get(streams, 2)
    with spawn_sim_process("bench", seed=1) as sim, tempfile.TemporaryDirectory() as tmp:
        dialect = get_dialect(api)
        target = Target(base_url=sim.base_url, model_id=model, auth="none")  # the simulator routes by path suffix
        timeouts = Timeouts(connect_s=30, first_byte_s=60, stall_s=30, total_s=120)
        plan = [
            PlannedRequest(provider="sim", model=model, api=api, target=target, prompt=f"request {i}",
                           max_tokens=100, timeouts=timeouts)
            for i in range(total)
        ]
        db = Path(tmp) / "bench.db"
        warm_up = [PlannedRequest(provider="sim", model=model, api=api, target=target, prompt="warm-up",
                                  max_tokens=5, timeouts=timeouts)]
        anyio.run(lambda: run_plan(warm_up, lambda request, record: None, concurrency=1),  # imports, first connection
                  backend_options={"use_uvloop": loop == "uvloop"})
        sim.reset()
        exchanges = []
        if loop == "probe":  # the production path, as `probe run` takes it
            with Store.open(db):  # create and migrate the database outside the measured window (~50 ms of CPU)
                pass
            ticks_before, cpu_before, wall_before = cpu_ticks(), time.process_time(), time.perf_counter()
            run_job(plan, db, concurrency=streams, command="bench",
                    on_derived=lambda request, record, sample: exchanges.append((request, record)))
        else:  # for comparison: the design before probe's loop, derivation on the writer thread
            with Store.open(db) as store:
                run_id = store.begin_run(host="bench", region=None, probe_version="bench", config_hash="",
                                         command="bench", samples_planned=total)
            writer = SampleWriter(db, run_id, {model: counter})
            ticks_before, cpu_before, wall_before = cpu_ticks(), time.process_time(), time.perf_counter()

            def sink(request, record):
                exchanges.append((request, record))
                writer.submit(request, record)

            with writer:
                sys.setswitchinterval(0.0005)
                anyio.run(lambda: run_plan(plan, sink, concurrency=streams),
                          backend_options={"use_uvloop": loop == "uvloop"})
        cpu_s, wall_s = time.process_time() - cpu_before, time.perf_counter() - wall_before
        ticks_after = cpu_ticks()
        peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        records = {r.request_id: r for r in sim.records()}

    ttft_errors_ms, speed_errors, chunks, failures = [], [], 0, 0
    for request, record in exchanges:
        sample = derive_sample(record, request, dialect, counter, sample_id="x", run_id="x")
        sent = records.get(record.request_id)
        if sample.status != "ok" or sent is None or sent.first_token is None:
            failures += 1
            continue
        chunks += sample.chunk_count or 0
        first_arrival_ns = record.started_ns + round(sample.ttft_s * 1e9)
        ttft_errors_ms.append((first_arrival_ns - sent.first_token.write_ns) / 1e6)
        token_events = [e for e in sent.events if e.n_tokens]
        true_tps = sum(e.n_tokens for e in token_events[1:]) * 1e9 / (token_events[-1].write_ns - token_events[0].write_ns)
        speed_errors.append(abs(sample.output_tps - true_tps) / true_tps * 100)
    lateness = lateness_summary(records.values(), kinds=("answer", "reasoning"))  # the events measured
    return {
        "streams": streams,
        "requests": total,
        "failures": failures,
        "ttft_error_p50_ms": percentile(ttft_errors_ms, 50),
        "ttft_error_p99_ms": percentile(ttft_errors_ms, 99),
        "decode_error_p99_pct": percentile(speed_errors, 99),
        "cpu_ms_per_1k_chunks": cpu_s * 1000 / (chunks / 1000) if chunks else None,
        "chunks": chunks,
        "wall_s": wall_s,
        "peak_rss_mb": peak_rss_mb,
        "server_lateness_p50_ms": lateness.p50_ms,
        "server_lateness_p99_ms": lateness.p99_ms,
        "server_priority": sim.priority,  # "SCHED_RR", "nice -10", or None when the OS refused both
        "steal_pct": (100 * (ticks_after[0] - ticks_before[0]) / max(1, ticks_after[1] - ticks_before[1])
                      if ticks_before and ticks_after else None),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default="1,16,64,256")
    parser.add_argument("--model", default="bench-1tok", choices=["bench-1tok", "bench-3tok"])
    parser.add_argument("--loop", default="probe", choices=["probe", "asyncio", "uvloop"],
                        help="event loop: probe's own (reads gathered, derivation in idle time; what `probe run` uses), "
                             "plain asyncio with derivation on the writer thread, or uvloop (if installed), for comparison")
    parser.add_argument("--api", default="openai-chat", choices=[*APIS, "all"], help="wire dialect (all: each in turn)")
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="run the whole set N times, then print a summary over the runs (default: once, no summary)")
    from contention import parse_steal  # beside this script
    parser.add_argument("--steal", type=parse_steal, metavar="BUSY/PERIOD",
                        help="emulated steal while each level runs: a thief per CPU at real-time priority, busy BUSY ms "
                             "out of every PERIOD ms on average (e.g. 8/40); see bench/contention.py (needs root)")
    parser.add_argument("--level", type=int, help=argparse.SUPPRESS)  # internal: run one level in this process
    args = parser.parse_args()
    if args.level is not None:
        print(json.dumps(run_level(args.level, args.model, args.loop, args.api)))
        return
    apis = APIS if args.api == "all" else (args.api,)
    levels: list[dict] = []
    for _ in range(args.repeat):
        for api in apis:
            levels += print_levels(args, api)
    if args.repeat > 1:
        print()
        print("\n".join(summary(levels, apis, args.repeat)))


def print_levels(args: argparse.Namespace, api: str) -> list[dict]:
    """Run and print each level for ``api``; returns the levels' figures (those that ran)."""
    thieves = f", CPU thieves busy {args.steal[0]:g} ms of every {args.steal[1]:g}" if args.steal else ""
    print(f"probe accuracy benchmark: {api}, model profile {args.model}, {args.loop} event loop, simulator in its own process"
          + thieves)
    header = f"{'streams':>7} {'reqs':>5} {'TTFT err p50':>12} {'p99':>8} {'decode err p99':>14} {'CPU/1k chunks':>13} {'peak RSS':>9} {'server late p50/p99':>20} {'steal':>6}"
    print(header)
    levels = []
    for level in (int(x) for x in args.levels.split(",")):
        with _thieves(args.steal):
            out = subprocess.run([sys.executable, __file__, "--level", str(level), "--model", args.model,
                                  "--loop", args.loop, "--api", api],
                                 capture_output=True, text=True, check=False)
        if out.returncode != 0:
            print(f"{level:>7} failed: {out.stderr.strip()[-400:]}")
            levels.append({"streams": level, "crashed": True})
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        levels.append(r)
        late = f"{r['server_lateness_p50_ms']:.2f}/{r['server_lateness_p99_ms']:.2f} ms"
        steal = "–" if r.get("steal_pct") is None else f"{r['steal_pct']:.0f} %"
        if server_was_late(r):
            print(f"{level:>7} {r['requests']:>5} {'server was late: no client figure':>52} {late:>20} {steal:>6}")
            continue
        misses = missed_targets(r)
        print(f"{level:>7} {r['requests']:>5} {r['ttft_error_p50_ms']:>9.2f} ms {r['ttft_error_p99_ms']:>5.2f} ms "
              f"{r['decode_error_p99_pct']:>12.2f} % {r['cpu_ms_per_1k_chunks']:>10.1f} ms {r['peak_rss_mb']:>6.0f} MB {late:>20}"
              f" {steal:>6}" + (f"  misses: {'; '.join(misses)}" if misses else ""))
    print(priority_line(levels))
    return levels


@contextlib.contextmanager
def _thieves(steal: tuple[float, float] | None) -> Iterator[None]:
    """CPU thieves for one level when ``--steal`` asks for them (started before the level's process, so its start-up
    is contended too), else nothing."""
    if steal is None:
        yield
        return
    from contention import CpuThieves

    with CpuThieves(*steal) as thieves:
        if thieves.refused:
            sys.exit("--steal: the thieves need real-time priority (SCHED_FIFO), which this user may not set")
        yield


def priority_line(levels: list[dict]) -> str:
    """What scheduling priority the simulator got, over the levels that ran: the issue asks for a raised one where
    the machine allows it, so that the simulator does not wait behind the client it is measuring."""
    got = sorted({level["server_priority"] or "not raised (the OS refused)" for level in levels if not level.get("crashed")})
    return f"simulator priority: {', '.join(got) if got else 'none ran'}"


def summary(levels: list[dict], apis: tuple[str, ...], repeat: int) -> list[str]:
    """Each level's figures over repeated runs: ranges, target misses, and CPU per 1,000 chunks by steal."""
    by_streams: dict[int, list[dict]] = {}
    for level in levels:
        by_streams.setdefault(level["streams"], []).append(level)
    lines = [f"Summary of {repeat} runs ({', '.join(apis)}): ranges over the levels that gave a client figure",
             f"{'streams':>7} {'levels':>6} {'TTFT err p99':>14} {'decode err p99':>15} {'CPU/1k chunks (median)':>24} "
             f"{'peak RSS':>9} {'steal':>8} {'no figure':>9} {'missed a target':>15}"]
    for streams, group in sorted(by_streams.items()):
        crashed = sum(1 for level in group if level.get("crashed"))
        measured = [level for level in group if gave_a_figure(level)]
        late = len(group) - len(measured) - crashed
        missed = crashed + sum(1 for level in measured if missed_targets(level))
        if not measured:
            lines.append(f"{streams:>7} {len(group):>6} {'no client figure':>64} {late:>9} {missed:>15}")
            continue
        ttft = _span([level["ttft_error_p99_ms"] for level in measured], 2, "ms")
        decode = _span([level["decode_error_p99_pct"] for level in measured], 2, "%")
        cpu_figures = _cpu_figures(measured)
        cpu = f"{_span(cpu_figures, 1, 'ms')} ({statistics.median(cpu_figures):.1f})" if cpu_figures else "–"
        rss = max(level["peak_rss_mb"] for level in measured)
        steal = [round(level["steal_pct"]) for level in measured if level.get("steal_pct") is not None]
        steal_span = _span(steal, 0, "%") if steal else "–"
        lines.append(f"{streams:>7} {len(group):>6} {ttft:>14} {decode:>15} {cpu:>24} {rss:>6.0f} MB {steal_span:>8} "
                     f"{late:>9} {missed:>15}")
    for streams, group in sorted(by_streams.items()):
        targets = TARGETS.get(streams)
        if targets is None or targets.cpu_ms_per_1k_chunks is None:
            continue
        bands = []
        for low, high in STEAL_BANDS:
            in_band = [level for level in group if gave_a_figure(level) and level.get("steal_pct") is not None
                       and low <= round(level["steal_pct"]) <= high]
            cpu_figures = _cpu_figures(in_band)
            if cpu_figures:
                bands.append(f"steal {low}-{high} %: {len(cpu_figures)} at {_span(cpu_figures, 1, 'ms')} "
                             f"(median {statistics.median(cpu_figures):.1f})")
        if bands:
            lines.append(f"CPU/1k chunks at {streams} streams by steal: " + "; ".join(bands))
    return lines


def _cpu_figures(levels: list[dict]) -> list[float]:
    return [level["cpu_ms_per_1k_chunks"] for level in levels if level["cpu_ms_per_1k_chunks"] is not None]


def _span(values: list[float], digits: int, unit: str) -> str:
    low, high = min(values), max(values)
    return f"{low:.{digits}f} {unit}" if low == high else f"{low:.{digits}f}-{high:.{digits}f} {unit}"


if __name__ == "__main__":
    main()
