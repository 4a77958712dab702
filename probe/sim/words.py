"""The text the simulator streams: common English words, each exactly one o200k_base token.

Because every word is a single token with a leading space, the o200k pre-tokenizer splits any concatenation of
them at word boundaries, so counting the streamed text with the tokenizer gives exactly the ``completion_tokens``
the simulator reports. ``tests/test_sim_words.py`` checks both facts against the vendored tokenizer.
"""

from __future__ import annotations

import json

WORDS: tuple[str, ...] = (
    " the", " of", " and", " to", " a", " in", " is", " that", " for", " it",
    " as", " was", " with", " be", " by", " on", " not", " he", " this", " are",
    " or", " his", " from", " at", " which", " but", " have", " an", " they", " you",
    " were", " her", " she", " there", " can", " all", " their", " one", " been", " we",
    " has", " more", " would", " will", " when", " what", " some", " time", " so", " no",
    " if", " out", " about", " up", " into", " only", " other", " new", " model", " data",
    " system", " first", " token", " answer", " stream", " speed", " fast", " slow", " light", " sound",
    " water", " world", " people", " year", " day", " way", " part", " place", " work", " life",
    " hand", " long", " great", " little", " good", " small", " number", " word", " line", " right",
    " high", " old", " under", " last", " never", " each", " much", " before", " most", " through",
    " between", " same", " another", " well", " also", " still", " just", " where", " both", " over",
    " many", " made", " after", " while", " these", " those", " because", " even", " three", " state",
    " city", " house", " point", " group", " problem", " fact", " level", " order",
)  # fmt: skip
"""One token each in o200k_base; token ``i`` of a response is ``WORDS[i % len(WORDS)]``."""

_ESCAPED: tuple[bytes, ...] = tuple(json.dumps(w)[1:-1].encode() for w in WORDS)


def text_of(start: int, n_tokens: int) -> str:
    """The text of tokens ``start .. start + n_tokens - 1`` of a response."""
    size = len(WORDS)
    return "".join(WORDS[(start + i) % size] for i in range(n_tokens))


def json_fragment(start: int, n_tokens: int) -> bytes:
    """The same text, already escaped for the inside of a JSON string (pre-encoded: no dumps per chunk)."""
    size = len(_ESCAPED)
    if n_tokens == 1:
        return _ESCAPED[start % size]
    return b"".join(_ESCAPED[(start + i) % size] for i in range(n_tokens))


class Script:
    """A response's text given token by token, for prompts that need a particular answer (audit canaries).

    Same interface as the module functions above: token ``i`` is ``pieces[i % len(pieces)]``.
    """

    __slots__ = ("_escaped", "pieces")

    def __init__(self, pieces: tuple[str, ...]) -> None:
        if not pieces:
            raise ValueError("a script needs at least one piece")
        self.pieces = pieces
        self._escaped = tuple(json.dumps(p)[1:-1].encode() for p in pieces)

    def text_of(self, start: int, n_tokens: int) -> str:
        size = len(self.pieces)
        return "".join(self.pieces[(start + i) % size] for i in range(n_tokens))

    def json_fragment(self, start: int, n_tokens: int) -> bytes:
        size = len(self._escaped)
        return b"".join(self._escaped[(start + i) % size] for i in range(n_tokens))
