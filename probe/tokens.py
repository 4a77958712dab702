"""Token counts offline, and where each count came from.

tiktoken downloads its BPE files on first use, which fails without internet and would happen inside a timed
section. probe ships the files (gzip) and checks their sha256 itself, so loading needs no network and no
environment variable. Load once per run, before any clock starts (about 0.3 s).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import tiktoken

# sha256 of the unpacked files: the hashes tiktoken itself expects for them.
_EXPECTED_SHA256 = {
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
}


class Counter(Protocol):
    """Anything that counts tokens in a string (a tiktoken Encoding, or a fake in tests)."""

    def encode_ordinary(self, text: str) -> list[int]: ...


class TokenizerDataError(RuntimeError):
    """The vendored BPE file is missing or does not match its hash."""


@lru_cache(maxsize=None)
def load_encoding(name: str = "o200k_base") -> tiktoken.Encoding:
    """The tiktoken encoding ``name``, built from the BPE file shipped inside the package."""
    import tiktoken
    import tiktoken_ext.openai_public as public

    if name not in _EXPECTED_SHA256:
        raise TokenizerDataError(f"no vendored tokenizer named {name!r}; known: {', '.join(_EXPECTED_SHA256)}")
    packed = resources.files("probe").joinpath("data", "tiktoken", f"{name}.tiktoken.gz").read_bytes()
    contents = gzip.decompress(packed)
    if hashlib.sha256(contents).hexdigest() != _EXPECTED_SHA256[name]:
        raise TokenizerDataError(f"vendored tokenizer file {name}.tiktoken.gz does not match its sha256")
    ranks = {base64.b64decode(token): int(rank) for token, rank in (line.split() for line in contents.splitlines() if line)}
    # tiktoken_ext holds the pattern and special tokens for each encoding; hand it our ranks instead of a URL.
    original = public.load_tiktoken_bpe
    public.load_tiktoken_bpe = lambda *_args, **_kwargs: ranks
    try:
        constructor = getattr(public, name)()
    finally:
        public.load_tiktoken_bpe = original
    return tiktoken.Encoding(**constructor)


def encoding_for_model(model: str) -> str:
    """The tokenizer family used to count a model's text offline (o200k for the GPT-4o/4.1/5 era, else cl100k)."""
    legacy = ("gpt-4-", "gpt-4", "gpt-3.5")
    if model.startswith(legacy) and not model.startswith(("gpt-4o", "gpt-4.1", "gpt-4.5")):
        return "cl100k_base"
    return "o200k_base"


SHORT_TEXT_CHARS = 32
"""Texts up to this long (a streamed chunk is usually one to a few tokens) have their counts remembered."""


def count_tokens(counter: Counter, text: str) -> int:
    """Tokens in ``text``; special-token strings in model output are counted as ordinary text.

    A stream's chunks are mostly short texts that recur (" the", ",", "\n"), counted once per chunk of every sample:
    their counts are remembered, which costs a fifth of asking the tokenizer again."""
    if len(text) <= SHORT_TEXT_CHARS:
        return _count_short_text(counter, text) if text else 0
    return len(counter.encode_ordinary(text))


@lru_cache(maxsize=8192)
def _count_short_text(counter: Counter, text: str) -> int:
    return len(counter.encode_ordinary(text))
