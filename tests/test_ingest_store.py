"""Ingest's cache and file reading: Documents stored as marshal bytes read back as they were made, a
value of another format or damaged bytes are misses (never misread), and the fast paths for reading,
showing and listing files give what the plain ones give."""

from __future__ import annotations

import marshal
from pathlib import Path

import pytest

import pipeline.ingest as ingest_mod
from pipeline.cache import Cache, IngestCache, NullCache, collector_paused
from pipeline.config import IngestSettings
from pipeline.ingest import STORED_FORMAT, InputError, discover, document_from_stored, ingest, stored_document

from conftest import CORPUS

SETTINGS = IngestSettings(languages=["fr", "en"])
ARTICLE = sorted(CORPUS.glob("*.txt"))[0].read_bytes()


def _documents(corpus: Path, store=None):
    with collector_paused():
        return ingest(corpus, SETTINGS, store=store)


def test_every_document_of_the_sample_corpus_reads_back_from_marshal_as_it_was_made():
    made = _documents(CORPUS).documents
    assert len(made) > 3
    for doc in made:
        back = document_from_stored(marshal.loads(marshal.dumps(stored_document(doc))))
        assert back == doc and repr(back) == repr(doc) and back.source_text == doc.source_text
        assert back.layout == doc.layout and back.dropped == doc.dropped and back.notes == doc.notes
        assert all(s.in_text is p.text for p in back.paragraphs for s in p.sentences)


def test_a_warm_ingest_from_the_cache_gives_the_documents_a_cold_one_made(tmp_path):
    cold = _documents(CORPUS, IngestCache(Cache(tmp_path / "c.sqlite"), {"a": 1}))
    cache = Cache(tmp_path / "c.sqlite")
    warm = _documents(CORPUS, IngestCache(cache, {"a": 1}))
    assert cache.stats["ingest"].hits == len(cold.documents) and cache.stats["ingest"].misses == 0
    assert warm.documents == cold.documents and warm.skipped == cold.skipped
    assert [d.source_text for d in warm.documents] == [d.source_text for d in cold.documents]
    # what was stored is marshal bytes of the current format
    rows = cache._db.execute("SELECT value FROM entries WHERE kind = 'ingest'").fetchall()
    assert rows and all(isinstance(v, bytes) and marshal.loads(v)[0] == STORED_FORMAT for (v,) in rows)


def test_a_changed_added_and_removed_file_are_read_again_or_dropped(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("a.txt", "b.txt", "c.txt"):
        (corpus / name).write_bytes(ARTICLE.replace(b"\n\n", b"\n\n" + name.encode() + b" ", 1))
    first = _documents(corpus, IngestCache(Cache(tmp_path / "c.sqlite"), {}))
    (corpus / "b.txt").write_bytes((corpus / "b.txt").read_bytes() + b"\nUne phrase de plus, ajout\xc3\xa9e au texte ici.\n")
    (corpus / "c.txt").unlink()
    (corpus / "d.txt").write_bytes((corpus / "a.txt").read_bytes())
    cache = Cache(tmp_path / "c.sqlite")
    second = _documents(corpus, IngestCache(cache, {}))
    assert cache.stats["ingest"].hits == 1 and cache.stats["ingest"].misses == 2  # a; b changed, d new
    assert second.documents == _documents(corpus).documents  # what no cache gives
    assert [d.doc_id for d in second.documents] == ["a", "b", "d"]
    assert second.documents[0] == first.documents[0] and second.documents[1] != first.documents[1]


@pytest.mark.parametrize("value", [
    b"not marshal at all",  # damaged bytes
    marshal.dumps((STORED_FORMAT - 1, (), [], (), [])),  # an older format
    marshal.dumps({"format": STORED_FORMAT}),  # another shape
    '{"format": 2, "document": []}',  # the JSON text the cache held before: not bytes
])
def test_a_stored_value_of_another_format_or_damaged_is_a_miss_and_is_made_again(tmp_path, value):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_bytes(ARTICLE)
    expected = _documents(corpus).documents
    store = IngestCache(Cache(tmp_path / "c.sqlite"), {})
    _documents(corpus, store)
    store.cache._db.execute("UPDATE entries SET value = ? WHERE kind = 'ingest'", (value,))
    cache = Cache(tmp_path / "c.sqlite")
    again = _documents(corpus, IngestCache(cache, {}))
    assert again.documents == expected
    assert cache.stats["ingest"].hits == 0 and cache.stats["ingest"].misses == 1
    (v,) = cache._db.execute("SELECT value FROM entries WHERE kind = 'ingest'").fetchone()
    assert document_from_stored(marshal.loads(v)) == expected[0]  # stored again, readable


def test_the_python_version_is_part_of_the_key(monkeypatch, tmp_path):
    one = IngestCache(NullCache(), {})._key("s", "d", "p")
    import pipeline.cache as cache_mod

    monkeypatch.setattr(cache_mod, "_MARSHAL", ("marshal", marshal.version, "cpython-99"))
    assert IngestCache(NullCache(), {})._key("s", "d", "p") != one


def test_without_a_cache_every_document_is_made(tmp_path):
    cache = NullCache()
    out = _documents(CORPUS, IngestCache(cache, {}))
    assert out.documents == _documents(CORPUS).documents and cache.stats["ingest"].hits == 0


@pytest.mark.parametrize("content, size", [
    (b"", 0), (b"abc", 3), (b"x" * 200_000, 200_000),
    (b"y" * 5000, 10),  # it grew after stat: read to its end
    (b"z" * 5000, 9000),  # it shrank
])
def test_read_all_reads_a_file_to_its_end(tmp_path, content, size):
    path = tmp_path / "f.txt"
    path.write_bytes(content)
    assert ingest_mod._read_all(path, size, 1 << 20) == content


def test_read_all_stops_just_over_the_limit_and_read_raw_refuses_the_file(tmp_path):
    path = tmp_path / "f.txt"
    path.write_bytes(b"x" * 300_000)
    got = ingest_mod._read_all(path, 10, 100_000)  # stat said 10 bytes, it has grown past the limit
    assert 100_000 < len(got) <= 300_000 and got == b"x" * len(got)
    with pytest.raises(InputError, match="over the 0.1 MB limit"):
        ingest_mod._read_raw(path, 100_000)


@pytest.mark.parametrize("corpus", ["corpus", "./corpus", "corpus/", "ABS", ".", "sub/../corpus"])
def test_the_shown_path_is_the_one_relative_to_gives(tmp_path, monkeypatch, corpus):
    root = tmp_path / "corpus"
    (root / "deep" / "er").mkdir(parents=True)
    for rel in ("a.txt", "deep/b.txt", "deep/er/c d.txt"):
        (root / rel).write_text("Un texte.\n", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(root if corpus == "." else tmp_path)
    corpus_dir = root if corpus == "ABS" else Path(corpus)
    files, _ = discover(corpus_dir, [".txt"])
    assert len(files) == 3
    shown = ingest_mod._displayed(corpus_dir, ingest_mod.corpus_name(corpus_dir))
    for path in files:
        assert shown(path) == ingest_mod._display(corpus_dir, path)


def test_discover_finds_symlinks_from_the_folder_listing_as_lstat_would(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Un texte.\n", encoding="utf-8")
    (tmp_path / "outside.txt").write_text("Dehors.\n", encoding="utf-8")
    (corpus / "in.txt").symlink_to(corpus / "a.txt")
    (corpus / "out.txt").symlink_to(tmp_path / "outside.txt")
    (corpus / "broken.txt").symlink_to(tmp_path / "missing.txt")
    files, skipped = discover(corpus, [".txt"])
    assert [p.name for p in files] == ["a.txt", "in.txt"]
    assert sorted((s.path, s.reason.split(" ")[0]) for s in skipped) == [
        ("corpus/broken.txt", "broken"), ("corpus/out.txt", "symlink")]
    followed, _ = discover(corpus, [".txt"], follow_outside=True)
    assert [p.name for p in followed] == ["a.txt", "in.txt", "out.txt"]
