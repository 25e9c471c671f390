"""The flow of steps: one composition for run, eval and tests; output independent of the pool size."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from pipeline.config import Settings
from pipeline.evaluate import summarize_document
from pipeline.flow import summarize_documents
from pipeline.runner import RunOptions, run

from conftest import apertium_missing
from test_stories_mixed import write_mixed_corpus


def _outputs(run_dir: Path) -> dict[str, str]:
    """Every brief and review file, with the run id (which differs between runs) blanked out."""
    files = {}
    for path in sorted(run_dir.rglob("*")):
        if path.is_file() and path.name != "manifest.json":
            data = path.read_bytes().replace(run_dir.name.encode(), b"<run>")  # stories-grouping.npz is binary
            files[str(path.relative_to(run_dir))] = hashlib.sha256(data).hexdigest()
    return files


@pytest.mark.skipif(apertium_missing() is not None, reason=apertium_missing() or "")
def test_one_and_two_workers_write_identical_briefs(tmp_path, monkeypatch):
    monkeypatch.setattr("pipeline.flow.TRANSLATE_CHUNK", 4)  # many chunks: the workers share the translation
    monkeypatch.setattr("pipeline.ingest.INGEST_SLICE", 2)  # and the files to analyse
    monkeypatch.setattr("pipeline.render.review.PAGES_PER_ITEM", 1)  # and the review pages to render
    corpus = write_mixed_corpus(tmp_path / "corpus")
    outputs = {}
    for workers in (1, 2):
        settings = Settings.model_validate({"run": {"workers": workers}, "translate": {"backend": "apertium"},
                                            "cache": {"enabled": False}})
        report = run(RunOptions(settings=settings, config_path=Path("test"), corpus=corpus,
                                out=tmp_path / f"out{workers}"))
        assert report.exit_code == 0, report.message
        assert report.manifest["executor"] == {"kind": "local", "workers": workers}
        assert report.manifest["counts"]["stories"] > 1  # several stories: the pool really splits the work
        outputs[workers] = _outputs(report.run_dir)
    assert outputs[1] and outputs[1] == outputs[2]


def test_eval_summarizes_through_the_flow(sample):
    settings = Settings()
    doc = sample.documents[0]
    through_flow = summarize_documents([doc], settings)[0].summary
    assert summarize_document(doc, settings) == through_flow
    assert through_flow.sentences


def test_new_articles_cost_dedup_only_their_own_per_document_work(sample, tmp_path, monkeypatch):
    """Dedup's per-document work is cached by document content: a run with one more article computes
    only that article's, on the pool, and finds the same groups as a run from scratch."""
    from pipeline import dedup as dedup_module
    from pipeline.cache import Cache
    from pipeline.executors.local import LocalExecutor
    from pipeline.flow import NoHooks, corpus_steps

    settings = Settings()
    documents = list(sample.documents)
    assert len(documents) > 3
    cache = Cache(tmp_path / "cache.sqlite")
    corpus_steps(documents[:-1], settings, cache, NoHooks(), LocalExecutor(2))

    computed: list[str] = []
    real = dedup_module.document_features

    def counted(doc, words=None):
        computed.append(doc.doc_id)
        return real(doc, words)

    monkeypatch.setattr(dedup_module, "document_features", counted)
    again, _, cached = corpus_steps(documents, settings, cache, NoHooks(), LocalExecutor(1))
    assert not cached and computed == [documents[-1].doc_id]
    assert again == dedup_module.dedup(documents, settings.dedup)
