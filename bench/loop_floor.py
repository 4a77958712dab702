"""What the event loop alone costs: client CPU per 1,000 chunks for a client that does nothing but stamp reads.

The same workload as ``accuracy.py`` (the simulator in its own process, 200 ms to first token, one token every
10 ms, 100 tokens, two requests per stream over keep-alive), read by a bare asyncio protocol that only reads the
clock and appends ``(t, bytes)``: no httpx, no parsing, no SQLite. Three ways of reading, each in a fresh process:

- ``plain``: an ``asyncio.Protocol``. asyncio ``recv``s a new 256 KiB ``bytes`` per read, which glibc serves with
  mmap, mremap and munmap (three system calls and a page fault per read) unless something else in the process
  happened to raise glibc's mmap threshold first.
- ``buffered``: an ``asyncio.BufferedProtocol`` reading into one buffer it owns, as ``probe.transport`` does.
- ``gathered``: the same, on probe's event loop (``probe.eventloop``), which polls at most once every 2 ms
  while reads come fast (3 ms with 64 or more sockets registered).

Also prints the simulator's CPU per event (Linux), to show how much of the second core the server needs.

    .venv/bin/python bench/loop_floor.py [--levels 1,16,64,256]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROUNDS = 2
TOKENS = 100
LAST_CHUNK = b"0\r\n\r\n"


class StampOnly(asyncio.Protocol):
    """Stamps and keeps every read of one response; the response ends with the chunked terminator."""

    def __init__(self) -> None:
        self.reads: list[tuple[int, bytes]] = []
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def expect_response(self) -> None:
        self.reads = []
        self.done = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.reads.append((time.perf_counter_ns(), data))
        if data.endswith(LAST_CHUNK) and not self.done.done():
            self.done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(ConnectionError("closed before the end of the response"))


class BufferedStampOnly(StampOnly, asyncio.BufferedProtocol):
    """The same, reading into one buffer shared by every connection (the loop fills and hands it over in turn)."""

    buffer = memoryview(bytearray(256 * 1024))

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        now = time.perf_counter_ns()
        data = bytes(self.buffer[:nbytes])
        self.reads.append((now, data))
        if data.endswith(LAST_CHUNK) and not self.done.done():
            self.done.set_result(None)


MODES = ("plain", "buffered", "gathered")


def request_bytes(base_url: str) -> bytes:
    """The request probe's openai-chat dialect sends for the benchmark model, serialised by hand."""
    from probe.dialects import get_dialect
    from probe.model import Target

    request = get_dialect("openai-chat").build_request(
        Target(base_url=base_url, model_id="bench-1tok", auth="none"), "request", TOKENS
    )
    url = urlsplit(request.url)
    head = [f"{request.method} {url.path} HTTP/1.1", f"Host: {url.netloc}", f"Content-Length: {len(request.body)}"]
    head += [f"{name}: {value}" for name, value in request.headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + request.body


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU of another process, from /proc (Linux only)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_level(streams: int, mode: str) -> dict:
    from probe.eventloop import new_event_loop
    from probe.sim.process import spawn_sim_process

    protocol_class = StampOnly if mode == "plain" else BufferedStampOnly

    with spawn_sim_process("bench", seed=1) as sim:
        url = urlsplit(sim.base_url)
        message = request_bytes(sim.base_url)

        async def stream(rounds: int) -> int:
            loop = asyncio.get_running_loop()
            transport, protocol = await loop.create_connection(protocol_class, url.hostname, url.port)
            reads = 0
            for _ in range(rounds):
                protocol.expect_response()
                transport.write(message)
                await protocol.done
                reads += len(protocol.reads)
            transport.close()
            return reads

        async def measure() -> dict:
            await stream(1)  # imports, first connection
            sim.reset()
            sim_cpu_before, cpu_before = process_cpu_s(sim.pid), time.process_time()
            reads = await asyncio.gather(*(stream(ROUNDS) for _ in range(streams)))
            cpu_s = time.process_time() - cpu_before
            sim_cpu_after = process_cpu_s(sim.pid)
            events = sum(len(r.events) for r in sim.records())
            chunks = streams * ROUNDS * TOKENS
            return {
                "streams": streams,
                "cpu_ms_per_1k_chunks": cpu_s * 1e6 / chunks,
                "reads_per_request": sum(reads) / (streams * ROUNDS),
                "sim_cpu_ms_per_1k_events": (sim_cpu_after - sim_cpu_before) * 1e6 / events
                if sim_cpu_before is not None and sim_cpu_after is not None and events
                else None,
                "sim_late_p99_ms": sim.lateness(("answer",)).p99_ms,
            }

        loop = new_event_loop() if mode == "gathered" else asyncio.new_event_loop()
        try:
            return loop.run_until_complete(measure())
        finally:
            loop.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default="1,16,64,256")
    parser.add_argument("--level", type=int, help=argparse.SUPPRESS)  # internal: run one level in this process
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.level is not None:
        print(json.dumps(run_level(args.level, args.mode)))
        return
    print("bare asyncio client (stamp + append only) against the simulator in its own process")
    print(f"{'streams':>7} {'reading':>9} {'CPU/1k chunks':>13} {'reads/request':>13} {'sim CPU/1k events':>17} "
          f"{'sim late p99':>12}")
    for level in (int(x) for x in args.levels.split(",")):
        for mode in MODES:
            out = subprocess.run([sys.executable, __file__, "--level", str(level), "--mode", mode],
                                 capture_output=True, text=True, check=False)
            if out.returncode != 0:
                print(f"{level:>7} {mode:>9} failed: {out.stderr.strip()[-400:]}")
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            sim_cpu = (f"{r['sim_cpu_ms_per_1k_events']:.1f} ms" if r["sim_cpu_ms_per_1k_events"] is not None
                       else "n/a")
            print(f"{level:>7} {mode:>9} {r['cpu_ms_per_1k_chunks']:>10.1f} ms {r['reads_per_request']:>13.1f} "
                  f"{sim_cpu:>17} {r['sim_late_p99_ms']:>9.2f} ms")


if __name__ == "__main__":
    main()
