"""Run the simulator in its own process, so its timing does not share a GIL or an event loop with the client.

``spawn_sim_process`` starts ``python -m probe.sim``, reads the one JSON line it prints once listening, tries to
raise its scheduling priority (real-time round-robin, else a lower nice value; failure is not an error, and
``SimProcess.priority`` says what took effect) and terminates it on exit. Records come back over loopback HTTP.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import tempfile
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from probe.sim.profiles import EventKind
from probe.sim.records import LatenessSummary, RequestRecord, lateness_summary

_KEY_ENV = "PROBE_SIM_API_KEY"


class SimStartError(RuntimeError):
    """The simulator process exited or stayed silent instead of announcing its port."""


@dataclass
class SimProcess:
    """A running ``python -m probe.sim``: where it listens, what priority it got, and its records."""

    pid: int
    host: str
    port: int
    priority: str | None  # "SCHED_RR" or "nice -10" when raised, None when the OS refused
    _http: httpx.Client = field(repr=False)

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL, ending in ``/v1``."""
        return f"http://{self.host}:{self.port}/v1"

    def records(self, since: int = 0) -> list[RequestRecord]:
        """Finished requests with ``seq > since``, fetched from ``GET /_sim/records``."""
        response = self._http.get("/_sim/records", params={"since": since})
        response.raise_for_status()
        return [RequestRecord.from_json(item) for item in response.json()]

    def reset(self) -> int:
        """Clear the server's records; returns how many were dropped."""
        response = self._http.post("/_sim/reset")
        response.raise_for_status()
        dropped: int = response.json()["dropped"]
        return dropped

    def lateness(self, kinds: Collection[EventKind] | None = None) -> LatenessSummary:
        return lateness_summary(self.records(), kinds)


@contextmanager
def spawn_sim_process(
    profile_set: str = "demo",
    *,
    seed: int = 0,
    api_key: str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    raise_priority: bool = True,
    startup_timeout_s: float = 15.0,
) -> Iterator[SimProcess]:
    """Start the simulator in a child process for the duration of the block; always stops it on exit."""
    command = [sys.executable, "-m", "probe.sim", "--host", host, "--port", str(port)]
    command += ["--profile-set", profile_set, "--seed", str(seed)]
    env = dict(os.environ)
    env.pop(_KEY_ENV, None)
    if api_key is not None:
        env[_KEY_ENV] = api_key  # through the environment: never on the command line
        command += ["--api-key-env", _KEY_ENV]
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL, env=env)
        try:
            announced = _read_announcement(process, startup_timeout_s, stderr)
            priority = _raise_priority(process.pid) if raise_priority else None
            with httpx.Client(base_url=f"http://{host}:{announced['port']}", trust_env=False, timeout=30) as http:
                yield SimProcess(
                    pid=process.pid, host=host, port=int(announced["port"]), priority=priority, _http=http
                )
        finally:
            _stop(process)


def _read_announcement(process: subprocess.Popen[bytes], timeout_s: float, stderr: Any) -> dict[str, Any]:
    """Read the child's one JSON line without blocking past ``timeout_s``."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout_s
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while b"\n" not in buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                raise SimStartError(f"simulator did not announce its port within {timeout_s} s{_tail(stderr)}")
            data = os.read(process.stdout.fileno(), 4096)
            if not data:
                process.wait(timeout=5)
                raise SimStartError(f"simulator exited with code {process.returncode}{_tail(stderr)}")
            buffer += data
    try:
        announced: dict[str, Any] = json.loads(buffer.split(b"\n", 1)[0])
        int(announced["port"])
    except (ValueError, KeyError, TypeError) as exc:
        raise SimStartError(f"simulator announced something unexpected: {buffer[:200]!r}") from exc
    return announced


def _tail(stderr: Any) -> str:
    stderr.seek(0)
    text = stderr.read()[-2000:].decode(errors="replace").strip()
    return f"; stderr:\n{text}" if text else ""


def _raise_priority(pid: int) -> str | None:
    """Best effort: real-time round-robin at the lowest RT priority, else nice -10. Returns what took effect."""
    try:
        os.sched_setscheduler(pid, os.SCHED_RR, os.sched_param(1))
        return "SCHED_RR"
    except (AttributeError, OSError):
        pass
    try:
        os.setpriority(os.PRIO_PROCESS, pid, -10)
        return "nice -10"
    except (AttributeError, OSError):
        return None


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()
