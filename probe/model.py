"""The shared vocabulary: what flows between config, client, dialects, timing, store and report.

Everything here is a frozen, slotted dataclass or a plain literal type. Data flows one way:

    config -> ProbeRequest -> client -> Exchange (raw, stamped reads)
           -> sse + dialect -> StreamEvent -> timing/tokens -> Sample -> store -> stats -> report

A value that was not measured is ``None``, never ``0``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

# --------------------------------------------------------------------------- events

Channel: TypeAlias = Literal["answer", "reasoning", "refusal", "tool"]
"""What kind of generated text a delta carries. Only ``answer`` counts for time to first *answer* token."""

ErrorKind: TypeAlias = Literal[
    "rate_limited",  # 429 that may be retried later (Retry-After kept)
    "quota",  # 429 / in-band error that will not go away by waiting (insufficient_quota, billing)
    "auth",  # 401/403, or a provider's bad-key answer
    "bad_request",  # other 4xx
    "context_length",  # prompt too long for the model
    "not_found",  # 404: unknown model or deployment
    "server",  # 5xx
    "overloaded",  # 529 / overloaded_error / 503 "model overloaded"
    "stream_error",  # an error object inside a 200 stream
    "timeout",  # connect, first byte or total deadline passed
    "stall",  # no byte for longer than the stall timeout after the stream started
    "disconnect",  # connection closed before the stream's terminator
    "connect",  # connection refused, DNS or TLS failure
    "protocol",  # bytes that are not the dialect (not SSE, not JSON, wrong content type)
    "empty",  # a 200 stream that ended properly without one generated token
    "too_large",  # the response exceeded the maximum size probe keeps
]
ERROR_KINDS: tuple[str, ...] = ErrorKind.__args__  # type: ignore[attr-defined]


# SSEEvent, TextDelta and UsageReport are made once per streamed chunk of every sample (UsageReport for Gemini and
# vLLM, which report usage on every chunk), so they are plain slotted dataclasses: a frozen one sets each field
# through ``object.__setattr__``, which made building them 2.3 times as dear (TextDelta 505 against 203 ns).
# Nothing mutates them; treat them as values like the frozen ones below.
@dataclass(slots=True)
class SSEEvent:
    """One dispatched server-sent event (WHATWG rules): the event type and its joined data lines."""

    data: str
    event: str = "message"
    id: str | None = None


@dataclass(slots=True)
class TextDelta:
    """Generated text. Every non-empty delta is at least one token; a delta is not a token."""

    channel: Channel
    text: str


@dataclass(slots=True)
class UsageReport:
    """Token counts the provider reported. Later reports replace earlier ones (they are cumulative)."""

    input_tokens: int | None = None
    output_tokens: int | None = None  # reasoning included
    reasoning_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class Finished:
    """The provider said generation ended (finish_reason / stop_reason / finishReason)."""

    reason: str


@dataclass(frozen=True, slots=True)
class StreamFailed:
    """An error reported inside the stream; the sample becomes an error sample of this kind."""

    kind: ErrorKind
    message: str


@dataclass(frozen=True, slots=True)
class EndOfStream:
    """The dialect's explicit terminator ([DONE], message_stop, response.completed, ...)."""


@dataclass(frozen=True, slots=True)
class ResponseModel:
    """The model name the endpoint says answered (for model-integrity audits)."""

    name: str


StreamEvent: TypeAlias = TextDelta | UsageReport | Finished | StreamFailed | EndOfStream | ResponseModel


# --------------------------------------------------------------------------- requests

AuthStyle: TypeAlias = Literal["bearer", "api-key", "x-api-key", "x-goog-api-key", "none"]
AUTH_STYLES: tuple[str, ...] = AuthStyle.__args__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Target:
    """Where and how to send one request: everything a dialect needs, nothing it must look up.

    The key is held only here and in ``HttpRequest.secret_headers``; it is excluded from ``repr``.
    """

    base_url: str
    model_id: str
    auth: AuthStyle = "bearer"
    api_key: str | None = field(default=None, repr=False)
    headers: tuple[tuple[str, str], ...] = ()
    query: tuple[tuple[str, str], ...] = ()
    extra_body: tuple[tuple[str, object], ...] = ()
    max_tokens_field: str | None = None  # the body field that caps output, where the dialect offers a choice



@dataclass(frozen=True, slots=True)
class HttpRequest:
    """A fully built HTTP request, ready for the client. ``secret_headers`` hold credentials only."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    secret_headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Deadlines for one request, in seconds. ``stall_s`` bounds the gap between two reads."""

    connect_s: float = 10.0
    first_byte_s: float = 60.0
    stall_s: float = 30.0
    total_s: float = 300.0


# --------------------------------------------------------------------------- raw exchange


@dataclass(slots=True)
class Exchange:
    """What the client saw on the wire, stamped with a monotonic clock (ns) and nothing computed.

    Each network read is its stamp in ``read_times`` and its bytes in ``read_payloads``, in order; ``reads`` gives
    them as ``(t_ns, bytes)`` pairs. Mutable only while the client fills it. Two columns rather than a tuple per
    read: a tuple is an object the cyclic garbage collector tracks and walks (an int and a bytes are not), and the
    reads of every stream in flight sat in its youngest generation. With the columns, a 256-stream run of
    ``bench/accuracy.py``'s workload spent 27-40 ms in 51-74 collections instead of 47-60 ms in 113-137. The
    client hands the columns over as tuples, which the collector stops walking after one pass (``probe.client``).
    """

    started_ns: int
    started_at: str  # ISO 8601 UTC, for humans
    status: int | None = None
    headers_ns: int | None = None
    content_type: str | None = None
    retry_after: str | None = None
    request_id: str | None = None  # the provider's id for this request, for support tickets and matching
    read_times: Sequence[int] = ()
    read_payloads: Sequence[bytes] = ()
    ended_ns: int | None = None
    connect_ns: int | None = None  # TCP connect duration, when a connection was opened for this request
    tls_ns: int | None = None  # TLS handshake duration, idem
    failure: tuple[ErrorKind, str] | None = None  # a transport failure (timeout, reset, refused ...)
    truncated: bool = False  # the body exceeded the size limit and reading stopped

    @property
    def reads(self) -> list[tuple[int, bytes]]:
        """``(t_ns, bytes)`` per read, as a new list (for tests and replays; derivation reads the columns)."""
        return list(zip(self.read_times, self.read_payloads))

    @reads.setter
    def reads(self, reads: list[tuple[int, bytes]]) -> None:
        self.read_times = tuple([t_ns for t_ns, _ in reads])
        self.read_payloads = tuple([payload for _, payload in reads])


# --------------------------------------------------------------------------- samples

Status: TypeAlias = Literal["ok", "error"]
TokensSource: TypeAlias = Literal["usage", "tokenizer"]


@dataclass(frozen=True, slots=True)
class ChunkTrace:
    """Arrival offsets (µs from request start), token counts and channel codes of every token-bearing event.

    Kept with each sample so statistics over chunk timing can be recomputed for old runs.
    Channel codes: ``a`` answer, ``r`` reasoning, ``f`` refusal, ``t`` tool.
    """

    offsets_us: tuple[int, ...] = ()
    tokens: tuple[int, ...] = ()
    channels: str = ""


@dataclass(frozen=True, slots=True)
class Sample:
    """One request, flat enough to be one row of ``samples``. Column names are a public contract."""

    id: str
    run_id: str
    provider: str
    model: str
    api: str
    started_at: str
    status: Status
    error_kind: str | None = None
    error_message: str | None = None
    http_status: int | None = None
    ttfb_s: float | None = None
    ttft_s: float | None = None
    ttfat_s: float | None = None
    e2e_s: float | None = None
    connect_s: float | None = None
    tls_s: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    tokens_source: TokensSource | None = None
    output_tps: float | None = None
    finish_reason: str | None = None
    chunk_count: int | None = None  # token-bearing events
    read_count: int | None = None  # network reads
    response_model: str | None = None
    retry_after_s: float | None = None
    region: str | None = None
    workload: str | None = None
    max_tokens: int | None = None
    trace: ChunkTrace = field(default_factory=ChunkTrace)


@dataclass(frozen=True, slots=True)
class FittedPrompt:
    """A prompt made to an exact token length, kept as its parts until its request is sent (``str()`` puts it
    together). A workload's prompt is tens of kilobytes (10k tokens: 51 KB; a 100k long-context one, 0.5 MB), and a
    cron plan holds thousands: as text, a plan of 8,000 of the 10k workload took 391 MB for the whole run. The filler
    is one text shared by every prompt of a tokenizer; each keeps only its nonce-bearing head and where it stops."""

    head: str
    filler: str
    filler_chars: int
    tail: str

    def __str__(self) -> str:
        return self.head + self.filler[: self.filler_chars] + self.tail


@dataclass(frozen=True, slots=True)
class PlannedRequest:
    """One request the runner will send: which provider and model, to which target, with which prompt (``str()``
    of it is the text sent)."""

    provider: str
    model: str
    api: str
    target: Target
    prompt: str | FittedPrompt
    max_tokens: int
    timeouts: Timeouts = field(default_factory=Timeouts)
    region: str | None = None
    workload: str | None = None
    input_tokens: int | None = None  # tokens of the prompt's message content, when the plan made it to a length


# --------------------------------------------------------------------------- report inputs
# What a report reads besides raw samples: samples grouped as columns, stored prices, third-party scores.


@dataclass(frozen=True, slots=True)
class SampleGroup:
    """The samples of one provider serving one model on one UTC day with one outcome, held as columns.

    ``ttft_s``, ``ttfat_s`` and ``output_tps`` hold one entry per sample, aligned (entry i of each is the same
    sample), ``None`` where the value was not measured; they are empty for error groups. This is how a report
    reads a million samples without building a million objects.
    """

    provider: str
    model: str
    day: str  # YYYY-MM-DD, UTC
    status: Status
    error_kind: str | None
    count: int
    first_at: str
    last_at: str
    ttft_s: tuple[float | None, ...] = ()
    ttfat_s: tuple[float | None, ...] = ()
    output_tps: tuple[float | None, ...] = ()


@dataclass(frozen=True, slots=True)
class RegionGroup:
    """The samples of one provider serving one model, sent from one region, in a report's window.

    ``region`` is where probe ran (``probe run --region``), ``None`` when the samples recorded none. ``ttft_s`` and
    ``output_tps`` hold one entry per successful sample, aligned, ``None`` where the value was not measured.
    """

    region: str | None
    provider: str
    model: str
    count: int
    ok: int
    ttft_s: tuple[float | None, ...] = ()
    output_tps: tuple[float | None, ...] = ()


PRICE_LIST_PROVIDER = ""
"""``PriceRecord.provider`` of a model's own list price, the one model-level comparisons use."""


@dataclass(frozen=True, slots=True)
class PriceRecord:
    """A price a report used, as stored in the ``prices`` table: what, where, from which source, since when.

    ``provider`` is a configured provider name, or `PRICE_LIST_PROVIDER` for the model's list price. ``as_of`` is
    the date the source says the price took effect (``None`` when it records none); ``recorded_at`` is when probe
    stored it (ISO 8601 UTC), the key that makes a report at a given ``--now`` reproducible.
    """

    model: str
    provider: str
    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float | None
    source: str
    as_of: str | None
    recorded_at: str

    @property
    def blended_per_mtok(self) -> float:
        """(3 x input + output) / 4: the 3:1 input:output mix public price tables rank by."""
        return (3 * self.input_per_mtok + self.output_per_mtok) / 4

    def same_price(self, other: PriceRecord) -> bool:
        """Whether two records state the same price from the same source (ignoring when each was recorded)."""
        return (
            self.input_per_mtok,
            self.output_per_mtok,
            self.cached_input_per_mtok,
            self.source,
            self.as_of,
        ) == (other.input_per_mtok, other.output_per_mtok, other.cached_input_per_mtok, other.source, other.as_of)


@dataclass(frozen=True, slots=True)
class Score:
    """One third-party benchmark result: ``model`` scored ``score`` on ``benchmark``, per ``source``, on ``date``.

    ``model`` is probe's canonical model name (the one samples carry); ``date`` is ISO 8601 (YYYY-MM-DD or
    YYYY-MM). Higher is better.
    """

    model: str
    benchmark: str
    score: float
    source: str
    date: str


# --------------------------------------------------------------------------- provider audits

AUDIT_WORKLOAD = "audit"
"""``Sample.workload`` of the requests `probe audit` sends. They are real samples (availability counts them) but
stay out of every speed and latency statistic: a canary's three-token answer says nothing about decode speed."""

AuditProbeKind: TypeAlias = Literal["canary", "max_length"]


@dataclass(frozen=True, slots=True)
class AuditProbe:
    """What one audit request was for and what it found beyond its sample (one row of ``audit_probes``).

    ``requested_model`` is the model id sent to the provider (a report knows only the canonical name).
    ``first_party`` says the provider was the model's own maker when the audit ran: canary answers elsewhere are
    compared with its answers. A canary's ``expected`` and ``answer`` are normalized
    (`probe.audit.canaries.normalize_answer`); ``answer`` is ``None`` when no answer text streamed.
    """

    sample_id: str
    kind: AuditProbeKind
    requested_model: str
    first_party: bool
    canary: str | None = None
    expected: str | None = None
    answer: str | None = None

    @property
    def correct(self) -> bool | None:
        """Whether a canary's answer matches exactly; ``None`` for a max-length probe or a canary not answered."""
        if self.kind != "canary" or self.answer is None:
            return None
        return self.answer == self.expected


@dataclass(frozen=True, slots=True)
class OutcomeCount:
    """How many samples of one provider and model ended one way in an availability window: ``status`` and
    ``error_kind`` as stored, ``recent`` when they started in the last 24 hours of it."""

    provider: str
    model: str
    status: Status
    error_kind: str | None
    recent: bool
    count: int
