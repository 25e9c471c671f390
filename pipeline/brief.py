"""Brief: assemble one story's summary, translations, sources and warnings.

Entry points:
- `choose_headline(story, index) -> str`: the French headline;
- `build_brief(...) -> Brief`;
- `quote_texts(quotes)`, `attach_quotes(brief, story, index, quotes, english) -> Brief`:
  the story's key quotes (`pipeline.quotes`) with their English.

The headline is the title (found by ingest) of the story's document that is
most central to the story; with no title anywhere, the first summary
sentence. The sources table lists every document of the story, with the
paragraphs the summary and the quotes cite.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Mapping, Sequence

from .corpus_index import CorpusIndex
from .model import Brief, Quote, SourceInfo, Story, Summary
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
    quotes: Sequence[Quote] = (),
) -> Brief:
    if len(sentences_en) != len(summary.sentences):
        raise ValueError("one English sentence is needed per French summary sentence")
    sentences = tuple(replace(s, text_en=en) for s, en in zip(summary.sentences, sentences_en))
    all_warnings = list(warnings)
    off_topic: dict[str, int] = {}
    for pid in story.off_topic_paragraph_ids:
        doc_id = index.paragraphs[pid].doc_id
        off_topic[doc_id] = off_topic.get(doc_id, 0) + 1
    for doc_id, n in off_topic.items():
        all_warnings.append(
            f"{index.documents[doc_id].path}: {n} paragraph(s) are about another story and were left out of this brief"
        )
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
        sources=_sources(story, index, sentences, quotes), engines=dict(engines), warnings=tuple(all_warnings),
        quotes=tuple(quotes),
    )


def _sources(story: Story, index: CorpusIndex, sentences: Sequence, quotes: Sequence[Quote]) -> tuple[SourceInfo, ...]:
    used: dict[str, set[int]] = {}
    for item in (*sentences, *quotes):
        for c in item.citations:
            used.setdefault(c.doc_id, set()).add(c.paragraph)
    return tuple(
        SourceInfo(
            file=index.documents[d].path, doc_id=d, title=index.documents[d].title, date=index.documents[d].date,
            lang=index.documents[d].lang, paragraphs_used=tuple(sorted(used.get(d, ()))),
            url=index.documents[d].url, record=index.documents[d].record, notes=index.documents[d].notes,
        )
        for d in story.doc_ids
    )


def quote_texts(quotes: Sequence[Quote]) -> list[str]:
    """The French texts a brief's quotes need in English: the quotes, and speakers described in words."""
    return [*(q.text_fr for q in quotes), *(q.speaker for q in quotes if q.speaker and q.speaker[:1].islower())]


def attach_quotes(brief: Brief, story: Story, index: CorpusIndex, quotes: Sequence[Quote],
                  english: Mapping[str, str]) -> Brief:
    """The brief with the story's key quotes (`pipeline.quotes.extract_quotes`), in French and English,
    and their paragraphs in its sources.

    `english` maps French texts to English (`quote_texts` says which are needed). A quote
    left untranslated is shown in French only, with a warning: quotes never cost the brief.
    """
    if not quotes:
        return brief
    warnings = list(brief.warnings)
    missing = [t for t in quote_texts(quotes) if t not in english]
    if missing:
        warnings.append(f"{len(missing)} quote text(s) could not be translated; they are shown in French only")
    quotes = [
        replace(q, text_en=english.get(q.text_fr, ""),
                speaker_en=english.get(q.speaker, q.speaker) if q.speaker else None)
        for q in quotes
    ]
    return replace(brief, quotes=tuple(quotes), warnings=tuple(warnings),
                   sources=_sources(story, index, brief.summary, quotes))
