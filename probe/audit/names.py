"""Model names as endpoints report them, and which names probe can count tokens for exactly. Pure.

An endpoint may answer with a dated snapshot of the model asked for (``gpt-4.1-mini`` -> ``gpt-4.1-mini-2025-04-14``),
with a vendor prefix (``openai/gpt-4.1-mini``) or a ``-latest`` alias: all the same model. Another size or family
(``gpt-4.1-nano``, ``llama-3.1-8b-instruct``) is not.
"""

from __future__ import annotations

import re

_SNAPSHOT = re.compile(r"[-@](\d{4}-\d{2}-\d{2}|\d{8}|\d{4}|latest)$")
"""A trailing snapshot tag: an ISO date, a compact date, a four-digit MMDD/YYMM (``gpt-4-0613``, ``-2407``) or latest."""

_TOKENIZER_FAMILIES: tuple[tuple[str, str], ...] = (
    ("gpt-4o", "o200k_base"),
    ("gpt-4.1", "o200k_base"),
    ("gpt-4.5", "o200k_base"),
    ("gpt-5", "o200k_base"),
    ("gpt-oss", "o200k_base"),
    ("chatgpt-4o", "o200k_base"),
    ("o1", "o200k_base"),
    ("o3", "o200k_base"),
    ("o4", "o200k_base"),
    ("gpt-4", "cl100k_base"),
    ("gpt-3.5", "cl100k_base"),
)
"""Name prefixes whose tokenizer probe ships (first match wins), so its own count of streamed text is the count
the provider bills. For other families (Claude, Gemini, Llama ...) counts differ by tokenizer, not by honesty."""


def base_name(name: str) -> str:
    """A model name without vendor prefix, snapshot tags or case: ``openai/GPT-4.1-mini-2025-04-14`` -> ``gpt-4.1-mini``."""
    bare = name.strip().lower().rsplit("/", 1)[-1]
    previous = None
    while bare != previous:
        previous = bare
        bare = _SNAPSHOT.sub("", bare)
    return bare


def same_model(asked: str, reported: str) -> bool:
    """Whether ``reported`` names the model ``asked`` for, allowing snapshots, vendor prefixes and ``-latest``."""
    return bool(reported.strip()) and base_name(asked) == base_name(reported)


def tokenizer_family(model: str) -> str | None:
    """The tokenizer probe counts ``model`` with exactly (``o200k_base``, ``cl100k_base``), or ``None`` when its own
    tokenizer is another one (then streamed and billed counts are not comparable token for token)."""
    bare = base_name(model)
    for prefix, family in _TOKENIZER_FAMILIES:
        if bare == prefix or bare.startswith(prefix + "-"):
            return family
    return None
