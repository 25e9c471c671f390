"""Brief: assemble one story's summary, translations, sources and warnings.

Entry points:
- `choose_headline(story, index) -> str`: the French headline;
- `build_brief(...) -> Brief`;
- `quote_texts(quotes)`, `attach_quotes(brief, story, index, quotes, english) -> Brief`
  (or `translated_quotes`, given to `build_brief`):
  the story's key quotes (`pipeline.quotes`) with their English;
  `english_quotes(quotes, index, dedup_result)` first gives a quote an English
  source gives in that source's words (then it needs no translation);
- `choose_languages(summary, index, dedup_result) -> Summary` and
  `plan_translations(summary, index, dedup_result) -> list[TranslationNeed]`:
  sources first, machine translation only for the rest.

Each summary sentence is given in French and in English by a source that
states it in that language where there is one: the sentence's duplicate group
(`pipeline.dedup`, across languages too) is searched for a member in the
target language, which is then given verbatim, cited, and marked
`en_origin`/`fr_origin = "source"`. Only what no source states in a language
is machine-translated (marked "machine"): French to English, or, for a
summary sentence taken from an English source, English to French.

The headline is the title (found by ingest) of the story's document that is
most central to the story; with no title anywhere, the first summary
sentence. The sources table lists every document of the story, with the
paragraphs the summary and the quotes cite.
"""

from __future__ import annotations

import re
from typing import Mapping, NamedTuple, Sequence

from .corpus_index import CorpusIndex, DocumentCited, sentence_spans
from .dedup import group_of
from .model import (Brief, DedupResult, DupGroup, Paragraph, Quote, RelatedSource, SourceInfo, Story, Summary,
                    SummarySentence, replaced)
from .textsim import ContentWords, tfidf


def choose_headline(story: Story, index: CorpusIndex, summary: Summary) -> str:
    docs = [index.documents[d] for d in story.doc_ids]
    titled = [d for d in docs if d.title]
    if titled:
        words = ContentWords()
        # The story's body: the stems of every body paragraph, in order (the stems of their text joined)
        stemmed: dict[str, list[str]] = {}
        body = [w for d in docs for p in d.paragraphs if p.kind == "body" for w in _stems_of(p, words, stemmed)]
        space = tfidf([words.stems(d.title or "") for d in titled] + [body])
        story_vec = len(titled)
        best = max(range(len(titled)), key=lambda i: (space.cosine(i, story_vec), -i))
        return titled[best].title or ""
    if summary.sentences:
        return summary.sentences[0].text_fr
    return story.story_id


def _stems_of(paragraph: Paragraph, words: ContentWords, stemmed: dict[str, list[str]]) -> list[str]:
    """`words.stems(paragraph.text)`, made from its sentences' stems where white space alone lies between them
    (no word crosses it), each distinct sentence of a story stemmed once (`stemmed`: text -> stems): the copies
    of an article repeat most sentences, and their paragraphs differ by one sentence dropped or reworded."""
    pieces, cursor = [], 0
    for _, start, end in sentence_spans(paragraph):
        gap = paragraph.text[cursor:start]
        if (gap and not gap.isspace()) or (not gap and cursor > 0) or start < cursor:
            return words.stems(paragraph.text)
        pieces.append(paragraph.text[start:end])
        cursor = end
    if paragraph.text[cursor:].strip():
        return words.stems(paragraph.text)
    out: list[str] = []
    for text in pieces:
        if text not in stemmed:
            stemmed[text] = words.stems(text)
        out.extend(stemmed[text])
    return out


# How strongly a member relates to its group's canonical sentence: the closest is preferred.
_RELATION_ORDER = {"exact": 0, "near": 1, "contained": 2, "same_fact": 3}


class TranslationNeed(NamedTuple):
    """A summary text no source gives in `target_lang`: translate `text` from `source_lang`."""

    position: int  # index of the sentence in the summary
    text: str
    source_lang: str
    target_lang: str


def _lang(sid: str, index: CorpusIndex) -> str:
    return index.paragraphs[index.sentences[sid].pid].lang


def _member_in(lang: str, sentence: SummarySentence, index: CorpusIndex,
               groups: dict[str, DupGroup] | None) -> str | None:
    """A source sentence in `lang` that states what this extracted summary sentence states, or None.

    Its duplicate group's members (with `groups`), else its citations (the
    extractive summarizer cites the whole group). Generated sentences (not a
    source sentence verbatim) have none: their citations support them, they
    do not state them.
    """
    if not sentence.citations or sentence.text_fr != sentence.citations[0].text:
        return None
    origin = sentence.citations[0].sid
    sentences, paragraphs = index.sentences, index.paragraphs
    if groups is not None and origin in groups:
        # the closest member in `lang`: the first of the members in `lang` by relation, then score (`min` keeps the
        # first of equals, as a stable sort of all members would), without sorting every member of the group
        found = [m for m in groups[origin].members
                 if m.id in sentences and paragraphs[sentences[m.id].pid].lang == lang]
        return min(found, key=lambda m: (_RELATION_ORDER[m.relation], -m.score)).id if found else None
    return next((c.sid for c in sentence.citations
                 if c.sid in sentences and paragraphs[sentences[c.sid].pid].lang == lang), None)


def choose_languages(summary: Summary, index: CorpusIndex, dedup_result: DedupResult | None = None) -> Summary:
    """The summary with each sentence's French and English taken from a source in that language where one
    states it (verbatim, cited, origin "source"); the rest marked "machine" with empty text, to translate
    (`plan_translations`)."""
    groups = group_of(dedup_result.sentence_groups) if dedup_result is not None else None
    out = []
    sources: dict[str, DocumentCited] = {}  # the documents cited, each made once (`CorpusIndex.cite`)
    for s in summary.sentences:
        extracted = bool(s.citations) and s.text_fr == s.citations[0].text
        origin_lang = _lang(s.citations[0].sid, index) if extracted and s.citations[0].sid in index.sentences else "fr"
        fr_sid = s.citations[0].sid if extracted and origin_lang == "fr" else _member_in("fr", s, index, groups)
        en_sid = s.citations[0].sid if extracted and origin_lang == "en" else _member_in("en", s, index, groups)
        citations = list(s.citations)
        for sid in (fr_sid, en_sid):
            if sid is not None and all(c.sid != sid for c in citations):
                citations.append(index.cite(sid, sources))
        fr_text = index.sentences[fr_sid].text if fr_sid else ("" if origin_lang != "fr" else s.text_fr)
        out.append(replaced(
            s, citations=tuple(citations),
            text_fr=fr_text, fr_origin="source" if fr_sid or origin_lang == "fr" else "machine", fr_sid=fr_sid,
            text_en=index.sentences[en_sid].text if en_sid else "", en_origin="source" if en_sid else "machine",
            en_sid=en_sid,
        ))
    return replaced(summary, sentences=tuple(out))


def plan_translations(summary: Summary, index: CorpusIndex,
                      dedup_result: DedupResult | None = None) -> list[TranslationNeed]:
    """Which summary texts need machine translation, in which direction (after `choose_languages`).

    French to English for every sentence no English source states; into
    French (from the source's language) for a sentence taken from a
    non-French source that no French source states. Nothing else.
    """
    chosen = choose_languages(summary, index, dedup_result)
    needs = []
    for k, (s, c) in enumerate(zip(summary.sentences, chosen.sentences)):
        source_lang = _lang(s.citations[0].sid, index) if s.citations and s.citations[0].sid in index.sentences else "fr"
        if c.fr_origin == "machine":
            needs.append(TranslationNeed(k, s.text_fr, source_lang, "fr"))
        if c.en_origin == "machine":
            text = c.text_fr if c.fr_origin == "source" else s.text_fr
            needs.append(TranslationNeed(k, text, "fr" if c.fr_origin == "source" else source_lang, "en"))
    return needs


def apply_translations(summary: Summary, index: CorpusIndex, dedup_result: DedupResult | None,
                       needs: Sequence[TranslationNeed], translated: Sequence[str]) -> Summary:
    """`choose_languages`, with the machine translations of `plan_translations`' needs filled in."""
    if len(needs) != len(translated):
        raise ValueError("one translation is needed per TranslationNeed")
    chosen = list(choose_languages(summary, index, dedup_result).sentences)
    for need, text in zip(needs, translated):
        field = "text_fr" if need.target_lang == "fr" else "text_en"
        chosen[need.position] = replaced(chosen[need.position], **{field: text})
    return replaced(summary, sentences=tuple(chosen))


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
    dedup_result: DedupResult | None = None,
) -> Brief:
    """The brief. `sentences_en`: an English text per summary sentence (machine translations); a
    sentence an English source states (`choose_languages`) keeps that source sentence instead. A
    summary already through `apply_translations` (every `text_en` filled) may pass `sentences_en=()`."""
    if sentences_en and len(sentences_en) != len(summary.sentences):
        raise ValueError("one English sentence is needed per French summary sentence")
    if not sentences_en:
        sentences = summary.sentences
    else:
        chosen = choose_languages(summary, index, dedup_result).sentences
        sentences = tuple(
            replaced(c, text_fr=c.text_fr or s.text_fr, fr_origin="source" if not c.text_fr else c.fr_origin,
                     text_en=c.text_en if c.en_origin == "source" else en)
            for s, c, en in zip(summary.sentences, chosen, sentences_en)
        )
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
    other = [p for d in story.doc_ids for p in index.documents[d].paragraphs if p.kind == "body" and p.lang != "fr"]
    if other:  # (the paragraphs cited, read only then: most stories are French throughout)
        cited = {c.sid.rsplit(".s", 1)[0] for item in sentences for c in item.citations}
        other = [p for p in other if p.pid not in cited]
    if other:
        langs = ", ".join(sorted({p.lang for p in other}))
        all_warnings.append(f"{len(other)} paragraph(s) not in French ({langs}) are not in the summary")
    given = sum(1 for s in sentences if s.en_origin == "source")
    if given:
        all_warnings.append(f"{given} English summary sentence(s) are given as an English source states them")
    return Brief(
        story_id=story.story_id, headline_fr=headline_fr, headline_en=headline_en, summary=sentences,
        sources=_sources(story, index, sentences, quotes), engines=dict(engines), warnings=tuple(all_warnings),
        quotes=tuple(quotes),
        related=tuple(RelatedSource(index.documents[r.doc_id].path, index.documents[r.doc_id].title, r.story_id,
                                    r.score, r.reason) for r in story.related if r.doc_id in index.documents),
    )


def _sources(story: Story, index: CorpusIndex, sentences: Sequence, quotes: Sequence[Quote]) -> tuple[SourceInfo, ...]:
    used: dict[str, set[int]] = {}
    # the distinct (document, paragraph) pairs first: a summary cites every copy of its sentences, the same
    # paragraphs many times over
    for doc_id, paragraph in {(c.doc_id, c.paragraph) for item in (*sentences, *quotes) for c in item.citations}:
        used.setdefault(doc_id, set()).add(paragraph)
    documents = (index.documents[d] for d in story.doc_ids)
    return tuple(
        SourceInfo(file=doc.path, doc_id=doc.doc_id, title=doc.title, date=doc.date, lang=doc.lang,
                   paragraphs_used=tuple(sorted(used.get(doc.doc_id, ()))), url=doc.url, record=doc.record,
                   notes=doc.notes)
        for doc in documents
    )


_ENGLISH_QUOTE = re.compile(r"[\"“]([^\"“”]{3,}?)[\"”]")


def _english_quote(quote: Quote, index: CorpusIndex, groups: dict[str, DupGroup]) -> tuple[str, str] | None:
    """(words, sid) of the quotation an English source gives for this quote: an English sentence in the
    duplicate group of a sentence that contains it, quoting something ("..." or “...”).

    Each group is read once: a quote cites every copy of its sentence, and the copies share a group."""
    seen: set[str] = set()
    for c in quote.citations:
        group = groups.get(c.sid)
        if group is None or group.group_id in seen:
            continue
        seen.add(group.group_id)
        for m in group.members:
            if m.id in index.sentences and _lang(m.id, index) == "en":
                found = _ENGLISH_QUOTE.findall(index.sentences[m.id].text)
                if found:
                    return max(found, key=len).strip(), m.id
    return None


def english_quotes(quotes: Sequence[Quote], index: CorpusIndex, dedup_result: DedupResult) -> list[Quote]:
    """The quotes, those an English source gives quoted in English as that source words them
    (`en_origin = "source"`, the English sentence cited); call before `quote_texts`, which then
    leaves them out of translation."""
    groups = group_of(dedup_result.sentence_groups)
    given = [_english_quote(q, index, groups) for q in quotes]
    return [q if g is None else
            replaced(q, text_en=g[0], en_origin="source", citations=(*q.citations, index.cite(g[1])))
            for q, g in zip(quotes, given)]


def quote_texts(quotes: Sequence[Quote]) -> list[str]:
    """The French texts a brief's quotes need in English: the quotes (but those an English source
    gives, `english_quotes`), and speakers described in words."""
    return [*(q.text_fr for q in quotes if q.en_origin != "source"),
            *(q.speaker for q in quotes if q.speaker and q.speaker[:1].islower())]


def attach_quotes(brief: Brief, story: Story, index: CorpusIndex, quotes: Sequence[Quote],
                  english: Mapping[str, str]) -> Brief:
    """The brief with the story's key quotes (`pipeline.quotes.extract_quotes`), in French and English,
    and their paragraphs in its sources.

    `english` maps French texts to English (`quote_texts` says which are needed); a quote an
    English source gives (`english_quotes`) keeps that source's words. A quote
    left untranslated is shown in French only, with a warning: quotes never cost the brief.
    """
    if not quotes:
        return brief
    translated, warnings = translated_quotes(quotes, english)
    return replaced(brief, quotes=translated, warnings=(*brief.warnings, *warnings),
                    sources=_sources(story, index, brief.summary, translated))


def translated_quotes(quotes: Sequence[Quote], english: Mapping[str, str]) -> tuple[tuple[Quote, ...], list[str]]:
    """The quotes with their English (as `attach_quotes` gives them), and the warning to add after the brief's
    own when some are left untranslated. `build_brief(..., quotes=...)` with these quotes, then these
    warnings after its own, is `attach_quotes` of the brief built without quotes (made once, not twice)."""
    if not quotes:
        return (), []
    missing = [t for t in quote_texts(quotes) if t not in english]
    warnings = [f"{len(missing)} quote text(s) could not be translated; they are shown in French only"] \
        if missing else []
    return tuple(
        replaced(q, text_en=q.text_en if q.en_origin == "source" else english.get(q.text_fr, ""),
                 speaker_en=english.get(q.speaker, q.speaker) if q.speaker else None)
        for q in quotes
    ), warnings
