"""One probe run, end to end: record the run, send the plan, keep every sample, close the run honestly.

This is the I/O shell around the pure core; the CLI calls it, and so do the demo and the tests.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio

from probe import __version__
from probe.eventloop import new_event_loop
from probe.model import Exchange, PlannedRequest, Sample
from probe.runner import run_plan
from probe.store import Store
from probe.tokens import encoding_for_model, load_encoding
from probe.writer import SampleWriter


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """How a run ended and how many samples it stored. The samples themselves are in the store (by ``run_id``):
    a long plan would otherwise hold them all in memory, traces included, until its end."""

    run_id: str
    status: str  # completed | interrupted | failed
    stored: int
    connect_failures: int

    @property
    def nothing_sent(self) -> bool:
        """No request reached an endpoint: every sample failed before a connection was made."""
        return self.stored == self.connect_failures


def run_job(
    plan: Sequence[PlannedRequest],
    db_path: str | Path,
    *,
    concurrency: int,
    provider_limits: dict[str, int] | None = None,
    insecure_providers: Sequence[str] = (),
    config_hash: str = "",
    region: str | None = None,
    command: str = "",
    on_sample: Callable[[Sample], None] | None = None,
    on_derived: Callable[[PlannedRequest, Exchange, Sample], None] | None = None,
    burst: int = 1,
) -> RunOutcome:
    """Run ``plan`` and store every sample in ``db_path`` as it completes.

    Each model's tokenizer loads before any clock starts. Runs left 'running' by a killed process are marked
    'interrupted' first. On Ctrl-C the requests in flight are dropped (an interrupted request says nothing about
    the endpoint), every completed sample is kept, the run is marked 'interrupted' and KeyboardInterrupt propagates.
    ``on_derived(request, exchange, sample)`` is called for each sample before it is stored, on the calling thread
    (the event loop's, in its idle time).
    ``burst``: see `run_plan` (parallel workloads).
    """
    counters = {model: load_encoding(encoding_for_model(model)) for model in {request.model for request in plan}}
    with Store.open(db_path) as store:
        store.mark_interrupted_runs()
        run_id = store.begin_run(
            host=socket.gethostname(),
            region=region,
            probe_version=__version__,
            config_hash=config_hash,
            command=command or " ".join(["probe", *sys.argv[1:]]),
            samples_planned=len(plan),
        )
    status = "failed"
    writer = SampleWriter(db_path, run_id, counters, on_sample=on_sample, on_derived=on_derived, on_loop=True)
    try:
        with writer:
            _tighten_gil_switching()
            anyio.run(
                lambda: run_plan(
                    list(plan),
                    writer.submit,
                    concurrency=concurrency,
                    provider_limits=provider_limits,
                    insecure_providers=insecure_providers,
                    burst=burst,
                ),
                backend_options={"loop_factory": lambda: new_event_loop(background=writer)},
            )
        status = "completed"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        with Store.open(db_path) as store:
            store.finish_run(run_id, status)
    return RunOutcome(run_id=run_id, status=status, stored=writer.stored, connect_failures=writer.connect_failures)


def _tighten_gil_switching() -> None:
    """Other threads run while streams are in flight (the progress bar's refresh, the writer's WAL checkpoints).
    Python hands the GIL over every 5 ms by default, which could delay the loop by as much; 0.5 ms bounds that
    delay instead."""
    sys.setswitchinterval(0.0005)

