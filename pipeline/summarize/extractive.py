"""Extractive multi-document French summarizer (the default backend).

Entry point: `summarize_story(story, index, dedup_result, settings) -> Summary`.

Candidates are the French sentences of the story's unique body paragraphs,
made readable on their own first (`readable_pieces`): a headline line glued
to the first sentence of a paragraph (a file whose title line is followed by
text with no blank line between) is cut off; a sentence over
`max_sentence_words` is split at its bullets, or shortened at a clause
boundary, instead of being skipped. Each candidate gets a salience score, a
weighted sum of signals:

- centrality: TF-IDF cosine (content-word stems) with the story's centroid,
  relative to the most central candidate;
- support: how many documents report it (its sentence dedup group,
  including same-fact rewordings), relative to the story's size;
- coverage (stories of several documents): the share of the other documents
  that use each of its content words, averaged over its words, so facts that
  several sources state score high even when no source repeats the sentence;
- position in its article: 1/sqrt(position), plus a bonus for the second
  sentence: a French news article often opens on a hook ("Sur les réseaux
  sociaux, les images sont impressionnantes.") and states the news next;
  a story of several articles weighs their openings (the leads) instead;
- length: longer sentences (up to `_FULL_LENGTH` words) carry more of the
  story;
- names: sentences naming people, places and organisations carry facts;
- quotations: a sentence with a quotation is a voice in the story, not its
  summary (quotes have their own section of the brief);

The single-article weights were fitted on the OrangeSum validation set, the
several-article ones on the RPM2 dev clusters (README, "Measuring quality").
A sentence that opens with a pronoun or a connective pointing back at text
the reader will not see ("Elle indique…", "Et celle-ci…", "Cependant…") has
its salience multiplied by `_DEPENDENT_PENALTY`, so a self-contained report of the same fact is preferred; a
shortened sentence by `_SHORTENED_PENALTY`.

Sentences are then picked greedily by maximal marginal relevance
(`salience_weight` * salience - (1 - salience_weight) * redundancy with
what is already chosen), skipping any sentence more similar than
`redundancy_threshold` to a chosen one, until `sentences` are chosen or the
word budget `max_words` is spent. They stay most salient first, except that
when every article of the story is dated, sentences follow the articles'
dates. Every chosen sentence cites its source sentence
and every member of its dedup group: duplicates are evidence.

A story with text never gets an empty summary: when no sentence has
`min_sentence_words`, shorter ones are used, then headings.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..config import SummarizeSettings
from ..corpus_index import CorpusIndex
from ..dedup import group_of
from ..model import DedupResult, Paragraph, Sentence, Story, Summary, SummarySentence
from ..textsim import ContentWords, names, tfidf

ENGINE = "extractive (centrality + support + coverage + position, MMR)"
_WORD = re.compile(r"\w+")
_DEPENDENT_START = re.compile(
    r"^[«\"]?\s*(et|mais|or|donc|car|ainsi|puis|alors|cependant|toutefois|pourtant|néanmoins|"
    r"en outre|de plus|par ailleurs|elle|il|elles|ils|celle-ci|celui-ci|ceux-ci|celles-ci|cela|ceci|ça|"
    r"c'est|ce|cette|cet|ces|dans le cadre de cette)\b",
    re.IGNORECASE,
)
_DEPENDENT_PENALTY = 0.6
_SHORTENED_PENALTY = 0.8
_FULL_LENGTH = 35  # words; longer sentences get no more length credit
_MAX_NAMES = 5
_QUOTE = re.compile(r'[«»"]')
_WEIGHTS = {"centrality": 0.9, "support": 0.3, "position": 0.25, "second": 0.25, "length": 1.05,
            "names": 0.15, "quote": -0.3, "coverage": 0.0}
# Several articles: sources agreeing (support, coverage) and the articles' leads count more, length
# less (a 100-word summary of ten articles needs more, shorter facts); fitted on RPM2 dev.
_MULTI_WEIGHTS = {**_WEIGHTS, "support": 0.6, "coverage": 0.5, "position": 0.5, "second": 0.0, "length": 0.3}


# Openings that look dependent but are not: "Ce mardi", "Cette semaine" (a
# date), impersonal "Il faut", "Il y a", "Il est possible de".
_SELF_CONTAINED_START = re.compile(
    r"^[«\"]?\s*(?:(?:ce|cette|cet|ces)\s+(?:(?:lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|matin|soir|"
    r"week-end|weekend|jour|nuit|mois|semaine|année|an|printemps|été|automne|hiver|midi|après-midi)\b|\d)|"
    r"il\s+(?:y\s+a|y\s+avait|faut|fallait|faudra|faudrait|reste|manque|semble|s'agit|suffit|"
    r"est\s+(?:possible|impossible|difficile|nécessaire|important|probable|temps)\b))",
    re.IGNORECASE,
)


def is_context_dependent(text: str) -> bool:
    """True when a sentence opens by pointing back at earlier text."""
    return bool(_DEPENDENT_START.match(text)) and not _SELF_CONTAINED_START.match(text)


# --- readable pieces: glued headlines, bullets, sentences over the cap -------------------------

# A headline line glued to the text ("Ingrid Betancourt est libre L'armée colombienne a libéré…")
# ends before a capitalised word that opens French sentences, after a word with no punctuation.
_GLUE = re.compile(r"(?<=[\w»\")])\s+(?=«?\s*(?:Le|La|Les|L'|Un|Une|Des|Du|D'|De|Au|Aux|Il|Elle|Ils|Elles|On|C'|Ce|Cet|"
                   r"Cette|Ces|Son|Sa|Ses|Leur|Leurs|Selon|Après|Avant|Pour|Dans|En|Depuis|Lors|Alors|Si|Sur|Par|"
                   r"Pendant|Malgré|Face|Quelques|Plusieurs|Tous|Toutes|Comme|Avec|Entre|Quand|Lorsque|Dès|Hier|"
                   r"Lundi|Mardi|Mercredi|Jeudi|Vendredi|Samedi|Dimanche|Deux|Trois|Quatre|Cinq|Six|Dix)\b)")
# ... but not after a word that cannot end a headline ("parlé à Le Monde").
_NOT_HEADLINE_END = re.compile(r"\b(?:à|a|de|du|des|le|la|les|l|d|un|une|et|ou|en|par|pour|avec|sur|sous|dans|chez|"
                               r"que|qui|selon|vers|entre|contre|son|sa|ses|leur|leurs|ce|cette|est|sont)\W*$",
                               re.IGNORECASE)
_MIN_HEADLINE_WORDS = 2
_MAX_HEADLINE_WORDS = 25
# Bullets of a list joined into one "sentence": a bullet sign, or (two at least) a dash or "1." / "2)"
# before a capital.
_BULLET_SIGN = re.compile(r"(?:^|\s)[•▪●◦►■▶→✓✔*]\s*")
_BULLET = re.compile(r"(?:^|\s)(?:[•▪●◦►■▶→✓✔*]|[-–—](?=\s)|\d{1,2}[.)](?=\s+[A-ZÀ-Ý]))\s*")
# Where a clause ends: after a comma, semicolon, colon, dash or closing parenthesis, or before a
# conjunction or relative pronoun.
_CLAUSE_END = re.compile(r"[,;:)»](?=\s)|\s[–—-](?=\s)|(?<=\w)(?=\s+(?:et|mais|ou|qui|que|qu'|dont|où|car|puis|"
                         r"alors que|tandis que|afin de|afin que|pour|avant de|après|lorsque|quand|si)\b)")
_ELLIPSIS = "…"


def _words(text: str) -> int:
    return len(_WORD.findall(text))


# A wire dateline after a headline: "… retrouve ses enfants BOGOTA (Reuters) - L'ex-otage …".
_DATELINE = re.compile(r"(?:^|\s)[A-ZÀ-Ý][A-ZÀ-Ý' -]{2,}\s*\((?:AFP|Reuters|AP|Belga|ATS)\)\s*[-–—:]\s*")


def cut_headline(text: str) -> tuple[str, str]:
    """(headline, rest) when `text` opens with a headline line glued to a sentence, else ("", text).

    The headline ends at a wire dateline ("BOGOTA (Reuters) -"), or where a capitalised sentence
    opener ("Le", "L'", "Selon", …) follows a word with no punctuation (nor a preposition or an
    article), after `_MIN_HEADLINE_WORDS` to `_MAX_HEADLINE_WORDS` words. Call it only for a
    sentence that spans several lines of its file (the line break is the evidence).
    """
    dateline = _DATELINE.search(text)
    if dateline and _words(text[:dateline.start()]) <= _MAX_HEADLINE_WORDS:
        return text[:dateline.start()].strip(), text[dateline.end():]
    for m in _GLUE.finditer(text):
        head, rest = text[:m.start()], text[m.end():]
        if _words(head) > _MAX_HEADLINE_WORDS:
            break
        if _NOT_HEADLINE_END.search(head):
            continue
        if _words(head) >= _MIN_HEADLINE_WORDS and _words(rest) >= _MIN_HEADLINE_WORDS:
            return head, rest
    return "", text


def split_bullets(text: str) -> list[str]:
    """The items of a list joined into one sentence, without their bullets, else [text].

    A bullet sign ("•", "►", …) always starts an item; dashes and "1." only when there are two.
    """
    marks = list(_BULLET.finditer(text))
    if len(marks) < 2 and not _BULLET_SIGN.search(text):
        return [text]
    pieces = [text[:marks[0].start()]] + [
        text[m.end():(marks[i + 1].start() if i + 1 < len(marks) else len(text))] for i, m in enumerate(marks)
    ]
    return [p.strip() for p in pieces if _words(p) > 0]


def _quotes_closed(text: str) -> bool:
    return text.count("«") == text.count("»") and text.count('"') % 2 == 0


def shorten(text: str, cap: int) -> str:
    """`text` if it has at most `cap` words, else its longest opening that ends a clause within `cap`
    words (at least a third of them) outside any quotation, else its first `cap` words; a shortened
    text ends with "…"."""
    if _words(text) <= cap:
        return text
    best = 0
    for m in _CLAUSE_END.finditer(text):
        end = m.start() + (1 if m.group(0)[:1] in ",;:)»" else 0)
        n = _words(text[:end])
        if n > cap:
            break
        if n >= max(cap // 3, 1) and _quotes_closed(text[:end]):
            best = end
    if not best:
        words = list(_WORD.finditer(text))
        best = words[cap - 1].end()
    return text[:best].rstrip(" ,;:–—-") + _ELLIPSIS


def readable_pieces(sentence: Sentence, cap: int) -> list[tuple[str, bool]]:
    """The texts a summary may show for a source sentence, each with True when it was shortened.

    A headline glued to the sentence (only when the sentence spans several lines) is cut off; a
    sentence with bullet signs, or over `cap` words, is split at its bullets, and each piece still
    over `cap` is shortened at a clause boundary.
    """
    text = sentence.text
    if sentence.line_end > sentence.line_start:
        _, text = cut_headline(text)
    if _words(text) <= cap and not _BULLET_SIGN.search(text):
        return [(text, False)]  # most sentences: whole (what `shorten` gives a text within `cap`), words counted once
    return [(shorten(p, cap), _words(p) > cap) for p in split_bullets(text)]


# --- candidates -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    sentence: Sentence  # the source sentence, cited first
    text: str  # what the summary shows: the sentence, or a readable piece of it
    position: int  # 1-based, among the readable pieces of its document's body
    doc_rank: int  # the document's place in the story
    shortened: bool


def _pieces_of(paragraphs: list[tuple[int, Paragraph]], keep: set[str], cap: int, min_words: int) -> list[Candidate]:
    out: list[Candidate] = []
    position: dict[int, int] = {}
    # a sentence's pieces depend on its text and whether it spans several lines (`readable_pieces`); the copies
    # of an article repeat most sentences: each distinct one is cut once
    pieces: dict[tuple[str, bool], list[tuple[str, bool]]] = {}
    for rank, p in paragraphs:
        for s in p.sentences:
            shape = (s.text, s.line_end > s.line_start)
            if shape not in pieces:
                pieces[shape] = readable_pieces(s, cap)
            for text, shortened in pieces[shape]:
                position[rank] = position.get(rank, 0) + 1
                if p.pid in keep and _words(text) >= min_words:
                    out.append(Candidate(s, text, position[rank], rank, shortened))
    return out


def candidates(story: Story, index: CorpusIndex, settings: SummarizeSettings) -> list[Candidate]:
    """Readable pieces of the story's French body sentences, with their position in their article.

    Never empty when the story has French text: without any piece of `min_sentence_words`, shorter
    ones are used, then the documents' headings. A story with no French text is read in
    `fallback_languages` the same way (the brief translates what it takes into French).
    """
    cap = min(settings.max_sentence_words, settings.max_words)
    docs = [index.documents[d] for d in story.doc_ids]
    keep = set(story.paragraph_ids)
    for langs in ({"fr"}, set(settings.fallback_languages)):  # French first; else the story's own language
        body = [(rank, p) for rank, d in enumerate(docs) for p in d.paragraphs if p.kind == "body" and p.lang in langs]
        found = _pieces_of(body, keep, cap, settings.min_sentence_words) or _pieces_of(body, keep, cap, 1)
        if found:
            return found
        headings = [(rank, p) for rank, d in enumerate(docs) for p in d.paragraphs
                    if p.kind == "heading" and p.lang in langs]
        found = _pieces_of(headings, {p.pid for _, p in headings}, cap, 1)
        if found:
            return found
    return []


# --- salience, selection, order -------------------------------------------------------------------------


def _coverage(stems: list[list[str]], doc_of: list[int], n_docs: int) -> list[float]:
    """Per candidate: the mean, over its distinct content stems, of the share of the story's other
    documents that use the stem."""
    if n_docs < 2:
        return [0.0] * len(stems)
    docs_with: dict[str, set[int]] = {}
    for words, doc in zip(stems, doc_of):
        for w in words:
            docs_with.setdefault(w, set()).add(doc)
    out = []
    for words in stems:
        distinct = dict.fromkeys(words)  # not a set: a float sum in hash order changes with PYTHONHASHSEED
        out.append(sum((len(docs_with[w]) - 1) / (n_docs - 1) for w in distinct) / len(distinct) if distinct else 0.0)
    return out


def summarize_story(story: Story, index: CorpusIndex, dedup_result: DedupResult,
                    settings: SummarizeSettings) -> Summary:
    found = candidates(story, index, settings)
    if not found:
        return Summary(story.story_id, (), ENGINE)
    words = ContentWords()
    stems = [words.stems(c.text) for c in found]
    lengths = [_words(c.text) for c in found]  # counted once: the selection below reads them at every pick
    space = tfidf(stems)
    centrality = space.centroid_scores()
    groups = group_of(dedup_result.sentence_groups)
    n_docs = len(story.doc_ids)
    multi = n_docs > 1
    weights = _MULTI_WEIGHTS if multi else _WEIGHTS
    coverage = _coverage(stems, [c.doc_rank for c in found], n_docs)
    max_cov = max(coverage) or 1.0

    def sources(s: Sentence) -> list[str]:
        group = groups.get(s.sid)
        return [m.id for m in group.members] if group else [s.sid]

    spans: dict[str, int] = {}  # dedup group -> documents it spans (every copy of a sentence is in one group)

    def support(s: Sentence) -> float:
        if not multi:
            return 1.0
        group = groups.get(s.sid)
        if group is None:
            return math.log1p(1) / math.log1p(n_docs)
        if group.group_id not in spans:
            spans[group.group_id] = len({index.sentences[m.id].pid.split(":")[0] for m in group.members})
        return math.log1p(spans[group.group_id]) / math.log1p(n_docs)

    max_c = max(centrality) or 1.0

    def salience_of(i: int, c: Candidate) -> float:
        signals = {
            "centrality": centrality[i] / max_c,
            "support": support(c.sentence),
            "coverage": coverage[i] / max_cov,
            "position": 1 / math.sqrt(c.position),
            "second": float(c.position == 2),
            "length": min(lengths[i], _FULL_LENGTH) / _FULL_LENGTH,
            "names": min(len(names(c.text)), _MAX_NAMES) / _MAX_NAMES,
            "quote": float(bool(_QUOTE.search(c.text))),
        }
        score = sum(weights[k] * v for k, v in signals.items())
        if is_context_dependent(c.text):
            score *= _DEPENDENT_PENALTY
        return score * (_SHORTENED_PENALTY if c.shortened else 1.0)

    salience = [salience_of(i, c) for i, c in enumerate(found)]

    chosen: list[int] = []
    covered: set[str] = set()
    budget = settings.max_words
    order = sorted(range(len(found)), key=lambda i: -salience[i])
    while len(chosen) < settings.sentences:
        best, best_score = None, -math.inf
        for i in order:
            if i in chosen or found[i].sentence.sid in covered:
                continue
            if lengths[i] > budget:
                continue
            redundancy = max((space.cosine(i, j) for j in chosen), default=0.0)
            if redundancy > settings.redundancy_threshold:
                continue
            score = settings.salience_weight * salience[i] - (1 - settings.salience_weight) * redundancy
            if score > best_score:
                best, best_score = i, score
        if best is None:
            break
        chosen.append(best)
        covered.update(sources(found[best].sentence))
        budget -= lengths[best]

    # Most salient first (a news summary's inverted pyramid); sentences of dated articles in date
    # order, stable (a sort by position in the articles cost 0.7 R-L on RPM2 dev).
    dates = [index.documents[d].date for d in story.doc_ids]
    if all(dates):
        chosen.sort(key=lambda i: dates[found[i].doc_rank] or "")
    out = []
    for i in chosen:
        s = found[i].sentence
        cited = [s.sid] + [sid for sid in sources(s) if sid != s.sid]
        out.append(SummarySentence(text_fr=found[i].text, citations=tuple(index.cite(sid) for sid in cited),
                                   support=1.0))
    return Summary(story.story_id, tuple(out), ENGINE)
