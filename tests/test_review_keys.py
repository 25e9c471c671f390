"""Review pages and brief files are keyed by their own inputs, not by the corpus: a page whose brief, cited
sentences' duplicate groups and documents are unchanged is linked without its key being worked out again,
whatever else changed in the corpus; a change to anything the page shows renders it again."""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
from pathlib import Path

import pytest

import pipeline.render.review as review
from pipeline.cache import Cache
from pipeline.corpus_index import CorpusIndex
from pipeline.flow import RenderStep
from pipeline.model import DupGroup, DupMember
from pipeline.render import brief_digest, brief_to_dict, citation_numbers, indented_json, json_members

from test_review_page import _wire_site


@pytest.fixture(scope="module")
def wire(tmp_path_factory, settings):
    """One story republished 4 times: every citation has a block of duplicates in the other copies."""
    built, english, _paths = _wire_site(tmp_path_factory.mktemp("wire"), 4, settings)
    assert len(built.briefs) == 1
    return built, english


@pytest.fixture
def calls(monkeypatch) -> list[int]:
    """One item per page key worked out by walking the page's blocks and paragraphs (`review._page_key`): none
    when the briefs' digests are given (the key is a hash of the page's inputs, `review._known_keys`)."""
    made: list[int] = []
    original = review._page_key

    def counted(*args, **kwargs):
        made.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(review, "_page_key", counted)
    return made


@pytest.fixture(params=[False, True], ids=["groups hashed here", "dedup.json's line keys"])
def keyed(request) -> bool:
    """Whether the pages' keys take each group's key from dedup.json's line keys (`RenderStep.group_keys`, as a
    run gives them) rather than hashing the groups themselves."""
    return request.param


def _group_keys(dedup, index: CorpusIndex) -> dict[str, bytes]:
    """Each group's key by its id, as a run gives them to the review pages (`RenderStep.group_keys`)."""
    return RenderStep.group_keys(dedup, index, "ingest")


def _site(tmp_path: Path, name: str, built, english, cache: Cache, previous: str | None,
          index: CorpusIndex | None = None, dedup=None, keyed: bool = False) -> list[Path]:
    index, dedup = index or built.index, dedup or built.dedup
    return review.build_review_site(
        tmp_path / name, built.briefs, index, dedup, name,
        translate=lambda jobs: {j: english.get(j, f"EN: {j[2]}") for j in jobs},
        direction_key=lambda source, target: f"engine {source}->{target}", cache=cache, documents_key="ingest",
        digests=[brief_digest(b) for b in built.briefs], previous_run=tmp_path / previous if previous else None,
        group_keys=_group_keys(dedup, index) if keyed else None)


def _cited_group(built) -> DupGroup:
    """The sentence group of the brief's first cited sentence (its other members are in other files)."""
    sid = next(iter(citation_numbers(built.briefs[0])))
    return next(g for g in built.dedup.sentence_groups if any(m.id == sid for m in g.members))


def _replace_group(dedup, old: DupGroup, new: DupGroup):
    return dataclasses.replace(dedup, sentence_groups=tuple(new if g is old else g for g in dedup.sentence_groups))


def test_an_unchanged_page_is_linked_without_its_key_worked_out_again(wire, tmp_path, calls, keyed):
    built, english = wire
    cache = Cache(tmp_path / "cache.sqlite")
    first = _site(tmp_path, "r1", built, english, cache, None, keyed=keyed)
    assert not calls  # a hash of the page's inputs: its blocks are walked only to render it
    # the corpus gains a duplicate group that no cited sentence is in: the page's own inputs are the same
    cited = set(citation_numbers(built.briefs[0]))
    grouped = {m.id for g in built.dedup.sentence_groups for m in g.members}
    a, b = [sid for sid in built.index.sentences if sid not in cited and sid not in grouped][:2]
    other = DupGroup("s-new", "sentence", a, (DupMember(a, "exact", 1.0), DupMember(b, "near", 0.9)))
    dedup = dataclasses.replace(built.dedup, sentence_groups=(*built.dedup.sentence_groups, other))
    cache.stats.clear()  # (this run's look-ups only)
    second = _site(tmp_path, "r2", built, english, cache, "r1", dedup=dedup, keyed=keyed)
    assert not calls and "review" not in cache.stats  # not even looked up in the cache:
    assert os.path.samefile(first[1], second[1])  # linked from the previous run


def test_a_changed_score_in_a_cited_group_renders_the_page_again(wire, tmp_path, calls, keyed):
    built, english = wire
    cache = Cache(tmp_path / "cache.sqlite")
    first = _site(tmp_path, "r1", built, english, cache, None, keyed=keyed)
    group = _cited_group(built)
    member = next(m for m in group.members if m.id != group.canonical)
    changed = dataclasses.replace(group, members=tuple(
        dataclasses.replace(m, relation="near", score=0.77) if m is member else m for m in group.members))
    cache.stats.clear()  # (this run's look-ups only)
    second = _site(tmp_path, "r2", built, english, cache, "r1",
                   dedup=_replace_group(built.dedup, group, changed), keyed=keyed)
    assert not calls and cache.stats["review"].misses == 1  # the page's inputs changed: a key not cached...
    html = second[1].read_text(encoding="utf-8")
    assert not os.path.samefile(first[1], second[1]) and "similarity 0.77" in html  # ...and the page made again
    assert "similarity 0.77" not in first[1].read_text(encoding="utf-8")


def test_a_member_leaving_a_cited_group_renders_the_page_again(wire, tmp_path, calls, keyed):
    built, english = wire
    cache = Cache(tmp_path / "cache.sqlite")
    first = _site(tmp_path, "r1", built, english, cache, None, keyed=keyed)
    group = _cited_group(built)
    cited = set(citation_numbers(built.briefs[0]))
    gone = next(m for m in group.members if m.id != group.canonical and m.id not in cited) \
        if any(m.id not in cited for m in group.members) else group.members[-1]
    smaller = dataclasses.replace(group, members=tuple(m for m in group.members if m is not gone))
    cache.stats.clear()  # (this run's look-ups only)
    second = _site(tmp_path, "r2", built, english, cache, "r1",
                   dedup=_replace_group(built.dedup, group, smaller), keyed=keyed)
    assert cache.stats["review"].misses == 1 and not os.path.samefile(first[1], second[1])
    assert first[1].read_bytes() != second[1].read_bytes()


def test_a_changed_document_of_a_cited_group_renders_the_page_again(wire, tmp_path, calls, keyed):
    """A document a block shows (here: one the brief does not cite first) read from other bytes: its
    paragraphs may say something else, so the page is made again, whatever its brief."""
    built, english = wire
    cache = Cache(tmp_path / "cache.sqlite")
    first = _site(tmp_path, "r1", built, english, cache, None, keyed=keyed)
    group = _cited_group(built)
    doc_id = built.index.paragraphs[built.index.sentences[group.members[-1].id].pid].doc_id
    documents = dict(built.index.documents)
    documents[doc_id] = dataclasses.replace(documents[doc_id], sha256="0" * 64, title="Un autre titre")
    index = dataclasses.replace(built.index, documents=documents)
    cache.stats.clear()  # (this run's look-ups only)
    second = _site(tmp_path, "r2", built, english, cache, "r1", index=index, keyed=keyed)
    assert cache.stats["review"].misses == 1 and not os.path.samefile(first[1], second[1])
    keys = [json.loads((tmp_path / r / "review" / "pages.json").read_text()) for r in ("r1", "r2")]
    assert keys[0] != keys[1]


def test_brief_digest_names_every_field(wire):
    """Equal briefs have one digest however they were made; a change to any field, however deep, another."""
    built, _english_ = wire
    brief = built.briefs[0]
    assert brief_digest(pickle.loads(pickle.dumps(brief))) == brief_digest(brief)
    first = brief.summary[0]
    citation = dataclasses.replace(first.citations[-1], suffix=first.citations[-1].suffix + " ")
    deep = dataclasses.replace(brief, summary=(dataclasses.replace(
        first, citations=(*first.citations[:-1], citation)), *brief.summary[1:]))
    changed = [deep, dataclasses.replace(brief, engines={**brief.engines, "x": "y"}),
               dataclasses.replace(brief, summary=(dataclasses.replace(first, support=first.support / 3),
                                                   *brief.summary[1:]))]
    assert len({brief_digest(b) for b in [brief, *changed]}) == 1 + len(changed)


def test_indented_json_is_json_dumps(wire):
    """The brief's JSON members and the sources' index are written as json.dumps(indent=...) writes them."""
    built, _english_ = wire
    data = brief_to_dict(built.briefs[0], "run")
    expected = ",\n".join(f"  {json.dumps(k)}: " + json.dumps(data[k], ensure_ascii=False, indent=2)
                          .replace("\n", "\n  ") for k in data)
    assert json_members(data, list(data)) == expected
    odd = {"a": [1, 2.5, -0.0, 1e20, float("nan"), True, False, None, [], {}, 'é\n"\u2028\x00</'],
           "b": {"c": [{"d": [], "e": [[1], ()]}]}, "é": (1, 2), "f": []}
    for indent in (1, 2, 4):
        for level in (0, 1, 3):
            assert indented_json(odd, indent, level) == \
                json.dumps(odd, ensure_ascii=False, indent=indent).replace("\n", "\n" + " " * (indent * level))
