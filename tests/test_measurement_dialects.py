"""One metric definition in every dialect: probe's figures against the simulator's record, over a real socket.

Each request goes through the production path (dialect request, ``client.exchange``, ``derive_sample``) with the
dialect's own auth header, and each figure is compared with the simulator's write times for that request, with
tolerances that hold on a busy 2-core CI machine (bench/accuracy.py prints the real errors). The simulator runs in
its own process (profile set ``measurement``), so it never holds the client's GIL.
"""

from __future__ import annotations

import anyio
import pytest

from probe.client import exchange, make_http_client
from probe.derive import derive_sample
from probe.dialects import get_dialect
from probe.model import PlannedRequest, Target, Timeouts
from probe.sim.dialect import INBAND_ERROR_HEADER
from probe.sim.process import SimProcess, spawn_sim_process

TTFT_TOLERANCE_S = 0.015
SPEED_TOLERANCE = 0.05
KEY = "sim-measure-key-0123456789"
DIALECTS = ("openai-chat", "openai-responses", "anthropic-messages", "gemini")

@pytest.fixture(scope="module")
def sim():
    with spawn_sim_process("measurement", seed=11, api_key=KEY) as server:
        yield server


def measure(sim: SimProcess, api: str, model: str, o200k, *, key: str = KEY, headers: tuple = (), max_tokens: int = 200):
    """One request through the production client and derivation; the sample and the simulator's record."""
    dialect = get_dialect(api)
    target = Target(base_url=sim.base_url, model_id=model, auth=dialect.DEFAULT_AUTH, api_key=key, headers=headers)
    planned = PlannedRequest(provider="sim", model=model, api=api, target=target, prompt="say something",
                             max_tokens=max_tokens, timeouts=Timeouts(connect_s=5, first_byte_s=5, stall_s=5, total_s=20))

    async def go():
        async with make_http_client() as client:
            return await exchange(client, dialect.build_request(target, planned.prompt, max_tokens), planned.timeouts)

    record = anyio.run(go)
    sample = derive_sample(record, planned, dialect, o200k, sample_id="s", run_id="r")
    (sent,) = [r for r in sim.records() if r.request_id == record.request_id]
    return record, sample, sent


def since_start_s(record, write_ns: int) -> float:
    return (write_ns - record.started_ns) / 1e9


def true_decode_speed(sent) -> float:
    token_events = [e for e in sent.events if e.n_tokens]
    decoded = sum(e.n_tokens for e in token_events[1:])
    return decoded * 1e9 / (token_events[-1].write_ns - token_events[0].write_ns)


@pytest.mark.parametrize("api", DIALECTS)
def test_ttft_decode_speed_and_tokens_match_what_the_simulator_sent(sim, o200k, api: str) -> None:
    record, sample, sent = measure(sim, api, "steady", o200k)
    assert sample.status == "ok", sample.error_message
    true_ttft_s = since_start_s(record, sent.first_token.write_ns)
    assert sample.ttft_s >= true_ttft_s  # a byte cannot arrive before it was written
    assert sample.ttft_s == pytest.approx(true_ttft_s, abs=TTFT_TOLERANCE_S)
    assert sample.ttfat_s == sample.ttft_s
    assert (sample.output_tokens, sample.tokens_source) == (sent.completion_tokens, "usage")
    assert sample.output_tps == pytest.approx(true_decode_speed(sent), rel=SPEED_TOLERANCE)
    assert sample.response_model == "steady" and sample.finish_reason


@pytest.mark.parametrize("api", DIALECTS)
def test_reasoning_streamed_first_separates_ttft_from_ttfat(sim, o200k, api: str) -> None:
    """12 reasoning tokens 8 ms apart come before the answer: ttfat - ttft is that reasoning time, in every dialect."""
    record, sample, sent = measure(sim, api, "reasoning-first", o200k)
    assert sample.status == "ok", sample.error_message
    assert sample.ttft_s == pytest.approx(since_start_s(record, sent.first_token.write_ns), abs=TTFT_TOLERANCE_S)
    assert sample.ttfat_s == pytest.approx(since_start_s(record, sent.first_answer.write_ns), abs=TTFT_TOLERANCE_S)
    scheduled_reasoning_s = (sent.first_answer.scheduled_ns - sent.first_token.scheduled_ns) / 1e9
    assert scheduled_reasoning_s > 0.08  # the profile's gap; a late first write may shrink the real one
    reasoning_time_s = (sent.first_answer.write_ns - sent.first_token.write_ns) / 1e9
    assert sample.ttfat_s - sample.ttft_s == pytest.approx(reasoning_time_s, abs=TTFT_TOLERANCE_S)
    assert (sample.output_tokens, sample.reasoning_tokens) == (20, 12)
    assert sample.output_tps == pytest.approx(true_decode_speed(sent), rel=SPEED_TOLERANCE)


@pytest.mark.parametrize(("api", "reason"), [("openai-chat", "length"), ("openai-responses", "max_output_tokens"),
                                             ("anthropic-messages", "max_tokens"), ("gemini", "MAX_TOKENS")])
def test_a_length_cut_is_a_success_with_the_dialects_reason(sim, o200k, api: str, reason: str) -> None:
    _, sample, _ = measure(sim, api, "quick", o200k, max_tokens=3)
    assert (sample.status, sample.finish_reason, sample.output_tokens) == ("ok", reason, 3)


@pytest.mark.parametrize(("api", "status"), [("openai-chat", 401), ("openai-responses", 401),
                                             ("anthropic-messages", 401), ("gemini", 400)])
def test_a_wrong_key_is_auth_in_every_dialect(sim, o200k, api: str, status: int) -> None:
    """Each dialect's own key header; Gemini answers a bad key with 400 API_KEY_INVALID, still ``auth``."""
    _, sample, _ = measure(sim, api, "quick", o200k, key="not-the-key")
    assert (sample.status, sample.error_kind, sample.http_status) == ("error", "auth", status)
    assert "not-the-key" not in (sample.error_message or "")


@pytest.mark.parametrize("api", DIALECTS)
def test_an_unknown_model_is_not_found_in_every_envelope(sim, o200k, api: str) -> None:
    _, sample, _ = measure(sim, api, "no-such-model", o200k)
    assert (sample.status, sample.error_kind, sample.http_status) == ("error", "not_found", 404)
    assert "no-such-model" in sample.error_message


@pytest.mark.parametrize("api", DIALECTS)
@pytest.mark.parametrize(("inband", "kind"), [("overloaded; after=2", "overloaded"), ("quota", "quota"),
                                              ("server; after=2", "stream_error")])
def test_errors_inside_a_200_stream_get_their_kind(sim, o200k, api: str, inband: str, kind: str) -> None:
    """Anthropic overloaded_error, Responses' recorded in-band insufficient_quota, Gemini 503 UNAVAILABLE ..."""
    _, sample, sent = measure(sim, api, "quick", o200k, headers=((INBAND_ERROR_HEADER, inband),))
    assert (sample.http_status, sample.status, sample.error_kind) == (200, "error", kind)
    assert sent.events[-1].kind == "error"
    tokens_before = sum(e.n_tokens for e in sent.events)
    assert sample.chunk_count == tokens_before  # one token per chunk in this profile
    assert (sample.ttft_s is None) == (tokens_before == 0)
