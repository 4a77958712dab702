"""A run end to end: every request becomes a stored sample, derived on the event loop's thread in its idle time."""

from __future__ import annotations

import gc
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from probe.job import run_job
from probe.model import Exchange, PlannedRequest
from probe.sim.server import SimServer
from probe.store import Store, StoreError
from probe.writer import SampleWriter
from tests.test_runner import plan_for


def test_a_run_derives_and_stores_every_sample_on_the_loop_thread(tmp_path) -> None:
    """No second thread wants the GIL while reads arrive: a writer thread deriving took it from the loop at every
    system call it made, and one committing could keep it for a whole batch."""
    derived_on: list[int] = []
    stored_on: list[int] = []
    db = tmp_path / "results.db"
    with SimServer() as sim:
        outcome = run_job(plan_for(sim.base_url, 8), db, concurrency=4,
                          on_derived=lambda request, exchange, sample: derived_on.append(threading.get_ident()),
                          on_sample=lambda sample: stored_on.append(threading.get_ident()))
    assert outcome.status == "completed" and outcome.stored == 8 and not outcome.nothing_sent
    assert derived_on == stored_on == [threading.get_ident()] * 8  # run_job runs the loop on the calling thread
    with Store.open(db) as store:
        assert store.count_samples(run_id=outcome.run_id, status="ok") == 8


def test_a_failure_while_deriving_stops_the_run_and_keeps_what_was_stored(tmp_path) -> None:
    """An error raised while a sample is derived (here by the on_derived callback) is not swallowed by the event
    loop: the run stops with it, is marked failed, and the samples derived before it are stored."""
    db = tmp_path / "results.db"
    seen: list[str] = []

    def breaks_on_the_third(request, exchange, sample) -> None:
        seen.append(sample.id)
        if len(seen) == 3:
            raise RuntimeError("the callback broke")

    with SimServer() as sim, pytest.raises(BaseException) as caught:
        run_job(plan_for(sim.base_url, 12), db, concurrency=1, on_derived=breaks_on_the_third)
    assert "the callback broke" in repr(caught.value)
    with Store.open(db) as store:
        (run,) = store.runs()
        stored = {sample.id for sample in store.iter_samples()}
    assert run.status == "failed"
    assert stored == set(seen) - {seen[2]} and len(stored) >= 2  # all but the one that broke


def recorded_exchanges(count: int) -> list[tuple[PlannedRequest, Exchange]]:
    import anyio

    from probe.runner import run_plan

    exchanges: list[tuple[PlannedRequest, Exchange]] = []
    with SimServer() as sim:
        anyio.run(lambda: run_plan(plan_for(sim.base_url, count), lambda r, x: exchanges.append((r, x)), concurrency=2))
    return exchanges


def new_run(db: Path, samples_planned: int) -> str:
    with Store.open(db) as store:
        return store.begin_run(host="h", region=None, probe_version="t", config_hash="", command="t",
                               samples_planned=samples_planned)


def writer_for(db: Path, run_id: str, **options: Any) -> SampleWriter:
    from probe.tokens import load_encoding

    return SampleWriter(db, run_id, {"gpt-4.1-nano": load_encoding("o200k_base")}, **options)


def test_on_the_loop_another_process_s_write_lock_makes_samples_wait_not_the_loop(tmp_path) -> None:
    """Another process writing the same file (a merge, a second tool) holds its write lock for as long as it likes.
    The loop's writer never waits for it, one idle piece at a time (a blocked loop stamps nothing): its samples wait
    instead, and are committed once the lock is gone, or when the writer closes, which may wait."""
    from probe.writer import LOCKED_RETRY_S

    db = tmp_path / "results.db"
    run_id = new_run(db, 6)
    exchanges = recorded_exchanges(6)
    writer = writer_for(db, run_id, on_loop=True, flush_interval_s=0)  # each sample due as soon as it is derived
    other_process = sqlite3.connect(db, isolation_level=None)
    with writer:
        for request, record in exchanges[:4]:
            writer.submit(request, record)
        other_process.execute("BEGIN IMMEDIATE")
        while writer.waiting_since() is not None:  # what the loop does in its idle time; would wait 30 s if it could
            writer.run_one()
        assert writer.stored == 0 and writer.error is None  # all four derived, waiting for the lock
        other_process.execute("ROLLBACK")
        time.sleep(LOCKED_RETRY_S)
        while writer.waiting_since() is not None:
            writer.run_one()
        assert writer.stored == 4
        for request, record in exchanges[4:]:
            writer.submit(request, record)
    assert writer.stored == 6  # the last two were derived and committed as the writer closed
    other_process.close()
    with Store.open(db) as store:
        assert store.count_samples(run_id=run_id) == 6


def test_on_the_loop_samples_are_committed_together_within_the_flush_interval(tmp_path) -> None:
    """A transaction of one sample costs about five times the CPU of one sample in a piece of 16: samples derived close
    together wait for each other, at most ``flush_interval_s``, and the loop is told when to wake for them."""
    db = tmp_path / "results.db"
    exchanges = recorded_exchanges(3)
    writer = writer_for(db, new_run(db, 3), on_loop=True, flush_interval_s=0.2)
    with writer:
        for request, record in exchanges:
            writer.submit(request, record)
        started = time.monotonic()
        while writer.waiting_since() is not None:
            writer.run_one()
        derived = time.monotonic()
        due = writer.next_due()  # a flush interval after the first was derived
        assert writer.stored == 0 and due is not None and started + 0.2 <= due <= derived + 0.2
        time.sleep(max(0.0, due - time.monotonic()))
        assert writer.waiting_since() == due  # waiting since it fell due: overdue 0.1 s later, not at once
        writer.run_one()
        assert writer.stored == 3 and writer.next_due() is None and writer.waiting_since() is None


def test_a_lock_still_held_when_the_writer_closes_is_an_error_not_a_hang(tmp_path, monkeypatch) -> None:
    """Once streams are over the writer waits for the lock as any write does, and then gives up with the store's
    one-line error; what it could not commit is not counted as stored."""
    monkeypatch.setattr(Store, "DEFAULT_LOCK_WAIT_S", 0.1)
    db = tmp_path / "results.db"
    writer = writer_for(db, new_run(db, 2), on_loop=True)
    other_process = sqlite3.connect(db, isolation_level=None)
    try:
        with pytest.raises(StoreError, match="locked by another process for more than 0.1 s"), writer:
            for request, record in recorded_exchanges(2):
                writer.submit(request, record)
            other_process.execute("BEGIN IMMEDIATE")
    finally:
        other_process.execute("ROLLBACK")
        other_process.close()
    assert writer.stored == 0


def test_without_probes_loop_the_writer_thread_derives(tmp_path) -> None:
    """The writer also works on any other event loop (the benchmark's comparison mode): there it derives too."""
    import anyio

    from probe.runner import run_plan

    db = tmp_path / "results.db"
    derived_on: list[int] = []
    writer = writer_for(db, new_run(db, 5),
                        on_derived=lambda request, exchange, sample: derived_on.append(threading.get_ident()))
    with SimServer() as sim, writer:
        anyio.run(lambda: run_plan(plan_for(sim.base_url, 5), writer.submit, concurrency=2))
    assert writer.stored == 5
    assert len(derived_on) == 5 and threading.get_ident() not in derived_on
    with Store.open(db) as store:
        assert store.count_samples(status="ok") == 5


def test_the_writer_lets_go_of_each_sample_once_it_is_stored(tmp_path) -> None:
    """A cron plan can hold thousands of requests: samples already committed (traces included) are not kept, so the
    run's memory does not grow with its plan. Counted with one sample per batch, as each batch is committed."""
    import anyio

    from probe.model import Sample
    from probe.runner import run_plan

    db = tmp_path / "results.db"
    run_id = new_run(db, 12)
    alive_at_each_commit: list[int] = []

    def count_live_samples(sample: Sample) -> None:
        gc.collect()
        alive_at_each_commit.append(sum(1 for obj in gc.get_objects() if type(obj) is Sample and obj.run_id == run_id))

    writer = writer_for(db, run_id, on_sample=count_live_samples, batch_size=1, flush_interval_s=0)
    with SimServer() as sim, writer:
        anyio.run(lambda: run_plan(plan_for(sim.base_url, 12), writer.submit, concurrency=1))
    assert writer.stored == 12 and len(alive_at_each_commit) == 12
    assert max(alive_at_each_commit) <= 2, alive_at_each_commit  # the batch being committed, one being derived
