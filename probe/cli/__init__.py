"""The `probe` command line: wiring, files and exit codes. The logic lives in the modules it calls.

One module per group of commands, each registering its commands on the shared app (``common``):

- ``run``: `probe run`, `probe providers`, `probe demo` (sending requests and what they print);
- ``cron``: `probe cron` (a crontab line for `probe run`);
- ``report``: `probe report`, `probe scores import`;
- ``audit``: `probe audit`;
- ``data``: `probe merge`, `probe export`, `probe ui` (several machines, export, browsing).

Exit codes (for cron): 0 the run completed (error samples are data, not failures of probe), or `--lock` found
another run going and skipped this one; 2 bad configuration or database; 3 no request could be sent at all;
130 interrupted with Ctrl-C. Heavy modules (httpx, anyio, sqlite-utils, tiktoken) are imported inside commands
so `--help` starts fast.
"""

from probe.cli.common import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_NOTHING_SENT, app, main

# Each module registers its commands as it is imported: in the order `probe --help` lists them.
# isort: off
from probe.cli import run  # noqa: E402, F401
from probe.cli import cron  # noqa: E402, F401
from probe.cli import report  # noqa: E402, F401
from probe.cli import audit  # noqa: E402, F401
from probe.cli import data  # noqa: E402, F401
# isort: on

__all__ = ["EXIT_BAD_INPUT", "EXIT_INTERRUPTED", "EXIT_NOTHING_SENT", "app", "main"]
