"""The review site: one static HTML page per brief, and an index, that work offline.

Entry points:
- `review_jobs(briefs, index, dedup_result) -> list[(lang, target, text)]`:
  the texts to translate before writing the pages: each distinct sentence
  of the paragraphs the pages show, once, to English (and to French when
  the paragraph is in another language);
- `write_review_site(run_dir, briefs, index, dedup_result, translated, run_id,
  cache=None) -> list[Path]`: writes `<run_dir>/review/index.html` and
  `<run_dir>/review/<story>.html`, returns their paths.

On a brief's page, clicking a citation number shows the cited paragraph in
its original language, in French (when the original is not French) and in
English side by side, the cited sentence marked in each, followed by the same text in other sources: the paragraph's
duplicate group (exact, near, contained) and the sentence's (including
reworded same-fact reports), each side by side too.

Linear in the input: the duplicates of a citation are one block per page
for each (paragraph group, sentence group) pair, shared by every citation
into it (the page script moves the block under the citation shown), and
within a block paragraphs with the same text are shown once, with the list
of files they appear in. English is made sentence by sentence, so a text is
translated once whatever the number of paragraphs that repeat it. Pages are
cached (kind "review") by what they show and the code that renders them, so
a run whose briefs, groups and translations did not change renders nothing.

Pages are self-contained: inline CSS and JavaScript, no network (a Content
Security Policy allows nothing else; the script runs by its hash). Every
corpus text goes through Jinja2 autoescaping, and the script only moves and
toggles pre-rendered sections, so text like `<script>` shows as written.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape

from ..corpus_index import CorpusIndex, sentence_spans
from ..dedup import group_of
from ..model import Brief, DedupResult, DupGroup, Paragraph
from . import citation_numbers, cited_sentences, lines_label, n_sources

if TYPE_CHECKING:
    from ..cache import Cache

REVIEW_DIR = "review"
CACHE_KIND = "review"
_TEMPLATES = ("review_brief.html.j2", "_review_head.html.j2", "review.css", "review.js")
# Stands for the run id in cached pages. Autoescaping turns any '<' of corpus text into '&lt;',
# so this string can only come from the template, never from what a page shows.
_RUN_ID_SLOT = Markup("<run-id/>")
_WORD = re.compile(r"\w")

Translated = Mapping[tuple[str, str, str], str]  # (source language, target language, text) -> translation


@dataclass(frozen=True)
class Segment:
    text: str
    marked: bool


@dataclass(frozen=True)
class Copy:
    """One place a paragraph text appears."""

    pid: str
    file: str
    paragraph: int
    lines: str
    relations: tuple[str, ...] = ()  # how it duplicates the group's canonical member


@dataclass
class TextView:
    """A paragraph text with its marked sentences, original, French and English, and every paragraph that has it."""

    lang: str
    segments: list[Segment]
    english: list[Segment] | None  # None: no English available
    english_note: str  # why english is what it is ("" when translated)
    french: list[Segment] | None = None  # None: the original is French, or no French available
    french_note: str = ""
    copies: list[Copy] = field(default_factory=list)


@dataclass
class DupBlock:
    """The same text in other sources: the paragraphs of a (paragraph group, sentence group) pair."""

    id: str
    texts: list[TextView]

    @property
    def n_paragraphs(self) -> int:
        return sum(len(t.copies) for t in self.texts)

    @property
    def n_files(self) -> int:
        return len({c.file for t in self.texts for c in t.copies})


@dataclass
class Evidence:
    number: int
    file: str
    paragraph: int
    lines: str
    text: str
    cited: TextView
    block: str | None  # id of its DupBlock; None: no duplicate in other sources


def _units(paragraph: Paragraph) -> list[Segment]:
    """The paragraph's text cut at its sentences (nothing marked)."""
    out: list[Segment] = []
    cursor = 0
    for s, at, end in sentence_spans(paragraph):
        if at > cursor:
            out.append(Segment(paragraph.text[cursor:at], False))
        out.append(Segment(s.text, False))
        cursor = end
    if cursor < len(paragraph.text):
        out.append(Segment(paragraph.text[cursor:], False))
    return out or [Segment(paragraph.text, False)]


def _segments(paragraph: Paragraph, marked: set[str]) -> list[Segment]:
    """The paragraph's text cut at its sentences, the marked ones (sentence ids) flagged."""
    texts = {s.text for s in paragraph.sentences if s.sid in marked}
    return [Segment(u.text, u.text in texts) for u in _units(paragraph)]


def _translatable(text: str) -> bool:
    return bool(_WORD.search(text))


@dataclass(frozen=True)
class _Lookups:
    """Built once per site, not once per page: each is linear in the corpus."""

    order: Mapping[str, int]  # paragraph id -> position in the corpus (duplicates are shown in corpus order)
    para_groups: Mapping[str, DupGroup]
    sent_groups: Mapping[str, DupGroup]

    @classmethod
    def build(cls, index: CorpusIndex, dedup_result: DedupResult) -> "_Lookups":
        return cls({pid: i for i, pid in enumerate(index.paragraphs)},
                   group_of(dedup_result.paragraph_groups), group_of(dedup_result.sentence_groups))

    def block_key(self, sid: str, index: CorpusIndex) -> tuple[str | None, str | None]:
        """The duplicate groups of a cited sentence's paragraph and of the sentence (None: in none)."""
        pg = self.para_groups.get(index.sentences[sid].pid)
        sg = self.sent_groups.get(sid)
        return (pg.group_id if pg else None, sg.group_id if sg else None)

    def members(self, sid: str, index: CorpusIndex) -> dict[str, tuple[list[str], set[str]]]:
        """pid -> (relations, sids to mark) for every paragraph of the two groups of a cited sentence,
        its own paragraph included, in corpus order."""
        out: dict[str, tuple[list[str], set[str]]] = {}
        group = self.para_groups.get(index.sentences[sid].pid)
        if group is not None:
            for m in group.members:
                label = "canonical paragraph of its group" if m.id == group.canonical else \
                    f"same paragraph: {m.relation}, similarity {m.score:.2f}"
                out.setdefault(m.id, ([], set()))[0].append(label)
        group = self.sent_groups.get(sid)
        if group is not None:
            for m in group.members:
                if m.id not in index.sentences:
                    continue
                label = "canonical sentence of its group" if m.id == group.canonical else \
                    f"same {'fact, reworded' if m.relation == 'same_fact' else 'sentence: ' + m.relation}, " \
                    f"similarity {m.score:.2f}"
                relations, marks = out.setdefault(index.sentences[m.id].pid, ([], set()))
                relations.append(label)
                marks.add(m.id)
        return dict(sorted(out.items(), key=lambda kv: self.order.get(kv[0], 0)))


def _shown(briefs: Sequence[Brief], index: CorpusIndex, lookups: _Lookups) -> dict[str, None]:
    """Every paragraph the pages show (cited ones and their duplicates), in order of first use, each once."""
    seen: dict[str, None] = {}
    for b in briefs:
        keys: set[tuple[str | None, str | None]] = set()
        for sid in citation_numbers(b):
            seen.setdefault(index.sentences[sid].pid, None)
            key = lookups.block_key(sid, index)
            if key != (None, None) and key not in keys:  # a block is listed once per page
                keys.add(key)
                seen.update(dict.fromkeys(lookups.members(sid, index)))
    return seen


def paragraphs_for_review(briefs: Sequence[Brief], index: CorpusIndex, dedup_result: DedupResult) -> list[str]:
    """Ids of the paragraphs the review pages show, in order of first use, each once."""
    return list(_shown(briefs, index, _Lookups.build(index, dedup_result)))


def _targets(lang: str) -> tuple[str, ...]:
    """The languages a paragraph is shown in besides its own: English always, French too."""
    return tuple(t for t in ("fr", "en") if t != lang)


def review_jobs(briefs: Sequence[Brief], index: CorpusIndex, dedup_result: DedupResult) -> list[tuple[str, str, str]]:
    """(language, target, text) of each distinct sentence to translate for the pages, once, in order of first use.

    Sentence by sentence rather than paragraph by paragraph: republished copies of an article repeat
    most sentences in paragraphs that differ by one, and the brief's own sentences are already translated.
    """
    jobs: dict[tuple[str, str, str], None] = {}
    for pid in paragraphs_for_review(briefs, index, dedup_result):
        p = index.paragraphs[pid]
        units = [u.text for u in _units(p) if _translatable(u.text)]
        jobs.update(dict.fromkeys((p.lang, target, u) for target in _targets(p.lang) for u in units))
    return list(jobs)


def _translation(p: Paragraph, segments: list[Segment], translated: Translated, target: str
                 ) -> tuple[list[Segment] | None, str]:
    """The paragraph in `target`, sentence by sentence, marks kept; None and why when a sentence has none."""
    name = {"en": "English", "fr": "French"}[target]
    if p.lang == target:
        return segments, f"the paragraph is in {name}"
    out = []
    for s in segments:
        if not _translatable(s.text):
            out.append(s)
            continue
        text = translated.get((p.lang, target, s.text), "")
        if not text.strip():
            if p.lang == "fr":
                return None, f"no {name} translation in this run"
            return None, f"not translated: the paragraph is in '{p.lang}', no {name} translation in this run"
        out.append(Segment(text, s.marked))
    return out, ""


def _text_view(p: Paragraph, segments: list[Segment], translated: Translated) -> TextView:
    english, note = _translation(p, segments, translated, "en")
    french, french_note = _translation(p, segments, translated, "fr") if p.lang != "fr" else (None, "")
    return TextView(p.lang, segments, english, note, french, french_note)


def _copy(pid: str, index: CorpusIndex, relations: Sequence[str] = ()) -> Copy:
    p = index.paragraphs[pid]
    return Copy(pid, index.documents[p.doc_id].path, p.index, lines_label(p.line_start, p.line_end), tuple(relations))


def _view(pid: str, index: CorpusIndex, marked: set[str], translated: Translated) -> TextView:
    p = index.paragraphs[pid]
    return _text_view(p, _segments(p, marked), translated)


def _block(block_id: str, members: Mapping[str, tuple[list[str], set[str]]], index: CorpusIndex,
           translated: Translated) -> DupBlock:
    """The members, paragraphs with the same text and the same marks shown once."""
    texts: dict[tuple, TextView] = {}
    for pid, (relations, marks) in members.items():
        p = index.paragraphs[pid]
        segments = _segments(p, marks)
        key = (p.lang, tuple(segments))
        if key not in texts:
            texts[key] = _text_view(p, segments, translated)
        texts[key].copies.append(_copy(pid, index, relations))
    return DupBlock(block_id, list(texts.values()))


def _evidence(brief: Brief, index: CorpusIndex, lookups: _Lookups, translated: Translated
              ) -> tuple[list[Evidence], list[DupBlock]]:
    by_sid = cited_sentences(brief)
    evidence: list[Evidence] = []
    blocks: dict[tuple[str | None, str | None], DupBlock] = {}
    for sid, number in citation_numbers(brief).items():
        c = by_sid[sid]
        pid = index.sentences[sid].pid
        key = lookups.block_key(sid, index)
        if key != (None, None) and key not in blocks:
            blocks[key] = _block(f"dup-{len(blocks) + 1}", lookups.members(sid, index), index, translated)
        cited = _view(pid, index, {sid}, translated)
        cited.copies.append(_copy(pid, index))
        evidence.append(Evidence(
            number=number, file=c.file, paragraph=c.paragraph, lines=lines_label(c.line_start, c.line_end),
            text=c.text, cited=cited, block=blocks[key].id if key in blocks else None,
        ))
    return evidence, list(blocks.values())


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


def _page_data(brief: Brief, index: CorpusIndex, lookups: _Lookups, translated: Translated) -> dict:
    evidence, blocks = _evidence(brief, index, lookups, translated)
    return {"brief": brief, "numbers": citation_numbers(brief), "n_docs": len(brief.sources),
            "evidence": evidence, "blocks": blocks}


def _render_page(data: dict, run_id: str | Markup) -> str:
    script, script_hash = _script()
    return _environment().get_template("review_brief.html.j2").render(
        **data, run_id=run_id, n_sources=n_sources, script=script, script_hash=script_hash)


def render_review_page(brief: Brief, index: CorpusIndex, dedup_result: DedupResult, translated: Translated,
                       run_id: str, lookups: _Lookups | None = None) -> str:
    """One brief's page (`lookups`: built once by the caller when rendering many pages)."""
    lookups = lookups or _Lookups.build(index, dedup_result)
    return _render_page(_page_data(brief, index, lookups, translated), run_id)


def render_review_index(briefs: Sequence[Brief], run_id: str) -> str:
    script, script_hash = _script()
    return _environment().get_template("review_index.html.j2").render(
        briefs=briefs, run_id=run_id, script_hash=script_hash,
    )


def write_review_site(run_dir: Path, briefs: Sequence[Brief], index: CorpusIndex, dedup_result: DedupResult,
                      translated: Translated, run_id: str, cache: "Cache | None" = None) -> list[Path]:
    """Write the review pages under `<run_dir>/review/`; return their paths (index first).

    With `cache`, a page whose data (brief, the paragraphs it shows, their groups and English) and
    rendering code are unchanged is taken from it instead of rendered again.
    """
    from ..cache import digest, encode

    folder = Path(run_dir) / REVIEW_DIR
    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "index.html"]
    written[0].write_text(render_review_index(briefs, run_id), encoding="utf-8")
    lookups = _Lookups.build(index, dedup_result)
    pages = [_page_data(brief, index, lookups, translated) for brief in briefs]
    keys = [digest(_code_key(), encode(data)) for data in pages] if cache is not None else []
    found = cache.get_many(CACHE_KIND, keys) if cache is not None else {}
    new: dict[str, str] = {}
    slot, run_id_html = str(_RUN_ID_SLOT), str(escape(run_id))
    for i, (brief, data) in enumerate(zip(briefs, pages)):
        key = keys[i] if keys else ""
        html = found.get(key) if keys else None
        if not isinstance(html, str):
            html = _render_page(data, _RUN_ID_SLOT)
            if keys:
                new[key] = html
        path = folder / f"{brief.story_id}.html"
        path.write_text(html.replace(slot, run_id_html), encoding="utf-8")
        written.append(path)
    if cache is not None and new:
        cache.put_many(CACHE_KIND, new.items())
    return written
