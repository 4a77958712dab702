"""Known-answer canary prompts: one definition shared by the audit client and the simulator. Pure data.

Each canary asks something every current chat model answers the same way at temperature 0, in one short line
that a normalized exact match can check: arithmetic, a capital city, a word spelled backwards, a number
sequence. A model served as itself gets them right (or, where the model itself cannot, gets them as wrong as the
first-party provider does); a cheaper model passed off as it tends to miss one. ``decoy`` is the plausible wrong
answer the simulator's substituted model gives, so tests can check that audits notice.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

CANARY_MAX_TOKENS = 32
"""Output tokens a canary request may use: room for the answer and a little chatter, nothing more."""
ANSWER_CHARS = 64
"""Stored answers are normalized and cut to this many characters."""


@dataclass(frozen=True, slots=True)
class Canary:
    """A prompt with one right answer, and a wrong one a substitute model is likely to give."""

    id: str
    prompt: str
    answer: str
    decoy: str

    @property
    def expected(self) -> str:
        """The right answer, normalized the way streamed answers are before comparing."""
        return normalize_answer(self.answer)


CANARIES: tuple[Canary, ...] = (
    Canary("arithmetic", "What is 17 multiplied by 23? Reply with the number only.", "391", "381"),
    Canary("capital", "What is the capital city of Australia? Reply with the city name only.", "Canberra", "Sydney"),
    Canary("backwards", "Spell the word stream backwards. Reply with the lowercase letters only.", "maerts", "maerst"),
    Canary("sequence", "What number comes next: 2, 4, 8, 16? Reply with the number only.", "32", "24"),
)

_BY_PROMPT = {canary.prompt: canary for canary in CANARIES}
_BY_ID = {canary.id: canary for canary in CANARIES}
_WRAPPERS = "\"'`*_“”‘’«»"
_TRAILING = ".!。"
_THOUSANDS = re.compile(r"(?<=\d)[,\u202f\u00a0](?=\d{3}\b)")


def canary_for_prompt(prompt: str) -> Canary | None:
    """The canary whose prompt this is exactly, or ``None``."""
    return _BY_PROMPT.get(prompt)


def canary_by_id(canary_id: str) -> Canary | None:
    return _BY_ID.get(canary_id)


def normalize_answer(text: str) -> str:
    """An answer as compared: NFKC, lower case, whitespace collapsed, surrounding quotes, markdown emphasis and a
    final full stop removed, thousands separators dropped; cut to `ANSWER_CHARS` characters.

    ``"**Canberra.**"`` and ``" canberra"`` both read ``canberra``; ``"The capital is Canberra"`` does not.
    """
    flat = " ".join(unicodedata.normalize("NFKC", text).split()).lower()
    previous = None
    while flat != previous:  # peel wrappers and trailing punctuation in any nesting: **"391".**
        previous = flat
        flat = flat.strip(_WRAPPERS).rstrip(_TRAILING).strip()
    return _THOUSANDS.sub("", flat)[:ANSWER_CHARS]
