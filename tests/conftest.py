"""Shared test fixtures: recorded SSE bodies, the offline tokenizer, and a clean environment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
SSE_FIXTURES = FIXTURES / "sse"


def sse_fixture(dialect: str, name: str) -> bytes:
    return (SSE_FIXTURES / dialect / f"{name}.sse").read_bytes()


def sse_fixtures(dialect: str) -> list[Path]:
    return sorted((SSE_FIXTURES / dialect).glob("*.sse"))


@pytest.fixture(autouse=True)
def _no_provider_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may pick up a real key from the developer's shell, or reach a real endpoint with it."""
    for name in list(os.environ):
        if name.endswith(("_API_KEY", "_API_TOKEN")) or name in ("AZURE_OPENAI_ENDPOINT",):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def o200k():
    from probe.tokens import load_encoding

    return load_encoding("o200k_base")
