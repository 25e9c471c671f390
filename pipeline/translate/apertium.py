"""Apertium: rule-based, offline FR->EN through Spanish (fr-es, then spa-eng).

Debian packages: apertium, apertium-fr-es, apertium-eng-spa.

All texts of a call go through one process per pair, separated by blank
lines (Apertium keeps blank lines, so output lines stay aligned with the
inputs; a single newline would be a plain space to it and let one text's
words influence its neighbour's).

The raw pivot (`RawApertiumPivot`, kept to measure against) gets a few
things systematically wrong; each repair below raised chrF on the Tatoeba
dev set (README, "Measuring quality"):

- French in (`prepare_french`): "œ"/"æ" are written "oe"/"ae" (unknown to
  apertium-fr-es otherwise); typographic apostrophes become ASCII; line
  breaks inside a text become spaces; inverted questions ("As-tu faim ?",
  "Quand partira-t-il ?") take statement order ("Tu as faim ?"), which
  fr-es translates instead of reading "tu" as the participle of "taire";
  "est-ce que" goes the same way; "s'il vous plaît" (read as "if it pleases
  you") and "vraiment" (read as "verdad", "truth") are rephrased.
- Subject pronouns: Spanish drops them, and spa-eng then guesses ("It" for
  "il"/"elle", nothing after a question word). A sentinel before each
  personal subject pronoun becomes an Apertium superblank, which fr-es
  carries to where the pronoun was; there the explicit Spanish pronoun (él,
  ella, tú, ...) is written back, so the English says "He", "She", "you".
  Impersonal "il" ("il y a", "il faut", "il est difficile de") is left alone.
  This is the `apertium` front end's own plain-text path (deformat, mode,
  reformat) with that one step in between.
- Between the pairs (`fix_spanish`): Apertium's marks are removed, "porqué"
  (the noun) becomes "por qué" ("why"), a question's "que" becomes "qué".
- English out (`clean_output`): marks for unknown words (`*`), generation
  errors (`#`, and leftover tags such as `<prn>`) and untransferred words
  (`@`) are removed, keeping the word, so names survive; a capitalised word
  unknown to spa-eng that is not in the source is a name Spanish respelled
  ("Kioto"): the source's spelling comes back; a French word no pair knows
  loses its accents (English cognates: "pelican"); French spacing before
  punctuation, Spanish "¿"/"¡" and capitals the source does not have
  ("REGARDING") go; guillemets become double quotes; "2 600" and "3,5"
  become "2,600" and "3.5"; a subject pronoun agrees with its verb ("I does"
  -> "I do"); a question takes question order ("Why you are sad?" -> "Why
  are you sad?", "You want tea?" -> "Do you want tea?"); the first letter
  takes the source's case.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import subprocess
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Literal, Sequence

from . import EngineFailure
from .engine import (HashStore, PairProcess, analyser, escape, mode_file, pair_identity, require_apertium, run_pair,
                     unformat)
from .combine import combine
from .names import NameGuard, restore
from .senses import fix_senses

# --- French in ----------------------------------------------------------------

_CHARS_IN = str.maketrans({"œ": "oe", "Œ": "Oe", "æ": "ae", "Æ": "Ae", "\u2019": "'", "\u2018": "'", "\u02bc": "'"})
_CHARS_IN_FOUND = re.compile("[œŒæÆ\u2019\u2018\u02bc]")


def _chars_in(text: str) -> str:
    """`text.translate(_CHARS_IN)`, without its per-character work on a text that has none of those
    characters (most texts: `str.translate` with a table costs 60 µs on a French sentence)."""
    return text.translate(_CHARS_IN) if _CHARS_IN_FOUND.search(text) else text

_SUBJECTS = "je|tu|il|elle|on|nous|vous|ils|elles"
_CLITIC = r"(?:ne\s+|n'|me\s+|m'|te\s+|t'|se\s+|s'|le\s+|la\s+|les\s+|l'|lui\s+|leur\s+|y\s+|en\s+|nous\s+|vous\s+)"
# "[ne] [le] as-tu", "sera-t-il", "Sont-elles": verb, hyphen, subject pronoun.
_INVERSION = re.compile(
    rf"(?<![\w'-])(?P<clitics>{_CLITIC}*)(?P<verb>\w+)-(?:t-)?(?P<subj>{_SUBJECTS})(?![\w'-])",
    re.IGNORECASE,
)
_EST_CE_QUE = re.compile(r"(?<![\w'])est-ce\s+(?:que\s+|qu')", re.IGNORECASE)

# A noun phrase right before "fume-t-il" is the subject ("Tom fume-t-il ?"):
# then the pronoun only repeats it and is dropped.
_NOUN_SUBJECT_BEFORE = re.compile(
    r"(?:\b(?!(?:Pourquoi|Quand|Comment|Où|Que|Qu|Combien|Quel|Quelle|Quels|Quelles|Qui|Lequel|Laquelle|Et|Mais|"
    r"Alors|Donc|Ou|Puis|Ainsi|Aussi|Peut-être|Sans doute)\b)[A-ZÉÈ][\w-]+|\b(?:cela|ceci|ça|tout|rien|personne|"
    r"quelqu'un|chacun)|\b(?:le|la|les|l'|ce|cet|cette|ces|mon|ma|mes|ton|ta|tes|son|sa|ses|notre|votre|"
    r"leur|nos|vos|leurs|un|une|des|du)\s*[\w-]+(?:\s+(?:de|d'|du|des)\s*[\w-]+)?)\s+$",
)
_PUIS_JE = re.compile(r"\b([Pp])uis-je\b")


# How far back a look-behind check reads: the longest thing it looks for (a
# noun phrase "le chat de Tom", a preposition) is far shorter, and a bounded
# window keeps every step linear in the text (a 5 MB one-line article).
_LOOKBACK = 80


def _match_case(word: str, like: str) -> str:
    return word[:1].upper() + word[1:] if like[:1].isupper() else word


def _uninvert(m: re.Match[str], before: str) -> str:
    clitics, verb, subj = m.group("clitics"), m.group("verb"), m.group("subj")
    if subj.lower() in ("il", "elle", "ils", "elles") and _NOUN_SUBJECT_BEFORE.search(before):
        return f"{clitics}{verb}"
    if subj.lower() in ("nous", "vous") and re.search(rf"\b{subj}\s+$", before + clitics, re.IGNORECASE):
        return f"{clitics}{verb}"  # "Vous êtes-vous décidé ?": the subject is already there
    start = clitics or verb
    subject = _match_case(subj.lower(), start)
    if start[:1].isupper():
        lowered = start[:1].lower() + start[1:]
        if clitics:
            clitics = lowered
        else:
            verb = lowered
    return f"{subject} {clitics}{verb}"


def _uninvert_questions(text: str) -> str:
    """Statement order for inverted questions: "N'as-tu pas faim ?" -> "Tu n'as pas faim ?".

    "-nous"/"-vous" after a verb is an imperative ("Asseyez-vous.") unless
    the sentence is a question, so those are only moved before a "?".
    """
    out = []
    for sentence in re.split(r"(?<=[.!?…])\s+", text):
        question = sentence.rstrip().endswith("?")

        def swap(m: re.Match[str]) -> str:
            if m.group("subj").lower() in ("nous", "vous") and not question:
                return m.group(0)
            return _uninvert(m, sentence[max(0, m.start() - _LOOKBACK): m.start()])

        if question:
            sentence = _PUIS_JE.sub(lambda m: "Je peux" if m.group(1) == "P" else "je peux", sentence)
            sentence = _EST_CE_QUE.sub("", sentence)
            sentence = sentence[:1].upper() + sentence[1:]
        out.append(_INVERSION.sub(swap, sentence))
    return " ".join(out)


# Impersonal "il": what may follow it. It stays "il" (fr-es handles these).
_IMPERSONAL = re.compile(
    r"\s+(?:n'|ne\s+)?(?:y\s+(?:a|avait|aura|aurait|eut|ait)|(?:me\s+|te\s+|nous\s+|vous\s+|lui\s+|leur\s+|m'|t'|en\s+)?"
    r"(?:faut|fallait|faudra|faudrait|fallut|reste|restait|manque|manquait|suffit|suffisait|suffira)\b|"
    r"(?:va|allait|peut|pourrait|devrait|commence\s+à|se\s+met\s+à)\s+(?:pleuvoir|neiger)|"
    r"pleut|pleuvait|pleuvra|neige|neigeait|neigera|semble|semblait|paraît|paraissait|s'agit|s'agissait|"
    r"vaut|valait|vaudrait|se\s+peut|se\s+pourrait|se\s+passe|s'est\s+passé|existe|existait|était\s+une\s+fois|"
    r"fait\s+(?:très\s+|trop\s+|si\s+|assez\s+)?(?:froid|chaud|beau|bon|mauvais|nuit|jour|noir|doux|frais|humide|sombre|soleil|gris|lourd)|"
    r"(?:est|était|sera|serait|fut)\s+(?:(?:très|trop|si|assez|peu|plus|moins|bien|vraiment|encore|déjà|pas|toujours)\s+)*"
    r"(?:difficile|facile|possible|impossible|important|nécessaire|dommage|interdit|évident|clair|probable|"
    r"vrai|inutile|dangereux|bon|mieux|normal|étrange|rare|agréable|naturel|certain|temps|tard|tôt|midi|"
    r"minuit|l'heure|question|urgent|essentiel|utile|\d)\b)",
    re.IGNORECASE,
)
# Subject pronouns that Spanish drops: a sentinel before the pronoun becomes an
# Apertium superblank, which fr-es carries to where the pronoun was; there the
# explicit Spanish pronoun is written back.
_SUBJECT = re.compile(r"(?<![\w'-])(?P<p>je|j(?=')|tu|il|elle|nous|vous|ils|elles)(?=\s+\w|\s*')", re.IGNORECASE)
_PREPOSITION_BEFORE = re.compile(
    r"(?:\b(?:avec|pour|de|à|chez|sans|sur|sous|par|contre|vers|entre|derrière|devant|après|avant|envers|selon|"
    r"malgré|sauf)|\bd')\s*$",
    re.IGNORECASE,
)
_SPANISH_PRONOUN = {"je": "yo", "j": "yo", "tu": "tú", "il": "él", "elle": "ella", "nous": "nosotros",
                    "vous": "vosotros", "ils": "ellos", "elles": "ellas"}
_SENTINEL = re.compile(r"QZX([a-z]+)XZQ ?")
_SPANISH_SUBJECTS = frozenset(
    "yo tú tu él ella ello nosotros nosotras vosotros vosotras ellos ellas usted ustedes se uno".split()
)


def _mark_subjects(text: str, which: frozenset[str]) -> str:
    def repl(m: re.Match[str]) -> str:
        pronoun = m.group("p")
        key = pronoun.lower()
        if key not in which:
            return pronoun
        if key == "il" and _IMPERSONAL.match(text, m.end()):
            return pronoun
        if key in ("nous", "vous", "elle", "elles") and _PREPOSITION_BEFORE.search(
                text, max(0, m.start() - _LOOKBACK), m.start()):
            return pronoun
        return f"QZX{key}XZQ {pronoun}"

    return _SUBJECT.sub(repl, text)


MARKED_SUBJECTS = frozenset(_SPANISH_PRONOUN)

# Whole French expressions fr-es gets wrong, and what goes in instead. A
# sentinel alone stands for Spanish text written in between the pairs.
_FRENCH_EXPRESSIONS = [
    (re.compile(r"\bs'il (?:te|vous) pla[iî]t\b", re.IGNORECASE), "QZXpleaseXZQ "),
    (re.compile(r",?\s*n'est-ce pas(?=\s*[?.!]|$)", re.IGNORECASE), ", non"),
    (re.compile(r"\bvraiment\b"), "réellement"),
    (re.compile(r"\bVraiment\b"), "Réellement"),
]
_SPANISH_INSERT = {"please": "por favor"}


def prepare_french(text: str, subjects: frozenset[str] | None = None) -> str:
    """French as fr-es translates it best, with sentinels for `fix_spanish`."""
    text = " ".join(_chars_in(text).split())
    for pattern, replacement in _FRENCH_EXPRESSIONS:
        text = pattern.sub(replacement, text)
    text = _uninvert_questions(text)
    return _mark_subjects(text, MARKED_SUBJECTS if subjects is None else subjects)


# --- Spanish between the pairs ----------------------------------------------------

_MARKS = re.compile(r"(?<![\w*#@])[*#@]+(?=\w)")
_TAGS = re.compile(r"[#*@]*<[^<>\s]*>")
_PORQUE = re.compile(r"(?<!\bel )\b([Pp])orqué\b")
_RESTORE = re.compile(r"QZX([a-z]+)XZQ\s*(?P<next>[*#@]*(?P<word>\w+))?")
_QUESTION_QUE = re.compile(r"(^|[.!?¿]\s*)(Que|que)\b(?=[^.!?\n]*\?)", re.MULTILINE)
_SPANISH_WORDS = [(re.compile(r"\ben dia\b"), "en día")]


def _restore(m: re.Match[str]) -> str:
    nxt, word, tag = m.group("next") or "", m.group("word") or "", m.group(1)
    before = m.string[max(0, m.start() - _LOOKBACK): m.start()].rstrip(" ")
    start = m.start() == 0 or before[-1:] in ("", "\n", ".", "!", "?", "¿", "¡")
    if tag in _SPANISH_INSERT:
        insert = _SPANISH_INSERT[tag]
        insert = insert.capitalize() if start else insert
        if word[:1].isupper() and start:
            nxt = nxt.replace(word, word[:1].lower() + word[1:], 1)
        return f"{insert} {nxt}" if nxt else insert
    if word.lower() in _SPANISH_SUBJECTS:
        return nxt
    pronoun = _SPANISH_PRONOUN[tag]
    if word[:1].isupper() and not word.isupper():
        return f"{pronoun.capitalize()} {nxt.replace(word, word[:1].lower() + word[1:], 1)}"
    return f"{pronoun} {nxt}"


def fix_spanish(text: str) -> str:
    """Spanish out of fr-es, made ready for spa-eng: sentinels resolved, marks removed."""
    text = _RESTORE.sub(_restore, text)
    text = _TAGS.sub("", text)
    text = _MARKS.sub("", text)
    text = _PORQUE.sub(r"\1or qué", text)
    text = _QUESTION_QUE.sub(lambda m: m.group(1) + ("Qué" if m.group(2) == "Que" else "qué"), text)
    for pattern, replacement in _SPANISH_WORDS:
        text = pattern.sub(replacement, text)
    return text


# --- English out ------------------------------------------------------------------

_GUILLEMETS = re.compile(r"«\s*([^«»]*?)\s*»")
_SPACE_BEFORE = re.compile(r"\s+([,.;:!?)%])")
_SPACE_AFTER = re.compile(r"([(])\s+")
_INVERTED_MARKS = re.compile(r"[¿¡]\s*")
_DECIMAL_COMMA = re.compile(r"(?<=\d),(?=\d)")
_THOUSANDS = re.compile(r"(?<![\d.,])\d{1,3}(?:[ \u00a0\u202f.]\d{3})+(?![\d,]|\.\d)")
_UNKNOWN = re.compile(r"(?<![\w*#@])\*+(\w[\w'-]*)")
# A generation error: "#darse" or "darse#" (a Spanish lemma spa-eng could not generate in English).
_GENERATION_ERROR = re.compile(r"(?<![\w*#@])#+(\w[\w'-]*)|(\w[\w'-]*)#+(?![\w#])")
_AGREEMENT = [
    (re.compile(r"\b(I)\s+(does|has|is)\b"), {"does": "do", "has": "have", "is": "am"}),
    (re.compile(r"\b(you|we|they|You|We|They)\s+(does|has|is|am|was)\b"),
     {"does": "do", "has": "have", "is": "are", "am": "are", "was": "were"}),
    (re.compile(r"\b(he|she|He|She)\s+(do|have|are|am|were)\b"),
     {"do": "does", "have": "has", "are": "is", "am": "is", "were": "was"}),
]
_AUX = "am|are|is|was|were|have|has|had|can|could|will|would|shall|should|must|may|might|do|does|did"
_QUESTION = re.compile(
    r"^(?P<wh>(?:Why|Where|When|How|What|Who)\s+)?(?P<subj>I|[Yy]ou|[Hh]e|[Ss]he|[Ii]t|[Ww]e|[Tt]hey)\s+"
    r"(?P<verb>[a-z]+)\b(?P<rest>\s*(?P<next>[a-z]*).*)$"
)
_AUXILIARIES = frozenset(_AUX.split("|"))
_PARTICIPLES = frozenset(
    "been done gone seen made taken given eaten written spoken known had got gotten said told found thought brought "
    "bought come become run left felt kept heard put read slept lost met paid sent spent understood forgotten chosen "
    "drunk sung begun won sold stood sat held broken fallen driven ridden worn shown grown drawn thrown flown hidden "
    "woken stolen frozen caught taught fought built lent meant hurt cut let set shut hit fed led shot lit stuck hung "
    "not never already ever just really always also".split()
)
# A word after a subject pronoun that is not a present-tense verb.
_NOT_PRESENT = frozenset(
    "not never already ever just really always also still too all both only often usually a an the this that "
    "went saw knew took made said got came thought told gave found left felt kept heard ran sat stood understood "
    "wrote spoke ate drank bought brought caught taught sold met paid sent spent lost slept woke broke fell drove "
    "rode wore chose began won sang swam".split()
)
_SHOUT = re.compile(r"\b[A-Z]{2,}\b")
_ENGLISH_PHRASES = [(re.compile(r"\bWhy no\?"), "Why not?")]


def _strip_accents(word: str) -> str:
    """The word without combining marks ("pélican" -> "pelican"); an ASCII word has none."""
    return word if word.isascii() else _strip_marks_nfd(word)


@lru_cache(maxsize=1 << 16)
def _strip_marks_nfd(word: str) -> str:
    # (a pure function of the word, asked for every word of every text: the same words come back)
    return "".join(c for c in unicodedata.normalize("NFD", word) if not unicodedata.combining(c))


def _restore_unknown(text: str, source: str) -> str:
    """Words spa-eng does not know.

    A lowercase French word that no pair knows loses its accents (English
    cognates: "pélican", "bactéries"); a capitalised word that is not in the
    source is a name Spanish respelled ("Kioto"), and the source's spelling
    comes back when one is close.
    """
    source_words = re.findall(r"\w[\w'-]*", source)
    known = set(source_words)
    by_key = {_strip_accents(w).casefold(): w for w in source_words if w[:1].isupper()}

    def repl(m: re.Match[str]) -> str:
        word = m.group(1)
        if not word[:1].isupper():
            return _strip_accents(word) if word in known else word
        if word in known:
            return word
        close = difflib.get_close_matches(_strip_accents(word).casefold(), list(by_key), n=1, cutoff=0.7)
        return by_key[close[0]] if close else word

    return _UNKNOWN.sub(repl, text)


def _base_form(verb: str) -> str:
    if verb == "has":
        return "have"
    if verb.endswith("ies"):
        return verb[:-3] + "y"
    if verb.endswith(("ches", "shes", "sses", "xes", "oes")):
        return verb[:-2]
    return verb[:-1] if verb.endswith("s") and not verb.endswith("ss") else verb


def _invert_question(sentence: str) -> str:
    """Question word order: "Why you are here?" -> "Why are you here?"; "You want tea?" -> "Do you want tea?".

    Auxiliaries move before the subject; a present-tense main verb gets
    "do"/"does". A question tagged ", no?" keeps statement order.
    """
    if not sentence.endswith("?") or sentence.endswith(", no?") or re.search(r"[;:]", sentence):
        return sentence
    m = _QUESTION.match(sentence)
    if not m:
        return sentence
    wh, subj, verb, rest, nxt = m.group("wh") or "", m.group("subj"), m.group("verb"), m.group("rest"), m.group("next")
    subj = subj if subj == "I" else subj.lower()
    third = subj in ("he", "she", "it")
    main_have = verb in ("have", "has") and (nxt == "to" or not (nxt in _PARTICIPLES or nxt.endswith("ed")))
    if verb in _AUXILIARIES and not main_have:
        aux = verb
    elif verb in _NOT_PRESENT or verb.endswith("ed") or (third and not verb.endswith("s")):
        return sentence
    else:
        aux, verb = ("does", _base_form(verb)) if third else ("do", verb)
        rest = f" {verb}{rest}"
    return f"{wh}{aux if wh else aux.capitalize()} {subj}{rest}"


def clean_marks(text: str, source: str = "") -> str:
    """Output in a language other than English (French from eng-spa + es-fr): Apertium's marks and
    tags removed, names Spanish respelled given back, spacing as the source language writes it."""
    text = _restore_unknown(text, source) if source else text
    text = _MARKS.sub("", _GENERATION_ERROR.sub(lambda m: m.group(1) or m.group(2), _TAGS.sub("", text)))
    return " ".join(_INVERTED_MARKS.sub("", text).split())


def clean_output(text: str, source: str = "") -> str:
    """English from the pivot, made readable; `source` is the French it came from."""
    text = _restore_unknown(text, source) if source else text
    text = _TAGS.sub("", text)
    text = _MARKS.sub("", _GENERATION_ERROR.sub(lambda m: m.group(1) or m.group(2), text))
    text = _GUILLEMETS.sub(r'"\1"', text)
    text = _INVERTED_MARKS.sub("", text)
    text = _SPACE_BEFORE.sub(r"\1", text)
    text = _SPACE_AFTER.sub(r"\1", text)
    # French "2 600" / "2.600" and "3,5" are English "2,600" and "3.5"
    text = _THOUSANDS.sub(lambda m: re.sub(r"[ \u00a0\u202f.]", "\0", m.group(0)), text)
    text = _DECIMAL_COMMA.sub(".", text).replace("\0", ",")
    for pattern, table in _AGREEMENT:
        text = pattern.sub(lambda m, t=table: f"{m.group(1)} {t[m.group(2)]}", text)
    for pattern, replacement in _ENGLISH_PHRASES:
        text = pattern.sub(replacement, text)
    if source:  # "REGARDING TikTok": capitals the source does not have
        shouted = set(_SHOUT.findall(source))
        text = _SHOUT.sub(lambda m: m.group(0) if m.group(0) in shouted or m.group(0) == "I" else
                          m.group(0).capitalize(), text)
    text = " ".join(text.split())
    if source and source[:1].isupper() and text[:1].islower():
        text = text[:1].upper() + text[1:]
    return " ".join(_invert_question(s) for s in re.split(r"(?<=[.!?])\s+", text))


_DPKG_STATUS = "/var/lib/dpkg/status"  # what dpkg-query reads: rewritten by every install or removal


def apertium_version() -> str | None:
    """Installed Apertium version (from dpkg), or None when not known. Asked once per state of dpkg's
    database (a run builds an engine per translation route, each named with the version: dpkg-query
    took 15 ms a call)."""
    try:
        st = os.stat(_DPKG_STATUS)
        state: tuple[int, int] | None = (st.st_size, st.st_mtime_ns)
    except OSError:
        state = None
    return _dpkg_version(state, os.environ.get("PATH", os.defpath))


@lru_cache(maxsize=4)
def _dpkg_version(_state: tuple[int, int] | None, _path: str) -> str | None:
    if shutil.which("dpkg-query") is None:
        return None
    out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "apertium"], capture_output=True, text=True)
    return out.stdout.strip() or None if out.returncode == 0 else None


def _check_pairs(pairs: Sequence[str]) -> list[str]:
    pairs = list(pairs)
    if not pairs:
        raise EngineFailure("translate.apertium_pairs is empty: there is no pair to translate with "
                            "(the default is [fr-es, spa-eng])")
    require_apertium()
    for pair in pairs:
        mode_file(pair)
    return pairs


# A mark Apertium leaves: "*" (unknown), "#" (generation error), "@" (not transferred) glued to a word.
_LEFT_MARK = re.compile(r"(?<![\w*#@])[*#@]+(?=\w)|(?<=\w)#+(?![\w#])")


_LOST_PLACEHOLDER = re.compile(r"(?i)zq|xqz")


def _replace_leaks(text: str, words: Sequence[str], source: str) -> str:
    """Pivot-language words no pair could translate ("consultores", "bonos"), replaced by the
    closest source word without accents (often an English cognate: "consultants"), or dropped."""
    lowered = [w for w in re.findall(r"\w[\w'-]*", source) if w[:1].islower()]
    plain = {_strip_accents(w).casefold(): _strip_accents(w) for w in lowered}
    leak = set(words)

    def repl(m: re.Match[str]) -> str:
        if m.group(0) not in leak:
            return m.group(0)
        close = difflib.get_close_matches(_strip_accents(m.group(0)).casefold(), list(plain), n=1, cutoff=0.6)
        return plain[close[0]] if close else ""

    out = re.sub(r"\w[\w'-]*", repl, text)
    return _SPACE_BEFORE.sub(r"\1", " ".join(out.split()))


def _has_mark(source: str, output: str) -> bool:
    """An Apertium mark the source does not have: `*word`, `#word`, `word#`, `@word`, or more `*`,
    `#`, `@` than the source has (a mark inside a word)."""
    if "*" not in output and "#" not in output and "@" not in output:
        return False  # (no mark at all: the usual case, and neither test below can hold)
    return (len(_LEFT_MARK.findall(output)) > len(_LEFT_MARK.findall(source))
            or any(output.count(c) > source.count(c) for c in "*#@"))


def _strip_marks(text: str, source: str) -> str:
    """`*`, `#`, `@` removed wherever the text has more of one than the source."""
    extra = "".join(c for c in "*#@" if text.count(c) > source.count(c))
    return " ".join(re.sub(f"[{re.escape(extra)}]", "", text).split()) if extra else text


def check_output(sources: Sequence[str], outputs: Sequence[str], engine: str, *, marks: bool = True) -> None:
    """EngineFailure when the engine's output cannot be a translation: a count that does not match,
    nothing for a text that has words, or an Apertium mark the source did not have."""
    if len(outputs) != len(sources):
        raise EngineFailure(f"{engine} returned {len(outputs)} texts for {len(sources)}; the alignment was lost")
    for src, out in zip(sources, outputs):
        if re.search(r"\w", src) and not out.strip():
            raise EngineFailure(f"{engine} returned nothing for {src[:60]!r}; the engine is broken")
        if marks and _has_mark(src, out):
            raise EngineFailure(f"{engine} left an Apertium mark in {out[:60]!r}")


# A sentence per source language for the start-up self-test (keyed by the first pair's source code).
_PROBES = {"fr": "Le chat dort dans la maison.", "fra": "Le chat dort dans la maison.",
           "eng": "The cat sleeps in the house.", "en": "The cat sleeps in the house.",
           "es": "El gato duerme en la casa.", "spa": "El gato duerme en la casa.",
           "cat": "El gat dorm a la casa.", "ita": "Il gatto dorme nella casa.",
           "pt": "O gato dorme na casa.", "por": "O gato dorme na casa."}


def _pivot_words(marked: str, source: str) -> list[str]:
    """Lowercase words the last pair marked unknown (`*word`) that are not the source's words either
    (accents and case aside): words of the pivot language."""
    unknown = [w for w in _UNKNOWN.findall(marked) if w[:1].islower()]
    if not unknown:
        return []  # (the source's words are only read when there is something to look up)
    known = {_strip_accents(w).casefold() for w in re.findall(r"\w[\w'-]*|\w+", source)}
    known.update(_strip_accents(w).casefold() for w in re.findall(r"\w+", source))
    return [w for w in unknown if _strip_accents(w).casefold() not in known]


class ApertiumTranslator:
    """`Translator` backed by Apertium pairs kept running (`engine.PairProcess`).

    `pairs` is the route, applied in order (French in: fr-es then spa-eng, or
    fra-cat then cat-eng). A text whose English keeps words of the pivot
    language goes through `fallback_pairs` too (the other pivot), and the one
    that keeps fewer is used; what is left of them is dropped, never shown as
    English. Raises EngineFailure at construction when a pair is missing or the
    start-up self-test translation fails. `self_test="first use"`: the self-test runs before the
    first translation instead (an engine built for its identity alone, the cache key of a warm run's
    review pages, starts no process). `self_test="started"`: every process is started now, and loads
    its data while the caller goes on (0.5 to 1.5 s of waiting on Apertium, not on this process); the
    self-test runs at `ready` or at the first translation, whichever comes first. (No thread: a process
    started on one thread while another forks a worker can leave the worker holding the start's error
    pipe, and the start waits for that worker to end.)
    """

    def __init__(self, pairs: Sequence[str] = ("fr-es", "spa-eng"), *, timeout_s: float = 60.0,
                 self_test: bool | Literal["first use", "started"] = True, protect_names: bool = True,
                 fallback_pairs: Sequence[str] = (),
                 combine_routes: Sequence[Sequence[str]] = ()) -> None:
        self.pairs = _check_pairs(pairs)
        self.timeout_s = timeout_s
        version = apertium_version()
        self.engine = f"apertium {version or '(version unknown)'} ({' + '.join(self.pairs)})"
        self._french_in = self.pairs[0] in ("fr-es", "fra-spa", "fra-cat", "fr-eo")
        self._spanish_between = self.pairs[0] in ("fr-es", "fra-spa")
        self._procs = [PairProcess(p, timeout_s=timeout_s) for p in self.pairs]
        self._pivot_leaks = len(self.pairs) > 1
        self._english_out = self.pairs[-1].split("-")[-1].split("_")[0] in ("eng", "en")
        self._fallback = ApertiumTranslator(fallback_pairs, timeout_s=timeout_s, self_test=False,
                                            protect_names=protect_names) if fallback_pairs else None
        self._alternatives = [ApertiumTranslator(r, timeout_s=timeout_s, self_test=False, protect_names=protect_names)
                              for r in combine_routes]
        self.engine += "".join(f", combined with {' + '.join(a.pairs)}" for a in self._alternatives)
        self._names = NameGuard(analyser(self.pairs[0], timeout_s=timeout_s), self._alone, len(self.pairs) > 1) \
            if protect_names else None
        self._untested = self_test in ("first use", "started")
        self._test_failure: EngineFailure | None = None
        if self_test is True:
            self.self_test()
        elif self_test == "started":
            self.start()

    def start(self) -> None:
        """Start every process this translator uses (they load their data while the caller goes on)."""
        for p in self._procs:
            p.start()
        if self._names is not None:
            self._names.analyser.start()
        for other in (self._fallback, *self._alternatives):
            if other is not None:
                other.start()

    def ready(self) -> None:
        """Run the self-test not run yet (`self_test="first use"` or `"started"`); raise EngineFailure if it
        failed, every time this is asked."""
        if self._untested:
            self._untested = False
            try:
                self.self_test()
            except EngineFailure as exc:
                self._test_failure = exc
                raise
        if self._test_failure is not None:
            raise self._test_failure

    def identity(self, hashes: HashStore | None = None) -> list[object]:
        """Every program run and data file read, by resolved path, size, time and hash (the cache key).
        `hashes`: where the files' hashes are remembered between runs (the run's cache)."""
        return [pair_identity(p, hashes) for p in self.pairs] + [a.identity(hashes) for a in self._alternatives]

    def self_test(self) -> None:
        """Translate one known sentence; EngineFailure unless something sane comes back."""
        probe = _PROBES.get(self.pairs[0].split("-")[0].split("_")[0], "Hola.")
        out = self.translate([probe])[0]
        if out.strip() == probe:
            raise EngineFailure(f"{self.engine}: start-up self-test returned {probe!r} untranslated")

    def close(self) -> None:
        """End every process this translator started (its next translation starts them again)."""
        for p in self._procs:
            p.close()
        if self._names is not None:
            self._names.analyser.close()
        for other in (self._fallback, *self._alternatives):
            if other is not None:
                other.close()

    def _finish(self, english: str, source: str) -> str:
        if not self._english_out:
            return clean_marks(english, source)
        english = clean_output(english, source)
        return fix_senses(english, source) if self._french_in and self.pairs[-1] in ("spa-eng", "cat-eng", "eo-en") else english

    def _alone(self, words: list[str]) -> list[tuple[str, str]]:
        """Words translated alone through the route, marks kept: (first pair's output, last pair's)."""
        current = list(words)
        first: list[str] = []
        for k, proc in enumerate(self._procs):
            current = [unformat(o).strip() for o in proc.run([escape(w) for w in current])]
            if k == 0:
                first = current
            if k < len(self._procs) - 1:
                current = [o if _LEFT_MARK.search(o) else fix_spanish(o) for o in current]
        return list(zip(first, current))

    def translate(self, texts: Sequence[str]) -> list[str]:
        if not texts:
            return []
        self.ready()
        if not self._alternatives:
            return self._translate_route(texts)
        # the other routes' English, each in its own processes (so in parallel), and per text the
        # one the combination keeps
        with ThreadPoolExecutor(len(self._alternatives)) as pool:
            others = [pool.submit(a.translate, texts) for a in self._alternatives]
            english = self._translate_route(texts)
            return combine([english, *(f.result() for f in others)])

    def _translate_route(self, texts: Sequence[str]) -> list[str]:
        english, leaks = self._translate(texts)
        broken = [i for i, e in enumerate(english) if _has_mark(texts[i], e) or _LOST_PLACEHOLDER.search(e)]
        if broken:  # a placeholder Apertium split or respelled: those texts again, names unprotected
            again, again_leaks = self._translate([texts[i] for i in broken], protect=False)
            for i, e, n in zip(broken, again, again_leaks):
                english[i], leaks[i] = e, n
        redo = [i for i, n in enumerate(leaks) if n]
        if redo and self._fallback is not None:
            # Words of the pivot language left in the English: the other pivot, when it leaves fewer
            alt, alt_leaks = self._fallback._translate([texts[i] for i in redo])
            for i, a, n in zip(redo, alt, alt_leaks):
                if len(n) < len(leaks[i]):
                    english[i], leaks[i] = a, n
        english = [_replace_leaks(e, n, src) if n else e for e, n, src in zip(english, leaks, texts)]
        # a mark no repair above removed (one inside a word) is removed here: never shown
        english = [_strip_marks(e, src) if _has_mark(src, e) else e for e, src in zip(english, texts)]
        check_output(texts, english, self.engine)
        return english

    def _translate(self, texts: Sequence[str], protect: bool = True) -> tuple[list[str], list[list[str]]]:
        """English for each text, and the words the last pair did not know that are not in the
        source either: words of the pivot language ("reflexionar"), never to be shown as English."""
        current = [" ".join(_chars_in(t).split()) for t in texts]
        names: list[list[str]] = [[] for _ in texts]
        if self._names is not None and protect:
            current, names = self._names.protect(current)
        if self._french_in:
            current = [prepare_french(t) if self._spanish_between else prepare_french(t, frozenset()) for t in current]
        todo = [i for i, t in enumerate(current) if t]
        for k, proc in enumerate(self._procs):
            segments = [escape(current[i]) for i in todo]
            if k == 0 and self._spanish_between:
                segments = [_SENTINEL.sub(lambda m: f"[QZX{m.group(1)}XZQ]", s) for s in segments]
            outs = [unformat(o) for o in proc.run(segments)]
            check_output([current[i] for i in todo], outs, f"apertium {proc.pair}", marks=False)
            if k < len(self._procs) - 1:
                outs = [fix_spanish(o) for o in outs]
            for i, o in zip(todo, outs):
                current[i] = " ".join(o.split())
        done = set(todo)
        english, leaks = [], []
        for i, src in enumerate(texts):
            if i not in done:
                english.append("")
                leaks.append([])
                continue
            source = " ".join(_chars_in(src).split())
            marked = restore(current[i], names[i], src)
            leaks.append(_pivot_words(marked, source) if self._pivot_leaks else [])
            english.append(self._finish(marked, source))
        return english, leaks


class RawApertiumPivot:
    """The unrepaired baseline: each text through the pairs without marks (`apertium -u`).

    For measuring what the repairs in `ApertiumTranslator` are worth; briefs
    never use it.
    """

    def __init__(self, pairs: Sequence[str] = ("fr-es", "spa-eng"), *, timeout_s: float = 60.0) -> None:
        self.pairs = _check_pairs(pairs)
        self.timeout_s = timeout_s
        self.engine = f"raw apertium {apertium_version() or '(version unknown)'} ({' | '.join(self.pairs)})"
        self._procs = [PairProcess(p, timeout_s=timeout_s, marks=False) for p in self.pairs]

    def identity(self, hashes: HashStore | None = None) -> list[object]:
        return [pair_identity(p, hashes) for p in self.pairs]

    def translate(self, texts: Sequence[str]) -> list[str]:
        current = [" ".join(t.split()) for t in texts]
        for proc in self._procs:
            current = [" ".join(o.split()) for o in run_pair(proc, current)]
        return current
