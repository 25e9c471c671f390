"""A brief is made once with its quotes (`BriefStep.run`), as the brief made without them and then given them
(`attach_quotes`) was; and its digest's flattening (`pipeline.render._plain`) writes every field of every record."""

from __future__ import annotations

import dataclasses
import marshal
from typing import Any

import pytest

from pipeline.brief import apply_translations, attach_quotes, build_brief, quote_texts
from pipeline.cache import NullCache
from pipeline.corpus_index import CorpusIndex
from pipeline.flow import BriefStep, NoHooks, corpus_steps, groups_by_document, story_dedup, story_groups, \
    summarize_documents
from pipeline.model import Brief
from pipeline.render import _plain, brief_digest


def _old_way(story, text, translated, index, dedup, engines, engine_warnings) -> Brief:
    """`BriefStep.run` as it was: the brief built without quotes, then `attach_quotes`."""
    missing = [n for n in text.needs if (n.source_lang, n.target_lang, n.text) not in translated]
    summary = apply_translations(text.summary, index, dedup, text.needs,
                                 [translated.get((n.source_lang, n.target_lang, n.text), n.text) for n in text.needs])
    warnings = list(engine_warnings)
    if missing:
        warnings.append(f"{len(missing)} summary text(s) could not be translated "
                        f"({', '.join(sorted({f'{n.source_lang}->{n.target_lang}' for n in missing}))}); "
                        "they are shown in their source language")
    head_fr, head_en = (translated.get(j, text.headline_fr) for j in text.headline_jobs())
    brief = build_brief(story, summary, head_fr, head_en, (), index, {**engines, "summarizer": summary.engine},
                        warnings, dedup_result=dedup)
    english = {t: translated[("fr", "en", t)] for t in quote_texts(text.quotes) if ("fr", "en", t) in translated}
    return attach_quotes(brief, story, index, list(text.quotes), english)


@pytest.fixture(scope="module")
def made(sample, settings):
    documents = sample.documents
    index = CorpusIndex.build(documents)
    texts = summarize_documents(documents, settings)
    dedup_result, stories, _ = corpus_steps(documents, settings, NullCache(), NoHooks())
    return index, texts, stories, groups_by_document(dedup_result, index)


@pytest.mark.parametrize("share", ["all", "some", "none"])
def test_brief_made_once_with_its_quotes_is_the_brief_given_them_after(made, share):
    index, texts, stories, by_doc = made
    assert any(t.quotes for t in texts)  # (the sample has quotes: what this compares)
    jobs = [j for t in texts for j in t.jobs()]
    kept = jobs if share == "all" else jobs[::2] if share == "some" else []
    translated = {j: f"EN {j[2]}" for j in kept}
    for story, text in zip(stories, texts):
        dedup = story_dedup(story_groups(story, by_doc))
        args = (story, text, translated, index, dedup, {"translator": "t"}, ["engine warning"])
        new, old = BriefStep().run(*args), _old_way(*args)
        assert new == old
        assert brief_digest(new) == brief_digest(old)
        if share == "some" and text.quotes:
            assert new.warnings[-1] == old.warnings[-1]


def _reference_plain(record: Any) -> Any:
    """Every field of every record, records made tuples, recursively (what `_plain` must give)."""
    if dataclasses.is_dataclass(record):
        return tuple(_reference_plain(getattr(record, f.name)) for f in dataclasses.fields(record))
    if isinstance(record, tuple):
        return tuple(_reference_plain(v) for v in record)
    return record


def test_plain_flattens_every_field_of_every_record(made, settings):
    index, texts, stories, by_doc = made
    translated = {j: f"EN {j[2]}" for t in texts for j in t.jobs()}
    briefs = [BriefStep().run(story, text, translated, index, story_dedup(story_groups(story, by_doc)),
                              {"translator": "t"}, []) for story, text in zip(stories, texts)]
    assert any(b.quotes and b.summary and b.sources for b in briefs)
    for brief in briefs:
        assert _plain(brief) == _reference_plain(brief)
        assert marshal.dumps(_plain(brief), 2) == marshal.dumps(_reference_plain(brief), 2)
    # a change anywhere in a brief changes its digest: a citation deep in a quote, a field of a source
    brief = next(b for b in briefs if b.quotes and b.quotes[0].citations)
    quote = brief.quotes[0]
    moved = dataclasses.replace(quote.citations[0], char_end=quote.citations[0].char_end + 1)
    changed = dataclasses.replace(brief, quotes=(dataclasses.replace(quote, citations=(moved, *quote.citations[1:])),
                                                 *brief.quotes[1:]))
    assert brief_digest(changed) != brief_digest(brief)
    renamed = dataclasses.replace(brief, sources=(dataclasses.replace(brief.sources[0], title="autre"),
                                                  *brief.sources[1:]))
    assert brief_digest(renamed) != brief_digest(brief)


def test_replaced_is_dataclasses_replace(made, settings):
    from pipeline.model import replaced

    index, texts, stories, by_doc = made
    translated = {j: f"EN {j[2]}" for t in texts for j in t.jobs()}
    brief = next(b for b in (BriefStep().run(story, text, translated, index, story_dedup(story_groups(story, by_doc)),
                                             {"translator": "t"}, []) for story, text in zip(stories, texts))
                 if b.quotes and b.summary)
    for record, changes in [(brief, {"warnings": ("w",), "headline_en": "h"}),
                            (brief.summary[0], {"text_en": "x", "fr_sid": None, "citations": ()}),
                            (brief.quotes[0], {"speaker_en": "s"}), (brief.summary[0].citations[0], {"char_end": 3}),
                            (brief.sources[0], {})]:
        made_here, made_there = replaced(record, **changes), dataclasses.replace(record, **changes)
        assert made_here == made_there and type(made_here) is type(made_there)
        assert [getattr(made_here, f.name) for f in dataclasses.fields(record)] == \
            [getattr(made_there, f.name) for f in dataclasses.fields(record)]
        assert made_here is not record and (not changes or made_here != record)
    with pytest.raises(TypeError):
        replaced(brief, no_such_field=1)
