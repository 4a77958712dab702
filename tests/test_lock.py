"""The run lock: exclusive without waiting, released with its holder, never deleted, and a clear error when it
cannot be created."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from probe.cli import app
from probe.lock import LockHeld, lock_path, run_lock


def test_the_lock_lives_next_to_the_database(tmp_path: Path) -> None:
    assert lock_path(tmp_path / "results.db") == tmp_path / "results.db.lock"


def test_a_second_holder_is_refused_at_once_and_told_who_holds_it(tmp_path: Path) -> None:
    db = tmp_path / "results.db"
    with run_lock(db) as path:
        assert path.read_text() == f"{os.getpid()}\n"
        with pytest.raises(LockHeld) as held:
            with run_lock(db):
                pass  # pragma: no cover
        assert (held.value.path, held.value.holder) == (path, str(os.getpid()))
    with run_lock(db):  # released when the block ended; the file stays
        assert path.exists()


def test_a_lock_that_cannot_be_created_is_exit_2_with_one_line(tmp_path: Path) -> None:
    config = tmp_path / "providers.toml"
    config.write_text('[[providers]]\nname = "x"\napi = "openai-chat"\nbase_url = "http://127.0.0.1:9/v1"\nauth = "none"\n'
                      '[providers.models]\n"m" = "m"\n')
    db = tmp_path / "missing-dir" / "results.db"
    result = CliRunner().invoke(app, ["run", "-c", str(config), "--db", str(db), "--lock", "-q"])
    assert result.exit_code == 2
    assert result.stderr == f"probe: {db}.lock: cannot create the lock file (No such file or directory)\n"


def test_an_audit_skips_while_a_run_holds_the_lock_and_sends_nothing(tmp_path: Path) -> None:
    """Scheduled audits and runs share one lock: neither piles onto the other."""
    config = tmp_path / "providers.toml"
    config.write_text('[[providers]]\nname = "x"\napi = "openai-chat"\nbase_url = "http://127.0.0.1:9/v1"\nauth = "none"\n'
                      '[providers.models]\n"gpt-4.1-mini" = "gpt-4.1-mini"\n')
    db = tmp_path / "results.db"
    with run_lock(db) as path:
        result = CliRunner().invoke(app, ["audit", "-c", str(config), "--db", str(db), "--lock", "-q"])
    assert result.exit_code == 0, result.output
    assert result.stderr == f"probe: another probe run holds the lock {path} (pid {os.getpid()}); skipping this run\n"
    assert not db.exists()  # nothing was sent, nothing stored
