"""The simulator's answers to audit canary prompts (``probe.audit.canaries``): right when honest, the decoy when
the request asked for the ``substituted-model`` dishonesty.

The answer streams one tokenizer token per chunk, so probe's own count of the streamed text equals the usage the
simulator reports, as it does for ordinary answers (``probe.sim.words``).
"""

from __future__ import annotations

from functools import lru_cache

from probe.audit.canaries import CANARIES, canary_for_prompt
from probe.sim.dialect import load_object, strings_in
from probe.sim.words import Script


_OPENINGS = tuple({canary.prompt.split("?")[0][:24].encode() for canary in CANARIES})
"""A cheap first test: the body of an ordinary request contains none of these, so it is never parsed twice."""


def canary_script(body: bytes, *, substituted: bool = False) -> Script | None:
    """The scripted answer when the request body carries a canary prompt anywhere, else ``None``."""
    if not any(opening in body for opening in _OPENINGS):
        return None
    data = load_object(body)
    if data is None:
        return None
    for text in strings_in(data):
        canary = canary_for_prompt(text)
        if canary is not None:
            return Script(_pieces(canary.decoy if substituted else canary.answer))
    return None


@lru_cache(maxsize=64)
def _pieces(text: str) -> tuple[str, ...]:
    """``text`` cut at o200k token boundaries (the tokenizer loads once, on the first canary)."""
    from probe.tokens import load_encoding

    encoding = load_encoding("o200k_base")
    return tuple(encoding.decode([token]) for token in encoding.encode_ordinary(text))
