"""The summarize stage alone (`pipeline.flow.summarize_stories`) on a real +1% run's inputs, so that two trees
can be compared on the same stories, the same cache hits and the same misses.

    # once: a +1% run (any tree) that also saves what summarize_stories gets, and the cache it read
    cp WORK/out-10000/cache.sqlite CACHE          # before the run: the cache the +1% run reads
    .venv/bin/python scripts/bench_summarize.py dump --inputs INPUTS -- run --corpus WORK/corpus-10000 \
        --out WORK/out-10000
    # then, from each tree's root, back to back:
    .venv/bin/python scripts/bench_summarize.py bench --inputs INPUTS --cache CACHE [--repeat 3]

`dump` runs `python -m pipeline` with the arguments after `--`; when the flow calls summarize_stories it pickles
its inputs (stories, corpus index, dedup groups, settings, groups by document) and the part of the summary cache
keys that names the code (`SummarizeStep.fixed`) to INPUTS, then goes on. `bench` reads them back and runs
summarize_stories with the cache CACHE, no entry written (each repeat finds the same hits)
and that same key part, so a tree with other code finds the entries the dumping tree made. The local pool is
forked before each repeat (as a run's is, at ingest) and closed after it. Per repeat: wall seconds, CPU seconds
of this process (all threads) and of its main thread, CPU seconds of the workers (theirs once they have ended,
fork included), summaries made, and a hash of the StoryTexts (equal hashes: equal outputs). Last line JSON.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import operator
import pickle
import resource
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path.cwd()  # the tree whose code is measured: run from its root
sys.path.insert(0, str(ROOT))

from pipeline import flow  # noqa: E402
from pipeline.cache import Cache, encode  # noqa: E402


class _ReadOnly(Cache):
    def put_many(self, kind: str, items: Any) -> None:
        list(items)  # (made, as a run makes them; not written)


def dump(inputs: Path, args: list[str]) -> int:
    made = flow.summarize_stories

    def saving(stories, index, dedup_result, settings, cache, executor, summarizer, hooks, stats, by_doc=None):
        with inputs.open("wb") as f:
            pickle.dump((list(stories), index, dedup_result, settings, by_doc, flow.SummarizeStep().fixed(settings)),
                        f, protocol=pickle.HIGHEST_PROTOCOL)
        return made(stories, index, dedup_result, settings, cache, executor, summarizer, hooks, stats, by_doc)

    flow.summarize_stories = saving
    from pipeline.__main__ import main

    sys.argv = ["pipeline", *args]
    return main()


def bench(inputs: Path, cache_path: Path, repeats: int) -> list[dict[str, Any]]:
    from pipeline.executors import make_executor
    from pipeline.summarize import make_summarizer

    with inputs.open("rb") as f:
        stories, index, dedup_result, settings, by_doc, fixed = pickle.load(f)
    gc.freeze()  # the corpus, as run_flow has it
    flow.SummarizeStep.fixed = lambda self, s: fixed  # type: ignore[method-assign]
    cache = _ReadOnly(cache_path, ours=False)
    executor = make_executor("local", 0, None)
    summarizer = make_summarizer(settings.summarize, threads=settings.translate.threads,
                                 device=settings.translate.device)
    out = []
    for r in range(repeats):
        stats = flow.FlowStats()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        with executor.run_scope():
            with executor.session(None) as session:  # the pool forked first, as a run's is
                session.map(operator.is_not, [1, 2, 3, 4])
            wall, cpu, main_cpu = time.perf_counter(), time.process_time(), time.thread_time()
            texts = flow.summarize_stories(stories, index, dedup_result, settings, cache, executor, summarizer,
                                           flow.NoHooks(), stats, by_doc)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            main_cpu = time.thread_time() - main_cpu
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        workers = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        blob = json.dumps([encode(t) for t in texts], sort_keys=True, default=str).encode()
        row = {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "main_thread_cpu_s": round(main_cpu, 3),
               "workers_cpu_s": round(workers, 3), "stories": len(texts), "summarized": stats.summarize_calls,
               "texts_sha256": hashlib.sha256(blob).hexdigest()[:16]}
        print(f"repeat {r}: {row}", flush=True)
        out.append(row)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mode", choices=("dump", "bench"))
    ap.add_argument("--inputs", type=Path, required=True, help="summarize_stories' inputs (pickle)")
    ap.add_argument("--cache", type=Path, help="bench: the cache the +1% run read (no entry written)")
    ap.add_argument("--repeat", type=int, default=3)
    a, rest = ap.parse_known_args()  # dump: -- and `python -m pipeline` arguments
    if a.mode == "dump":
        return dump(a.inputs, [x for x in rest if x != "--"])
    if rest:
        ap.error(f"unrecognized arguments: {' '.join(rest)}")
    if a.cache is None or not a.cache.exists():
        print("bench_summarize: bench needs --cache, the cache the dumped +1% run read", file=sys.stderr)
        return 2
    rows = bench(a.inputs, a.cache, a.repeat)
    print(json.dumps({"tree": str(ROOT), "repeats": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
