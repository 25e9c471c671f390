"""The review site: one static HTML page per brief, and an index, that work offline.

Entry points:
- `review_jobs(briefs, index, dedup_result) -> list[(lang, target, text)]`:
  the texts to translate before writing the pages: each distinct sentence
  of the paragraphs the pages show, once, to English (and to French when
  the paragraph is in another language);
- `write_review_site(run_dir, briefs, index, dedup_result, translated, run_id,
  cache=None) -> list[Path]`: writes `<run_dir>/review/index.html` and
  `<run_dir>/review/<story>.html`, returns their paths;
- `build_review_site(...)`: the same as a run makes it (translations asked for
  only for the pages it has to render, pages rendered on the executor's
  workers, unchanged pages linked from the previous run); a run calls it in
  two parts, `start_review_site(..., background=thread)` then `finish()`, so
  that it writes the briefs' files while the workers render the pages.

On a brief's page, clicking a citation number shows the cited paragraph in
its original language, in French (when the original is not French) and in
English side by side, the cited sentence marked in each, followed by the
same text in other sources: the paragraph's duplicate group (exact, near,
contained) and the sentence's (including reworded same-fact reports), each
side by side too, with the files it appears in (the first `BLOCK_COPIES`
paragraphs in corpus order, and how many there are in all: a text repeated
across the corpus would otherwise list every copy on every page citing it;
dedup.json lists all).

Linear in the input: each distinct paragraph text is written once per page
(original, French, English, cut at its sentences) and every place that
shows it is a slot the page script fills with a copy, its own sentences
marked. A citation's duplicates are one block per page for each (paragraph
group, sentence group) pair, shared by every citation into it (the script
moves the block under the citation shown); in a block, paragraphs with the
same text and marks are one slot with the list of files they appear in.
Translations are made sentence by sentence, so a sentence is translated
once whatever the number of paragraphs that repeat it. Pages are cached
(kind "review") under a hash of their inputs and the code that renders
them, so a run whose briefs, groups and translations did not change renders
nothing. A brief's page does not name the run (the index does): it is a
function of its key alone, so a run hard-links the previous run's file of
a page whose key is unchanged (`review/pages.json` holds each page's key)
instead of writing it again.

Per page work (the page's slice of the corpus, groups and translations is
gathered here; rendering, and compressing for the cache, on the workers)
is linear in what the page shows; pages go to the workers a batch at a
time, so the main process holds one batch of HTML at once.

Pages are self-contained: inline CSS and JavaScript, no network (a Content
Security Policy allows nothing else; the script runs by its hash). Every
corpus text goes through Jinja2 autoescaping or `_esc` (markupsafe's
`escape` as a plain string: the many repeated pieces, the evidence, the
blocks and the stored texts are written in Python), and the script only copies,
moves and toggles pre-rendered elements (marks are made with textContent),
so text like `<script>` shows as written.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import json
import logging
import marshal
import os
import re
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, NamedTuple, Sequence

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape

from ..cache import collector_paused
from ..corpus_index import CorpusIndex, sentence_spans
from ..dedup import group_of
from ..model import Brief, DedupResult, Document, DupGroup, Paragraph, Sentence
from . import citation_numbers, cited_sentences, compress_text, expand_text, lines_label, n_sources

if TYPE_CHECKING:
    from ..cache import Cache

log = logging.getLogger("pipeline")

REVIEW_DIR = "review"
CACHE_KIND = "review"
_TEMPLATES = ("review_brief.html.j2", "_review_head.html.j2", "review.css", "review.js")
_WORD = re.compile(r"\w")

Translated = Mapping[tuple[str, str, str], str]  # (source language, target language, text) -> translation


class Unit(NamedTuple):
    """A piece of a paragraph: a sentence (numbered `k` in the paragraph), or the space between two (k None).
    `kept`: in a translation column, a sentence left in its own language (`output.review_english: cited`).
    (A named tuple: a page makes 100,000 of them, and a frozen dataclass costs 3x as much to make.)"""

    text: str
    k: int | None
    kept: bool = False


@dataclass(frozen=True)
class Copy:
    """One place a paragraph text appears."""

    pid: str
    file: str
    paragraph: int
    lines: str
    relations: tuple[str, ...] = ()  # how it duplicates the group's canonical member


@dataclass
class StoredText:
    """A distinct paragraph text, written once per page: original, French (when the original is not
    French) and English, sentence by sentence; the slots that show it say which sentences to mark."""

    id: str
    lang: str
    original: list[Unit]
    english: list[Unit] | None  # None: no English available
    english_note: str  # why english is what it is ("" when translated)
    french: list[Unit] | None = None  # None: the original is French, or no French available
    french_note: str = ""


@dataclass
class Slot:
    """Where a stored text is shown (the page script copies it in), the sentences marked, and where it comes from."""

    text: str  # StoredText.id
    marks: str  # the k of the marked sentences, space-separated
    copies: list[Copy] = field(default_factory=list)


@dataclass
class DupBlock:
    """The same text in other sources: the paragraphs of a (paragraph group, sentence group) pair, the
    first `BLOCK_COPIES` of them in corpus order (`n_paragraphs`, `n_files`: how many in all)."""

    id: str
    slots: list[Slot]
    n_paragraphs: int
    n_files: int

    @property
    def n_shown(self) -> int:
        return sum(len(s.copies) for s in self.slots)


# Paragraphs a block of duplicates lists on a page: a text repeated across the corpus (a source line, a
# sentence every outlet quotes) is in a group that grows with the corpus, and each page citing it would
# list every copy (pages x copies: quadratic in the group's size). The page says how many there are in
# all; dedup.json lists every one.
BLOCK_COPIES = 20


@dataclass(frozen=True)
class _Block:
    """A block's paragraphs as a page shows them: pid -> (relations, sids to mark) of the first
    `BLOCK_COPIES` in corpus order, and how many paragraphs and files the two groups hold in all."""

    shown: dict[str, tuple[list[str], set[str]]]
    n_paragraphs: int
    n_files: int


@dataclass
class Evidence:
    number: int
    file: str
    paragraph: int
    lines: str
    text: str
    cited: Slot
    block: str | None  # id of its DupBlock; None: no duplicate in other sources


def _units(paragraph: Paragraph) -> list[Unit]:
    """The paragraph's text cut at its sentences; text between sentences that has words is numbered too
    (it is translated), blank text is not."""
    pieces: list[str] = []
    cursor = 0
    for s, at, end in sentence_spans(paragraph):
        if at > cursor:
            pieces.append(paragraph.text[cursor:at])
        pieces.append(s.text)
        cursor = end
    if cursor < len(paragraph.text) or not pieces:
        pieces.append(paragraph.text[cursor:])
    out, k = [], 0
    for text in pieces:
        if _translatable(text):
            out.append(Unit(text, k))
            k += 1
        else:
            out.append(Unit(text, None))
    return out


def _marks(paragraph: Paragraph, units: list[Unit], marked: set[str]) -> str:
    """The k of the paragraph's sentences whose id is in `marked`."""
    texts = {s.text for s in paragraph.sentences if s.sid in marked}
    if not texts:
        return ""
    return " ".join(str(u.k) for u in units if u.k is not None and u.text in texts)


def _translatable(text: str) -> bool:
    return bool(_WORD.search(text))


ENGLISH_MODES = ("all", "cited")
KEPT_NOTE = "sentences in grey are not translated: they are not cited here (output.review_english: cited)"


@dataclass(frozen=True)
class _Lookups:
    """Built once per site, not once per page: each is linear in the corpus; a block is made once per
    site, on first use (`blocks`), whatever the number of pages that show it."""

    order: Mapping[str, int]  # paragraph id -> position in the corpus (duplicates are shown in corpus order)
    para_groups: Mapping[str, DupGroup]
    sent_groups: Mapping[str, DupGroup]
    blocks: dict[tuple[str | None, str | None], _Block] = field(default_factory=dict, compare=False)

    @classmethod
    def build(cls, index: CorpusIndex, dedup_result: DedupResult) -> "_Lookups":
        return cls({pid: i for i, pid in enumerate(index.paragraphs)},
                   group_of(dedup_result.paragraph_groups), group_of(dedup_result.sentence_groups))

    def block_key(self, sid: str, index: "CorpusIndex | _PageIndex") -> tuple[str | None, str | None]:
        """The duplicate groups of a cited sentence's paragraph and of the sentence (None: in none)."""
        pg = self.para_groups.get(index.sentences[sid].pid)
        sg = self.sent_groups.get(sid)
        return (pg.group_id if pg else None, sg.group_id if sg else None)

    def block(self, sid: str, index: "CorpusIndex | _PageIndex") -> tuple[tuple[str | None, str | None], _Block] | None:
        """The block of a cited sentence's duplicates, and its key; None: the sentence is in no group."""
        key = self.block_key(sid, index)
        if key == (None, None):
            return None
        block = self.blocks.get(key)
        if block is None:
            block = self.blocks[key] = self._block(sid, index)
        return key, block

    def _block(self, sid: str, index: "CorpusIndex | _PageIndex") -> _Block:
        """The paragraphs of the two groups of a cited sentence (its own included): how many, in how many
        files, and pid -> (relations, sids to mark) of the first `BLOCK_COPIES` in corpus order. Only those
        are labelled (a group of 100 copies shows 20)."""
        para_group = self.para_groups.get(index.sentences[sid].pid)
        sent_group = self.sent_groups.get(sid)
        sentences = index.sentences
        sent_members = [(m, sentences[m.id].pid) for m in sent_group.members if m.id in sentences] \
            if sent_group is not None else []
        pids = dict.fromkeys([m.id for m in para_group.members] if para_group is not None else [])
        pids.update(dict.fromkeys([pid for _, pid in sent_members]))
        order = self.order.get
        # the first in corpus order, ties in order of first appearance (as a stable sort of them all)
        shown = dict.fromkeys(heapq.nsmallest(BLOCK_COPIES, pids, key=lambda pid: order(pid, 0)))
        out: dict[str, tuple[list[str], set[str]]] = {pid: ([], set()) for pid in shown}
        if para_group is not None:
            for m in para_group.members:
                if m.id in out:
                    out[m.id][0].append("canonical paragraph of its group" if m.id == para_group.canonical else
                                        f"same paragraph: {m.relation}, similarity {m.score:.2f}")
        if sent_group is not None:
            for m, pid in sent_members:
                if pid in out:
                    relations, marks = out[pid]
                    relations.append(
                        "canonical sentence of its group" if m.id == sent_group.canonical else
                        f"same {'fact, reworded' if m.relation == 'same_fact' else 'sentence: ' + m.relation}, "
                        f"similarity {m.score:.2f}")
                    marks.add(m.id)
        files = {index.paragraphs[pid].doc_id for pid in pids}
        return _Block(out, len(pids), len(files))


_Plan = tuple[dict[str, None], set[str]]  # what `_page_paragraphs` gives: a page's paragraphs and marked texts


def _page_paragraphs(brief: Brief, index: CorpusIndex, lookups: _Lookups) -> _Plan:
    """The paragraphs one page shows (cited ones and their duplicates) in order of first use, each once,
    and the texts of the sentences it marks (the cited ones and their duplicates)."""
    seen: dict[str, None] = {}
    marked: set[str] = set()
    keys: set[tuple[str | None, str | None]] = set()
    for sid in citation_numbers(brief):
        seen.setdefault(index.sentences[sid].pid, None)
        marked.add(index.sentences[sid].text)
        found = lookups.block(sid, index)
        if found is not None and found[0] not in keys:  # a block is listed once per page
            keys.add(found[0])
            for pid, (_relations, marks) in found[1].shown.items():
                seen.setdefault(pid, None)
                marked.update(index.sentences[m].text for m in marks)
    return seen, marked


def _shown(briefs: Sequence[Brief], index: CorpusIndex, lookups: _Lookups) -> dict[str, None]:
    """Every paragraph the pages show (cited ones and their duplicates), in order of first use, each once."""
    seen: dict[str, None] = {}
    for b in briefs:
        seen.update(_page_paragraphs(b, index, lookups)[0])
    return seen


def paragraphs_for_review(briefs: Sequence[Brief], index: CorpusIndex, dedup_result: DedupResult) -> list[str]:
    """Ids of the paragraphs the review pages show, in order of first use, each once."""
    return list(_shown(briefs, index, _Lookups.build(index, dedup_result)))


def _targets(lang: str) -> tuple[str, ...]:
    """The languages a paragraph is shown in besides its own: English always, French too."""
    return ("en",) if lang == "fr" else ("fr",) if lang == "en" else ("fr", "en")


def _unit_texts(p: Paragraph, cut: dict[str, list[str]]) -> list[str]:
    """The texts of the paragraph's translatable units, cut once (`cut`: pid -> texts, filled here)."""
    texts = cut.get(p.pid)
    if texts is None:
        texts = cut[p.pid] = [u.text for u in _units(p) if u.k is not None]
    return texts


def review_jobs(briefs: Sequence[Brief], index: CorpusIndex, dedup_result: DedupResult, english: str = "all",
                lookups: _Lookups | None = None, plans: Sequence[_Plan] | None = None,
                cut: dict[str, list[str]] | None = None) -> list[tuple[str, str, str]]:
    """(language, target, text) of each distinct sentence to translate for the pages, once, in order of first use.

    Sentence by sentence rather than paragraph by paragraph: republished copies of an article repeat
    most sentences in paragraphs that differ by one, and the brief's own sentences are already translated.
    `english`: "all" translates every sentence of the paragraphs shown; "cited" only the sentences a
    page marks (its citations and their duplicates), the others are shown in their own language.
    `plans`: each brief's `_page_paragraphs`, when the caller made them (they are used again to render);
    `cut`: the paragraphs' units as `_unit_texts` cuts them, kept by the caller to use again.
    """
    if english not in ENGLISH_MODES:
        raise ValueError(f"review english mode {english!r}: one of {', '.join(ENGLISH_MODES)}")
    lookups = lookups or _Lookups.build(index, dedup_result)
    jobs: dict[tuple[str, str, str], None] = {}
    cut = {} if cut is None else cut
    for i, brief in enumerate(briefs):
        shown, marked = plans[i] if plans is not None else _page_paragraphs(brief, index, lookups)
        for pid in shown:
            p = index.paragraphs[pid]
            units = _unit_texts(p, cut)
            if english != "all":
                units = [u for u in units if u in marked]
            jobs.update(dict.fromkeys((p.lang, target, u) for target in _targets(p.lang) for u in units))
    return list(jobs)


def _translation(p: Paragraph, units: list[Unit], translated: Translated, target: str,
                 wanted: set[str] | None = None) -> tuple[list[Unit] | None, str]:
    """The paragraph in `target`, sentence by sentence; None and why when a sentence has no translation.
    `wanted`: the sentences to translate (None: all); the others are kept in their own language, said."""
    name = {"en": "English", "fr": "French"}[target]
    if p.lang == target:
        return units, f"the paragraph is in {name}"
    out = []
    kept = False
    for u in units:
        if u.k is not None and wanted is not None and u.text not in wanted:
            out.append(Unit(u.text, None, kept=True))
            kept = True
            continue
        text = translated.get((p.lang, target, u.text), "") if u.k is not None else u.text
        if u.k is not None and not text.strip():
            if p.lang == "fr":
                return None, f"no {name} translation in this run"
            return None, f"not translated: the paragraph is in '{p.lang}', no {name} translation in this run"
        out.append(Unit(text, u.k))
    return out, KEPT_NOTE if kept else ""


def _copy(pid: str, index: "CorpusIndex | _PageIndex", relations: Sequence[str] = ()) -> Copy:
    p = index.paragraphs[pid]
    return Copy(pid, index.documents[p.doc_id].path, p.index, lines_label(p.line_start, p.line_end), tuple(relations))


class _Page:
    """One page's citations, duplicate blocks and stored texts (each distinct paragraph text once)."""

    def __init__(self, index: "CorpusIndex | _PageIndex", lookups: "_Lookups | _PageLookups", translated: Translated,
                 wanted: set[str] | None = None) -> None:
        self.index, self.lookups, self.translated, self.wanted = index, lookups, translated, wanted
        self.texts: dict[tuple[str, str], StoredText] = {}
        self.blocks: dict[tuple[str | None, str | None], DupBlock] = {}
        self.units: dict[str, list[Unit]] = {}  # each paragraph's, cut once per page (it may fill several slots)
        self.complete = True  # every sentence meant to be translated has its translation

    def slot(self, pid: str, marked: set[str]) -> Slot:
        p = self.index.paragraphs[pid]
        units = self.units.get(pid)
        if units is None:
            units = self.units[pid] = _units(p)
        stored = self.texts.get((p.lang, p.text))
        if stored is None:
            english, note = _translation(p, units, self.translated, "en", self.wanted)
            french, french_note = _translation(p, units, self.translated, "fr", self.wanted) if p.lang != "fr" \
                else (None, "")
            self.complete = self.complete and english is not None and (p.lang == "fr" or french is not None)
            stored = StoredText(f"t-{len(self.texts) + 1}", p.lang, units, english, note, french, french_note)
            self.texts[(p.lang, p.text)] = stored
        return Slot(stored.id, _marks(p, units, marked))

    def block(self, sid: str) -> str | None:
        """The id of the block of the cited sentence's duplicates (made on first use); None: it has none."""
        found = self.lookups.block(sid, self.index)
        if found is None:
            return None
        key, block = found
        if key not in self.blocks:
            slots: dict[tuple[str, str], Slot] = {}  # paragraphs with the same text and marks: one slot
            for pid, (relations, marks) in block.shown.items():
                s = self.slot(pid, marks)
                slots.setdefault((s.text, s.marks), s).copies.append(_copy(pid, self.index, relations))
            self.blocks[key] = DupBlock(f"dup-{len(self.blocks) + 1}", list(slots.values()), block.n_paragraphs,
                                        block.n_files)
        return self.blocks[key].id

    def data(self, brief: Brief) -> dict:
        by_sid = cited_sentences(brief)
        evidence = []
        for sid, number in citation_numbers(brief).items():
            c = by_sid[sid]
            pid = self.index.sentences[sid].pid
            block = self.block(sid)
            cited = self.slot(pid, {sid})
            cited.copies.append(_copy(pid, self.index))
            evidence.append(Evidence(number=number, file=c.file, paragraph=c.paragraph,
                                     lines=lines_label(c.line_start, c.line_end), text=c.text, cited=cited,
                                     block=block))
        return {"brief": brief, "numbers": citation_numbers(brief), "n_docs": len(brief.sources),
                "evidence": evidence, "blocks": list(self.blocks.values()), "texts": list(self.texts.values())}


# What decides a paragraph's translation into a language on a page: the translations themselves, or
# (in a run) the identity of the engine of that direction, since translations are a function of it.
TranslationsKey = Callable[[Paragraph, str], object]


def _translations_of(translated: Translated) -> TranslationsKey:
    return lambda p, target: [translated.get((p.lang, target, u.text)) for u in _units(p) if u.k is not None]


def _page_key(brief: Brief, index: CorpusIndex, lookups: _Lookups, translations: TranslationsKey,
              english: str = "all", documents_key: str = "") -> str:
    """What a page shows, hashed from its inputs (cheap next to building it): the brief, the blocks of
    its cited sentences' duplicates as shown, every paragraph shown (in the order shown) and its translations.
    `documents_key`: what documents are a function of besides their bytes (ingest's code and settings);
    with it, a paragraph is named by its id and its document's bytes (`_paragraph_id`) instead of being
    hashed whole (a warm run's pages show 60,000 paragraphs at 10,000 articles). (Used with no cache only: a
    cached run keys pages by their inputs, `_known_keys`.)"""
    h = hashlib.sha256(_code_key().encode())
    h.update(english.encode())
    h.update(documents_key.encode())
    h.update(repr(brief).encode())
    pids: dict[str, None] = {}
    keys: set[tuple[str | None, str | None]] = set()
    for sid in citation_numbers(brief):
        pids[index.sentences[sid].pid] = None
        found = lookups.block(sid, index)
        if found is not None and found[0] not in keys:
            keys.add(found[0])
            block = found[1]
            pids.update(dict.fromkeys(block.shown))
            # the block as shown: not the group ids (numbered across the corpus, they move when any article
            # is added); its labels carry the relations and the scores as shown (two decimals)
            h.update(repr(([(pid, relations, sorted(marks)) for pid, (relations, marks) in block.shown.items()],
                           block.n_paragraphs, block.n_files)).encode())
    for pid in sorted(pids, key=lambda p: lookups.order.get(p, 0)):
        p = index.paragraphs[pid]
        d = index.documents[p.doc_id]
        h.update(_paragraph_id(p, d) if documents_key else _paragraph_key(p, d.path))
        for target in _targets(p.lang):
            h.update(repr(translations(p, target)).encode())
    return h.hexdigest()


def _paragraph_id(p: Paragraph, d: Document) -> bytes:
    """A paragraph as the document it comes from names it: its id, and the document's place, bytes and
    extractor (with the ingest code and settings, what the paragraph is a function of)."""
    return repr((p.pid, d.path, d.sha256, d.format, d.extractor)).encode()


def _paragraph_key(p: Paragraph, path: str) -> bytes:
    """What a page shows of a paragraph (its text, sentences, language, place), as bytes to hash: the
    fields it reads, as a tuple's repr (a dataclass repr, field names and all, costs several times more)."""
    return repr((path, p.pid, p.lang, p.index, p.line_start, p.line_end, p.text,
                 [(s.sid, s.text) for s in p.sentences])).encode()


@lru_cache(maxsize=1)
def _script() -> tuple[str, str]:
    """The page script and its CSP hash."""
    text = resources.files("pipeline.render").joinpath("templates/review.js").read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")
    return text, f"'sha256-{digest}'"


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("pipeline.render", "templates"),
        undefined=StrictUndefined,
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@lru_cache(maxsize=1)
def _code_key() -> str:
    """What the pages' HTML depends on besides their data: this module, the templates, Jinja2."""
    from ..cache import code_fingerprint, digest, package_versions

    folder = resources.files("pipeline.render").joinpath("templates")
    return digest(CACHE_KIND, code_fingerprint(__name__, "pipeline.render"), package_versions("jinja2", "markupsafe"),
                  [(n, folder.joinpath(n).read_text(encoding="utf-8")) for n in _TEMPLATES])


def _render_page(data: dict) -> str:
    script, script_hash = _script()
    numbers = data["numbers"]
    return _environment().get_template("review_brief.html.j2").render(
        **data, n_sources=n_sources, script=script, script_hash=script_hash,
        cites=lambda item: Markup(_cites_html(item, numbers)), evidence_html=Markup(_evidence_html(data["evidence"])),
        blocks_html=Markup(_blocks_html(data["blocks"])), texts_html=Markup(_texts_html(data["texts"])))


# The page's many small repeated pieces (the citations, the cited paragraphs, the blocks of duplicates, the
# stored texts sentence by sentence) are written here rather than in the template: a Jinja loop, macro
# call or autoescaped `{{ }}` costs more than the markup it writes, and a 10,000-article run's pages hold
# 400,000 of them (a +1% run renders 160 pages of 200 KB). Every text is escaped (`_esc`), exactly as
# autoescaping (markupsafe's `escape`) would; the template places each part (a test compares them).

def _esc(value: object) -> str:
    """markupsafe's `escape`, as a plain string (what autoescaping writes). A page escapes 3,000 values, most
    of them plain strings or numbers: a string is escaped here as markupsafe escapes one (`&`, `>`, `<`, `'`,
    `"`, in that order: a test holds the two to each other), without making a `Markup` of it first."""
    kind = type(value)
    if kind is str:
        return value.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;").replace("'", "&#39;") \
            .replace('"', "&#34;")  # type: ignore[attr-defined]
    if kind is int:
        return str(value)
    return str(escape(value))


def _cites_html(item: Any, numbers: Mapping[str, int]) -> str:
    """A summary sentence's or quote's citation links."""
    return "".join(f'<a class="cite" href="#ev-{numbers[c.sid]}" title="{_esc(c.file)}, paragraph {c.paragraph}">'
                   f'{numbers[c.sid]}</a>' for c in item.citations)


def _units_html(units: Sequence[Unit]) -> str:
    out = []
    for u in units:
        if u.kept:
            out.append(f'<span class="kept">{_esc(u.text)}</span>')
        elif u.k is not None:
            out.append(f'<span class="s" data-k="{u.k}">{_esc(u.text)}</span>')
        else:
            out.append(_esc(u.text))
    return "".join(out)


def _translation_html(units: Sequence[Unit] | None, note: str) -> str:
    if units is None:
        return f'<span class="note">{_esc(note)}</span>'
    return _units_html(units) + (f' <span class="note">({_esc(note)})</span>' if note else "")


def _where_html(c: Copy) -> str:
    relations = f' — <span class="relations">{_esc("; ".join(c.relations))}</span>' if c.relations else ""
    return f'<code class="file">{_esc(c.file)}</code>, paragraph {c.paragraph}, {_esc(c.lines)}{relations}'


def _slot_html(s: Slot) -> str:
    if len(s.copies) == 1:
        c = s.copies[0]
        head = f'<div class="paragraph" data-pid="{_esc(c.pid)}">\n  <div class="where">{_where_html(c)}</div>\n'
    else:
        copies = "".join(f'    <li data-pid="{_esc(c.pid)}">{_where_html(c)}</li>\n' for c in s.copies)
        head = f'<div class="paragraph">\n  <div class="where">{len(s.copies)} copies of this text:</div>\n' \
               f'  <ul class="copies">\n{copies}  </ul>\n'
    return f'{head}  <div class="slot" data-text="{_esc(s.text)}" data-marks="{_esc(s.marks)}"></div>\n</div>\n'


def _evidence_html(evidence: Sequence[Evidence]) -> str:
    """Each citation's section: where it is, the cited sentence, its paragraph's slot, the link to its block."""
    out = []
    for e in evidence:
        block = f' data-block="{_esc(e.block)}"' if e.block else ""
        link = f'    <h4 class="dups-link"><a href="#{_esc(e.block)}">Same text in other sources</a></h4>\n' \
            if e.block else "    <h4>No duplicate of this text in other sources</h4>\n"
        out.append(f'  <section class="evidence" id="ev-{_esc(e.number)}" data-file="{_esc(e.file)}"{block}>\n'
                   f'    <h3>[{_esc(e.number)}] <code class="file">{_esc(e.file)}</code>, paragraph '
                   f'{_esc(e.paragraph)}, {_esc(e.lines)}</h3>\n'
                   f'    <div class="cited-sentence">Cited sentence: <mark>{_esc(e.text)}</mark></div>\n'
                   f'{_slot_html(e.cited)}\n{link}  </section>\n')
    return "".join(out)


def _blocks_html(blocks: Sequence[DupBlock]) -> str:
    """Each block of duplicates: how many paragraphs and files in all, and the slots of those shown."""
    out = []
    for b in blocks:
        n, shown, texts = b.n_paragraphs, b.n_shown, len(b.slots)
        first = f" in the first {_esc(shown)}" if shown < n else ""
        out.append(f'    <div class="dups" id="{_esc(b.id)}">\n'
                   f'      <h4>The same text in the corpus: {_esc(n)} paragraph{"s" if n != 1 else ""} in '
                   f'{_esc(b.n_files)} file{"s" if b.n_files != 1 else ""} (the cited one included), {_esc(texts)} '
                   f'distinct text{"s" if texts != 1 else ""}{first}</h4>\n')
        if shown < n:
            out.append(f'      <p class="more">The first {_esc(shown)} paragraphs in corpus order are listed here; '
                       f'<code>dedup.json</code> lists all {_esc(n)}.</p>\n')
        out.extend(f"{_slot_html(s)}\n" for s in b.slots)
        out.append("    </div>\n")
    return "".join(out)


def _texts_html(texts: Sequence[StoredText]) -> str:
    """Each distinct paragraph text: original, French (when the original is not French) and English."""
    out = []
    for t in texts:
        lang = _esc(t.lang)
        out.append(f'    <div class="pair{" three" if t.lang != "fr" else ""}" id="{_esc(t.id)}">\n'
                   f'      <div class="original" lang="{lang}"><span class="lang">{lang}</span>'
                   f'{_units_html(t.original)}</div>\n')
        if t.lang != "fr":
            out.append(f'      <div class="french" lang="fr"><span class="lang">fr</span>'
                       f'{_translation_html(t.french, t.french_note)}</div>\n')
        out.append(f'      <div class="english" lang="en"><span class="lang">en</span>'
                   f'{_translation_html(t.english, t.english_note)}</div>\n    </div>\n')
    return "".join(out)


def _page(brief: Brief, index: CorpusIndex, lookups: _Lookups, translated: Translated, english: str,
          plan: _Plan | None = None) -> _Page:
    """`plan`: the brief's `_page_paragraphs` when the caller made them already (for the translation jobs)."""
    if english != "cited":
        return _Page(index, lookups, translated, None)
    return _Page(index, lookups, translated, (plan or _page_paragraphs(brief, index, lookups))[1])


def render_review_page(brief: Brief, index: CorpusIndex, dedup_result: DedupResult, translated: Translated,
                       lookups: _Lookups | None = None, english: str = "all") -> str:
    """One brief's page (`lookups`: built once by the caller when rendering many pages)."""
    lookups = lookups or _Lookups.build(index, dedup_result)
    page = _page(brief, index, lookups, translated, english)
    return _render_page(page.data(brief))


def render_review_index(briefs: Sequence[Brief], run_id: str) -> str:
    script, script_hash = _script()
    return _environment().get_template("review_index.html.j2").render(
        briefs=briefs, run_id=run_id, script_hash=script_hash,
    )


PagesMap = Callable[[Callable[[Any, Any], Any], Sequence[Any]], list[Any]]  # an executor session's `map`
PAGES_PER_ITEM = 4  # pages rendered per item sent to a worker
ITEMS_PER_BATCH = 32  # items per `pages_map` call


def _in_process(fn: Callable[[Any, Any], Any], items: Sequence[Any]) -> list[Any]:
    return [fn(None, item) for item in items]


def write_review_site(run_dir: Path, briefs: Sequence[Brief], index: CorpusIndex, dedup_result: DedupResult,
                      translated: Translated, run_id: str, cache: "Cache | None" = None, english: str = "all",
                      pages_map: PagesMap = _in_process) -> list[Path]:
    """Write the review pages under `<run_dir>/review/`; return their paths (index first).

    With `cache`, a page whose data (brief, the paragraphs it shows, their groups and English) and
    rendering code are unchanged is taken from it instead of rendered again.
    """
    lookups = _Lookups.build(index, dedup_result)
    keys = [_page_key(b, index, lookups, _translations_of(translated), english) for b in briefs] \
        if cache is not None else []
    site = _Site(Path(run_dir), briefs, index, lookups, english, keys, cache, pages_map)
    site.write_index(run_id)
    site.from_cache(range(len(briefs)))
    site.render(translated)
    return site.paths


def build_review_site(run_dir: Path, briefs: Sequence[Brief], index: CorpusIndex, dedup_result: DedupResult,
                      run_id: str, *, translate: Callable[[list[tuple[str, str, str]]], Translated],
                      direction_key: Callable[[str, str], str], cache: "Cache", english: str = "all",
                      documents_key: str = "", digests: Sequence[str] = (), previous_run: Path | None = None,
                      pages_map: PagesMap = _in_process, group_keys: Mapping[str, bytes] | None = None) -> list[Path]:
    """The review site as a run makes it: a page whose inputs, rendering code and translation engines
    (`direction_key(source, target)`: the engine's identity) are unchanged is not made again: it is
    hard-linked from `previous_run`'s review folder when that run wrote it with the same key
    (`KEYS_FILE`), else taken from the cache, without its translations being looked up; only the
    other pages' sentences go to `translate`, and those pages are rendered through `pages_map` (the
    executor session's `map`: on the workers). Only pages with every translation they need are
    cached and listed in `KEYS_FILE` (a failed translation is tried again next run).
    `documents_key`: what the documents are a function of besides their bytes (see `_page_key`).
    `digests`: each brief's `pipeline.render.brief_digest`; with them, a page's key is a hash of its own inputs
    (`_known_keys`: its brief, the duplicate groups of its cited sentences, the documents they are in), so the
    blocks and paragraphs a page shows are walked only for the pages rendered. `group_keys`: each duplicate
    group's key by its id, as `pipeline.render.dedup_file.line_keys` makes them for dedup.json (see
    `_PageInputs`): with them, no group is hashed here."""
    return start_review_site(run_dir, briefs, index, dedup_result, run_id, translate=translate,
                             direction_key=direction_key, cache=cache, english=english, documents_key=documents_key,
                             digests=digests, previous_run=previous_run, pages_map=pages_map,
                             group_keys=group_keys)()


def start_review_site(run_dir: Path, briefs: Sequence[Brief], index: CorpusIndex, dedup_result: DedupResult,
                      run_id: str, *, translate: Callable[[list[tuple[str, str, str]]], Translated],
                      direction_key: Callable[[str, str], str], cache: "Cache", english: str = "all",
                      documents_key: str = "", digests: Sequence[str] = (), previous_run: Path | None = None,
                      pages_map: PagesMap = _in_process, background: bool = False,
                      group_keys: Mapping[str, bytes] | None = None) -> Callable[[], list[Path]]:
    """`build_review_site` in two parts: this one works out the pages' keys, links and takes from the cache the
    pages it can and translates what the others need; the pages to render are rendered through `pages_map`, with
    `background` on a thread of their own (which mostly waits on the workers: the caller goes on meanwhile, with
    the briefs' files), else here. The returned `finish()` waits for them (raising what the thread raised), puts
    them in the cache (from the caller's thread: the cache is used from one thread only), writes `KEYS_FILE` and
    returns the site's paths. A caller that fails before `finish()` leaves the thread: it is a daemon, which
    waits on workers that the failure stops (a pool whose workers are killed, by Ctrl-C say, never answers:
    waiting for it there would never end)."""
    lookups = _LazyLookups(index, dedup_result)
    directions: dict[tuple[str, str], str] = {}  # an engine's identity is long: hashed once per direction

    def direction(lang: str, target: str) -> str:
        if (lang, target) not in directions:
            directions[(lang, target)] = hashlib.sha256(direction_key(lang, target).encode()).hexdigest()
        return directions[(lang, target)]

    with collector_paused():  # (the blocks of every page, and no reference cycle: see cache.collector_paused)
        keys = _known_keys(briefs, digests, index, lookups, direction, english, documents_key, group_keys)
    site = _Site(Path(run_dir), briefs, index, lookups, english, keys, cache, pages_map)
    site.write_index(run_id)
    linked = site.link_unchanged(previous_run)
    site.from_cache(i for i in range(len(briefs)) if i not in linked)
    todo = site.todo()
    # each page's paragraphs and marks, worked out once: for its translation jobs and to render it
    site.plans = {i: _page_paragraphs(briefs[i], index, lookups) for i in todo}
    translated = translate(review_jobs([briefs[i] for i in todo], index, dedup_result, english, lookups,
                                       [site.plans[i] for i in todo], site.cut)) if todo else {}
    to_cache: list[list[tuple[str, str]]] = []  # each batch's pages to cache, when rendered on the thread
    raised: list[BaseException] = []

    def render() -> None:
        try:
            site.render(translated, to_cache)
        except BaseException as exc:  # (given to finish(), in the caller's thread)
            raised.append(exc)

    thread = threading.Thread(target=render, name="pipeline-review-pages", daemon=True) if background and todo \
        else None
    if thread is not None:
        thread.start()
    else:
        site.render(translated)

    def put_rendered() -> None:
        """The batches rendered so far into the cache (from this thread), no longer held in `to_cache`."""
        while to_cache:
            batch = to_cache.pop(0)
            if cache is not None:
                cache.put_many(CACHE_KIND, batch)

    def finish() -> list[Path]:
        if thread is not None:
            # the pages rendered meanwhile go to the cache as they come, not all at the end (a cold run at
            # 100,000 articles: 10,000 compressed pages held at once)
            while thread.is_alive():
                put_rendered()
                thread.join(timeout=0.5)
            if raised:
                raise raised[0]
        put_rendered()
        site.write_keys()
        log.info("review: %d pages, %d unchanged since the previous run (linked), %d from the cache, %d rendered",
                 len(briefs), len(linked), len(site.cached), len(todo))
        return site.paths

    return finish


def _known_keys(briefs: Sequence[Brief], digests: Sequence[str], index: CorpusIndex, lookups: "_Lookups",
                direction: Callable[[str, str], str], english: str, documents_key: str,
                group_keys: Mapping[str, bytes] | None = None) -> list[str]:
    """Each page's key. With `digests` (each brief's `brief_digest`), a hash of what the page is a function of
    (`_PageInputs`): its brief, the duplicate groups of its cited sentences (members, relations, scores) and
    the documents of their members and of its citations (place, bytes, extractor), and what every page shares:
    the rendering code, `english`, `documents_key` and the engine of every direction a paragraph of the corpus
    needs. Equal inputs make equal pages, so this names the page as well as what it shows (`_page_key`, which
    walks the page's blocks and paragraphs) would, without walking them: a run with 1% new articles works out
    no page's blocks but for the pages it renders (what it shows changed in all but a few of them: 2 of 158 at
    10,000 articles were in the cache under their `_page_key`). No corpus-wide key: a page whose own inputs
    are unchanged is found (linked from the previous run, or in the cache) whatever else the corpus gained.
    `group_keys`: each group's content key by its id (`_PageInputs`). Without `digests` (no cache), `_page_key`."""
    translations: TranslationsKey = lambda p, target: direction(p.lang, target)  # noqa: E731
    if not digests:
        return [_page_key(b, index, lookups, translations, english, documents_key) for b in briefs]
    shared = hashlib.sha256(_code_key().encode())
    for part in (english, documents_key):
        shared.update(repr(part).encode())
    for lang in sorted({p.lang for p in index.paragraphs.values()}):
        shared.update(repr([(lang, target, direction(lang, target)) for target in _targets(lang)]).encode())
    inputs = _PageInputs(index, lookups, group_keys)
    keys = []
    for b, d in zip(briefs, digests, strict=True):
        h = shared.copy()
        h.update(d.encode())
        h.update(inputs.of(b))
        keys.append(h.hexdigest())
    return keys


class _PageInputs:
    """What a page is a function of besides its brief, as bytes to hash (`of`): for each cited sentence (in
    citation order), its id, its document and the duplicate groups of its paragraph and of itself. A group is
    named by its content (level, canonical member, each member's id, relation and score, the documents of
    its members, which decide the paragraphs shown and their text, and its paragraphs in corpus order, which
    decides the first `BLOCK_COPIES` shown), hashed once per run whatever the number of pages citing it; a
    document by its place, record, bytes and extractor (with `documents_key`, what its paragraphs are a
    function of). A block merges two groups in corpus order: documents are in the order of their paths
    (`pipeline.ingest.discover`), which the key holds. Linear in the page's citations and its groups'
    members.

    `group_keys` (group id -> key), when given, are the groups' keys instead: the keys of dedup.json's lines
    (`pipeline.render.dedup_file.line_keys`, made once a run for both), a hash of the same content but for the
    group's paragraphs in corpus order, which they hold all the same: that order is a function of the members'
    documents (the order of their paths, and of the paragraphs in each document's bytes: its identity, which
    the line key hashes) and of the members' ids."""

    def __init__(self, index: CorpusIndex, lookups: "_Lookups", group_keys: Mapping[str, bytes] | None = None) -> None:
        self.index, self.lookups = index, lookups
        # group id -> key of its content: the given ones (`group_keys`), else made here on first use
        self.groups: dict[str, str | bytes] = dict(group_keys or {})
        self.docs: dict[str, tuple] = {}  # doc id -> identity
        self.doc_bytes: dict[str, bytes] = {}  # doc id -> identity, marshalled

    def of(self, brief: Brief) -> bytes:
        sentences, known, group = self.index.sentences, self.groups, self._group
        para_group, sent_group = self.lookups.para_groups.get, self.lookups.sent_groups.get
        parts = []
        docs: dict[str, None] = {}
        for sid in citation_numbers(brief):
            pid = sentences[sid].pid
            pg, sg = para_group(pid), sent_group(sid)
            parts.append((sid, pg and (known.get(pg.group_id) or group(pg)), sg and (known.get(sg.group_id) or group(sg))))
            docs[pid.partition(":")[0]] = None  # its document (a paragraph id is its document's id, ':', ...)
        return marshal.dumps((parts, [self._doc(d) for d in docs]), 2)

    def _doc(self, doc_id: str) -> tuple:
        ident = self.docs.get(doc_id)
        if ident is None:
            d = self.index.documents[doc_id]
            ident = self.docs[doc_id] = (doc_id, d.path, d.record, d.sha256, d.format, d.extractor)
        return ident

    def _group(self, g: DupGroup) -> str | bytes:
        known = self.groups.get(g.group_id)
        if known is None:
            members = list(map(_MEMBER_FIELDS, g.members))
            if g.level == "paragraph":
                pids = [m[0] for m in members]
            else:
                pids = [s.pid for s in map(self.index.sentences.get, [m[0] for m in members]) if s is not None]
            shown = sorted(set(pids), key=self.lookups.order.__getitem__)  # in corpus order, as shown
            h = hashlib.sha256(marshal.dumps((g.level, g.canonical, members, shown), 2))
            # the documents of its paragraphs (a paragraph id starts with its document's id and ':', which
            # document ids do not hold: `pipeline.ingest`), each identity written once (self-delimiting)
            doc_bytes = self.doc_bytes
            h.update(b"".join([doc_bytes.get(d) or self._doc_bytes(d)
                               for d in dict.fromkeys([pid.partition(":")[0] for pid in pids])]))
            known = self.groups[g.group_id] = h.hexdigest()
        return known

    def _doc_bytes(self, doc_id: str) -> bytes:
        ident = self.doc_bytes.get(doc_id)
        if ident is None:
            ident = self.doc_bytes[doc_id] = marshal.dumps(self._doc(doc_id), 2)
        return ident


_MEMBER_FIELDS = attrgetter("id", "relation", "score")


class _LazyLookups:
    """`_Lookups`, built on first use: a run that knows every page's key and renders none needs none."""

    def __init__(self, index: CorpusIndex, dedup_result: DedupResult) -> None:
        self._args: tuple[CorpusIndex, DedupResult] | None = (index, dedup_result)
        self._built: _Lookups | None = None

    def __getattr__(self, name: str) -> Any:
        if self._built is None:
            self._built = _Lookups.build(*self._args)  # type: ignore[misc]
            self._args = None
        return getattr(self._built, name)


KEYS_FILE = "pages.json"  # in a run's review folder: story id -> key of each complete page


@dataclass
class _PageInput:
    """What a worker needs to render one page: the brief, and the part of the corpus, groups and
    translations the page shows (not the whole corpus)."""

    brief: Brief
    index: "_PageIndex"
    lookups: "_PageLookups"
    translated: dict[tuple[str, str, str], str]
    wanted: set[str] | None
    cache: bool  # whether to return the page's cache value too


@dataclass(frozen=True)
class _File:
    path: str


@dataclass(frozen=True)
class _PageLookups:
    """What a worker reads of `_Lookups` for one page: the block of each cited sentence (made in the main
    process, which holds the groups)."""

    blocks: Mapping[str, tuple[tuple[str | None, str | None], _Block] | None]

    def block(self, sid: str, index: object) -> tuple[tuple[str | None, str | None], _Block] | None:
        return self.blocks[sid]


@dataclass(frozen=True)
class _PageIndex:
    """The slice of the CorpusIndex one page reads (same fields)."""

    documents: Mapping[str, _File]
    paragraphs: Mapping[str, Paragraph]
    sentences: Mapping[str, Sentence]


# zlib's level for a page in the cache: level 1 compresses a 200 KB page 3x faster than 6, to 9.4% of its size
# instead of 7.2% (measured on a 10,000-article run's pages), and the page is written there only once.
PAGE_ZLIB_LEVEL = 1


def render_pages(_shared: object, inputs: Sequence[_PageInput]) -> list[tuple[str, str | None]]:
    """Worker function: each page's HTML, and its cache value (None: not complete, or not wanted)."""
    out = []
    for item in inputs:
        page = _Page(item.index, item.lookups, item.translated, item.wanted)
        html = _render_page(page.data(item.brief))
        out.append((html, compress_text(html, PAGE_ZLIB_LEVEL) if item.cache and page.complete else None))
    return out


class _Site:
    """The review folder of one run being written: which pages are linked, cached, rendered."""

    def __init__(self, run_dir: Path, briefs: Sequence[Brief], index: CorpusIndex, lookups: _Lookups, english: str,
                 keys: Sequence[str], cache: "Cache | None", pages_map: PagesMap) -> None:
        self.folder = run_dir / REVIEW_DIR
        self.folder.mkdir(parents=True, exist_ok=True)
        self.briefs, self.index, self.lookups, self.english = briefs, index, lookups, english
        self.keys, self.cache, self.pages_map = keys, cache, pages_map
        self.done: dict[int, str] = {}  # position -> key of the complete pages written (linked, cached, rendered)
        self.cached: dict[int, str] = {}
        self.plans: dict[int, _Plan] = {}
        self.cut: dict[str, list[str]] = {}  # `_unit_texts` of each paragraph shown, cut once
        self.paths = [self.folder / "index.html"] + [self.folder / f"{b.story_id}.html" for b in briefs]

    def write_index(self, run_id: str) -> None:
        self.paths[0].write_text(render_review_index(self.briefs, run_id), encoding="utf-8")

    def link_unchanged(self, previous_run: Path | None) -> set[int]:
        """Hard-link the pages the previous run wrote with the same key (a page holds nothing but what its
        key hashes, so it is the page this run would render); the positions linked."""
        previous = _read_keys(previous_run / REVIEW_DIR / KEYS_FILE) if previous_run is not None else {}
        linked: set[int] = set()
        for i, brief in enumerate(self.briefs):
            if previous.get(brief.story_id) != self.keys[i]:
                continue
            try:
                os.link(previous_run / REVIEW_DIR / f"{brief.story_id}.html", self.paths[i + 1])  # type: ignore[operator]
            except OSError as exc:
                log.info("review page %s not linked from %s (%s): taken from the cache or rendered again",
                         brief.story_id, previous_run, exc)
                continue
            linked.add(i)
            self.done[i] = self.keys[i]
        return linked

    def from_cache(self, positions: Iterable[int]) -> None:
        """Write the pages the cache holds (`self.cached`)."""
        positions = list(positions)
        if self.cache is None or not positions:
            return
        found = self.cache.get_many(CACHE_KIND, [self.keys[i] for i in positions])
        for i in positions:
            html = expand_text(found.get(self.keys[i]))
            if html is not None:
                self.paths[i + 1].write_text(html, encoding="utf-8")
                self.cached[i] = self.done[i] = self.keys[i]

    def todo(self) -> list[int]:
        return [i for i in range(len(self.briefs)) if i not in self.done]

    def render(self, translated: Translated, to_cache: list[list[tuple[str, str]]] | None = None) -> None:
        """Render the pages not written yet through `pages_map`, a few pages per item, and write them; a batch
        of items at a time, so that only one batch's pages are held here at once. Each batch's complete pages
        are put in the cache, or with `to_cache` (on a thread other than the cache's) added to it as a batch."""
        todo = self.todo()
        step = PAGES_PER_ITEM * ITEMS_PER_BATCH
        for start in range(0, len(todo), step):
            batch = todo[start:start + step]
            items = [[self._input(i, translated) for i in batch[at:at + PAGES_PER_ITEM]]
                     for at in range(0, len(batch), PAGES_PER_ITEM)]
            new: list[tuple[str, str]] = []
            for i, (html, value) in zip(batch, (r for rendered in self.pages_map(render_pages, items)
                                                for r in rendered)):
                self.paths[i + 1].write_text(html, encoding="utf-8")
                if value is not None:
                    new.append((self.keys[i], value))
                    self.done[i] = self.keys[i]
            if to_cache is not None and new:
                to_cache.append(new)
            elif self.cache is not None and new:
                self.cache.put_many(CACHE_KIND, new)  # one commit per batch: a killed run keeps what it rendered

    def _input(self, i: int, translated: Translated) -> _PageInput:
        brief, index, lookups = self.briefs[i], self.index, self.lookups
        plan = self.plans.pop(i, None) or _page_paragraphs(brief, index, lookups)  # (not held once used)
        paragraphs = {pid: index.paragraphs[pid] for pid in plan[0]}
        cited = citation_numbers(brief)
        sentences = {sid: index.sentences[sid] for sid in cited}
        sub = _PageLookups({sid: lookups.block(sid, index) for sid in cited})
        files = {p.doc_id: _File(index.documents[p.doc_id].path) for p in paragraphs.values()}
        wanted = plan[1] if self.english == "cited" else None
        page_translated: dict[tuple[str, str, str], str] = {}
        for pid, p in paragraphs.items():
            for target in _targets(p.lang):
                for text in _unit_texts(p, self.cut):
                    if (p.lang, target, text) in translated:
                        page_translated[(p.lang, target, text)] = translated[(p.lang, target, text)]
        return _PageInput(brief, _PageIndex(files, paragraphs, sentences), sub, page_translated, wanted,
                          bool(self.keys))

    def write_keys(self) -> None:
        """`KEYS_FILE`: the key of each complete page, for the next run to link the unchanged ones."""
        data = {self.briefs[i].story_id: key for i, key in sorted(self.done.items())}
        (self.folder / KEYS_FILE).write_text(json.dumps(data, indent=0, sort_keys=True), encoding="utf-8")


def _read_keys(path: Path) -> dict[str, str]:
    """A previous run's `KEYS_FILE` ({} when it has none; said when it cannot be read)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("%s cannot be read (%s): every review page is taken from the cache or rendered again", path, exc)
        return {}
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        log.warning("%s is not a map of story ids to page keys: every review page is taken from the cache or "
                    "rendered again", path)
        return {}
    return data
