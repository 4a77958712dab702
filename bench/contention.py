"""Emulated steal: CPU thieves that take each CPU away from everything else, as a busy hypervisor does.

One process per CPU, pinned to it at real-time priority (SCHED_FIFO 50, above the simulator's SCHED_RR 1), is busy
for ``busy_ms`` at a time, dirtying a 16 MiB buffer so the caches are cold when the CPU comes back, then idle for a
random stretch (exponential, mean ``period_ms - busy_ms``). Between them they take about ``busy_ms / period_ms`` of
the machine. Where steal on a shared VM cannot be ordered up, this asks how the figures of ``accuracy.py`` hold when
a CPU vanishes for a few milliseconds, the client and the simulator alike (``accuracy.py --steal 8/40``).

A thief busy for longer than the workload's 10 ms between chunks leaves two chunks of a stream in the kernel's
receive queue, which joins them into one read: no reader can tell their arrivals apart after that.

Setting SCHED_FIFO needs root (or CAP_SYS_NICE): without it each thief says so and exits, ``CpuThieves.refused``
is true, and ``accuracy.py`` stops rather than print figures taken without the steal it was asked for.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass, field

BUFFER_BYTES = 16 << 20


@dataclass
class CpuThieves:
    """A running set of thieves, one per CPU; a context manager that stops them on exit."""

    busy_ms: float
    period_ms: float
    refused: bool = False
    _processes: list[subprocess.Popen[bytes]] = field(default_factory=list, repr=False)

    def __enter__(self) -> CpuThieves:
        for cpu in sorted(os.sched_getaffinity(0)):
            process = subprocess.Popen(
                [sys.executable, __file__, "--cpu", str(cpu), "--busy-ms", str(self.busy_ms),
                 "--period-ms", str(self.period_ms)],
                stdout=subprocess.PIPE,
            )
            self._processes.append(process)
        for process in self._processes:  # each says whether it got its priority before it starts stealing
            assert process.stdout is not None
            self.refused |= process.stdout.readline().strip() != b"stealing"
        return self

    def __exit__(self, *exc_info: object) -> None:
        for process in self._processes:
            process.terminate()
        for process in self._processes:
            process.wait()
            if process.stdout is not None:
                process.stdout.close()


def parse_steal(text: str) -> tuple[float, float]:
    """``"8/40"`` → (8.0, 40.0): busy milliseconds out of a mean period, busy shorter than the period."""
    try:
        busy, period = (float(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected BUSY_MS/PERIOD_MS such as 8/40, got {text!r}") from None
    if not 0 < busy < period < math.inf:
        raise argparse.ArgumentTypeError(f"busy time must be above 0 and below a finite period, got {text!r}")
    return busy, period


def _steal(cpu: int, busy_ms: float, period_ms: float) -> None:
    os.sched_setaffinity(0, {cpu})
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(50))
    except OSError:
        print("refused", flush=True)
        return
    print("stealing", flush=True)
    buffer = bytearray(BUFFER_BYTES)
    page = b"x" * 4096
    rng = random.Random(cpu)
    idle_mean_s = (period_ms - busy_ms) / 1000
    while True:
        time.sleep(rng.expovariate(1 / idle_mean_s))
        end = time.perf_counter() + busy_ms / 1000
        offset = 0
        while time.perf_counter() < end:
            buffer[offset:offset + 4096] = page
            offset = (offset + 262_144 + 4096) % (BUFFER_BYTES - 4096)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", type=int, required=True)
    parser.add_argument("--busy-ms", type=float, required=True)
    parser.add_argument("--period-ms", type=float, required=True)
    args = parser.parse_args()
    _steal(args.cpu, args.busy_ms, args.period_ms)
