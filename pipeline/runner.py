"""The run: wire the stages, time them, write outputs atomically, keep a manifest.

Entry point: `run(options) -> RunReport`. Stages never print; the runner logs
through the `pipeline` logger, which the CLI configures.

Outputs go to `<out>/<run-id>/` through a hidden temporary folder renamed at
the end, so a reader never sees a half-written run; `<out>/latest` then
points at the new run. A lock file keeps two runs off one output folder.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import secrets
import shutil
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, TypeVar

from filelock import FileLock, Timeout

from . import __version__
from .brief import build_brief, choose_headline
from .config import Settings, settings_dict
from .corpus_index import CorpusIndex
from .dedup import dedup
from .ingest import ingest
from .model import Brief, DedupResult, Document, IngestResult, Story
from .render import brief_to_dict, render_index, render_markdown
from .stories import group_stories
from .summarize.extractive import summarize_story
from .translate import TranslationError, Translator
from .translate.select import choose_translator

log = logging.getLogger("pipeline")
T = TypeVar("T")

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_USAGE = 2
EXIT_LOCKED = 3
EXIT_ENGINE_MISSING = 4


@dataclass(frozen=True)
class RunOptions:
    settings: Settings
    config_path: Path
    corpus: Path
    out: Path


@dataclass
class RunReport:
    exit_code: int
    run_dir: Path | None = None
    message: str = ""
    warnings: list[str] = field(default_factory=list)


def _timed(timings: dict[str, float], stage: str, fn: Callable[[], T]) -> T:
    start = time.perf_counter()
    result = fn()
    timings[stage] = round(time.perf_counter() - start, 4)
    return result


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "pipeline": __version__}
    for name in ("lingua-language-detector", "sentencex", "charset-normalizer", "snowballstemmer", "stop-words",
                 "numpy", "jinja2", "pydantic", "torch", "transformers", "ctranslate2"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def _new_run_id(out: Path) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return stamp if not (out / stamp).exists() else f"{stamp}-{secrets.token_hex(2)}"


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def _dedup_json(result: DedupResult, index: CorpusIndex) -> dict[str, Any]:
    def where(member_id: str) -> dict[str, Any]:
        if member_id in index.sentences:
            c = index.cite(member_id)
            return {"file": c.file, "paragraph": c.paragraph, "line_start": c.line_start, "line_end": c.line_end, "text": c.text}
        p = index.paragraphs[member_id]
        return {"file": index.documents[p.doc_id].path, "paragraph": p.index, "line_start": p.line_start,
                "line_end": p.line_end, "text": p.text}

    return {
        "groups": [
            {
                "group_id": g.group_id, "level": g.level, "canonical": g.canonical,
                "members": [{"id": m.id, "relation": m.relation, "score": m.score, **where(m.id)} for m in g.members],
            }
            for g in (*result.paragraph_groups, *result.sentence_groups)
        ]
    }


def _brief_for(story: Story, index: CorpusIndex, dedup_result: DedupResult, settings: Settings,
               translator: Translator, engines: dict[str, str], warnings: list[str]) -> Brief:
    summary = summarize_story(story, index, dedup_result, settings.summarize)
    headline_fr = choose_headline(story, index, summary)
    english = translator.translate([headline_fr, *(s.text_fr for s in summary.sentences)])
    return build_brief(story, summary, headline_fr, english[0], english[1:], index,
                       {**engines, "summarizer": summary.engine}, warnings)


def run(options: RunOptions) -> RunReport:
    settings, out = options.settings, options.out
    out.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(out / ".pipeline.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return RunReport(EXIT_LOCKED, message=f"another run holds the lock on {out} ({out / '.pipeline.lock'}); "
                                              "wait for it to finish, or use another --out")
    try:
        return _run_locked(options)
    finally:
        lock.release()


def _run_locked(options: RunOptions) -> RunReport:
    settings, out, corpus = options.settings, options.out, options.corpus
    started = datetime.now(timezone.utc)
    timings: dict[str, float] = {}
    warnings: list[str] = []

    if not corpus.is_dir():
        return RunReport(EXIT_USAGE, message=f"corpus folder not found: {corpus}; pass --corpus DIR")
    remove_stale_temp(out)

    try:
        choice = choose_translator(settings.translate)
    except TranslationError as exc:
        return RunReport(EXIT_ENGINE_MISSING, message=str(exc))
    translator = choice.translator
    for w in choice.warnings:
        log.warning(w)
    warnings.extend(choice.warnings)
    log.info("translator: %s", translator.engine)

    log.info("ingest: reading %s", corpus)
    ingested: IngestResult = _timed(timings, "ingest", lambda: ingest(corpus, settings.ingest))
    for s in ingested.skipped:
        log.warning("skipped %s: %s", s.path, s.reason)
    documents: tuple[Document, ...] = ingested.documents
    log.info("ingest: %d documents, %d paragraphs, %d skipped", len(documents),
             sum(len(d.paragraphs) for d in documents), len(ingested.skipped))

    index = CorpusIndex.build(documents)
    dedup_result = _timed(timings, "dedup", lambda: dedup(documents, settings.dedup))
    log.info("dedup: %d paragraph groups, %d sentence groups",
             len(dedup_result.paragraph_groups), len(dedup_result.sentence_groups))
    stories = _timed(timings, "stories", lambda: group_stories(documents, dedup_result, settings.stories))
    log.info("stories: %d", len(stories))

    run_id = _new_run_id(out)
    tmp = out / f".tmp-{run_id}"
    (tmp / "briefs").mkdir(parents=True)
    briefs: list[Brief] = []
    failed: list[dict[str, str]] = []
    engines = {"translator": translator.engine}
    start = time.perf_counter()
    for story in stories:
        try:
            brief = _brief_for(story, index, dedup_result, settings, translator, engines, choice.warnings)
        except TranslationError as exc:
            log.error("story %s failed: %s", story.story_id, exc)
            failed.append({"story_id": story.story_id, "reason": str(exc)})
            continue
        briefs.append(brief)
        if "md" in settings.output.formats:
            (tmp / "briefs" / f"{story.story_id}.md").write_text(render_markdown(brief, run_id), encoding="utf-8")
        if "json" in settings.output.formats:
            _write_json(tmp / "briefs" / f"{story.story_id}.json", brief_to_dict(brief, run_id))
        log.info("brief %s: %d sentences, %d sources", story.story_id, len(brief.summary), len(brief.sources))
    timings["summarize+translate+render"] = round(time.perf_counter() - start, 4)

    (tmp / "index.md").write_text(render_index(briefs, run_id, len(documents), len(ingested.skipped)), encoding="utf-8")
    _write_json(tmp / "dedup.json", _dedup_json(dedup_result, index))
    partial = bool(ingested.skipped or failed)
    exit_code = EXIT_PARTIAL if partial else EXIT_OK
    manifest = {
        "run_id": run_id,
        "status": "partial" if partial else "ok",
        "exit_code": exit_code,
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "corpus": str(corpus),
        "config_path": str(options.config_path),
        "config": settings_dict(settings),
        "versions": _versions(),
        "engines": {**engines, "summarizer": briefs[0].engines["summarizer"] if briefs else settings.summarize.backend},
        "counts": {
            "documents": len(documents),
            "skipped_inputs": len(ingested.skipped),
            "paragraphs": sum(len(d.paragraphs) for d in documents),
            "sentences": sum(len(p.sentences) for d in documents for p in d.paragraphs),
            "paragraph_dup_groups": len(dedup_result.paragraph_groups),
            "sentence_dup_groups": len(dedup_result.sentence_groups),
            "stories": len(stories),
            "briefs": len(briefs),
            "failed_stories": len(failed),
        },
        "timings_s": timings,
        "warnings": warnings + [w for b in briefs for w in b.warnings if w not in warnings],
        "skipped_inputs": [asdict(s) for s in ingested.skipped],
        "failed_stories": failed,
        "documents": [
            {"file": d.path, "sha256": d.sha256, "encoding": d.encoding, "lang": d.lang, "title": d.title,
             "date": d.date, "paragraphs": len(d.paragraphs),
             "dropped": [asdict(x) for x in d.dropped]}
            for d in documents
        ],
    }
    _write_json(tmp / "manifest.json", manifest)
    final = out / run_id
    os.replace(tmp, final)
    _point_latest(out, run_id)
    log.info("wrote %s (%s)", final, manifest["status"])
    return RunReport(exit_code, run_dir=final, warnings=manifest["warnings"])


def _point_latest(out: Path, run_id: str) -> None:
    """Move the `latest` symlink atomically (a new link renamed over the old one)."""
    tmp_link = out / f".latest-{run_id}"
    if tmp_link.is_symlink() or tmp_link.exists():
        tmp_link.unlink()
    tmp_link.symlink_to(run_id, target_is_directory=True)
    os.replace(tmp_link, out / "latest")


def remove_stale_temp(out: Path) -> None:
    """Remove temporary folders left by runs that were killed."""
    for tmp in out.glob(".tmp-*"):
        shutil.rmtree(tmp, ignore_errors=True)
