"""`probe report` and `probe scores import`: the comparison reports, and the third-party scores they show."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from probe.cli.common import METRICS_HELP, app, fail, load, new_console, parse_now, write_reports_or_fail


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

    moment = parse_now(now)
    try:
        parse_window(window, moment)
    except ValueError as error:
        raise fail(f"--window: {error}") from None
    pairs = _parse_pairs(pair or [])
    if config is None:
        loaded = load(Path("providers.toml")) if Path("providers.toml").is_file() else None
    else:
        loaded = load(config)
    written = write_reports_or_fail(db, out, config=loaded, pairs=pairs, window=window, now=moment,
                             settings=Settings(min_samples=min_samples), workload=workload)
    console = new_console()
    for path in written.paths:
        console.print(str(path), markup=False)
    scope = written.workload
    if scope is not None and not scope.shown:
        there = ", ".join(f"{name or 'none recorded'} ({n})" for name, n in scope.present)
        found = f"; the window holds {there}: pass --workload NAME, or --workload all for every sample" if there else ""
        new_console(stderr=True).print(f"probe: no samples of workload {workload!r} in the window{found}", markup=False)


def _parse_pairs(values: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        a, comma, b = (part.strip() for part in value.partition(","))
        if not comma or not a or not b or "," in b:
            raise fail(f"--pair {value!r}: give two model names separated by a comma, e.g. gpt-4.1-mini,gpt-4.1-nano")
        pairs.append((a, b))
    return pairs


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
        raise fail(f"{file}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise fail(f"{file}: cannot be read ({error})") from None
    try:
        scores = parse_scores(text, name=str(file), fmt=fmt)
    except ScoresError as error:
        raise fail(str(error)) from None
    try:
        with Store.open(db) as store:
            store.insert_scores(scores)
    except StoreError as error:
        raise fail(str(error)) from None
    models = len({s.model for s in scores})
    benchmarks = len({s.benchmark for s in scores})
    new_console().print(
        f"imported {len(scores)} scores ({models} models, {benchmarks} benchmarks) from {file} into {db}", markup=False
    )
