"""What dedup computes of one document on its own (`document_features`), and how the cache holds it.

Kept apart from `pipeline.dedup` so that the cache key of every document's features names only the code that
makes them (`pipeline.flow.DedupStep.features_key`): a change to the corpus-wide search (document neighbours,
same-fact comparisons, grouping) keeps them. A test holds that every pipeline module this one imports is part
of that key."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from dataclasses import dataclass
from typing import Sequence

from .model import Document
from .textsim import ContentWords, FactSignature, fact_signature, fact_terms_and_stems, shared_empties

_WORD = re.compile(r"\w+")


def exact_key(text: str) -> str:
    return " ".join(_WORD.findall(text.casefold()))


class SentenceFeatures:
    """What dedup reads of one sentence on its own: computed once per document (on the executor's
    workers) and kept in the cache by the document's content, so a run with a few new articles
    computes only theirs (`document_features`).

    `terms`: textsim.fact_terms (the same-fact cosine); `stems`: ContentWords.stems (the document
    similarity); `signature`: numbers, dates, speakers (conflicts). Read from the cache, the
    signature is decoded when first read: a run with a few new articles reads few of them."""

    __slots__ = ("terms", "stems", "_signature")

    def __init__(self, terms: tuple[str, ...], stems: tuple[str, ...], signature: FactSignature | list) -> None:
        self.terms = terms
        self.stems = stems
        self._signature = signature

    @property
    def signature(self) -> FactSignature:
        g = self._signature
        if not isinstance(g, FactSignature):
            g = self._signature = _signature_from_json(g)
        return g

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SentenceFeatures) and (self.terms, self.stems, self.signature) == (
            other.terms, other.stems, other.signature)

    def __repr__(self) -> str:
        return f"SentenceFeatures({self.terms!r}, {self.stems!r}, {self.signature!r})"


class _Signatures(Sequence[FactSignature]):
    """Fact signatures as the cache holds them, each decoded when first read."""

    def __init__(self, values: list) -> None:
        self._values = values

    def __len__(self) -> int:
        return len(self._values)

    def __getitem__(self, k):  # type: ignore[override]
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(len(self)))]
        g = self._values[k]
        if not isinstance(g, FactSignature):
            g = self._values[k] = _signature_from_json(g)
        return g

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)


def _raw(signatures: Sequence[FactSignature]) -> Sequence[FactSignature | list]:
    """The signatures as they are, decoded or not (`_Signatures`)."""
    return signatures._values if isinstance(signatures, _Signatures) else signatures


@dataclass(frozen=True)
class DocumentFeatures:
    """`SentenceFeatures` of a document's body sentences and the fact signatures of its body paragraphs,
    in order: all dedup computes of one document on its own (it depends on the document's text and
    languages only)."""

    paragraphs: Sequence[FactSignature]
    sentences: tuple[SentenceFeatures, ...]
    # `text_key` of the body paragraphs, then of the body sentences
    keys: tuple[TextKey, ...] = ()


def document_features(doc: Document, words: ContentWords | None = None) -> DocumentFeatures:
    words = words or ContentWords()
    body = [p for p in doc.paragraphs if p.kind == "body"]
    sentences = []
    for p in body:
        for s in p.sentences:
            text = s.text
            terms, stems = fact_terms_and_stems(text, words)
            sentences.append(SentenceFeatures(tuple(terms), tuple(stems), fact_signature(text, p.lang)))
    return DocumentFeatures(
        tuple(fact_signature(p.text, p.lang) for p in body), tuple(sentences),
        tuple(text_key(t) for t in [*(p.text for p in body), *(s.text for p in body for s in p.sentences)]))


@dataclass(frozen=True)
class TextKey:
    """What exact links read of a text: a digest of its `exact_key` (BLAKE2b, 128 bits: two texts with
    the same digest are taken as equal), the words of that key, and the words of the text itself."""

    digest: str
    key_words: int
    words: int


def text_key(text: str) -> TextKey:
    key = exact_key(text)
    return TextKey(hashlib.blake2b(key.encode("utf-8"), digest_size=16).hexdigest(),
                   key.count(" ") + 1 if key else 0, len(_WORD.findall(text)))


def _signature_json(g: FactSignature) -> list:
    d = g.dates
    return [sorted(g.numbers), sorted(d.weekdays), sorted(d.months), sorted(d.days), sorted(d.periods),
            sorted(g.speakers)]


def _signature_from_json(value: list) -> FactSignature:
    from .textsim import Dates

    nums, weekdays, months, days, periods, speakers = value
    return shared_empties(FactSignature(frozenset(nums), Dates(frozenset(weekdays), frozenset(int(m) for m in months),
                                                               frozenset(days), frozenset(periods)), frozenset(speakers)))


def features_to_json(features: DocumentFeatures) -> dict:
    return {"paragraphs": [_signature_json(g) for g in features.paragraphs],
            "sentences": [[list(f.terms), list(f.stems), _signature_json(f.signature)] for f in features.sentences],
            "keys": [[k.digest, k.key_words, k.words] for k in features.keys]}


def features_from_json(value: dict, words: dict[str, str] | None = None) -> DocumentFeatures:
    """Inverse of `features_to_json` (raises TypeError/ValueError/KeyError on another shape). The fact
    signatures are decoded when first read (their shape is checked here). `words`: see `shared_words`."""
    paragraphs, sentences = value["paragraphs"], value["sentences"]
    if not all(isinstance(g, list) and len(g) == 6 for g in paragraphs):
        raise ValueError("dedup features: a paragraph signature of another shape")
    if words is None:
        out = tuple(SentenceFeatures(tuple(terms), tuple(stems), g) for terms, stems, g in sentences)
    else:
        one = words.setdefault
        out = tuple(SentenceFeatures(tuple([one(w, w) for w in terms]), tuple([one(w, w) for w in stems]), g)
                    for terms, stems, g in sentences)
    if not all(isinstance(f._signature, list) and len(f._signature) == 6 for f in out):
        raise ValueError("dedup features: a sentence signature of another shape")
    keys = tuple(TextKey(d, int(kw), int(w)) for d, kw, w in value["keys"])
    if len(keys) != len(paragraphs) + len(out):
        raise ValueError(f"dedup features: {len(keys)} text keys for {len(paragraphs) + len(out)} texts")
    return DocumentFeatures(_Signatures(list(paragraphs)), out, keys)


def shared_words(features: DocumentFeatures, words: dict[str, str]) -> DocumentFeatures:
    """The features with each term and stem one string object shared across documents (`words`: the
    strings met so far, each mapped to itself). Decoded JSON or unpickled features hold a new string
    for every occurrence of a word; a corpus repeats its words so much that the shared strings hold
    the corpus's terms and stems in a fraction of the memory (tracemalloc, scripts/bench_dedup_runs.py)."""
    one = words.setdefault
    return dataclasses.replace(features, sentences=tuple(
        SentenceFeatures(tuple([one(w, w) for w in f.terms]), tuple([one(w, w) for w in f.stems]), f._signature)
        for f in features.sentences))
