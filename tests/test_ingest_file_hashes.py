"""Corpus files not read again: a warm ingest looks an unchanged file's Document up by the SHA-256
remembered for its signature (path, size, mtime, ctime, inode), and reads a file whose signature
changed, one written just before the run, and one whose Document the store lacks."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

import pipeline.file_hashes as file_hashes
import pipeline.ingest as ingest_mod
from pipeline.cache import Cache, IngestCache, collector_paused
from pipeline.config import IngestSettings
from pipeline.executors.local import LocalExecutor
from pipeline.ingest import CORPUS_FILE_HASHES, ingest

from conftest import CORPUS

SETTINGS = IngestSettings(languages=["fr", "en"])
ARTICLES = [p.read_bytes() for p in sorted(CORPUS.glob("*.txt"))[:3]]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    for name, text in zip(("a.txt", "b.txt", "c.txt"), ARTICLES):
        (folder / name).write_bytes(text)
    return folder


@pytest.fixture
def reads(monkeypatch) -> list[Path]:
    """The files ingest reads, in order."""
    seen: list[Path] = []
    read_all = ingest_mod._read_all

    def counted(path, size, max_bytes):
        seen.append(Path(path))
        return read_all(path, size, max_bytes)

    monkeypatch.setattr(ingest_mod, "_read_all", counted)
    return seen


@pytest.fixture
def settled_now(monkeypatch) -> None:
    """Files count as settled at once (the tests' files are written just before the run)."""
    monkeypatch.setattr(file_hashes, "RACY_NS", 0)


def _run(corpus: Path, cache_path: Path, settings: dict | None = None, executor=None,
         ) -> tuple[ingest_mod.IngestResult, Cache]:
    cache = Cache(cache_path)
    with collector_paused():
        out = ingest(corpus, SETTINGS, store=IngestCache(cache, settings or {}), hashes=cache, executor=executor)
    return out, cache


def _plain(corpus: Path) -> ingest_mod.IngestResult:
    with collector_paused():
        return ingest(corpus, SETTINGS)


def test_a_warm_ingest_reads_no_unchanged_file_and_gives_the_same_documents(tmp_path, corpus, reads, settled_now):
    cold, _ = _run(corpus, tmp_path / "c.sqlite")
    assert len(reads) == 3
    reads.clear()
    warm, cache = _run(corpus, tmp_path / "c.sqlite")
    assert reads == []
    assert cache.stats[CORPUS_FILE_HASHES].hits == 3 and cache.stats["ingest"].hits == 3
    assert warm.documents == cold.documents == _plain(corpus).documents and not warm.skipped


def test_a_file_written_again_with_its_size_and_mtime_restored_is_read_again(tmp_path, corpus, reads, settled_now):
    _run(corpus, tmp_path / "c.sqlite")
    path = corpus / "b.txt"
    before = path.stat()
    edited = ARTICLES[1].replace(b"e", b"a", 3)
    assert len(edited) == before.st_size and edited != ARTICLES[1]
    path.write_bytes(edited)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # (the ctime moves: it cannot be set back)
    reads.clear()
    again, _ = _run(corpus, tmp_path / "c.sqlite")
    assert reads == [path]
    assert again.documents == _plain(corpus).documents
    assert again.documents[1].sha256 == hashlib.sha256(edited).hexdigest()


def test_files_written_just_before_the_run_are_read_again_next_run(tmp_path, corpus, reads):
    _run(corpus, tmp_path / "c.sqlite")
    reads.clear()
    again, cache = _run(corpus, tmp_path / "c.sqlite")
    assert len(reads) == 3  # (racy: modified within RACY_NS of their hashing, so not remembered)
    assert cache.stats[CORPUS_FILE_HASHES].hits == 0
    assert again.documents == _plain(corpus).documents


def test_a_remembered_file_whose_document_the_store_lacks_is_read_here_not_by_the_workers(tmp_path, corpus, reads,
                                                                                        settled_now):
    """Files are read where the run runs, also when only their analysis is missing: a worker (a forked
    process here, a Ray actor on another machine there) gets the bytes, never a path to read."""
    _run(corpus, tmp_path / "c.sqlite", {"one": 1})
    reads.clear()
    # other ingest settings: no stored Document; analysed on two forked workers (whose reads `reads` would not see)
    other, cache = _run(corpus, tmp_path / "c.sqlite", {"other": 2}, executor=LocalExecutor(2))
    assert cache.stats[CORPUS_FILE_HASHES].hits == 3 and cache.stats["ingest"].misses == 3
    assert sorted(reads) == sorted(corpus.glob("*.txt"))
    assert other.documents == _plain(corpus).documents


def test_a_file_whose_bytes_are_not_those_of_its_remembered_hash_is_skipped_with_why(tmp_path, corpus):
    path = corpus / "a.txt"
    cache = Cache(tmp_path / "c.sqlite")
    cache.put_many(CORPUS_FILE_HASHES, [(file_hashes.signature(os.path.abspath(path), path.stat()), "0" * 64)])
    out, cache = _run(corpus, tmp_path / "c.sqlite")
    assert [d.doc_id for d in out.documents] == ["b", "c"]
    (skip,) = out.skipped
    assert skip.path.endswith("a.txt") and "changed while the run was reading" in skip.reason
