"""The run: wire the stages, cache their results, time them, write outputs atomically, keep a manifest.

Entry point: `run(options) -> RunReport`. Stages never print; the runner logs
through the `pipeline` logger, which the CLI configures, and owns the
progress bars (stderr, only when the CLI says stderr is a terminal).

Layout of `--out`:

    <out>/runs/<run-id>/     one folder per successful run (briefs, index, manifest)
    <out>/latest             symlink to runs/<run-id> of the newest successful run
    <out>/cache.sqlite       stage results reused by later runs (`pipeline.cache`)
    <out>/.pipeline.lock     held while a run is going on

A run writes into `<out>/runs/.tmp-<run-id>/`, renamed to `<out>/runs/<run-id>/`
when complete, and only then is `latest` moved (a new symlink renamed over
the old one). A run killed at any point leaves the previous runs and
`latest` untouched; its temporary folder is removed by the next run, which
reuses everything the killed run had committed to the cache.

Exit codes: see `EXIT_*` below and README ("Exit codes").
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import platform
import secrets
import shutil
import socket
import sqlite3
import sys
import time
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator, Sequence

from filelock import FileLock, Timeout

from . import __version__
from .brief import build_brief, choose_headline
from .cache import (
    INGEST_LIBRARIES, TEXT_LIBRARIES, Cache, CachedTranslator, IngestCache, NullCache, code_fingerprint, decode,
    digest, encode, package_versions, schema_fingerprint, translator_identity, folder_fingerprint,
)
from .config import Settings, settings_dict
from .corpus_index import CorpusIndex
from .ingest import ingest
from .verify import write_sources
from .model import Brief, DedupResult, Document, IngestResult, Story, Summary
from .render import brief_to_dict, render_index, render_markdown
from .summarize import SummarizeError, make_summarizer
from .summarize import check_available as check_summarizer
from .translate import TranslationError, Translator
from .translate.select import choose_translator

log = logging.getLogger("pipeline")

EXIT_OK = 0  # every input read, every story written
EXIT_PARTIAL = 1  # written, but some inputs were skipped or some stories failed
EXIT_USAGE = 2  # configuration or usage error: nothing written
EXIT_LOCKED = 3  # another run holds the lock on --out
EXIT_ENGINE_MISSING = 4  # a required engine or model is missing
EXIT_BUG = 70  # an unexpected exception (EX_SOFTWARE): a bug, never a user mistake; set by the CLI

LOCK_NAME = ".pipeline.lock"
LOCK_INFO_NAME = ".pipeline.lock.json"  # who holds the lock (pid, host, since): for the message of a blocked run

# Test-only hook: with PIPELINE_TEST_SLOW_TRANSLATE=<seconds> set, every call to the
# translation engine sleeps that long first, so tests/test_runner_ops.py can kill a
# run in the middle of translation. Never set it in production.
_SLOW_TRANSLATE_ENV = "PIPELINE_TEST_SLOW_TRANSLATE"


@dataclass(frozen=True)
class RunOptions:
    settings: Settings
    config_path: Path
    corpus: Path
    out: Path
    wait: bool = False  # wait for the lock instead of exiting with EXIT_LOCKED
    wait_timeout: float | None = None  # seconds to wait for the lock (None: no limit)
    progress: bool = False  # progress bars on stderr (the CLI sets it when stderr is a terminal)


@dataclass
class RunReport:
    exit_code: int
    run_dir: Path | None = None
    message: str = ""
    warnings: list[str] = field(default_factory=list)
    manifest: dict[str, Any] | None = None


# --- helpers ---------------------------------------------------------------------------


class _Clock:
    """Per-stage wall time, accumulated (a stage may run once per story)."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(self.timings.get(name, 0.0) + time.perf_counter() - start, 4)


class _Bars:
    """tqdm progress bars on stderr when enabled, no-ops otherwise. Only the runner draws them."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    @contextmanager
    def bar(self, desc: str, total: int | None, unit: str) -> Iterator[Any]:
        if not self.enabled:
            yield _NoBar()
            return
        from tqdm import tqdm

        with tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False, dynamic_ncols=True) as bar:
            yield bar

    def redirect_logs(self) -> Any:
        """Log lines printed above the bars instead of through them."""
        if not self.enabled:
            return nullcontext()
        from tqdm.contrib.logging import logging_redirect_tqdm

        return logging_redirect_tqdm(loggers=[log])


class _NoBar:
    total: int | None = None

    def update(self, n: int = 1) -> None:
        pass

    def refresh(self) -> None:
        pass

    def set_postfix_str(self, s: str) -> None:
        pass


class _SlowTranslator:
    """Test-only (see _SLOW_TRANSLATE_ENV): sleeps before each call to the wrapped engine."""

    def __init__(self, inner: Translator, seconds: float) -> None:
        self.inner, self.seconds, self.engine = inner, seconds, inner.engine

    def translate(self, texts: Sequence[str]) -> list[str]:
        time.sleep(self.seconds)
        return self.inner.translate(texts)


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "pipeline": __version__}
    for name in ("lingua-language-detector", "sentencex", "charset-normalizer", "snowballstemmer", "stop-words",
                 "numpy", "jinja2", "pydantic", "torch", "transformers", "ctranslate2"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def _new_run_id(runs: Path) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return stamp if not (runs / stamp).exists() else f"{stamp}-{secrets.token_hex(2)}"


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


# --- lock --------------------------------------------------------------------------------


def _holder(out: Path) -> str:
    try:
        info = json.loads((out / LOCK_INFO_NAME).read_text(encoding="utf-8"))
        return f" (pid {info['pid']} on {info['host']}, since {info['since']})"
    except (OSError, ValueError, KeyError, TypeError):
        return ""


def run(options: RunOptions) -> RunReport:
    out = options.out
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return RunReport(EXIT_USAGE, message=f"cannot create the output folder {out}: {exc.strerror or exc}; pass --out DIR")
    if not options.corpus.is_dir():
        return RunReport(EXIT_USAGE, message=f"corpus folder not found: {options.corpus}; pass --corpus DIR")
    lock = FileLock(str(out / LOCK_NAME))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if not options.wait:
            return RunReport(EXIT_LOCKED, message=f"another run holds the lock on {out}{_holder(out)}; "
                                                  "try again later, pass --wait, or use another --out")
        limit = options.wait_timeout
        log.info("another run holds the lock on %s%s; waiting%s", out, _holder(out),
                 f" up to {limit:g} s" if limit is not None else "")
        try:
            lock.acquire(timeout=-1 if limit is None else limit)
        except Timeout:
            return RunReport(EXIT_LOCKED, message=f"another run still holds the lock on {out}{_holder(out)} "
                                                  f"after waiting {limit:g} s; try again later or use another --out")
    except OSError as exc:
        return RunReport(EXIT_USAGE, message=f"cannot lock the output folder {out}: {exc.strerror or exc}; pass --out DIR")
    try:
        _write_json(out / LOCK_INFO_NAME, {"pid": os.getpid(), "host": socket.gethostname(),
                                           "since": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        return _run_locked(options)
    finally:
        (out / LOCK_INFO_NAME).unlink(missing_ok=True)
        lock.release()


def _open_cache(options: RunOptions) -> Cache:
    cs = options.settings.cache
    if not cs.enabled:
        return NullCache()
    return Cache(Path(cs.path) if cs.path else options.out / "cache.sqlite")


# --- keys of the corpus-level and story-level results ------------------------------------------


def _corpus_key(documents: Sequence[Document], settings: Settings) -> str:
    return digest(
        "corpus", schema_fingerprint(),
        code_fingerprint("pipeline.ingest", "pipeline.dedup", "pipeline.minhash", "pipeline.textsim", "pipeline.stories"),
        package_versions(*INGEST_LIBRARIES, *TEXT_LIBRARIES),
        settings_dict(settings)["ingest"], settings_dict(settings)["dedup"], settings_dict(settings)["stories"],
        [(d.doc_id, d.path, d.sha256) for d in documents],
    )


def _doc_of(member_id: str, index: CorpusIndex) -> str:
    pid = index.sentences[member_id].pid if member_id in index.sentences else member_id
    return index.paragraphs[pid].doc_id


def _summarizer_model(settings: Settings) -> dict[str, str] | None:
    """The seq2seq model folder's fingerprint (files, sizes, times); None for extractive."""
    if settings.summarize.backend == "extractive":
        return None
    from .models import resolve_model

    resolved = resolve_model(settings.summarize.model)
    return folder_fingerprint(str(resolved.local_path)) if resolved.local_path else None


def _summary_key(story: Story, index: CorpusIndex, dedup_result: DedupResult, settings: Settings) -> str:
    """What a story's summary and headline depend on: the story, its documents, the membership of
    the dedup groups touching them (and the documents of their other members), the settings, the code.

    Group scores are left out on purpose: they shift a little whenever any article is added (corpus
    TF-IDF), and the summarizer reads only who is in a group. If a summarizer starts reading
    something else of the dedup result, add it here.
    """
    docs = set(story.doc_ids)
    groups = [
        g for g in (*dedup_result.paragraph_groups, *dedup_result.sentence_groups)
        if any(_doc_of(m.id, index) in docs for m in g.members)
    ]
    involved = sorted(docs | {_doc_of(m.id, index) for g in groups for m in g.members})
    story_data = {k: v for k, v in encode(story).items() if k != "story_id"}
    return digest(
        "summary", schema_fingerprint(),
        code_fingerprint("pipeline.ingest", "pipeline.summarize", "pipeline.summarize.extractive",
                         "pipeline.summarize.seq2seq", "pipeline.textsim", "pipeline.dedup",
                         "pipeline.brief", "pipeline.corpus_index"),
        _summarizer_model(settings),
        package_versions(*INGEST_LIBRARIES, *TEXT_LIBRARIES),
        settings_dict(settings)["ingest"], settings_dict(settings)["summarize"],
        story_data,
        [(d, index.documents[d].path, index.documents[d].sha256) for d in involved],
        sorted([g.level, sorted(m.id for m in g.members)] for g in groups),
    )


# --- the run ---------------------------------------------------------------------------------


def _run_locked(options: RunOptions) -> RunReport:
    settings, out, corpus = options.settings, options.out, options.corpus
    started = datetime.now(timezone.utc)
    clock = _Clock()
    bars = _Bars(options.progress)
    warnings: list[str] = []
    runs = out / "runs"
    remove_stale_temp(out)

    try:
        choice = choose_translator(settings.translate)
    except TranslationError as exc:
        return RunReport(EXIT_ENGINE_MISSING, message=str(exc))
    from .dedup import check_available as check_embedder  # dedup.embedder (issue 3): missing package = exit 4

    missing = check_summarizer(settings.summarize) or check_embedder(settings.dedup)
    if missing:
        return RunReport(EXIT_ENGINE_MISSING, message=missing)
    for w in choice.warnings:
        log.warning("%s", w)
    warnings.extend(choice.warnings)
    log.info("translator: %s", choice.translator.engine)

    try:
        cache = _open_cache(options)
    except (sqlite3.Error, OSError) as exc:
        return RunReport(EXIT_USAGE, message=f"cannot open the cache ({settings.cache.path or out / 'cache.sqlite'}): "
                                             f"{exc}; set cache.path to a writable file, or cache.enabled: false")
    for w in cache.warnings:
        log.warning("%s", w)
    warnings.extend(cache.warnings)
    try:
        with bars.redirect_logs():
            return _stages(options, choice.translator, choice.warnings, cache, clock, bars, warnings, started, runs)
    finally:
        cache.close()


def _stages(options: RunOptions, engine: Translator, engine_warnings: Sequence[str], cache: Cache, clock: _Clock,
            bars: _Bars, warnings: list[str], started: datetime, runs: Path) -> RunReport:
    settings, out, corpus = options.settings, options.out, options.corpus
    run_start = time.perf_counter()
    slow = os.environ.get(_SLOW_TRANSLATE_ENV)
    inner: Translator = _SlowTranslator(engine, float(slow)) if slow else engine
    translator = CachedTranslator(inner, cache, translator_identity(engine, settings_dict(settings)["translate"]))

    # ingest
    log.info("ingest: reading %s", corpus)
    with clock.stage("ingest"), bars.bar("ingest", None, "file") as bar:
        def advance(done: int, total: int) -> None:
            if done == 0:
                bar.total = total
                bar.refresh()
            else:
                bar.update(1)

        ingested: IngestResult = ingest(
            corpus, settings.ingest, store=IngestCache(cache, settings_dict(settings)["ingest"]), progress=advance,
        )
    for s in ingested.skipped:
        log.warning("skipped %s: %s", s.path, s.reason)
    documents: tuple[Document, ...] = ingested.documents
    log.info("ingest: %d documents, %d paragraphs, %d skipped", len(documents),
             sum(len(d.paragraphs) for d in documents), len(ingested.skipped))
    if not documents and not ingested.skipped:
        w = f"no {'/'.join(settings.ingest.extensions)} files found under {corpus}"
        log.warning("%s", w)
        warnings.append(w)
    index = CorpusIndex.build(documents)

    # dedup and stories: reused whole when the set of documents is unchanged
    corpus_key = _corpus_key(documents, settings)
    with clock.stage("dedup"):
        cached = cache.get_as("corpus", corpus_key, lambda v: (decode(DedupResult, v["dedup"]),
                                                               [decode(Story, s) for s in v["stories"]]))
    if cached is not None:
        dedup_result, stories = cached
        clock.timings.setdefault("stories", 0.0)
    else:
        from .dedup import dedup
        from .stories import group_stories

        with clock.stage("dedup"):
            dedup_result = dedup(documents, settings.dedup)
        with clock.stage("stories"):
            stories = group_stories(documents, dedup_result, settings.stories)
        cache.put("corpus", corpus_key, {"dedup": encode(dedup_result), "stories": encode(stories)})
    log.info("dedup: %d paragraph groups, %d sentence groups%s", len(dedup_result.paragraph_groups),
             len(dedup_result.sentence_groups), " (cached)" if cached is not None else "")
    log.info("stories: %d", len(stories))

    # one brief per story
    run_id = _new_run_id(runs)
    tmp = runs / f".tmp-{run_id}"
    (tmp / "briefs").mkdir(parents=True)
    briefs: list[Brief] = []
    failed: list[dict[str, str]] = []
    engines = {"translator": engine.engine}
    summarize_calls = 0
    summarizer = make_summarizer(settings.summarize, threads=settings.translate.threads,
                                 device=settings.translate.device)
    with bars.bar("briefs", len(stories), "story") as bar:
        for story in stories:
            key = _summary_key(story, index, dedup_result, settings)
            with clock.stage("summarize"):
                hit = cache.get_as("summary", key, lambda v: (decode(Summary, v["summary"]), v["headline_fr"]))
                if hit is None:
                    summarize_calls += 1
                    try:
                        summary = summarizer.summarize(story, index, dedup_result)
                    except SummarizeError as exc:
                        return RunReport(EXIT_ENGINE_MISSING, message=str(exc))
                    headline_fr = choose_headline(story, index, summary)
                    cache.put("summary", key, {"summary": encode(summary), "headline_fr": headline_fr})
                else:
                    summary, headline_fr = hit
                summary = dataclasses.replace(summary, story_id=story.story_id)
            try:
                with clock.stage("translate"):
                    english = translator.translate([headline_fr, *(s.text_fr for s in summary.sentences)])
            except TranslationError as exc:
                log.error("story %s failed: %s", story.story_id, exc)
                failed.append({"story_id": story.story_id, "reason": str(exc)})
                bar.update(1)
                continue
            brief = build_brief(story, summary, headline_fr, english[0], english[1:], index,
                                {**engines, "summarizer": summary.engine}, engine_warnings)
            # --- issue 5: key quotes with speakers, translated (pipeline.brief.attach_quotes) ---
            with clock.stage("translate"):
                from .brief import attach_quotes

                brief = attach_quotes(brief, story, index, translator)
            # --- end issue 5 ---
            briefs.append(brief)
            with clock.stage("render"):
                _write_brief_files(tmp, brief, run_id, settings)
            log.info("brief %s: %d sentences, %d sources", story.story_id, len(brief.summary), len(brief.sources))
            bar.update(1)

    # the run's own files, then the manifest last
    with clock.stage("write"):
        _write_run_files(tmp, briefs, run_id, documents, ingested, dedup_result, index)
    # --- issue 5: review site, cited paragraphs side by side in English (pipeline.render.review) ---
    with clock.stage("review"):
        from .render.review import paragraphs_for_review, write_review_site

        review_pids = paragraphs_for_review(briefs, index, dedup_result)
        try:
            review_en = dict(zip(review_pids, translator.translate([index.paragraphs[p].text for p in review_pids])))
        except TranslationError as exc:
            log.warning("review pages: cited paragraphs left untranslated: %s", exc)
            review_en = {}
        write_review_site(tmp, briefs, index, dedup_result, review_en, run_id)
    # --- end issue 5 ---
    partial = bool(ingested.skipped or failed)
    exit_code = EXIT_PARTIAL if partial else EXIT_OK
    clock.timings["total"] = round(time.perf_counter() - run_start, 4)
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
        "timings_s": clock.timings,
        "cache": {
            "path": str(cache.path) if cache.path else None,
            **cache.stats_dict(),
            "engine_calls": {"summarize": summarize_calls, "translate": translator.calls,
                             "translated_texts": translator.texts_translated},
        },
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

    # publish: rename the complete folder, then move `latest`
    final = runs / run_id
    os.replace(tmp, final)
    _point_latest(out, final)
    pruned = cache.prune(settings.cache.max_age_days)
    if pruned:
        log.info("cache: pruned %d entries unused for %d days", pruned, settings.cache.max_age_days)
    log.info("wrote %s (%s): %d briefs, %d skipped inputs, %d failed stories, %.2f s; cache %s; engine calls: "
             "%d summarize, %d translate", final, manifest["status"], len(briefs), len(ingested.skipped), len(failed),
             clock.timings["total"], _cache_line(cache), summarize_calls, translator.calls,
             extra={"fields": {"event": "run_finished", "run_id": run_id, "run_dir": str(final),
                               "status": manifest["status"], "exit_code": exit_code, "counts": manifest["counts"],
                               "cache": manifest["cache"], "timings_s": clock.timings}})
    return RunReport(exit_code, run_dir=final, warnings=manifest["warnings"], manifest=manifest)


def _cache_line(cache: Cache) -> str:
    return ", ".join(f"{k} {v['hits']}/{v['hits'] + v['misses']} hits" for k, v in cache.stats_dict().items()) or "off"


# --- per-run outputs: add new output files here --------------------------------------------------


def _write_brief_files(run_dir: Path, brief: Brief, run_id: str, settings: Settings) -> None:
    """Files written for one story, in the run's (temporary) folder."""
    if "md" in settings.output.formats:
        (run_dir / "briefs" / f"{brief.story_id}.md").write_text(render_markdown(brief, run_id), encoding="utf-8")
    if "json" in settings.output.formats:
        _write_json(run_dir / "briefs" / f"{brief.story_id}.json", brief_to_dict(brief, run_id))


def _write_run_files(run_dir: Path, briefs: Sequence[Brief], run_id: str, documents: Sequence[Document],
                     ingested: IngestResult, dedup_result: DedupResult, index: CorpusIndex) -> None:
    """Files written once per run (the manifest is written after these, last)."""
    (run_dir / "index.md").write_text(render_index(briefs, run_id, len(documents), len(ingested.skipped)), encoding="utf-8")
    _write_json(run_dir / "dedup.json", _dedup_json(dedup_result, index))
    write_sources(run_dir, documents)


def _point_latest(out: Path, final: Path) -> None:
    """Move the `latest` symlink atomically (a new link renamed over the old one); relative target."""
    tmp_link = out / f".latest-{final.name}"
    if tmp_link.is_symlink() or tmp_link.exists():
        tmp_link.unlink()
    tmp_link.symlink_to(final.relative_to(out), target_is_directory=True)
    os.replace(tmp_link, out / "latest")


def remove_stale_temp(out: Path) -> None:
    """Remove what runs that were killed left behind (temporary folders and links). Call with the lock held."""
    for tmp in (*out.glob("runs/.tmp-*"), *out.glob(".tmp-*")):
        shutil.rmtree(tmp, ignore_errors=True)
    for link in out.glob(".latest-*"):
        link.unlink(missing_ok=True)
