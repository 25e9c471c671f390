"""Brief: assemble one story's summary, translations, sources and warnings.

Entry points:
- `choose_headline(story, index) -> str`: the French headline;
- `build_brief(...) -> Brief`.

The headline is the title (found by ingest) of the story's document that is
most central to the story; with no title anywhere, the first summary
sentence. The sources table lists every document of the story, with the
paragraphs the summary cites.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

from .corpus_index import CorpusIndex
from .model import Brief, SourceInfo, Story, Summary
from .textsim import ContentWords, tfidf


def choose_headline(story: Story, index: CorpusIndex, summary: Summary) -> str:
    docs = [index.documents[d] for d in story.doc_ids]
    titled = [d for d in docs if d.title]
    if titled:
        words = ContentWords()
        bodies = [" ".join(p.text for p in d.paragraphs if p.kind == "body") for d in docs]
        space = tfidf([words.stems(t) for t in [d.title or "" for d in titled] + [" ".join(bodies)]])
        story_vec = len(titled)
        best = max(range(len(titled)), key=lambda i: (space.cosine(i, story_vec), -i))
        return titled[best].title or ""
    if summary.sentences:
        return summary.sentences[0].text_fr
    return story.story_id


def build_brief(
    story: Story,
    summary: Summary,
    headline_fr: str,
    headline_en: str,
    sentences_en: Sequence[str],
    index: CorpusIndex,
    engines: dict[str, str],
    warnings: Sequence[str],
) -> Brief:
    if len(sentences_en) != len(summary.sentences):
        raise ValueError("one English sentence is needed per French summary sentence")
    sentences = tuple(replace(s, text_en=en) for s, en in zip(summary.sentences, sentences_en))
    used: dict[str, set[int]] = {}
    for s in sentences:
        for c in s.citations:
            used.setdefault(c.doc_id, set()).add(c.paragraph)
    sources = tuple(
        SourceInfo(
            file=index.documents[d].path, doc_id=d, title=index.documents[d].title, date=index.documents[d].date,
            lang=index.documents[d].lang, paragraphs_used=tuple(sorted(used.get(d, ()))),
        )
        for d in story.doc_ids
    )
    all_warnings = list(warnings)
    if not sentences:
        all_warnings.append("no French sentence was long enough to summarise; the brief is empty")
    flagged = sum(1 for s in sentences if s.flagged)
    if flagged:
        all_warnings.append(f"{flagged} summary sentence(s) have weak support in the sources; check them")
    other = [
        p for d in story.doc_ids for p in index.documents[d].paragraphs if p.kind == "body" and p.lang != "fr"
    ]
    if other:
        langs = ", ".join(sorted({p.lang for p in other}))
        all_warnings.append(f"{len(other)} paragraph(s) not in French ({langs}) were not summarised")
    return Brief(
        story_id=story.story_id, headline_fr=headline_fr, headline_en=headline_en, summary=sentences,
        sources=sources, engines=dict(engines), warnings=tuple(all_warnings),
    )
