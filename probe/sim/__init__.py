"""The embedded simulated provider: a real loopback HTTP server that streams on a schedule in four dialects.

OpenAI Chat Completions, OpenAI Responses, Anthropic Messages and Gemini, routed by request path, each with its
own auth header, error envelope and in-band errors (``x-sim-inband-error``, see ``probe.sim.dialect``).

Used by ``probe demo``, by the tests (probe measures against it over a real socket) and by
``bench/accuracy.py``, which compares probe's measured times with the simulator's record of when it wrote
each event. ``spawn_sim_process`` lives in ``probe.sim.process`` (it imports httpx, which the server does not).
"""

from probe.sim.profiles import PROFILE_SETS, LatencyProfile, Plan, PlannedEvent, schedule
from probe.sim.records import LatenessSummary, RequestRecord, SentEvent, lateness_summary
from probe.sim.server import SimServer, Simulator

__all__ = [
    "PROFILE_SETS",
    "LatenessSummary",
    "LatencyProfile",
    "Plan",
    "PlannedEvent",
    "RequestRecord",
    "SentEvent",
    "SimServer",
    "Simulator",
    "lateness_summary",
    "schedule",
]
