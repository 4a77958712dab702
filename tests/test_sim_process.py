"""The simulator in its own process: starts, announces its port, serves, reports records, and is cleaned up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from probe.sim.process import SimStartError, spawn_sim_process


def test_spawned_simulator_serves_and_is_stopped() -> None:
    """A spawned simulator streams over loopback, returns its records over HTTP and is gone after the block."""
    with spawn_sim_process("fast", seed=3, api_key="sk-proc-secret") as sim:
        pid = sim.pid
        assert sim.base_url == f"http://127.0.0.1:{sim.port}/v1"
        assert sim.priority in (None, "SCHED_RR", "nice -10")
        headers = {"authorization": "Bearer sk-proc-secret"}
        body = {
            "model": "sim-fast",
            "messages": [{"role": "user", "content": "hello"}],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        with httpx.Client(base_url=sim.base_url, trust_env=False, timeout=10) as client:
            with client.stream("POST", "/chat/completions", json=body, headers=headers) as response:
                assert response.status_code == 200
                raw = b"".join(response.iter_raw())
            assert client.post("/chat/completions", json=body).status_code == 401
        assert raw.endswith(b"data: [DONE]\n\n")

        records = sim.records()
        assert [r.status for r in records] == [200, 401]
        streamed = records[0]
        assert streamed.request_id == response.headers["x-sim-request-id"]
        assert streamed.completed and streamed.completion_tokens == 20
        assert [e.kind for e in streamed.events][-3:] == ["finish", "usage", "done"]
        assert sim.records(since=streamed.seq) == [records[1]]
        assert sim.lateness().events == len(streamed.events)
        assert sim.reset() == 2
        assert sim.records() == []
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs Linux /proc")
def test_key_is_not_on_the_command_line() -> None:
    """The API key reaches the child through its environment, never its argv."""
    with spawn_sim_process("fast", api_key="sk-proc-secret", raise_priority=False) as sim:
        with open(f"/proc/{sim.pid}/cmdline", "rb") as f:
            assert b"sk-proc-secret" not in f.read()


def test_bad_arguments_fail_loudly() -> None:
    """A child that exits before announcing its port raises SimStartError carrying its stderr."""
    with pytest.raises(SimStartError, match="profile-set"):
        with spawn_sim_process("no-such-set"):
            pass


def test_module_help_runs() -> None:
    """``python -m probe.sim --help`` explains itself and exits 0."""
    result = subprocess.run([sys.executable, "-m", "probe.sim", "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    assert "--profile-set" in result.stdout
