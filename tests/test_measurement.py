"""probe's measurements against the simulator's own record of what it wrote and when, over a real socket.

These test the measurement, not the machine: each figure is compared with the simulator's write times for the
same request, with tolerances that hold on a busy 2-core CI machine. The simulator runs in its own process (profile
set ``measurement``), so it never holds the client's GIL. bench/accuracy.py prints the real errors.
"""

from __future__ import annotations

import gc

import anyio
import pytest

from probe.client import exchange, make_http_client
from probe.derive import derive_sample
from probe.dialects import openai_chat
from probe.eventloop import new_event_loop
from probe.model import PlannedRequest, Target, Timeouts
from probe.sim.process import SimProcess, spawn_sim_process

TTFT_TOLERANCE_S = 0.015
SPEED_TOLERANCE = 0.05

@pytest.fixture(scope="module")
def sim():
    with spawn_sim_process("measurement", seed=7) as server:
        yield server


def measure(sim: SimProcess, model: str, o200k, max_tokens: int = 200):
    """One request through the production client and derivation; returns the sample and the simulator's record."""
    target = Target(base_url=sim.base_url, model_id=model, auth="none")
    planned = PlannedRequest(provider="sim", model=model, api="openai-chat", target=target, prompt="hi", max_tokens=max_tokens,
                             timeouts=Timeouts(connect_s=5, first_byte_s=5, stall_s=5, total_s=20))

    async def go():
        async with make_http_client() as client:
            return await exchange(client, openai_chat.build_request(target, "hi", max_tokens), planned.timeouts)

    record = anyio.run(go, backend_options={"loop_factory": new_event_loop})  # the loop `probe run` uses
    sample = derive_sample(record, planned, openai_chat, o200k, sample_id="s", run_id="r")
    (sent,) = [r for r in sim.records() if r.request_id == record.request_id]
    return record, sample, sent


def true_decode_speed(sent) -> float:
    token_events = [e for e in sent.events if e.n_tokens]
    decoded = sum(e.n_tokens for e in token_events[1:])
    return decoded * 1e9 / (token_events[-1].write_ns - token_events[0].write_ns)


def test_a_finished_exchange_s_reads_are_not_walked_again_by_the_garbage_collector(sim, o200k) -> None:
    """Finished exchanges can wait to be derived in their hundreds (a round of streams ending together); reads kept
    in lists would be walked item by item by every collection of the younger generations, meanwhile."""
    record, sample, _ = measure(sim, "one-token-chunks", o200k)
    assert sample.status == "ok" and len(record.read_payloads) > 10
    gc.collect()
    assert not gc.is_tracked(record.read_times) and not gc.is_tracked(record.read_payloads)


@pytest.mark.parametrize("model", ["one-token-chunks", "three-token-chunks"])
def test_ttft_and_decode_speed_match_what_the_simulator_sent(sim, o200k, model: str) -> None:
    record, sample, sent = measure(sim, model, o200k)
    assert sample.status == "ok", sample.error_message
    true_ttft_s = (sent.first_token.write_ns - record.started_ns) / 1e9
    assert sample.ttft_s == pytest.approx(true_ttft_s, abs=TTFT_TOLERANCE_S)
    assert sample.ttft_s >= true_ttft_s  # a byte cannot arrive before it was written
    assert sample.ttfat_s == sample.ttft_s
    assert sample.output_tokens == sent.completion_tokens and sample.tokens_source == "usage"
    assert sample.output_tps == pytest.approx(true_decode_speed(sent), rel=SPEED_TOLERANCE)
    assert sample.ttfb_s is not None and sample.ttfb_s < sample.ttft_s <= sample.e2e_s


def test_three_tokens_per_chunk_still_gives_the_true_token_rate(sim, o200k) -> None:
    """60 tokens, 3 per chunk every 10 ms: about 300 tok/s, three times what a chunk counter would report."""
    _, sample, sent = measure(sim, "three-token-chunks", o200k)
    chunks = [e for e in sent.events if e.n_tokens]
    chunk_rate = (len(chunks) - 1) * 1e9 / (chunks[-1].write_ns - chunks[0].write_ns)
    assert sample.output_tps == pytest.approx(3 * chunk_rate, rel=SPEED_TOLERANCE)
    assert set(sample.trace.tokens) == {3}


def test_role_chunk_sent_long_before_the_first_token_does_not_move_ttft(sim, o200k) -> None:
    record, sample, sent = measure(sim, "early-role-chunk", o200k)
    role = next(e for e in sent.events if e.kind == "role")
    assert (sent.first_token.scheduled_ns - role.scheduled_ns) / 1e9 > 0.15
    assert sample.ttft_s == pytest.approx((sent.first_token.write_ns - record.started_ns) / 1e9, abs=TTFT_TOLERANCE_S)


def test_reasoning_streamed_first_separates_ttft_from_ttfat(sim, o200k) -> None:
    record, sample, sent = measure(sim, "long-reasoning-first", o200k)
    assert sample.status == "ok"
    assert sample.ttft_s == pytest.approx((sent.first_token.write_ns - record.started_ns) / 1e9, abs=TTFT_TOLERANCE_S)
    assert sample.ttfat_s == pytest.approx((sent.first_answer.write_ns - record.started_ns) / 1e9, abs=TTFT_TOLERANCE_S)
    assert (sent.first_answer.scheduled_ns - sent.first_token.scheduled_ns) / 1e9 > 0.1  # 15 reasoning tokens first
    reasoning_time_s = (sent.first_answer.write_ns - sent.first_token.write_ns) / 1e9
    assert sample.ttfat_s - sample.ttft_s == pytest.approx(reasoning_time_s, abs=TTFT_TOLERANCE_S)
    assert sample.reasoning_tokens == 15 and sample.output_tokens == 25


def test_the_streamed_text_counted_offline_matches_usage(sim, o200k) -> None:
    """The tokenizer path: with usage stripped, counting the streamed words gives the same number."""
    record, sample, _ = measure(sim, "one-token-chunks", o200k)
    assert sum(sample.trace.tokens) == sample.output_tokens


def test_max_tokens_caps_the_answer_and_is_a_length_finish(sim, o200k) -> None:
    _, sample, sent = measure(sim, "one-token-chunks", o200k, max_tokens=5)
    assert sample.output_tokens == 5 and sample.finish_reason == "length"
