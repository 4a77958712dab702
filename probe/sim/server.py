"""The simulated provider: a real HTTP/1.1 server on loopback that streams planned events when they are due.

``Simulator`` holds the state (profiles, records) and serves connections on one asyncio event loop; it knows the
routes (each dialect module ``matches`` its own paths: ``/chat/completions``, ``/responses``, ``/messages``,
``:streamGenerateContent``) but not the bytes of any dialect nor when events are due (``profiles.schedule``).
``SimServer`` runs a ``Simulator`` in a background thread with its own loop; ``python -m probe.sim`` runs one in
its own process (see ``probe.sim.process``).

Timing: every event of a response is due at ``received_ns + offset`` (absolute, from the plan), so a late
wake-up delays one event and never the ones after it. Event bytes are rendered before the wait, so the work
at the deadline is a clock read, one ``transport.write`` and another clock read. The loop's selector waits
with microsecond rather than epoll's millisecond resolution (``new_event_loop``).
"""

from __future__ import annotations

import asyncio
import heapq
import concurrent.futures
import json
import logging
import secrets
import select
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import replace
from types import TracebackType
from typing import Any, Protocol, TypeVar

from probe.sim import anthropic_messages, faults, gemini, http1, openai_chat, openai_responses
from probe.sim.canaries import canary_script
from probe.sim.dialect import INBAND_ERROR_HEADER, ErrorAnswer, RequestRejected, parse_inband_error, with_inband_error
from probe.sim.openai_chat import Rejection
from probe.sim.profiles import PROFILE_SETS, EventKind, LatencyProfile, Plan, PlannedEvent, schedule
from probe.sim.records import LatenessSummary, RequestRecord, SentEvent, lateness_summary

log = logging.getLogger(__name__)

DEFAULT_MAX_RECORDS = 1000
_T = TypeVar("_T")


class EventRenderer(Protocol):
    """What a dialect provides per response: the bytes of each planned event, called in plan order."""

    def render(self, event: PlannedEvent) -> bytes: ...


class Simulator:
    """Serves the simulated API on whatever event loop runs ``serve_connection``; all state lives on that loop.

    ``profiles`` maps a model name (the request's ``model``) to its profile. Requests without a ``seed`` field
    get ``seed * 1_000_003 + seq``, so a run with the same server seed and request order is reproducible.
    """

    def __init__(
        self,
        profiles: Mapping[str, LatencyProfile],
        *,
        seed: int = 0,
        api_key: str | None = None,
        max_records: int = DEFAULT_MAX_RECORDS,
        clock: Callable[[], int] = time.perf_counter_ns,
    ) -> None:
        self._profiles = dict(profiles)
        self._seed = seed
        self._api_key = api_key.encode() if api_key is not None else None
        self._records: deque[RequestRecord] = deque(maxlen=max_records)
        self._clock = clock
        self._pacer = Pacer(clock)
        self._tag = secrets.token_hex(3)
        self._seq = 0
        self._connections = 0
        self._tasks: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ records (call on the loop)

    def records(self, since: int = 0) -> list[RequestRecord]:
        """Finished requests with ``seq > since``, oldest first (at most ``max_records`` are kept)."""
        return [r for r in self._records if r.seq > since]

    def reset(self) -> int:
        """Forget all records; returns how many were dropped. Sequence numbers keep counting."""
        dropped = len(self._records)
        self._records.clear()
        return dropped

    def lateness(self, kinds: Collection[EventKind] | None = None) -> LatenessSummary:
        return lateness_summary(self._records, kinds)

    # ------------------------------------------------------------------ connections

    async def serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve requests on one connection until the client closes it or asks to (keep-alive)."""
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._connections += 1
        connection_id = self._connections
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                try:
                    raw_head = await reader.readuntil(b"\r\n\r\n")
                    head = http1.parse_head(raw_head)
                    length = head.content_length()
                    if length and (head.header("expect") or "").lower() == "100-continue":
                        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # curl waits a second for this
                    body = await reader.readexactly(length) if length else b""
                except asyncio.IncompleteReadError:
                    return  # the client closed the connection between requests
                except asyncio.LimitOverrunError:
                    _write_rejection(writer, Rejection(431, "request head too large"), keep_alive=False)
                    return
                except http1.HttpError as exc:
                    _write_rejection(writer, Rejection(exc.status, str(exc)), keep_alive=False)
                    return
                received_ns = self._clock()
                if not await self._respond(head, body, received_ns, connection_id, reader, writer):
                    return
        except ConnectionError:
            return
        except asyncio.CancelledError:
            # The server is closing. Ending normally keeps asyncio's stream callback from logging the
            # cancellation of an idle keep-alive connection as an error.
            return
        except Exception:
            log.exception("simulator connection %d failed", connection_id)
        finally:
            if task is not None:
                self._tasks.discard(task)
            writer.close()

    async def aclose(self) -> None:
        """Cancel the connections still open (streams in flight are recorded as not completed)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(0)  # let the closed transports run connection_lost before the loop goes

    # ------------------------------------------------------------------ routing

    async def _respond(
        self,
        head: http1.RequestHead,
        body: bytes,
        received_ns: int,
        connection_id: int,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        """Answer one request; True when the connection may serve another."""
        path = head.path
        if path.startswith("/_sim/"):
            return self._control(head, writer)
        self._seq += 1
        seq = self._seq
        request_id = f"chatcmpl-sim{self._tag}{seq:06d}"
        fault = faults.requested(head)  # x-sim-fault: chosen before routing, so every dialect gets it
        if fault is not None and fault.replaces_response:
            status = await faults.answer(fault, head, request_id, reader, writer)
            self._records.append(
                RequestRecord(
                    seq=seq, request_id=request_id, connection_id=connection_id, method=head.method, path=path,
                    status=status, received_ns=received_ns, headers_sent_ns=self._clock() if status else None,
                    completed=bool(status),
                )
            )
            return bool(status) and head.keep_alive

        def reject(rejection: ErrorAnswer, model: str | None = None) -> bool:
            _write_rejection(writer, rejection, head.keep_alive, request_id)
            self._records.append(
                RequestRecord(
                    seq=seq,
                    request_id=request_id,
                    connection_id=connection_id,
                    method=head.method,
                    path=path,
                    status=rejection.status,
                    received_ns=received_ns,
                    headers_sent_ns=self._clock(),
                    model=model,
                )
            )
            return head.keep_alive

        dialect = _dialect_for(path)
        if dialect is None:
            return reject(openai_chat.invalid_url(head.method, path))
        if head.method != "POST":
            return reject(Rejection(405, f"Method {head.method} not allowed on {path}; use POST."))
        if self._api_key is not None:
            rejection = dialect.check_key(head, self._api_key)
            if rejection is not None:
                return reject(rejection)
        try:
            request = dialect.parse_request(head, body)
        except RequestRejected as exc:
            return reject(exc.rejection)
        profile = self._profiles.get(request.model)
        if profile is None:
            return reject(dialect.model_not_found(request.model), request.model)
        if not request.stream:
            return reject(dialect.stream_required(), request.model)

        seed = request.seed if request.seed is not None else self._seed * 1_000_003 + seq
        dishonesty = fault.name if fault is not None and fault.name in faults.DISHONESTY else None
        script = canary_script(body, substituted=dishonesty == "substituted-model")
        if script is not None:  # an audit canary: answer it (rightly, unless substituted), nothing more
            profile = replace(profile, output_tokens=len(script.pieces), reasoning_tokens=0)
            request = replace(request, script=script)
        max_tokens = None if dishonesty == "ignored-max-tokens" else request.max_tokens
        plan = dialect.shape(schedule(profile, seed, max_tokens, include_usage=request.include_usage))
        if dishonesty == "inflated-usage":
            plan = replace(plan, extra_billed_tokens=plan.completion_tokens // 2 + 10)
        inband_error = parse_inband_error(head.header(INBAND_ERROR_HEADER))  # an error inside the 200 stream
        if inband_error is not None:
            plan = with_inband_error(plan, after_tokens=inband_error[1])
        served = replace(request, model=faults.SUBSTITUTE_MODEL) if dishonesty == "substituted-model" else request
        renderer = dialect.renderer(
            request_id, served, int(time.time()), plan, inband_error[0] if inband_error else None
        )
        record = RequestRecord(
            seq=seq,
            request_id=request_id,
            connection_id=connection_id,
            method=head.method,
            path=path,
            status=200,
            received_ns=received_ns,
            headers_sent_ns=None,
            model=request.model,
            seed=seed,
            prompt_tokens=request.prompt_tokens,
            completion_tokens=plan.completion_tokens,
            reasoning_tokens=plan.reasoning_tokens,
            finish_reason=plan.finish_reason,
        )
        shaping = fault if fault is not None and fault.shapes_stream else None
        completed = await self._stream(record, plan, renderer, head.keep_alive, reader, writer, shaping)
        return completed and head.keep_alive

    def _control(self, head: http1.RequestHead, writer: asyncio.StreamWriter) -> bool:
        """The simulator's own routes: records and reset. Not recorded themselves."""
        route = (head.method, head.path)
        if route == ("GET", "/_sim/records"):
            try:
                since = int(head.query.get("since", ["0"])[0])
            except ValueError:
                _write_rejection(writer, Rejection(400, "since must be an integer", param="since"), head.keep_alive)
                return head.keep_alive
            payload: object = [r.to_json() for r in self.records(since)]
        elif route == ("GET", "/_sim/lateness"):
            payload = self.lateness().to_json()
        elif route == ("POST", "/_sim/reset"):
            payload = {"dropped": self.reset()}
        else:
            _write_rejection(writer, openai_chat.invalid_url(head.method, head.path), head.keep_alive)
            return head.keep_alive
        body = json.dumps(payload, separators=(",", ":")).encode()
        writer.write(http1.full_response(200, body, "application/json", keep_alive=head.keep_alive))
        return head.keep_alive

    # ------------------------------------------------------------------ the hot path

    async def _stream(
        self,
        record: RequestRecord,
        plan: Plan,
        renderer: EventRenderer,
        keep_alive: bool,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        fault: faults.Requested | None = None,
    ) -> bool:
        """Write the head now and each event when due; record what left when. True if every event was written.

        A stream ``fault`` (see ``probe.sim.faults``) reshapes the events and how the body ends.
        """
        transport = writer.transport
        clock = self._clock
        received_ns = record.received_ns
        pending = http1.response_head(
            200,
            (
                ("content-type", "text/event-stream; charset=utf-8"),
                ("cache-control", "no-cache"),
                ("transfer-encoding", "chunked"),
                ("connection", "keep-alive" if keep_alive else "close"),
                ("x-sim-request-id", record.request_id),
            ),
        )
        headers_sent_ns: int | None = None
        sent: list[SentEvent] = []
        completed = False
        events: Iterable[PlannedEvent] = plan.events
        last: int | None = len(plan.events) - 1
        ending: faults.Ending = "complete"
        if fault is not None:
            shaped = faults.shape_stream(fault, plan, renderer)
            events, renderer, last, ending = shaped.events, shaped.renderer, shaped.last, shaped.ending
        if fault is None:
            return await self._paced_stream(record, plan, renderer, pending, transport, reader)
        try:
            for index, event in enumerate(events):
                frame = http1.chunk(renderer.render(event))
                if index == last:
                    frame += http1.LAST_CHUNK
                due_ns = received_ns + round(event.offset_s * 1e9)
                now = clock()
                if pending and due_ns > now:  # the head leaves at once; the first event only when due
                    transport.write(pending)
                    now = headers_sent_ns = clock()
                    pending = b""
                while due_ns > now:  # re-check: a timer may fire a hair early, an event never leaves early
                    await asyncio.sleep((due_ns - now) / 1e9)
                    now = clock()
                if transport.is_closing() or reader.at_eof():
                    return False  # the client went away (HTTP clients do not half-close mid-response)
                transport.write(pending + frame if pending else frame)
                sent_ns = clock()
                if pending:
                    headers_sent_ns = sent_ns
                    pending = b""
                buffered = transport.get_write_buffer_size()
                sent.append(SentEvent(event.kind, event.n_tokens, due_ns, now, sent_ns, buffered))
                if buffered:
                    await writer.drain()  # the client is not reading: wait instead of buffering without bound
            if ending != "complete":
                await faults.end_stream(ending, reader, transport)
                return False
            completed = True
            return True
        finally:
            self._records.append(
                replace(record, headers_sent_ns=headers_sent_ns, events=tuple(sent), completed=completed)
            )


    async def _paced_stream(
        self,
        record: RequestRecord,
        plan: Plan,
        renderer: EventRenderer,
        head: bytes,
        transport: asyncio.WriteTransport,
        reader: asyncio.StreamReader,
    ) -> bool:
        """The same stream as ``_stream``, written by the shared ``Pacer`` instead of a sleep per event.

        One timer then serves every event due at about the same moment across all streams, so the simulator's cost
        per event is a render, a write and three clock reads, not a task wake-up: that is what lets one process keep
        hundreds of streams on time. ``write_ns`` is read after rendering, just before the write. Faults keep the per-event loop, since their endings need to await.
        """
        clock = self._clock
        last = len(plan.events) - 1
        if last < 0:
            head += http1.LAST_CHUNK
        transport.write(head)
        headers_sent_ns = clock()
        sent: list[SentEvent] = []
        finished: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        events = plan.events
        received_ns = record.received_ns

        def finish(completed: bool) -> None:
            # Recorded before the awaiting task resumes, so the record exists once the client has the last byte.
            if not finished.done():
                self._records.append(
                    replace(record, headers_sent_ns=headers_sent_ns, events=tuple(sent), completed=completed)
                )
                finished.set_result(completed)

        def write_next(index: int, due_ns: int, now: int) -> None:
            if finished.done():
                return
            if transport.is_closing() or reader.at_eof():
                finish(False)  # the client went away
                return
            event = events[index]
            frame = http1.chunk(renderer.render(event))  # rendered when due: rendering a whole plan up front
            if index == last:  # would stall every other stream while hundreds of requests arrive at once
                frame += http1.LAST_CHUNK
            now = clock()
            transport.write(frame)
            sent_ns = clock()
            sent.append(SentEvent(event.kind, event.n_tokens, due_ns, now, sent_ns, transport.get_write_buffer_size()))
            schedule_from(index + 1)

        def schedule_from(index: int) -> None:
            if index == len(events):
                finish(True)
            else:
                self._pacer.add(received_ns + round(events[index].offset_s * 1e9), write_next, index)

        schedule_from(0)
        try:
            return await finished
        finally:
            finish(False)  # the server is closing: the pacer skips this stream's remaining events


class Pacer:
    """Writes events of every stream from one timer, in due order; an event never leaves before it is due.

    ``add(due_ns, callback, arg)`` calls ``callback(arg, due_ns, now_ns)`` at or after ``due_ns`` (``clock``
    time). All events due by the time the timer fires are written in that one wake-up.
    """

    def __init__(self, clock: Callable[[], int]) -> None:
        self._clock = clock
        self._heap: list[tuple[int, int, Callable[[int, int, int], None], int]] = []
        self._sequence = 0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_due_ns: int | None = None

    def add(self, due_ns: int, callback: Callable[[int, int, int], None], arg: int) -> None:
        self._sequence += 1
        heapq.heappush(self._heap, (due_ns, self._sequence, callback, arg))
        if self._timer_due_ns is None or due_ns < self._timer_due_ns:
            self._arm()

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = self._timer_due_ns = None
        if not self._heap:
            return
        due_ns = self._heap[0][0]
        delay_s = max(0.0, (due_ns - self._clock()) / 1e9)
        self._timer = asyncio.get_running_loop().call_later(delay_s, self._fire)
        self._timer_due_ns = due_ns

    def _fire(self) -> None:
        self._timer = self._timer_due_ns = None
        heap = self._heap
        now = self._clock()
        while heap and heap[0][0] <= now:
            due_ns, _, callback, arg = heapq.heappop(heap)
            callback(arg, due_ns, now)
            now = self._clock()
        self._arm()


_DIALECTS = (openai_chat, openai_responses, anthropic_messages, gemini)
"""The simulated dialects, each answering the requests whose path it ``matches`` (see ``probe.sim.dialect``)."""


def _dialect_for(path: str) -> Any:
    return next((dialect for dialect in _DIALECTS if dialect.matches(path)), None)


def _write_rejection(
    writer: asyncio.StreamWriter, rejection: ErrorAnswer, keep_alive: bool, request_id: str | None = None
) -> None:
    headers = (("x-sim-request-id", request_id),) if request_id else ()
    writer.write(http1.full_response(rejection.status, rejection.body(), "application/json", headers, keep_alive))


@asynccontextmanager
async def listening(simulator: Simulator, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[int]:
    """Serve ``simulator`` on ``host:port`` (0 = ephemeral) for the duration of the block; yields the port."""
    server = await asyncio.start_server(simulator.serve_connection, host, port, limit=http1.MAX_HEAD_BYTES)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await simulator.aclose()
        await server.wait_closed()


class SimServer:
    """A ``Simulator`` on 127.0.0.1 in a background thread with its own event loop, as a context manager.

    ``with SimServer() as sim: sim.base_url`` -> ``http://127.0.0.1:PORT/v1``. The server's loop shares the
    process (and its GIL) with the caller; for measurements that must not compete with the client, use
    ``probe.sim.process.spawn_sim_process``.
    """

    def __init__(
        self,
        profiles: Mapping[str, LatencyProfile] | None = None,
        *,
        seed: int = 0,
        api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        max_records: int = DEFAULT_MAX_RECORDS,
    ) -> None:
        self.simulator = Simulator(
            PROFILE_SETS["demo"] if profiles is None else profiles,
            seed=seed,
            api_key=api_key,
            max_records=max_records,
        )
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("SimServer is not running; use it as a context manager")
        return self._port

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL, ending in ``/v1``."""
        return f"http://{self.host}:{self.port}/v1"

    def __enter__(self) -> SimServer:
        self._thread = threading.Thread(target=self._run, name="probe-sim", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            raise self._error
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving, cancel open connections and join the thread. Idempotent."""
        loop, stop, thread = self._loop, self._stop, self._thread
        if loop is None or stop is None or thread is None:
            return
        if not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        thread.join()
        self._loop = self._stop = self._thread = None
        self._port = None

    def records(self, since: int = 0) -> list[RequestRecord]:
        """Finished requests with ``seq > since``; still readable after the server stopped."""
        return self._call(self.simulator.records, since)

    def reset(self) -> int:
        return self._call(self.simulator.reset)

    def lateness(self, kinds: Collection[EventKind] | None = None) -> LatenessSummary:
        return self._call(self.simulator.lateness, kinds)

    def _call(self, fn: Callable[..., _T], *args: object) -> _T:
        """Run ``fn`` on the server's loop (which owns the state) and wait; after ``close`` call it directly."""
        loop = self._loop
        if loop is None:
            return fn(*args)  # no loop thread: the state is ours to read
        future: concurrent.futures.Future[_T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # handed to the caller's thread
                future.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return future.result(timeout=30)

    def _run(self) -> None:
        loop = new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:
            self._error = exc
        finally:
            self._ready.set()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        async with listening(self.simulator, self.host, self._requested_port) as port:
            self._port = port
            self._ready.set()
            await self._stop.wait()


if hasattr(selectors, "EpollSelector"):

    class _PreciseEpollSelector(selectors.EpollSelector):
        """epoll waits in whole milliseconds (Python rounds timeouts up), so every timer would fire up to 1 ms late.

        Waiting on the epoll descriptor itself with ``select()``, whose timeout has microsecond resolution, and
        then collecting with a zero-timeout epoll poll removes that rounding at the cost of one extra syscall.
        """

        def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
            if timeout is not None and timeout > 0:
                try:
                    select.select([self.fileno()], [], [], timeout)
                    timeout = 0
                except ValueError:  # descriptor above FD_SETSIZE: keep epoll's own (rounded) wait
                    pass
            return super().select(timeout)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """The event loop the simulator runs on: asyncio's selector loop with sub-millisecond timer waits."""
    if hasattr(selectors, "EpollSelector"):
        return asyncio.SelectorEventLoop(_PreciseEpollSelector())
    return asyncio.new_event_loop()
