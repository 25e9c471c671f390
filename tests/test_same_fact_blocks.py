"""Dedup's same-fact comparisons in blocks of document pairs (`dedup.compare_similar`): the blocks run on the
local pool's workers give the links of the comparisons done here, in the same order, whatever the pool size.
(On a Ray cluster: tests/test_ray_executor.py.)"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from conftest import ROOT
from pipeline import dedup, dedup_features
from pipeline.config import Settings
from pipeline.executors.local import LocalExecutor
from pipeline.ingest import ingest

sys.path.insert(0, str(ROOT / "scripts"))
from bench_scale import build_corpus  # noqa: E402
from ray_compare import repository_bases  # noqa: E402


def syndicated_documents(folder: Path) -> list:
    """160 articles: 8 wire stories of the repository's sentences, 20 republished variants each (sentences
    dropped, swapped, reworded: same facts in other words)."""
    build_corpus(folder, 160, repository_bases()[:8], variants=20, seed=1)
    return list(ingest(folder, Settings().ingest).documents)


def same_fact_in_blocks(documents: list, map_blocks, monkeypatch: pytest.MonkeyPatch) -> tuple[dict, list, int]:
    """Dedup of the documents with its same-fact comparisons cut into small blocks (several per story) run
    by `map_blocks` (None: here): its result as JSON, the same-fact links in their order, and how many blocks
    `map_blocks` got."""
    monkeypatch.setattr(dedup, "SAME_FACT_BLOCK", 150)
    monkeypatch.setattr(dedup, "SAME_FACT_IN_PROCESS", 0)
    sent = [0]
    links: list = []
    compare = dedup.compare_similar

    def counted(fn, shared, blocks):
        sent[0] += len(blocks)
        return map_blocks(fn, shared, blocks)

    def kept(*args, **kwargs):
        found, undecided = compare(*args, **kwargs)
        links.extend(found)
        return found, undecided

    monkeypatch.setattr(dedup, "compare_similar", kept)
    result, _ = dedup.dedup_across_runs(documents, Settings().dedup,
                                        same_fact_blocks=counted if map_blocks is not None else None)
    monkeypatch.setattr(dedup, "compare_similar", compare)
    return dedup.result_to_json(result), links, sent[0]


@pytest.fixture(scope="module")
def documents(tmp_path_factory) -> list:
    return syndicated_documents(tmp_path_factory.mktemp("syndicated"))


def test_same_fact_blocks_on_the_pool_give_the_links_found_here(documents, monkeypatch):
    """1 and 2 workers (the pool's workers: each block pickled to one) and the comparisons here: the same
    links in the same order, the same groups; and the links are real same-fact links between reworded copies."""
    here, links, _ = same_fact_in_blocks(documents, None, monkeypatch)
    assert len(links) > 20 and all(l.relation == "same_fact" for l in links)
    for workers in (1, 2):
        executor = LocalExecutor(workers)
        with executor.run_scope():
            result, found, blocks = same_fact_in_blocks(documents, executor.map_blocks, monkeypatch)
        assert blocks > 8  # several blocks per story: documents of one story in several blocks
        assert found == links
        assert result == here


def test_block_cosines_are_the_scorers(documents):
    """A block's cosines (`_cosines` on the block's own term numbering) are the scorer's for the whole corpus,
    bit for bit: terms are summed in the same order whatever else a block holds."""
    import numpy as np

    from pipeline.textsim import ContentWords

    docs = documents[:6]
    texts, owners = [], []
    for d in docs:
        for p in d.paragraphs:
            if p.kind == "body":
                for s in p.sentences:
                    texts.append(s.text)
                    owners.append(d.doc_id)
    scorer = dedup.SameFactScorer(texts, owners, ContentWords())
    a, b = docs[1].doc_id, docs[4].doc_id
    rows = [*scorer.sentences_of[a], *scorer.sentences_of[b]]
    (terms, counts, offsets), weight = dedup._term_arrays([scorer.terms[k] for k in rows])
    n_a = len(scorer.sentences_of[a])
    block = dedup._cosines(terms, counts, np.diff(offsets), n_a, weight)
    assert block.shape == (n_a, len(rows) - n_a) and block.max() > 0.5
    assert np.array_equal(block, scorer.pair_cosines(a, b))


def test_blocks_read_from_the_corpus_arrays_are_those_read_from_the_features(documents):
    """The blocks made from the corpus's arrays (`_SentenceView`: terms gathered for all rows at once, signatures
    in their stored form) carry each sentence's own terms and signature, and compare to the same links as blocks
    made from the sentences' features one by one."""
    import numpy as np

    from pipeline.textsim import ContentWords

    words = ContentWords()
    docs = documents[:40]
    features = [dedup_features.document_features(d, words) for d in docs]
    para_starts, sent_starts = [0], [0]
    texts, owners = [], []
    for d in docs:
        body = [p for p in d.paragraphs if p.kind == "body"]
        para_starts.append(para_starts[-1] + len(body))
        sent_starts.append(sent_starts[-1] + sum(len(p.sentences) for p in body))
        for p in body:
            texts += [s.text for s in p.sentences]
            owners += [d.doc_id] * len(p.sentences)
    corpus = dedup._corpus_texts(docs, features, None, para_starts, sent_starts)
    view = dedup._SentenceView(corpus.terms, corpus.sentence_signatures)
    each = [s for f in features for s in f.sentences]
    assert view.terms_of_rows([]) == [] and view.stored_signatures([]) == []
    rows = [5, 0, 17, 5, len(each) - 1]
    assert view.terms_of_rows(rows) == [each[k].terms for k in rows]
    assert [dedup_features._signature_from_json(g) for g in view.stored_signatures(rows)] == [
        each[k].signature for k in rows]
    scorers = [dedup.SameFactScorer(texts, owners, words, None, f, corpus.stems) for f in (view, each)]
    pairs = scorers[0].similar_document_arrays(0.2)
    assert pairs[0].size > 20
    keys = corpus.sentence_keys
    digests, eligible = keys.digest.tolist(), (keys.words >= 5).tolist()
    made = [dedup._same_fact_blocks(pairs, np.arange(pairs[0].size), s, digests, eligible) for s in scorers]
    assert len(made[0]) == len(made[1]) > 0
    for mine, theirs in zip(*made):
        assert mine.terms == theirs.terms and mine.texts == theirs.texts
        assert [dedup_features._signature_from_json(g) for g in mine.signatures] == theirs.signatures
        shared = (Settings().dedup, 0.3, False)
        found = dedup.compare_block(shared, mine)
        assert found == dedup.compare_block(shared, theirs) and found
