"""Benchmark: the dedup stage alone (`pipeline.flow.DedupStep.across_runs`) cold and across runs.

    .venv/bin/python scripts/bench_dedup_runs.py --corpus WORK/corpus-10000 --work DIR [--new '*_010.txt']
    .venv/bin/python scripts/bench_dedup_runs.py --build 10000 --work DIR     (builds WORK/corpus-10000 first,
                                                      the way scripts/bench_scale.py does, with its +1% articles)

The corpus is one made by scripts/bench_scale.py (its +1% articles are the files matching `--new`,
by default `*_010.txt`, the eleventh variant of the first bases). Documents come from ingest with
the cache in `--work` (the first call ingests; later calls read the cache). Then, in this one
process, timed with wall and process CPU seconds:

* previous: a full dedup of the corpus without the new articles (its state written to a run folder);
* plus1: the whole corpus, dedup across runs from that state (`dedup_across_runs` with `previous`);
* cold: the whole corpus in full (no previous run) -- skip with `--no-cold`;

and checks that plus1 and cold give the same groups. `--repeat N`: the plus1 phase N times (each from the
same previous state; the median of its CPU and wall seconds is printed too). `--stories`: the stories step
(`StoriesStep.across_runs`, `story_join.join` across runs) after each dedup of previous and plus1, timed
apart (its results never from the cache either). The dedup result is never taken from the
cache (each phase computes it); per-document features are (as in a real run after the first).
`--workers N`: the plus1 phase with a local executor of N workers (a run's pool; its background worker).
`--profile FILE`: a cProfile of the plus1 phase. `--features-memory`: first, what the documents'
features (`DedupStep.features`, read from the cache) hold once made (tracemalloc). Peak RSS of the
process is printed too. Last line JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import fnmatch
import gc
import json
import operator
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.cache import Cache  # noqa: E402
from pipeline.config import load_settings  # noqa: E402
from pipeline.executors.local import LocalExecutor  # noqa: E402
from pipeline.flow import DedupStep, IngestStep, StoriesStep  # noqa: E402


class _NoResults(Cache):
    """The cache without dedup results nor stories: every phase computes its groups (features still come
    from it)."""

    def get_as(self, kind: str, key: str, load: Any) -> Any | None:
        return None if kind in ("dedup", "stories") else super().get_as(kind, key, load)

    def put(self, kind: str, key: str, value: Any) -> None:
        if kind not in ("dedup", "stories"):
            super().put(kind, key, value)


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, round(time.perf_counter() - wall, 2), round(time.process_time() - cpu, 2)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, help="a corpus folder made by scripts/bench_scale.py")
    ap.add_argument("--build", type=int, metavar="SIZE", help="build WORK/corpus-SIZE (+1%% articles) first")
    ap.add_argument("--data", type=Path, default=ROOT / ".." / "shared" / "eval-dev", help="eval-dev folder")
    ap.add_argument("--work", type=Path, required=True, help="cache and run folders")
    ap.add_argument("--new", default="*_010.txt", help="file name pattern of the +1%% articles")
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "default.yaml")
    ap.add_argument("--no-cold", action="store_true", help="skip the cold full dedup of the whole corpus")
    ap.add_argument("--profile", type=Path, help="write a cProfile of the plus1 phase here")
    ap.add_argument("--features-memory", action="store_true", help="measure what the features hold (tracemalloc)")
    ap.add_argument("--repeat", type=int, default=1, help="run the plus1 phase this many times")
    ap.add_argument("--stories", action="store_true", help="time the stories step after dedup too")
    ap.add_argument("--workers", type=int, default=0,
                    help="the plus1 phase with a local executor of this many workers, as a run has (its pool forked "
                         "before the phase; with 2 or more, the shingle links run on its background worker); "
                         "0: none")
    args = ap.parse_args()

    corpus = args.corpus
    if args.build:
        from scripts.bench_scale import add_new_articles, build_corpus, load_bases

        bases = load_bases(args.data / "orangesum-valid.jsonl")
        corpus = args.work / f"corpus-{args.build}"
        articles = build_corpus(corpus, args.build, bases, 10, 1)
        add_new_articles(corpus, articles, bases, 1)
    if corpus is None:
        ap.error("--corpus or --build is needed")
    settings = load_settings(args.config)
    args.work.mkdir(parents=True, exist_ok=True)
    cache = _NoResults(args.work / "cache.sqlite")
    ingested, wall, cpu = timed(lambda: IngestStep().run(corpus, settings, cache))
    documents = ingested.documents
    new = [d for d in documents if fnmatch.fnmatch(Path(d.path).name, args.new)]
    before = [d for d in documents if not fnmatch.fnmatch(Path(d.path).name, args.new)]
    print(f"ingest: {len(documents)} documents ({len(new)} new) in {wall} s wall, {cpu} s CPU", flush=True)
    step = DedupStep()
    out: dict[str, Any] = {"documents": len(documents), "new": len(new)}
    if args.features_memory:
        tracemalloc.start()
        features = step.features(documents, settings, cache)
        gc.collect()
        held, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del features
        out["features_mb"] = {"held": round(held / 2**20, 1), "peak": round(peak / 2**20, 1)}
        print(f"features of {len(documents)} documents: {out['features_mb']['held']} MB held "
              f"({out['features_mb']['peak']} MB at the peak)", flush=True)
    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        runs = Path(tmp)
        (runs / "previous").mkdir()
        (runs / "plus1").mkdir()
        (runs / "cold").mkdir()
        stories = StoriesStep()

        def grouped(docs: list, result: Any, previous_run: Path | None, run_dir: Path) -> Any:
            """The stories step as `flow.corpus_steps` runs it, its grouping state saved for the next phase."""
            from pipeline.story_join import STATE_FILE, save_state

            made, state, _ = stories.across_runs(docs, result, settings, cache,
                                                 stories.key(step.key(docs, settings), settings), previous_run)
            if state is not None:
                save_state(run_dir / STATE_FILE, state)
            return made

        previous, wall, cpu = timed(lambda: step.across_runs(before, settings, cache, step.key(before, settings),
                                                             None, runs / "previous")[0])
        out["previous"] = {"wall_s": wall, "cpu_s": cpu}
        print(f"previous ({len(before)} documents, full): {wall} s wall, {cpu} s CPU", flush=True)
        if args.stories:
            _, wall, cpu = timed(lambda: grouped(before, previous, None, runs / "previous"))
            out["previous_stories"] = {"wall_s": wall, "cpu_s": cpu}
            print(f"previous stories ({len(before)} documents, from scratch): {wall} s wall, {cpu} s CPU", flush=True)
        profiler = cProfile.Profile() if args.profile else None

        def plus1() -> Any:
            if profiler is not None:
                profiler.enable()
            try:
                return step.across_runs(documents, settings, cache, step.key(documents, settings),
                                        runs / "previous", runs / "plus1", executor)[0]
            finally:
                if profiler is not None:
                    profiler.disable()

        executor = LocalExecutor(args.workers) if args.workers else None
        scope = contextlib.ExitStack()
        if executor is not None:
            scope.enter_context(executor.run_scope())
            with executor.session(None) as warm:  # the run's pool is forked before dedup (at ingest)
                warm.map(operator.is_, [1, 2, 3])
        tries: list[tuple[float, float]] = []
        story_tries: list[tuple[float, float]] = []
        for _ in range(max(1, args.repeat)):
            reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
            incremental, wall, cpu = timed(plus1)
            tries.append((wall, cpu))
            now = resource.getrusage(resource.RUSAGE_CHILDREN)  # (the background worker is joined: counted here)
            beside = round(now.ru_utime + now.ru_stime - reaped.ru_utime - reaped.ru_stime, 2)
            print(f"plus1 ({len(documents)} documents, across runs): {wall} s wall, {cpu} s CPU "
                  f"(+ {beside} s CPU in ended child processes)", flush=True)
            if args.stories:
                _, wall, cpu = timed(lambda: grouped(documents, incremental, runs / "previous", runs / "plus1"))
                story_tries.append((wall, cpu))
                print(f"plus1 stories ({len(documents)} documents, joined): {wall} s wall, {cpu} s CPU", flush=True)
        scope.close()
        if profiler is not None:
            profiler.dump_stats(str(args.profile))
        out["plus1"] = {"wall_s": tries[0][0], "cpu_s": tries[0][1],
                        "median_wall_s": round(statistics.median(w for w, _ in tries), 2),
                        "median_cpu_s": round(statistics.median(c for _, c in tries), 2), "runs": len(tries),
                        "state_bytes": (runs / "plus1" / "dedup-state.npz").stat().st_size}
        if story_tries:
            out["plus1_stories"] = {"median_wall_s": round(statistics.median(w for w, _ in story_tries), 2),
                                    "median_cpu_s": round(statistics.median(c for _, c in story_tries), 2),
                                    "runs": len(story_tries)}
        print(f"plus1: state {out['plus1']['state_bytes']:,} bytes; median of {len(tries)}: "
              f"{out['plus1']['median_wall_s']} s wall, {out['plus1']['median_cpu_s']} s CPU", flush=True)
        if not args.no_cold:
            full, wall, cpu = timed(lambda: step.across_runs(documents, settings, cache,
                                                             step.key(documents, settings), None, runs / "cold")[0])
            out["cold"] = {"wall_s": wall, "cpu_s": cpu}
            out["same_as_cold"] = full == incremental
            out["same_state"] = ((runs / "cold" / "dedup-state.npz").read_bytes()
                                 == (runs / "plus1" / "dedup-state.npz").read_bytes())
            print(f"cold ({len(documents)} documents, full): {wall} s wall, {cpu} s CPU; plus1 the same groups: "
                  f"{out['same_as_cold']}; the same state: {out['same_state']}", flush=True)
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
