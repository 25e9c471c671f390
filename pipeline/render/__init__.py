"""Render briefs as Markdown (Jinja2 templates) and JSON (versioned schema)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Sequence

from jinja2 import Environment, PackageLoader, StrictUndefined

from ..model import Brief

SCHEMA_VERSION = "1.0"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("pipeline.render", "templates"),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # Markdown, not HTML
    )
    env.filters["md_cell"] = _md_cell
    return env


def _lines(start: int, end: int) -> str:
    return f"line {start}" if start == end else f"lines {start}–{end}"


def citation_numbers(brief: Brief) -> dict[str, int]:
    """Number each cited source sentence once, in order of first use."""
    numbers: dict[str, int] = {}
    for s in brief.summary:
        for c in s.citations:
            numbers.setdefault(c.sid, len(numbers) + 1)
    return numbers


def render_markdown(brief: Brief, run_id: str) -> str:
    numbers = citation_numbers(brief)
    by_sid = {c.sid: c for s in brief.summary for c in s.citations}
    sentences = [
        {
            "text_fr": s.text_fr,
            "text_en": s.text_en,
            "refs": "".join(f"[{numbers[c.sid]}]" for c in s.citations),
            "n_sources": len({c.doc_id for c in s.citations}),
            "flagged": s.flagged,
        }
        for s in brief.summary
    ]
    citations = [
        {
            "number": n,
            "file": by_sid[sid].file,
            "paragraph": by_sid[sid].paragraph,
            "lines": _lines(by_sid[sid].line_start, by_sid[sid].line_end),
            "text": by_sid[sid].text,
        }
        for sid, n in numbers.items()
    ]
    return _environment().get_template("brief.md.j2").render(
        brief=brief, run_id=run_id, sentences=sentences, citations=citations, n_docs=len(brief.sources)
    )


def render_index(briefs: Sequence[Brief], run_id: str, n_documents: int, n_skipped: int) -> str:
    return _environment().get_template("index.md.j2").render(
        briefs=briefs, run_id=run_id, n_documents=n_documents, n_skipped=n_skipped
    )


def brief_to_dict(brief: Brief, run_id: str) -> dict[str, Any]:
    numbers = citation_numbers(brief)
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "story_id": brief.story_id,
        "headline": {"fr": brief.headline_fr, "en": brief.headline_en},
        "summary": [
            {
                "fr": s.text_fr,
                "en": s.text_en,
                "support": s.support,
                "flagged": s.flagged,
                "sources_count": len({c.doc_id for c in s.citations}),
                "citations": [
                    {"number": numbers[c.sid], **{k: v for k, v in asdict(c).items()}} for c in s.citations
                ],
            }
            for s in brief.summary
        ],
        "sources": [asdict(s) for s in brief.sources],
        "engines": brief.engines,
        "warnings": list(brief.warnings),
    }
