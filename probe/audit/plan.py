"""Which requests `probe audit` sends, and what each one found. Pure.

Per provider and model: one request per canary prompt (`probe.audit.canaries`) at temperature 0 with a small
maximum, and one max-length probe: a prompt that asks for far more text than its maximum of
`MAX_LENGTH_PROBE_TOKENS` allows. Every request is an ordinary sample with ``workload = 'audit'``, so it counts
for availability and stays out of speed statistics.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from urllib.parse import urlparse

from probe.audit.canaries import CANARIES, CANARY_MAX_TOKENS, Canary, normalize_answer
from probe.config import Config, ProviderConfig
from probe.model import AUDIT_WORKLOAD, AuditProbe, AuditProbeKind, PlannedRequest, Sample, Target
from probe.plan import selected_pairs

MAX_LENGTH_PROBE_TOKENS = 16
"""The maximum a max-length probe asks for: an honest endpoint stops there, with a length finish reason."""

FIRST_PARTY_HOSTS = frozenset({
    "api.openai.com",
    "api.anthropic.com",
    "generativelanguage.googleapis.com",
    "api.deepseek.com",
    "api.mistral.ai",
    "api.x.ai",
    "api.cohere.com",
    "api.moonshot.ai",
})  # fmt: skip
"""Hosts of model makers' own APIs: a provider there is first-party unless its config says ``first_party``."""


@dataclass(frozen=True, slots=True)
class AuditRequest:
    """One audit request: the planned request, what it probes, and whether its provider is first-party."""

    request: PlannedRequest
    kind: AuditProbeKind
    first_party: bool
    canary: Canary | None = None


def is_first_party(provider: ProviderConfig) -> bool:
    """The config's ``first_party`` when set, else whether the endpoint is a model maker's own API host."""
    if provider.first_party is not None:
        return provider.first_party
    return (urlparse(provider.base_url).hostname or "").lower() in FIRST_PARTY_HOSTS


def max_length_prompt(nonce: str) -> str:
    """A prompt that needs hundreds of tokens, so the maximum is what must stop it."""
    return (
        f"Audit {nonce}. Count upwards from one, writing every number out in words, one per line, "
        "and keep going until you are stopped."
    )


def build_audit_plan(
    config: Config,
    keys: Mapping[str, str | None],
    *,
    providers: Sequence[str] = (),
    models: Sequence[str] = (),
    nonce: Callable[[], str] = lambda: secrets.token_hex(6),
    region: str | None = None,
) -> list[AuditRequest]:
    """The audit requests for every (provider, model) with a key, filtered by exact names, interleaved by probe."""
    pairs = selected_pairs(config, keys, providers, models)
    plan: list[AuditRequest] = []
    for canary in (*CANARIES, None):
        for provider, model in pairs:
            target = Target(
                base_url=provider.base_url,
                model_id=model.id,
                auth=provider.auth,
                api_key=keys[provider.name],
                headers=provider.headers,
                query=provider.query,
                extra_body=provider.extra_body,
            )
            base = PlannedRequest(
                provider=provider.name,
                model=model.name,
                api=provider.api,
                target=target,
                prompt=max_length_prompt(nonce()),
                max_tokens=MAX_LENGTH_PROBE_TOKENS,
                timeouts=provider.timeouts,
                region=region or provider.region,
                workload=AUDIT_WORKLOAD,
            )
            if canary is None:
                plan.append(AuditRequest(base, "max_length", is_first_party(provider)))
                continue
            request = replace(
                base, target=at_temperature_zero(target, provider.api), prompt=canary.prompt, max_tokens=CANARY_MAX_TOKENS
            )
            plan.append(AuditRequest(request, "canary", is_first_party(provider), canary))
    return plan


def at_temperature_zero(target: Target, api: str) -> Target:
    """``target`` asking for temperature 0, in the field its dialect reads (Gemini: ``generationConfig``)."""
    extra = dict(target.extra_body)
    if api == "gemini":
        configured = extra.get("generationConfig")
        extra["generationConfig"] = {**(configured if isinstance(configured, dict) else {}), "temperature": 0}
    else:
        extra["temperature"] = 0
    return replace(target, extra_body=tuple(extra.items()))


def audit_probe(item: AuditRequest, sample: Sample, answer_text: str | None) -> AuditProbe:
    """What an audit request found: its canary's normalized answer (``None`` unless it succeeded), or a
    max-length probe."""
    canary = item.canary
    answered = sample.status == "ok" and answer_text is not None
    return AuditProbe(
        sample_id=sample.id,
        kind=item.kind,
        requested_model=item.request.target.model_id,
        first_party=item.first_party,
        canary=canary.id if canary else None,
        expected=canary.expected if canary else None,
        answer=normalize_answer(answer_text) if canary and answered else None,  # type: ignore[arg-type]
    )
