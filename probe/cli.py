"""The `probe` command line: wiring, files and exit codes. The logic lives in the modules it calls.

Exit codes (for cron): 0 the run completed (error samples are data, not failures of probe), or `--lock` found
another run going and skipped this one;
2 bad configuration or database; 3 no request could be sent at all; 130 interrupted with Ctrl-C.
Heavy modules (httpx, anyio, sqlite-utils, tiktoken) are imported inside commands so `--help` starts fast.
"""

from __future__ import annotations

import os
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from probe.config import Config
    from probe.model import AuditProbe, Sample
    from probe.store import SummaryRow
    from probe.workload import Workload

EXIT_BAD_INPUT = 2
EXIT_NOTHING_SENT = 3
EXIT_INTERRUPTED = 130

METRICS_HELP = """
\b
Metrics, per request:
  TTFB   time to the response headers
  TTFT   time to the first generated token of any kind (reasoning included)
  TTFAT  time to the first answer token (what a user waits for)
  tok/s  decode speed: tokens after the first chunk / time from first to last token chunk
  E2E    time to the end of the stream
"""

app = typer.Typer(
    name="probe",
    help="Measure hosted LLM APIs from your own network: time to first token, decode speed, failures and cost.\n"
    + METRICS_HELP,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="Provider configuration (TOML).")]
DbOption = Annotated[Path, typer.Option("--db", help="SQLite database the samples are written to.")]


def main() -> None:
    app()


def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> typer.Exit:
    """One clear line on stderr, no traceback."""
    _console(stderr=True).print(f"probe: {message}", markup=False)
    return typer.Exit(code)


def _load(config_path: Path) -> Config:
    from probe.config import ConfigError, load_config

    try:
        return load_config(config_path)
    except ConfigError as error:
        raise _fail(str(error)) from None


@app.command(epilog=METRICS_HELP)
def run(
    config: ConfigOption = Path("providers.toml"),
    db: DbOption = Path("results.db"),
    provider: Annotated[Optional[list[str]], typer.Option("--provider", "-p", help="Only this provider (repeatable).")] = None,
    model: Annotated[Optional[list[str]], typer.Option("--model", "-m", help="Only this model, by canonical name (repeatable).")] = None,
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

    loaded = _load(config)
    chosen = _workload(loaded, workload)
    keys, skipped = resolve_keys(loaded, os.environ)
    err = _console(stderr=True)
    for line in skipped.values():
        err.print(f"probe: {line}", markup=False)
    plan = build_plan(loaded, keys, samples=samples, max_tokens=max_tokens, providers=provider or (), models=model or (),
                      region=region, workload=chosen)
    if not plan:
        raise _fail("nothing to probe: no configured provider has its key set, or the filters matched nothing", EXIT_NOTHING_SENT)
    burst = chosen.concurrency or 1
    if jitter:
        _wait_jitter(jitter)
    with ExitStack() as stack:
        if lock:
            _take_lock(stack, db)
        if budget_usd is not None or loaded.budget_usd_per_day is not None:
            plan = plan[: _within_budget(loaded, plan, db, budget_usd, burst)]
        _execute(loaded, plan, db, concurrency=concurrency, region=region, quiet=quiet, burst=burst)


def _workload(loaded: Config, name: str) -> Workload:
    try:
        return loaded.workload(name)
    except KeyError as error:
        raise _fail(f"--workload: {error.args[0]}") from None


def _wait_jitter(max_s: float) -> None:
    """Sleep a random 0..max_s seconds; Ctrl-C during the wait is an ordinary interruption (exit 130)."""
    import random
    import time

    try:
        time.sleep(random.uniform(0, max_s))
    except KeyboardInterrupt:
        raise _fail("interrupted before starting", EXIT_INTERRUPTED) from None


def _within_budget(loaded: Config, plan: list, db: Path, run_usd: float | None, burst: int) -> int:
    """How many of ``plan``'s requests, from the start, the run budget and today's remaining daily budget allow;
    exit 0 when none."""
    from datetime import UTC, datetime

    from probe.budget import BudgetError, limit_plan, spent_usd
    from probe.reporting import price_resolver
    from probe.store import Store, StoreError

    now = datetime.now(UTC)
    price_of = price_resolver(loaded, now)
    err = _console(stderr=True)
    spent = 0.0
    if loaded.budget_usd_per_day is not None:
        try:
            with Store.open(db) as store:
                totals = store.token_totals(since=now.date().isoformat())
        except StoreError as error:
            raise _fail(str(error)) from None
        spent, unknown = spent_usd(totals, price_of)
        if unknown:
            listed = ", ".join(f"{model} on {provider}" for provider, model in unknown)
            err.print(f"probe: budget: today's samples of {listed} have no known price and count as free", markup=False)
    try:
        limited = limit_plan(plan, price_of, run_usd=run_usd, day_usd=loaded.budget_usd_per_day,
                             spent_today_usd=spent, burst=burst)
    except BudgetError as error:
        raise _fail(f"budget: {error}") from None
    if limited.message:
        err.print(f"probe: {limited.message}", markup=False)
    if not limited.plan:
        raise typer.Exit(0)
    return len(limited.plan)


def _take_lock(stack: ExitStack, db: Path) -> None:
    """Hold the run lock until ``stack`` closes; skip the run (exit 0, one line) when another run holds it."""
    from probe.lock import LockHeld, lock_path, run_lock

    try:
        stack.enter_context(run_lock(db))
    except LockHeld as held:
        holder = f" (pid {held.holder})" if held.holder else ""
        _console(stderr=True).print(f"probe: another probe run holds the lock {held.path}{holder}; skipping this run", markup=False)
        raise typer.Exit(0) from None
    except OSError as error:
        raise _fail(f"{lock_path(db)}: cannot create the lock file ({error.strerror})") from None


def _execute(loaded: Config, plan: list, db: Path, *, concurrency: int, region: str | None, quiet: bool, burst: int = 1) -> None:
    from probe.job import run_job
    from probe.store import Store, StoreError

    show = not quiet and sys.stderr.isatty()
    limits = {p.name: p.max_concurrency for p in loaded.providers if p.max_concurrency}
    insecure = [p.name for p in loaded.providers if not p.verify_tls]
    for name in insecure:
        _console(stderr=True).print(f"probe: warning: TLS verification is OFF for provider {name!r} (verify_tls = false)", markup=False)
    with _progress(len(plan), show) as advance:
        try:
            outcome = run_job(plan, db, concurrency=concurrency, provider_limits=limits, insecure_providers=insecure,
                              config_hash=loaded.digest, region=region, on_sample=advance, burst=burst)
        except StoreError as error:
            raise _fail(str(error)) from None
        except KeyboardInterrupt:
            raise _fail("interrupted: completed samples are kept; requests in flight were dropped", EXIT_INTERRUPTED) from None
    if not quiet:
        try:
            with Store.open(db) as store:
                rows = store.summary_rows(run_id=outcome.run_id)
        except StoreError as error:
            raise _fail(str(error)) from None
        _print_summary(rows, outcome.stored, db)
    if outcome.nothing_sent:
        raise _fail("no request reached an endpoint (every connection failed); see the error samples", EXIT_NOTHING_SENT)


class _progress:
    """A rich progress bar on stderr, advanced from the writer thread; silent when not wanted."""

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
            TimeElapsedColumn(), console=_console(stderr=True), transient=True,
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
    console = _console()
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

    loaded = _load(config)
    console = _console()
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
        _execute(loaded, plan, db, concurrency=concurrency, region="local", quiet=quiet)
        _demo_audit(loaded, keys, db)
    written = _write_reports(db, Path("reports"), config=loaded, now=_parse_now(None), workload=DEMO_WORKLOAD)
    console = _console()
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
        raise _fail(str(error)) from None


DEMO_WORKLOAD = "100"
"""The demo's requests: short prompts, so it stays fast (the simulated models cap their answers anyway)."""


# --------------------------------------------------------------------------- scheduling


@app.command(epilog=METRICS_HELP)
def cron(
    every: Annotated[str, typer.Option("--every", metavar="INTERVAL", help="How often: 30m, 1h, 2h, 3h, 6h, 12h, 1d, ... (intervals that divide a day).")] = "3h",
    config: ConfigOption = Path("providers.toml"),
    db: DbOption = Path("results.db"),
    log: Annotated[Path, typer.Option("--log", help="File each run appends its output to.")] = Path("probe.log"),
    env_file: Annotated[Optional[Path], typer.Option("--env-file", help="A file of KEY=value lines (the key variables providers.toml names) that the line sources; keep it chmod 600.")] = None,
    workload: Annotated[str, typer.Option("--workload", metavar="NAME", help="The workload each run sends (see `probe run --help`).")] = "1k",
    samples: Annotated[Optional[int], typer.Option("--samples", "-n", min=1, help="Requests per provider and model (default: probe run's).")] = None,
    jitter: Annotated[float, typer.Option("--jitter", metavar="S", min=0, help="Each run first waits a random 0 to S seconds.")] = 300,
    budget_usd: Annotated[Optional[float], typer.Option("--budget-usd", metavar="USD", min=0, help="Spending cap per run (see `probe run --help`); a daily cap goes in providers.toml.")] = None,
) -> None:
    """Print a crontab line that runs `probe run` on a schedule. Installs nothing: paste it into `crontab -e`.

    The line works in cron's bare environment (no PATH, home as the working directory): it calls this
    installation's probe by absolute path with absolute config, database and log paths, takes the lock (a run
    that finds the previous one still going skips with one line in the log and exit code 0), is quiet unless
    something goes wrong, and starts after a random delay. The minute (and, for intervals of hours, the hour) is
    chosen at random, so users of probe do not all probe on the hour. Keys: cron passes no environment, so give
    --env-file, or set the variables at the top of the crontab.
    """
    import random

    from probe.schedule import cron_line, cron_schedule, parse_every

    try:
        minutes = parse_every(every)
    except ValueError as error:
        raise _fail(f"--every: {error}") from None
    loaded = _load(config)
    _workload(loaded, workload)
    rng = random.Random()
    schedule = cron_schedule(minutes, rng.randrange(60), rng.randrange(24))
    command = [*_probe_executable(), "run", "--config", _absolute(config), "--db", _absolute(db), "--workload", workload]
    if samples is not None:
        command += ["--samples", str(samples)]
    if budget_usd is not None:
        command += ["--budget-usd", f"{budget_usd:g}"]
    command += ["--lock", "--quiet", "--jitter", f"{jitter:g}"]
    err = _console(stderr=True)
    names = sorted({p.api_key_env for p in loaded.providers if p.api_key_env})
    if env_file is not None:
        if not env_file.is_file():
            err.print(f"probe: warning: {env_file} does not exist yet; write KEY=value lines into it and chmod 600 it", markup=False)
        elif env_file.stat().st_mode & 0o077:
            err.print(f"probe: warning: {env_file} can be read by other users; chmod 600 it", markup=False)
        keys = f"Keys: exported from {_absolute(env_file)} (KEY=value lines; keep it chmod 600)."
    else:
        keys = (
            f"Keys: cron passes no environment; set {', '.join(names) or 'the key variables'} at the top of the "
            "crontab, or print this line again with --env-file FILE."
        )
    wait = f"Each run waits a random 0-{jitter:g} s first; if" if jitter else "If"
    out = _console()
    for comment in (
        f"# probe run, {schedule.words}. {wait} the previous run still holds the lock, it skips",
        f"# (one line in the log, exit 0). Output is appended to {_absolute(log)}.",
        f"# {keys} Install: `crontab -e`, paste the next line.",
    ):
        out.print(comment, markup=False)
    out.print(cron_line(schedule, command, log=_absolute(log), env_file=_absolute(env_file) if env_file else None), markup=False)


def _absolute(path: Path) -> str:
    """An absolute path without resolving symlinks (a venv's python is a symlink out of the venv)."""
    return os.path.abspath(path)


def _probe_executable() -> list[str]:
    """How cron can start this very probe: the `probe` script it was started as, else the one next to this
    Python (a venv's bin directory), else this Python with ``-m probe``."""
    candidates = [sys.argv[0]] if Path(sys.argv[0]).name == "probe" else []
    candidates.append(os.path.join(os.path.dirname(os.path.abspath(sys.executable)), "probe"))
    for candidate in candidates:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return [_absolute(Path(candidate))]
    return [os.path.abspath(sys.executable), "-m", "probe"]


# --------------------------------------------------------------------------- reports and scores

if TYPE_CHECKING:
    from datetime import datetime

    from probe.reporting import Written


@app.command(epilog=METRICS_HELP)
def report(
    db: Annotated[Path, typer.Option("--db", help="The results database to report on.")] = Path("results.db"),
    config: Annotated[
        Optional[Path],
        typer.Option("--config", "-c", help="Provider configuration: [[compare]] pairs and price overrides. "
                     "Default: providers.toml when it exists."),
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory the reports are written to.")] = Path("reports"),
    pair: Annotated[
        Optional[list[str]],
        typer.Option("--pair", metavar="A,B", help="Also compare two models: --pair gpt-4.1-mini,gpt-4.1-nano "
                     "(repeatable)."),
    ] = None,
    window: Annotated[
        str,
        typer.Option("--window", "-w", metavar="72h|14d|all", help="Samples from the last 72h (default), 14d, "
                     "any Nh or Nd, or all."),
    ] = "72h",
    now: Annotated[
        Optional[str],
        typer.Option("--now", metavar="ISO", help="Report as of this ISO 8601 time (default: now). Samples after it are left "
                     "out, so the same database and --now give the same files."),
    ] = None,
    min_samples: Annotated[
        int, typer.Option("--min-samples", min=2, help="Successful samples each model needs before a win is verified.")
    ] = 20,
    workload: Annotated[
        str,
        typer.Option("--workload", metavar="NAME|all", help="Report on the samples of this workload (see `probe run "
                     "--help`); all mixes every workload, including samples recorded before probe had workloads."),
    ] = "1k",
) -> None:
    """Write comparison reports: OUT/<a>-vs-<b>.md with SVG charts per pair, and OUT/index.md.

    Pairs come from the config's [[compare]] tables, then --pair; with neither, every pair of models in the
    database. Each report gives the overall leader and its verified wins, evidence depth, every metric with each
    model's rank among all models in the database, the providers serving each model, when to choose which,
    model metadata, charts and a methods note.

    A metric win is verified only when both models have at least --min-samples successful samples and a 95%
    bootstrap interval of the difference of medians excludes 0; where providers serve both models, the two are
    compared within those providers. Prices (config override, else genai-prices) are stored in the database with
    their source and date the first time a report uses them, so a report can be reproduced. Third-party scores
    come from `probe scores import`. Prints the path of every file written.
    """
    from probe.report import Settings, parse_window

    moment = _parse_now(now)
    try:
        parse_window(window, moment)
    except ValueError as error:
        raise _fail(f"--window: {error}") from None
    pairs = _parse_pairs(pair or [])
    if config is None:
        loaded = _load(Path("providers.toml")) if Path("providers.toml").is_file() else None
    else:
        loaded = _load(config)
    written = _write_reports(db, out, config=loaded, pairs=pairs, window=window, now=moment,
                             settings=Settings(min_samples=min_samples), workload=workload)
    console = _console()
    for path in written.paths:
        console.print(str(path), markup=False)
    scope = written.workload
    if scope is not None and not scope.shown:
        there = ", ".join(f"{name or 'none recorded'} ({n})" for name, n in scope.present)
        found = f"; the window holds {there}: pass --workload NAME, or --workload all for every sample" if there else ""
        _console(stderr=True).print(f"probe: no samples of workload {workload!r} in the window{found}", markup=False)


def _parse_now(text: str | None) -> datetime:
    from datetime import UTC, datetime

    if text is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise _fail(f"--now {text!r} is not an ISO 8601 time such as 2025-06-04T12:00:00Z") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _parse_pairs(values: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        a, comma, b = (part.strip() for part in value.partition(","))
        if not comma or not a or not b or "," in b:
            raise _fail(f"--pair {value!r}: give two model names separated by a comma, e.g. gpt-4.1-mini,gpt-4.1-nano")
        pairs.append((a, b))
    return pairs


def _write_reports(db: Path, out: Path, **options: object) -> Written:
    """Open the database (which must exist), write the report set, and turn failures into one line and exit 2."""
    from probe.reporting import write_reports
    from probe.store import Store, StoreError

    if not db.is_file():
        raise _fail(f"{db}: does not exist; run `probe run` or `probe demo` first, or pass --db")
    try:
        with Store.open(db) as store:
            return write_reports(store, out, **options)  # type: ignore[arg-type]
    except StoreError as error:
        raise _fail(str(error)) from None
    except OSError as error:
        raise _fail(f"{out}: cannot write the reports ({error.strerror or error})") from None


scores_app = typer.Typer(
    name="scores",
    help="Third-party benchmark scores (MATH-500, AIME, ...) that reports show next to probe's own measurements.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(scores_app)


@scores_app.command("import", epilog=METRICS_HELP)
def scores_import(
    file: Annotated[Path, typer.Argument(help="A CSV or JSON file of scores.", show_default=False)],
    db: Annotated[Path, typer.Option("--db", help="The results database to import into.")] = Path("results.db"),
    fmt: Annotated[
        Optional[str],
        typer.Option("--format", metavar="csv|json", help="Default: from the file name, then the content."),
    ] = None,
) -> None:
    """Import third-party benchmark scores into the database's `scores` table.

    One row per score, with these fields (CSV: a header line naming them, in any order; lines starting with #
    are comments. JSON: an array of objects with these keys):

    \b
      model      probe's canonical model name, as in providers.toml ("gpt-4.1-mini")
      benchmark  the benchmark as the source names it ("MATH-500")
      score      a number, higher is better ("92.5%" reads as 92.5)
      source     who published it ("Artificial Analysis"); reports name it
      date       when it was published: YYYY-MM-DD or YYYY-MM

    \b
    Example CSV:
      model,benchmark,score,source,date
      gpt-4.1-mini,MATH-500,92.5,Artificial Analysis,2025-05-01

    Importing a row with the same model, benchmark, source and date again replaces its score. Reports show a
    benchmark only when both models have it, and verify a difference only when both scores share a source.
    """
    from probe.scores import ScoresError, parse_scores
    from probe.store import Store, StoreError

    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _fail(f"{file}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise _fail(f"{file}: cannot be read ({error})") from None
    try:
        scores = parse_scores(text, name=str(file), fmt=fmt)
    except ScoresError as error:
        raise _fail(str(error)) from None
    try:
        with Store.open(db) as store:
            store.insert_scores(scores)
    except StoreError as error:
        raise _fail(str(error)) from None
    models = len({s.model for s in scores})
    benchmarks = len({s.benchmark for s in scores})
    _console().print(
        f"imported {len(scores)} scores ({models} models, {benchmarks} benchmarks) from {file} into {db}", markup=False
    )


# --------------------------------------------------------------------------- provider audits


@app.command(epilog=METRICS_HELP)
def audit(
    config: ConfigOption = Path("providers.toml"),
    db: DbOption = Path("results.db"),
    provider: Annotated[Optional[list[str]], typer.Option("--provider", "-p", help="Only this provider (repeatable).")] = None,
    model: Annotated[Optional[list[str]], typer.Option("--model", "-m", help="Only this model, by canonical name (repeatable).")] = None,
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

    loaded = _load(config)
    keys, skipped = resolve_keys(loaded, os.environ)
    err = _console(stderr=True)
    for line in skipped.values():
        err.print(f"probe: {line}", markup=False)
    plan = build_audit_plan(loaded, keys, providers=provider or (), models=model or (), region=region)
    if not plan:
        raise _fail("nothing to audit: no configured provider has its key set, or the filters matched nothing", EXIT_NOTHING_SENT)
    limits = {p.name: p.max_concurrency for p in loaded.providers if p.max_concurrency}
    insecure = [p.name for p in loaded.providers if not p.verify_tls]
    for name in insecure:
        err.print(f"probe: warning: TLS verification is OFF for provider {name!r} (verify_tls = false)", markup=False)
    with ExitStack() as stack:
        if lock:
            _take_lock(stack, db)
        if budget_usd is not None or loaded.budget_usd_per_day is not None:
            plan = plan[: _within_budget(loaded, [audit.request for audit in plan], db, budget_usd, 1)]
        advance = stack.enter_context(_progress(len(plan), not quiet and sys.stderr.isatty()))
        try:
            outcome = run_audit(plan, db, concurrency=concurrency, provider_limits=limits, insecure_providers=insecure,
                                config_hash=loaded.digest, region=region, on_sample=advance)
        except StoreError as error:
            raise _fail(str(error)) from None
        except KeyboardInterrupt:
            raise _fail("interrupted: completed audit samples are kept; requests in flight were dropped", EXIT_INTERRUPTED) from None
    if not quiet:
        _print_audit_summary(outcome.samples, outcome.probes, db)
    if outcome.run.nothing_sent:
        raise _fail("no request reached an endpoint (every connection failed); see the error samples", EXIT_NOTHING_SENT)


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
    console = _console()
    console.print(table)
    console.print(f"{len(samples)} audit samples stored in {db}; `probe report` scores them", markup=False)


# --------------------------------------------------------------------------- several machines, browsing, export


@app.command(epilog=METRICS_HELP)
def merge(
    others: Annotated[
        list[Path],
        typer.Argument(metavar="OTHER.db...", help="Results databases from other machines (opened read-only).",
                       show_default=False),
    ],
    db: Annotated[Path, typer.Option("--db", help="The results database to merge into (created if missing).")] = Path(
        "results.db"
    ),
) -> None:
    """Add other machines' runs, samples (with their traces), scores and prices to this database.

    Run and sample ids are global, so merging is idempotent: a row already here is skipped, and merging the same
    file twice adds nothing the second time. Every file is checked before any is copied; if one is missing, not a
    probe database, corrupt or from a newer probe, probe names it in one line, exits 2 and changes nothing. Each
    file is then copied in one transaction. Prints the rows added per table.

    Reports split latency by region when the samples in their window come from more than one (`probe run
    --region`), so give each machine its own region.
    """
    from probe.store import StoreError, merge_into

    try:
        merged = merge_into(db, others)
    except StoreError as error:
        raise _fail(str(error)) from None
    console = _console()
    for counts in merged:
        added = ", ".join(f"{n:,} {table}" for table, n in counts.added)
        finished = f"; {counts.runs_finished:,} runs learned their end" if counts.runs_finished else ""
        console.print(f"merged {counts.source} into {db}: added {added}{finished}", markup=False)


@app.command(epilog=METRICS_HELP)
def export(
    fmt: Annotated[
        Optional[str],
        typer.Option("--format", "-f", metavar="csv|json",
                     help="Default: from the --out file name (.json or .csv), else csv."),
    ] = None,
    db: Annotated[Path, typer.Option("--db", help="The results database to read (opened read-only).")] = Path("results.db"),
    out: Annotated[str, typer.Option("--out", "-o", metavar="FILE|-", help="Where to write; - is standard output.")] = "-",
    since: Annotated[
        Optional[str],
        typer.Option("--since", metavar="WHEN", help="Samples started at or after: an ISO 8601 date or time (UTC unless "
                     "it says otherwise), or a span back from now such as 72h or 14d."),
    ] = None,
    until: Annotated[
        Optional[str], typer.Option("--until", metavar="WHEN", help="Samples started before this (same forms as --since).")
    ] = None,
    provider: Annotated[Optional[list[str]], typer.Option("--provider", "-p", help="Only this provider (repeatable).")] = None,
    model: Annotated[Optional[list[str]], typer.Option("--model", "-m", help="Only this model (repeatable).")] = None,
    status: Annotated[Optional[str], typer.Option("--status", metavar="ok|error", help="Only successes or only failures.")] = None,
    workload: Annotated[Optional[str], typer.Option("--workload", help="Only samples of this workload.")] = None,
    traces: Annotated[
        bool, typer.Option("--traces", help="Add each sample's chunk trace: offsets_us, tokens, channels.")
    ] = False,
) -> None:
    """Write samples as CSV or JSON, one record per sample, oldest first; to standard output by default.

    The columns are those of the `samples` table, in its order (see README.md for what each means); a value not
    measured is empty in CSV and null in JSON. JSON is an array with one object per line. Rows are written as they
    are read, so exporting a million samples takes little memory. A file given with --out is written whole or not at
    all (through a temporary file next to it).
    """
    from probe.export import EXPORT_FORMATS, write_samples
    from probe.store import Store, StoreError

    if fmt is None:
        suffix = Path(out).suffix.lstrip(".").lower() if out != "-" else ""
        fmt = suffix if suffix in EXPORT_FORMATS else "csv"
    elif fmt not in EXPORT_FORMATS:
        raise _fail(f"--format {fmt!r}: choose csv or json")
    if status is not None and status not in ("ok", "error"):
        raise _fail(f"--status {status!r}: choose ok or error")
    filters = dict(
        since=_parse_bound(since, "--since"),
        until=_parse_bound(until, "--until"),
        providers=provider or None,
        models=model or None,
        status=status,
        workload=workload,
        with_trace=traces,
    )
    try:
        with Store.open(db, readonly=True) as store:
            if out == "-":
                try:
                    write_samples(store.iter_samples(**filters), sys.stdout, fmt, traces=traces)  # type: ignore[arg-type]
                    sys.stdout.flush()
                except BrokenPipeError:  # `probe export | head`: the reader has what it wanted
                    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                return
            target = Path(out)
            partial = target.with_name(f".{target.name}.partial")
            try:
                with partial.open("w", encoding="utf-8", newline="") as stream:
                    count = write_samples(store.iter_samples(**filters), stream, fmt, traces=traces)  # type: ignore[arg-type]
                os.replace(partial, target)
            finally:
                partial.unlink(missing_ok=True)
    except StoreError as error:
        raise _fail(str(error)) from None
    except OSError as error:
        raise _fail(f"{out}: cannot write ({error.strerror or error})") from None
    _console().print(f"exported {count:,} samples to {target}", markup=False)


def _parse_bound(text: str | None, option: str) -> str | None:
    """A window bound as samples stamp time (``2025-06-04T12:00:00.000Z``), so it compares as text. A bare date stays
    a date, which compares as the start of that UTC day; ``72h`` or ``14d`` count back from now."""
    import re
    from datetime import UTC, datetime, timedelta

    if text is None:
        return None
    value = text.strip()
    if span := re.fullmatch(r"(\d+)([hd])", value.lower()):
        amount = int(span.group(1))
        moment = datetime.now(UTC) - (timedelta(hours=amount) if span.group(2) == "h" else timedelta(days=amount))
    elif re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return value
    else:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise _fail(f"{option} {text!r}: give an ISO 8601 date or time (2025-06-01, 2025-06-01T12:00Z) or a span "
                        "back from now such as 72h or 14d") from None
        moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@app.command(epilog=METRICS_HELP)
def ui(
    db: Annotated[Path, typer.Option("--db", help="The results database to browse.")] = Path("results.db"),
    host: Annotated[str, typer.Option("--host", help="Address to serve on; keep 127.0.0.1 unless others should see it.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to serve on.")] = 8001,
    open_browser: Annotated[bool, typer.Option("--open/--no-open", help="Open it in a web browser.")] = True,
) -> None:
    """Browse the results database in Datasette, with saved queries: latest samples and runs, error kinds and
    success rate per provider, daily medians per model, medians per region.

    Needs the optional ui extra (pip install 'probe[ui]'). Datasette reads the database and never writes to it;
    runs can go on while it is open. Stop it with Ctrl-C; a SIGTERM or SIGHUP to probe stops Datasette too.
    """
    import importlib.metadata
    import importlib.util
    import json
    import signal
    import tempfile

    from probe.store import Store, StoreError
    from probe.ui import INSTALL_HINT, datasette_command, datasette_files, serve

    if importlib.util.find_spec("datasette") is None:
        raise _fail(f"datasette is not installed; {INSTALL_HINT}")
    if not db.is_file():
        raise _fail(f"{db}: does not exist; run `probe run` or `probe demo` first, or pass --db")
    try:
        Store.open(db).close()  # a probe database, migrated to this probe's schema
    except StoreError as error:
        raise _fail(str(error)) from None
    version = importlib.metadata.version("datasette")
    metadata, config = datasette_files(db, version)
    with tempfile.TemporaryDirectory(prefix="probe-ui-") as folder:
        metadata_path = Path(folder) / "metadata.json"
        metadata_path.write_text(json.dumps(metadata, indent=2), encoding="utf-8")
        config_path = None
        if config is not None:
            config_path = Path(folder) / "datasette.json"
            config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")
        command = datasette_command(db, datasette_version=version, metadata=metadata_path, config=config_path,
                                    host=host, port=port, open_browser=open_browser)
        _console(stderr=True).print(f"probe: serving {db} with Datasette {version} on http://{host}:{port}/ (Ctrl-C stops it)",
                                    markup=False)
        code = serve(command)
    raise typer.Exit(0 if code == 128 + signal.SIGINT else code)  # stopping it with Ctrl-C is how it ends
