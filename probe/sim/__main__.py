"""``python -m probe.sim``: run the simulated provider in its own process until SIGTERM or SIGINT.

Prints exactly one JSON line on stdout once listening (``{"port", "base_url", "pid", ...}``), which is how
``probe.sim.process.spawn_sim_process`` learns the ephemeral port. The API key, if any, is read from the
environment variable named by ``--api-key-env`` so it never appears in a process listing.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import signal
import sys

from probe.sim.profiles import PROFILE_SETS
from probe.sim.server import DEFAULT_MAX_RECORDS, Simulator, listening, new_event_loop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m probe.sim", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one (default)")
    parser.add_argument("--profile-set", default="demo", choices=sorted(PROFILE_SETS), help="named model profiles")
    parser.add_argument("--seed", type=int, default=0, help="server seed for requests that send no seed")
    parser.add_argument("--api-key-env", metavar="VAR", help="require the key in $VAR, sent in each dialect's own header")
    parser.add_argument("--max-records", type=int, default=DEFAULT_MAX_RECORDS, help="records kept in memory")
    args = parser.parse_args(argv)

    api_key = None
    if args.api_key_env:
        api_key = os.environ.get(args.api_key_env)
        if not api_key:
            parser.error(f"--api-key-env: environment variable {args.api_key_env} is not set")
    simulator = Simulator(
        PROFILE_SETS[args.profile_set], seed=args.seed, api_key=api_key, max_records=args.max_records
    )
    loop = new_event_loop()
    try:
        loop.run_until_complete(_serve(simulator, args.host, args.port, args.profile_set))
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    return 0


async def _serve(simulator: Simulator, host: str, port: int, profile_set: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with listening(simulator, host, port) as bound_port:
        line = {
            "host": host,
            "port": bound_port,
            "base_url": f"http://{host}:{bound_port}/v1",
            "pid": os.getpid(),
            "profile_set": profile_set,
            "models": sorted(PROFILE_SETS[profile_set]),
        }
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()
        # Everything made so far (imports, profiles, the listening socket) lives as long as the process: out of the
        # collector's sight, a full collection no longer walks it. Those walks paused the pacer: the simulator's
        # lateness p99 at 256 streams was 10-17 ms; frozen, 0.3-4.5 ms in each of 30-odd bench/accuracy.py runs.
        gc.freeze()
        await stop.wait()


if __name__ == "__main__":
    sys.exit(main())
