"""Dedup on syndicated copies: big duplicate groups stay whole, conflicting facts stay apart, and the
document pairs compared grow with the documents, not with their square (timings: scripts/bench_dedup_scale.py)."""

from __future__ import annotations

from pipeline.config import DedupSettings, IngestSettings
import numpy as np

from pipeline import dedup as dedup_module
from pipeline.dedup import COPY_NEIGHBOURS, DOC_NEIGHBOURS, SameFactScorer, dedup, group_of, top_neighbours
from pipeline.ingest import LanguageIdentifier, ingest_text

LANGID = LanguageIdentifier(["fr"])
LEAD = ("Le constructeur automobile a annoncé mardi la fermeture de son usine de Douai, qui emploie "
        "{n} salariés, d'ici la fin de l'année prochaine.")
OTHER = ("Les syndicats ont appelé à une grève illimitée et demandent l'ouverture immédiate de négociations "
         "avec la direction du groupe.")


def make_doc(doc_id: str, *paragraphs: str):
    return ingest_text("\n\n".join(paragraphs) + "\n", doc_id=doc_id, path=f"corpus/{doc_id}.txt", sha256=doc_id,
                       encoding="utf-8", settings=IngestSettings(languages=["fr"]), langid=LANGID)


def test_a_syndicated_sentence_is_one_group_and_a_different_number_another():
    docs = [make_doc(f"a{k}", LEAD.format(n="1 200"), OTHER) for k in range(30)]
    docs += [make_doc(f"b{k}", LEAD.format(n="1 500").replace("mardi", "mardi soir"), OTHER) for k in range(30)]
    result = dedup(docs, DedupSettings(crosslingual="none"))
    groups = group_of(result.sentence_groups)
    a = {m.id for m in groups["a0:p1.s1"].members}
    b = {m.id for m in groups["b0:p1.s1"].members}
    assert a == {f"a{k}:p1.s1" for k in range(30)}
    assert b == {f"b{k}:p1.s1" for k in range(30)}  # near copies of the a's, but 1 500 is not 1 200
    assert {m.id for m in groups["a0:p2.s1"].members} == {f"{x}{k}:p2.s1" for x in "ab" for k in range(30)}
    relations = {m.id: m.relation for m in groups["a0:p2.s1"].members}
    assert set(relations.values()) == {"exact"}


def test_each_document_is_compared_with_a_bounded_number_of_others():
    docs = [make_doc(f"d{k}", LEAD.format(n=str(100 + k)), OTHER) for k in range(3 * DOC_NEIGHBOURS)]
    texts = [s.text for d in docs for p in d.paragraphs if p.kind == "body" for s in p.sentences]
    owners = [d.doc_id for d in docs for p in d.paragraphs if p.kind == "body" for s in p.sentences]
    pairs = SameFactScorer(texts, owners).similar_documents(0.2)
    n = len(docs)
    assert len(pairs) <= n * COPY_NEIGHBOURS < n * DOC_NEIGHBOURS < n * (n - 1) // 2  # copies: a few each
    assert {d for a, b, _ in pairs for d in (a, b)} == {d.doc_id for d in docs}  # nobody left out


def test_top_neighbours_keeps_the_most_similar_ones():
    vectors = [{"x": 1.0}, {"x": 0.9, "y": 0.1}, {"x": 0.2, "z": 0.9}, {"w": 1.0}]
    assert top_neighbours(vectors, 1, 10) == [(0, 1), (0, 2)]
    assert top_neighbours(vectors, 1, 10, labels=["x", "x", "y", "y"]) == [(0, 2), (1, 2)]


def _row_by_row_neighbours(m, neighbours, labels=None, block=1024):
    """`_top_neighbours` as it was written first (round 8): each row's products picked apart (the reference)."""
    mt = m.T.tocsc()
    codes = np.unique(np.asarray(labels or [""] * m.shape[0]), return_inverse=True)[1]
    firsts, seconds = [], []
    for start in range(0, m.shape[0], block):
        product = (m[start:start + block] @ mt).tocsr()
        rows = product.shape[0]
        row = np.repeat(np.arange(start, start + rows, dtype=np.int64), np.diff(product.indptr))
        cols, vals = product.indices.astype(np.int64), product.data
        keep = (cols != row) & (vals > 0)
        if labels is not None:
            keep &= codes[cols] != codes[row]
        row, cols, vals = row[keep], cols[keep], vals[keep]
        counts = np.bincount(row - start, minlength=rows)
        ends = np.cumsum(counts)
        take = np.ones(cols.size, dtype=bool)
        for r in np.flatnonzero(counts > neighbours).tolist():
            lo, hi = int(ends[r] - counts[r]), int(ends[r])
            picked = np.zeros(hi - lo, dtype=bool)
            picked[np.argpartition(-vals[lo:hi], neighbours - 1)[:neighbours]] = True
            take[lo:hi] = picked
        firsts.append(row[take])
        seconds.append(cols[take])
    a, b = np.concatenate(firsts), np.concatenate(seconds)
    n = max(1, m.shape[0])
    pairs = np.unique(np.minimum(a, b) * n + np.maximum(a, b))
    return list(zip((pairs // n).tolist(), (pairs % n).tolist()))


def test_top_neighbours_picks_among_ties_as_numpy_does_row_by_row():
    # many equal products (copies of one vector), rows with fewer candidates than neighbours, negative
    # entries (a product that is not positive is no neighbour), blocks that cut the rows apart
    from scipy.sparse import csr_matrix

    rng = np.random.default_rng(7)
    base = rng.integers(0, 3, size=(12, 9)).astype(float)
    dense = np.vstack([base[rng.integers(0, 12, size=60)], np.eye(9)[:3]])
    for m in (csr_matrix(dense), csr_matrix(dense - 0.5 * (dense == 2))):
        for neighbours in (1, 3, 20):
            for labels in (None, [str(k % 3) for k in range(m.shape[0])]):
                want = _row_by_row_neighbours(m, neighbours, labels, block=7)
                assert dedup_module._top_neighbours(m, neighbours, labels, block=7) == want


def test_copies_are_compared_with_their_nearest_copies_and_other_articles_with_all():
    # documents 0-5: copies of one article (cosine >= COPY_SIMILARITY); 6: an article of the story written
    # apart, similar to all of them
    a, b, x = [], [], []
    for i in range(6):
        for j in range(i + 1, 6):
            a.append(i), b.append(j), x.append(0.99 - 0.01 * (j - i) - 0.001 * i)
        a.append(i), b.append(6), x.append(0.3)
    a, b, x = np.array(a), np.array(b), np.array(x)
    keep = dedup_module._few_copies(a, b, x, np.arange(7))
    assert keep[x < 0.6].all()  # written apart: every pair compared
    copies = keep & (x >= 0.6)
    for d in range(6):  # each copy with its nearest ones: its neighbours in the chain here
        mine = copies & ((a == d) | (b == d))
        assert COPY_NEIGHBOURS <= mine.sum() <= 2 * COPY_NEIGHBOURS
    assert copies.sum() < 15  # not all 15 pairs of copies
    assert not (copies & (b - a > COPY_NEIGHBOURS)).any()  # never the farthest copies


def test_a_story_s_copies_group_as_when_every_copy_is_compared_with_every_other(tmp_path, monkeypatch):
    import sys

    from conftest import ROOT
    from pipeline.config import Settings
    from pipeline.ingest import ingest

    sys.path.insert(0, str(ROOT / "scripts"))
    from bench_scale import build_corpus
    from ray_compare import repository_bases

    build_corpus(tmp_path, 100, repository_bases()[:5], variants=20, seed=1)  # 5 stories, 20 reworded copies each
    documents = list(ingest(tmp_path, Settings().ingest).documents)
    compared: list[int] = []
    arrays = SameFactScorer.similar_document_arrays

    def counted(self, *args, **kwargs):
        out = arrays(self, *args, **kwargs)
        compared.append(out[0].size)
        return out

    monkeypatch.setattr(SameFactScorer, "similar_document_arrays", counted)
    groups = []
    for copies in (COPY_NEIGHBOURS, 1000):  # 1000: every copy with each of its DOC_NEIGHBOURS nearest copies
        monkeypatch.setattr(dedup_module, "COPY_NEIGHBOURS", copies)
        result = dedup(documents, Settings().dedup)
        groups.append(sorted(sorted(m.id for m in g.members) for g in result.sentence_groups))
    assert groups[0] == groups[1] and len(groups[0]) >= 5
    assert compared[0] <= COPY_NEIGHBOURS * len(documents) < compared[1]
