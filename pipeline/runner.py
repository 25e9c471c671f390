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

import errno
import fcntl
import gc
import json
import logging
import multiprocessing
import os
import platform
import re
import resource
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
from .cache import Cache, CacheRefused, NullCache, collector_paused, refuse_foreign_file
from .config import Settings, settings_dict
from .executors import Executor, ExecutorError, make_executor
from .changes import previous_run_dir
from .flow import FlowResult, NoBar, run_flow
from .model import Document, IngestResult
from .render import indented_json
from .summarize import SummarizeError
from .summarize import check_available as check_summarizer
from .translate import TranslationError, Translator
from .translate.routes import check_routes
from .translate.select import choose_translator, wait_ready

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

@dataclass(frozen=True)
class RunOptions:
    settings: Settings
    config_path: Path
    corpus: Path
    out: Path
    wait: bool = False  # wait for the lock instead of exiting with EXIT_LOCKED
    wait_timeout: float | None = None  # seconds to wait for the lock (None: no limit)
    progress: bool = False  # progress bars on stderr (the CLI sets it when stderr is a terminal)
    # the CLI ends the process right after the run (`pipeline.__main__.leave`): the flow's records are kept in
    # the report (`RunReport.records`) instead of being freed one by one (0.1 s at 10,000 articles)
    keep_records: bool = False


@dataclass
class RunReport:
    exit_code: int
    run_dir: Path | None = None
    message: str = ""
    warnings: list[str] = field(default_factory=list)
    manifest: dict[str, Any] | None = None
    # the flow's records (`RunOptions.keep_records`), out of the cyclic collector's reach (`gc.freeze`)
    records: FlowResult | None = field(default=None, repr=False, compare=False)


# --- helpers ---------------------------------------------------------------------------


class _Clock:
    """Per-stage wall time, accumulated (a stage may run once per story), and CPU time: this process's
    and its child processes' (the pool's workers, kept for the whole run, counted stage by stage while
    they live). On a shared machine CPU seconds compare better. `close` when the run ends."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        # /proc/<pid>/stat of each live worker, opened once and read again from its start at each reading:
        # a warm run times about 1,000 stages (once per story), two readings each
        self._stat_files: dict[int, int] = {}

    def _live_children_cpu(self) -> float:
        """CPU seconds of this process's worker processes still running (the executor's pool), with those of
        the children they ended (/proc; 0 where there is none). Only the processes `multiprocessing` started
        are read: scanning every process of the machine at each stage cost a warm run a second."""
        live = {child.pid for child in multiprocessing.active_children()}
        for pid in [pid for pid in self._stat_files if pid not in live]:
            os.close(self._stat_files.pop(pid))
        ticks = 0
        for pid in live:
            try:
                fd = self._stat_files.get(pid)
                if fd is None:
                    fd = self._stat_files[pid] = os.open(f"/proc/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
                fields = os.pread(fd, 4096, 0).rsplit(b")", 1)[1].split()
            except OSError:  # ended since (and reaped by another thread)
                continue
            ticks += sum(int(x) for x in fields[11:15])  # utime, stime, cutime, cstime
        return ticks / os.sysconf("SC_CLK_TCK")

    def _cpu(self) -> float:
        live = self._live_children_cpu()  # (before the ended ones: a child reaped in between is not missed)
        own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime + live

    def close(self) -> None:
        for fd in self._stat_files.values():
            os.close(fd)
        self._stat_files.clear()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start, cpu = time.perf_counter(), self._cpu()
        try:
            yield
        finally:
            self.timings[name] = round(self.timings.get(name, 0.0) + time.perf_counter() - start, 4)
            self.cpu[name] = round(self.cpu.get(name, 0.0) + self._cpu() - cpu, 3)


class _Bars:
    """tqdm progress bars on stderr when enabled, no-ops otherwise. Only the runner draws them."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    @contextmanager
    def bar(self, desc: str, total: int | None, unit: str) -> Iterator[Any]:
        if not self.enabled:
            yield NoBar()
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
    """The flow's timing and progress hooks (`pipeline.flow.Hooks`), backed by the clock and the bars.

    The translator's processes are started with the run and load their data while ingest reads the corpus
    (0.5 to 1.5 s of waiting on Apertium, no longer before ingest); its start-up self-test runs when ingest
    ends (`ENGINE_READY_AFTER`), so a broken engine still fails the run (exit 4) before any story is worked
    on, and ingest's work is in the cache for the next run."""

    ENGINE_READY_AFTER = "ingest"

    def __init__(self, clock: _Clock, bars: _Bars, engine: Translator) -> None:
        self.clock = clock
        self.bar = bars.bar
        self.engine = engine

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        with self.clock.stage(name):
            yield
            if name == self.ENGINE_READY_AFTER:
                wait_ready(self.engine)  # (the self-test is ingest's time)


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
    _write_text(path, indented_json(data, 2) + "\n")  # json.dumps(indent=2)'s text, 4x faster (manifest)


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
        return Cache(Path(cs.path), ours=False, private=options.settings.output.private, max_age_days=cs.max_age_days)
    return Cache(options.out / "cache.sqlite", ours=True, private=options.settings.output.private,
                 max_age_days=cs.max_age_days)


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
        choice = choose_translator(settings.translate, self_test="started")  # awaited by `_Hooks`
        # every configured language's route to French and English, before any work: a missing
        # Apertium pair is exit 4 naming its Debian package; a language with no route at all
        # (German offline) is said here, and again for each story it concerns
        for line in check_routes(settings.translate, settings.ingest.languages):
            log.info("%s", line)
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
        clock.close()
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
    run_id = _new_run_id(runs)
    tmp = runs / f".tmp-{run_id}"
    _make_temp(tmp)  # issue 16: marked, so cleanup removes only our temporary folders
    hooks = _Hooks(clock, bars, engine)
    try:
        executor = make_executor(settings.run.executor, settings.run.workers, settings.ray.address)
        result = run_flow(corpus, settings, cache=cache, executor=executor, engine=engine,
                          engine_warnings=engine_warnings, run_dir=tmp, run_id=run_id, hooks=hooks,
                          previous_run=previous_run_dir(out))
        wait_ready(engine)  # (a flow that never ended an ingest stage has not tested it yet)
    except (SummarizeError, ExecutorError) as exc:
        return RunReport(EXIT_ENGINE_MISSING, message=str(exc))
    except TranslationError as exc:  # issue 16: the flow lets only an EngineFailure through: the run fails (4)
        return RunReport(EXIT_ENGINE_MISSING, message=f"translation engine failed: {exc}; nothing published, "
                                                      "`latest` unchanged")
    # The flow's records went back to the cyclic collector when it ended (`run_flow`): a full collection
    # would walk them all (0.3 to 0.7 s at 10,000 articles) and find no cycle. The rest of the run (manifest,
    # publishing) makes none: it runs with the collector paused, and before the collector is back the
    # records are either freed by reference counting or, for the CLI that ends the process next
    # (`pipeline.__main__.leave`), kept in the report and moved out of the collector's reach.
    with collector_paused():
        report = _publish(options, result, executor, cache, clock, warnings, started, runs, run_id, tmp, run_start)
        if options.keep_records:
            report.records = result
            gc.freeze()
        del result
    return report


def _publish(options: RunOptions, result: FlowResult, executor: Executor, cache: Cache, clock: _Clock,
             warnings: list[str], started: datetime, runs: Path, run_id: str, tmp: Path, run_start: float) -> RunReport:
    """The manifest of a finished flow, then the run folder renamed into place and `latest` moved (when
    there is a brief)."""
    settings, out, corpus = options.settings, options.out, options.corpus
    ingested, documents, dedup_result, stories = result.ingested, result.ingested.documents, result.dedup, result.stories
    briefs, failed, engines = result.briefs, result.failed, result.engines
    warnings.extend(w for w in result.warnings if w not in warnings)  # issue 16: Python warnings may be in both
    if not briefs:  # issue 16: never publish a run with no brief
        return _no_brief_report(documents, ingested, failed, corpus)
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
        "timings_cpu_s": clock.cpu,
        "cache": {
            "path": str(cache.path) if cache.path else None,
            **cache.stats_dict(),
            "engine_calls": {"summarize": summarize_calls, "translate": result.stats.translate_calls,
                             "translated_texts": result.stats.translated_texts},
        },
        # issue 16: cache warnings raised during the run (a damaged cache set aside) too
        "warnings": warnings + [w for w in (*cache.warnings, *(w for b in briefs for w in b.warnings))
                                if w not in warnings],
        "skipped_inputs": [asdict(s) for s in ingested.skipped],
        "failed_stories": failed,
        "unsummarised_stories": result.unsummarised,
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
