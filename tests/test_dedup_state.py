"""Dedup across runs (`pipeline.dedup_state`): redoing only the new documents' part gives what a full
dedup of the same corpus gives, groups and the state kept for the next run alike."""

from __future__ import annotations

import hashlib
import os
import random
import re

import numpy as np
import pytest

from pipeline.config import DedupSettings, IngestSettings
from pipeline.dedup import dedup, dedup_across_runs, result_from_json, result_to_json
from pipeline.dedup_state import load_state, previous, save_state, state_of
from pipeline.executors.local import LocalExecutor
from pipeline.ingest import LanguageIdentifier, ingest_text

from conftest import CORPUS

LANGID = LanguageIdentifier(["fr", "en"])
SETTINGS = DedupSettings(incremental_share=1.0)
FINGERPRINT = "test"


def make_doc(doc_id: str, text: str):
    return ingest_text(text, doc_id=doc_id, path=f"corpus/{doc_id}.txt",
                       sha256=hashlib.sha256(text.encode()).hexdigest(), encoding="utf-8",
                       settings=IngestSettings(), langid=LANGID)


def variant(text: str, rng: random.Random) -> str:
    """A republished copy: a sentence dropped, two swapped, a word or a number changed."""
    paragraphs = []
    for p in text.split("\n\n"):
        sentences = re.split(r"(?<=[.!?]) ", p)
        r = rng.random()
        if len(sentences) > 2 and r < 0.25:
            del sentences[rng.randrange(len(sentences))]
        elif len(sentences) > 1 and r < 0.5:
            k = rng.randrange(len(sentences) - 1)
            sentences[k], sentences[k + 1] = sentences[k + 1], sentences[k]
        elif r < 0.7:
            k = rng.randrange(len(sentences))
            sentences[k] = re.sub(r"\d+", lambda m: str(int(m.group()) + 1), sentences[k], count=1) \
                if re.search(r"\d", sentences[k]) else sentences[k].replace(" le ", " ce ", 1)
        paragraphs.append(" ".join(sentences))
    return "\n\n".join(paragraphs)


@pytest.fixture(scope="module")
def texts() -> dict[str, str]:
    rng = random.Random(7)
    bases = sorted(CORPUS.glob("*.txt"))
    out = {}
    for b, path in enumerate(bases):
        text = path.read_text(encoding="utf-8")
        out[f"{b}_000"] = text
        for v in range(1, 22 if b == 0 else 4):  # more copies of one story than a MinHash bucket window
            out[f"{b}_{v:03d}"] = variant(text, rng)
    return out


def run(docs, before=None, background=None):
    prev = None
    if before is not None:
        prev, change, why = previous(before, docs, FINGERPRINT, SETTINGS)
        assert prev is not None, why
    result, memo = dedup_across_runs(docs, SETTINGS, previous=prev, background=background)
    return result, state_of(docs, memo, "key", FINGERPRINT)


def state_bytes(state, tmp_path):
    path = tmp_path / "state.npz"
    save_state(path, state)
    return path.read_bytes()


def test_new_edited_and_gone_documents_give_the_full_result(texts, tmp_path):
    rng = random.Random(3)
    first = {k: v for k, v in texts.items() if not k.endswith(("_005", "_013", "_002"))}
    docs1 = [make_doc(k, first[k]) for k in sorted(first)]
    result1, state1 = run(docs1)
    assert result1 == dedup(docs1, SETTINGS)
    path = tmp_path / "s1.npz"
    save_state(path, state1)
    state1 = load_state(path)

    second = dict(texts)  # the held-back copies arrive (one inside the big story's bucket)
    del second["1_001"], second["3_000"]  # gone
    second["0_007"] = variant(second["0_007"], rng)  # edited
    second["2_001"] = second["2_001"] + "\n\nUn paragraphe ajouté à la fin de cet article, sans rapport avec lui."
    second["4_009"] = variant(texts["4_000"], rng)  # new, at the end
    docs2 = [make_doc(k, second[k]) for k in sorted(second)]
    result2, state2 = run(docs2, state1)
    full2, full_state2 = run(docs2)
    assert full2 == dedup(docs2, SETTINGS)
    assert result2 == full2
    assert result2.paragraph_groups and result2.sentence_groups
    assert any(len(g.members) > 16 for g in result2.paragraph_groups)
    # the state for the next run too: the same bytes as a full run's, so runs chain exactly
    assert state_bytes(state2, tmp_path) == state_bytes(full_state2, tmp_path)

    prev, change, _ = previous(state2, docs2, FINGERPRINT, SETTINGS)
    assert (change.new, change.gone, change.kept) == (0, 0, len(docs2))
    assert run(docs2, state2)[0] == full2


def test_the_shingle_links_on_a_forked_worker_give_the_same_result_and_state(texts, tmp_path):
    """Across runs, both levels' shingle links and the paragraphs' groups are made on the local executor's
    background worker (a forked process) while this one finds the same-fact links: the same result and the
    same state bytes as when all is made here."""
    first = {k: v for k, v in texts.items() if not k.endswith(("_005", "_013", "_002"))}
    docs1 = [make_doc(k, first[k]) for k in sorted(first)]
    _, state1 = run(docs1)
    docs2 = [make_doc(k, texts[k]) for k in sorted(texts)]
    opened = []

    def background(shared):
        opened.append(os.getpid())
        return LocalExecutor(2).background(shared)

    beside, beside_state = run(docs2, state1, background)
    here, here_state = run(docs2, state1)
    assert opened == [os.getpid()]  # the worker was forked (once) and its links used
    assert beside == here == dedup(docs2, SETTINGS)
    assert beside.paragraph_groups and beside.sentence_groups
    assert state_bytes(beside_state, tmp_path) == state_bytes(here_state, tmp_path)


def test_the_forked_worker_leaves_no_file_behind_and_uses_its_pipe_when_it_cannot_write_one(texts, tmp_path,
                                                                                            monkeypatch):
    """The worker's links come back in a file of a temporary folder, removed once they are read; where that
    file cannot be written they come back through the worker's pipe: the same result and state either way."""
    import contextlib
    import tempfile

    import pipeline.dedup as dedup_module

    first = {k: v for k, v in texts.items() if not k.endswith(("_005", "_013"))}
    _, state1 = run([make_doc(k, first[k]) for k in sorted(first)])
    docs2 = [make_doc(k, texts[k]) for k in sorted(texts)]
    here, here_state = run(docs2, state1)
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    beside, beside_state = run(docs2, state1, lambda shared: LocalExecutor(2).background(shared))
    assert beside == here and state_bytes(beside_state, tmp_path) == state_bytes(here_state, tmp_path)
    assert list(spool.iterdir()) == []

    missing = tmp_path / "missing"  # (never made: the worker cannot write there)
    monkeypatch.setattr(dedup_module.tempfile, "TemporaryDirectory",
                        lambda **_: contextlib.nullcontext(str(missing)))
    piped, piped_state = run(docs2, state1, lambda shared: LocalExecutor(2).background(shared))
    assert piped == here and state_bytes(piped_state, tmp_path) == state_bytes(here_state, tmp_path)
    assert not missing.exists()


def test_when_the_previous_state_cannot_be_used(texts):
    docs = [make_doc(k, texts[k]) for k in sorted(texts)]
    _, state = run(docs[:-3])
    assert previous(state, docs, "other", SETTINGS)[2] == "the dedup settings or code changed since the previous run"
    prev, change, why = previous(state, docs, FINGERPRINT, DedupSettings(incremental_share=0.05))
    assert prev is None and change.new == 3 and "more than dedup.incremental_share (0.05)" in why
    prev, _, why = previous(state, docs[:-3][::-1], FINGERPRINT, SETTINGS)
    assert prev is None and why == "the documents are in another order than in the previous run"


def test_result_json_round_trip(texts):
    docs = [make_doc(k, texts[k]) for k in sorted(texts)[:12]]
    result = dedup(docs, SETTINGS)
    assert result.sentence_groups and result_from_json(result_to_json(result)) == result
    with pytest.raises(KeyError):  # an entry of the former shape: a cache miss
        result_from_json({"paragraph_groups": [], "sentence_groups": []})


def test_a_state_that_does_not_read_back_is_not_used(texts, tmp_path):
    from pipeline.dedup_state import STATE_FILE, previous_state

    docs = [make_doc(k, texts[k]) for k in sorted(texts)[:8]]
    _, state = run(docs)
    (tmp_path / STATE_FILE).write_bytes(state_bytes(state, tmp_path)[:5000])  # cut short
    assert previous_state(tmp_path)[0] is None and "not a dedup state" in previous_state(tmp_path)[1]
    assert previous_state(tmp_path / "nowhere")[1] == "the previous run (nowhere) kept no dedup state"


def test_only_the_components_a_change_touches_are_grouped_again(texts, tmp_path, monkeypatch):
    """A new copy of one story, a gone copy of another: the groups of the untouched stories are the
    previous run's, the others are made again, and all are what a full dedup gives."""
    import pipeline.dedup as dedup_module

    first = {k: v for k, v in texts.items() if k != "2_003"}
    docs1 = [make_doc(k, first[k]) for k in sorted(first)]
    _, state1 = run(docs1)
    path = tmp_path / "s1.npz"
    save_state(path, state1)
    state1 = load_state(path)
    second = {k: v for k, v in texts.items() if k != "1_002"}  # 2_003 arrives, 1_002 is gone
    docs2 = [make_doc(k, second[k]) for k in sorted(second)]
    grouped: list[int] = []
    clusters = dedup_module._clusters
    monkeypatch.setattr(dedup_module, "_clusters", lambda items, *a, **k: grouped.append(len(items)) or
                        clusters(items, *a, **k))
    result2, state2 = run(docs2, state1)
    paragraphs, sentences = grouped
    total = sum(1 for d in docs2 for p in d.paragraphs if p.kind == "body")
    assert 0 < paragraphs < total  # the stories of 2_003 and 1_002 only
    monkeypatch.setattr(dedup_module, "_clusters", clusters)
    full2, full_state2 = run(docs2)
    assert result2 == full2 and len(full2.sentence_groups) > 10
    assert state_bytes(state2, tmp_path) == state_bytes(full_state2, tmp_path)


def test_a_run_with_new_documents_reads_only_their_features(texts, tmp_path):
    """Through the dedup step: the run after a new article decodes that article's features only (the
    kept documents' text keys, terms, stems and signatures come from the state), and gives the groups and
    the state of a full dedup of the same corpus."""
    from pipeline.cache import Cache
    from pipeline.config import Settings
    from pipeline.dedup_state import STATE_FILE
    from pipeline.flow import DedupStep

    settings, step = Settings(), DedupStep()
    docs = [make_doc(k, texts[k]) for k in sorted(texts)]
    first = [d for d in docs if d.doc_id != "2_003"]
    runs = [tmp_path / name for name in ("first", "second", "full")]
    for run_dir in runs:
        run_dir.mkdir()
    cache = Cache(tmp_path / "cache.sqlite")
    step.across_runs(first, settings, cache, step.key(first, settings), None, runs[0])
    read: list[str] = []
    get_many = cache.get_many
    cache.get_many = lambda kind, keys: (read.extend(keys) if kind == "dedup_features" else None) or get_many(kind,
                                                                                                                keys)
    result, cached = step.across_runs(docs, settings, cache, step.key(docs, settings), runs[0], runs[1])
    new = next(d for d in docs if d.doc_id == "2_003")
    assert not cached and read == [step.features_key(settings)(new)]
    full, _ = step.across_runs(docs, settings, Cache(tmp_path / "other.sqlite"), step.key(docs, settings), None,
                               runs[2])
    assert result == full == dedup(docs, settings.dedup) and full.sentence_groups
    assert (runs[1] / STATE_FILE).read_bytes() == (runs[2] / STATE_FILE).read_bytes()


def test_the_state_written_on_a_writer_thread_is_the_one_written_at_once(texts, tmp_path, monkeypatch):
    """`DedupStep.across_runs(writer=...)` writes the state on that thread (this thread goes on: the write is
    not done when it returns), the same bytes as without a writer, and `written` waits for it and raises
    what writing raised; `corpus_steps` returns with both states written."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from pipeline import dedup_state
    from pipeline.cache import Cache
    from pipeline.config import Settings
    from pipeline.dedup_state import STATE_FILE
    from pipeline.flow import DedupStep, NoHooks, corpus_steps
    from pipeline.story_join import STATE_FILE as STORIES_FILE

    settings = Settings()
    docs = [make_doc(k, texts[k]) for k in sorted(texts)]
    runs = [tmp_path / name for name in ("at-once", "thread", "failing", "steps")]
    for run_dir in runs:
        run_dir.mkdir()
    key = DedupStep().key(docs, settings)  # (what corpus_steps uses: the state holds it)
    DedupStep().across_runs(docs, settings, Cache(tmp_path / "a.sqlite"), key, None, runs[0])

    release = threading.Event()
    save = dedup_state.save_state

    def held(path, state):  # the write waits until this thread says so
        assert threading.current_thread() is not main and release.wait(30)
        save(path, state)

    main = threading.current_thread()
    monkeypatch.setattr(dedup_state, "save_state", held)
    step = DedupStep()
    with ThreadPoolExecutor(max_workers=1) as writer:
        step.across_runs(docs, settings, Cache(tmp_path / "b.sqlite"), key, None, runs[1], None, writer)
        assert not (runs[1] / STATE_FILE).exists() and len(step.writing) == 1
        release.set()
        step.written()
    assert not step.writing
    assert (runs[1] / STATE_FILE).read_bytes() == (runs[0] / STATE_FILE).read_bytes()

    def broken(path, state):
        raise OSError("disk full")

    monkeypatch.setattr(dedup_state, "save_state", broken)
    step = DedupStep()
    with ThreadPoolExecutor(max_workers=1) as writer:
        step.across_runs(docs, settings, Cache(tmp_path / "c.sqlite"), key, None, runs[2], None, writer)
        with pytest.raises(OSError, match="disk full"):
            step.written()
    with pytest.raises(OSError, match="disk full"):
        corpus_steps(docs, settings, Cache(tmp_path / "d.sqlite"), NoHooks(), run_dir=runs[3])

    monkeypatch.setattr(dedup_state, "save_state", save)
    corpus_steps(docs, settings, Cache(tmp_path / "e.sqlite"), NoHooks(), run_dir=runs[3])
    assert (runs[3] / STATE_FILE).read_bytes() == (runs[0] / STATE_FILE).read_bytes()
    assert (runs[3] / STORIES_FILE).exists()


def test_with_a_writer_the_previous_state_is_read_on_it_for_the_same_result(texts, tmp_path, monkeypatch, caplog):
    """Across runs with a writer thread, the previous run's state is read on that thread while this one lists
    the body texts (`dedup.body_items`, passed on to dedup and to `previous` for the counts): the same
    result and state as without a writer, dedup across runs all the same."""
    import logging
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from pipeline import dedup as dedup_module
    from pipeline import dedup_state
    from pipeline.cache import Cache
    from pipeline.config import Settings
    from pipeline.dedup_state import STATE_FILE
    from pipeline.flow import DedupStep

    settings = Settings()
    docs = [make_doc(k, texts[k]) for k in sorted(texts)]
    first = [d for d in docs if d.doc_id not in ("2_003", "0_011")]
    body = dedup_module.body_items(docs)
    for made, counted in zip(dedup_module.body_counts(body), dedup_state.body_counts(docs)):
        assert made.dtype == counted.dtype and np.array_equal(made, counted) and counted.sum()
    runs = [tmp_path / name for name in ("first", "thread", "here")]
    for run_dir in runs:
        run_dir.mkdir()
    DedupStep().across_runs(first, settings, Cache(tmp_path / "a.sqlite"), DedupStep().key(first, settings), None,
                            runs[0])
    read_on: list[threading.Thread] = []
    load = dedup_state.previous_state
    monkeypatch.setattr(dedup_state, "previous_state",
                        lambda run: read_on.append(threading.current_thread()) or load(run))
    key = DedupStep().key(docs, settings)
    step = DedupStep()
    with caplog.at_level(logging.INFO, logger="pipeline"), ThreadPoolExecutor(max_workers=1) as writer:
        beside, _ = step.across_runs(docs, settings, Cache(tmp_path / "b.sqlite"), key, runs[0], runs[1], None, writer)
        step.written()
    here, _ = DedupStep().across_runs(docs, settings, Cache(tmp_path / "c.sqlite"), key, runs[0], runs[2])
    assert read_on[0] is not threading.main_thread() and read_on[1] is threading.main_thread()
    assert sum("2 new or edited documents compared" in r.getMessage() for r in caplog.records) == 1
    assert beside == here == dedup(docs, settings.dedup) and here.sentence_groups
    assert (runs[1] / STATE_FILE).read_bytes() == (runs[2] / STATE_FILE).read_bytes()
