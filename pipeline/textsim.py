"""Content-word similarity shared by dedup, stories and the summarizer.

Words are lowercased `\\w+` tokens (accents kept); French stop words come from
the `stop-words` package and stems from Snowball's French stemmer. Texts are
compared as TF-IDF vectors of content-word stems (cosine), with the IDF taken
from the collection at hand, so common words of the story weigh little.

Numbers and names carry facts: `facts_conflict` says when two otherwise
similar texts state different ones ("100 millions" vs "1 milliard").
"""

from __future__ import annotations

import math
import re
from collections import Counter
from functools import lru_cache
from dataclasses import dataclass
from typing import Sequence

import snowballstemmer
from stop_words import get_stop_words

_WORD = re.compile(r"\w+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
# A capitalised word that does not start a sentence or follow an opening quote.
_NAME = re.compile(r"(?<![.!?«\"]\s)(?<!^)\b([A-ZÉÈÀÂÎÔÛÇ][\w-]+)")
_NUMBER_WORDS = {"million", "millions", "milliard", "milliards", "mille", "cent", "cents"}


class ContentWords:
    """French content-word stems of a text."""

    def __init__(self, language: str = "french") -> None:
        self._stop = frozenset(get_stop_words(language))
        self._stemmer = snowballstemmer.stemmer(language)

    def words(self, text: str) -> list[str]:
        return [w for w in _WORD.findall(text.lower()) if w not in self._stop and len(w) > 1 and not w.isdigit()]

    def stems(self, text: str) -> list[str]:
        return self._stemmer.stemWords(self.words(text))


@dataclass(frozen=True)
class TfidfSpace:
    """L2-normalised TF-IDF vectors of a fixed collection of texts."""

    vectors: tuple[dict[str, float], ...]
    idf: dict[str, float]

    def cosine(self, a: int, b: int) -> float:
        va, vb = self.vectors[a], self.vectors[b]
        if len(va) > len(vb):
            va, vb = vb, va
        return sum(x * vb.get(w, 0.0) for w, x in va.items())

    def centroid_scores(self) -> list[float]:
        """Cosine of each text with the collection's mean vector (centrality)."""
        total: Counter[str] = Counter()
        for v in self.vectors:
            total.update(v)
        norm = math.sqrt(sum(x * x for x in total.values())) or 1.0
        return [sum(x * total[w] for w, x in v.items()) / norm for v in self.vectors]


def tfidf(stem_lists: Sequence[Sequence[str]]) -> TfidfSpace:
    n = len(stem_lists)
    df: Counter[str] = Counter(w for stems in stem_lists for w in set(stems))
    idf = {w: math.log((1 + n) / (1 + d)) + 1.0 for w, d in df.items()}
    vectors = []
    for stems in stem_lists:
        counts = Counter(stems)
        v = {w: (1.0 + math.log(c)) * idf[w] for w, c in counts.items()}
        z = math.sqrt(sum(x * x for x in v.values())) or 1.0
        vectors.append({w: x / z for w, x in v.items()})
    return TfidfSpace(tuple(vectors), idf)


def numbers(text: str) -> frozenset[str]:
    """Numbers and number words, normalised ("1 000" and "1000" alike)."""
    found = {m.replace(" ", "").replace(",", ".") for m in _NUMBER.findall(text.replace("\u202f", ""))}
    found |= {w for w in _WORD.findall(text.lower()) if w in _NUMBER_WORDS}
    return frozenset(found)


def names(text: str) -> frozenset[str]:
    return frozenset(m.casefold() for m in _NAME.findall(text))


def _disagree(a: frozenset[str], b: frozenset[str]) -> bool:
    return bool(a) and bool(b) and not (a <= b or b <= a)


@lru_cache(maxsize=4)
def _stop_words(language: str) -> frozenset[str]:
    return frozenset(get_stop_words(language))


def facts_conflict(a: str, b: str, *, language: str = "french") -> bool:
    """True when two similar texts state different numbers or swap a name.

    Numbers: a text that only adds a number the other lacks does not
    conflict; one that gives a different number does.
    Names: reworded reports of one fact often mention different people and
    places around it, so differing names alone are not a conflict. A swap is:
    each text has a name the other lacks, and names make up at least half of
    the content words that differ ("Satya Nadella" vs "Donald Trump" in
    otherwise identical sentences).
    """
    if _disagree(numbers(a), numbers(b)):
        return True
    na, nb = names(a), names(b)
    if not _disagree(na, nb):
        return False
    stop = _stop_words(language)
    wa = {w for w in _WORD.findall(a.casefold()) if w not in stop}
    wb = {w for w in _WORD.findall(b.casefold()) if w not in stop}
    differing = wa ^ wb
    swapped = {w for n in (na ^ nb) for w in _WORD.findall(n)}
    return bool(differing) and len(swapped & differing) / len(differing) >= 0.5
