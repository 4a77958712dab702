"""Keep secrets out of everything probe writes: the database, reports, logs and exception messages."""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "[redacted]"

# Shapes of provider keys, for text that might echo a key we were not told about (e.g. a proxy's error page).
_KEY_SHAPES = re.compile(r"(sk-[A-Za-z0-9_\-]{16,}|sk-ant-[A-Za-z0-9_\-]{16,}|AIza[0-9A-Za-z_\-]{30,})")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every known secret, and anything shaped like a provider key, replaced."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    return _KEY_SHAPES.sub(REDACTED, text)
