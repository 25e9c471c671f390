"""Stories: group documents about the same news event; one brief per story.

Entry point: `group_stories(documents, dedup_result, settings) -> list[Story]`
(`group` also returns what `pipeline.story_join` needs to place later documents
into these stories instead of regrouping every document on the next run).

Every step is linear in the number of documents (no all-pairs similarity, no
n x n matrix):

1. **Document vectors.** TF-IDF (sublinear term frequency, IDF over the
   documents at hand) of each document's content-word stems: body paragraphs,
   plus the title counted `stories.title_weight` times, plus the names it
   mentions (`stories.entities`, weighted `stories.entity_weight`), L2-normalised.
2. **Candidate pairs from an inverted index.** Each document is indexed by its
   `stories.index_terms` heaviest terms, leaving out terms found in more than
   `stories.max_df` documents (they would make posting lists, and the work,
   grow with the corpus). Documents sharing indexed terms are scored by those
   terms; each keeps its `stories.neighbours` best, and only these pairs get an
   exact cosine. Pairs of dated documents further apart than
   `stories.window_days` are not linked: two same-topic events days apart are
   two stories (an ongoing story still grows day by day through articles in
   between).
3. **Average-link merging from the candidate pairs.** Pairs are taken from the
   most similar down; the two documents' stories merge when the average cosine
   between their documents (from the stories' summed vectors) reaches
   `link_threshold + (threshold - link_threshold) / sqrt(n1 * n2)`: two
   articles alone need `stories.threshold`, larger stories (a surer average)
   need less, down to `stories.link_threshold`; and at least
   `stories.cohesion_ratio` times the closer story's own average cosine
   (stories of near-copies merge only with stories just as close: two weather
   alerts are two events; a loose story cannot swallow tight ones). One broad article mentioning two events joins the one it is
   closest to; the other event's documents are not similar to that story on
   average, so it cannot chain them. Passes repeat until nothing merges.
   Then a small story (at most `stories.attach_max_size` articles) joins the
   larger story (3 articles or more) where most of its articles' nearest
   neighbours are, when two of that story's articles at least are among them and
   each of its own articles has one there, and its average cosine with it reaches
   `stories.attach_min` and `stories.attach_ratio` times that story's own
   average as it was when merging ended (a story does not loosen, and take ever
   looser articles, as it grows): the loose articles of an ongoing story find it.
4. **A document goes where most of its content goes.** Each body paragraph of a
   document with two or more of them votes, with its number of content words,
   for the story (its own or one of its neighbours') whose centroid, the
   document left out, it is most similar to, when that similarity reaches
   `stories.paragraph_threshold`. A document moves to the story with most
   votes when the document as a whole is `stories.threshold` similar to it.
   Paragraphs voting for another story than their document's, and not similar
   to their own, are *off topic* (`Story.off_topic_paragraph_ids`): left out of
   the brief, but never the document's main content (they must weigh less
   than half of it) and never its only paragraph.

Nothing is dropped: every document is in exactly one story. A document that
is similar to a story but not enough to join it is listed in that story's
`related` with the reason. A story keeps each paragraph once: a paragraph that
duplicates another (exact, near or contained) is represented by its group's
canonical member. A story's documents are in date order when dated (undated
ones after, in corpus order). Stories are numbered by size (most documents
first), then by first document; `pipeline.story_ids` turns these numbers
into ids that are stable across runs.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date as Date
from itertools import chain, repeat
from operator import mul
from array import array
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from .config import StoriesSettings
from .dedup import group_of
from .minhash import unique_sorted
from .model import DedupResult, Document, Paragraph, RelatedDocument, Story
from .textsim import _WORD, ContentWords, row_dots

log = logging.getLogger("pipeline")

_CENTROID_TERMS = 1000  # a story's centroid keeps its heaviest terms (merging stays cheap)
_RELATED_PER_STORY = 5
_MAX_ROUNDS = 10  # passes over the candidate pairs (each linear); two or three are usual
_ENTITY = "@"  # prefix of entity terms
# A capitalised word (names, places, organisations) not at the start of a sentence or after a quote.
# (The leading look-ahead only makes most positions fail at once: the same matches, half the time.)
_NAME = re.compile(r"(?=[A-ZÉÈÀÂÎÔÛÇ])(?<![.!?«\"]\s)(?<!^)\b([A-ZÉÈÀÂÎÔÛÇ][\w-]+(?:\s+[A-ZÉÈÀÂÎÔÛÇ][\w-]+)*)")


def _body(doc: Document) -> list[Paragraph]:
    return [p for p in doc.paragraphs if p.kind == "body"]


def _title(doc: Document) -> str:
    if doc.title:
        return doc.title
    heads = [p.text for p in doc.paragraphs if p.kind == "heading"]
    return heads[0] if heads else ""


def capitalised_names(texts: Sequence[str]) -> list[list[str]]:
    """Names per text: runs of capitalised words that do not start a sentence ("Jérôme Kerviel")."""
    return [[m.casefold() for m in _NAME.findall(t)] for t in texts]


EntityFinder = Callable[[Sequence[str]], list[list[str]]]


def entity_finder(kind: str) -> EntityFinder | None:
    if kind == "none":
        return None
    if kind == "spacy":
        from .entities import spacy_entities

        return spacy_entities
    return capitalised_names


class _Terms:
    """Words -> term ids of a vocabulary: one look-up per word (its content-word stem, read once per run).

    A word is cased, filtered (stop words, one letter, digits) and stemmed the first time it is
    met; afterwards it is one dictionary look-up. A term gets its id when first read, so the
    vocabulary is in the order terms first appear (what the TF-IDF columns and the state keep)."""

    def __init__(self, vocab: dict[str, int]) -> None:
        self.vocab = vocab  # term -> id (stems, and `_ENTITY` + name)
        self._words = ContentWords()
        self._ids: dict[str, int] = {}  # lower-cased word -> term id, or -1 (not a content word)

    def __call__(self, text: str) -> list[int]:
        words = _WORD.findall(text.lower())
        out = list(map(self._ids.get, words, repeat(-2)))
        if -2 in out:  # words met for the first time
            ids = self._ids
            out = [ids[w] if w in ids else self._read(w) for w in words]
        return [t for t in out if t >= 0]

    def _read(self, word: str) -> int:
        words = self._words
        if word in words.stop_words or len(word) <= 1 or word.isdigit():
            t = -1
        else:
            t = self.term(words.stem(word))
        self._ids[word] = t
        return t

    def term(self, term: str) -> int:
        return self.vocab.setdefault(term, len(self.vocab))


@dataclass(frozen=True)
class _Space:
    """Documents as rows of a sparse L2-normalised TF-IDF matrix."""

    matrix: sp.csr_matrix
    vocab: dict[str, int]
    idf: np.ndarray
    df: np.ndarray

    def paragraphs(self, texts: Sequence[Sequence[tuple[str, list[int]]]]) -> list[list[_Para]]:
        """Per document, its paragraphs' L2-normalised TF-IDF vectors from their (pid, term ids);
        paragraphs with no term left out. All at once: one sort of (paragraph, term) keys."""
        flat = [(d, pid, ts) for d, ps in enumerate(texts) for pid, ts in ps if ts]
        out: list[list[_Para]] = [[] for _ in texts]
        if not flat:
            return out
        lengths = np.array([len(ts) for _d, _pid, ts in flat], dtype=np.int64)
        terms = np.fromiter(chain.from_iterable(ts for _d, _pid, ts in flat), dtype=np.int64, count=int(lengths.sum()))
        width = len(self.idf)
        keys, counts = np.unique(np.repeat(np.arange(len(flat)), lengths) * width + terms, return_counts=True)
        para, ids = keys // width, keys % width
        v = (1.0 + np.log(counts)) * self.idf[ids]
        z = np.sqrt(np.bincount(para, weights=v * v, minlength=len(flat)))
        v /= np.where(z > 0, z, 1.0)[para]
        bounds = np.searchsorted(para, np.arange(len(flat) + 1)).tolist()
        for k, (d, pid, ts) in enumerate(flat):
            lo, hi = bounds[k], bounds[k + 1]
            out[d].append(_Para(pid, ids[lo:hi], v[lo:hi], len(ts)))
        return out


def _term_counts(doc: Document, body_terms: list[tuple[str, list[int]]], terms: _Terms, names: list[str],
                 settings: StoriesSettings) -> Counter[int]:
    """A document's term counts, terms in the order they first appear (body, title, names).

    A term weighted 0 is not counted at all (nor given an id): it would count for nothing."""
    counts: Counter[int] = Counter()
    for _pid, ts in body_terms:
        counts.update(ts)
    if settings.title_weight > 0:
        for t in terms(_title(doc)):
            counts[t] += settings.title_weight
    if settings.entity_weight > 0:
        for name in names:
            counts[terms.term(_ENTITY + name)] += settings.entity_weight
    return counts


def _top_terms(m: sp.csr_matrix, keep: int, eligible: np.ndarray | None = None) -> sp.csr_matrix:
    """Each row's `keep` heaviest entries (among `eligible` ones; ties: the earlier entry).

    Row by row (a sort of each longer row, not one sort of the whole matrix): linear in the rows."""
    lengths = np.diff(m.indptr)
    cols, data = m.indices, m.data
    if eligible is not None:
        rows = np.repeat(np.arange(m.shape[0]), lengths)[eligible]
        cols, data = cols[eligible], data[eligible]
        lengths = np.bincount(rows, minlength=m.shape[0])
    indptr = np.zeros(m.shape[0] + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    ok = np.ones(len(data), dtype=bool)
    for r in np.flatnonzero(lengths > keep).tolist():
        lo, hi = indptr[r], indptr[r + 1]
        ok[lo:hi] = False
        ok[lo + np.argsort(-data[lo:hi], kind="stable")[:keep]] = True
    kept = np.zeros(m.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.minimum(lengths, keep), out=kept[1:])
    out = sp.csr_matrix((data[ok], cols[ok], kept), shape=m.shape)
    out.sort_indices()
    return out


def _space(counts: Iterable[Counter[int]], vocab: dict[str, int], keep: int,
           base: tuple[np.ndarray, int] | None = None) -> _Space:
    """TF-IDF rows of the documents' term counts (consumed one at a time: compact arrays, not lists of objects).

    `vocab`: term -> id, complete once `counts` is consumed (`_Terms` fills it as it reads);
    `base`: (document frequencies, number of documents) of documents already read
    (`pipeline.story_join`): the rows are those of the new documents, weighed by the IDF of all."""
    indptr = array("q", [0])
    indices = array("q")
    tf = array("d")
    for c in counts:
        indices.extend(c.keys())
        tf.extend(c.values())
        indptr.append(len(indices))
    n = len(indptr) - 1
    idx = np.frombuffer(indices, dtype=np.int64) if len(indices) else np.zeros(0, dtype=np.int64)
    df = np.bincount(idx, minlength=len(vocab))
    total = n
    if base:
        df[: len(base[0])] += base[0]
        total += base[1]
    idf = np.log((1.0 + total) / (1.0 + df)) + 1.0
    tfa = np.frombuffer(tf, dtype=np.float64) if len(tf) else np.zeros(0)
    data = np.where(tfa >= 1.0, 1.0 + np.log(np.maximum(tfa, 1.0)), tfa) * idf[idx]
    ptr = np.frombuffer(indptr, dtype=np.int64)
    matrix = _top_terms(sp.csr_matrix((data, idx.copy(), ptr.copy()), shape=(n, len(vocab))), keep)
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    matrix = sp.csr_matrix(sp.diags(1.0 / norms) @ matrix)
    return _Space(matrix, vocab, idf, df)


def _index_matrix(space: _Space, settings: StoriesSettings) -> sp.csr_matrix:
    """Each document's heaviest `index_terms` terms found in 2 to `max_df` documents."""
    df = space.df[space.matrix.indices]
    return _top_terms(space.matrix, settings.index_terms, (df >= 2) & (df <= settings.max_df))


def _days(d: str | None) -> int | None:
    if not d:
        return None
    try:
        parts = [int(x) for x in d.split("-")]
        return Date(parts[0], parts[1], parts[2] if len(parts) > 2 else 15).toordinal()
    except (ValueError, IndexError):
        return None


def candidate_pairs(space: _Space, days: Sequence[int | None], settings: StoriesSettings,
                    block: int = 2048, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(a, b, cosine) for each document's best `neighbours` by indexed terms, a < b, within the time window.

    `rows`: only these documents' best neighbours (documents new to a grouping, `pipeline.story_join`)."""
    q = _index_matrix(space, settings)
    qt = sp.csr_matrix(q.T)
    k = settings.neighbours
    pa: list[np.ndarray] = []
    pb: list[np.ndarray] = []
    n = q.shape[0]
    rows = np.arange(n) if rows is None else rows
    for start in range(0, len(rows), block):
        chunk = rows[start:start + block]
        scores = sp.csr_matrix(q[chunk] @ qt)
        for r, x in enumerate(chunk.tolist()):
            lo, hi = scores.indptr[r], scores.indptr[r + 1]
            cols, vals = scores.indices[lo:hi], scores.data[lo:hi]
            self_mask = cols != x
            cols, vals = cols[self_mask], vals[self_mask]
            if len(cols) > k:
                top = np.argpartition(-vals, k)[:k]
                cols = cols[top]
            pa.append(np.full(len(cols), x, dtype=np.int64))
            pb.append(cols.astype(np.int64))
    if not pa:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0)
    a, b = np.concatenate(pa), np.concatenate(pb)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    pairs = unique_sorted(lo * n + hi)  # (not np.unique: see minhash.unique_sorted)
    a, b = pairs // n, pairs % n
    day = np.array([-10**9 if d is None else d for d in days], dtype=np.int64)
    known = (day[a] > -10**9) & (day[b] > -10**9)
    ok = ~known | (np.abs(day[a] - day[b]) <= settings.window_days)
    a, b = a[ok], b[ok]
    return a, b, row_dots(space.matrix, a, b)


class _Clusters:
    """Union-find over documents; each story keeps the sum of its documents' vectors (heaviest terms).

    A document alone is read from the matrix when needed (no dict per document).
    """

    def __init__(self, matrix: sp.csr_matrix) -> None:
        n = matrix.shape[0]
        self.matrix = matrix
        self.parent = list(range(n))
        self.size = [1] * n
        self.sums: dict[int, dict[int, float]] = {}
        self.norm: dict[int, float] = {}
        # stories kept from a previous run (`pipeline.story_join`): new documents join them, they never merge
        self.settled: set[int] = set()

    def apart(self, a: int, b: int) -> bool:
        """Two stories that must stay apart (both kept from a previous run)."""
        return a in self.settled and b in self.settled

    def _sum(self, a: int) -> dict[int, float]:
        x = self.sums.get(a)
        return x if x is not None else _row(self.matrix, a)

    def find(self, a: int) -> int:
        parent = self.parent
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    def mean_cosine(self, a: int, b: int) -> float:
        """Average cosine between a document of story a and one of story b (average linkage)."""
        x, y = self._sum(a), self._sum(b)
        if len(x) > len(y):
            x, y = y, x
        # the same products, summed in the same order, as a loop over x's items (map: no Python frame per term)
        dot = sum(map(mul, x.values(), map(y.get, x.keys(), repeat(0.0))))
        return dot / (self.size[a] * self.size[b])

    def cohesion(self, a: int) -> float:
        """Mean cosine between two different documents of the story (its centroid kept to its heaviest terms)."""
        n = self.size[a]
        return (self.norm[a] ** 2 - n) / (n * (n - 1)) if n > 1 else 1.0

    def union(self, a: int, b: int) -> None:
        x, y = self._sum(a), self._sum(b)
        if len(x) < len(y):
            a, b, x, y = b, a, y, x
        for t, v in y.items():
            x[t] = x.get(t, 0.0) + v
        if len(x) > _CENTROID_TERMS:
            x = dict(sorted(x.items(), key=lambda kv: -kv[1])[:_CENTROID_TERMS])
        self.sums[a] = x
        self.sums.pop(b, None)
        self.norm.pop(b, None)
        self.norm[a] = math.sqrt(sum(map(mul, x.values(), x.values())))
        self.parent[b] = a
        self.size[a] += self.size[b]
        if b in self.settled:
            self.settled.discard(b)
            self.settled.add(a)


def _row(m: sp.csr_matrix, i: int) -> dict[int, float]:
    lo, hi = m.indptr[i], m.indptr[i + 1]
    return dict(zip(m.indices[lo:hi].tolist(), m.data[lo:hi].tolist()))


def _merge(space: _Space, a: np.ndarray, b: np.ndarray, sims: np.ndarray, settings: StoriesSettings,
           clusters: _Clusters | None = None) -> list[int]:
    """Story label per document: pairs from the most similar down, merged when the stories' centroids agree.

    `clusters`: stories already formed (`pipeline.story_join`); by default every document alone."""
    n = space.matrix.shape[0]
    clusters = clusters or _Clusters(space.matrix)
    link, threshold = settings.link_threshold, settings.threshold
    order = np.argsort(-sims, kind="stable")
    order = order[: int(np.count_nonzero(sims >= link))]
    size = clusters.size
    # (a, b, cosine, sizes of the two stories when last found too far apart). A pair is judged again
    # only once one of its stories has grown by a quarter: a story of k articles is re-judged against
    # each neighbour O(log k) times, not k times (growth stays linear with large stories).
    edges = [(x, y, s, 0, 0) for x, y, s in zip(a[order].tolist(), b[order].tolist(), sims[order].tolist())]
    for _round in range(_MAX_ROUNDS):
        merged = 0
        kept = []
        for x, y, s, na, nb in edges:
            ra, rb = clusters.find(x), clusters.find(y)
            if ra == rb or clusters.apart(ra, rb):
                continue
            if 4 * size[ra] < 5 * na and 4 * size[rb] < 5 * nb:  # neither story grew much: still too far apart
                kept.append((x, y, s, na, nb))
                continue
            need = link + (threshold - link) / math.sqrt(size[ra] * size[rb])
            # the closer story's own closeness: a story of near-copies takes no loose neighbour, and a
            # loose story (a topic taking shape) cannot swallow tight ones
            own = [clusters.cohesion(r) for r in (ra, rb) if size[r] > 1]
            if own:
                need = max(need, settings.cohesion_ratio * max(own))
            mean = s if size[ra] == size[rb] == 1 else clusters.mean_cosine(ra, rb)
            if mean >= need:
                clusters.union(ra, rb)
                merged += 1
            else:
                kept.append((x, y, s, size[ra], size[rb]))
        edges = kept
        if not merged:
            break
    else:
        log.warning("stories: merging still changed after %d rounds; stopped there", _MAX_ROUNDS)
    # a story is judged by what it was when merging ended, not by what it becomes as small stories join
    # it (it would loosen with each one and take ever looser ones: a topic, not a story)
    founded = {r: clusters.cohesion(r) for r in {clusters.find(i) for i in range(n)} if size[r] > 1}
    if settings.attach_neighbours:
        near = _nearest(n, a, b, sims, settings)
        pending: set[int] | None = None  # the first pass judges every small story
        for _round in range(_MAX_ROUNDS):
            touched = _attach(clusters, near, settings, founded, pending)
            if not touched:
                break
            pending = _touching(clusters, near, touched)
    return [clusters.find(i) for i in range(n)]


def _nearest(n: int, a: np.ndarray, b: np.ndarray, sims: np.ndarray, settings: StoriesSettings,
             ) -> list[list[tuple[float, int]]]:
    """Each document's `attach_neighbours` nearest documents (cosine >= attach_floor), nearest first."""
    near: list[list[tuple[float, int]]] = [[] for _ in range(n)]
    ok = sims >= settings.attach_floor
    for x, y, s in zip(a[ok].tolist(), b[ok].tolist(), sims[ok].tolist()):
        near[x].append((s, y))
        near[y].append((s, x))
    k = settings.attach_neighbours
    return [sorted(ns, reverse=True)[:k] if ns else ns for ns in near]


def _touching(clusters: _Clusters, near: list[list[tuple[float, int]]], touched: set[int]) -> set[int]:
    """Stories with an article near an article of a story that changed (the only ones whose judgement can change).

    A story none of whose articles' nearest articles changed story is judged as before: a pass costs what
    changed, not the whole corpus again."""
    find = clusters.find
    now = {find(r) for r in touched}
    return now | {find(i) for i, ns in enumerate(near) if any(find(j) in now for _s, j in ns)}


def _attach(clusters: _Clusters, near: list[list[tuple[float, int]]], settings: StoriesSettings,
            founded: dict[int, float], pending: set[int] | None) -> set[int]:
    """Small stories (among `pending` ones; None: all) join the larger story most of their nearest articles
    are in (one pass, no cascade). Returns the stories that joined or were joined."""
    n = len(clusters.parent)
    root = [clusters.find(i) for i in range(n)]
    members: dict[int, list[int]] = defaultdict(list)
    for i, r in enumerate(root):
        members[r].append(i)
    size = {r: len(ms) for r, ms in members.items()}
    touched: set[int] = set()
    for r, ms in members.items():
        if size[r] > settings.attach_max_size or (pending is not None and r not in pending):
            continue
        votes: Counter[int] = Counter()
        voters: dict[int, set[int]] = defaultdict(set)  # the target's articles near this story
        near_to: dict[int, set[int]] = defaultdict(set)  # this story's articles near the target
        total = 0.0
        for i in ms:
            for s, j in near[i]:
                if root[j] != r:
                    votes[root[j]] += s
                    voters[root[j]].add(j)
                    near_to[root[j]].add(i)
                    total += s
        if not votes:
            continue
        target, weight = votes.most_common(1)[0]
        # near two of its articles at least, and each of its own articles near one: one broad
        # article can neither pull another event in nor take its own second event along
        if size[target] <= max(size[r], 2) or 2 * weight < total or len(voters[target]) < 2 \
                or len(near_to[target]) < len(ms):
            continue
        ra, rb = clusters.find(r), clusters.find(target)
        if ra == rb or clusters.apart(ra, rb):
            continue
        mean = clusters.mean_cosine(ra, rb)
        own = founded.get(rb, clusters.cohesion(rb))
        # a small story of near-copies joins only a story it is about as close to as they are to each other
        bar = own if size[r] < size[target] else max(own, clusters.cohesion(ra))
        if mean >= max(settings.attach_min, settings.attach_ratio * bar):
            clusters.union(ra, rb)
            founded[clusters.find(ra)] = own
            touched |= {ra, rb}
    return touched


@dataclass
class _Para:
    pid: str
    terms: np.ndarray  # TF-IDF vector: sorted term ids
    values: np.ndarray  # and their weights
    weight: int


def _sorted_rows(m: sp.csr_matrix) -> sp.csr_matrix:
    """The matrix with each row's entries in column order (what `_gather` searches)."""
    if not m.has_sorted_indices:
        m = m.copy()
        m.sort_indices()
    return m


def _story_sums(space: _Space, story_of: Sequence[int]) -> tuple[sp.csr_matrix, np.ndarray]:
    labels = np.asarray(story_of, dtype=np.int64)
    n = len(labels)
    ind = sp.csr_matrix((np.ones(n), (labels, np.arange(n))), shape=(int(labels.max()) + 1, n))
    sums = _sorted_rows(sp.csr_matrix(ind @ space.matrix))
    return sums, np.asarray(sums.multiply(sums).sum(axis=1)).ravel()


def _gather(m: sp.csr_matrix, row: int, terms: np.ndarray) -> np.ndarray:
    """Row `row` of `m` (entries in column order) at the columns `terms`, 0 where it has none."""
    lo, hi = m.indptr[row], m.indptr[row + 1]
    cols = m.indices[lo:hi]
    if not len(cols):
        return np.zeros(len(terms))
    pos = np.minimum(np.searchsorted(cols, terms), len(cols) - 1)
    return np.where(cols[pos] == terms, m.data[lo:hi][pos], 0.0)


def _paragraph_scores(d: int, paras: list[_Para], candidates: list[int], own: int, rows: sp.csr_matrix,
                      sums: sp.csr_matrix, sq: np.ndarray) -> np.ndarray:
    """Cosine of each paragraph of document d with each candidate story's sum, d left out of its own.

    `rows`: the documents' TF-IDF rows, `sums`: the stories' summed rows (both `_sorted_rows`).
    Dense over the paragraphs' own terms (a few hundred): NumPy on small arrays, no sparse
    matrix built per document."""
    terms = np.unique(np.concatenate([p.terms for p in paras]))
    if not len(terms):
        return np.zeros((len(paras), len(candidates)))
    pm = np.zeros((len(paras), len(terms)))
    for i, p in enumerate(paras):
        pm[i, np.searchsorted(terms, p.terms)] = p.values
    dots = pm @ np.stack([_gather(sums, c, terms) for c in candidates]).T
    norms = np.sqrt(np.maximum(sq[candidates], 0.0))
    k = candidates.index(own)
    lo, hi = rows.indptr[d], rows.indptr[d + 1]
    doc_terms, doc_values = rows.indices[lo:hi], rows.data[lo:hi]
    own_dot_doc = float(_gather(sums, own, doc_terms) @ doc_values)
    doc_sq = float(doc_values @ doc_values)
    dots[:, k] -= pm @ _gather(rows, d, terms)
    norms[k] = math.sqrt(max(sq[own] - 2 * own_dot_doc + doc_sq, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(norms > 1e-9, dots / np.where(norms > 1e-9, norms, 1.0), 0.0)
    return out


def _refine(documents: Sequence[Document], space: _Space, paragraphs: list[list[_Para]], story_of: list[int],
            neighbours: dict[int, set[int]], settings: StoriesSettings) -> tuple[list[int], set[str]]:
    """Step 4: move documents where most of their paragraphs go; find off-topic paragraphs."""
    rows = _sorted_rows(space.matrix)
    sums, sq = _story_sums(space, story_of)
    size = Counter(story_of)
    moved = 0
    # the first pass's scores, by document: the second pass reads them again where none of the
    # candidate stories changed (same members, same sums: the same scores)
    first: dict[int, tuple[list[int], np.ndarray]] = {}
    changed: set[int] = set()  # stories a document left or joined
    for d, paras in enumerate(paragraphs):
        if len(paras) < 2:
            continue
        own = story_of[d]
        candidates = sorted({own} | {story_of[j] for j in neighbours.get(d, ())})
        if len(candidates) < 2:
            continue
        scores = _paragraph_scores(d, paras, candidates, own, rows, sums, sq)
        first[d] = (candidates, scores)
        votes: Counter[int] = Counter()
        for i, p in enumerate(paras):
            best = int(np.argmax(scores[i]))
            if scores[i, best] >= settings.paragraph_threshold:
                votes[candidates[best]] += p.weight
        if not votes:
            continue
        target = max(votes, key=lambda s: (votes[s], s == own, -s))
        if target == own:
            continue
        lo, hi = rows.indptr[d], rows.indptr[d + 1]
        doc_sim = float(_gather(sums, target, rows.indices[lo:hi]) @ rows.data[lo:hi]) \
            / math.sqrt(max(sq[target], 1e-12))
        if doc_sim >= settings.threshold:
            story_of[d] = target
            size[own] -= 1
            size[target] += 1
            moved += 1
            changed |= {own, target}
    if moved:
        sums, sq = _story_sums(space, story_of)
    off_topic: set[str] = set()
    for d, paras in enumerate(paragraphs):
        own = story_of[d]
        if len(paras) < 2 or size[own] < 2:
            continue
        candidates = sorted({own} | {story_of[j] for j in neighbours.get(d, ())})
        if len(candidates) < 2:
            continue
        seen = first.get(d)
        if seen is not None and seen[0] == candidates and changed.isdisjoint(candidates):
            scores = seen[1]
        else:
            scores = _paragraph_scores(d, paras, candidates, own, rows, sums, sq)
        k = candidates.index(own)
        away = [p for i, p in enumerate(paras)
                if scores[i, k] < settings.paragraph_threshold
                and candidates[int(np.argmax(scores[i]))] != own
                and float(scores[i].max()) >= settings.paragraph_threshold]
        # never the document's main content: what stays must outweigh what goes
        if away and 2 * sum(p.weight for p in away) < sum(p.weight for p in paras):
            off_topic |= {p.pid for p in away}
    return story_of, off_topic


def _reason(space_terms: list[str], member: str, a_row: dict[int, float], b_row: dict[int, float], sim: float,
            threshold: float) -> str:
    shared = sorted(set(a_row) & set(b_row), key=lambda t: -a_row[t] * b_row[t])[:4]
    words = ", ".join(space_terms[t].lstrip(_ENTITY) for t in shared)
    why = "too weak to join" if sim < threshold else "but not to the story as a whole"
    return f"similar to {member} (cosine {sim:.2f}; shared terms: {words}), {why}"


def bridged_texts(documents: Sequence[Document], dedup_result: DedupResult) -> dict[str, list[str]]:
    """For each document not in French, the French sentences that state what its sentences state.

    The terms of a story are French stems; an English or Spanish report of the same facts shares
    few of them. Dedup links a sentence to the French sentences that state the same fact, across
    languages (`dedup.crosslingual`); a non-French document is read with those French sentences
    too, so it joins the story of the facts it reports, and only through facts, never through a
    shared topic word. Linear in the sentence groups.
    """
    lang_text: dict[str, tuple[str, str, str]] = {}  # sid -> (doc_id, language, text)
    for d in documents:
        if d.lang == "fr" and all(p.lang == "fr" for p in d.paragraphs):
            continue
        for p in d.paragraphs:
            for sen in p.sentences:
                lang_text[sen.sid] = (d.doc_id, p.lang, sen.text)
    if not lang_text:
        return {}
    texts: dict[str, str] = {sen.sid: sen.text for d in documents for p in d.paragraphs if p.lang == "fr"
                             for sen in p.sentences}
    out: dict[str, list[str]] = defaultdict(list)
    for g in dedup_result.sentence_groups:
        fr = [texts[m.id] for m in g.members if m.id in texts]
        if not fr:
            continue
        for m in g.members:
            found = lang_text.get(m.id)
            if found is not None and found[1] != "fr":
                out[found[0]].append(fr[0])
    return dict(out)


def _document_space(documents: Sequence[Document], settings: StoriesSettings,
                    bridged: Mapping[str, list[str]] | None = None,
                    base: tuple[dict[str, int], np.ndarray, int] | None = None,
                    ) -> tuple[_Space, list[list[tuple[str, list[str]]]]]:
    """The documents' TF-IDF space, and each document's body paragraphs as (pid, term ids).

    `bridged`: French sentences to read a non-French document with (`bridged_texts`);
    `base`: (vocabulary, document frequencies, number of documents) of documents already read (`_space`)."""
    terms = _Terms(dict(base[0]) if base else {})
    finder = entity_finder(settings.entities)
    names = finder([_title(d) + "\n" + "\n".join(p.text for p in _body(d)) for d in documents]) if finder \
        else [[] for _ in documents]
    para_terms: list[list[tuple[str, list[int]]]] = []

    def counts() -> Iterable[Counter[int]]:
        for d, nm in zip(documents, names):
            ps = [(p.pid, terms(p.text)) for p in _body(d)]
            # paragraphs are weighed against each other only in documents with two or more
            para_terms.append(ps if len(ps) > 1 else [])
            counts = _term_counts(d, ps, terms, nm, settings)
            if bridged and d.doc_id in bridged:
                counts.update(terms(" ".join(bridged[d.doc_id])))
            yield counts

    return _space(counts(), terms.vocab, settings.doc_terms, (base[1], base[2]) if base else None), para_terms


def document_cosine(documents: Sequence[Document], settings: StoriesSettings, a: str, b: str) -> float:
    """Cosine of two documents (by doc_id) as grouping sees them; for inspection, not used to group."""
    space, _ = _document_space(documents, settings)
    ids = [d.doc_id for d in documents]
    m = space.matrix
    return float(m[ids.index(a)].multiply(m[ids.index(b)]).sum())


def group_stories(documents: Sequence[Document], dedup_result: DedupResult, settings: StoriesSettings) -> list[Story]:
    return group(documents, dedup_result, settings).stories


@dataclass
class Grouped:
    """A grouping and what placing later documents into it needs (`pipeline.story_join`)."""

    stories: list[Story]
    space: _Space
    story_of: list[int]  # per document, the index of its story in `stories`
    pairs: tuple[np.ndarray, np.ndarray, np.ndarray]  # candidate pairs (a, b, cosine)
    off_topic: set[str]


def group(documents: Sequence[Document], dedup_result: DedupResult, settings: StoriesSettings) -> Grouped:
    if not documents:
        none = np.zeros(0, dtype=np.int64)
        return Grouped([], _space([], {}, settings.doc_terms), [], (none, none, np.zeros(0)), set())
    space, para_terms = _document_space(documents, settings, bridged_texts(documents, dedup_result))
    days = [_days(d.date) for d in documents]
    a, b, sims = candidate_pairs(space, days, settings)
    story_of = _merge(space, a, b, sims, settings)

    neighbours: dict[int, set[int]] = defaultdict(set)
    strong = sims >= settings.paragraph_threshold
    for x, y in zip(a[strong].tolist(), b[strong].tolist()):
        neighbours[x].add(y)
        neighbours[y].add(x)
    paragraphs = space.paragraphs(para_terms)
    story_of, off_topic = _refine(documents, space, paragraphs, story_of, neighbours, settings)
    stories, number = assemble(documents, space, story_of, (a, b, sims), off_topic, dedup_result, settings)
    log.info("stories: %d documents, %d candidate pairs, %d stories, %d off-topic paragraphs",
             len(documents), len(a), len(stories), len(off_topic))
    return Grouped(stories, space, number, (a, b, sims), off_topic)


def assemble(documents: Sequence[Document], space: _Space, story_of: Sequence[int],
             pairs: tuple[np.ndarray, np.ndarray, np.ndarray], off_topic: set[str], dedup_result: DedupResult,
             settings: StoriesSettings) -> tuple[list[Story], list[int]]:
    """The stories of a labelling (numbered by size), and each document's story index.

    `pairs`: candidate pairs (a, b, cosine) from which related documents are listed."""
    a, b, sims = pairs
    days = [_days(d.date) for d in documents]
    clusters: dict[int, list[int]] = defaultdict(list)
    for i in range(len(documents)):
        clusters[story_of[i]].append(i)
    ordered = sorted(clusters.values(), key=lambda ds: (-len(ds), documents[ds[0]].doc_id))
    number = {story_of[ds[0]]: k for k, ds in enumerate(ordered, start=1)}

    # related: documents of other stories similar to a member, not enough to join
    terms = [""] * len(space.vocab)
    for t, i in space.vocab.items():
        terms[i] = t
    related: dict[int, dict[int, tuple[float, int]]] = defaultdict(dict)
    a, b, sims = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64), np.asarray(sims, dtype=np.float64)
    label = np.asarray(story_of, dtype=np.int64)
    near = (sims >= settings.related_threshold) & (label[a] != label[b])  # (of 90,000 pairs at 10,000 articles)
    for x, y, s in zip(a[near].tolist(), b[near].tolist(), sims[near].tolist()):
        for here, there in ((x, y), (y, x)):
            best = related[story_of[here]].get(there)
            if best is None or s > best[0]:
                related[story_of[here]][there] = (s, here)

    para_group = group_of(dedup_result.paragraph_groups)
    rows: dict[int, dict[int, float]] = {}  # the rows `_reason` reads, each made once (a member is often
    # the nearest document of several others)

    def row(i: int) -> dict[int, float]:
        found = rows.get(i)
        if found is None:
            found = rows[i] = _row(space.matrix, i)
        return found

    stories: list[Story] = []
    for ds in ordered:
        ds = sorted(ds, key=lambda i: (days[i] is None, days[i] or 0, i))
        docs = [documents[i] for i in ds]
        ids = {d.doc_id for d in docs}
        kept: list[str] = []
        dropped: list[str] = []
        for doc in docs:
            # a document with no body paragraph (a heading alone) is read through its headings
            for p in _body(doc) or doc.paragraphs:
                if p.pid in off_topic:
                    dropped.append(p.pid)
                    continue
                group = para_group.get(p.pid)
                if group is not None and group.canonical != p.pid and group.canonical.split(":")[0] in ids \
                        and group.canonical not in off_topic:
                    continue
                kept.append(p.pid)
        label = story_of[ds[0]]
        rel = sorted(related.get(label, {}).items(), key=lambda kv: -kv[1][0])[:_RELATED_PER_STORY]
        stories.append(Story(
            f"story-{number[label]:03d}", tuple(d.doc_id for d in docs), tuple(kept), tuple(dropped),
            tuple(RelatedDocument(documents[j].doc_id, f"story-{number[story_of[j]]:03d}", round(s, 3),
                                  _reason(terms, documents[here].doc_id, row(here), row(j), s,
                                          settings.threshold))
                  for j, (s, here) in rel)))
    return stories, [number[label] - 1 for label in story_of]
