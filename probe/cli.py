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
    from probe.model import Sample

EXIT_BAD_INPUT = 2
EXIT_NOTHING_SENT = 3
EXIT_INTERRUPTED = 130

METRICS_HELP = """
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


@app.command()
def run(
    config: ConfigOption = Path("providers.toml"),
    db: DbOption = Path("results.db"),
    provider: Annotated[Optional[list[str]], typer.Option("--provider", "-p", help="Only this provider (repeatable).")] = None,
    model: Annotated[Optional[list[str]], typer.Option("--model", "-m", help="Only this model, by canonical name (repeatable).")] = None,
    samples: Annotated[int, typer.Option("--samples", "-n", min=1, help="Requests per provider and model.")] = 3,
    concurrency: Annotated[int, typer.Option("--concurrency", "-j", min=1, help="Requests in flight at once, overall.")] = 4,
    max_tokens: Annotated[int, typer.Option("--max-tokens", min=1, help="Output tokens asked for per request.")] = 300,
    region: Annotated[Optional[str], typer.Option("--region", help="Where this machine is, stored with each sample.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or table; errors still go to stderr.")] = False,
    lock: Annotated[bool, typer.Option("--lock", help="Take the lock file next to the database; if another `probe run --lock` holds it, skip this run with one line and exit 0 (for cron).")] = False,
) -> None:
    """Probe every configured endpoint that has a key and store one sample per request.

    Each request gets a fresh prompt, streams its answer, and becomes a row in the database's `samples` table,
    failures included (with an error kind). Providers whose key variable is unset are skipped with one line.
    """
    from probe.config import resolve_keys
    from probe.plan import build_plan

    loaded = _load(config)
    keys, skipped = resolve_keys(loaded, os.environ)
    err = _console(stderr=True)
    for line in skipped.values():
        err.print(f"probe: {line}", markup=False)
    plan = build_plan(loaded, keys, samples=samples, max_tokens=max_tokens, providers=provider or (), models=model or (), region=region)
    if not plan:
        raise _fail("nothing to probe: no configured provider has its key set, or the filters matched nothing", EXIT_NOTHING_SENT)
    with ExitStack() as stack:
        if lock:
            _take_lock(stack, db)
        _execute(loaded, plan, db, concurrency=concurrency, region=region, quiet=quiet)


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


def _execute(loaded: Config, plan: list, db: Path, *, concurrency: int, region: str | None, quiet: bool) -> list[Sample]:
    from probe.job import run_job
    from probe.store import StoreError

    show = not quiet and sys.stderr.isatty()
    limits = {p.name: p.max_concurrency for p in loaded.providers if p.max_concurrency}
    insecure = [p.name for p in loaded.providers if not p.verify_tls]
    for name in insecure:
        _console(stderr=True).print(f"probe: warning: TLS verification is OFF for provider {name!r} (verify_tls = false)", markup=False)
    with _progress(len(plan), show) as advance:
        try:
            outcome = run_job(plan, db, concurrency=concurrency, provider_limits=limits, insecure_providers=insecure,
                              config_hash=loaded.digest, region=region, on_sample=advance)
        except StoreError as error:
            raise _fail(str(error)) from None
        except KeyboardInterrupt:
            raise _fail("interrupted: completed samples are kept; requests in flight were dropped", EXIT_INTERRUPTED) from None
    if not quiet:
        _print_summary(outcome.samples, db)
    if outcome.nothing_sent:
        raise _fail("no request reached an endpoint (every connection failed); see the error samples", EXIT_NOTHING_SENT)
    return list(outcome.samples)


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


def _print_summary(samples: tuple[Sample, ...] | list[Sample], db: Path) -> None:
    from rich.table import Table

    from probe.stats import summarize

    rows = summarize(samples)
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
            _seconds(row.ttft_s),
            _seconds(row.ttfat_s),
            "–" if row.output_tps is None else f"{row.output_tps:.1f}",
            _seconds(row.e2e_s),
        ]
        if show_errors:
            cells.append(", ".join(f"{kind} {count}" for kind, count in row.error_kinds))
        table.add_row(*cells)
    console = _console()
    console.print(table)
    console.print(f"{len(samples)} samples stored in {db}", markup=False)


def _seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f} s"


@app.command()
def providers(config: ConfigOption = Path("providers.toml")) -> None:
    """Show what is configured: each provider's dialect, endpoint, models, and whether its key is set.

    Keys are never shown: only the name of each variable and whether it is present.
    """
    from rich.table import Table

    loaded = _load(config)
    table = Table(title=f"providers in {config}", title_justify="left")
    for column in ("provider", "api", "base_url", "models", "key"):
        table.add_column(column)
    for p in loaded.providers:
        if p.api_key_env is None:
            key = "not needed"
        else:
            key = f"{p.api_key_env} " + ("set" if os.environ.get(p.api_key_env) else "NOT SET (skipped by run)")
        models = ", ".join(m.name if m.name == m.id else f"{m.name} ({m.id})" for m in p.models)
        table.add_row(p.name, p.api, p.base_url, models, key)
    _console().print(table)


@app.command()
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
        plan = build_plan(loaded, keys, samples=samples, max_tokens=200)
        _execute(loaded, plan, db, concurrency=concurrency, region="local", quiet=quiet)
    written = _write_reports(db, Path("reports"), config=loaded, now=_parse_now(None))
    console = _console()
    for path in (*written.reports, written.index):
        console.print(f"report: {path}", markup=False)


# --------------------------------------------------------------------------- reports and scores

if TYPE_CHECKING:
    from datetime import datetime

    from probe.reporting import Written


@app.command()
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
                             settings=Settings(min_samples=min_samples))
    console = _console()
    for path in written.paths:
        console.print(str(path), markup=False)


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


@scores_app.command("import")
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
