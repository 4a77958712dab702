"""The embedded default: two simulated providers on 127.0.0.1 and the configuration that points at them.

`probe demo` runs the real pipeline (client, writer, store, report) against them, so a fresh clone shows what
probe does without a key or a network.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager

from probe.config import Config, parse_config

DEMO_PROVIDERS = {
    # provider name -> the simulator's profile set it serves
    "sim-openai": "demo",
    "sim-reseller": "demo-reseller",
}
DEMO_MODELS = ("gpt-4.1-mini", "gpt-4.1-nano")


@contextmanager
def running_demo_providers(seed: int = 0) -> Iterator[dict[str, str]]:
    """Start one simulator process per demo provider; yield provider name -> base URL; stop them on exit."""
    from probe.sim.process import spawn_sim_process

    with ExitStack() as stack:
        urls = {}
        for offset, (name, profile_set) in enumerate(DEMO_PROVIDERS.items()):
            sim = stack.enter_context(spawn_sim_process(profile_set, seed=seed + offset))
            urls[name] = sim.base_url
        yield urls


def demo_config(base_urls: Mapping[str, str]) -> Config:
    """The demo's providers.toml, as data: no key needed, both models on both simulated providers."""
    return parse_config(
        {
            "providers": [
                {
                    "name": name,
                    "api": "openai-chat",
                    "base_url": url,
                    "auth": "none",
                    "first_party": name == "sim-openai",  # the reference for the reseller's canary answers
                    "models": {model: model for model in DEMO_MODELS},
                }
                for name, url in base_urls.items()
            ],
            "compare": [{"models": list(DEMO_MODELS)}],
        },
        "<built-in demo configuration>",
    )
