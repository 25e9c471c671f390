"""The review site: one static HTML page per brief, and an index, that work offline.

Entry points:
- `paragraphs_for_review(briefs, index, dedup_result) -> list[str]`: the ids of
  the French paragraphs the pages show (every cited paragraph and its
  duplicates), to translate to English before writing the pages;
- `write_review_site(run_dir, briefs, index, dedup_result, english_by_pid, run_id)
  -> list[Path]`: writes `<run_dir>/review/index.html` and
  `<run_dir>/review/<story>.html`, returns their paths.

On a brief's page, clicking a citation number shows the cited paragraph in
its original language and in English side by side, the cited sentence
marked, followed by the same text in other sources: the paragraph's
duplicate group (exact, near, contained) and the sentence's (including
reworded same-fact reports), each side by side too.

Pages are self-contained: inline CSS and JavaScript, no network (a Content
Security Policy allows nothing else; the script runs by its hash). Every
corpus text goes through Jinja2 autoescaping, and the script only toggles
pre-rendered sections, so text like `<script>` shows as written.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Mapping, Sequence

from jinja2 import Environment, PackageLoader, StrictUndefined

from ..corpus_index import CorpusIndex, sentence_spans
from ..dedup import group_of
from ..model import Brief, DedupResult, DupGroup, Paragraph
from . import citation_numbers, cited_sentences, lines_label, n_sources

REVIEW_DIR = "review"


@dataclass(frozen=True)
class Segment:
    text: str
    marked: bool


@dataclass
class ParagraphView:
    pid: str
    file: str
    paragraph: int
    lines: str
    lang: str
    segments: list[Segment]
    english: str | None  # None: no English available
    english_note: str  # why english is what it is ("" when translated)
    relations: list[str] = field(default_factory=list)  # how it duplicates the cited text


@dataclass
class Evidence:
    number: int
    file: str
    paragraph: int
    lines: str
    text: str
    cited: ParagraphView
    duplicates: list[ParagraphView]


def _cited_pids(briefs: Sequence[Brief], index: CorpusIndex) -> list[str]:
    return [index.sentences[sid].pid for b in briefs for sid in citation_numbers(b)]


def _duplicates(sid: str, index: CorpusIndex, para_groups: Mapping[str, DupGroup],
                sent_groups: Mapping[str, DupGroup]) -> dict[str, tuple[list[str], set[str]]]:
    """pid -> (relations, sids to mark) for the paragraphs that repeat sentence `sid` or its paragraph."""
    pid = index.sentences[sid].pid
    out: dict[str, tuple[list[str], set[str]]] = {}
    group = para_groups.get(pid)
    if group is not None:
        for m in group.members:
            if m.id != pid:
                label = "canonical paragraph of its group" if m.id == group.canonical else \
                    f"same paragraph: {m.relation}, similarity {m.score:.2f}"
                out.setdefault(m.id, ([], set()))[0].append(label)
    group = sent_groups.get(sid)
    if group is not None:
        for m in group.members:
            if m.id == sid or m.id not in index.sentences:
                continue
            other = index.sentences[m.id].pid
            label = "canonical sentence of its group" if m.id == group.canonical else \
                f"same {'fact, reworded' if m.relation == 'same_fact' else 'sentence: ' + m.relation}, similarity {m.score:.2f}"
            relations, marks = out.setdefault(other, ([], set()))
            relations.append(label)
            marks.add(m.id)
    out.pop(pid, None)  # the cited paragraph itself is shown above its duplicates
    return out


def paragraphs_for_review(briefs: Sequence[Brief], index: CorpusIndex, dedup_result: DedupResult) -> list[str]:
    """Ids of the French paragraphs the review pages show, in order of first use, each once."""
    para_groups = group_of(dedup_result.paragraph_groups)
    sent_groups = group_of(dedup_result.sentence_groups)
    seen: dict[str, None] = {}
    for b in briefs:
        for sid in citation_numbers(b):
            seen.setdefault(index.sentences[sid].pid, None)
            for pid in _duplicates(sid, index, para_groups, sent_groups):
                seen.setdefault(pid, None)
    return [pid for pid in seen if index.paragraphs[pid].lang == "fr"]


def _segments(paragraph: Paragraph, marked: set[str]) -> list[Segment]:
    """The paragraph's text cut at its sentences, the marked ones flagged."""
    out: list[Segment] = []
    cursor = 0
    for s, at, end in sentence_spans(paragraph):
        if at > cursor:
            out.append(Segment(paragraph.text[cursor:at], False))
        out.append(Segment(s.text, s.sid in marked))
        cursor = end
    if cursor < len(paragraph.text):
        out.append(Segment(paragraph.text[cursor:], False))
    return out or [Segment(paragraph.text, False)]


def _view(pid: str, index: CorpusIndex, marked: set[str], english_by_pid: Mapping[str, str],
          relations: list[str] | None = None) -> ParagraphView:
    p = index.paragraphs[pid]
    if p.lang == "en":
        english, note = p.text, "the paragraph is in English"
    elif pid in english_by_pid and english_by_pid[pid].strip():
        english, note = english_by_pid[pid], ""
    elif p.lang == "fr":
        english, note = None, "no English translation in this run"
    else:
        english, note = None, f"not translated: the paragraph is in '{p.lang}', the translator reads French"
    return ParagraphView(
        pid=pid, file=index.documents[p.doc_id].path, paragraph=p.index, lines=lines_label(p.line_start, p.line_end),
        lang=p.lang, segments=_segments(p, marked), english=english, english_note=note, relations=relations or [],
    )


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


def _evidence(brief: Brief, index: CorpusIndex, lookups: _Lookups, english_by_pid: Mapping[str, str]
              ) -> list[Evidence]:
    order, para_groups, sent_groups = lookups.order, lookups.para_groups, lookups.sent_groups
    by_sid = cited_sentences(brief)
    out = []
    for sid, number in citation_numbers(brief).items():
        c = by_sid[sid]
        pid = index.sentences[sid].pid
        dups = _duplicates(sid, index, para_groups, sent_groups)
        out.append(Evidence(
            number=number, file=c.file, paragraph=c.paragraph, lines=lines_label(c.line_start, c.line_end),
            text=c.text, cited=_view(pid, index, {sid}, english_by_pid),
            duplicates=[_view(d, index, marks, english_by_pid, relations)
                        for d, (relations, marks) in sorted(dups.items(), key=lambda kv: order.get(kv[0], 0))],
        ))
    return out


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


def render_review_page(brief: Brief, index: CorpusIndex, dedup_result: DedupResult,
                       english_by_pid: Mapping[str, str], run_id: str, lookups: _Lookups | None = None) -> str:
    """One brief's page (`lookups`: built once by the caller when rendering many pages)."""
    lookups = lookups or _Lookups.build(index, dedup_result)
    numbers = citation_numbers(brief)
    script, script_hash = _script()
    return _environment().get_template("review_brief.html.j2").render(
        brief=brief, run_id=run_id, numbers=numbers, n_docs=len(brief.sources), n_sources=n_sources,
        evidence=_evidence(brief, index, lookups, english_by_pid),
        script=script, script_hash=script_hash,
    )


def render_review_index(briefs: Sequence[Brief], run_id: str) -> str:
    script, script_hash = _script()
    return _environment().get_template("review_index.html.j2").render(
        briefs=briefs, run_id=run_id, script_hash=script_hash,
    )


def write_review_site(run_dir: Path, briefs: Sequence[Brief], index: CorpusIndex, dedup_result: DedupResult,
                      english_by_pid: Mapping[str, str], run_id: str) -> list[Path]:
    """Write the review pages under `<run_dir>/review/`; return their paths (index first)."""
    folder = Path(run_dir) / REVIEW_DIR
    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "index.html"]
    written[0].write_text(render_review_index(briefs, run_id), encoding="utf-8")
    lookups = _Lookups.build(index, dedup_result)
    for brief in briefs:
        path = folder / f"{brief.story_id}.html"
        path.write_text(render_review_page(brief, index, dedup_result, english_by_pid, run_id, lookups),
                        encoding="utf-8")
        written.append(path)
    return written
