"""Scheduling from cron: the crontab line `probe cron` prints. Pure: paths and choices in, text out.

The line has to work in cron's bare environment: ``/bin/sh`` with no PATH to speak of, HOME as the only
variable, and the user's home as the working directory. So every path in it is absolute, the program is the
virtual environment's own ``probe`` (its shebang names the venv's python), keys come from an env file the line
sources (or from variables set in the crontab), and everything the run prints is appended to a log file. ``%``,
which cron turns into a newline, is escaped.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

_EVERY = re.compile(r"^(\d+)\s*(m|min|h|d)$")
_MINUTES = (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30)  # divide an hour evenly
_HOURS = (1, 2, 3, 4, 6, 8, 12)  # divide a day evenly


@dataclass(frozen=True, slots=True)
class Schedule:
    """A cron schedule: the five time fields, and the same in words."""

    fields: str
    words: str


def parse_every(text: str) -> int:
    """``30m``, ``3h`` or ``1d`` in minutes; only intervals cron repeats evenly (minutes dividing an hour, hours
    dividing a day, or one day). Raises ``ValueError`` naming the choices otherwise."""
    match = _EVERY.match(text.strip().lower())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"{text!r} is not an interval such as 30m, 3h or 1d")
    amount, unit = int(match.group(1)), match.group(2)
    minutes = amount * {"m": 1, "min": 1, "h": 60, "d": 1440}[unit]
    if minutes == 1440 or (minutes < 60 and minutes in _MINUTES) or (minutes % 60 == 0 and minutes // 60 in _HOURS):
        return minutes
    raise ValueError(
        f"cron cannot repeat every {text.strip()} evenly; use {', '.join(f'{m}m' for m in _MINUTES[4:])}, "
        f"{', '.join(f'{h}h' for h in _HOURS)} or 1d"
    )


def cron_schedule(every_minutes: int, minute: int, hour: int) -> Schedule:
    """Every ``every_minutes`` (as `parse_every` returns), offset to ``minute`` past the hour and, for intervals of
    hours, to ``hour`` modulo the interval: a random offset spreads users' runs over the clock."""
    if every_minutes < 60:
        first = minute % every_minutes
        return Schedule(f"{first}-59/{every_minutes} * * * *", f"every {every_minutes} minutes from minute {first}")
    if every_minutes < 1440:
        hours = every_minutes // 60
        first = hour % hours
        at = ", ".join(f"{h:02d}:{minute % 60:02d}" for h in range(first, 24, hours))
        return Schedule(f"{minute % 60} {first}-23/{hours} * * *", f"every {hours} h, at {at} (cron's time zone)")
    return Schedule(f"{minute % 60} {hour % 24} * * *", f"daily at {hour % 24:02d}:{minute % 60:02d} (cron's time zone)")


def cron_line(schedule: Schedule, command: Sequence[str], *, log: str, env_file: str | None = None) -> str:
    """The crontab line: ``command`` (absolute paths) with its output appended to ``log``, after sourcing
    ``env_file`` with every variable it sets exported (``set -a``) when given. A missing env file stops the line
    with the shell's error in the log."""
    run = " ".join(shlex.quote(part) for part in command)
    if env_file is None:
        body = f"{run} >> {shlex.quote(log)} 2>&1"
    else:
        body = f"{{ set -a; . {shlex.quote(env_file)}; set +a; {run}; }} >> {shlex.quote(log)} 2>&1"
    return f"{schedule.fields} {body.replace('%', chr(92) + '%')}"
