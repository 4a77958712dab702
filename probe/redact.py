"""Keep secrets out of everything probe writes: the database, reports, logs and exception messages."""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "[redacted]"

# Shapes of provider keys, for text that might echo a key we were not told about (e.g. a proxy's error page).
_KEY_SHAPES = re.compile(r"(sk-[A-Za-z0-9_\-]{16,}|sk-ant-[A-Za-z0-9_\-]{16,}|AIza[0-9A-Za-z_\-]{30,})")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every known secret, and anything shaped like a provider key, replaced."""
    return _KEY_SHAPES.sub(REDACTED, without_secrets(text, secrets))


def without_secrets(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every known secret replaced, and nothing else changed (for model output)."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    return text


def scrub(data: bytes, secrets: Iterable[str]) -> bytes:
    """Raw bytes from an endpoint with every known secret replaced, before anything is parsed out of them."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            data = data.replace(secret.encode(), REDACTED.encode())
    return data
