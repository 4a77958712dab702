"""How fast the results store writes and reads: prints figures, never passes or fails.

    .venv/bin/python bench/store.py [--samples 200000] [--batch 500] [--trace-events 100]

Writes synthetic samples (time-ordered ids as probe makes them, 9 in 10 ok with a trace of ``--trace-events`` events, the rest
errors without one) in batches, as the runner does, then reads them back in full scans.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

from probe.ids import new_id
from probe.model import ChunkTrace, Sample
from probe.store import Store

MODELS = [
    ("openai", "gpt-4o-mini"),
    ("openai", "gpt-4.1"),
    ("anthropic", "claude-sonnet-4"),
    ("anthropic", "claude-haiku-3.5"),
    ("google", "gemini-2.5-flash"),
    ("google", "gemini-2.5-pro"),
    ("mistral", "mistral-large"),
    ("mistral", "mistral-small"),
]


def synthetic_samples(count: int, trace_events: int, seed: int = 1) -> list[Sample]:
    """Plausible samples, started one every 50 ms, so indexes see realistic key order."""
    rng = random.Random(seed)
    run_id = new_id()
    start = datetime(2025, 6, 1, tzinfo=timezone.utc)
    samples = []
    for i in range(count):
        provider, model = MODELS[i % len(MODELS)]
        started_at = (start + timedelta(milliseconds=50 * i)).isoformat(timespec="milliseconds")
        sample_id = new_id()  # time-ordered, as the writer makes them
        if i % 10 == 9:
            samples.append(
                Sample(sample_id, run_id, provider, model, "chat", started_at, "error",
                       error_kind="server", error_message="HTTP 503", http_status=503, ttfb_s=0.2, e2e_s=0.2)
            )
            continue
        ttft = 0.2 + rng.random()
        offsets = tuple(int((ttft + 0.02 * k) * 1_000_000) for k in range(trace_events))
        samples.append(
            Sample(
                sample_id, run_id, provider, model, "chat", started_at, "ok",
                http_status=200, ttfb_s=ttft - 0.05, ttft_s=ttft, ttfat_s=ttft, e2e_s=ttft + 0.02 * trace_events,
                input_tokens=120, output_tokens=trace_events, tokens_source="usage", output_tps=50.0,
                finish_reason="stop", chunk_count=trace_events, read_count=trace_events,
                trace=ChunkTrace(offsets, (1,) * trace_events, "a" * trace_events),
            )
        )  # fmt: skip
    return samples


def timed(label: str, count: int, work: Callable[[], object]) -> float:
    """Run ``work`` once and print ``count`` per second."""
    start = time.perf_counter()
    work()
    elapsed = time.perf_counter() - start
    print(f"{label:<44} {count / elapsed:>12,.0f} samples/s  ({elapsed:.2f} s)")
    return elapsed


def batches(samples: list[Sample], size: int) -> Iterator[list[Sample]]:
    for i in range(0, len(samples), size):
        yield samples[i : i + size]


def insert_all(store: Store, samples: list[Sample], batch: int) -> None:
    for chunk in batches(samples, batch):
        store.insert_samples(chunk)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--trace-events", type=int, default=100)
    args = parser.parse_args()

    with_traces = synthetic_samples(args.samples, args.trace_events)
    without_traces = synthetic_samples(args.samples, 0, seed=2)
    print(f"{args.samples:,} samples in batches of {args.batch}, ok samples with {args.trace_events} trace events")

    with tempfile.TemporaryDirectory() as tmp:
        with Store.open(Path(tmp) / "no-traces.db") as store:
            timed("insert, samples without traces", args.samples, lambda: insert_all(store, without_traces, args.batch))

        path = Path(tmp) / "results.db"
        with Store.open(path) as store:
            timed("insert, with traces", args.samples, lambda: insert_all(store, with_traces, args.batch))
            timed("insert again, all duplicates (ignored)", args.samples,
                  lambda: insert_all(store, with_traces, args.batch))  # fmt: skip
        size_mb = sum(p.stat().st_size for p in Path(tmp).glob("results.db*")) / 1e6

        with Store.open(path) as store:
            timed("full scan, iter_samples()", args.samples, lambda: sum(1 for _ in store.iter_samples()))
            timed("full scan, iter_samples(with_trace=True)", args.samples,
                  lambda: sum(1 for _ in store.iter_samples(with_trace=True)))  # fmt: skip
            one_model = store.count_samples(models=[MODELS[0][1]])
            timed(f"one model, iter_samples(models=[...]) ({one_model:,})", one_model,
                  lambda: sum(1 for _ in store.iter_samples(models=[MODELS[0][1]])))  # fmt: skip
            timed("summary_rows()", args.samples, store.summary_rows)
        print(f"{'database size with traces':<44} {size_mb:>12,.0f} MB")


if __name__ == "__main__":
    main()
