"""An advisory lock next to the database, so a scheduled run skips instead of piling up behind another one.

``probe run --lock`` holds an exclusive ``flock`` on ``<db>.lock`` for the whole run. The operating system
releases it when the process ends however it ends (kill -9 included), so a lock is never stale and the file is
never deleted (deleting a lock file races with the next process opening it). The file holds the holder's pid,
for humans. Runs without ``--lock`` neither take nor respect it: concurrent runs are safe anyway (the database
serialises writers); the lock only keeps cron jobs from overlapping.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class LockHeld(Exception):
    """Another process holds the run lock; ``holder`` is the pid it wrote, when readable."""

    def __init__(self, path: Path, holder: str | None) -> None:
        super().__init__(f"{path} is held" + (f" by pid {holder}" if holder else ""))
        self.path, self.holder = path, holder


def lock_path(db_path: str | Path) -> Path:
    """Where the run lock for ``db_path`` lives: the same name with ``.lock`` appended."""
    path = Path(db_path)
    return path.with_name(path.name + ".lock")


@contextmanager
def run_lock(db_path: str | Path) -> Iterator[Path]:
    """Hold the run lock of ``db_path`` for the block, without waiting.

    Raises `LockHeld` when another process holds it, and `OSError` when the lock file cannot be created.
    """
    import fcntl  # POSIX only; imported here so the rest of probe runs anywhere

    path = lock_path(db_path)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockHeld(path, os.pread(fd, 32, 0).decode(errors="replace").strip() or None) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        os.close(fd)  # closing the descriptor releases the lock
