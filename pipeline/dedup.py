"""Dedup: find repeated text across documents and group it.

Entry point: `dedup(documents, settings) -> DedupResult`.

Two levels, paragraphs and sentences, and four relations:

- exact: equal after normalisation (case, punctuation and spacing ignored);
- near: Jaccard of word shingles >= `near_threshold` (candidates from MinHash
  LSH in `pipeline.minhash`, every candidate verified exactly);
- contained: most of the shorter text's shingles occur in the longer one
  (>= `contained_threshold`), so it adds nothing;
- same_fact (sentences only, across documents): the same statement in other
  words, by TF-IDF cosine of content-word stems >= `same_fact_threshold`.

Texts shorter than `min_words` are merged only when exactly equal, and two
texts that state different numbers or (for near/contained) different names
are never merged. Groups are transitive (union-find). The canonical member is
the most complete text (most words), then the earliest document (date, then
corpus order), then the earliest position.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Sequence

from .config import DedupSettings
from .minhash import find_similar_pairs
from .model import DedupResult, Document, DupGroup, DupMember, Relation
from .textsim import ContentWords, facts_conflict, tfidf

_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class _Item:
    id: str
    doc_id: str
    text: str
    rank: tuple  # canonical preference: smaller is better


@dataclass(frozen=True)
class _Link:
    a: int
    b: int
    relation: Relation
    score: float


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


def exact_key(text: str) -> str:
    return " ".join(_WORD.findall(text.casefold()))


def _shingle_links(items: Sequence[_Item], settings: DedupSettings) -> list[_Link]:
    links: list[_Link] = []
    keys = [exact_key(it.text) for it in items]
    by_key: dict[str, list[int]] = defaultdict(list)
    for i, key in enumerate(keys):
        by_key[key].append(i)
    for members in by_key.values():
        links.extend(_Link(members[0], m, "exact", 1.0) for m in members[1:])

    long_idx = [i for i, k in enumerate(keys) if len(k.split()) >= settings.min_words]
    pairs = find_similar_pairs(
        [items[i].text for i in long_idx],
        shingle_size=settings.shingle_size,
        jaccard_threshold=settings.near_threshold,
        containment_threshold=settings.contained_threshold,
    )
    for p in pairs:
        a, b = long_idx[p.i], long_idx[p.j]
        if keys[a] == keys[b] or facts_conflict(items[a].text, items[b].text):
            continue
        if p.jaccard >= settings.near_threshold:
            links.append(_Link(a, b, "near", p.jaccard))
        else:
            links.append(_Link(a, b, "contained", max(p.containment_ij, p.containment_ji)))
    return links


def _same_fact_links(items: Sequence[_Item], settings: DedupSettings, words: ContentWords) -> list[_Link]:
    """Cross-document sentence pairs with high content-word cosine and no number conflict.

    Dot products go through an inverted index of stems; stems found in more
    than max(50, 5%) of the sentences are left out of the candidate search
    (their IDF weight is small) so the cost stays near-linear on big corpora.
    """
    stems = [words.stems(it.text) for it in items]
    space = tfidf(stems)
    postings: dict[str, list[int]] = defaultdict(list)
    for i, v in enumerate(space.vectors):
        for w in v:
            postings[w].append(i)
    cap = max(50, len(items) // 20)
    links: list[_Link] = []
    for i, v in enumerate(space.vectors):
        if len(_WORD.findall(items[i].text)) < settings.min_words:
            continue
        candidates: set[int] = set()
        for w in v:
            plist = postings[w]
            if len(plist) <= cap:
                candidates.update(j for j in plist if j > i)
        for j in sorted(candidates):
            if items[i].doc_id == items[j].doc_id or len(_WORD.findall(items[j].text)) < settings.min_words:
                continue
            score = space.cosine(i, j)
            if score >= settings.same_fact_threshold and not facts_conflict(items[i].text, items[j].text):
                links.append(_Link(i, j, "same_fact", round(score, 4)))
    return links


_STRENGTH = {"exact": 0, "near": 1, "contained": 2, "same_fact": 3}


def _groups(items: Sequence[_Item], links: Iterable[_Link], level: str, prefix: str) -> list[DupGroup]:
    links = list(links)
    uf = _UnionFind(len(items))
    for link in links:
        uf.union(link.a, link.b)
    best: dict[int, _Link] = {}
    for link in links:
        for end in (link.a, link.b):
            cur = best.get(end)
            if cur is None or (_STRENGTH[link.relation], -link.score) < (_STRENGTH[cur.relation], -cur.score):
                best[end] = link
    direct = {(min(l.a, l.b), max(l.a, l.b)): l for l in links}
    clusters: dict[int, list[int]] = defaultdict(list)
    for i in range(len(items)):
        clusters[uf.find(i)].append(i)
    groups: list[DupGroup] = []
    for members in clusters.values():
        if len(members) < 2:
            continue
        canonical = min(members, key=lambda i: items[i].rank)
        out = [DupMember(items[canonical].id, "exact", 1.0)]
        for m in sorted(members):
            if m == canonical:
                continue
            link = direct.get((min(m, canonical), max(m, canonical))) or best[m]
            out.append(DupMember(items[m].id, link.relation, round(link.score, 4)))
        groups.append(DupGroup(f"{prefix}{len(groups) + 1}", level, items[canonical].id, tuple(out)))  # type: ignore[arg-type]
    return groups


def _doc_rank(documents: Sequence[Document]) -> dict[str, tuple]:
    return {d.doc_id: (d.date or "9999", i) for i, d in enumerate(documents)}


def dedup(documents: Sequence[Document], settings: DedupSettings) -> DedupResult:
    doc_rank = _doc_rank(documents)
    paragraphs: list[_Item] = []
    sentences: list[_Item] = []
    for doc in documents:
        for p in doc.paragraphs:
            if p.kind != "body":
                continue
            paragraphs.append(_Item(p.pid, doc.doc_id, p.text, (-len(p.text.split()), doc_rank[doc.doc_id], p.index)))
            for k, s in enumerate(p.sentences):
                sentences.append(_Item(s.sid, doc.doc_id, s.text, (-len(s.text.split()), doc_rank[doc.doc_id], p.index, k)))
    para_links = _shingle_links(paragraphs, settings)
    sent_links = _shingle_links(sentences, settings) + _same_fact_links(sentences, settings, ContentWords())
    return DedupResult(
        paragraph_groups=tuple(_groups(paragraphs, para_links, "paragraph", "P")),
        sentence_groups=tuple(_groups(sentences, sent_links, "sentence", "S")),
    )


def group_of(groups: Iterable[DupGroup]) -> dict[str, DupGroup]:
    """Map every member id to its group."""
    return {m.id: g for g in groups for m in g.members}
