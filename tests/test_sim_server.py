"""The simulator over a real loopback socket: bytes, timing records, errors, auth and keep-alive."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from probe.sim import LatencyProfile, SimServer, schedule, words

KEY = "sk-sim-test-secret"
PROFILES = {
    "quick": LatencyProfile(ttft_s=0.03, inter_chunk_s=0.003, tokens_per_chunk=2, output_tokens=9),
    "late-role": LatencyProfile(ttft_s=0.15, inter_chunk_s=0.002, output_tokens=3, role_chunk_delay_s=0.05),
    "thinker": LatencyProfile(ttft_s=0.02, inter_chunk_s=0.002, output_tokens=4, reasoning_tokens=3),
    "long": LatencyProfile(ttft_s=0.01, inter_chunk_s=0.01, output_tokens=200),
}
SANE_LATENESS_NS = 200_000_000  # a busy 2-core CI box: only a sanity bound


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with SimServer(PROFILES, seed=5) as server:
        yield server


@pytest.fixture
def client(sim: SimServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.base_url, trust_env=False, timeout=10) as c:
        yield c


def chat(model: str = "quick", **fields: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "say something"}], "stream": True, **fields}


def stamped_events(response: httpx.Response) -> list[tuple[int, Any]]:
    """SSE data payloads with the perf_counter_ns at which the read carrying their end arrived."""
    out: list[tuple[int, Any]] = []
    buffer = b""
    for piece in response.iter_raw():
        now = time.perf_counter_ns()
        buffer += piece
        *complete, buffer = buffer.split(b"\n\n")
        for event in complete:
            assert event.startswith(b"data: ")
            data = event[len(b"data: ") :]
            out.append((now, "[DONE]" if data == b"[DONE]" else json.loads(data)))
    assert buffer == b""
    return out


def post_stream(client: httpx.Client, body: dict[str, Any]) -> tuple[httpx.Response, list[tuple[int, Any]]]:
    with client.stream("POST", "/chat/completions", json=body) as response:
        return response, stamped_events(response)


def record_for(sim: SimServer, request_id: str) -> Any:
    (record,) = [r for r in sim.records() if r.request_id == request_id]
    return record


def test_stream_sequence_and_records(sim: SimServer, client: httpx.Client) -> None:
    """Role chunk, content, finish, usage and [DONE] arrive as planned; the record says when each left."""
    response, stamped = post_stream(client, chat(seed=42, stream_options={"include_usage": True}))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [e for _, e in stamped]
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    deltas = [c["choices"][0]["delta"]["content"] for c in chunks[1:-2]]
    assert "".join(deltas) == words.text_of(0, 9)
    assert len(deltas) == 5  # 2 tokens per chunk, the last one shorter
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens"] == 9
    assert {c["model"] for c in chunks} == {"quick"}
    assert all(c["usage"] is None for c in chunks[:-1])

    record = record_for(sim, response.headers["x-sim-request-id"])
    assert (record.status, record.model, record.seed, record.completed) == (200, "quick", 42, True)
    assert chunks[0]["id"] == record.request_id
    plan = schedule(PROFILES["quick"], 42, include_usage=True)
    assert [(e.kind, e.n_tokens) for e in record.events] == [(e.kind, e.n_tokens) for e in plan.events]
    assert [e.scheduled_ns - record.received_ns for e in record.events] == [
        round(e.offset_s * 1e9) for e in plan.events
    ]
    sent = [e.sent_ns for e in record.events]
    assert sent == sorted(sent)
    assert record.received_ns <= record.headers_sent_ns <= sent[0]
    assert all(e.scheduled_ns <= e.write_ns <= e.sent_ns for e in record.events)  # never early
    assert all(e.lateness_ns < SANE_LATENESS_NS for e in record.events)
    first_token_arrival = stamped[1][0]
    assert first_token_arrival >= record.first_token.write_ns  # one monotonic clock for server and client


def test_role_chunk_long_before_first_token(sim: SimServer, client: httpx.Client) -> None:
    """A role chunk sent 50 ms in leaves well before the first token, which still waits for its own time."""
    response, stamped = post_stream(client, chat("late-role"))
    record = record_for(sim, response.headers["x-sim-request-id"])
    role, first = record.events[0], record.events[1]
    assert (role.kind, first.kind) == ("role", "answer")
    assert role.scheduled_ns - record.received_ns == 50_000_000
    assert first.scheduled_ns - record.received_ns == 150_000_000
    assert role.write_ns < first.write_ns
    role_arrival, first_arrival = stamped[0][0], stamped[1][0]
    assert role.write_ns <= role_arrival < first_arrival
    assert first_arrival - record.received_ns >= 150_000_000  # the early role chunk did not pull TTFT forward


def test_max_completion_tokens_caps_with_length(client: httpx.Client) -> None:
    """max_completion_tokens cuts the answer and the finish reason says 'length'."""
    _, stamped = post_stream(client, chat(max_completion_tokens=3, stream_options={"include_usage": True}))
    chunks = [e for _, e in stamped][:-1]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == words.text_of(0, 3)
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    assert chunks[-1]["usage"]["completion_tokens"] == 3


def test_reasoning_streams_first(client: httpx.Client) -> None:
    """Reasoning tokens arrive as delta.reasoning_content before the answer and count in usage."""
    _, stamped = post_stream(client, chat("thinker", stream_options={"include_usage": True}))
    chunks = [e for _, e in stamped][:-1]
    deltas = [c["choices"][0]["delta"] for c in chunks[1:-2]]
    assert [("reasoning" if d.get("reasoning_content") else "answer") for d in deltas] == ["reasoning"] * 3 + [
        "answer"
    ] * 4
    assert chunks[-1]["usage"]["completion_tokens"] == 7
    assert chunks[-1]["usage"]["completion_tokens_details"] == {"reasoning_tokens": 3}


def test_no_usage_chunk_unless_asked(client: httpx.Client) -> None:
    """Without stream_options.include_usage the finish chunk is followed directly by [DONE]."""
    _, stamped = post_stream(client, chat())
    events = [e for _, e in stamped]
    assert events[-2]["choices"][0]["finish_reason"] == "stop"
    assert all(e == "[DONE]" or e["choices"] for e in events)


def assert_openai_error(response: httpx.Response, status: int, code: str | None) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == code
    return error


def test_unknown_model_is_404(sim: SimServer, client: httpx.Client) -> None:
    """An unknown model gets OpenAI's 404 model_not_found, and the rejection is recorded."""
    response = client.post("/chat/completions", json=chat("gpt-nope"))
    error = assert_openai_error(response, 404, "model_not_found")
    assert "gpt-nope" in error["message"]
    record = record_for(sim, response.headers["x-sim-request-id"])
    assert (record.status, record.model, record.events) == (404, "gpt-nope", ())


@pytest.mark.parametrize(
    "body, status, code",
    [
        (chat(stream=False), 400, "unsupported_value"),
        (b"{oops", 400, None),
    ],
)
def test_bad_requests_are_400(client: httpx.Client, body: Any, status: int, code: str | None) -> None:
    """Non-streaming and malformed requests are refused with OpenAI-shaped 400s."""
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = client.post("/chat/completions", content=content, headers={"content-type": "application/json"})
    assert_openai_error(response, status, code)


def test_unknown_route_is_404(client: httpx.Client) -> None:
    """Only <prefix>/chat/completions is served; other paths get OpenAI's invalid-URL 404."""
    assert_openai_error(client.post("/completions", json=chat()), 404, None)
    assert client.post("/some/prefix/chat/completions", json=chat()).status_code == 200


@pytest.fixture(scope="module")
def keyed_sim() -> Iterator[SimServer]:
    with SimServer(PROFILES, api_key=KEY) as server:
        yield server


@pytest.mark.parametrize(
    "headers, code",
    [({}, None), ({"authorization": "Bearer sk-wrong"}, "invalid_api_key"), ({"authorization": KEY}, None)],
)
def test_missing_or_wrong_key_is_401(keyed_sim: SimServer, headers: dict[str, str], code: str | None) -> None:
    """With an expected key, a missing or wrong Bearer token gets a 401 that never echoes a key."""
    with httpx.Client(base_url=keyed_sim.base_url, trust_env=False) as c:
        response = c.post("/chat/completions", json=chat(), headers=headers)
    assert_openai_error(response, 401, code)
    assert "sk-" not in response.text
    assert not any("sk-" in value for value in response.headers.values())


def test_right_key_streams(keyed_sim: SimServer) -> None:
    """The expected key, case-insensitive scheme, is accepted."""
    with httpx.Client(base_url=keyed_sim.base_url, trust_env=False) as c:
        with c.stream("POST", "/chat/completions", json=chat(), headers={"authorization": f"bearer {KEY}"}) as r:
            assert r.status_code == 200
            assert stamped_events(r)[-1][1] == "[DONE]"


def test_keep_alive_serves_two_requests_on_one_connection(sim: SimServer, client: httpx.Client) -> None:
    """Two requests through one client reuse one TCP connection, an error in between does not break it."""
    first, _ = post_stream(client, chat())
    client.post("/chat/completions", json=chat("gpt-nope"))
    second, _ = post_stream(client, chat())
    ids = [first.headers["x-sim-request-id"], second.headers["x-sim-request-id"]]
    records = [record_for(sim, i) for i in ids]
    assert records[0].connection_id == records[1].connection_id
    assert records[0].seq < records[1].seq


def test_connection_close_is_honoured(sim: SimServer) -> None:
    """A request with Connection: close gets its stream and then the server closes the socket."""
    request = json.dumps(chat()).encode()
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as s:
        s.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%b" % (len(request), request)
        )
        received = b""
        while chunk := s.recv(65536):
            received += chunk
    assert received.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"connection: close" in received
    assert received.endswith(b"data: [DONE]\n\n\r\n0\r\n\r\n")


def test_records_over_http_since_and_reset(sim: SimServer, client: httpx.Client) -> None:
    """GET /_sim/records returns JSON records after ``since``; POST /_sim/reset clears them."""
    root = f"http://127.0.0.1:{sim.port}"
    post_stream(client, chat())
    everything = httpx.get(f"{root}/_sim/records", trust_env=False).json()
    assert everything and everything == [r.to_json() for r in sim.records()]
    last_seq = everything[-1]["seq"]
    post_stream(client, chat())
    newer = httpx.get(f"{root}/_sim/records", params={"since": last_seq}, trust_env=False).json()
    assert [r["seq"] for r in newer] == [last_seq + 1]
    assert httpx.post(f"{root}/_sim/reset", trust_env=False).json()["dropped"] == len(everything) + 1
    assert sim.records() == []
    assert httpx.get(f"{root}/_sim/lateness", trust_env=False).json()["events"] == 0


def test_client_leaving_mid_stream_is_recorded(sim: SimServer, client: httpx.Client) -> None:
    """A client that closes mid-stream leaves a record marked not completed; the server keeps serving."""
    with client.stream("POST", "/chat/completions", json=chat("long")) as response:
        request_id = response.headers["x-sim-request-id"]
        for _ in response.iter_raw():
            break
    deadline = time.monotonic() + 5
    while not [r for r in sim.records() if r.request_id == request_id] and time.monotonic() < deadline:
        time.sleep(0.01)
    record = record_for(sim, request_id)
    assert not record.completed
    assert 0 < len(record.events) < 100
    assert post_stream(client, chat())[0].status_code == 200


async def test_async_client_measures_the_same_stream(sim: SimServer) -> None:
    """An async httpx client (as probe's runner uses) reads the stream through to [DONE]."""
    async with httpx.AsyncClient(base_url=sim.base_url, trust_env=False) as c:
        async with c.stream("POST", "/chat/completions", json=chat()) as response:
            body = b"".join([piece async for piece in response.aiter_raw()])
    assert body.endswith(b"data: [DONE]\n\n")


def test_expect_100_continue(sim: SimServer) -> None:
    """A client that asks for 100 Continue (curl does for large bodies) gets it before sending the body."""
    request = json.dumps(chat()).encode()
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as s:
        s.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n" % len(request)
        )
        assert s.recv(1024) == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(request)
        received = b""
        while chunk := s.recv(65536):
            received += chunk
    assert received.startswith(b"HTTP/1.1 200 OK\r\n")
