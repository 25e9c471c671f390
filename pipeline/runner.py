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
from .cache import Cache, NullCache
from .config import Settings, settings_dict
from .executors import ExecutorError, make_executor
from .flow import run_flow
from .summarize import SummarizeError
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


class _Hooks:
    """The flow's timing and progress hooks (`pipeline.flow.Hooks`), backed by the clock and the bars."""

    def __init__(self, clock: _Clock, bars: _Bars) -> None:
        self.stage = clock.stage
        self.bar = bars.bar


class _NoBar:
    total: int | None = None

    def update(self, n: int = 1) -> None:
        pass

    def refresh(self) -> None:
        pass

    def set_postfix_str(self, s: str) -> None:
        pass


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


# --- the run ---------------------------------------------------------------------------------


def _run_locked(options: RunOptions) -> RunReport:
    settings, out = options.settings, options.out
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
    run_id = _new_run_id(runs)
    tmp = runs / f".tmp-{run_id}"
    (tmp / "briefs").mkdir(parents=True)
    hooks = _Hooks(clock, bars)
    try:
        executor = make_executor(settings.run.executor, settings.run.workers, settings.ray.address)
        result = run_flow(corpus, settings, cache=cache, executor=executor, engine=engine,
                          engine_warnings=engine_warnings, run_dir=tmp, run_id=run_id, hooks=hooks)
    except (SummarizeError, ExecutorError) as exc:
        return RunReport(EXIT_ENGINE_MISSING, message=str(exc))
    ingested, documents, dedup_result, stories = result.ingested, result.ingested.documents, result.dedup, result.stories
    briefs, failed, engines = result.briefs, result.failed, result.engines
    warnings.extend(result.warnings)
    summarize_calls = result.stats.summarize_calls
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
        "executor": {"kind": executor.name, "workers": executor.workers},
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
            "engine_calls": {"summarize": summarize_calls, "translate": result.stats.translate_calls,
                             "translated_texts": result.stats.translated_texts},
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
             clock.timings["total"], _cache_line(cache), summarize_calls, result.stats.translate_calls,
             extra={"fields": {"event": "run_finished", "run_id": run_id, "run_dir": str(final),
                               "status": manifest["status"], "exit_code": exit_code, "counts": manifest["counts"],
                               "cache": manifest["cache"], "timings_s": clock.timings}})
    return RunReport(exit_code, run_dir=final, warnings=manifest["warnings"], manifest=manifest)


def _cache_line(cache: Cache) -> str:
    return ", ".join(f"{k} {v['hits']}/{v['hits'] + v['misses']} hits" for k, v in cache.stats_dict().items()) or "off"


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
