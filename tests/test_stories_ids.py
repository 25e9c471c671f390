"""Story ids across runs: a story that continues keeps its id; an id never changes meaning."""

from __future__ import annotations

import re

from pipeline.dedup import dedup
from pipeline.ingest import ingest
from pipeline.model import Story
from pipeline.stories import group_stories
from pipeline.story_ids import StoryState, assign_story_ids, document_key, load_story_state, save_story_state

from test_stories_mixed import BREVES, MIXED_TEXTS, TIKTOK, write_mixed_corpus


def _run(folder, settings, state):
    docs = ingest(folder, settings.ingest).documents
    stories = group_stories(docs, dedup(docs, settings.dedup), settings.stories)
    return assign_story_ids(stories, {d.doc_id: document_key(d) for d in docs}, state)


def _story_of(stories, doc_id):
    return next(s for s in stories if doc_id in s.doc_ids)


def test_story_keeps_its_id_when_an_article_joins(tmp_path, settings):
    omit = tuple(n for n in MIXED_TEXTS if n not in ("transfert_om.txt", "municipale_partielle.txt"))
    folder = write_mixed_corpus(tmp_path / "corpus", omit=omit)
    first, state = _run(folder, settings, StoryState())
    assert all(re.fullmatch(r"story-[0-9a-f]{8}", s.story_id) for s in first)
    assert len({s.story_id for s in first}) == len(first) == 3

    (folder / "breves.txt").write_text(BREVES, encoding="utf-8")  # one new article, about TikTok
    save_story_state(tmp_path / "stories.json", state)
    second, state2 = _run(folder, settings, load_story_state(tmp_path / "stories.json"))
    assert {s.story_id for s in second} == {s.story_id for s in first}
    tiktok = _story_of(second, "breves")
    assert tiktok.story_id == _story_of(first, "000_d4928d0422af127b").story_id
    assert set(tiktok.doc_ids) == TIKTOK | {"breves"}
    assert _story_of(second, "transfert_om").story_id == _story_of(first, "transfert_om").story_id
    assert state2.stories[tiktok.story_id] == state.stories[tiktok.story_id] | {"corpus/breves.txt"}


def _story(sid, *docs):
    return Story(sid, tuple(docs), tuple(f"{d}:p1" for d in docs))


def test_split_merge_and_new_stories_never_reuse_an_id():
    keys = {d: f"corpus/{d}.txt" for d in "abcdefg"}
    first, state = assign_story_ids([_story("story-001", "a", "b", "c"), _story("story-002", "d", "e")],
                                    keys, StoryState())
    abc, de = first[0].story_id, first[1].story_id
    # abc splits (ab keeps the id: it holds most of it); de merges with new f; g is new
    second, state2 = assign_story_ids(
        [_story("story-001", "a", "b"), _story("story-002", "c"), _story("story-003", "d", "e", "f"),
         _story("story-004", "g")], keys, state)
    ids = [s.story_id for s in second]
    assert ids[0] == abc and ids[2] == de
    assert len(set(ids)) == 4 and not {ids[1], ids[3]} & {abc, de}
    # de's documents all vanish: its id is retired, not given to the story that takes "d"'s place
    third, state3 = assign_story_ids([_story("story-001", "a", "b"), _story("story-002", "f", "g")],
                                     {k: v for k, v in keys.items() if k not in "cde"}, state2)
    assert third[0].story_id == abc
    assert de not in {s.story_id for s in third} and de in state3.retired
    assert state3.retired[de] == third[1].story_id  # f went there: the retired id points to its successor


def test_new_story_id_comes_from_its_founding_document_and_is_not_reused():
    keys = {"a": "corpus/a.txt", "b": "corpus/b.txt"}
    (one,), state = assign_story_ids([_story("story-001", "a")], keys, StoryState())
    # "a" is gone and a new story is founded by "a" again: it must not take the retired id
    (two,), state2 = assign_story_ids([_story("story-001", "b")], {"b": "corpus/b.txt"}, state)
    (three,), _ = assign_story_ids([_story("story-001", "a")], keys, state2)
    assert one.story_id in state2.retired
    assert three.story_id not in {one.story_id, two.story_id}


def test_documents_in_date_order(tmp_path, settings):
    folder = tmp_path / "c"
    folder.mkdir()
    text = MIXED_TEXTS["canicule_gard.txt"]
    for name, day in (("a", "2024-07-03"), ("b", "2024-07-01"), ("c", None)):
        (folder / f"{name}.txt").write_text((f"date: {day}\n\n" if day else "") + text, encoding="utf-8")
    docs = ingest(folder, settings.ingest).documents
    (story,) = group_stories(docs, dedup(docs, settings.dedup), settings.stories)
    assert story.doc_ids == ("b", "a", "c")  # dated first, oldest first; undated after
