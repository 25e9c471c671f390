"""Grouping (`dedup._clusters`) against a link-by-link reference (the objects-per-link version it replaced):
the same groups, canonical members, relations and scores, on random links with conflicting facts, exact twins,
pairs linked twice and links between two languages checked against the groups' embeddings."""

from __future__ import annotations

import random
from collections import defaultdict

import numpy as np
import pytest

from pipeline import dedup
from pipeline.dedup import RELATIONS, _STRENGTH, GROUP_CORE, Links, _core, _Item, _Link, _UnionFind
from pipeline.textsim import Dates, FactSignature, signature_conflicts


def reference_clusters(items, links, signature=None, vectors=None, across_threshold=0.0):
    code: dict[str, int] = {}
    lang = np.fromiter((code.setdefault(it.lang, len(code)) for it in items), dtype=np.int64, count=len(items))
    order = np.lexsort((links.b, links.a, -links.score, links.rel, lang[links.a] != lang[links.b]))
    links = links.select(order)
    links = [_Link(a, b, RELATIONS[r], x) for a, b, r, x in
             zip(links.a.tolist(), links.b.tolist(), links.rel.tolist(), links.score.tolist())]
    uf = _UnionFind(len(items))
    core = None
    sigs: dict = {}

    def agree(x, y):
        return x == y or not signature_conflicts(x, y)

    kept = []
    for n, link in enumerate(links):
        ra, rb = uf.find(link.a), uf.find(link.b)
        if ra == rb:
            kept.append(link)
            continue
        if signature is not None:
            sa, sb = sigs.get(ra) or {signature(ra)}, sigs.get(rb) or {signature(rb)}
            if link.relation != "exact" and not all(agree(x, y) for x in sa for y in sb):
                continue
        if vectors is not None and across_threshold > 0 and items[link.a].lang != items[link.b].lang:
            if core is None:
                touched = {uf.find(e) for l in links[n:] for e in (l.a, l.b)}
                members = defaultdict(list)
                for i in range(len(items)):
                    if uf.find(i) in touched:
                        members[uf.find(i)].append(i)
                core = {r: _core(items, ms) for r, ms in members.items()}
            if float((vectors.matrix(core[ra]) @ vectors.matrix(core[rb]).T).min()) < across_threshold:
                continue
        uf.union(ra, rb)
        root = uf.find(ra)
        if signature is not None:
            sigs.pop(ra, None)
            sigs.pop(rb, None)
            sigs[root] = sa | sb
        if core is not None:
            core[root] = _core(items, core.pop(ra) + core.pop(rb))
        kept.append(link)
    best: dict = {}
    for link in kept:
        for end in (link.a, link.b):
            cur = best.get(end)
            if cur is None or (_STRENGTH[link.relation], -link.score) < (_STRENGTH[cur.relation], -cur.score):
                best[end] = link
    direct = {(min(l.a, l.b), max(l.a, l.b)): l for l in kept}
    twin = {l.b: l.a for l in kept if l.relation == "exact" and l.score == 1.0 and l.a < l.b}
    clusters = defaultdict(list)
    for i in sorted({e for l in kept for e in (l.a, l.b)}):
        clusters[uf.find(i)].append(i)
    groups = []
    for members in clusters.values():
        if len(members) < 2:
            continue
        canonical = min(members, key=lambda i: items[i].rank)
        out = [(canonical, "exact", 1.0)]
        for m in members:
            if m == canonical:
                continue
            a, b = twin.get(m, m), twin.get(canonical, canonical)
            if a == b:
                relation, score = "exact", 1.0
            else:
                link = direct.get((min(a, b), max(a, b))) or best.get(a) or best[m]
                relation, score = link.relation, link.score
            out.append((m, relation, round(score, 4)))
        groups.append(out)
    return groups


class Vectors:
    """Fixed random unit vectors per text (`SentenceVectors`' interface)."""

    def __init__(self, texts, rng):
        self.texts = texts
        base = rng.normal(size=(4, 8))
        self.by_text = {t: v / np.linalg.norm(v) for t, v in
                        ((t, base[hash(t) % 4] + 0.3 * rng.normal(size=8)) for t in sorted(set(texts)))}

    def embed(self, indices):
        list(indices)

    def matrix(self, indices):
        return np.stack([self.by_text[self.texts[i]] for i in indices])


@pytest.mark.parametrize("seed", range(12))
def test_clusters_are_the_reference_groups(seed):
    rng = random.Random(seed)
    n = rng.choice([2, 30, 120])
    texts = [" ".join(rng.choice("abcdefgh") for _ in range(rng.randint(1, 6))) for _ in range(n)]
    items = [_Item(f"d{k % 9}:p1:s{k}", f"d{k % 9}", texts[k], ((f"2024-0{k % 3 + 1}", k % 9), k // 9, 0),
                   rng.choice(["fr", "fr", "fr", "en"])) for k in range(n)]
    none = frozenset()
    sigs = [FactSignature(frozenset({str(rng.randint(0, 3))}) if rng.random() < 0.4 else none,
                          Dates(none, none, none, none), none) for _ in range(n)]
    made = []
    for _ in range(rng.randint(0, 4 * n)):
        a, b = rng.sample(range(n), 2)
        relation = rng.choice(RELATIONS)
        score = 1.0 if relation == "exact" and rng.random() < 0.7 else round(rng.choice([0.7, 0.8, 0.9, rng.random()]), 4)
        made.append(_Link(min(a, b), max(a, b), relation, score))
        if rng.random() < 0.1:  # the same pair linked again, another way
            made.append(_Link(min(a, b), max(a, b), rng.choice(RELATIONS), 0.75))
    links = Links.of(made)
    vectors = Vectors([it.text for it in items], np.random.default_rng(seed))
    for signature, vecs, threshold in ((None, None, 0.0), (sigs.__getitem__, None, 0.0),
                                       (sigs.__getitem__, vectors, 0.5), (None, vectors, 0.9)):
        assert dedup._clusters(items, links, signature, vecs, threshold) == \
            reference_clusters(items, links, signature, vecs, threshold)
    assert GROUP_CORE > 1
