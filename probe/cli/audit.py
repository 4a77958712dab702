"""`probe audit`: a few small requests per provider and model that show whether it bills, streams and serves
the model honestly."""

from __future__ import annotations

import os
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from probe.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_NOTHING_SENT,
    METRICS_HELP,
    ConfigOption,
    DbOption,
    ModelOption,
    ProviderOption,
    app,
    fail,
    load,
    new_console,
)
from probe.cli.run import ProgressBar, take_lock, within_budget

if TYPE_CHECKING:
    from probe.model import AuditProbe, Sample


@app.command(epilog=METRICS_HELP)
def audit(
    config: ConfigOption = Path("providers.toml"),
    db: DbOption = Path("results.db"),
    provider: ProviderOption = None,
    model: ModelOption = None,
    concurrency: Annotated[int, typer.Option("--concurrency", "-j", min=1, help="Requests in flight at once, overall.")] = 4,
    region: Annotated[Optional[str], typer.Option("--region", help="Where this machine is, stored with each sample.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or table; errors still go to stderr.")] = False,
    lock: Annotated[bool, typer.Option("--lock", help="Take the same lock file as `probe run --lock`; if a run or audit holds it, skip with one line and exit 0 (for cron).")] = False,
    budget_usd: Annotated[Optional[float], typer.Option("--budget-usd", metavar="USD", min=0, help="As for `probe run`: send only the audit requests whose worst-case cost fits; the daily budget in providers.toml applies too.")] = None,
) -> None:
    """Audit each provider: does it bill, stream and serve the model honestly? Sends a few small requests.

    Per provider and model: four known-answer canary prompts (arithmetic, a capital city, a word spelled backwards,
    a number sequence) at temperature 0, and one request whose maximum output length (16 tokens) must stop it. They
    are stored as ordinary samples with workload 'audit' (counted for availability, never for speed or latency),
    with each canary's normalized answer in the `audit_probes` table. Providers on a model maker's own API host, or
    with `first_party = true` in providers.toml, are first-party: other providers' canary answers are compared with
    theirs.

    `probe report` then scores every provider and model over the last 7 days, from these requests and the ordinary
    samples: billing integrity (reported usage vs the streamed text), streaming integrity (tokens buffered and
    released in bursts?), model integrity (the reported model, canary answers, the maximum length honoured) and
    availability (success rates over 24 h and 7 d, with and without rate limits), on reports/audit-<provider>.md.
    Exit codes as for `probe run`.
    """
    from probe.audit.plan import build_audit_plan
    from probe.auditing import run_audit
    from probe.config import resolve_keys
    from probe.store import StoreError

    loaded = load(config)
    keys, skipped = resolve_keys(loaded, os.environ)
    err = new_console(stderr=True)
    for line in skipped.values():
        err.print(f"probe: {line}", markup=False)
    plan = build_audit_plan(loaded, keys, providers=provider or (), models=model or (), region=region)
    if not plan:
        raise fail("nothing to audit: no configured provider has its key set, or the filters matched nothing", EXIT_NOTHING_SENT)
    limits = {p.name: p.max_concurrency for p in loaded.providers if p.max_concurrency}
    insecure = [p.name for p in loaded.providers if not p.verify_tls]
    for name in insecure:
        err.print(f"probe: warning: TLS verification is OFF for provider {name!r} (verify_tls = false)", markup=False)
    with ExitStack() as stack:
        if lock:
            take_lock(stack, db)
        if budget_usd is not None or loaded.budget_usd_per_day is not None:
            plan = plan[: within_budget(loaded, [audit.request for audit in plan], db, budget_usd, 1)]
        advance = stack.enter_context(ProgressBar(len(plan), not quiet and sys.stderr.isatty()))
        try:
            outcome = run_audit(plan, db, concurrency=concurrency, provider_limits=limits, insecure_providers=insecure,
                                config_hash=loaded.digest, region=region, on_sample=advance)
        except StoreError as error:
            raise fail(str(error)) from None
        except KeyboardInterrupt:
            raise fail("interrupted: completed audit samples are kept; requests in flight were dropped", EXIT_INTERRUPTED) from None
    if not quiet:
        _print_audit_summary(outcome.samples, outcome.probes, db)
    if outcome.run.nothing_sent:
        raise fail("no request reached an endpoint (every connection failed); see the error samples", EXIT_NOTHING_SENT)


def _print_audit_summary(samples: tuple[Sample, ...], probes: tuple[AuditProbe, ...], db: Path) -> None:
    """Per provider and model: canaries answered right, the model names reported, the max-length probe, errors."""
    from rich.table import Table

    by_id = {s.id: s for s in samples}
    found: dict[tuple[str, str], list[tuple[Sample, AuditProbe]]] = {}
    for probe in probes:
        if probe.sample_id in by_id:
            sample = by_id[probe.sample_id]
            found.setdefault((sample.provider, sample.model), []).append((sample, probe))
    table = Table(title="probe audit: what each provider answered", title_justify="left")
    for column in ("provider", "model", "canaries right", "reported model", "max-length probe", "errors"):
        table.add_column(column)
    for (name, canonical), pairs in sorted(found.items()):
        canaries = [p for _, p in pairs if p.kind == "canary"]
        capped = [s for s, p in pairs if p.kind == "max_length" and s.status == "ok"]
        length = ", ".join(f"{sum(s.trace.tokens)} of {s.max_tokens} ({s.finish_reason or 'no finish reason'})" for s in capped)
        table.add_row(
            name,
            canonical,
            f"{sum(1 for p in canaries if p.correct)}/{len(canaries)}",
            ", ".join(sorted({s.response_model for s, _ in pairs if s.response_model})) or "–",
            length or "–",
            str(sum(1 for s, _ in pairs if s.status != "ok")),
        )
    console = new_console()
    console.print(table)
    console.print(f"{len(samples)} audit samples stored in {db}; `probe report` scores them", markup=False)
