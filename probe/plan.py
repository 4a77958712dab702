"""Which requests a run sends: providers x models x samples, interleaved, each with a fresh prompt. Pure."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence

from probe.config import Config, ProviderConfig
from probe.model import PlannedRequest, Target

DEFAULT_MAX_TOKENS = 300


def make_prompt(nonce: str) -> str:
    """A prompt no cache has seen (the nonce), asking for a long plain answer so decode speed has room."""
    return (
        f"Request {nonce}. Write a detailed, plain-prose explanation of how a city water system works, "
        "from the reservoir to the tap. Keep writing until you are stopped."
    )


def new_nonce() -> str:
    return secrets.token_hex(6)


def build_plan(
    config: Config,
    keys: Mapping[str, str | None],
    *,
    samples: int = 1,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    providers: Sequence[str] = (),
    models: Sequence[str] = (),
    nonce: Callable[[], str] = new_nonce,
    region: str | None = None,
    workload: str | None = None,
) -> list[PlannedRequest]:
    """Every (provider, model) pair with a key, ``samples`` times, interleaved round-robin so that a run spreads
    its requests over the endpoints instead of hammering one after another.

    Providers absent from ``keys`` (their key variable is unset) are left out; filters match exact names.
    """
    pairs = [
        (provider, model)
        for provider in config.providers
        if provider.name in keys and (not providers or provider.name in providers)
        for model in provider.models
        if not models or model.name in models
    ]
    plan: list[PlannedRequest] = []
    for _ in range(samples):
        for provider, model in pairs:
            plan.append(
                PlannedRequest(
                    provider=provider.name,
                    model=model.name,
                    api=provider.api,
                    target=_target(provider, model.id, keys[provider.name]),
                    prompt=make_prompt(nonce()),
                    max_tokens=max_tokens,
                    timeouts=provider.timeouts,
                    region=region or provider.region,
                    workload=workload,
                )
            )
    return plan


def _target(provider: ProviderConfig, model_id: str, api_key: str | None) -> Target:
    return Target(
        base_url=provider.base_url,
        model_id=model_id,
        auth=provider.auth,
        api_key=api_key,
        headers=provider.headers,
        query=provider.query,
        extra_body=provider.extra_body,
    )
