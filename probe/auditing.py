"""Provider audits end to end: send `probe audit`'s requests and keep what they found, and read the evidence a
report's audit section needs. The I/O shell around the pure `probe.audit` package; the CLI and reports call it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from probe.audit.plan import AuditRequest, audit_probe
from probe.audit.scoring import AuditSet, audit_all
from probe.derive import answer_text
from probe.dialects import get_dialect
from probe.model import AuditProbe, Exchange, PlannedRequest, Sample
from probe.store import Store

if TYPE_CHECKING:
    from probe.job import RunOutcome

AUDIT_WINDOW = timedelta(days=7)
"""Audits in a report judge the 7 days before its end (availability also shows the last 24 hours)."""
RECENT = timedelta(hours=24)
LATEST_SAMPLES = 100
"""Billing, streaming and max-length checks read at most this many of a provider's newest samples per model."""


@dataclass(frozen=True, slots=True)
class AuditOutcome:
    """An audit run: how it ended, its samples (an audit plan is a few requests per model, so they are kept for
    the command's summary), and what each audit request found."""

    run: RunOutcome
    samples: tuple[Sample, ...]
    probes: tuple[AuditProbe, ...]


def run_audit(
    plan: Sequence[AuditRequest],
    db_path: str | Path,
    *,
    concurrency: int,
    provider_limits: dict[str, int] | None = None,
    insecure_providers: Sequence[str] = (),
    config_hash: str = "",
    region: str | None = None,
    on_sample: Callable[[Sample], None] | None = None,
) -> AuditOutcome:
    """Send the audit requests as one run and store, with each sample, what it found (a canary's answer).

    The answer text is read as each sample is derived (in the event loop's idle time); the probes are stored once
    the run ends (on Ctrl-C too). A killed run keeps its samples without their probes, which audits then ignore.
    """
    from probe.job import run_job  # the runner's httpx and anyio, only for a command that sends requests

    items = {_key(item.request): item for item in plan}  # unique: a canary per provider and model, nonces otherwise
    found: list[AuditProbe] = []
    samples: list[Sample] = []

    def on_derived(request: PlannedRequest, exchange: Exchange, sample: Sample) -> None:
        samples.append(sample)
        item = items[_key(request)]
        text = None
        if item.canary is not None and sample.status == "ok":
            secrets = (request.target.api_key,) if request.target.api_key else ()
            text = answer_text(exchange, get_dialect(request.api), secrets)
        found.append(audit_probe(item, sample, text))

    try:
        outcome = run_job(
            [item.request for item in plan],
            db_path,
            concurrency=concurrency,
            provider_limits=provider_limits,
            insecure_providers=insecure_providers,
            config_hash=config_hash,
            region=region,
            on_sample=on_sample,
            on_derived=on_derived,
        )
    finally:
        if found:
            with Store.open(db_path) as store:
                store.insert_audit_probes(found)
    return AuditOutcome(outcome, tuple(samples), tuple(found))


def _key(request: PlannedRequest) -> tuple[str, str, str]:
    return (request.provider, request.model, request.prompt)


def collect_audits(store: Store, *, until: str, models: Sequence[str] | None = None) -> AuditSet:
    """Read the evidence for every provider serving ``models`` (all when ``None``) and score it.

    Reads request counts from the report index, audit probes with their samples, and the newest
    `LATEST_SAMPLES` successful samples per provider and model (traces included), so the cost stays bounded
    however many samples the window holds.
    """
    end = datetime.fromisoformat(until.replace("Z", "+00:00"))
    end = end if end.tzinfo is not None else end.replace(tzinfo=UTC)
    since, recent = _stamp(end - AUDIT_WINDOW), _stamp(end - RECENT)
    outcomes = store.outcome_counts(since=since, until=until, recent_since=recent, models=models)
    probes = store.audit_probes(since=since, until=until, models=models)
    pairs = sorted({(o.provider, o.model) for o in outcomes} | {(s.provider, s.model) for s, _ in probes})
    latest = {
        (provider, model): store.latest_samples(provider, model, since=since, until=until, limit=LATEST_SAMPLES)
        for provider, model in pairs
    }
    return AuditSet(since, until, audit_all(latest, probes, outcomes))


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
