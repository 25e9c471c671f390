"""Split a text that is too long for a model into pieces under a token budget.

Shared by the Marian, CTranslate2 and seq2seq backends: a long input is never
silently truncated. It is cut on sentence boundaries (sentencex); a single
sentence still over budget is cut into word windows; a single "word" over
budget (a URL, a table row without spaces) into character windows.

Invariants: no character is lost or reordered (the pieces' non-space
characters, concatenated, are the input's); and the words of the pieces, in
order, are the input's words, `" ".join(pieces).split() == text.split()`,
unless a single word had to be cut into character windows.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Callable, Sequence

import sentencex


def split_for_budget(text: str, count_tokens: Callable[[str], int], budget: int, *, lang: str = "fr") -> list[str]:
    """Pieces of `text`, each with `count_tokens(piece) <= budget` where possible.

    `count_tokens` counts what the model sees (special tokens included). A text
    already under budget comes back whole (stripped). Empty text gives [].
    A piece can exceed the budget only when one character alone does, which
    no real tokenizer does for a budget of 8 or more.
    """
    if budget < 1:
        raise ValueError(f"token budget must be at least 1, got {budget}")
    stripped = text.strip()
    if not stripped:
        return []
    if count_tokens(stripped) <= budget:
        return [stripped]

    sentences = [s.strip() for s in sentencex.segment(lang, stripped) if s.strip()]
    return _pack(sentences, count_tokens, budget, lambda sentence: _pack(
        sentence.split(), count_tokens, budget, lambda word: _split_chars(word, count_tokens, budget)))


def _pack(units: Sequence[str], count_tokens: Callable[[str], int], budget: int,
          split_unit: Callable[[str], list[str]]) -> list[str]:
    """Greedily join units (sentences, or words) with spaces into pieces under budget.

    A unit over budget on its own is handed to `split_unit` (sentences to word
    windows, words to character windows).
    """
    pieces: list[str] = []
    current = ""
    for unit in units:
        candidate = f"{current} {unit}" if current else unit
        if count_tokens(candidate) <= budget:
            current = candidate
            continue
        if current:
            pieces.append(current)
            current = ""
        if count_tokens(unit) <= budget:
            current = unit
        else:
            pieces.extend(split_unit(unit))
    if current:
        pieces.append(current)
    return pieces


def _split_chars(word: str, count_tokens: Callable[[str], int], budget: int) -> list[str]:
    """Longest prefixes under budget (binary search), for a word with no spaces in it."""
    pieces: list[str] = []
    rest = word
    while rest:
        lo, hi = 1, len(rest)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if count_tokens(rest[:mid]) <= budget:
                lo = mid
            else:
                hi = mid - 1
        pieces.append(rest[:lo])
        rest = rest[lo:]
    return pieces


@dataclass(frozen=True)
class ChunkPlan:
    """Model inputs made from a list of texts: long texts cut, empty texts skipped."""

    pieces: tuple[str, ...]  # what the model is given
    owners: tuple[int, ...]  # for each piece, the index of the text it comes from
    n_inputs: int

    @property
    def split_inputs(self) -> int:
        """How many texts were cut into more than one piece."""
        return sum(1 for count in Counter(self.owners).values() if count > 1)

    def join(self, outputs: Sequence[str], sep: str = " ") -> list[str]:
        """One output per text, in input order: the pieces' outputs joined; "" for an empty text."""
        if len(outputs) != len(self.pieces):
            raise ValueError(f"expected {len(self.pieces)} outputs, got {len(outputs)}")
        parts: list[list[str]] = [[] for _ in range(self.n_inputs)]
        for owner, out in zip(self.owners, outputs):
            out = out.strip()
            if out:
                parts[owner].append(out)
        return [sep.join(p) for p in parts]


def plan_chunks(
    texts: Sequence[str], count_tokens: Callable[[str], int], budget: int, *, lang: str = "fr"
) -> ChunkPlan:
    """Cut every text with `split_for_budget`; remember which text each piece belongs to."""
    pieces: list[str] = []
    owners: list[int] = []
    for i, text in enumerate(texts):
        for piece in split_for_budget(text, count_tokens, budget, lang=lang):
            pieces.append(piece)
            owners.append(i)
    return ChunkPlan(tuple(pieces), tuple(owners), len(texts))


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length, longest first (stable for ties).

    Padding waste is smallest when a batch holds inputs of similar length; the
    longest batch first surfaces an out-of-memory error early.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[k : k + batch_size] for k in range(0, len(order), batch_size)]


@dataclass(frozen=True)
class RunStats:
    """What the last call did: for logs, the manifest and tests."""

    inputs: int
    pieces: int  # model inputs after chunking
    split_inputs: int  # texts longer than the budget, cut into pieces
    batch_lengths: tuple[tuple[int, ...], ...]  # token lengths of each batch's pieces, in run order
