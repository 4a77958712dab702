"""The simulator's dishonest providers and canary answers, in every dialect, as probe measures them over a socket."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import pytest

from probe.audit.canaries import CANARIES
from probe.client import exchange, make_http_client
from probe.derive import answer_text, derive_sample
from probe.dialects import get_dialect
from probe.model import PlannedRequest, Sample, Target
from probe.sim.process import SimProcess, spawn_sim_process
from probe.sim.faults import DISHONESTY, FAULT_HEADER, FAULTS, SUBSTITUTE_MODEL
from probe.sim.words import Script
from tests.support import SIM_DIALECTS

@pytest.fixture(scope="module")
def sim() -> Iterator[SimProcess]:
    """In its own process: a buffered answer then leaves in one burst, never paced by this process's GIL."""
    with spawn_sim_process("measurement") as server:
        yield server


def ask(sim: SimProcess, o200k, api: str, *, fault: str | None = None, prompt: str = "hi", max_tokens: int = 100) -> tuple[Sample, str | None]:  # type: ignore[no-untyped-def]
    """One request through the production client and derivation; the sample and the answer text it streamed."""
    base = sim.base_url.removesuffix("/v1") + ("/v1beta" if api == "gemini" else "/v1")
    dialect = get_dialect(api)
    target = Target(base_url=base, model_id="pairs", auth="none", headers=((FAULT_HEADER, fault),) if fault else ())
    planned = PlannedRequest(provider="p", model="gpt-4.1-mini", api=api, target=target, prompt=prompt, max_tokens=max_tokens)

    async def go():  # type: ignore[no-untyped-def]
        async with make_http_client() as client:
            return await exchange(client, dialect.build_request(target, prompt, max_tokens), planned.timeouts)

    record = anyio.run(go)
    return derive_sample(record, planned, dialect, o200k, sample_id="s", run_id="r"), answer_text(record, dialect)


def test_dishonesty_succeeds_so_it_is_not_an_error_fault() -> None:
    assert not set(DISHONESTY) & set(FAULTS)
    assert set(DISHONESTY) == {"inflated-usage", "buffered", "substituted-model", "ignored-max-tokens"}


def test_a_script_streams_its_pieces_escaped() -> None:
    script = Script(("Can", 'b"erra'))
    assert script.text_of(0, 2) == 'Canb"erra' and script.json_fragment(1, 1) == b'b\\"erra'


@pytest.mark.parametrize("api", SIM_DIALECTS)
def test_honest_answers_and_usage_match_what_streamed(sim: SimProcess, o200k, api: str) -> None:  # type: ignore[no-untyped-def]
    """A canary gets its right answer, token for token with the usage reported; an ordinary answer stops at the
    maximum."""
    canary = CANARIES[1]
    sample, text = ask(sim, o200k, api, prompt=canary.prompt)
    assert (sample.status, text) == ("ok", canary.answer)
    assert sample.output_tokens == sum(sample.trace.tokens) == len(o200k.encode_ordinary(canary.answer))
    capped, _ = ask(sim, o200k, api, max_tokens=6)
    assert sum(capped.trace.tokens) == capped.output_tokens == 6 and capped.response_model == "pairs"


@pytest.mark.parametrize("api", SIM_DIALECTS)
def test_each_dishonesty_as_probe_sees_it(sim: SimProcess, o200k, api: str) -> None:  # type: ignore[no-untyped-def]
    """Inflated usage bills more than streamed; buffering releases every token at once at the end; a substitute
    names another model and gives the decoy; an ignored maximum streams the whole answer."""
    inflated, _ = ask(sim, o200k, api, fault="inflated-usage")
    assert inflated.status == "ok" and sum(inflated.trace.tokens) == 24 and inflated.output_tokens == 24 + 12 + 10
    buffered, _ = ask(sim, o200k, api, fault="buffered")
    offsets = buffered.trace.offsets_us
    assert buffered.status == "ok" and offsets[-1] - offsets[0] < 5_000 < offsets[0]
    substituted, text = ask(sim, o200k, api, fault="substituted-model", prompt=CANARIES[0].prompt)
    assert (substituted.response_model, text) == (SUBSTITUTE_MODEL, CANARIES[0].decoy)
    uncapped, _ = ask(sim, o200k, api, fault="ignored-max-tokens", max_tokens=6)
    assert uncapped.status == "ok" and sum(uncapped.trace.tokens) == 24 and uncapped.finish_reason in ("stop", "end_turn", "STOP", "completed")
