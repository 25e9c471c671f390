"""A rerun on an unchanged corpus hard-links the files it would write again byte for byte (dedup.json, sources/index.json)
from the previous run folder instead: each run folder still holds its whole output on its own, the previous
one is never written to, and a file that differs in any way (bytes, permissions) is written afresh."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from pipeline.changes import reuse_previous
from pipeline.config import Settings
from pipeline.verify import verify_run

from test_runner_ops import STORM, corpus, fake_engine, run_in_process  # noqa: F401 (fixtures)


def _settings(private: bool = True) -> Settings:
    return Settings.model_validate({"run": {"workers": 1}, "output": {"private": private}})


def test_unchanged_rerun_links_dedup_json_and_each_run_stays_whole(corpus, tmp_path, fake_engine):  # noqa: F811
    out = tmp_path / "out"
    first = run_in_process(corpus, out, _settings())
    text = (first.run_dir / "dedup.json").read_bytes()
    second = run_in_process(corpus, out, _settings())
    a, b = first.run_dir / "dedup.json", second.run_dir / "dedup.json"
    assert os.stat(a).st_ino == os.stat(b).st_ino and os.stat(b).st_nlink == 2
    assert b.read_bytes() == text
    lines = "dedup-lines.npz"  # the index of its lines (for the next run to copy them) goes with it
    assert os.stat(first.run_dir / lines).st_ino == os.stat(second.run_dir / lines).st_ino
    sources = sorted((first.run_dir / "sources").glob("*.txt"))
    index = "sources/index.json"
    assert os.stat(first.run_dir / index).st_ino == os.stat(second.run_dir / index).st_ino
    shutil.rmtree(first.run_dir)  # pruning the older run leaves the newer one whole
    assert b.read_bytes() == text and os.stat(b).st_nlink == 1
    report = verify_run(second.run_dir, corpus)
    assert report.ok and report.sources_ok == len(sources), report.problems

    # a new article (new dedup inputs): dedup.json is made again and written as a new file, as a run with no
    # cache writes it
    (corpus / "storm.txt").write_text(STORM, encoding="utf-8")
    third = run_in_process(corpus, out, _settings())
    c = third.run_dir / "dedup.json"
    assert os.stat(c).st_ino != os.stat(b).st_ino and b.read_bytes() == text
    fresh = run_in_process(corpus, tmp_path / "fresh", Settings.model_validate(
        {"run": {"workers": 1}, "cache": {"enabled": False}}))
    assert c.read_bytes() == (fresh.run_dir / "dedup.json").read_bytes()
    assert os.stat(third.run_dir / index).st_ino != os.stat(second.run_dir / index).st_ino
    assert (third.run_dir / index).read_bytes() == (fresh.run_dir / index).read_bytes()


def test_a_file_with_other_permissions_or_bytes_is_not_linked(tmp_path):
    previous, run_dir = tmp_path / "runs" / "a", tmp_path / "runs" / "b"
    previous.mkdir(parents=True)
    run_dir.mkdir()
    (previous / "dedup.json").write_bytes(b'{"groups": []}\n')
    (run_dir / "index.md").write_text("# index\n", encoding="utf-8")
    import hashlib

    sha = hashlib.sha256(b'{"groups": []}\n').hexdigest()
    mode = stat.S_IMODE(os.stat(run_dir / "index.md").st_mode)
    os.chmod(previous / "dedup.json", mode ^ 0o004)  # e.g. the previous run was not output.private
    assert not reuse_previous(previous, run_dir, "dedup.json", sha, run_dir / "index.md")
    os.chmod(previous / "dedup.json", mode)
    assert not reuse_previous(previous, run_dir, "dedup.json", "0" * 64, run_dir / "index.md")
    assert not reuse_previous(previous, run_dir, "missing.json", sha, run_dir / "index.md")
    assert not reuse_previous(None, run_dir, "dedup.json", sha, run_dir / "index.md")
    assert not (run_dir / "dedup.json").exists()
    assert reuse_previous(previous, run_dir, "dedup.json", sha, run_dir / "index.md")
    assert (run_dir / "dedup.json").read_bytes() == b'{"groups": []}\n'


def test_a_model_missing_from_the_hub_cache_is_reported_as_huggingface_hub_finds_it(tmp_path, monkeypatch):
    """Start-up: a hub id with nothing in the cache is told missing without importing huggingface_hub, with the
    same answer as asking it (an invalid id still goes to it, and is told invalid)."""
    import re

    import pipeline.models as models

    cache = tmp_path / "hub"
    cache.mkdir()
    quick = models.resolve_model("Helsinki-NLP/opus-mt-fr-en", cache_dir=cache)
    monkeypatch.setattr(models, "_PLAIN_HUB_ID", re.compile(r"(?!)"))  # never matches: the library decides
    assert models.resolve_model("Helsinki-NLP/opus-mt-fr-en", cache_dir=cache) == quick
    assert not quick.usable and quick.source == "missing"
    monkeypatch.undo()
    assert "nor a valid hub model id" in models.resolve_model("a--b/c", cache_dir=cache).reason


def test_a_write_failing_on_the_corpus_files_thread_fails_the_run(corpus, tmp_path, fake_engine, monkeypatch):  # noqa: F811
    """dedup.json and the sources are written on a thread of their own (`RenderStep.corpus_files`) while the briefs
    and the review pages are made: a disk that fills up there fails the run as anywhere else (exit 6, the file
    named, nothing published), and a run with the thread writes what a run without it writes."""
    import errno

    import pipeline.flow

    out = tmp_path / "out"
    good = run_in_process(corpus, out, _settings())
    real = Path.open

    def full(self, *args, **kwargs):
        if self.name == "dedup.json" and args[:1] == ("wb",):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, *args, **kwargs)

    (corpus / "storm.txt").write_text(STORM, encoding="utf-8")  # (dedup.json is then made, not linked)
    monkeypatch.setattr(Path, "open", full)
    report = run_in_process(corpus, out, _settings())
    assert report.exit_code == 6, report.message  # runner.EXIT_WRITE
    assert "No space left on device" in report.message and "dedup.json" in report.message
    assert (out / "latest").resolve() == good.run_dir.resolve()
    monkeypatch.undo()

    threaded = run_in_process(corpus, out, _settings())
    here = pipeline.flow.RenderStep()
    other = tmp_path / "here"
    other.mkdir()
    shutil.copy(threaded.run_dir / "index.md", other / "index.md")
    from pipeline.corpus_index import CorpusIndex
    from pipeline.flow import DedupStep, IngestStep, NoHooks, corpus_steps, documents_key
    from pipeline.cache import NullCache

    settings = _settings()
    documents = IngestStep().run(corpus, settings, NullCache(), lambda done, total: None).documents
    dedup_result, _stories, _cached = corpus_steps(documents, settings, NullCache(), NoHooks())
    finish = here.corpus_files(other, documents, dedup_result, CorpusIndex.build(documents), None,
                               DedupStep().key(documents, settings), None, documents_key(settings))
    finish()
    for rel in ["dedup.json", "sources/index.json", *(f"sources/{d.doc_id}.txt" for d in documents)]:
        assert (other / rel).read_bytes() == (threaded.run_dir / rel).read_bytes(), rel
