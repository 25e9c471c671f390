"""Cached Documents and dedup results as rows (`pipeline.cache.pack` / `unpack`) read back exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.cache import Cache, IngestCache, encode, pack, unpack
from pipeline.dedup import dedup
from pipeline.model import DedupResult, Document


def test_documents_and_dedup_result_round_trip(sample, settings) -> None:
    for doc in sample.documents:
        back = unpack(Document, json.loads(json.dumps(pack(doc))))
        assert back == doc and encode(back) == encode(doc)  # tuples stay tuples, None stays None
    result = dedup(sample.documents, settings.dedup)
    assert result.sentence_groups
    assert unpack(DedupResult, json.loads(json.dumps(pack(result)))) == result


def test_a_row_of_another_shape_is_refused(sample) -> None:
    row = pack(sample.documents[0])
    with pytest.raises(TypeError):
        unpack(Document, row[:-1])  # a field fewer: an entry of an older schema
    with pytest.raises(TypeError):
        unpack(Document, encode(sample.documents[0]))  # the field-name form


def test_ingest_cache_reads_back_what_it_stored(sample, settings, tmp_path: Path) -> None:
    store = IngestCache(Cache(tmp_path / "cache.sqlite"), {"settings": "test"})
    keys = [(d.sha256, d.doc_id, d.path) for d in sample.documents]
    store.save_many(list(zip(keys, sample.documents)))
    assert store.load_many(keys + [("other", "x", "corpus/x.txt")]) == [*sample.documents, None]
