"""Content-word similarity shared by dedup, stories and the summarizer.

Words are lowercased `\\w+` tokens (accents kept); French stop words come from
the `stop-words` package and stems from Snowball's French stemmer. Texts are
compared as TF-IDF vectors of content-word stems (cosine), with the IDF taken
from the collection at hand, so common words of the story weigh little.

Numbers and names carry facts: `facts_conflict` says when two otherwise
similar texts state different ones ("100 millions" vs "1 milliard").
"""

from __future__ import annotations

import math
import re
from collections import Counter
from functools import lru_cache
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import snowballstemmer
from stop_words import get_stop_words

_WORD = re.compile(r"\w+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
# A capitalised word that does not start a sentence or follow an opening quote.
_NAME = re.compile(r"(?<![.!?«\"]\s)(?<!^)\b([A-ZÉÈÀÂÎÔÛÇ][\w-]+)")
# Stop-word lists (package `stop-words`) by ISO 639-1 code, for the languages ingest identifies.
LANGUAGE_NAMES = {"fr": "french", "en": "english", "es": "spanish", "it": "italian", "pt": "portuguese",
                  "de": "german", "nl": "dutch", "ca": "catalan"}


class ContentWords:
    """French content-word stems of a text."""

    def __init__(self, language: str = "french") -> None:
        self._stop = frozenset(get_stop_words(language))
        self._stemmer = snowballstemmer.stemmer(language)

    def words(self, text: str) -> list[str]:
        return [w for w in _WORD.findall(text.lower()) if w not in self._stop and len(w) > 1 and not w.isdigit()]

    def stems(self, text: str) -> list[str]:
        return self._stemmer.stemWords(self.words(text))

    def stem_words(self, words: list[str]) -> list[str]:
        return self._stemmer.stemWords(words)

    def stem(self, word: str) -> str:
        return self._stemmer.stemWord(word)

    @property
    def stop_words(self) -> frozenset[str]:
        return self._stop


# Same-fact terms (see `fact_terms`): stems cut to this many letters, and numbers weighted this much.
FACT_STEM_LETTERS = 6
FACT_NUMBER_WEIGHT = 2.0


def fact_terms(text: str, words: ContentWords) -> list[str]:
    """Terms for comparing the facts two sentences state: content-word stems and numbers.

    Stems are cut to `FACT_STEM_LETTERS` letters so that the forms of one word
    meet where Snowball keeps them apart ("interdiction", "interdire",
    "interdisons" -> "interd"; "annonce", "annoncé"). Numbers, which
    `ContentWords` leaves out, are terms of their own together with what they
    count ("15 septembre" -> "#15 septem", "entre 15 et 30 milliards" ->
    "#15 millia", "#30 millia"), so "2 milliards" does not meet "2 août"; give
    them `FACT_NUMBER_WEIGHT` with `fact_weight` in `tfidf`. Weekday names
    are left out: most facts of a news story happen on one of a few days, so a
    shared "vendredi" is no evidence of one fact (and another weekday is a
    conflict, `dates_conflict`).
    """
    return fact_terms_and_stems(text, words)[0]


def fact_terms_and_stems(text: str, words: ContentWords) -> tuple[list[str], list[str]]:
    """`fact_terms` and `ContentWords.stems` of a text, its words found and stemmed once for both."""
    found = words.words(text)
    stems = words.stem_words(found)
    terms = [stem[:FACT_STEM_LETTERS] for w, stem in zip(found, stems) if w not in _WEEKDAYS]
    for m in _NUMBER.finditer(text):
        rest = text[m.end(): m.end() + 60]
        following = [w for w in _WORD.findall(rest.lower()) if not w.isdigit() and w not in words.stop_words][:1]
        if rest.lstrip().startswith("%"):
            unit = "%"
        else:
            unit = words.stem(following[0])[:FACT_STEM_LETTERS] if following else ""
        terms.append(f"#{m.group().replace(',', '.')} {unit}".rstrip())
    return terms, stems


def fact_weight(term: str) -> float:
    return FACT_NUMBER_WEIGHT if term.startswith("#") else 1.0


@dataclass(frozen=True)
class TfidfSpace:
    """L2-normalised TF-IDF vectors of a fixed collection of texts."""

    vectors: tuple[dict[str, float], ...]
    idf: dict[str, float]

    def cosine(self, a: int, b: int) -> float:
        va, vb = self.vectors[a], self.vectors[b]
        if len(va) > len(vb):
            va, vb = vb, va
        return sum(x * vb.get(w, 0.0) for w, x in va.items())

    def centroid_scores(self) -> list[float]:
        """Cosine of each text with the collection's mean vector (centrality)."""
        total: Counter[str] = Counter()
        for v in self.vectors:
            total.update(v)
        norm = math.sqrt(sum(x * x for x in total.values())) or 1.0
        return [sum(x * total[w] for w, x in v.items()) / norm for v in self.vectors]


def tfidf(stem_lists: Sequence[Sequence[str]], weight: Callable[[str], float] | None = None) -> TfidfSpace:
    """TF-IDF space of the texts' terms; `weight(term)` multiplies a term's weight (default 1)."""
    n = len(stem_lists)
    df: Counter[str] = Counter(w for stems in stem_lists for w in set(stems))
    idf = {w: math.log((1 + n) / (1 + d)) + 1.0 for w, d in df.items()}
    if weight is not None:
        idf = {w: x * weight(w) for w, x in idf.items()}
    vectors = []
    for stems in stem_lists:
        counts = Counter(stems)
        v = {w: (1.0 + math.log(c)) * idf[w] for w, c in counts.items()}
        z = math.sqrt(sum(x * x for x in v.values())) or 1.0
        vectors.append({w: x / z for w, x in v.items()})
    return TfidfSpace(tuple(vectors), idf)


# Numbers written as words count as the number ("deux" and "2" agree, "deux" and "quatre" do not).
# Left out: "un"/"une" (articles), "neuf" (also "new"), "sept" before a full stop ("sept. 2020");
# English "one" (a pronoun too).
_COUNT_WORDS = {w: str(n) for n, w in enumerate(
    "zéro _ deux trois quatre cinq six sept huit _ dix onze douze treize quatorze quinze seize".split()) if w != "_"}
_COUNT_WORDS |= {"vingt": "20", "trente": "30", "quarante": "40", "cinquante": "50", "soixante": "60"}
_COUNT_WORDS_EN = {w: str(n) for n, w in enumerate(
    "zero _ two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen".split())
    if w != "_"}
_COUNT_WORDS_EN |= {"twenty": "20", "thirty": "30", "forty": "40", "fifty": "50", "sixty": "60"}
_SCALE_WORDS = {"million": "e6", "millions": "e6", "milliard": "e9", "milliards": "e9", "mille": "e3",
                "cent": "e2", "cents": "e2"}
_SCALE_WORDS_EN = {"million": "e6", "millions": "e6", "billion": "e9", "billions": "e9", "thousand": "e3",
                   "thousands": "e3", "hundred": "e2", "hundreds": "e2"}
_SEPT_ABBREVIATION = re.compile(r"\bsept\.", re.IGNORECASE)


def numbers(text: str, lang: str = "fr") -> frozenset[str]:
    """Numbers and number words as canonical values, read by the conventions of `lang`.

    French: "1 000", "2.600" (a point before three digits groups thousands),
    "2,5" (decimal comma); English: "1,000", "2.5". So "2.600" in French and
    "2,600" in English are both "2600", "2,5" and "2.5" both "2.5". Number
    words count as the number ("deux", "two" -> "2"); scale words as powers
    ("million" -> "e6", "milliard" and "billion" -> "e9").
    """
    text = text.replace("\u202f", " ").replace("\xa0", " ")
    found = {_canonical_number(m.group(), lang) for m in _GROUPED_NUMBER[lang == "en"].finditer(text)}
    words = _WORD.findall(_SEPT_ABBREVIATION.sub(" ", text).lower()) if lang != "en" else _WORD.findall(text.lower())
    count_words, scale_words = (_COUNT_WORDS_EN, _SCALE_WORDS_EN) if lang == "en" else (_COUNT_WORDS, _SCALE_WORDS)
    found |= {scale_words[w] for w in words if w in scale_words}
    found |= {count_words[w] for w in words if w in count_words}
    return frozenset(found)


# A number with its group separators: French "1 000 000", "2.600", "3,5"; English "1,000,000", "3.5".
_GROUPED_NUMBER = (re.compile(r"\d{1,3}(?:[ .]\d{3})+(?:,\d+)?(?!\d)|\d+(?:,\d+)?"),
                   re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?(?!\d)|\d+(?:\.\d+)?"))


def _canonical_number(token: str, lang: str) -> str:
    if lang == "en":
        whole, _, frac = token.replace(",", "").partition(".")
    else:
        whole, _, frac = token.replace(" ", "").replace(".", "").partition(",")
    whole = whole.lstrip("0") or "0"
    frac = frac.rstrip("0")
    return f"{whole}.{frac}" if frac else whole


@lru_cache(maxsize=1 << 16)
def names(text: str) -> frozenset[str]:
    """Memoised: dedup checks each text against many candidates (`_name_swap`)."""
    return frozenset(m.casefold() for m in _NAME.findall(text))


def _disagree(a: frozenset[str], b: frozenset[str]) -> bool:
    return bool(a) and bool(b) and not (a <= b or b <= a)


@lru_cache(maxsize=4)
def _stop_words(language: str) -> frozenset[str]:
    return frozenset(get_stop_words(language))


def facts_conflict(a: str, b: str, *, lang: str = "fr", lang_b: str | None = None,
                   signatures: tuple[FactSignature, FactSignature] | None = None) -> bool:
    """True when two similar texts cannot state the same fact (`conflict_reasons` says why)."""
    return bool(conflict_reasons(a, b, lang=lang, lang_b=lang_b, signatures=signatures))


@dataclass(frozen=True)
class FactSignature:
    """What a text says that must agree for two texts to state one fact, in language-independent form."""

    numbers: frozenset[str]
    dates: "Dates"
    speakers: frozenset[str]


@lru_cache(maxsize=1 << 16)
def fact_signature(text: str, lang: str = "fr") -> FactSignature:
    """Memoised: dedup checks each text against many candidates."""
    return shared_empties(FactSignature(numbers(text, lang), dates(text, lang), speakers(text, lang=lang)))


def signature_conflicts(a: FactSignature, b: FactSignature) -> tuple[str, ...]:
    """The "number", "date" and "speaker" reasons of `conflict_reasons`, from two signatures."""
    reasons = []
    if _disagree(a.numbers, b.numbers):
        reasons.append("number")
    if _dates_disagree(a.dates, b.dates):
        reasons.append("date")
    if a.speakers and b.speakers and not (a.speakers & b.speakers):
        reasons.append("speaker")
    return tuple(reasons)


def conflict_reasons(a: str, b: str, *, lang: str = "fr", lang_b: str | None = None,
                     signatures: tuple[FactSignature, FactSignature] | None = None) -> tuple[str, ...]:
    """Why two similar texts state different facts: any of "number", "date", "speaker", "name"; () if none.

    `lang` is the language of `a` (ISO 639-1) and `lang_b` that of `b` (default: the same);
    numbers, dates and speakers are read by each text's own conventions, so a
    French text and an English one are compared too ("2,5 milliards" and "2.5
    billion" agree; "mardi" and "on Monday" do not).

    Dates (`dates_conflict`): another weekday, month or relative date.
    Speakers (`speakers_conflict`): each names who said it, and not the same one.

    Numbers: a text that only adds a number the other lacks does not
    conflict; one that gives a different number does.
    Names (texts in one language only): reworded reports of one fact often
    mention different people and places around it, so differing names alone
    are not a conflict. A swap is: each text has a name the other lacks, and
    names make up at least half of the content words that differ ("Satya
    Nadella" vs "Donald Trump" in otherwise identical sentences).

    `signatures`: the two texts' `fact_signature`s when the caller has them already (dedup keeps them
    per document between runs).
    """
    lang_b = lang_b or lang
    sa, sb = signatures or (fact_signature(a, lang), fact_signature(b, lang_b))
    reasons = list(signature_conflicts(sa, sb))
    if lang == lang_b and _name_swap(a, b, LANGUAGE_NAMES.get(lang, "french")):
        reasons.append("name")
    return tuple(reasons)


def _name_swap(a: str, b: str, language: str) -> bool:
    na, nb = names(a), names(b)
    if not _disagree(na, nb):
        return False
    stop = _stop_words(language)
    wa = {w for w in _WORD.findall(a.casefold()) if w not in stop}
    wb = {w for w in _WORD.findall(b.casefold()) if w not in stop}
    differing = wa ^ wb
    swapped = {w for n in (na ^ nb) for w in _WORD.findall(n)}
    return bool(differing) and len(swapped & differing) / len(differing) >= 0.5


# --- dates ---------------------------------------------------------------------------------------

_WEEKDAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
_MONTHS = {"janvier": 1, "février": 2, "fevrier": 2, "mars": 3, "avril": 4, "mai": 5, "juin": 6, "juillet": 7,
           "août": 8, "aout": 8, "septembre": 9, "octobre": 10, "novembre": 11, "décembre": 12, "decembre": 12}
_RELATIVE_DAYS = (("avant-hier", "-2"), ("après-demain", "+2"), ("hier", "-1"), ("aujourd'hui", "0"), ("demain", "+1"))
_PERIOD = re.compile(r"\b(mois|semaine|année|an)\s+(dernier|dernière|passé|passée|prochain|prochaine)\b")
_PERIOD_SIGN = {"dernier": "-1", "dernière": "-1", "passé": "-1", "passée": "-1", "prochain": "+1", "prochaine": "+1"}
_PERIOD_UNIT = {"mois": "month", "semaine": "week", "année": "year", "an": "year"}


@dataclass(frozen=True)
class Dates:
    """The dates a text gives, by kind: weekdays, months, days relative to today, periods ("le mois dernier")."""

    weekdays: frozenset[str]
    months: frozenset[int]
    days: frozenset[str]
    periods: frozenset[str]


_EMPTY: frozenset = frozenset()
_NO_DATES = Dates(_EMPTY, _EMPTY, _EMPTY, _EMPTY)
_NO_FACTS = FactSignature(_EMPTY, _NO_DATES, _EMPTY)


def shared_empties(g: FactSignature) -> FactSignature:
    """The same signature with its empty sets, empty dates, or the whole of it when empty, one shared object.

    Dedup keeps a signature per body sentence and paragraph of the corpus, and most say nothing
    (an empty frozenset alone is 216 bytes; a signature has seven): shared, they cost a pointer."""
    d = g.dates
    if not (d.weekdays or d.months or d.days or d.periods):
        if not (g.numbers or g.speakers):
            return _NO_FACTS
        d = _NO_DATES
    else:
        d = Dates(d.weekdays or _EMPTY, d.months or _EMPTY, d.days or _EMPTY, d.periods or _EMPTY)
    return FactSignature(g.numbers or _EMPTY, d, g.speakers or _EMPTY)


_WEEKDAYS_EN = dict(zip(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"), _WEEKDAYS))
_MONTHS_EN = {m: k for k, m in enumerate(("january", "february", "march", "april", "may", "june", "july", "august",
                                           "september", "october", "november", "december"), start=1)}
_RELATIVE_DAYS_EN = (("day before yesterday", "-2"), ("day after tomorrow", "+2"), ("yesterday", "-1"),
                     ("today", "0"), ("tomorrow", "+1"))
_PERIOD_EN = re.compile(r"\b(last|past|next)\s+(month|week|year)\b")
# each relative day's pattern, compiled once (`dates` looks for them in every sentence of the corpus)
_RELATIVE_DAYS_RE = tuple((phrase, offset, re.compile(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])"))
                          for phrase, offset in _RELATIVE_DAYS)
_RELATIVE_DAYS_EN_RE = tuple((phrase, offset, re.compile(rf"\b{phrase}\b")) for phrase, offset in _RELATIVE_DAYS_EN)


def dates(text: str, lang: str = "fr") -> Dates:
    """The dates a text gives (French or English words; other languages: none), in one form for both."""
    if lang == "en":
        return _dates_en(text)
    if lang != "fr":
        return Dates(frozenset(), frozenset(), frozenset(), frozenset())
    low = text.lower()
    words = set(_WORD.findall(low))
    days = set()
    for phrase, offset, pattern in _RELATIVE_DAYS_RE:  # longest first: "avant-hier" is not also "hier"
        if phrase in low and pattern.search(low):  # (most texts name none: no regex)
            days.add(offset)
            low = low.replace(phrase, " ")
    periods = {f"{_PERIOD_UNIT[u]}{_PERIOD_SIGN[s]}" for u, s in _PERIOD.findall(low)}
    return Dates(frozenset(w for w in _WEEKDAYS if w in words), frozenset(_MONTHS[w] for w in words if w in _MONTHS),
                 frozenset(days), frozenset(periods))


def _dates_en(text: str) -> Dates:
    low = text.lower()
    days = set()
    for phrase, offset, pattern in _RELATIVE_DAYS_EN_RE:
        if phrase in low and pattern.search(low):
            days.add(offset)
            low = low.replace(phrase, " ")
    words = set(_WORD.findall(low))
    # "may" is a month only when capitalised ("in May", not "it may rain")
    months = {_MONTHS_EN[w] for w in words if w in _MONTHS_EN and w != "may"} | ({5} if re.search(r"\bMay\b", text) else set())
    periods = {f"{u}{'+1' if s == 'next' else '-1'}" for s, u in _PERIOD_EN.findall(low)}
    return Dates(frozenset(_WEEKDAYS_EN[w] for w in words if w in _WEEKDAYS_EN), frozenset(months),
                 frozenset(days), frozenset(periods))


def dates_conflict(a: str, b: str, *, lang: str = "fr", lang_b: str | None = None) -> bool:
    """True when two texts date their fact differently.

    Dates of one kind must agree (one text may name more of them: "vendredi"
    and "vendredi ... samedi" agree). Across kinds, only this is compared: a
    weekday or "hier"/"aujourd'hui" means this week in a news report, so it
    disagrees with "le mois dernier" or "l'an dernier". A text without a date
    agrees with any.
    """
    return _dates_disagree(dates(a, lang), dates(b, lang_b or lang))


def _dates_disagree(da: Dates, db: Dates) -> bool:
    if any(_disagree(x, y) for x, y in ((da.weekdays, db.weekdays), (da.months, db.months),
                                        (da.days, db.days), (da.periods, db.periods))):
        return True

    def recent(d: Dates) -> bool:
        return bool(d.weekdays or d.days)

    def long_ago(d: Dates) -> bool:
        return any(p.startswith(("month", "year")) for p in d.periods)

    return (recent(da) and long_ago(db)) or (recent(db) and long_ago(da))


# --- speakers ------------------------------------------------------------------------------------

_SAID = ("déclaré|annoncé|affirmé|indiqué|ajouté|souligné|expliqué|précisé|confirmé|assuré|estimé|tweeté|répété|"
         "réitéré|averti|insisté|reconnu|dit|promis|prévenu|martelé|rappelé|écrit|"
         r"refusé\s+de\s+(?:commenter|discuter|s'exprimer|répondre)")
_SAYS = ("déclare|déclarent|affirme|affirment|indique|indiquent|explique|expliquent|souligne|soulignent|précise|"
         "précisent|assure|assurent|estime|estiment|reconnaît|reconnait|reconnaissent|ajoute|ajoutent|confirme|"
         r"confirment|annonce|annoncent|refuse\s+de\s+(?:commenter|discuter|s'exprimer|répondre)")
_SPEECH = re.compile(
    r"\b(?P<aux>(?:a|ont|avait|avaient|aurait|auraient)(?P<inv>-t-\w+)?\s+"
    r"(?:(?:également|aussi|déjà|encore|ensuite|alors|enfin|pourtant|toutefois|récemment|notamment|bien)\s+)*)"
    rf"(?:{_SAID})\b|\b(?:{_SAYS})\b(?P<inv2>-t-\w+)?", re.IGNORECASE)
_DETERMINER = re.compile(r"(?:\b(?:l|d|la|le|les|une|un|cette|ce|son|sa|ses|leur|de|des|du)['\s]\s*)$", re.IGNORECASE)
_CLAUSE_END = re.compile(r"[,;:«»\"()\[\]–—]|\bque\b|\bqu'")
_AFTER_VERB_STOP = re.compile(r"[,;:.!?«»\"()–—]|\b(?:à|au|aux|dans|lors|devant|sur|en|pour|que|qu|mais|et|hier|"
                              r"lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche)\b", re.IGNORECASE)
_SELON = re.compile(r"\bselon\s+(?!laquelle|lequel|lesquel|lui\b|elle\b|eux\b|moi\b|nous\b|vous\b)([^,;:.!?«»\"()]+)",
                    re.IGNORECASE)
_TITLES = frozenset({"m", "mme", "mlle", "mm", "dr", "me", "pr", "mgr", "mr", "mrs", "ms", "prof"})


def _names_in(phrase: str, language: str) -> set[str]:
    stop = _stop_words(language)
    return {w.casefold() for w in _WORD.findall(phrase)
            if len(w) > 1 and w[0].isupper() and w.casefold() not in stop and w.casefold() not in _TITLES
            and w.casefold() not in _WEEKDAYS and w.casefold() not in _MONTHS
            and w.casefold() not in _WEEKDAYS_EN and w.casefold() not in _MONTHS_EN}


def speakers(text: str, *, lang: str = "fr") -> frozenset[str]:
    """Names of the people or bodies a text attributes its statements to.

    "X a déclaré", "X affirme", ", a déclaré X" (after a quotation), "selon X",
    "X a refusé de commenter". Only the capitalised words of X count, so "le
    président" or "la société" name nobody and never conflict; a pronoun
    ("a-t-il déclaré") names nobody either. English: "X said", "said X",
    "according to X". Other languages: nobody (never a conflict).
    """
    if lang == "en":
        return _speakers_en(text)
    if lang != "fr":
        return frozenset()
    language = "french"
    found: set[str] = set()
    for m in _SPEECH.finditer(text):
        if m.group("inv") or m.group("inv2"):
            continue
        before, after = text[: m.start()], text[m.end():]
        if m.group("aux") is None and _DETERMINER.search(before):
            continue  # "l'annonce de vendredi": a noun, not a verb
        cuts = [0, *(c.end() for c in _CLAUSE_END.finditer(before))]
        subject = before[cuts[-1]:]
        if not _WORD.search(subject):
            stop = _AFTER_VERB_STOP.search(after)
            subject = after[: stop.start()] if stop else after  # "« ... », a déclaré Donald Trump aux journalistes"
        if not _WORD.search(subject):
            # "le secrétaire d'État, Mike Pompeo, a déclaré que": the nearest clause before that names someone
            for start, end in list(zip(cuts, cuts[1:]))[::-1][:2]:
                if _names_in(before[start:end - 1], language):
                    subject = before[start:end - 1]
                    break
        found |= _names_in(subject, language)
    for m in _SELON.finditer(text):
        found |= _names_in(m.group(1), language)
    return frozenset(found)


_SPEECH_EN = re.compile(r"\b(?:said|says|told|announced|stated|declared|added|explained|confirmed|insisted|warned|"
                        r"claimed|argued|noted|stressed|tweeted|wrote|admitted|promised)\b")
_ACCORDING_TO = re.compile(r"\baccording\s+to\s+([^,;:.!?\"()]+)", re.IGNORECASE)
_AFTER_VERB_STOP_EN = re.compile(r"[,;:.!?\"()–—]|\b(?:that|to|on|in|at|during|but|and|when|yesterday|"
                                 r"monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b", re.IGNORECASE)
_CLAUSE_END_EN = re.compile(r"[,;:\"()\[\]–—]|\bthat\b")


def _speakers_en(text: str) -> frozenset[str]:
    found: set[str] = set()
    for m in _SPEECH_EN.finditer(text):
        before, after = text[: m.start()], text[m.end():]
        cuts = [0, *(c.end() for c in _CLAUSE_END_EN.finditer(before))]
        subject = before[cuts[-1]:]
        if not _names_in(subject, "english"):
            stop = _AFTER_VERB_STOP_EN.search(after)
            subject = after[: stop.start()] if stop else after  # '"...", said John Smith'
        found |= _names_in(subject, "english")
    for m in _ACCORDING_TO.finditer(text):
        found |= _names_in(m.group(1), "english")
    return frozenset(found)


def speakers_conflict(a: str, b: str, *, lang: str = "fr", lang_b: str | None = None) -> bool:
    """True when both texts name who said it and no name is shared ("Trump a déclaré" vs "Pompeo a déclaré")."""
    sa, sb = speakers(a, lang=lang), speakers(b, lang=lang_b or lang)
    return bool(sa) and bool(sb) and not (sa & sb)


# Pairs per block in `row_dots`: the rows of a block are gathered and multiplied at once.
ROW_DOTS_BLOCK = 4096


def row_dots(m: Any, a: np.ndarray, b: np.ndarray, block: int = ROW_DOTS_BLOCK) -> np.ndarray:
    """Dot products of the rows a[k] and b[k] of the sparse matrix `m` (CSR), in blocks of pairs.

    Gathering the rows of every pair at once holds a copy of each pair's two rows and their product
    (0.8 GB for 150,000 document pairs at 10,000 articles); a block of pairs holds a few MB, and each
    pair's dot product is the same as at once (each is summed over its own row only)."""
    out = np.empty(len(a))
    for s in range(0, len(a), block):
        out[s:s + block] = np.asarray(m[a[s:s + block]].multiply(m[b[s:s + block]]).sum(axis=1)).ravel()
    return out
