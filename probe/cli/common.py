"""What every command shares: the app, exit codes (their meaning: ``probe.cli``), common options, and one-line
failures."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

if TYPE_CHECKING:
    from datetime import datetime

    from rich.console import Console

    from probe.config import Config
    from probe.reporting import Written

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
ProviderOption = Annotated[
    Optional[list[str]], typer.Option("--provider", "-p", help="Only this provider (repeatable).")
]
ModelOption = Annotated[
    Optional[list[str]], typer.Option("--model", "-m", help="Only this model, by canonical name (repeatable).")
]


def main() -> None:
    app()


def new_console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def fail(message: str, code: int = EXIT_BAD_INPUT) -> typer.Exit:
    """One clear line on stderr, no traceback."""
    new_console(stderr=True).print(f"probe: {message}", markup=False)
    return typer.Exit(code)


def load(config_path: Path) -> Config:
    from probe.config import ConfigError, load_config

    try:
        return load_config(config_path)
    except ConfigError as error:
        raise fail(str(error)) from None


def parse_now(text: str | None) -> datetime:
    from datetime import UTC, datetime

    if text is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise fail(f"--now {text!r} is not an ISO 8601 time such as 2025-06-04T12:00:00Z") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def write_reports_or_fail(db: Path, out: Path, **options: object) -> Written:
    """Open the database (which must exist), write the report set, and turn failures into one line and exit 2."""
    from probe.reporting import write_reports
    from probe.store import Store, StoreError

    if not db.is_file():
        raise fail(f"{db}: does not exist; run `probe run` or `probe demo` first, or pass --db")
    try:
        with Store.open(db) as store:
            return write_reports(store, out, **options)  # type: ignore[arg-type]
    except StoreError as error:
        raise fail(str(error)) from None
    except OSError as error:
        raise fail(f"{out}: cannot write the reports ({error.strerror or error})") from None
