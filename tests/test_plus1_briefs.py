"""A "+1% new articles" run's summarize, translate and brief stages: the same results as the ways they replaced.

- briefs of the stories whose texts are all translated already are made while the engine translates the others
  (`translate_jobs(meanwhile=...)`): the run's files are those of a run that makes every brief after translating;
- `_member_in` takes the least member in a language instead of sorting every member of the group;
- `groups_by_document` lists each group under its documents as the loop over members did.
"""

from __future__ import annotations

import re
import shutil
import threading
from pathlib import Path

import pytest

import pipeline.flow as flow
from pipeline.brief import _RELATION_ORDER, _lang, _member_in
from pipeline.cache import Cache, NullCache
from pipeline.corpus_index import CorpusIndex
from pipeline.dedup import group_of
from pipeline.executors.local import LocalExecutor
from pipeline.flow import FlowStats, NoHooks, TranslateContext, corpus_steps, groups_by_document, \
    summarize_documents, translate_jobs
from pipeline.config import Settings
from pipeline.model import DupGroup, DupMember, SummarySentence, replaced

from test_runner_ops import STORM, corpus, fake_engine, run_in_process  # noqa: F401 (fixtures)


# --- briefs made while the engine translates ------------------------------------------------------------------------

RUN_ID = re.compile(rb"\d{8}T\d{6}Z(?:-[0-9a-f]{4})?")  # (a run started in the same second as the last: -xxxx)
FINGERPRINTED = {"manifest.json", "dedup-state.npz", "dedup-lines.npz", "stories-grouping.npz", "review/pages.json"}


def _files(run: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run)): RUN_ID.sub(b"RUN", p.read_bytes()) for p in sorted(run.rglob("*"))
            if p.is_file() and str(p.relative_to(run)) not in FINGERPRINTED}


def test_briefs_made_while_translating_are_the_briefs_made_after(corpus, tmp_path, fake_engine, monkeypatch):  # noqa: F811
    out = tmp_path / "out"
    assert run_in_process(corpus, out).exit_code == 0
    (corpus / "storm.txt").write_text(STORM, encoding="utf-8")  # a new article: its story's texts are new
    shutil.copytree(out, tmp_path / "after", symlinks=True)

    real_jobs, real_brief = flow.translate_jobs, flow._one_brief
    translating: list[bool] = []
    early: list[str] = []

    def jobs(*args, **kwargs):
        translating.append(True)
        try:
            return real_jobs(*args, **kwargs)
        finally:
            translating.pop()

    def one_brief(story, *args, **kwargs):
        if translating:
            early.append(story.story_id)
        return real_brief(story, *args, **kwargs)

    monkeypatch.setattr(flow, "translate_jobs", jobs)
    monkeypatch.setattr(flow, "_one_brief", one_brief)
    assert run_in_process(corpus, out).exit_code == 0
    made = len(list((out / "latest" / "briefs").glob("*.json")))
    assert 0 < len(early) < made  # the unchanged stories' briefs while translating; the new story's after

    # the same run, every brief made after translating (translate_jobs as before: no `meanwhile`)
    monkeypatch.setattr(flow, "translate_jobs", lambda *a, meanwhile=None, **k: real_jobs(*a, **k))
    monkeypatch.setattr(flow, "_one_brief", real_brief)
    assert run_in_process(corpus, tmp_path / "after").exit_code == 0
    assert _files((out / "latest").resolve()) == _files((tmp_path / "after" / "latest").resolve())


class _Upper:
    """A translator that records the texts of each call and the thread that made it; its first call waits for
    `go` (so a test can hold it while this thread works)."""

    engine = "upper 1.0"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.threads: list[str] = []
        self.started = threading.Event()
        self.go = threading.Event()
        self.go.set()

    def translate(self, texts):
        self.started.set()
        assert self.go.wait(10)
        self.calls.append(list(texts))
        self.threads.append(threading.current_thread().name)
        return [t.upper() for t in texts]


def _translate(tmp_path: Path, name: str, jobs, meanwhile=None, engine: _Upper | None = None):
    settings = Settings()
    engine = engine or _Upper()
    cache = Cache(tmp_path / name)
    tctx = TranslateContext(settings.translate, prebuilt=engine, hashes=cache)
    stats = FlowStats()
    with LocalExecutor(1).session(tctx) as session:
        result = translate_jobs(jobs, session, engine, tctx, cache, settings, stats, meanwhile=meanwhile)
    cache.close()
    return result, stats, engine


def test_translate_jobs_gives_what_it_knows_first_and_translates_the_rest_meanwhile(tmp_path, monkeypatch):
    monkeypatch.setattr(flow, "TRANSLATE_BATCH", 3)  # the first batch translated meanwhile, the others after
    texts = [f"phrase {i}." for i in range(10)]
    cached = texts[::3]
    _translate(tmp_path, "cache.sqlite", [("fr", "en", t) for t in cached])  # cached before
    shutil.copy(tmp_path / "cache.sqlite", tmp_path / "again.sqlite")
    jobs = [("fr", "fr", "titre"), *(("fr", "en", t) for t in texts), ("fr", "en", texts[0])]

    plain, plain_stats, plain_engine = _translate(tmp_path, "again.sqlite", jobs)

    seen: list[dict] = []
    engine = _Upper()
    engine.go.clear()  # held: `meanwhile` runs while the engine is at work on the first batch

    def meanwhile(known):
        assert engine.started.wait(10)  # the engine was called before `meanwhile` returns
        seen.append(dict(known))
        engine.go.set()

    early, early_stats, _ = _translate(tmp_path, "cache.sqlite", jobs, meanwhile, engine)
    new = [t for t in texts if t not in cached]
    assert seen == [{("fr", "fr", "titre"): "titre", **{("fr", "en", t): t.upper() for t in cached}}]
    assert list(early[0].items()) == list(plain[0].items())  # the same translations, in the same order
    assert early[1] == plain[1] == {}
    assert engine.calls == plain_engine.calls == [new[:3], new[3:6]]  # the texts not cached, in the same batches
    assert engine.threads[0] != threading.current_thread().name  # the first batch: on the other thread
    assert engine.threads[1] == threading.current_thread().name
    assert (early_stats.translate_calls, early_stats.translated_texts) == \
        (plain_stats.translate_calls, plain_stats.translated_texts) == (2, 6)


# --- choose_languages, groups_by_document ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def made(sample, settings):
    documents = sample.documents
    index = CorpusIndex.build(documents)
    texts = summarize_documents(documents, settings)
    dedup_result, stories, _ = corpus_steps(documents, settings, NullCache(), NoHooks())
    return documents, index, texts, dedup_result


def _member_in_sorted(lang, sentence, index, groups):
    """`_member_in` as it was: every member of the group sorted by relation, then score, the first in `lang`."""
    if not sentence.citations or sentence.text_fr != sentence.citations[0].text:
        return None
    origin = sentence.citations[0].sid
    if groups is not None and origin in groups:
        members = sorted(groups[origin].members, key=lambda m: (_RELATION_ORDER[m.relation], -m.score))
        candidates = [m.id for m in members]
    else:
        candidates = [c.sid for c in sentence.citations]
    return next((sid for sid in candidates if sid in index.sentences and _lang(sid, index) == lang), None)


def test_member_in_a_language_is_the_first_the_sorted_members_give(made):
    documents, index, texts, dedup_result = made
    # every other document said English, so that groups hold members in both languages; and the groups again
    # with their scores all equal and their relations swapped around (ties: the first of equals wins)
    english = {d.doc_id for d in documents[::2]}
    mixed = CorpusIndex(index.documents, {pid: replaced(p, lang="en") if p.doc_id in english else p
                                          for pid, p in index.paragraphs.items()}, index.sentences)
    relations = list(_RELATION_ORDER)
    even = tuple(replaced(g, members=tuple(replaced(m, score=0.5, relation=relations[k % 2 * 3])
                                           for k, m in enumerate(g.members)))
                 for g in dedup_result.sentence_groups)
    # the summaries' sentences, and one extracted sentence citing each member of each group first
    sentences = [s for t in texts for s in t.summary.sentences]
    sentences += [SummarySentence(index.sentences[m.id].text, (index.cite(m.id),), 1.0)
                  for g in dedup_result.sentence_groups for m in g.members if m.id in index.sentences]
    asked = found = 0
    for groups in (group_of(dedup_result.sentence_groups), group_of(even), None):
        for sentence in sentences:
            for idx in (index, mixed):
                for lang in ("fr", "en", "de"):
                    got = _member_in(lang, sentence, idx, groups)
                    assert got == _member_in_sorted(lang, sentence, idx, groups)
                    asked += 1
                    found += got is not None and groups is not None and got != sentence.citations[0].sid
    assert asked > 500 and found > 100, (asked, found)
    assert any(isinstance(g, DupGroup) and len(g.members) > 2 for g in even)


def test_groups_by_document_lists_each_group_under_its_documents_in_order(made):
    documents, index, texts, dedup_result = made
    # and a paragraph group (the sample has none): a paragraph of each of three documents, one twice
    pids = [documents[k].paragraphs[0].pid for k in (0, 1, 2, 0)]
    paragraph_group = DupGroup("P1", "paragraph", pids[0], tuple(DupMember(p, "exact", 1.0) for p in pids))
    dedup_result = replaced(dedup_result, paragraph_groups=(paragraph_group,))
    expected: dict[str, list] = {}
    for g in (*dedup_result.paragraph_groups, *dedup_result.sentence_groups):
        docs = set()
        for m in g.members:
            sentence = index.sentences.get(m.id)
            docs.add(index.paragraphs[m.id if sentence is None else sentence.pid].doc_id)
        for d in docs:
            expected.setdefault(d, []).append(g)
    got = groups_by_document(dedup_result, index)
    assert dedup_result.paragraph_groups and dedup_result.sentence_groups
    assert got.keys() == expected.keys()
    assert all([g.group_id for g in got[d]] == [g.group_id for g in expected[d]] for d in expected)
