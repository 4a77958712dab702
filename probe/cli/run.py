"""`probe run`, `probe providers` and `probe demo`: send the plan, show progress, print what was measured."""

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
    parse_now,
    write_reports_or_fail,
)

if TYPE_CHECKING:
    from probe.config import Config
    from probe.model import Sample
    from probe.store import SummaryRow
    from probe.workload import Workload


@app.command(epilog=METRICS_HELP)
def run(
    config: ConfigOption = Path("providers.toml"),
    db: DbOption = Path("results.db"),
    provider: ProviderOption = None,
    model: ModelOption = None,
    samples: Annotated[int, typer.Option("--samples", "-n", min=1, help="Requests per provider and model (a parallel workload rounds up to whole bursts).")] = 3,
    concurrency: Annotated[int, typer.Option("--concurrency", "-j", min=1, help="Requests in flight at once, overall (a parallel workload sets its own).")] = 4,
    workload: Annotated[str, typer.Option("--workload", metavar="NAME", help="Request shape: input and output tokens, and how many at once. Defaults: 100 (100 in, 300 out), 1k (1,000 / 1,000), 10k (10,000 / 1,500), parallel-10 (1k, 10 at once to each endpoint); providers.toml adds [workloads.NAME] tables.")] = "1k",
    max_tokens: Annotated[Optional[int], typer.Option("--max-tokens", min=1, help="Output tokens asked for per request, instead of the workload's.")] = None,
    region: Annotated[Optional[str], typer.Option("--region", help="Where this machine is, stored with each sample.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or table; errors still go to stderr.")] = False,
    lock: Annotated[bool, typer.Option("--lock", help="Take the lock file next to the database; if another `probe run --lock` holds it, skip this run with one line and exit 0 (for cron).")] = False,
    jitter: Annotated[float, typer.Option("--jitter", metavar="S", min=0, help="First wait a random 0 to S seconds, so scheduled runs do not all start on the minute; nothing is timed while waiting.")] = 0,
    budget_usd: Annotated[Optional[float], typer.Option("--budget-usd", metavar="USD", min=0, help="Send only the requests whose worst-case cost (input tokens + max output tokens, at list price) fits this budget; one line says what was left out.")] = None,
) -> None:
    """Probe every configured endpoint that has a key and store one sample per request.

    Each request gets a fresh prompt of the workload's exact input length, streams its answer, and becomes a row
    in the database's `samples` table, failures included (with an error kind). Providers whose key variable is
    unset are skipped with one line. A budget (--budget-usd, or [run] budget_usd_per_day in providers.toml for
    everything sent on one UTC day) needs a known price for every model probed, and cuts the plan before sending.
    """
    from probe.config import resolve_keys
    from probe.plan import build_plan

    loaded = load(config)
    chosen = workload_named(loaded, workload)
    keys, skipped = resolve_keys(loaded, os.environ)
    err = new_console(stderr=True)
    for line in skipped.values():
        err.print(f"probe: {line}", markup=False)
    plan = build_plan(loaded, keys, samples=samples, max_tokens=max_tokens, providers=provider or (), models=model or (),
                      region=region, workload=chosen)
    if not plan:
        raise fail("nothing to probe: no configured provider has its key set, or the filters matched nothing", EXIT_NOTHING_SENT)
    burst = chosen.concurrency or 1
    if jitter:
        _wait_jitter(jitter)
    with ExitStack() as stack:
        if lock:
            take_lock(stack, db)
        if budget_usd is not None or loaded.budget_usd_per_day is not None:
            plan = plan[: within_budget(loaded, plan, db, budget_usd, burst)]
        execute(loaded, plan, db, concurrency=concurrency, region=region, quiet=quiet, burst=burst)


def workload_named(loaded: Config, name: str) -> Workload:
    try:
        return loaded.workload(name)
    except KeyError as error:
        raise fail(f"--workload: {error.args[0]}") from None


def _wait_jitter(max_s: float) -> None:
    """Sleep a random 0..max_s seconds; Ctrl-C during the wait is an ordinary interruption (exit 130)."""
    import random
    import time

    try:
        time.sleep(random.uniform(0, max_s))
    except KeyboardInterrupt:
        raise fail("interrupted before starting", EXIT_INTERRUPTED) from None


def within_budget(loaded: Config, plan: list, db: Path, run_usd: float | None, burst: int) -> int:
    """How many of ``plan``'s requests, from the start, the run budget and today's remaining daily budget allow;
    exit 0 when none."""
    from datetime import UTC, datetime

    from probe.budget import BudgetError, limit_plan, spent_usd
    from probe.reporting import price_resolver
    from probe.store import Store, StoreError

    now = datetime.now(UTC)
    price_of = price_resolver(loaded, now)
    err = new_console(stderr=True)
    spent = 0.0
    if loaded.budget_usd_per_day is not None:
        try:
            with Store.open(db) as store:
                totals = store.token_totals(since=now.date().isoformat())
        except StoreError as error:
            raise fail(str(error)) from None
        spent, unknown = spent_usd(totals, price_of)
        if unknown:
            listed = ", ".join(f"{model} on {provider}" for provider, model in unknown)
            err.print(f"probe: budget: today's samples of {listed} have no known price and count as free", markup=False)
    try:
        limited = limit_plan(plan, price_of, run_usd=run_usd, day_usd=loaded.budget_usd_per_day,
                             spent_today_usd=spent, burst=burst)
    except BudgetError as error:
        raise fail(f"budget: {error}") from None
    if limited.message:
        err.print(f"probe: {limited.message}", markup=False)
    if not limited.plan:
        raise typer.Exit(0)
    return len(limited.plan)


def take_lock(stack: ExitStack, db: Path) -> None:
    """Hold the run lock until ``stack`` closes; skip the run (exit 0, one line) when another run holds it."""
    from probe.lock import LockHeld, lock_path, run_lock

    try:
        stack.enter_context(run_lock(db))
    except LockHeld as held:
        holder = f" (pid {held.holder})" if held.holder else ""
        new_console(stderr=True).print(f"probe: another probe run holds the lock {held.path}{holder}; skipping this run", markup=False)
        raise typer.Exit(0) from None
    except OSError as error:
        raise fail(f"{lock_path(db)}: cannot create the lock file ({error.strerror})") from None


def execute(loaded: Config, plan: list, db: Path, *, concurrency: int, region: str | None, quiet: bool, burst: int = 1) -> None:
    from probe.job import run_job
    from probe.store import Store, StoreError

    show = not quiet and sys.stderr.isatty()
    limits = {p.name: p.max_concurrency for p in loaded.providers if p.max_concurrency}
    insecure = [p.name for p in loaded.providers if not p.verify_tls]
    for name in insecure:
        new_console(stderr=True).print(f"probe: warning: TLS verification is OFF for provider {name!r} (verify_tls = false)", markup=False)
    with ProgressBar(len(plan), show) as advance:
        try:
            outcome = run_job(plan, db, concurrency=concurrency, provider_limits=limits, insecure_providers=insecure,
                              config_hash=loaded.digest, region=region, on_sample=advance, burst=burst)
        except StoreError as error:
            raise fail(str(error)) from None
        except KeyboardInterrupt:
            raise fail("interrupted: completed samples are kept; requests in flight were dropped", EXIT_INTERRUPTED) from None
    if not quiet:
        try:
            with Store.open(db) as store:
                rows = store.summary_rows(run_id=outcome.run_id)
        except StoreError as error:
            raise fail(str(error)) from None
        _print_summary(rows, outcome.stored, db)
    if outcome.nothing_sent:
        raise fail("no request reached an endpoint (every connection failed); see the error samples", EXIT_NOTHING_SENT)


class ProgressBar:
    """A rich progress bar on stderr, advanced as each sample is stored; silent when not wanted."""

    def __init__(self, total: int, show: bool) -> None:
        self._total, self._show = total, show
        self._progress = None
        self._task = None
        self._errors = 0

    def __enter__(self):  # type: ignore[no-untyped-def]
        if not self._show:
            return lambda sample: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("probing"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[errors]} errors"),
            TimeElapsedColumn(), console=new_console(stderr=True), transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task("probing", total=self._total, errors=0)
        return self._advance

    def _advance(self, sample: Sample) -> None:
        self._errors += sample.status != "ok"
        self._progress.update(self._task, advance=1, errors=self._errors)  # type: ignore[union-attr]

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()


def _print_summary(rows: list[SummaryRow], stored: int, db: Path) -> None:
    from rich.table import Table

    show_errors = any(row.error_kinds for row in rows)
    columns = ("provider", "model", "ok", "TTFT", "TTFAT", "tok/s", "E2E") + (("errors",) if show_errors else ())
    table = Table(title="probe run: medians of successful samples", title_justify="left")
    for column in columns:
        table.add_column(column, justify="left" if column in ("provider", "model", "errors") else "right", no_wrap=column != "errors")
    for row in rows:
        cells = [
            row.provider,
            row.model,
            f"{row.ok}/{row.samples}",
            _seconds(row.median_ttft_s),
            _seconds(row.median_ttfat_s),
            "–" if row.median_output_tps is None else f"{row.median_output_tps:.1f}",
            _seconds(row.median_e2e_s),
        ]
        if show_errors:
            cells.append(", ".join(f"{kind} {count}" for kind, count in row.error_kinds))
        table.add_row(*cells)
    console = new_console()
    console.print(table)
    console.print(f"{stored} samples stored in {db}", markup=False)


def _seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f} s"


@app.command(epilog=METRICS_HELP)
def providers(config: ConfigOption = Path("providers.toml")) -> None:
    """Show what is configured: each provider's dialect, endpoint, models, and whether its key is set.

    Keys are never shown: only the name of each variable and whether it is present.
    """
    from probe.config import header_value_ok

    loaded = load(config)
    console = new_console()
    console.print(f"{len(loaded.providers)} providers in {config}", markup=False)
    for p in loaded.providers:
        if p.api_key_env is None:
            key = "not needed"
        elif os.environ.get(p.api_key_env):
            usable = header_value_ok(os.environ[p.api_key_env])
            key = f"{p.api_key_env} set" if usable else f"{p.api_key_env} set but UNUSABLE (a line break or a non-ASCII character)"
        else:
            key = f"{p.api_key_env} NOT SET: `probe run` skips this provider"
        models = ", ".join(m.name if m.name == m.id else f"{m.name} ({m.id})" for m in p.models)
        region = f" ({p.region})" if p.region else ""
        console.print(f"\n{p.name}  [{p.api}]  {p.base_url}{region}\n  models: {models}\n  key:    {key}", markup=False)


@app.command(epilog=METRICS_HELP)
def demo(
    db: DbOption = Path("results.db"),
    samples: Annotated[int, typer.Option("--samples", "-n", min=1, help="Requests per simulated provider and model (20 lets the report verify wins within each provider).")] = 20,
    concurrency: Annotated[int, typer.Option("--concurrency", "-j", min=1, help="Requests in flight at once.")] = 8,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Run the whole pipeline against the built-in simulated provider: no key, no network.

    Starts a local server on 127.0.0.1 that streams like OpenAI, with latency profiles for GPT-4.1 Mini
    (about 0.56 s to first token, 80 tok/s) and Nano (about 0.47 s, 125 tok/s), served by two simulated
    providers; probes it, stores the samples and prints per-model medians.
    """
    from probe.demo import demo_config, running_demo_providers
    from probe.plan import build_plan

    with running_demo_providers() as base_urls:
        loaded = demo_config(base_urls)
        keys = {p.name: None for p in loaded.providers}
        plan = build_plan(loaded, keys, samples=samples, region="local", workload=loaded.workload(DEMO_WORKLOAD))
        execute(loaded, plan, db, concurrency=concurrency, region="local", quiet=quiet)
        _demo_audit(loaded, keys, db)
    written = write_reports_or_fail(db, Path("reports"), config=loaded, now=parse_now(None), workload=DEMO_WORKLOAD)
    console = new_console()
    for path in (*written.reports, written.index):
        console.print(f"report: {path}", markup=False)


def _demo_audit(loaded: Config, keys: dict[str, str | None], db: Path) -> None:
    """`probe audit` of the simulated providers, all requests at once (they are few), so the reports have audits."""
    from probe.audit.plan import build_audit_plan
    from probe.auditing import run_audit
    from probe.store import StoreError

    plan = build_audit_plan(loaded, keys, region="local")
    try:
        run_audit(plan, db, concurrency=len(plan), region="local")
    except StoreError as error:
        raise fail(str(error)) from None


DEMO_WORKLOAD = "100"
"""The demo's requests: short prompts, so it stays fast (the simulated models cap their answers anyway)."""
