"""A run end to end: every request becomes a stored sample, derived on the event loop's thread in its idle time."""

from __future__ import annotations

import threading

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
    assert outcome.status == "completed" and len(outcome.samples) == 8
    assert all(sample.status == "ok" for sample in outcome.samples)
    assert derived_on == [threading.get_ident()] * 8  # run_job runs the loop on the calling thread
    with Store.open(db) as store:
        assert store.count_samples() == 8
