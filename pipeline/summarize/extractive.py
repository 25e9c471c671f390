"""Extractive multi-document French summarizer (the default backend).

Entry point: `summarize_story(story, index, dedup_result, settings) -> Summary`.

Candidates are the French sentences of the story's unique body paragraphs.
Each gets a salience score, a weighted sum of signals:

- centrality: TF-IDF cosine (content-word stems) with the story's centroid,
  relative to the most central candidate;
- support: how many documents report it (its sentence dedup group,
  including same-fact rewordings), relative to the story's size;
- position in its article: 1/sqrt(position), plus a bonus for the second
  sentence: a French news article often opens on a hook ("Sur les réseaux
  sociaux, les images sont impressionnantes.") and states the news next;
- length: longer sentences (up to `_FULL_LENGTH` words) carry more of the
  story;
- names: sentences naming people, places and organisations carry facts;
- quotations: a sentence with a quotation is a voice in the story, not its
  summary (quotes have their own section of the brief).

The weights were fitted on the OrangeSum validation set (README, "Measuring
quality"). A sentence that opens with a pronoun or a connective pointing back
at text the reader will not see ("Elle indique…", "Et celle-ci…",
"Cependant…") has its salience multiplied by `_DEPENDENT_PENALTY`, so a
self-contained report of the same fact is preferred.

Sentences are then picked greedily by maximal marginal relevance
(`salience_weight` * salience - (1 - salience_weight) * redundancy with
what is already chosen), skipping any sentence more similar than
`redundancy_threshold` to a chosen one, until `sentences` are chosen or the
word budget `max_words` is spent. Every chosen sentence cites itself and every
member of its dedup group: duplicates are evidence.
"""

from __future__ import annotations

import math
import re

from ..config import SummarizeSettings
from ..corpus_index import CorpusIndex
from ..dedup import group_of
from ..model import DedupResult, Sentence, Story, Summary, SummarySentence
from ..textsim import ContentWords, names, tfidf

ENGINE = "extractive (centrality + support + position, MMR)"
_WORD = re.compile(r"\w+")
_DEPENDENT_START = re.compile(
    r"^[«\"]?\s*(et|mais|or|donc|car|ainsi|puis|alors|cependant|toutefois|pourtant|néanmoins|"
    r"en outre|de plus|par ailleurs|elle|il|elles|ils|celle-ci|celui-ci|ceux-ci|celles-ci|cela|ceci|ça|"
    r"c'est|ce|cette|cet|ces|dans le cadre de cette)\b",
    re.IGNORECASE,
)
_DEPENDENT_PENALTY = 0.6
_FULL_LENGTH = 35  # words; longer sentences get no more length credit
_MAX_NAMES = 5
_QUOTE = re.compile(r'[«»"]')
_WEIGHTS = {"centrality": 0.9, "support": 0.3, "position": 0.25, "second": 0.25, "length": 1.05,
            "names": 0.15, "quote": -0.3}


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


def _candidates(story: Story, index: CorpusIndex, settings: SummarizeSettings) -> list[tuple[Sentence, int]]:
    """(sentence, position in its document) for usable French sentences."""
    out: list[tuple[Sentence, int]] = []
    keep = set(story.paragraph_ids)
    for doc_id in story.doc_ids:
        position = 0
        for p in index.documents[doc_id].paragraphs:
            if p.kind != "body":
                continue
            for s in p.sentences:
                position += 1
                if p.pid not in keep or p.lang != "fr":
                    continue
                n = len(_WORD.findall(s.text))
                if settings.min_sentence_words <= n <= settings.max_sentence_words:
                    out.append((s, position))
    return out


def summarize_story(story: Story, index: CorpusIndex, dedup_result: DedupResult, settings: SummarizeSettings) -> Summary:
    candidates = _candidates(story, index, settings)
    if not candidates:
        return Summary(story.story_id, (), ENGINE)
    words = ContentWords()
    space = tfidf([words.stems(s.text) for s, _ in candidates])
    centrality = space.centroid_scores()
    groups = group_of(dedup_result.sentence_groups)
    n_docs = len(story.doc_ids)

    def sources(s: Sentence) -> list[str]:
        group = groups.get(s.sid)
        return [m.id for m in group.members] if group else [s.sid]

    def support(s: Sentence) -> float:
        docs = {index.sentences[sid].pid.split(":")[0] for sid in sources(s)}
        return math.log1p(len(docs)) / math.log1p(n_docs) if n_docs > 1 else 1.0

    max_c = max(centrality) or 1.0

    def salience_of(i: int, s: Sentence, pos: int) -> float:
        signals = {
            "centrality": centrality[i] / max_c,
            "support": support(s),
            "position": 1 / math.sqrt(pos),
            "second": float(pos == 2),
            "length": min(len(_WORD.findall(s.text)), _FULL_LENGTH) / _FULL_LENGTH,
            "names": min(len(names(s.text)), _MAX_NAMES) / _MAX_NAMES,
            "quote": float(bool(_QUOTE.search(s.text))),
        }
        score = sum(_WEIGHTS[k] * v for k, v in signals.items())
        return score * (_DEPENDENT_PENALTY if is_context_dependent(s.text) else 1.0)

    salience = [salience_of(i, s, pos) for i, (s, pos) in enumerate(candidates)]

    chosen: list[int] = []
    covered: set[str] = set()
    budget = settings.max_words
    order = sorted(range(len(candidates)), key=lambda i: -salience[i])
    while len(chosen) < settings.sentences:
        best, best_score = None, -math.inf
        for i in order:
            if i in chosen or candidates[i][0].sid in covered:
                continue
            n = len(_WORD.findall(candidates[i][0].text))
            if n > budget:
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
        covered.update(sources(candidates[best][0]))
        budget -= len(_WORD.findall(candidates[best][0].text))

    out = []
    for i in chosen:
        s = candidates[i][0]
        cited = [s.sid] + [sid for sid in sources(s) if sid != s.sid]
        out.append(SummarySentence(text_fr=s.text, citations=tuple(index.cite(sid) for sid in cited), support=1.0))
    return Summary(story.story_id, tuple(out), ENGINE)
