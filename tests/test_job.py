"""A run end to end: every request becomes a stored sample, derived on the event loop's thread in its idle time."""

from __future__ import annotations

import gc
import threading

import pytest

from probe.job import run_job
from probe.sim.server import SimServer
from probe.store import Store
from tests.test_runner import plan_for


def test_a_run_derives_on_the_loop_thread_and_stores_every_sample(tmp_path) -> None:
    """The writer thread only commits; deriving there took the GIL from the loop at every system call it made."""
    derived_on: list[int] = []
    db = tmp_path / "results.db"
    with SimServer() as sim:
        outcome = run_job(plan_for(sim.base_url, 8), db, concurrency=4,
                          on_derived=lambda request, exchange, sample: derived_on.append(threading.get_ident()))
    assert outcome.status == "completed" and outcome.stored == 8 and not outcome.nothing_sent
    assert derived_on == [threading.get_ident()] * 8  # run_job runs the loop on the calling thread
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


def test_without_probes_loop_the_writer_thread_derives(tmp_path) -> None:
    """The writer also works on any other event loop (the benchmark's comparison mode): there it derives too."""
    import anyio

    from probe.runner import run_plan
    from probe.tokens import load_encoding
    from probe.writer import SampleWriter

    db = tmp_path / "results.db"
    with Store.open(db) as store:
        run_id = store.begin_run(host="h", region=None, probe_version="t", config_hash="", command="t",
                                 samples_planned=5)
    derived_on: list[int] = []
    writer = SampleWriter(db, run_id, {"gpt-4.1-nano": load_encoding("o200k_base")},
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
    from probe.tokens import load_encoding
    from probe.writer import SampleWriter

    db = tmp_path / "results.db"
    with Store.open(db) as store:
        run_id = store.begin_run(host="h", region=None, probe_version="t", config_hash="", command="t",
                                 samples_planned=12)
    alive_at_each_commit: list[int] = []

    def count_live_samples(sample: Sample) -> None:
        gc.collect()
        alive_at_each_commit.append(sum(1 for obj in gc.get_objects() if type(obj) is Sample and obj.run_id == run_id))

    writer = SampleWriter(db, run_id, {"gpt-4.1-nano": load_encoding("o200k_base")}, on_sample=count_live_samples,
                          batch_size=1, flush_interval_s=0)
    with SimServer() as sim, writer:
        anyio.run(lambda: run_plan(plan_for(sim.base_url, 12), writer.submit, concurrency=1))
    assert writer.stored == 12 and len(alive_at_each_commit) == 12
    assert max(alive_at_each_commit) <= 2, alive_at_each_commit  # the batch being committed, one being derived
