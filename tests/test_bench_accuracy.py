"""The accuracy benchmark's judgement of its own figures: which of issue 7's targets a level misses, and the summary
over repeated runs; and how its ``--steal`` option reads. The figures themselves are measured by the benchmark,
never here; these levels are made up."""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest


def _load_bench(name: str) -> ModuleType:
    path = Path(__file__).resolve().parent.parent / "bench" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


accuracy = _load_bench("accuracy")
contention = _load_bench("contention")


def level(streams: int, **figures: object) -> dict:
    """A level's figures as ``run_level`` returns them, within every target unless ``figures`` says otherwise."""
    base = {
        "streams": streams,
        "requests": 2 * streams,
        "failures": 0,
        "ttft_error_p50_ms": 0.01,
        "ttft_error_p99_ms": 0.05,
        "decode_error_p99_pct": 0.01,
        "cpu_ms_per_1k_chunks": 30.0,
        "chunks": 200 * streams,
        "wall_s": 2.5,
        "peak_rss_mb": 120.0,
        "server_lateness_p50_ms": 0.1,
        "server_lateness_p99_ms": 0.5,
        "server_priority": None,
        "steal_pct": 1.0,
    }
    return {**base, **figures}


def test_a_level_within_its_targets_misses_none() -> None:
    assert [accuracy.missed_targets(level(streams)) for streams in (1, 16, 64, 256)] == [[], [], [], []]


@pytest.mark.parametrize(
    ("streams", "figures", "missed"),
    [
        (1, {"ttft_error_p99_ms": 2.5}, "TTFT error p99 2.500 > 2 ms"),
        (16, {"ttft_error_p99_ms": 3.1}, "TTFT error p99 3.100 > 3 ms"),
        (64, {"ttft_error_p99_ms": 4.01}, "TTFT error p99 4.010 > 4 ms"),
        (256, {"ttft_error_p99_ms": 25.5}, "TTFT error p99 25.500 > 25 ms"),
        (64, {"decode_error_p99_pct": 1.004}, "decode error p99 1.004 > 1 %"),
        (256, {"decode_error_p99_pct": 3.2}, "decode error p99 3.200 > 3 %"),
        (64, {"cpu_ms_per_1k_chunks": 41.2}, "CPU/1k chunks 41.200 > 40 ms"),
        (256, {"cpu_ms_per_1k_chunks": 40.5}, "CPU/1k chunks 40.500 > 40 ms"),
        (256, {"peak_rss_mb": 151.0}, "peak RSS 151.000 > 150 MB"),
        (64, {"ttft_error_p99_ms": None}, "TTFT error p99 none > 4 ms"),
    ],
)
def test_each_target_is_judged_at_its_level(streams: int, figures: dict, missed: str) -> None:
    assert accuracy.missed_targets(level(streams, **figures)) == [missed]


def test_targets_the_issue_sets_only_at_some_levels_are_not_applied_elsewhere() -> None:
    """CPU is judged at 64 and 256 streams, peak RSS at 256; a single stream's CPU per chunk is far higher."""
    assert accuracy.missed_targets(level(1, cpu_ms_per_1k_chunks=260.0, peak_rss_mb=160.0)) == []
    assert accuracy.missed_targets(level(16, cpu_ms_per_1k_chunks=70.0)) == []
    assert accuracy.missed_targets(level(64, peak_rss_mb=160.0)) == []


def test_a_target_met_exactly_is_met() -> None:
    assert accuracy.missed_targets(level(64, cpu_ms_per_1k_chunks=40.0, decode_error_p99_pct=1.0)) == []


def test_failed_requests_and_failed_levels_are_misses() -> None:
    assert accuracy.missed_targets(level(64, failures=3)) == ["3 requests failed"]
    assert accuracy.missed_targets({"streams": 64, "crashed": True}) == ["the level's process failed"]


def test_a_level_whose_server_was_late_has_no_figure_to_judge() -> None:
    late = level(256, server_lateness_p99_ms=12.4, ttft_error_p99_ms=30.0, cpu_ms_per_1k_chunks=45.0)
    assert accuracy.server_was_late(late)
    assert accuracy.missed_targets(late) == []


def test_the_summary_counts_misses_and_levels_without_a_figure() -> None:
    levels = [
        level(64, cpu_ms_per_1k_chunks=28.0, steal_pct=0.4),
        level(64, cpu_ms_per_1k_chunks=41.0, steal_pct=15.2),
        level(64, cpu_ms_per_1k_chunks=30.0, steal_pct=4.0),
        level(256, cpu_ms_per_1k_chunks=24.0, steal_pct=1.0),
        level(256, server_lateness_p99_ms=11.0, steal_pct=2.0),
        {"streams": 256, "crashed": True},
    ]
    lines = accuracy.summary(levels, ("openai-chat",), repeat=3)
    rows = {line.split()[0]: line.split() for line in lines[2:4]}
    assert lines[0].startswith("Summary of 3 runs (openai-chat)")
    # streams, levels, ..., no figure, missed a target
    assert rows["64"][1] == "3" and rows["64"][-2:] == ["0", "1"]
    assert "28.0-41.0 ms (30.0)" in lines[2]
    assert rows["256"][1] == "3" and rows["256"][-2:] == ["1", "1"]
    assert lines[4] == (
        "CPU/1k chunks at 64 streams by steal: steal 0-2 %: 1 at 28.0 ms (median 28.0); "
        "steal 3-6 %: 1 at 30.0 ms (median 30.0); steal 11-100 %: 1 at 41.0 ms (median 41.0)"
    )
    assert lines[5] == "CPU/1k chunks at 256 streams by steal: steal 0-2 %: 1 at 24.0 ms (median 24.0)"


def test_the_simulators_priority_is_named_as_it_was_got() -> None:
    assert accuracy.priority_line([level(16, server_priority="SCHED_RR"), level(64, server_priority="SCHED_RR")]) == (
        "simulator priority: SCHED_RR"
    )
    refused = [level(16, server_priority=None), level(64, server_priority="nice -10"), {"streams": 256, "crashed": True}]
    assert accuracy.priority_line(refused) == "simulator priority: nice -10, not raised (the OS refused)"
    assert accuracy.priority_line([{"streams": 1, "crashed": True}]) == "simulator priority: none ran"


@pytest.mark.parametrize("text, expected", [("8/40", (8.0, 40.0)), ("0.5/2", (0.5, 2.0))])
def test_emulated_steal_is_busy_milliseconds_out_of_a_period(text: str, expected: tuple[float, float]) -> None:
    assert contention.parse_steal(text) == expected


@pytest.mark.parametrize("text", ["8", "8/40/2", "a/40", "40/40", "50/40", "0/40", "-1/40", "nan/40", "8/inf"])
def test_emulated_steal_that_is_not_a_share_of_its_period_is_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=re.escape(repr(text))):
        contention.parse_steal(text)
