"""The simulator's words are single o200k_base tokens, so tokenizer counts of streamed text equal usage."""

from __future__ import annotations

import base64
import gzip
import json
import random
from pathlib import Path

import pytest
import tiktoken
import tiktoken_ext.openai_public

from probe.sim import words

O200K = Path(__file__).resolve().parents[1] / "probe" / "data" / "tiktoken" / "o200k_base.tiktoken.gz"


def _load_o200k() -> tiktoken.Encoding:
    """o200k_base from the vendored file, offline (to be replaced by ``probe.tokens.load_encoding``)."""
    ranks: dict[bytes, int] = {}
    with gzip.open(O200K, "rb") as f:
        for line in f:
            if line.strip():
                token, rank = line.split()
                ranks[base64.b64decode(token)] = int(rank)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tiktoken_ext.openai_public, "load_tiktoken_bpe", lambda *args, **kwargs: ranks)
        kwargs = tiktoken_ext.openai_public.o200k_base()
    return tiktoken.Encoding(**kwargs)


@pytest.fixture(scope="module")
def o200k() -> tiktoken.Encoding:
    """Shadows any shared ``o200k`` fixture until this file switches to ``probe.tokens``."""
    return _load_o200k()


def test_every_word_is_one_token(o200k: tiktoken.Encoding) -> None:
    """Each word, leading space included, encodes to exactly one token."""
    assert [w for w in words.WORDS if len(o200k.encode(w)) != 1] == []


def test_words_are_distinct_and_spaced() -> None:
    """Words are unique and start with a space, so concatenations split at word boundaries."""
    assert len(set(words.WORDS)) == len(words.WORDS)
    assert all(w.startswith(" ") and w[1:].isalpha() for w in words.WORDS)


@pytest.mark.parametrize("n", [1, 2, 7, len(words.WORDS), 3 * len(words.WORDS) + 5])
def test_streamed_text_encodes_to_its_token_count(o200k: tiktoken.Encoding, n: int) -> None:
    """The text of N streamed tokens encodes to exactly N tokens, from any starting position."""
    for start in (0, 5, len(words.WORDS) - 1):
        assert len(o200k.encode(words.text_of(start, n))) == n


def test_any_order_of_words_encodes_word_for_word(o200k: tiktoken.Encoding) -> None:
    """Even shuffled (every adjacent pair differs from the stream's), no two words merge into one token."""
    rng = random.Random(1)
    sample = [rng.choice(words.WORDS) for _ in range(3000)]
    assert len(o200k.encode("".join(sample))) == len(sample)


def test_json_fragment_is_the_escaped_text() -> None:
    """The pre-encoded JSON fragment decodes to the same text as ``text_of``."""
    for start, n in ((0, 1), (3, 4), (len(words.WORDS) - 2, 5)):
        assert json.loads(b'"' + words.json_fragment(start, n) + b'"') == words.text_of(start, n)
