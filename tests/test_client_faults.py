"""Every way an endpoint can fail, through the production client and derivation: one error sample of the right
kind, within the request's deadlines, with the key nowhere in it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import anyio
import pytest

from probe.client import exchange, make_http_client
from probe.derive import MAX_LINE_BYTES, _longest_line, derive_sample
from probe.dialects import get_dialect, openai_chat
from probe.eventloop import new_event_loop
from probe.model import Exchange, PlannedRequest, Sample, Target, Timeouts
from probe.sim import LatencyProfile, SimServer
from probe.sim.faults import FAULT_HEADER, FAULTS
from tests.support import FAULT_KINDS, SIM_DIALECTS, closed_port, fail_dns_for_invalid_hosts, tls_simulator

KEY = "canary-5d2f8b1e9c4a7e3f0b6d"
PROFILES = {
    "quick": LatencyProfile(ttft_s=0.01, inter_chunk_s=0.002, tokens_per_chunk=2, output_tokens=12),
    "flood": LatencyProfile(ttft_s=0.01, inter_chunk_s=0.001, tokens_per_chunk=8, output_tokens=64),
}
TIMEOUTS = Timeouts(connect_s=1.0, first_byte_s=0.3, stall_s=0.2, total_s=0.6)
SLACK_S = 0.4


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with SimServer(PROFILES) as server:
        yield server


def probe_once(
    base_url: str,
    o200k,
    *,
    api: str = "openai-chat",
    model: str = "quick",
    fault: str | None = None,
    timeouts: Timeouts = TIMEOUTS,
    verify: bool = True,
    max_body_bytes: int | None = None,
) -> tuple[Exchange, Sample, float]:
    """One request through the production client and derivation; returns the exchange, sample and wall time."""
    headers = ((FAULT_HEADER, fault),) if fault else ()
    dialect = get_dialect(api)
    target = Target(base_url=base_url, model_id=model, auth=dialect.DEFAULT_AUTH, api_key=KEY, headers=headers)
    planned = PlannedRequest(provider="p", model=model, api=api, target=target, prompt="hi", max_tokens=100, timeouts=timeouts)
    limit = {} if max_body_bytes is None else {"max_body_bytes": max_body_bytes}

    async def go() -> Exchange:
        async with make_http_client(verify=verify) as client:
            return await exchange(client, dialect.build_request(target, "hi", 100), timeouts, **limit)

    started = time.perf_counter()
    record = anyio.run(go, backend_options={"loop_factory": new_event_loop})  # the loop `probe run` uses
    elapsed = time.perf_counter() - started
    return record, derive_sample(record, planned, dialect, o200k, sample_id="s", run_id="r"), elapsed


def test_the_table_covers_every_fault() -> None:
    assert set(FAULT_KINDS) == set(FAULTS)


DEADLINES = {"no-headers": TIMEOUTS.first_byte_s, "stall": TIMEOUTS.stall_s, "endless": TIMEOUTS.total_s}
"""The faults that only a deadline ends; every other fault ends as soon as the endpoint stops sending."""


@pytest.mark.parametrize("api", SIM_DIALECTS)
@pytest.mark.parametrize("fault", list(FAULT_KINDS))
def test_each_fault_is_one_error_sample_of_its_kind(sim: SimServer, o200k, api: str, fault: str) -> None:
    """The fault's error kind, never a success, ended by the deadline that applies, and no key in the sample."""
    _, sample, elapsed = probe_once(sim.base_url, o200k, api=api, fault=fault)
    assert (sample.status, sample.error_kind) == ("error", FAULT_KINDS[fault]), sample.error_message
    assert sample.error_message and "\n" not in sample.error_message
    deadline = DEADLINES.get(fault, 0.0)
    assert deadline <= elapsed < deadline + SLACK_S
    assert KEY not in repr(sample)


def test_rate_limit_keeps_retry_after(sim: SimServer, o200k) -> None:
    _, sample, _ = probe_once(sim.base_url, o200k, fault="rate-limit")
    assert (sample.http_status, sample.retry_after_s) == (429, 7.0)


def test_html_error_page_is_a_server_error_with_a_bounded_message(sim: SimServer, o200k) -> None:
    """A gateway's 5 KB HTML page becomes a 502 'server' error whose message is truncated and redacted."""
    _, sample, _ = probe_once(sim.base_url, o200k, fault="html-error")
    assert sample.http_status == 502
    assert len(sample.error_message) <= 500 and sample.error_message.endswith("…")
    assert "502 Bad Gateway" in sample.error_message and "[redacted]" in sample.error_message


def test_partial_stream_keeps_what_was_measured(sim: SimServer, o200k) -> None:
    """A stream cut after two token chunks is an error, but its first-token time and trace are kept."""
    _, sample, _ = probe_once(sim.base_url, o200k, fault="cut")
    assert sample.ttft_s is not None and sample.chunk_count == 2 and sample.output_tps is None


def test_endless_stream_is_cut_by_the_maximum_size(sim: SimServer, o200k) -> None:
    """With a 64 KB cap, an endless stream stops at the cap, long before the total timeout: ``too_large``."""
    timeouts = Timeouts(connect_s=1, first_byte_s=1, stall_s=1, total_s=30)
    record, sample, elapsed = probe_once(sim.base_url, o200k, model="flood", fault="endless", timeouts=timeouts, max_body_bytes=64 * 1024)
    assert record.truncated and sample.error_kind == "too_large"
    assert elapsed < 5
    assert 64 * 1024 < sum(len(chunk) for _, chunk in record.reads) < 64 * 1024 + 65536


def test_connection_refused_is_connect(o200k) -> None:
    _, sample, elapsed = probe_once(f"http://127.0.0.1:{closed_port()}/v1", o200k)
    assert (sample.error_kind, sample.error_message) == ("connect", "connection failed (refused or unreachable)")
    assert elapsed < 1


def test_dns_failure_is_connect(o200k, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unresolvable name (a ``.invalid`` host; resolution faked, so no resolver is asked) is ``connect``."""
    fail_dns_for_invalid_hosts(monkeypatch)
    _, sample, _ = probe_once("http://nonexistent.invalid/v1", o200k)
    assert (sample.error_kind, sample.error_message) == ("connect", "DNS lookup failed")


def test_untrusted_certificate_is_a_tls_failure_and_verification_is_on_by_default(o200k) -> None:
    """A self-signed certificate fails the handshake (``connect``); turning verification off lets it through."""
    with tls_simulator(PROFILES) as base_url:
        _, refused, _ = probe_once(base_url, o200k)
        _, accepted, _ = probe_once(base_url, o200k, verify=False)
    assert (refused.error_kind, refused.error_message) == ("connect", "TLS handshake failed")
    assert accepted.status == "ok", accepted.error_message


def test_https_to_a_plain_http_port_is_cut_by_the_connect_timeout(sim: SimServer, o200k) -> None:
    """The plain server never answers a TLS hello, so the handshake waits for the connect deadline: ``timeout``."""
    timeouts = Timeouts(connect_s=0.3, first_byte_s=1, stall_s=1, total_s=2)
    _, sample, elapsed = probe_once(sim.base_url.replace("http://", "https://"), o200k, timeouts=timeouts)
    assert sample.error_kind == "timeout" and elapsed < timeouts.connect_s + SLACK_S


# --------------------------------------------------------------------------- derivation rules, on literal data


@pytest.mark.parametrize(
    ("reads", "longest"),
    [
        ([b"ab\ncd\n"], 2),
        ([b"ab", b"cd", b"e\nf"], 5),
        ([b"a\r\nbcd\rxy"], 3),
        ([b"x" * 10, b"y" * 10], 20),
        ([b"\n" + b"z" * 7 + b"\n", b"q"], 7),
        ([], 0),
    ],
)
def test_longest_line_spans_reads(reads: list[bytes], longest: int) -> None:
    assert _longest_line(reads) == longest


def _stream_exchange(body_reads: list[bytes], status: int = 200, content_type: str = "text/event-stream") -> Exchange:
    record = Exchange(started_ns=0, started_at="2025-01-01T00:00:00.000Z", status=status, headers_ns=1_000, content_type=content_type)
    record.reads = [(2_000 + i, chunk) for i, chunk in enumerate(body_reads)]
    record.ended_ns = 10_000
    return record


def _derive(record: Exchange, o200k, key: str = KEY) -> Sample:
    target = Target(base_url="http://x/v1", model_id="m", api_key=key)
    planned = PlannedRequest(provider="p", model="m", api="openai-chat", target=target, prompt="hi", max_tokens=10)
    return derive_sample(record, planned, openai_chat, o200k, sample_id="s", run_id="r")


def test_a_line_over_the_limit_is_too_large_before_any_decoding(o200k) -> None:
    """A valid but 1 MiB + 1 byte data line fails the sample without being parsed or tokenized."""
    line = b'data: {"choices":[{"index":0,"delta":{"content":"' + b"x" * MAX_LINE_BYTES + b'"}}]}\n\n'
    pieces = [line[i : i + 65536] for i in range(0, len(line), 65536)] + [b"data: [DONE]\n\n"]
    sample = _derive(_stream_exchange(pieces), o200k)
    assert (sample.error_kind, sample.chunk_count) == ("too_large", None)


def test_a_key_cut_in_half_by_truncation_is_still_redacted(o200k) -> None:
    """The key is scrubbed from the raw body before the dialect truncates its message, so no half-key survives."""
    for offset in range(480, 505):
        body = b'{"error":{"message":"' + b"a" * offset + KEY.encode() + b'"}}'
        sample = _derive(_stream_exchange([body], status=401, content_type="application/json"), o200k)
        assert KEY[:8] not in sample.error_message, offset


def test_an_echoed_key_never_reaches_any_stored_field(o200k) -> None:
    """A stream that echoes the key as its model name and inside an in-stream error stores neither."""
    events = [
        b'data: {"model":"' + KEY.encode() + b'","choices":[{"index":0,"delta":{"content":" the"}}]}\n\n',
        b'data: {"error":{"message":"bad key ' + KEY.encode() + b'","type":"server_error"}}\n\n',
    ]
    sample = _derive(_stream_exchange(events), o200k)
    assert sample.error_kind == "stream_error"
    assert KEY not in repr(sample) and sample.response_model == "[redacted]"
