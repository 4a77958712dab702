"""The simulator's switchable faults, over a real socket: what each one puts on the wire, and what it records."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from probe.sim import LatencyProfile, SimServer, schedule
from probe.sim.faults import ANSWER_FAULTS, FAULT_HEADER, FAULTS, HUGE_LINE_BYTES, STREAM_FAULTS, Requested, shape_stream
from probe.sim.openai_chat import ChatStreamRenderer

KEY = "canary-7f3e9a1c5b2d8e4f6a0c"
PROFILES = {"quick": LatencyProfile(ttft_s=0.01, inter_chunk_s=0.002, tokens_per_chunk=2, output_tokens=12)}
BODY = {"model": "quick", "messages": [{"role": "user", "content": "hi"}], "stream": True}


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with SimServer(PROFILES) as server:
        yield server


def post(sim: SimServer, fault: str, read_timeout_s: float = 5.0) -> tuple[httpx.Response, bytes, Exception | None]:
    """POST a chat request asking for ``fault``; return the response, the body bytes read, and how reading ended."""
    headers = {FAULT_HEADER: fault, "authorization": f"Bearer {KEY}"}
    timeout = httpx.Timeout(5.0, read=read_timeout_s)
    body = b""
    with httpx.Client(base_url=sim.base_url, trust_env=False, timeout=timeout) as client:
        with client.stream("POST", "/chat/completions", json=BODY, headers=headers) as response:
            try:
                for piece in response.iter_raw():
                    body += piece
                    if len(body) > 30_000 and fault == "endless":
                        break
            except httpx.HTTPError as error:
                return response, body, error
    return response, body, None


def data_lines(body: bytes) -> list[bytes]:
    return [line[len(b"data: ") :] for line in body.split(b"\n") if line.startswith(b"data: ")]


def test_every_fault_is_described_once() -> None:
    """The catalogue: answer and stream faults are disjoint and together are FAULTS."""
    assert not set(ANSWER_FAULTS) & set(STREAM_FAULTS)
    assert set(FAULTS) == set(ANSWER_FAULTS) | set(STREAM_FAULTS)


@pytest.mark.parametrize(
    ("fault", "status", "content_type"),
    [
        ("rate-limit", 429, "application/json"),
        ("server-error", 500, "application/json"),
        ("html-error", 502, "text/html; charset=utf-8"),
        ("unauthorized", 401, "application/json"),
        ("not-a-stream", 200, "application/json"),
        ("no-such-fault", 400, "application/json"),
    ],
)
def test_answer_faults_replace_the_response(sim: SimServer, fault: str, status: int, content_type: str) -> None:
    """Each answer fault sends its status and body at once, and the simulator records that status."""
    response, body, error = post(sim, fault)
    assert error is None
    assert (response.status_code, response.headers["content-type"]) == (status, content_type)
    (record,) = [r for r in sim.records() if r.request_id == response.headers["x-sim-request-id"]]
    assert (record.status, record.completed) == (status, True)
    if fault == "rate-limit":
        assert response.headers["retry-after"] == "7"
        assert json.loads(body)["error"]["code"] == "rate_limit_exceeded"
    if fault in ("unauthorized", "html-error"):
        assert KEY.encode() in body  # echoed, as careless endpoints do: probe must redact it
    if fault == "html-error":
        assert body.startswith(b"<!DOCTYPE html>") and len(body) > 4000
    if fault == "no-such-fault":
        assert "known: rate-limit" in json.loads(body)["error"]["message"]


def test_no_headers_never_answers(sim: SimServer) -> None:
    """``no-headers`` reads the request and stays silent; the record says nothing was sent."""
    before = sim.records()[-1].seq if sim.records() else 0
    with pytest.raises(httpx.ReadTimeout):
        post(sim, "no-headers", read_timeout_s=0.2)
    records = []
    for _ in range(100):
        records = sim.records(since=before)
        if records:
            break
        time.sleep(0.02)
    (record,) = records
    assert (record.status, record.headers_sent_ns, record.completed) == (0, None, False)


def test_cut_closes_the_connection_mid_body(sim: SimServer) -> None:
    """``cut``: two token chunks, then the connection closes without the chunked body's end."""
    response, body, error = post(sim, "cut")
    assert response.status_code == 200
    assert isinstance(error, httpx.RemoteProtocolError)
    lines = data_lines(body)
    assert len(lines) == 3 and all(b'"content":"' in line for line in lines[1:])  # role, then two token chunks


def test_stall_goes_silent_mid_body(sim: SimServer) -> None:
    """``stall``: two token chunks, then nothing until the client gives up."""
    response, body, error = post(sim, "stall", read_timeout_s=0.3)
    assert isinstance(error, httpx.ReadTimeout)
    assert len(data_lines(body)) == 3


def test_endless_never_finishes(sim: SimServer) -> None:
    """``endless``: token chunks keep coming long past the plan (12 tokens), never a finish or [DONE]."""
    _, body, error = post(sim, "endless")
    assert error is None  # the client stopped reading after 30 KB
    lines = data_lines(body)
    assert len(lines) > 100
    assert b"[DONE]" not in body and b'"finish_reason":"stop"' not in body


def test_huge_line_is_one_5_mb_line(sim: SimServer) -> None:
    """``huge-line``: a 5 MB data line after two token chunks, then the rest of the stream."""
    _, body, error = post(sim, "huge-line")
    assert error is None
    longest = max(body.split(b"\n"), key=len)
    assert len(longest) == HUGE_LINE_BYTES - 2 and longest.startswith(b'data: {"sim_padding":"')
    assert body.endswith(b"data: [DONE]\n\n")


def test_bad_json_is_a_broken_data_line_mid_stream(sim: SimServer) -> None:
    """``bad-json``: one data line that is not JSON, between good ones, and the stream still ends properly."""
    _, body, _ = post(sim, "bad-json")
    lines = data_lines(body)
    broken = [line for line in lines if line != b"[DONE]" and not _is_json(line)]
    assert broken == [b'{"choices":[{"index":0,"delta":{"content":"half a chunk']
    assert lines.index(broken[0]) == 3 and lines[-1] == b"[DONE]"


def test_no_terminator_ends_cleanly_after_the_last_token(sim: SimServer) -> None:
    """``no-terminator``: every token chunk, then a clean end of body with no finish reason and no [DONE]."""
    _, body, error = post(sim, "no-terminator")
    assert error is None
    lines = data_lines(body)
    text = "".join(json.loads(line)["choices"][0]["delta"].get("content") or "" for line in lines)
    assert len(text.split()) == 12
    assert b"[DONE]" not in body and b'"finish_reason":"' not in body


def test_no_tokens_is_a_well_formed_stream_without_text(sim: SimServer) -> None:
    """``no-tokens``: role chunk, finish and [DONE], but no content at all."""
    _, body, _ = post(sim, "no-tokens")
    lines = data_lines(body)
    assert lines[-1] == b"[DONE]"
    assert not any(json.loads(line)["choices"][0]["delta"].get("content") for line in lines[:-1])


def test_error_in_stream_ends_the_stream_with_an_error_event(sim: SimServer) -> None:
    """``error-in-stream``: two token chunks, then an error object echoing the credential, then a clean end."""
    _, body, error = post(sim, "error-in-stream")
    assert error is None
    lines = data_lines(body)
    assert len(lines) == 4
    error_event = json.loads(lines[-1])["error"]
    assert error_event["type"] == "server_error" and KEY in error_event["message"]


def test_the_server_keeps_serving_after_faults(sim: SimServer) -> None:
    """After a cut, a stall and a silent request, a healthy stream on a new connection still completes."""
    with httpx.Client(base_url=sim.base_url, trust_env=False, timeout=5) as client:
        response = client.post("/chat/completions", json=BODY)
    assert response.status_code == 200 and response.text.endswith("data: [DONE]\n\n")


def test_stream_shapes_are_pure_functions_of_the_plan() -> None:
    """Without a socket: which planned events each stream fault keeps, and how its body ends."""
    plan = schedule(PROFILES["quick"], seed=1)
    kinds = [e.kind for e in plan.events]
    assert kinds[0] == "role" and kinds[-2:] == ["finish", "done"]

    def shaped(name: str):
        renderer = ChatStreamRenderer("id", "quick", 0, 1, plan)
        return shape_stream(Requested(name, "k"), plan, renderer)

    cut = shaped("cut")
    assert [e.kind for e in cut.events] == ["role", "answer", "answer"] and (cut.last, cut.ending) == (None, "cut")
    assert shaped("stall").ending == "stall"
    kept = shaped("no-terminator")
    assert [e.kind for e in kept.events] == kinds[:-2] and kept.last == len(kinds) - 3
    assert [e.kind for e in shaped("no-tokens").events] == ["role", "finish", "done"]
    endless = iter(shaped("endless").events)
    first_200 = [next(endless) for _ in range(200)]
    offsets = [e.offset_s for e in first_200]
    assert offsets == sorted(offsets) and all(e.kind in ("role", "answer") for e in first_200)
    with pytest.raises(ValueError):
        shaped("rate-limit")


def _is_json(line: bytes) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True
