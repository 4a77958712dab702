"""`probe merge`, `probe export` and `probe ui`: databases from several machines, samples out as CSV or JSON,
and browsing in Datasette."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from probe.cli.common import METRICS_HELP, ProviderOption, app, fail, new_console


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
        raise fail(str(error)) from None
    console = new_console()
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
    provider: ProviderOption = None,
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
        raise fail(f"--format {fmt!r}: choose csv or json")
    if status is not None and status not in ("ok", "error"):
        raise fail(f"--status {status!r}: choose ok or error")
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
        raise fail(str(error)) from None
    except OSError as error:
        raise fail(f"{out}: cannot write ({error.strerror or error})") from None
    new_console().print(f"exported {count:,} samples to {target}", markup=False)


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
            raise fail(f"{option} {text!r}: give an ISO 8601 date or time (2025-06-01, 2025-06-01T12:00Z) or a span "
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
        raise fail(f"datasette is not installed; {INSTALL_HINT}")
    if not db.is_file():
        raise fail(f"{db}: does not exist; run `probe run` or `probe demo` first, or pass --db")
    try:
        Store.open(db).close()  # a probe database, migrated to this probe's schema
    except StoreError as error:
        raise fail(str(error)) from None
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
        new_console(stderr=True).print(f"probe: serving {db} with Datasette {version} on http://{host}:{port}/ (Ctrl-C stops it)",
                                    markup=False)
        code = serve(command)
    raise typer.Exit(0 if code == 128 + signal.SIGINT else code)  # stopping it with Ctrl-C is how it ends
