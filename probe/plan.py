"""Which requests a run sends: providers x models x samples, interleaved, each with a fresh prompt.

Pure apart from loading a tokenizer (from the package, once) when a workload needs prompts of an exact length.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence

from probe.config import Config, ModelConfig, ProviderConfig
from probe.model import FittedPrompt, PlannedRequest, Target
from probe.tokens import Counter, encoding_for_model, load_encoding
from probe.workload import PromptMaker, Workload

DEFAULT_MAX_TOKENS = 300


def make_prompt(nonce: str) -> str:
    """A prompt no cache has seen (the nonce), asking for a long plain answer so decode speed has room."""
    return (
        f"Request {nonce}. Write a detailed, plain-prose explanation of how a city water system works, "
        "from the reservoir to the tap. Keep writing until you are stopped."
    )


def new_nonce() -> str:
    return secrets.token_hex(6)


def selected_pairs(
    config: Config, keys: Mapping[str, str | None], providers: Sequence[str], models: Sequence[str]
) -> list[tuple[ProviderConfig, ModelConfig]]:
    """The (provider, model) pairs a command targets: providers with a key, filtered by exact names (an empty
    filter keeps everything), in configuration order."""
    return [
        (provider, model)
        for provider in config.providers
        if provider.name in keys and (not providers or provider.name in providers)
        for model in provider.models
        if not models or model.name in models
    ]


def build_plan(
    config: Config,
    keys: Mapping[str, str | None],
    *,
    samples: int = 1,
    max_tokens: int | None = None,
    providers: Sequence[str] = (),
    models: Sequence[str] = (),
    nonce: Callable[[], str] = new_nonce,
    region: str | None = None,
    workload: Workload | None = None,
    counter_for: Callable[[str], Counter] | None = None,
) -> list[PlannedRequest]:
    """Every (provider, model) pair with a key, ``samples`` times, interleaved round-robin so that a run spreads
    its requests over the endpoints instead of hammering one after another.

    Providers absent from ``keys`` (their key variable is unset) are left out; filters match exact names.

    With a ``workload``, each prompt is exactly its ``input_tokens`` long with the model's tokenizer
    (``counter_for(canonical model name)``, default: probe's offline tiktoken for that model), ``max_tokens``
    defaults to its ``output_tokens``, and each sample records its name. A workload with ``concurrency`` N plans
    bursts: N consecutive requests to one endpoint, ``samples`` rounded up to whole bursts, for `run_plan`'s
    ``burst`` to send together. Without a workload, prompts are short and free-length (``make_prompt``).
    """
    pairs = selected_pairs(config, keys, providers, models)
    burst = workload.concurrency if workload is not None and workload.concurrency else 1
    if max_tokens is None:
        max_tokens = workload.output_tokens if workload is not None else DEFAULT_MAX_TOKENS
    makers: dict[int, PromptMaker] = {}
    plan: list[PlannedRequest] = []
    for _ in range(-(-samples // burst)):
        for provider, model in pairs:
            target = _target(provider, model.id, keys[provider.name])
            for _ in range(burst):
                if workload is None:
                    prompt: str | FittedPrompt = make_prompt(nonce())
                    input_tokens = None
                else:
                    counter = (counter_for or _offline_counter)(model.name)
                    maker = makers.get(id(counter)) or makers.setdefault(id(counter), PromptMaker(counter))
                    prompt, input_tokens = maker.fitted(workload.input_tokens, nonce()), workload.input_tokens
                plan.append(
                    PlannedRequest(
                        provider=provider.name,
                        model=model.name,
                        api=provider.api,
                        target=target,
                        prompt=prompt,
                        max_tokens=max_tokens,
                        timeouts=provider.timeouts,
                        region=region,  # where probe runs; provider.region is where the endpoint serves from
                        workload=workload.name if workload is not None else None,
                        input_tokens=input_tokens,
                    )
                )
    return plan


def _offline_counter(model: str) -> Counter:
    return load_encoding(encoding_for_model(model))


def _target(provider: ProviderConfig, model_id: str, api_key: str | None) -> Target:
    return Target(
        base_url=provider.base_url,
        model_id=model_id,
        auth=provider.auth,
        api_key=api_key,
        headers=provider.headers,
        query=provider.query,
        extra_body=provider.extra_body,
        max_tokens_field=provider.max_tokens_field,
    )
