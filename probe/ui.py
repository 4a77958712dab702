"""Browsing results in Datasette (the optional ``ui`` extra): the shipped metadata and the command that serves it.

``probe/data/datasette.json`` is a Datasette metadata file for a database named ``results`` (the default
``results.db``): titles and descriptions for the tables, and canned queries (latest samples and runs, error kinds and
success rate per provider, daily medians per model, medians per region). It works as it is with
``datasette results.db --metadata probe/data/datasette.json`` on Datasette 0.x; `probe ui` retargets it to any
database file and splits it the way Datasette 1.x wants (canned queries and settings moved to ``--config``).

Nothing here imports Datasette; `probe ui` runs it as ``python -m datasette`` in the same environment.
"""

from __future__ import annotations

import copy
import json
import signal
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

DEFAULT_DATABASE = "results"
"""The database name the shipped metadata is written for: Datasette names a database after its file's stem."""
SQL_TIME_LIMIT_MS = 20_000
"""Datasette stops a query after 1 s by default; daily medians over a few hundred thousand samples need longer."""
INSTALL_HINT = "install the ui extra: pip install 'probe[ui]' (in a checkout: .venv/bin/pip install -e '.[ui]')"


def load_metadata() -> dict[str, Any]:
    """The shipped metadata file, parsed."""
    text = resources.files("probe").joinpath("data", "datasette.json").read_text(encoding="utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


def canned_queries(metadata: dict[str, Any] | None = None) -> dict[str, dict[str, str]]:
    """The canned queries by name: each with ``title``, ``description`` and ``sql``."""
    metadata = load_metadata() if metadata is None else metadata
    return dict(metadata["databases"][DEFAULT_DATABASE]["queries"])


def database_name(db: Path) -> str:
    """The name Datasette gives a database file: its stem."""
    return db.stem


def datasette_files(db: Path, datasette_version: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The metadata, and for Datasette 1.x the configuration, to serve ``db`` with; keyed by its database name.

    Datasette 0.x reads canned queries from the metadata and takes settings on the command line; 1.x reads both
    from the configuration file.
    """
    metadata = copy.deepcopy(load_metadata())
    databases = metadata["databases"]
    databases[database_name(db)] = databases.pop(DEFAULT_DATABASE)
    if _major(datasette_version) < 1:
        return metadata, None
    queries = {name: settings.pop("queries") for name, settings in databases.items()}
    config = {
        "settings": {"sql_time_limit_ms": SQL_TIME_LIMIT_MS},
        "databases": {name: {"queries": found} for name, found in queries.items()},
    }
    return metadata, config


def datasette_command(
    db: Path,
    *,
    datasette_version: str,
    metadata: Path,
    config: Path | None,
    host: str,
    port: int,
    open_browser: bool,
) -> list[str]:
    """The command line that serves ``db`` with the files `datasette_files` made, written to ``metadata`` and
    ``config``."""
    command = [sys.executable, "-m", "datasette", "serve", str(db), "--metadata", str(metadata)]
    if config is not None:
        command += ["--config", str(config)]
    else:
        command += ["--setting", "sql_time_limit_ms", str(SQL_TIME_LIMIT_MS)]
    command += ["--host", host, "--port", str(port)]
    if open_browser:
        command.append("--open")
    return command


def serve(command: list[str]) -> int:
    """Run Datasette in the foreground until it exits, Ctrl-C, or SIGTERM/SIGHUP to probe; its exit code.

    A stopped probe never leaves the server behind: a SIGTERM (a service manager, ``kill``) or SIGHUP (the terminal
    went away) is passed on to Datasette and waited for. So is Ctrl-C, for a probe started without a terminal;
    from a terminal Datasette has it already, and the second one makes it stop at once.
    """
    child = subprocess.Popen(command)

    def pass_on(signum: int, frame: object) -> None:
        child.send_signal(signum)

    previous = {number: signal.signal(number, pass_on) for number in (signal.SIGTERM, signal.SIGHUP)}
    try:
        while True:
            try:
                code = child.wait()
                break
            except KeyboardInterrupt:
                child.send_signal(signal.SIGINT)  # reached us alone when not started from a terminal
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    return 128 - code if code < 0 else code


def _major(version: str) -> int:
    head = version.split(".", 1)[0]
    return int(head) if head.isdigit() else 0
