"""How long the CLI takes to start: `probe --help` and `probe providers`, median and best of N fresh processes.

Heavy modules (httpx, anyio, sqlite-utils, tiktoken, genai-prices) are imported inside the commands that need
them, so these two stay fast. Target: <= 0.3 s each.

    .venv/bin/python bench/startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIG = """
[[providers]]
name = "openai"
api = "openai-chat"
base_url = "https://api.openai.com/v1"
api_key_env = "OPENAI_API_KEY"
[providers.models]
"gpt-4.1-mini" = "gpt-4.1-mini"
"""


def time_command(argv: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "providers.toml"
        config.write_text(CONFIG)
        commands = {
            "python -c pass (floor)": [sys.executable, "-c", "pass"],
            "probe --help": [sys.executable, "-m", "probe", "--help"],
            "probe providers": [sys.executable, "-m", "probe", "providers", "--config", str(config)],
        }
        print(f"{'command':<24} {'median':>8} {'best':>8}   ({args.runs} fresh processes each)")
        for name, argv in commands.items():
            times = time_command(argv, args.runs)
            print(f"{name:<24} {statistics.median(times):>7.3f}s {min(times):>7.3f}s")


if __name__ == "__main__":
    main()
