"""The documents' candidate search cut into blocks made in two processes (`dedup._top_neighbour_candidates`,
`SameFactScorer.similar_document_arrays(elsewhere=...)`): the same pairs, and across runs the same result and
state, as when one process searches every block."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse import csr_matrix

import pipeline.dedup as dedup_module
from pipeline.dedup import (
    SameFactScorer, _pairs_of, _top_neighbour_arrays, _top_neighbour_candidates, dedup, dedup_across_runs,
)
from pipeline.dedup_state import previous, state_of
from pipeline.executors.local import LocalExecutor

from test_dedup_state import FINGERPRINT, SETTINGS, make_doc, state_bytes, texts  # noqa: F401 (fixture)


def _matrix(rng: np.random.Generator) -> csr_matrix:
    base = rng.integers(0, 3, size=(12, 9)).astype(float)  # copies of a few rows: many equal products
    return csr_matrix(np.vstack([base[rng.integers(0, 12, size=60)], np.eye(9)[:3]]))


@pytest.mark.parametrize("neighbours", [1, 3, 20])
def test_the_blocks_searched_apart_give_the_pairs_of_one_search(neighbours):
    m = _matrix(np.random.default_rng(3))
    blocks = -(-m.shape[0] // 7)
    want = _top_neighbour_arrays(m, neighbours, block=7)
    assert want[0].size  # (something found)
    for cut in range(blocks + 1):
        a1, b1, n = _top_neighbour_candidates(m, neighbours, block=7, blocks=range(0, cut))
        a2, b2, _ = _top_neighbour_candidates(m, neighbours, block=7, blocks=range(cut, blocks))
        got = _pairs_of(np.concatenate((a1, a2)), np.concatenate((b1, b2)), n)
        assert all(np.array_equal(x, y) for x, y in zip(got, want))


@pytest.mark.parametrize("size", [0, 1, 2, 5000])
def test_pairs_of_are_the_distinct_unordered_pairs_sorted(size):
    rng = np.random.default_rng(size)
    n = 97
    a, b = rng.integers(0, n, size).astype(np.int64), rng.integers(0, n, size).astype(np.int64)
    lo, hi = _pairs_of(a, b, n)
    want = sorted({(min(x, y), max(x, y)) for x, y in zip(a.tolist(), b.tolist())})
    assert list(zip(lo.tolist(), hi.tolist())) == want
    assert lo.dtype == hi.dtype == np.int64


def test_the_scorer_with_blocks_searched_elsewhere_finds_the_same_similar_documents(monkeypatch, texts):
    monkeypatch.setattr(dedup_module, "TOP_BLOCK", 3)
    docs = [make_doc(k, texts[k]) for k in sorted(texts)]
    sentences = [(s.text, d.doc_id) for d in docs for p in d.paragraphs if p.kind == "body" for s in p.sentences]
    scorer = SameFactScorer([t for t, _ in sentences], [d for _, d in sentences])
    blocks = -(-len(scorer.doc_ids) // 3)
    assert blocks >= 3
    want = scorer.similar_document_arrays(0.2)
    assert want[0].size
    for cut in (0, 1, blocks // 2, blocks - 1):
        theirs = range(cut, blocks)
        a, b, _ = _top_neighbour_candidates(scorer.doc_top(), dedup_module.DOC_NEIGHBOURS, block=3, blocks=theirs)
        got = scorer.similar_document_arrays(0.2, elsewhere=(theirs, lambda: (a, b)))
        assert all(np.array_equal(x, y) for x, y in zip(got, want))
    with pytest.raises(ValueError):  # only the last blocks are searched elsewhere
        scorer.similar_document_arrays(0.2, elsewhere=(range(0, 1), lambda: (a, b)))


def test_across_runs_the_background_worker_searches_the_last_blocks_for_the_same_result_and_state(
        monkeypatch, texts, tmp_path):
    monkeypatch.setattr(dedup_module, "TOP_BLOCK", 2)  # (the forked worker inherits it)
    searched = []  # the blocks this process searches (the forked worker's calls are not seen here)
    candidates = dedup_module._top_neighbour_candidates

    def counted(*args, **kwargs):
        searched.append(kwargs.get("blocks"))
        return candidates(*args, **kwargs)

    monkeypatch.setattr(dedup_module, "_top_neighbour_candidates", counted)
    first = {k: v for k, v in texts.items() if not k.endswith(("_005", "_013", "_002"))}
    docs1 = [make_doc(k, first[k]) for k in sorted(first)]
    _, memo1 = dedup_across_runs(docs1, SETTINGS)
    state1 = state_of(docs1, memo1, "key", FINGERPRINT)
    docs2 = [make_doc(k, texts[k]) for k in sorted(texts)]

    def run(background):
        prev, _, _ = previous(state1, docs2, FINGERPRINT, SETTINGS)
        result, memo = dedup_across_runs(docs2, SETTINGS, previous=prev, background=background)
        return result, state_of(docs2, memo, "key", FINGERPRINT)

    searched.clear()
    beside, beside_state = run(lambda shared: LocalExecutor(2).background(shared))
    blocks = -(-len(docs2) // 2)
    mine = blocks - int(blocks * dedup_module.BACKGROUND_TOP_SHARE)  # the others in the forked worker
    assert blocks >= 4 and 0 < mine < blocks and searched == [range(0, mine)]
    here, here_state = run(None)
    assert searched[1:] == [None]  # all here
    assert beside == here == dedup(docs2, SETTINGS)
    assert state_bytes(beside_state, tmp_path) == state_bytes(here_state, tmp_path)


def test_body_items_count_each_documents_language_as_its_sentences_do(texts):
    """`_body_items`' languages (counted paragraph by paragraph) are `_document_languages` of the sentences:
    the language of most sentences, ties to the first met; documents without a body sentence have none."""
    import dataclasses

    from pipeline.dedup import _body_items, _document_languages

    docs = [make_doc(k, texts[k]) for k in sorted(texts)][:6]
    langs = [["en", "fr", "en"], ["fr", "en"], ["de", "de", "fr"], ["it"], ["en", "fr"], []]

    def relabel(doc, codes):
        body = [p for p in doc.paragraphs if p.kind == "body"]
        paragraphs = [dataclasses.replace(p, lang=codes[body.index(p) % len(codes)]) if p in body and codes
                      else p for p in doc.paragraphs]
        if not codes:  # a document whose body paragraphs have no sentence
            paragraphs = [dataclasses.replace(p, sentences=()) if p in body else p for p in paragraphs]
        return dataclasses.replace(doc, paragraphs=tuple(paragraphs))

    docs = [relabel(d, c) for d, c in zip(docs, langs)]
    paragraphs, sentences, para_starts, sent_starts, languages = _body_items(docs)
    assert languages == _document_languages(sentences)
    assert list(languages) == list(_document_languages(sentences))
    assert docs[-1].doc_id not in languages and len(set(languages.values())) >= 3
    assert [it.text for it in sentences] == [s.text for d in docs for p in d.paragraphs if p.kind == "body"
                                             for s in p.sentences]
    assert para_starts[-1] == len(paragraphs) and sent_starts[-1] == len(sentences)


@pytest.mark.parametrize("signs,labelled", [(False, False), (True, False), (False, True), (True, True)])
def test_each_row_gets_its_best_neighbours_among_the_others(signs, labelled):
    """Against a dense product: each row's `neighbours` highest positive products with other rows (of another
    label, with labels), all of them where it has no more (values without ties, so the pick is unique)."""
    rng = np.random.default_rng(7)
    dense = rng.random((300, 40)) * (rng.random((300, 40)) < 0.2)
    if signs:
        dense[rng.random(dense.shape) < 0.3] *= -1
    labels = [str(x) for x in rng.integers(0, 3, 300)] if labelled else None
    m, k = csr_matrix(dense), 6
    a, b, n = _top_neighbour_candidates(m, k, labels, block=64)
    got = set(zip(a.tolist(), b.tolist()))
    products = dense @ dense.T
    want = set()
    for r in range(n):
        others = [c for c in range(n) if c != r and products[r, c] > 0 and (labels is None or labels[c] != labels[r])]
        want |= {(r, c) for c in sorted(others, key=lambda c: -products[r, c])[:k]}
    assert len(got) == a.size and got == want


@pytest.mark.parametrize("gone", [0, 1, 3, 5000])
def test_without_is_numpy_delete(gone):
    rng = np.random.default_rng(gone)
    values = rng.random(20000)
    positions = np.sort(rng.choice(values.size, gone, replace=False))
    assert np.array_equal(dedup_module._without(values, positions), np.delete(values, positions))
