"""Workload prompts: exact to the token with o200k and cl100k, unique per request, cheap to build; and the plans
workloads make (max tokens, recorded names, bursts)."""

from __future__ import annotations

import pytest

from probe.config import parse_config
from probe.plan import build_plan
from probe.tokens import load_encoding
from probe.workload import DEFAULT_WORKLOADS, MIN_INPUT_TOKENS, PromptMaker, Workload

LENGTHS = [MIN_INPUT_TOKENS, 33, 47, 64, 65, 66, 71, 100, 101, 257, 999, 1_000, 1_001, 4_097, 10_000, 10_001]
NONCES = ["000000000000", "0a0a0a0a0a0a", "ffffffffffff", "3f9a0c21b7e4"]


class CountingCounter:
    """A tokenizer that counts how many times it was asked to encode, and how many characters in all."""

    def __init__(self, name: str) -> None:
        self.encoding = load_encoding(name)
        self.calls = 0
        self.chars = 0

    def encode_ordinary(self, text: str) -> list[int]:
        self.calls += 1
        self.chars += len(text)
        return self.encoding.encode_ordinary(text)


@pytest.fixture(scope="module", params=["o200k_base", "cl100k_base"])
def maker(request: pytest.FixtureRequest) -> tuple[PromptMaker, object]:
    encoding = load_encoding(request.param)
    return PromptMaker(encoding), encoding


@pytest.mark.parametrize("length", LENGTHS)
def test_prompts_are_exactly_their_length(maker, length: int) -> None:
    """The message content has exactly the asked-for number of tokens, whatever the nonce's own tokenization."""
    prompts, encoding = maker
    for nonce in NONCES:
        text = prompts.prompt(length, nonce)
        assert len(encoding.encode_ordinary(text)) == length, (length, nonce)
        assert text.startswith(f"Request {nonce}.")


def test_prompts_ask_for_a_long_answer_and_say_the_filler_is_filler(maker) -> None:
    """Long enough prompts carry the full wording: ignore the filler, write at length until stopped."""
    prompts, _ = maker
    text = prompts.prompt(1_000, "abc")
    assert "only set the length of this prompt; ignore them" in text
    assert text.endswith("Keep writing until you are stopped.")
    assert prompts.prompt(MIN_INPUT_TOKENS, "abc").endswith("keep writing until you are stopped.")


def test_the_same_nonce_gives_the_same_prompt_and_another_nonce_another() -> None:
    """Deterministic filler: only the nonce differs between two requests of one workload."""
    one, two = PromptMaker(load_encoding("o200k_base")), PromptMaker(load_encoding("o200k_base"))
    assert one.prompt(500, "aaa") == two.prompt(500, "aaa")
    assert one.prompt(500, "aaa") != one.prompt(500, "bbb")


def test_too_short_a_prompt_is_refused_with_the_minimum() -> None:
    with pytest.raises(ValueError, match=r"5 input tokens leave no room for the nonce and the instruction \(at least \d+\)"):
        PromptMaker(load_encoding("o200k_base")).prompt(5, "abc")


def test_a_10k_prompt_costs_a_few_passes_of_the_tokenizer_not_one_per_token() -> None:
    """Building is append-by-word with one check: a handful of encodes and about one pass over the text."""
    counter = CountingCounter("o200k_base")
    prompts = PromptMaker(counter)
    setup_calls = counter.calls
    counter.chars = 0
    text = prompts.prompt(10_000, "3f9a0c21b7e4")
    assert counter.calls - setup_calls <= 4
    assert counter.chars < 2 * len(text)


CONFIG = {
    "providers": [
        {"name": "a", "api": "openai-chat", "base_url": "http://127.0.0.1:9/v1", "auth": "none",
         "models": {"gpt-4.1-mini": "gpt-4.1-mini", "gpt-4": "gpt-4-0613"}},
        {"name": "b", "api": "openai-chat", "base_url": "http://127.0.0.1:9/v1", "auth": "none",
         "models": {"gpt-4.1-mini": "gpt-4.1-mini"}},
    ]
}  # fmt: skip


def _plan(**options: object):  # type: ignore[no-untyped-def]
    config = parse_config(CONFIG)
    return build_plan(config, {"a": None, "b": None}, **options)  # type: ignore[arg-type]


def test_a_workload_plan_has_exact_prompts_its_max_tokens_and_its_name() -> None:
    """Each request records its workload and input length; each model's prompt is exact with its tokenizer
    (cl100k for GPT-4, o200k for GPT-4.1); every prompt is unique."""
    one_k = next(w for w in DEFAULT_WORKLOADS if w.name == "1k")
    plan = _plan(samples=3, workload=one_k)
    assert len(plan) == 9
    assert {(r.workload, r.max_tokens, r.input_tokens) for r in plan} == {("1k", 1_000, 1_000)}
    assert len({str(r.prompt) for r in plan}) == 9
    for request in plan:
        encoding = load_encoding("cl100k_base" if request.model == "gpt-4" else "o200k_base")
        assert len(encoding.encode_ordinary(str(request.prompt))) == 1_000


def test_a_plan_holds_one_filler_text_per_tokenizer_not_a_prompt_text_per_request() -> None:
    """A cron plan of thousands of long prompts held them all as text for the whole run (8,000 of the 10k workload:
    391 MB). Each planned prompt keeps its own head (the nonce) and shares its tokenizer's filler text."""
    ten_k = next(w for w in DEFAULT_WORKLOADS if w.name == "10k")
    plan = _plan(samples=4, workload=ten_k)
    fillers = {(r.model == "gpt-4", id(r.prompt.filler)) for r in plan}  # type: ignore[union-attr]
    assert len(fillers) == 2  # cl100k for GPT-4, o200k for the others: one text each
    assert all(len(r.prompt.head) < 200 for r in plan)  # type: ignore[union-attr]
    assert all(len(str(r.prompt)) > 40_000 for r in plan)


def test_max_tokens_overrides_the_workloads_output_length() -> None:
    plan = _plan(workload=Workload("w", 100, 300), max_tokens=42)
    assert {(r.workload, r.max_tokens) for r in plan} == {("w", 42)}


def test_without_a_workload_the_plan_is_as_before() -> None:
    """Programmatic callers that pass no workload keep short free-length prompts, 300 tokens and no name."""
    plan = _plan(samples=2)
    assert {(r.workload, r.max_tokens, r.input_tokens) for r in plan} == {(None, 300, None)}
    assert all(isinstance(r.prompt, str) and "Keep writing until you are stopped" in r.prompt for r in plan)


def test_a_parallel_workload_plans_whole_bursts_to_one_endpoint_at_a_time() -> None:
    """Concurrency 4: samples round up to whole bursts, and each run of 4 consecutive requests is one endpoint."""
    plan = _plan(samples=5, workload=Workload("p4", 100, 50, concurrency=4))
    assert len(plan) == 3 * 8
    bursts = [plan[i : i + 4] for i in range(0, len(plan), 4)]
    assert all(len({(r.provider, r.model) for r in burst}) == 1 for burst in bursts)
    assert [(b[0].provider, b[0].model) for b in bursts[:3]] == [("a", "gpt-4.1-mini"), ("a", "gpt-4"), ("b", "gpt-4.1-mini")]
