"""Quotes: the key quotations of a story, with their speakers and sources.

Entry point: `extract_quotes(story, index, limit) -> list[Quote]`.

A quotation is text between « » or between straight double quotes (ingest
turns typographic quotes into those) inside one French body paragraph of
the story (paragraphs about another story are left out). Quotations of
fewer than `MIN_WORDS` words ("aucune garantie") are words borrowed in a
sentence rather than a statement, and are skipped.

Who said it is read from the words around the quotation, never guessed; a
quotation whose speaker the text does not name is kept without one. The
rules, in order:

1. after the quotation: `», a déclaré Donald Trump`, `», explique Microsoft`,
   `», selon X`, `», indique le communiqué` (the organisation that published
   the statement, when the document names it: `X a publié … déclaration`,
   `communiqué de X`, `X … dans son communiqué`);
2. before it, in the same sentence: `X a déclaré … : «`, `X, la directrice
   générale, a déclaré que «`, `X, qui reconnaît … que «`, `X assurant que «`,
   `selon X, «`, `un porte-parole de la Maison Blanche a déclaré «`;
3. a pronoun instead of a name (`», a-t-il déclaré`, `Elle a déclaré que «`):
   the speaker of the previous quotation of the same document, within
   `PRONOUN_WINDOW` paragraphs; else the last full name (two capitalised
   words or more) of the same paragraph before the quotation or of the
   paragraph before it;
4. a quotation that directly follows an attributed one (next in the same
   paragraph with nothing else in between, or a paragraph that is only a
   quotation right after a paragraph ending with one) continues it: same
   speaker.

`M. Trump` becomes `Donald Trump` when the document names exactly one
`… Trump` in full. `attribution` keeps the source words the speaker was
read from, for the reviewer.

The same quotation in several sources (word overlap of the shorter one
>= `SAME_QUOTE_OVERLAP`) is one quote citing all of them. Quotes are ranked
by number of sources, then with a speaker first, then full sentences before
fragments, then longer first; `limit` are kept, one per speaker before a
second one of the same speaker. A quotation that a summary sentence already
gives in full is left out (`skip`).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from typing import Sequence

from stop_words import get_stop_words

from .corpus_index import CorpusIndex, sentence_spans
from .model import Citation, Paragraph, Quote, Story

MIN_WORDS = 6
SAME_QUOTE_OVERLAP = 0.8
PRONOUN_WINDOW = 2

_WORD = re.compile(r"\w+")
_QUOTE = re.compile(r"«\s*(?P<g>[^«»]+?)\s*»|\"(?P<s>[^\"]+)\"")

# Speech verbs: past participles (after a/avait/ont), present and imperfect
# forms (incise: "», explique Microsoft"), present participles ("Microsoft
# assurant que").
_PP = (r"déclaré|dit|affirmé|ajouté|expliqué|indiqué|souligné|précisé|estimé|annoncé|assuré|confié|tweeté|"
       r"écrit|répondu|reconnu|insisté|martelé|prévenu|averti|lancé|confirmé|rappelé|commenté|poursuivi|"
       r"conclu|déploré|dénoncé|promis|jugé|regretté|admis|raconté|résumé|observé|noté|garanti|soutenu")
_PRESENT = (r"déclare|dit|affirme|ajoute|explique|indique|souligne|précise|estime|annonce|assure|confie|"
            r"tweete|écrit|répond|reconna[iî]t|insiste|martèle|prévient|avertit|lance|confirme|rappelle|"
            r"commente|poursuit|conclut|déplore|dénonce|promet|juge|regrette|admet|raconte|résume|observe|"
            r"note|garantit|soutient|déclarait|disait|affirmait|ajoutait|expliquait|indiquait|soulignait|"
            r"précisait|estimait|annonçait|assurait|confiait|écrivait|répondait|reconnaissait|insistait|"
            r"confirmait|rappelait|poursuivait|concluait")
_PARTICIPLE = (r"déclarant|disant|affirmant|ajoutant|expliquant|indiquant|soulignant|précisant|estimant|"
               r"annonçant|assurant|reconnaissant|insistant|confirmant|rappelant|promettant|jugant")
_AUX = r"(?:a|avait|ont|avaient|aurait|auraient)"
_ADVERBS = r"(?:\s+(?:également|aussi|encore|ensuite|enfin|alors|déjà|notamment|pourtant|toutefois|même))*"

# A name: capitalised words (and initials), optionally after "M." / "Mme".
_CAP = r"[A-ZÀÂÄÉÈÊËÎÏÔÖÙÛÜÇ][\w'’-]+"
_NAME = re.compile(
    rf"(?:(?:M\.|Mme|Mlle|MM\.)\s+)?{_CAP}(?:\s+(?:[A-Z]\.|{_CAP}|de\s+{_CAP}|d'{_CAP}))*"
)
# A person's full name: two capitalised words or more, initials allowed ("Donald J. Trump").
_PERSON = re.compile(rf"\b{_CAP}(?:\s+[A-Z]\.)?(?:\s+{_CAP})+")
_HONORIFIC = re.compile(r"^(?:M\.|Mme|Mlle|MM\.)\s+")
_ROLE = re.compile(
    r"^(?:un|une|le|la|l'|les|son|sa|ses|leur)\s*(?:\w+\s+)?(?:porte-parole|porte-paroles|représentant|"
    r"représentante|responsable|dirigeant|dirigeante|directeur|directrice|président|présidente|ministre|"
    r"secrétaire|avocat|avocate|conseiller|conseillère|maire|entraîneur|entraineur|préfet|préfète|"
    r"procureur|procureure|commissaire|gouverneur|sénateur|sénatrice|député|députée|patron|patronne|"
    r"chef|cheffe|médecin|expert|experte|analyste|syndicat|communiqué)\b[^,;:]*$",
    re.IGNORECASE,
)
_PRONOUN = re.compile(r"^(?:il|elle|ils|elles)$", re.IGNORECASE)
_STATEMENT = re.compile(r"^(?:le|la|un|une|son|sa|ce|cette)\s+(?:communiqué|déclaration|texte|message|note|lettre)\b",
                        re.IGNORECASE)
_LEADING_CONJ = re.compile(r"^(?:et|mais|or|puis|alors|ainsi|enfin|donc)\s+", re.IGNORECASE)
# Sentence end inside a lead (not after an honorific or an initial).
_SENTENCE_END = re.compile(r"(?<!\bM)(?<!\bMme)(?<!\b[A-Z])[.!?]\s+")

# After the closing mark.
_TAIL_PRONOUN = re.compile(
    rf"^\s*,?\s*(?:(?:{_AUX})-t-(?P<p1>il|elle|ils|elles){_ADVERBS}\s+(?:{_PP})|(?:{_PRESENT})-t?-?(?P<p2>il|elle|ils|elles))\b",
    re.IGNORECASE,
)
_TAIL_VERB = re.compile(rf"^\s*,?\s*(?:(?:{_AUX}){_ADVERBS}\s+(?:{_PP})|{_PRESENT})\s+(?P<rest>.*)$", re.DOTALL)
_TAIL_SELON = re.compile(r"^\s*,?\s*selon\s+(?P<rest>.*)$", re.DOTALL | re.IGNORECASE)

# Before the opening mark: the speech verb and what lies between it and the quote.
_LEAD_VERB = re.compile(
    rf"(?:\s(?:l'|lui\s+|leur\s+)?{_AUX}{_ADVERBS}\s+(?:{_PP})|\s(?:{_PRESENT})|\s(?:{_PARTICIPLE}))\b"
    rf"(?P<between>[^«\".!?]{{0,120}})$"
)
_LEAD_SELON = re.compile(r"\bselon\s+(?P<who>[^,«\"]+?)\s*,?\s*$", re.IGNORECASE)
_PUBLISHER_PATTERNS = (
    re.compile(rf"(?P<who>{_NAME.pattern})\s+(?:a|avait)\s+(?:publié|diffusé|rendu public|envoyé)[^.]{{0,80}}?"
               r"(?:communiqué|déclaration|message|note)"),
    re.compile(rf"(?:communiqué|déclaration)\s+(?:de|du|publiée? par)\s+(?P<who>{_NAME.pattern})"),
    re.compile(rf"(?P<who>{_NAME.pattern})[^.]{{0,80}}?dans\s+(?:un|son|leur)\s+communiqué"),
)


@dataclass(frozen=True)
class _Found:
    pid: str
    doc_id: str
    order: tuple[int, int]  # (document position in the story, paragraph index)
    start: int  # offsets of the quoted words in the paragraph text
    end: int
    text: str
    speaker: str | None
    attribution: str | None


def _stop() -> frozenset[str]:
    return frozenset(w.casefold() for w in get_stop_words("french"))


_STOP = _stop()


def _words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def _is_name(candidate: str) -> bool:
    first = _HONORIFIC.sub("", candidate).split()[0]
    return first.casefold() not in _STOP


def _trailing_name(text: str) -> str | None:
    """The name that ends `text` (allowing an apposition or ", qui" after it)."""
    text = text.rstrip()
    for m in reversed(list(_NAME.finditer(text))):
        rest = text[m.end():]
        if re.fullmatch(r"\s*(?:,\s*qui|,[^,«\"]{1,80},|,)?\s*", rest) and _is_name(m.group(0)):
            return m.group(0)
    return None


def _leading_name(text: str) -> str | None:
    m = _NAME.match(text.lstrip())
    return m.group(0) if m and _is_name(m.group(0)) else None


def _last_full_name(text: str) -> str | None:
    names = [m.group(0) for m in _NAME.finditer(text)
             if _is_name(m.group(0)) and len(_HONORIFIC.sub("", m.group(0)).split()) >= 2]
    return names[-1] if names else None


class _Document:
    """What speaker resolution needs to know about one document, read from its text when first asked
    (most documents name no publisher and use no honorific: their text is not searched for them)."""

    def __init__(self, paragraphs: Sequence[Paragraph]) -> None:
        self.text = " ".join(p.text for p in paragraphs)

    @cached_property
    def full_names(self) -> set[str]:
        return {m.group(0) for m in _PERSON.finditer(self.text) if _is_name(m.group(0))}

    @cached_property
    def publisher(self) -> str | None:
        """The one organisation the document says published a statement, or None."""
        for pattern in _PUBLISHER_PATTERNS:
            found = {m.group("who") for m in pattern.finditer(self.text) if _is_name(m.group("who"))}
            if len(found) == 1:
                return found.pop()
        return None

    def resolve(self, name: str) -> str:
        """`M. Trump` -> `Donald Trump` when the document names one `… Trump` in full."""
        bare = _HONORIFIC.sub("", name)
        if bare == name or len(bare.split()) != 1:
            return bare
        full = {n for n in self.full_names if n.split()[-1] == bare}
        return full.pop() if len(full) == 1 else bare


_ROLE_END = re.compile(r"\s+(?:en|lors|devant|dans|à|au|aux|sur|pendant|après|avant|lundi|mardi|mercredi|jeudi|"
                       r"vendredi|samedi|dimanche|hier|ce|cette|mais|et)\b.*$")
# A person's name in apposition to a role ("l'entraîneur marseillais Julien
# Garnier"), not the organisation the role belongs to ("de la Maison Blanche").
_APPOSED_NAME = re.compile(rf"(?<!\bde )(?<!\bdu )(?<!\bdes )(?<!d')(?<!\bla )(?<!\ble )(?<!\bles )(?<!l')"
                           rf"\b{_PERSON.pattern[2:]}")


def _role_speaker(phrase: str) -> str:
    """The speaker a role phrase names: the person's name in apposition, else the role itself."""
    phrase = _ROLE_END.sub("", phrase)
    m = _APPOSED_NAME.search(phrase)
    return m.group(0) if m else phrase


# What the words around a quotation say of its speaker, before its document is asked: (how, who, evidence,
# is_pronoun). `how` says what the document adds (`_speaker`): "" (the speaker is `who`, or unknown when None),
# "publisher" (the document's publisher, if it names one), "name" (`who`, resolved in the document).
_Said = tuple[str, str | None, str | None, bool]
_NOBODY: _Said = ("", None, None, False)


def _speaker(said: _Said, doc: _Document) -> tuple[str | None, str | None, bool]:
    """(speaker, evidence, is_pronoun) of what the words say (`_Said`), in its document."""
    how, who, evidence, pronoun = said
    if how == "publisher":
        who = doc.publisher
    elif how == "name":
        who = doc.resolve(who or "")
    return who, evidence, pronoun


def _speaker_phrase(text: str) -> tuple[str, str | None, bool]:
    """(how, who, is_pronoun) for a subject phrase (before or after a speech verb); see `_Said`."""
    clause = _LEADING_CONJ.sub("", text.strip().split(",")[-1].strip() if "," in text else text.strip())
    clause = re.sub(r"\s+(?:l'|lui|leur)$", "", clause)
    if _PRONOUN.match(clause):
        return "", None, True
    if _STATEMENT.match(clause):
        return "publisher", None, False
    if _ROLE.match(clause):
        return "", _role_speaker(clause), False
    name = _trailing_name(text)
    return ("name", name, False) if name else ("", None, False)


def _after(tail: str) -> _Said:
    """What the words after the quotation say of its speaker."""
    tail = tail[:160]
    m = _TAIL_PRONOUN.match(tail)
    if m:
        return "", None, m.group(0).strip(), True
    m = _TAIL_VERB.match(tail) or _TAIL_SELON.match(tail)
    if not m:
        return _NOBODY
    rest = m.group("rest")
    evidence = tail[: m.start("rest")].strip()
    statement = _STATEMENT.match(rest)
    if statement:
        return "publisher", None, f"{evidence} {statement.group(0)}", False
    role = re.match(r"^[^,.;:]+", rest)
    if role and _ROLE.match(role.group(0).strip()) and not _leading_name(rest):
        who = _role_speaker(role.group(0).strip())
        return "", who, f"{evidence} {role.group(0).strip()}", False
    name = _leading_name(rest)
    if name:
        return "name", name, f"{evidence} {name}", False
    return _NOBODY


def _before(lead: str) -> tuple[_Said | None, _Said]:
    """What the words before the quotation, in the same sentence, say of its speaker: after "selon" (taken
    when the document gives a speaker for it; None without "selon"), else before a speech verb."""
    sentence = _SENTENCE_END.split(lead)[-1]
    m = _LEAD_SELON.search(sentence)
    selon = None
    if m:
        how, who, _ = _speaker_phrase(m.group("who"))
        selon = (how, who, m.group(0).strip(), False)
    m = _LEAD_VERB.search(sentence)
    if not m:
        return selon, _NOBODY
    how, who, pronoun = _speaker_phrase(sentence[: m.start()])
    return selon, (how, who, _clip(sentence[: m.end()]), pronoun)


def _speaker_before(said: tuple[_Said | None, _Said], doc: _Document) -> tuple[str | None, str | None, bool]:
    """(speaker, evidence, is_pronoun) from the words before the quotation (`_before`), in its document."""
    selon, verb = said
    if selon is not None:
        who, evidence, _ = _speaker(selon, doc)
        if who:
            return who, evidence, False
    return _speaker(verb, doc)


class _Read:
    """What a story's texts say, read once per distinct text: the copies of an article repeat their paragraphs
    and quotations. The document's part (its publisher, its full names) is added per document (`_speaker`)."""

    def __init__(self) -> None:
        self.marks: dict[str, list[tuple[int, int, str]]] = {}
        self.after: dict[str, _Said] = {}
        self.before: dict[str, tuple[_Said | None, _Said]] = {}
        self.opening: dict[str, bool] = {}
        self.within: dict[str, bool] = {}
        self.long: dict[str, bool] = {}

    def quotes_in(self, paragraph: Paragraph) -> list[tuple[int, int, str]]:
        if paragraph.text not in self.marks:
            self.marks[paragraph.text] = _quotes_in(paragraph)
        return self.marks[paragraph.text]

    def said_after(self, tail: str) -> _Said:
        tail = tail[:160]  # (all `_after` reads)
        if tail not in self.after:
            self.after[tail] = _after(tail)
        return self.after[tail]

    def said_before(self, lead: str) -> tuple[_Said | None, _Said]:
        if lead not in self.before:
            self.before[lead] = _before(lead)
        return self.before[lead]

    def opens_sentence(self, lead: str) -> bool:
        """Whether nothing of its sentence comes before the quotation (the lead ends a sentence, or is empty)."""
        if lead not in self.opening:
            self.opening[lead] = not _SENTENCE_END.split(lead + " ")[-1].strip(" ,.;:")
        return self.opening[lead]

    def within_a_sentence(self, lead: str) -> bool:
        """Whether the lead (between two quotations) holds one sentence end at most."""
        if lead not in self.within:
            self.within[lead] = len(_SENTENCE_END.split(lead.strip() + " ")) <= 2
        return self.within[lead]

    def long_enough(self, quoted: str) -> bool:
        """Whether a quotation has `MIN_WORDS` words or more."""
        if quoted not in self.long:
            self.long[quoted] = len(_words(quoted)) >= MIN_WORDS
        return self.long[quoted]


def _clip(text: str, width: int = 90) -> str:
    text = " ".join(text.split()).strip(" ,")
    return text if len(text) <= width else "…" + text[-width:].split(" ", 1)[-1]


def _quotes_in(paragraph: Paragraph) -> list[tuple[int, int, str]]:
    out = []
    for m in _QUOTE.finditer(paragraph.text):
        group = "g" if m.group("g") is not None else "s"
        out.append((m.start(), m.end(), m.group(group).strip()))
    return out


def _find_in_document(paragraphs: Sequence[Paragraph], position: int, keep: set[str], read: _Read) -> list[_Found]:
    doc = _Document(paragraphs)
    found: list[_Found] = []
    # (paragraph number, speaker) of the last attributed quotation, for pronouns
    last: tuple[int, str] | None = None
    previous_ended_with_quote = False
    previous_speaker: str | None = None
    for p in paragraphs:
        marks = read.quotes_in(p)
        cursor = 0
        prev_speaker_here: str | None = None
        for k, (start, end, quoted) in enumerate(marks):
            lead = p.text[cursor:start]
            next_start = marks[k + 1][0] if k + 1 < len(marks) else len(p.text)
            tail = p.text[end:next_start]
            speaker, evidence, pronoun = _speaker(read.said_after(tail), doc)
            if speaker is None and not pronoun:
                speaker, evidence, pronoun = _speaker_before(read.said_before(lead), doc)
            if speaker is None and pronoun:
                if last is not None and p.index - last[0] <= PRONOUN_WINDOW:
                    speaker = last[1]
                    evidence = f"{evidence} → {speaker} (speaker of the previous quotation)"
                else:
                    earlier = [q for q in paragraphs if q.index == p.index - 1]
                    name = _last_full_name(p.text[:start]) or (_last_full_name(earlier[0].text) if earlier else None)
                    if name:
                        speaker = doc.resolve(name)
                        evidence = f"{evidence} → {speaker} (last person named before it)"
                    else:
                        evidence = None
            if speaker is None and read.opens_sentence(lead):
                # continues the quotation just before it
                if k > 0 and prev_speaker_here and read.within_a_sentence(lead):
                    speaker, evidence = prev_speaker_here, f"continues the previous quotation of {prev_speaker_here}"
                elif k == 0 and not lead.strip() and previous_ended_with_quote and previous_speaker and not tail.strip(" ,.;:"):
                    speaker, evidence = previous_speaker, f"continues the previous quotation of {previous_speaker}"
            if speaker is None:
                evidence = None
            else:
                last = (p.index, speaker)
            prev_speaker_here = speaker
            if p.pid in keep and read.long_enough(quoted):
                inner_start = p.text.index(quoted, start)
                found.append(_Found(p.pid, p.doc_id, (position, p.index), inner_start, inner_start + len(quoted),
                                    quoted, speaker, evidence))
            cursor = end
        previous_ended_with_quote = bool(marks) and not p.text[marks[-1][1]:].strip(" ,.;:")
        previous_speaker = prev_speaker_here if marks else None
    return found


def _same_quote(wa: frozenset[str], wb: frozenset[str]) -> bool:
    """Whether two quotations (as their sets of words) are one: most of the shorter one's words in the other."""
    small = min(len(wa), len(wb))
    return small > 0 and len(wa & wb) / small >= SAME_QUOTE_OVERLAP


def _fewest_shared(n: int) -> int:
    """The fewest words a quotation of `n` distinct words (the shorter of two) must share with the other
    for `_same_quote`."""
    return next(k for k in range(n + 1) if k / n >= SAME_QUOTE_OVERLAP)


def _matches(keys: list[frozenset[str]]) -> list[list[int]]:
    """For each word set, the positions of the word sets it is `_same_quote` with (itself included).

    Compared only with candidates that can match (prefix filtering): with the words of every set in
    one order (rarest first), the shorter set S of a matching pair shares with the other at least one
    of its first `len(S) - _fewest_shared(len(S)) + 1` words (it misses at most `len(S) - fewest`).
    So each set is compared with the sets whose first words it contains, and with the sets containing
    one of its own first words: a story's unrelated quotations meet only through rare words."""
    frequency = Counter(w for k in keys for w in k)
    prefix_of: dict[str, list[int]] = {}
    holding: dict[str, list[int]] = {}
    prefixes = []
    for i, k in enumerate(keys):
        ranked = sorted(k, key=lambda w: (frequency[w], w))
        prefix = ranked[:len(k) - _fewest_shared(len(k)) + 1] if k else []
        prefixes.append(prefix)
        for w in prefix:
            prefix_of.setdefault(w, []).append(i)
        for w in k:
            holding.setdefault(w, []).append(i)
    out = []
    for i, k in enumerate(keys):
        candidates = {j for w in k for j in prefix_of.get(w, ())}
        candidates.update(j for w in prefixes[i] for j in holding[w])
        out.append(sorted(j for j in candidates if _same_quote(k, keys[j])))
    return out


def _group(found: Sequence[_Found], skip: Sequence[str]) -> list[list[_Found]]:
    """The quotations grouped as one quote each, in order: each joins the first group (in order of
    creation) holding a quotation it is `_same_quote` with, else starts a group; those a `skip` text
    gives in full (as many words or more) are left out.

    Linear in a story's quotations, not quadratic: every republished copy of an article repeats its
    quotations, so only distinct sets of words are compared, each with the candidates `_matches` finds,
    and a quotation's group is the earliest group that any set it matches has joined."""
    skipped = [(frozenset(words), len(words)) for words in map(_words, skip)]
    key_of: dict[frozenset[str], int] = {}
    kept: list[tuple[_Found, int]] = []
    cut: dict[str, tuple[frozenset[str], int]] = {}  # text -> (words, number of words)
    for f in found:
        if f.text not in cut:
            words = _words(f.text)
            cut[f.text] = (frozenset(words), len(words))
        ws, n = cut[f.text]
        if any(_same_quote(ws, t) and m >= n for t, m in skipped):
            continue
        kept.append((f, key_of.setdefault(ws, len(key_of))))
    matches = _matches(list(key_of))
    first_group: dict[int, int] = {}  # word set -> the earliest group holding a quotation with those words
    groups: list[list[_Found]] = []
    for f, key in kept:
        joined = [first_group[j] for j in matches[key] if j in first_group]
        g = min(joined) if joined else len(groups)
        if g == len(groups):
            groups.append([])
        groups[g].append(f)
        first_group[key] = min(first_group.get(key, g), g)
    return groups


def _sentence_citations(found: _Found, index: CorpusIndex) -> list[Citation]:
    """The sentences of the paragraph that overlap the quoted words."""
    paragraph = index.paragraphs[found.pid]
    cited = [index.cite(s.sid) for s, start, end in sentence_spans(paragraph)
             if start < found.end and end > found.start]
    if not cited and paragraph.sentences:
        cited.append(index.cite(paragraph.sentences[0].sid))
    return cited


def extract_quotes(story: Story, index: CorpusIndex, limit: int = 5, skip: Sequence[str] = ()) -> list[Quote]:
    """The story's key quotes, best first; a quotation that `skip` texts (the summary) already give is left out."""
    off_topic = set(story.off_topic_paragraph_ids)
    found: list[_Found] = []
    read = _Read()
    for position, doc_id in enumerate(story.doc_ids):
        paragraphs = [p for p in index.documents[doc_id].paragraphs if p.kind == "body"]
        keep = {p.pid for p in paragraphs if p.lang == "fr" and p.pid not in off_topic}
        found.extend(_find_in_document(paragraphs, position, keep, read))

    groups = _group(found, skip)

    quotes: list[tuple[tuple, Quote]] = []
    for g in groups:
        primary = max(g, key=lambda f: (f.speaker is not None, len(f.text), -f.order[0], -f.order[1]))
        speakers = [f for f in g if f.speaker]
        said = Counter(f.speaker for f in speakers)
        named = max(speakers, key=lambda f: said[f.speaker]) if speakers else None
        citations: dict[str, Citation] = {}
        for f in [primary] + sorted((f for f in g if f is not primary), key=lambda f: f.order):
            for c in _sentence_citations(f, index):
                citations.setdefault(c.sid, c)
        n_docs = len({f.doc_id for f in g})
        full_sentence = primary.text[:1].isupper()
        rank = (-n_docs, named is None, not full_sentence, -min(len(_words(primary.text)), 40), primary.order)
        quotes.append((rank, Quote(
            text_fr=primary.text, citations=tuple(citations.values()),
            speaker=named.speaker if named else None, attribution=named.attribution if named else None,
        )))
    quotes.sort(key=lambda x: x[0])
    # one quote per speaker first, then the others in rank order
    seen: set[str] = set()
    first, rest = [], []
    for _, q in quotes:
        (rest if q.speaker in seen else first).append(q)
        if q.speaker:
            seen.add(q.speaker)
    ranked = [q for _, q in quotes]
    chosen = {id(q) for q in (first + rest)[:limit]}
    return [q for q in ranked if id(q) in chosen]
