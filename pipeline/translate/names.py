"""Names, organisations and places through the Apertium pivot, protected.

The pivot reads a name as a word of its language: "Peña Nieto" becomes "The
Grandson", "Santos" "Saints", "Rouleau" "Roll", "CASA" "Plant", and a name
fr-es does not know is read again by spa-eng as Spanish. Before the first pair
each run of protected capitalised words is replaced by a placeholder that no
dictionary knows (Apertium copies unknown words through every pair), and
written back after the last one. Which capitalised word is protected is
decided with the first pair's own morphological analyser:

- acronyms (two capitals or more) and words it does not know: protected;
- a proper noun that is not a place (`<np><ant>`, `<cog>`, `<al>`...): protected;
- a place (`<np><loc>`): translated alone through the route; the English
  exonym is kept when it comes back capitalised and known ("Allemagne" ->
  "Germany", "Londres" -> "London"), otherwise the French spelling
  ("Bordeaux", not "Burdeos"; "Porto", not "Port wine");
- a common word capitalised inside a sentence ("Rouleau", "Blanc", "La Salle")
  is a name: protected; at the start of a sentence it is the common word.

Numbers and dates need no protection: Apertium copies digits, and
`clean_output` writes French "2 600" and "3,5" as "2,600" and "3.5".
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from typing import Callable, Sequence

from .engine import PairProcess, escape

# initials ("A.", "U.S.", "N.Y.U.", "J.R") or a capitalised word
_CAPITALISED = re.compile(r"(?<![\w.-])(?:(?:[A-Z]\.)+(?:[A-Z](?![\w.]))?|[A-ZÀ-ÖØ-ÞŒ][\w-]*)")
# a sentence's or a quotation's first word; a quotation inside a sentence ('de "Dallas"') is not one
_SENTENCE_START = re.compile(r"(?:^|[.!?:;(]\s*|(?:^|\s)[-–—]\s|(?<![\w,] )[«\"“]\s*)$")
_VERB_FORM = re.compile(r"<(?:vblex|vbser|vbhaver|vbmod)>(?!<(?:inf|imp)>)")
_NUMBER_AFTER = re.compile(r" \d")
_READING = re.compile(r"/([^/$]*)")


_MARK = re.compile(r"[*#@]")


def _trusted(word: str, first: str, last: str, pivot: bool) -> bool:
    """Whether Apertium can be left to translate a proper noun or acronym in context: alone, it
    comes back unmarked and capitalised (an acronym as capitals), and through a pivot the first
    pair knew an equivalent ("Alexandre" -> "Alejandro" -> "Alexander"); a person's name the first
    pair only copied is read again as a word by the next ("Santos" -> "Santos" -> "Saints"), a
    place it copied is a place for both ("Londres" -> "Londres" -> "London")."""
    if not last:
        return False
    if _MARK.search(first + last):  # a place only respelled ("Kioto"): clean_output gives the source's back
        plain = _MARK.sub("", last)
        return not pivot and " " not in plain and difflib.SequenceMatcher(None, plain.casefold(), word.casefold()).ratio() >= 0.7
    if (last.casefold() == word.casefold() and last != word) or (
            len(last) > len(word) >= 6 and len(os.path.commonprefix([last.casefold(), word.casefold()])) >= len(word) - 1):
        # the same name in other capitals ("Youtube") or only respelled ("Marseilles", "Suriname",
        # and "Palestinian", which is an adjective): the source's spelling, protected
        return False
    if pivot and first == word:
        return False
    if word.isupper() and len(word) > 1:
        return last.isupper() and " " not in last
    return all(w[:1].isupper() for w in last.split())


def placeholder(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(97 + rem) + letters
    return f"Zqx{letters}xqz"


def _index(letters: str) -> int:
    n = 0
    for c in letters:
        n = n * 26 + (ord(c) - 96)
    return n - 1


@dataclass
class NameGuard:
    """Replaces protected names with placeholders (`protect`) and writes them back (`restore`).

    `analyser` is the first pair's analyser; `translate_alone` translates words alone through
    the route, giving (first pair's output, last pair's output) with Apertium's marks; `pivot` says
    whether the route has more than one pair.
    """

    analyser: PairProcess
    translate_alone: Callable[[list[str]], list[tuple[str, str]]]
    pivot: bool
    _decided: dict[tuple[str, bool], str | None] = field(default_factory=dict)

    def _decide(self, words: set[tuple[str, bool]]) -> None:
        todo = sorted(w for w in words if w not in self._decided)
        if not todo:
            return
        analyses = self.analyser.run([escape(w) for w, _ in todo])
        check: list[tuple[str, bool]] = []
        places: set[str] = set()
        for (word, initial), analysis in zip(todo, analyses):
            parts = [_READING.findall(u) for u in analysis.split("$")[:-1]] or [[]]
            readings = parts[0]
            if "-" in word and all(p[:1].isupper() for p in word.split("-")) and len(parts) > 1:
                # "Mette-Marit", "Lu-Gucci": a name when any part is one ("Haute-Couture" is not)
                readings = next((r for r in parts if not r or any(x.startswith("*") or "<np>" in x for x in r)),
                                readings)
            unknown = not readings or any(r.startswith("*") for r in readings)
            proper = any("<np>" in r for r in readings)
            common = any("<np>" not in r for r in readings)
            acronym = len(word) > 1 and word.isupper()
            # a place, and no person's name ("Victoria" is both: spa-eng reads it as "victory")
            place = any("<np><loc>" in r for r in readings) and not any("<np><ant>" in r for r in readings)
            if "." in word or (len(word) == 1 and not initial):
                self._decided[(word, initial)] = word  # initials ("A. N. Wilson", "U.S."), "les axes X et Y"
            elif len(word) < 2:
                self._decided[(word, initial)] = None  # "A" opening a sentence is "À"
            elif not initial and readings and all(_VERB_FORM.search(r) for r in readings):
                self._decided[(word, initial)] = word  # only a conjugated verb inside a sentence: "Charmé", "Dallas"
            elif unknown and initial and re.search(r"-[a-zà-ÿ]", word):
                self._decided[(word, initial)] = None  # "Mi-novembre": a compound word, not a name
            elif unknown:
                self._decided[(word, initial)] = word
            elif acronym or (proper and not (initial and common)):
                check.append((word, initial))
                places.add(word) if place else None
            else:  # a common word ("Cela", "Trente" at the start; "Grand" in "Alexandre le Grand")
                self._decided[(word, initial)] = None
        if check:
            for (word, initial), (first, last) in zip(check, self.translate_alone([w for w, _ in check])):
                trusted = _trusted(word, first, last, self.pivot and word not in places)
                self._decided[(word, initial)] = None if trusted else word

    def protect(self, texts: Sequence[str]) -> tuple[list[str], list[list[str]]]:
        """Texts with placeholders, and per text the English each placeholder stands for."""
        found = []
        for text in texts:
            spans = []
            for m in _CAPITALISED.finditer(text):
                if text[m.end(): m.end() + 1] in ("'", "\u2019"):
                    continue  # elided: "J'ai", "Aujourd'hui", "L'Express"
                initial = bool(_SENTENCE_START.search(text, max(0, m.start() - 4), m.start()))
                spans.append((m.start(), m.end(), m.group(0), initial))
            found.append(spans)
        self._decide({(w, initial) for spans in found for _, _, w, initial in spans})
        out_texts, out_names = [], []
        for text, spans in zip(texts, found):
            spans = _whole_names(text, spans, self._decided)
            pieces: list[str] = []
            names: list[str] = []
            pos = 0
            spans, spans_kept = spans
            for start, end, word, initial in spans:
                numbered = not initial and _NUMBER_AFTER.match(text, end)  # "la Ligue 1", "Formule 1"
                english = word if (word, initial) in spans_kept or numbered else self._decided[(word, initial)]
                if english is None:
                    continue
                gap = text[pos:start]
                if names and pieces and pieces[-1] == placeholder(len(names) - 1) and gap == " ":
                    names[-1] += " " + english  # one placeholder for "Enrique Peña Nieto"
                else:
                    pieces.append(gap)
                    pieces.append(placeholder(len(names)))
                    names.append(english)
                pos = end
            pieces.append(text[pos:])
            out_texts.append("".join(pieces))
            out_names.append(names)
        return out_texts, out_names


_AFTER = re.compile(r"(?P<p>[*#@~]*[Zz][Qq][Xx](?P<i>[a-z]+)[Xx][Qq][Zz])(?P<next> [A-Z][a-z]+\b)?")


def _whole_names(text: str, spans: list[tuple[int, int, str, bool]],
                 decided: dict[tuple[str, bool], str | None]) -> tuple[list[tuple[int, int, str, bool]], set]:
    """A run of capitalised words with one protected name in it is one name: "Chantal Rouleau",
    "Le Devoir", "Laissez Faire" (not "Chantal roll"). Returns the spans and the words so kept."""
    kept: set[tuple[str, bool]] = set()
    run: list[tuple[int, int, str, bool]] = []

    def close() -> None:
        if len(run) > 1 and (any(decided[(w, i)] == w for _, _, w, i in run) or not any(i for *_, i in run)):
            kept.update((w, i) for _, _, w, i in run if decided[(w, i)] is None)
        run.clear()

    for span in spans:
        if run and text[run[-1][1]: span[0]] != " ":
            close()
        if not (span[3] and decided[(span[2], span[3])] is None):  # "Selon", "Avec" opening a sentence
            run.append(span)
    close()
    return spans, kept


def restore(text: str, names: Sequence[str], source: str = "") -> str:
    """Placeholders (with any mark Apertium put on them) back to the names they stand for.

    A placeholder that starts a sentence makes Apertium capitalise the word after it ("Ben Affleck
    Has achieved"): that word is lowercased again unless the source has it capitalised."""
    capitalised = set(re.findall(r"\b[A-Z][a-z]+\b", source))

    def repl(m: re.Match[str]) -> str:
        i = _index(m.group("i").lower())
        name = names[i] if 0 <= i < len(names) else ""
        nxt = m.group("next") or ""
        if nxt and nxt[1:] not in capitalised:
            nxt = " " + nxt[1].lower() + nxt[2:]
        return name + nxt

    return _AFTER.sub(repl, text)
