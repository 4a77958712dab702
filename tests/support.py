"""Helpers shared by the fault, robustness and secrecy tests: endpoints that fail at the transport level."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import pytest

from probe.sim import LatencyProfile, Simulator
from probe.sim.server import new_event_loop
from probe.model import StreamEvent, TextDelta
from probe.sse import decode_all
from probe.store import Store
from tests.conftest import sse_fixture

FAULT_KINDS = {
    "rate-limit": "rate_limited",
    "server-error": "server",
    "html-error": "server",
    "unauthorized": "auth",
    "not-a-stream": "protocol",
    "no-headers": "timeout",
    "cut": "disconnect",
    "stall": "stall",
    "endless": "timeout",
    "huge-line": "too_large",
    "bad-json": "protocol",
    "no-terminator": "disconnect",
    "no-tokens": "empty",
    "error-in-stream": "stream_error",
}
"""The error kind probe stores for each simulator fault (``probe.sim.faults``)."""

SIM_DIALECTS = ("openai-chat", "openai-responses", "anthropic-messages", "gemini")
"""Every dialect the simulator serves; each fault applies to all of them."""

TLS_FIXTURES = Path(__file__).parent / "fixtures" / "tls"
"""A self-signed certificate for localhost/127.0.0.1 (valid to 2126), made with ``openssl req -x509``; its key is
for these tests only."""


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released): connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fail_dns_for_invalid_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Resolution of any ``*.invalid`` name fails at once, as the resolver would, without asking one."""
    real = socket.getaddrinfo

    def getaddrinfo(host: object, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        name = host.decode() if isinstance(host, bytes) else host
        if isinstance(name, str) and name.rstrip(".").endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@contextmanager
def tls_simulator(profiles: Mapping[str, LatencyProfile]) -> Iterator[str]:
    """The simulator behind TLS with the self-signed certificate, on 127.0.0.1; yields its ``https://`` base URL."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(TLS_FIXTURES / "localhost.crt", TLS_FIXTURES / "localhost.key")
    simulator = Simulator(profiles)
    loop = new_event_loop()
    loop.set_exception_handler(lambda _loop, _context: None)  # failed handshakes are the point of these tests
    ready = threading.Event()
    port: list[int] = []
    stop: list[asyncio.Event] = []

    async def serve() -> None:
        stop.append(asyncio.Event())
        server = await asyncio.start_server(simulator.serve_connection, "127.0.0.1", 0, ssl=context)
        port.append(server.sockets[0].getsockname()[1])
        ready.set()
        try:
            await stop[0].wait()
        finally:
            server.close()
            await simulator.aclose()
            await server.wait_closed()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), name="tls-sim", daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield f"https://127.0.0.1:{port[0]}/v1"
    finally:
        loop.call_soon_threadsafe(stop[0].set)
        thread.join(10)
        loop.close()


# --------------------------------------------------------------------------- dialect parsing helpers


class WordCounter:
    """One token per whitespace-separated word: makes expected counts obvious."""

    def encode_ordinary(self, text: str) -> list[int]:
        return [0] * len(text.split())


def parse_body(dialect: ModuleType, body: bytes) -> list[StreamEvent]:
    """Every stream event a dialect's parser makes of a whole recorded body."""
    parser = dialect.Parser()
    return [event for sse in decode_all([body]) for event in parser.parse(sse)]


def parse_fixture(dialect: ModuleType, name: str) -> list[StreamEvent]:
    return parse_body(dialect, sse_fixture(dialect.NAME, name))


def texts(events: list[StreamEvent], channel: str) -> str:
    """The text a channel carried, across all its deltas."""
    return "".join(e.text for e in events if isinstance(e, TextDelta) and e.channel == channel)


def assert_reads_only_the_report_index(store: Store, read: Callable[[], object]) -> None:
    """``read`` runs its two SELECTs (count, then values) on the covering index alone, never on the table."""
    statements: list[str] = []
    store.db.conn.set_trace_callback(statements.append)
    try:
        read()
    finally:
        store.db.conn.set_trace_callback(None)
    queries = [sql for sql in statements if sql.startswith("SELECT")]
    assert len(queries) == 2
    for query in queries:
        plan = " ".join(row[-1] for row in store.db.execute("EXPLAIN QUERY PLAN " + query))
        assert "COVERING INDEX idx_samples_report" in plan
