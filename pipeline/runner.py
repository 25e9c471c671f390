"""The run: wire the stages, cache their results, time them, write outputs atomically, keep a manifest.

Entry point: `run(options) -> RunReport`. Stages never print; the runner logs
through the `pipeline` logger, which the CLI configures, and owns the
progress bars (stderr, only when the CLI says stderr is a terminal).

Layout of `--out`:

    <out>/runs/<run-id>/     one folder per successful run (briefs, index, manifest)
    <out>/latest             symlink to runs/<run-id> of the newest successful run
    <out>/cache.sqlite       stage results reused by later runs (`pipeline.cache`)
    <out>/.pipeline.lock.json   who holds the lock (the lock itself is a flock on the <out> folder)

A run writes into `<out>/runs/.tmp-<run-id>/` (with a marker file, `.pipeline-temp`),
renamed to `<out>/runs/<run-id>/` when complete, and only then is `latest`
moved (a new symlink renamed over the old one). A run killed at any point
leaves the previous runs and `latest` untouched; its temporary folder is
removed by the next run, which reuses everything the killed run had
committed to the cache. Cleanup only ever removes what this tool made: marked
temporary folders, its own `.latest-<run-id>` links, run folders named like run ids.
A run with no brief (nothing to read, or every story failed) is never published.

Exit codes: see `EXIT_*` below and README ("Exit codes").
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import json
import logging
import os
import platform
import re
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

from . import __version__
from .brief import build_brief, choose_headline
from .cache import (
    INGEST_LIBRARIES, TEXT_LIBRARIES, Cache, CacheRefused, refuse_foreign_file, CachedTranslator, IngestCache, NullCache, code_fingerprint, decode,
    digest, encode, package_versions, schema_fingerprint, translator_identity, folder_fingerprint,
)
from .config import Settings, settings_dict
from .corpus_index import CorpusIndex
from .ingest import ingest
from .model import Brief, DedupResult, Document, IngestResult, Story, Summary
from .render import brief_to_dict, render_index, render_markdown
from .summarize import SummarizeError, make_summarizer
from .summarize import check_available as check_summarizer
from .translate import EngineFailure, TranslationError, Translator
from .translate.select import choose_translator

log = logging.getLogger("pipeline")

EXIT_OK = 0  # every input read, every story written
EXIT_PARTIAL = 1  # written, but some inputs were skipped or some stories failed
EXIT_USAGE = 2  # configuration or usage error: nothing written
EXIT_LOCKED = 3  # another run holds the lock on --out
EXIT_ENGINE_MISSING = 4  # a required engine or model is missing, or the engine failed on every story
EXIT_NOTHING = 5  # nothing to do: no readable document (empty or unmounted corpus, every file skipped)
EXIT_WRITE = 6  # an output could not be written (disk full, read-only): nothing published
EXIT_BUG = 70  # an unexpected exception (EX_SOFTWARE): a bug, never a user mistake; set by the CLI
EXIT_INTERRUPTED = 130  # SIGINT (128 + 2), set by the CLI: nothing published

LOCK_INFO_NAME = ".pipeline.lock.json"  # who holds the lock (pid, host, since): for the message of a blocked run
TEMP_MARKER = ".pipeline-temp"  # in every temporary run folder: cleanup removes only folders that have it
_RUN_ID = re.compile(r"^[0-9]{8}T[0-9]{6}Z(?:-[0-9a-f]{4})?$")  # what _new_run_id makes
# errno values of a failed write that are the machine's state, not a bug: a clear message, EXIT_WRITE
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EFBIG}

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


def _write_text(path: Path, text: str) -> None:
    """Write a run file; an OSError names the file even when it comes from the final flush (ENOSPC)."""
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        if exc.filename is None:
            exc.filename = str(path)
        raise


def _write_json(path: Path, data: Any) -> None:
    _write_text(path, json.dumps(data, ensure_ascii=False, indent=2) + "\n")


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


def _out_inside_corpus(corpus: Path, out: Path) -> bool:
    """--out is --corpus or a folder under it: the next run would read this run's briefs as news."""
    c, o = corpus.resolve(), out.resolve()
    return o == c or c in o.parents


class _Busy(Exception):
    """Another process holds the lock."""


def _lock(out: Path, wait: bool, timeout: float | None) -> int:
    """flock on the `<out>` folder itself; returns the open descriptor (closing it releases the lock).

    A lock on the folder, not on a file in it, so a user deleting files in `<out>` cannot let a second
    run in while the first one is writing (issue 16). Raises _Busy, or OSError when it cannot lock.
    """
    fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                if not wait or (deadline is not None and time.monotonic() >= deadline):
                    raise _Busy() from None
                time.sleep(0.2 if deadline is None else max(0.0, min(0.2, deadline - time.monotonic())))
    except BaseException:
        os.close(fd)
        raise


def run(options: RunOptions) -> RunReport:
    out, corpus = options.out, options.corpus
    # Checked before anything is created: exit 2 writes nothing.
    if not corpus.is_dir():
        return RunReport(EXIT_USAGE, message=f"corpus folder not found: {corpus}; pass --corpus DIR")
    if _out_inside_corpus(corpus, out):
        return RunReport(EXIT_USAGE, message=f"--out {out} is inside --corpus {corpus}: the next run would read "
                                             "this run's briefs as articles; pass an --out outside the corpus")
    if options.settings.cache.enabled and options.settings.cache.path:
        try:
            refuse_foreign_file(Path(options.settings.cache.path))
        except CacheRefused as exc:
            return RunReport(EXIT_USAGE, message=str(exc))
    # Private by default (output.private): every folder and file this run creates, the cache included,
    # is for the owner only. The umask is the process's; it is put back when the run ends.
    old_umask = os.umask(0o077) if options.settings.output.private else None
    try:
        return _run_with_lock(options)
    finally:
        if old_umask is not None:
            os.umask(old_umask)


def _run_with_lock(options: RunOptions) -> RunReport:
    out = options.out
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return RunReport(EXIT_USAGE, message=f"cannot create the output folder {out}: {exc.strerror or exc}; pass --out DIR")
    if not out.is_dir():
        return RunReport(EXIT_USAGE, message=f"the output folder {out} is not a folder; pass --out DIR")
    try:
        try:
            fd = _lock(out, wait=False, timeout=None)
        except _Busy:
            if not options.wait:
                return RunReport(EXIT_LOCKED, message=f"another run holds the lock on {out}{_holder(out)}; "
                                                      "try again later, pass --wait, or use another --out")
            limit = options.wait_timeout
            log.info("another run holds the lock on %s%s; waiting%s", out, _holder(out),
                     f" up to {limit:g} s" if limit is not None else "")
            try:
                fd = _lock(out, wait=True, timeout=limit)
            except _Busy:
                return RunReport(EXIT_LOCKED, message=f"another run still holds the lock on {out}{_holder(out)} "
                                                      f"after waiting {limit:g} s; try again later or use another --out")
    except OSError as exc:
        return RunReport(EXIT_USAGE, message=f"cannot lock the output folder {out}: {exc.strerror or exc}; pass --out DIR")
    try:
        try:
            _write_json(out / LOCK_INFO_NAME, {"pid": os.getpid(), "host": socket.gethostname(),
                                               "since": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        except OSError as exc:
            if exc.errno not in _WRITE_ERRNOS:
                raise
            return RunReport(EXIT_WRITE, message=_write_failure(exc))
        return _run_locked(options)
    finally:
        (out / LOCK_INFO_NAME).unlink(missing_ok=True)
        os.close(fd)


def _write_failure(exc: OSError) -> str:
    where = exc.filename or "the output folder"
    return (f"cannot write {where}: {exc.strerror or exc}; free space there (or pass another --out) and run "
            "again; no new run was published, `latest` is unchanged")


def _open_cache(options: RunOptions) -> Cache:
    """The run's cache. `<out>/cache.sqlite` is ours; a `cache.path` file that is not a SQLite
    database is someone else's and is refused (CacheRefused), never moved or replaced."""
    cs = options.settings.cache
    if not cs.enabled:
        return NullCache()
    if cs.path:
        return Cache(Path(cs.path), ours=False, private=options.settings.output.private)
    return Cache(options.out / "cache.sqlite", ours=True, private=options.settings.output.private)


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
    # The engine's own warnings (e.g. Marian without sacremoses) go to the log, the manifest and the brief.
    engine_warnings = (*choice.warnings, *getattr(choice.translator, "warnings", ()))
    for w in engine_warnings:
        log.warning("%s", w)
    warnings.extend(engine_warnings)
    log.info("translator: %s", choice.translator.engine)

    try:
        cache = _open_cache(options)
    except CacheRefused as exc:
        return RunReport(EXIT_USAGE, message=str(exc))
    except (sqlite3.Error, OSError) as exc:
        return RunReport(EXIT_USAGE, message=f"cannot open the cache ({settings.cache.path or out / 'cache.sqlite'}): "
                                             f"{exc}; set cache.path to a writable file, or cache.enabled: false")
    for w in cache.warnings:
        log.warning("%s", w)
    warnings.extend(cache.warnings)
    report: RunReport | None = None
    try:
        with bars.redirect_logs(), _python_warnings_into(warnings):
            report = _stages(options, choice.translator, engine_warnings, cache, clock, bars, warnings, started, runs)
    except OSError as exc:
        if exc.errno not in _WRITE_ERRNOS:
            raise
        report = RunReport(EXIT_WRITE, message=_write_failure(exc))
    finally:
        cache.close()
        if report is None or report.run_dir is None:
            remove_stale_temp(out)  # nothing published: no temporary folder is left behind
    if report.run_dir is not None:
        _prune_runs(runs, settings.output.keep_runs, report.run_dir)
    return report


@contextmanager
def _python_warnings_into(warnings: list[str]) -> Iterator[None]:
    """Python warnings raised during the run (a library's UserWarning...) are added to the run's
    warnings (manifest), each once, and still shown as before (the CLI logs them)."""
    import warnings as pywarnings

    with pywarnings.catch_warnings():
        shown = pywarnings.showwarning

        def keep(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
            text = f"{category.__name__}: {message}"
            if text not in warnings:
                warnings.append(text)
            shown(message, category, *args, **kwargs)

        pywarnings.showwarning = keep
        yield


def _no_brief_report(documents: Sequence[Document], ingested: IngestResult, failed: Sequence[dict[str, str]],
                     corpus: Path) -> RunReport:
    """A run that produced no brief is not published (`latest` keeps the last good run): exit 4 when
    the engine failed every story, 5 when there was nothing to summarise."""
    if failed:
        return RunReport(EXIT_ENGINE_MISSING, message=f"translation failed for every story ({len(failed)}), first: "
                                                      f"{failed[0]['reason']}; nothing published, `latest` unchanged")
    if not documents:
        found = f"{len(ingested.skipped)} file(s) found, all skipped (reasons above)" if ingested.skipped else \
            "no input file found"
        return RunReport(EXIT_NOTHING, message=f"nothing to do: {found} under {corpus} (is it mounted?); "
                                               "nothing published, `latest` unchanged")
    return RunReport(EXIT_NOTHING, message=f"nothing to do: no story with text in the {len(documents)} document(s) "
                                           f"under {corpus}; nothing published, `latest` unchanged")


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
    _make_temp(tmp)  # issue 16: marked, so cleanup removes only our temporary folders
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
                if isinstance(exc, EngineFailure):  # issue 16: a broken engine fails the run (exit 4)
                    return RunReport(EXIT_ENGINE_MISSING, message=f"translation engine failed: {exc}; nothing "
                                                                  "published, `latest` unchanged")
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
    if not briefs:  # issue 16: never publish a run with no brief
        return _no_brief_report(documents, ingested, failed, corpus)

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
            warnings.append(f"review pages: cited paragraphs left untranslated: {exc}")  # issue 16: in the manifest
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
        # issue 16: cache warnings raised during the run (a damaged cache set aside) too
        "warnings": warnings + [w for w in (*cache.warnings, *(w for b in briefs for w in b.warnings))
                                if w not in warnings],
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
    (tmp / TEMP_MARKER).unlink()  # issue 16: a published run folder is no longer temporary
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
        _write_text(run_dir / "briefs" / f"{brief.story_id}.md", render_markdown(brief, run_id))
    if "json" in settings.output.formats:
        _write_json(run_dir / "briefs" / f"{brief.story_id}.json", brief_to_dict(brief, run_id))


def _write_run_files(run_dir: Path, briefs: Sequence[Brief], run_id: str, documents: Sequence[Document],
                     ingested: IngestResult, dedup_result: DedupResult, index: CorpusIndex) -> None:
    """Files written once per run (the manifest is written after these, last)."""
    _write_text(run_dir / "index.md", render_index(briefs, run_id, len(documents), len(ingested.skipped)))
    _write_json(run_dir / "dedup.json", _dedup_json(dedup_result, index))


def _point_latest(out: Path, final: Path) -> None:
    """Move the `latest` symlink atomically (a new link renamed over the old one); relative target."""
    tmp_link = out / f".latest-{final.name}"
    if tmp_link.is_symlink():
        tmp_link.unlink()
    tmp_link.symlink_to(final.relative_to(out), target_is_directory=True)
    os.replace(tmp_link, out / "latest")


def _make_temp(tmp: Path) -> None:
    """The run's temporary folder, with the marker that lets a later run's cleanup recognise it."""
    (tmp / "briefs").mkdir(parents=True)
    (tmp / TEMP_MARKER).write_text(f"pipeline run temporary folder (pid {os.getpid()})\n", encoding="utf-8")


def remove_stale_temp(out: Path) -> None:
    """Remove what runs that were killed left behind. Call with the lock held.

    Only what this tool made: `runs/.tmp-<run-id>` folders holding the TEMP_MARKER file, and
    `.latest-<run-id>` symlinks pointing into `runs/`. Anything else in `--out` (another program's
    `.tmp-*`) is left alone.
    """
    for tmp in out.glob("runs/.tmp-*"):
        if _RUN_ID.match(tmp.name[len(".tmp-"):]) and not tmp.is_symlink() and (tmp / TEMP_MARKER).is_file():
            shutil.rmtree(tmp, ignore_errors=True)
    for link in out.glob(".latest-*"):
        if _RUN_ID.match(link.name[len(".latest-"):]) and link.is_symlink() and os.readlink(link).startswith("runs/"):
            link.unlink(missing_ok=True)


def _prune_runs(runs: Path, keep: int, current: Path) -> None:
    """Keep the newest `keep` run folders (output.keep_runs; 0 = all); never the one just published.
    Only folders named like run ids are considered."""
    if keep <= 0:
        return
    named = sorted((p for p in runs.iterdir() if _RUN_ID.match(p.name) and p.is_dir() and not p.is_symlink()),
                   key=lambda p: p.name)
    old = [p for p in named[:-keep] if p.name != current.name]
    for p in old:
        shutil.rmtree(p, ignore_errors=True)
    if old:
        log.info("output.keep_runs %d: removed %d older run folder(s): %s", keep, len(old),
                 ", ".join(p.name for p in old))
