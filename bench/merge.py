"""How long `probe merge` and `probe export` take over a big database: prints figures, never passes or fails.

Builds another machine's database in a temporary directory (the synthetic samples of ``bench/report.py``), then
times merging it into an empty database, merging it again (nothing new), and exporting every sample as CSV and as
JSON to /dev/null, with the peak memory of the export.

    .venv/bin/python bench/merge.py [--samples 1000000] [--keep DIR [--reuse]]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from report import build_database  # bench/report.py, beside this file


def timed(label: str, work) -> None:  # type: ignore[no-untyped-def]
    began = time.perf_counter()
    result = work()
    print(f"{label:<44} {time.perf_counter() - began:6.1f} s  {result or ''}")


def export(db: Path, fmt: str) -> str:
    """Run `probe export` in a child process; return its peak resident memory."""
    probe = Path(sys.executable).with_name("probe")
    with open(os.devnull, "w") as sink:
        subprocess.run([str(probe), "export", "--db", str(db), "--format", fmt], stdout=sink, check=True)
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return f"(peak memory of the children so far: {peak_kib / 1024:.0f} MB)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="build the databases here instead of a temp dir")
    parser.add_argument("--reuse", action="store_true", help="with --keep: reuse the other machine's database there")
    args = parser.parse_args()

    from probe.store import merge_into

    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        other, here = root / "other.db", root / "here.db"
        if not (args.reuse and other.exists()):
            for stale in (other, other.with_name(other.name + "-wal"), other.with_name(other.name + "-shm")):
                stale.unlink(missing_ok=True)
            build_s = build_database(other, args.samples, 50, 10)
            print(f"other machine's database: {args.samples:,} samples, built in {build_s:.1f} s "
                  f"({other.stat().st_size / 1e6:.0f} MB)")
        for stale in (here, here.with_name(here.name + "-wal"), here.with_name(here.name + "-shm")):
            stale.unlink(missing_ok=True)
        timed("merge into an empty database", lambda: dict(merge_into(here, [other])[0].added))
        timed("merge again (nothing new)", lambda: dict(merge_into(here, [other])[0].added))
        timed("export --format csv > /dev/null", lambda: export(here, "csv"))
        timed("export --format json > /dev/null", lambda: export(here, "json"))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
