"""Workloads: how long a request's prompt is, how long its answer may be, and how many go out at once. Pure.

A workload is the unit public leaderboards compare on: about 100, 1,000 or 10,000 input tokens with 300, 1,000
or 1,500 output tokens, and a burst of 10 simultaneous requests. `PromptMaker` builds a prompt whose *message
content* is exactly the workload's input length with the model's tokenizer (o200k for GPT-4o/4.1/5, cl100k for
GPT-4 and 3.5; other families are counted with o200k, so for them the length is approximate). The provider's
reported input count is a few tokens higher: chat templates wrap each message in role and separator tokens (about
7 for one OpenAI chat message) that are not part of the content.

Every prompt starts with a unique nonce, so no prefix cache can serve it, then deterministic filler (common
words, each one token) that the prompt tells the model to ignore, then an instruction to write a long answer and
keep going until stopped: ``max_tokens`` is the workload's output length, so a model that follows the
instruction is cut at exactly that length (finish reason ``length``).
"""

from __future__ import annotations

from dataclasses import dataclass

from probe.model import FittedPrompt
from probe.tokens import Counter


@dataclass(frozen=True, slots=True)
class Workload:
    """A named request shape. ``concurrency``: requests sent to one endpoint at the same moment, in bursts;
    ``None`` means no bursts (the run's ``--concurrency`` applies)."""

    name: str
    input_tokens: int
    output_tokens: int
    concurrency: int | None = None


DEFAULT_WORKLOADS: tuple[Workload, ...] = (
    Workload("100", 100, 300),
    Workload("1k", 1_000, 1_000),
    Workload("10k", 10_000, 1_500),
    Workload("parallel-10", 1_000, 1_000, concurrency=10),
)
"""The leaderboard-style defaults; a ``[workloads.NAME]`` table in providers.toml adds one or replaces one."""

DEFAULT_WORKLOAD = "1k"
"""What `probe run` sends and `probe report` shows unless told otherwise."""

ALL_WORKLOADS = "all"
"""The report filter meaning every sample, whatever its workload (none recorded included); not a workload name."""

MIN_INPUT_TOKENS = 32
"""The shortest prompt a workload may ask for: room for the nonce and a short instruction, with any nonce."""

_FULL_HEAD = "Request {nonce}. The words between the two filler markers below only set the length of this prompt; ignore them.\n[filler]"
_FULL_TAIL = (
    "\n[end of filler]\nWrite a long, detailed, plain-prose explanation of how a city water system works, from the "
    "reservoir to the tap. Keep writing until you are stopped."
)
# Prompts too short for the full wording (below about 70 tokens) keep the nonce and the instruction, padded between.
_SHORT_HEAD = "Request {nonce}."
_SHORT_TAIL = " Write at length about city water systems; keep writing until you are stopped."

_FILLER_WORDS: tuple[str, ...] = (
    " the", " of", " and", " to", " a", " in", " is", " that", " for", " it", " as", " was", " with", " be",
    " by", " on", " not", " this", " are", " or", " from", " at", " which", " but", " have", " an", " they",
    " were", " there", " can", " all", " their", " one", " been", " has", " more", " would", " will", " when",
    " what", " some", " time", " so", " no", " if", " out", " about", " up", " into", " only", " other", " new",
    " system", " first", " water", " world", " people", " year", " day", " way", " part", " place", " work",
    " life", " hand", " long", " great", " little", " good", " small", " number", " word", " line", " right",
    " high", " old", " under", " last", " never", " each", " much", " before", " most", " through", " between",
    " same", " another", " well", " also", " still", " just", " where", " both", " over", " many", " made",
    " after", " while", " these", " those", " because", " even", " three", " state", " city", " house", " point",
    " group", " problem", " fact", " level", " order", " river", " stone", " bridge", " road", " field", " north",
    " south", " light", " sound", " music", " paper", " table", " window", " garden", " market", " school",
)  # fmt: skip
"""Words with a leading space: the pre-tokenizer splits any run of them at each space, so a filler of k words that
are one token each is exactly k tokens. `PromptMaker` keeps those that are one token in its tokenizer."""


class PromptMaker:
    """Prompts of an exact token count for one tokenizer. Make one per tokenizer and reuse it: the filler is built
    once and sliced, so a 10,000-token prompt costs one pass of the tokenizer to verify (about 2 ms)."""

    def __init__(self, counter: Counter) -> None:
        self._counter = counter
        self._words = tuple(w for w in _FILLER_WORDS if len(counter.encode_ordinary(w)) == 1)
        if not self._words:
            raise ValueError("the tokenizer splits every filler word; no exact prompt can be built with it")
        self._text = ""
        self._ends: list[int] = [0]  # _ends[k]: characters in the first k filler words
        self._state = 20250604  # a fixed linear congruential sequence: the same filler on every machine

    def prompt(self, input_tokens: int, nonce: str) -> str:
        """Message content of exactly ``input_tokens`` tokens that starts with ``nonce``.

        Raises ``ValueError`` when ``input_tokens`` leaves no room for the nonce and the instruction.
        """
        return str(self.fitted(input_tokens, nonce))

    def fitted(self, input_tokens: int, nonce: str) -> FittedPrompt:
        """The same prompt as :meth:`prompt`, kept as parts (see ``FittedPrompt``): what a plan holds."""
        for head, tail in ((_FULL_HEAD, _FULL_TAIL), (_SHORT_HEAD, _SHORT_TAIL)):
            fitted = self._fit(input_tokens, head.format(nonce=nonce), tail)
            if fitted is not None:
                return fitted
        shortest = self.count(_SHORT_HEAD.format(nonce=nonce) + _SHORT_TAIL)
        raise ValueError(f"{input_tokens} input tokens leave no room for the nonce and the instruction (at least {shortest})")

    def count(self, text: str) -> int:
        return len(self._counter.encode_ordinary(text))

    def _fit(self, input_tokens: int, head: str, tail: str) -> FittedPrompt | None:
        """``head`` + filler + ``tail`` at exactly ``input_tokens``, or ``None`` when that length cannot be reached.

        The parts' counts add up when every boundary is a pre-tokenizer split, so the first guess is nearly always
        right; one full count checks it, and a boundary that merged differently is corrected by a word or two. A
        length no word count reaches (head and tail alone too long, or a merge that skips it) gives ``None``."""
        words = input_tokens - self.count(head) - self.count(tail)
        tried: set[int] = set()
        while words >= 0 and words not in tried:
            tried.add(words)
            fitted = FittedPrompt(head, *self._filler(words), tail)
            missing = input_tokens - self.count(str(fitted))
            if missing == 0:
                return fitted
            words += missing
        return None

    def _filler(self, words: int) -> tuple[str, int]:
        """The filler text so far and how many of its characters the first ``words`` words take, extending the text
        when needed (the filler only grows at its end, so an earlier prompt's text is unchanged). It grows an eighth
        past what is asked: the prompts of a workload differ by a few words (their nonces), and each growth makes a
        new text, which the prompts made before keep alive."""
        if words >= len(self._ends):
            pieces = []
            length = self._ends[-1]
            for _ in range(words + 1 + words // 8 - len(self._ends)):
                self._state = (self._state * 1103515245 + 12345) & 0x7FFFFFFF
                word = self._words[(self._state >> 16) % len(self._words)]
                pieces.append(word)
                length += len(word)
                self._ends.append(length)
            self._text += "".join(pieces)
        return self._text, self._ends[words]
