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
            text = path.read_text(encoding="utf-8").replace(run_dir.name, "<run>")
            files[str(path.relative_to(run_dir))] = hashlib.sha256(text.encode()).hexdigest()
    return files


@pytest.mark.skipif(apertium_missing() is not None, reason=apertium_missing() or "")
def test_one_and_two_workers_write_identical_briefs(tmp_path, monkeypatch):
    monkeypatch.setattr("pipeline.flow.TRANSLATE_CHUNK", 4)  # many chunks: the workers share the translation
    monkeypatch.setattr("pipeline.ingest.INGEST_SLICE", 2)  # and the files to analyse
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
