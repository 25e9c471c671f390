"""Stories: group documents about the same news story; one brief per story.

Entry point: `group_stories(documents, dedup_result, settings) -> list[Story]`.

Documents and paragraphs are compared by TF-IDF cosine of their content-word
stems (body paragraphs only; IDF over the documents). The rule has two steps:

1. **Average-link grouping.** Two groups of documents join when the
   *average* similarity between their documents reaches `stories.threshold`
   (agglomerative clustering, average linkage). Unlike single link, one
   document that covers two stories cannot chain them together: the other
   documents of the two stories are not similar to each other, so the
   average stays low.
2. **A document goes where most of its content goes.** Each body paragraph
   votes, with its number of content words, for the story whose other
   documents it is most similar to (cosine with their centroid), when that
   similarity reaches `stories.paragraph_threshold`; a paragraph that
   matches no story abstains. A document moves to the story with the most
   votes when it differs from its own and the document as a whole is
   similar enough to it (cosine with the story's centroid >=
   `stories.threshold`). Repeated until nothing moves.

Paragraphs of a document that voted for another story than the one the
document joined are *off topic* there: listed in
`Story.off_topic_paragraph_ids` and left out of the story's paragraphs, so
the brief neither summarises nor quotes them.

A story keeps each paragraph once: a paragraph that duplicates another
(exact, near or contained) is represented by its group's canonical member.
Stories are numbered by size (most documents first), then by first document.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Sequence

from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

from .config import StoriesSettings
from .dedup import group_of
from .model import DedupResult, Document, Paragraph, Story
from .textsim import ContentWords, tfidf

_MAX_ROUNDS = 10
Vector = dict[str, float]


@dataclass(frozen=True)
class _Para:
    pid: str
    vector: Vector
    weight: int  # content words


def _body(doc: Document) -> list[Paragraph]:
    return [p for p in doc.paragraphs if p.kind == "body"]


def document_similarity(documents: Sequence[Document], words: ContentWords) -> list[list[float]]:
    space = tfidf([words.stems(" ".join(p.text for p in _body(d))) for d in documents])
    n = len(documents)
    return [[space.cosine(i, j) if i != j else 1.0 for j in range(n)] for i in range(n)]


def _vector(stems: Sequence[str], idf: dict[str, float]) -> Vector:
    counts = Counter(w for w in stems if w in idf)
    v = {w: (1.0 + math.log(c)) * idf[w] for w, c in counts.items()}
    z = math.sqrt(sum(x * x for x in v.values())) or 1.0
    return {w: x / z for w, x in v.items()}


def _cosine(a: Vector, b: Vector) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(x * b.get(w, 0.0) for w, x in a.items())


def _centroid(vectors: Sequence[Vector]) -> Vector:
    total: defaultdict[str, float] = defaultdict(float)
    for v in vectors:
        for w, x in v.items():
            total[w] += x
    z = math.sqrt(sum(x * x for x in total.values())) or 1.0
    return {w: x / z for w, x in total.items()}


def _average_link(sim: list[list[float]], threshold: float) -> list[int]:
    """Cluster label per document: average-linkage clusters cut at `threshold`."""
    n = len(sim)
    if n == 1:
        return [0]
    distance = [[0.0 if i == j else max(0.0, 1.0 - sim[i][j]) for j in range(n)] for i in range(n)]
    tree = linkage(squareform(distance, checks=False), method="average")
    labels = fcluster(tree, t=1.0 - threshold + 1e-9, criterion="distance")
    return [int(x) for x in labels]


class _Stories:
    """Stories as sums of their documents' vectors, kept up to date as documents move.

    The centroid of a story (its documents other than the one being placed)
    is the normalised sum; cosines go through an inverted index of stems, so
    a paragraph is only scored against stories that share a stem with it.
    """

    def __init__(self, story_of: list[int], refs: list[Vector]) -> None:
        self.story_of, self.refs = story_of, refs
        self.sums: defaultdict[int, defaultdict[str, float]] = defaultdict(lambda: defaultdict(float))
        self.size: Counter[int] = Counter(story_of)
        self.postings: defaultdict[str, set[int]] = defaultdict(set)
        for d, s in enumerate(story_of):
            self._add(d, s, 1.0)

    def _add(self, d: int, s: int, sign: float) -> None:
        total = self.sums[s]
        for w, x in self.refs[d].items():
            total[w] += sign * x
            self.postings[w].add(s)

    def move(self, d: int, target: int) -> None:
        self._add(d, self.story_of[d], -1.0)
        self.size[self.story_of[d]] -= 1
        self._add(d, target, 1.0)
        self.size[target] += 1
        self.story_of[d] = target

    def _norm(self, s: int, without: int | None) -> float:
        total = self.sums[s]
        if without is None:
            return math.sqrt(sum(x * x for x in total.values()))
        ref = self.refs[without]
        return math.sqrt(sum((x - ref.get(w, 0.0)) ** 2 for w, x in total.items()))

    def scores(self, d: int, vectors: Sequence[Vector]) -> list[dict[int, float]]:
        """For each vector (of document d's paragraphs): cosine with every story sharing a stem, d left out."""
        own = self.story_of[d]
        ref = self.refs[d]
        norms: dict[int, float] = {}
        out = []
        for v in vectors:
            acc: defaultdict[int, float] = defaultdict(float)
            for w, x in v.items():
                for s in self.postings.get(w, ()):
                    value = self.sums[s].get(w, 0.0) - (ref.get(w, 0.0) if s == own else 0.0)
                    acc[s] += x * value
            result = {}
            for s, dot in acc.items():
                if s == own and self.size[own] == 1:
                    continue
                if s not in norms:
                    norms[s] = self._norm(s, d if s == own else None)
                if norms[s] > 1e-12 and dot > 0:
                    result[s] = dot / norms[s]
            out.append(result)
        return out

    def choices(self, d: int, paragraphs: Sequence[_Para], threshold: float) -> dict[str, tuple[int, float, float]]:
        """For each paragraph of d that matches a story: (story, its score, the score of d's own story).

        A document alone in its story is represented, for each of its
        paragraphs, by its other paragraphs: a one-document story keeps a
        paragraph that fits the rest of its text.
        """
        own = self.story_of[d]
        out: dict[str, tuple[int, float, float]] = {}
        for para, scores in zip(paragraphs, self.scores(d, [p.vector for p in paragraphs])):
            if self.size[own] == 1:
                rest = [q.vector for q in paragraphs if q.pid != para.pid]
                scores[own] = _cosine(para.vector, _centroid(rest)) if rest else 0.0
            if not scores:
                continue
            best = max(scores, key=lambda s: (scores[s], s == own, -s))
            if scores[best] >= threshold:
                out[para.pid] = (best, scores[best], scores.get(own, 0.0))
        return out


def _move_documents(stories: _Stories, full: list[Vector], paragraphs: list[list[_Para]],
                    settings: StoriesSettings) -> bool:
    """One sweep of step 2: move each document to the story most of its paragraphs vote for."""
    moved = False
    for d in range(len(full)):
        own = stories.story_of[d]
        choices = stories.choices(d, paragraphs[d], settings.paragraph_threshold)
        votes: Counter[int] = Counter()
        for para in paragraphs[d]:
            if para.pid in choices:
                votes[choices[para.pid][0]] += para.weight
        if not votes:
            continue
        target = max(votes, key=lambda s: (votes[s], s == own, -s))
        if target == own:
            continue
        if stories.scores(d, [full[d]])[0].get(target, 0.0) >= settings.threshold:
            stories.move(d, target)
            moved = True
    return moved


def _off_topic(stories: _Stories, paragraphs: list[list[_Para]], settings: StoriesSettings) -> set[str]:
    """Paragraphs that vote for another story than their document's, and do not fit their own."""
    out: set[str] = set()
    for d, paras in enumerate(paragraphs):
        for pid, (s, _score, own_score) in stories.choices(d, paras, settings.paragraph_threshold).items():
            if s != stories.story_of[d] and own_score < settings.paragraph_threshold:
                out.add(pid)
    return out


def group_stories(documents: Sequence[Document], dedup_result: DedupResult, settings: StoriesSettings) -> list[Story]:
    if not documents:
        return []
    words = ContentWords()
    para_stems = [[(p.pid, words.stems(p.text)) for p in _body(d)] for d in documents]
    space = tfidf([[w for _, stems in ps for w in stems] for ps in para_stems])
    n = len(documents)
    full = list(space.vectors)
    sim = [[space.cosine(i, j) if i != j else 1.0 for j in range(n)] for i in range(n)]
    paragraphs = [[_Para(pid, _vector(stems, space.idf), len(stems)) for pid, stems in ps if stems] for ps in para_stems]

    def on_topic_vectors(excluded: set[str]) -> list[Vector]:
        if not excluded:
            return full
        return [_vector([w for pid, stems in ps if pid not in excluded for w in stems], space.idf) for ps in para_stems]

    # Step 1, then step 2 until stable. Stories are represented by their
    # documents' on-topic paragraphs, so an off-topic paragraph does not pull
    # other documents after it.
    story_of = _average_link(sim, settings.threshold)
    off_topic: set[str] = set()
    for _ in range(_MAX_ROUNDS):
        stories = _Stories(story_of, on_topic_vectors(off_topic))
        moved = _move_documents(stories, full, paragraphs, settings)
        found = _off_topic(stories, paragraphs, settings)
        story_of = stories.story_of
        if not moved and found == off_topic:
            break
        off_topic = found

    clusters: dict[int, list[Document]] = defaultdict(list)
    for i, doc in enumerate(documents):
        clusters[story_of[i]].append(doc)

    para_group = group_of(dedup_result.paragraph_groups)
    stories: list[Story] = []
    for docs in sorted(clusters.values(), key=lambda ds: (-len(ds), ds[0].doc_id)):
        ids = {d.doc_id for d in docs}
        kept: list[str] = []
        dropped: list[str] = []
        for doc in docs:
            for p in _body(doc):
                if p.pid in off_topic:
                    dropped.append(p.pid)
                    continue
                group = para_group.get(p.pid)
                if group is not None and group.canonical != p.pid and group.canonical.split(":")[0] in ids \
                        and group.canonical not in off_topic:
                    continue
                kept.append(p.pid)
        stories.append(Story(f"story-{len(stories) + 1:03d}", tuple(d.doc_id for d in docs), tuple(kept),
                             tuple(dropped)))
    return stories
