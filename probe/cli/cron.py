"""`probe cron`: a crontab line that runs `probe run` on a schedule from cron's bare environment."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from probe.cli.common import METRICS_HELP, ConfigOption, DbOption, app, fail, load, new_console
from probe.cli.run import workload_named


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
        raise fail(f"--every: {error}") from None
    loaded = load(config)
    workload_named(loaded, workload)
    rng = random.Random()
    schedule = cron_schedule(minutes, rng.randrange(60), rng.randrange(24))
    command = [*_probe_executable(), "run", "--config", _absolute(config), "--db", _absolute(db), "--workload", workload]
    if samples is not None:
        command += ["--samples", str(samples)]
    if budget_usd is not None:
        command += ["--budget-usd", f"{budget_usd:g}"]
    command += ["--lock", "--quiet", "--jitter", f"{jitter:g}"]
    err = new_console(stderr=True)
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
    out = new_console()
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
