"""Ingest and dedup alone, cold, warm and with 1% new articles: the cost of the corpus steps between runs.

    .venv/bin/python scripts/bench_corpus_steps.py --sizes 2000 [--data DIR] [--workers 2]

The corpora are `scripts/bench_scale.py`'s (same builder, same seed). For each size, with a fresh cache,
each phase runs in a fresh child process (nothing memoised in memory carries over), through the flow's
own steps (`IngestStep`, `DedupStep.cached`):

1. ``cold``: the corpus, no cache;
2. ``warm``: the same corpus again (the dedup result comes from the cache);
3. ``plus1``: 1% more articles; dedup reads back what the cache holds (document features, same-fact
   links of document pairs, embeddings) and computes only the rest;
4. ``plus1_cold``: the same grown corpus with a fresh cache: its dedup result must be identical to
   ``plus1``'s (`identical` in the output).

Per phase: wall and CPU seconds of each stage (CPU of this process and of the pool workers that ended
in it), peak RSS. The machine is shared: read the CPU seconds. The last line printed is JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def cpu_now() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def child(corpus: Path, cache_path: Path, workers: int) -> dict[str, Any]:
    """One phase: ingest and dedup of `corpus` with the cache at `cache_path`."""
    from pipeline.cache import Cache, pack
    from pipeline.config import load_settings
    from pipeline.executors import make_executor
    from pipeline.flow import DedupStep, IngestStep

    settings = load_settings(ROOT / "configs" / "default.yaml")
    cache = Cache(cache_path)
    executor = make_executor("local", workers)
    out: dict[str, Any] = {}
    wall, cpu = time.perf_counter(), cpu_now()
    documents = IngestStep().run(corpus, settings, cache, executor=executor).documents
    out["ingest"] = {"wall_s": round(time.perf_counter() - wall, 2), "cpu_s": round(cpu_now() - cpu, 2)}
    wall, cpu = time.perf_counter(), cpu_now()
    result, _, cached = DedupStep().cached(documents, settings, cache, executor)
    out["dedup"] = {"wall_s": round(time.perf_counter() - wall, 2), "cpu_s": round(cpu_now() - cpu, 2),
                    "cached": cached}
    out["documents"] = len(documents)
    out["groups"] = [len(result.paragraph_groups), len(result.sentence_groups)]
    out["result_sha256"] = hashlib.sha256(json.dumps(pack(result)).encode()).hexdigest()
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    out["cache"] = cache.stats_dict()  # hits and misses per kind: what was read back, what was computed
    return out


def run_phase(corpus: Path, cache_path: Path, workers: int) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, __file__, "--child", str(corpus), str(cache_path), "--workers",
                           str(workers)], capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"bench_corpus_steps: phase on {corpus} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    from scripts.bench_scale import add_new_articles, build_corpus, default_data, load_bases

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000])
    ap.add_argument("--data", type=Path, default=default_data(), help="eval-dev folder (orangesum-valid.jsonl)")
    ap.add_argument("--work", type=Path, default=ROOT / "outputs" / "bench_corpus_steps")
    ap.add_argument("--variants", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], args.workers)))
        return 0
    source = args.data / "orangesum-valid.jsonl"
    if not source.exists():
        print(f"bench_corpus_steps: {source} not found; pass --data DIR (the eval-dev folder)", file=sys.stderr)
        return 2
    bases = load_bases(source)
    results: dict[str, Any] = {}
    for size in args.sizes:
        work = args.work / str(size)
        shutil.rmtree(work, ignore_errors=True)
        corpus = work / "a" / f"corpus-{size}"  # the same folder name in both trees: the same cited paths
        articles = build_corpus(corpus, size, bases, args.variants, args.seed)
        r: dict[str, Any] = {}
        for phase in ("cold", "warm", "plus1", "plus1_cold"):
            if phase == "plus1":
                r["new_articles"] = add_new_articles(corpus, articles, bases, args.seed)
            cache = work / ("cold.sqlite" if phase == "plus1_cold" else "cache.sqlite")
            r[phase] = run_phase(corpus, cache, args.workers)
            p = r[phase]
            print(f"{size:>7} {phase:<10} ingest {p['ingest']['wall_s']:>7.1f} s wall {p['ingest']['cpu_s']:>7.1f} s CPU"
                  f"   dedup {p['dedup']['wall_s']:>7.1f} s wall {p['dedup']['cpu_s']:>7.1f} s CPU"
                  f"   rss {p['peak_rss_mb']:.0f} MB", flush=True)
            print("        cache hits/misses: " + ", ".join(f"{k} {v['hits']}/{v['misses']}" for k, v in p["cache"].items()),
                  flush=True)
        r["identical"] = r["plus1"]["result_sha256"] == r["plus1_cold"]["result_sha256"]
        print(f"{size:>7} +1% dedup with the memo identical to a cold dedup: {r['identical']}", flush=True)
        results[str(size)] = r
    print(json.dumps({"sizes": results, "workers": args.workers, "seed": args.seed, "variants": args.variants}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
