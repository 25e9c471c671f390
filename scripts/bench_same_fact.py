"""Benchmark: dedup's same-fact comparisons on the executor (`dedup.compare_similar`) against the driver.

    .venv/bin/python scripts/bench_same_fact.py --corpus WORK/corpus-10000 --work DIR [--workers 2]
                                               [--baseline main] [--ray] [--only here,pool]

The corpus is one made by scripts/bench_scale.py (e.g. the 10,000-article one its `--work` folder keeps, read,
never written); documents and their dedup features come from ingest with the cache in `--work` (the first call
ingests and computes them, later calls read the cache). Then the whole dedup of the corpus (in full, as a cold
run does) runs once per variant, one after the other in this process, each on features read again from the
cache (a variant never finds another's decoded signatures):

* `baseline`: `pipeline/dedup.py` as it is at the git revision `--baseline` (default `main`), loaded as a
  module of its own: the comparisons in this process, as before they went in blocks;
* `here`: this checkout, the comparisons in blocks in this process (no executor);
* `pool`: this checkout with a `LocalExecutor(--workers)`'s `map_blocks`, its pool forked before the corpus is
  read (as a run's, forked at ingest's first slice: `run_scope`) and closed after the dedup;
* `ray` (with `--ray`): a `RayExecutor` on a local cluster of two nodes, `--workers / 2` CPUs each
  (`scripts/ray_compare.cluster_at`; the cluster is started, and its workers warmed, before the timing).

Every variant's result (`dedup.result_to_json`) must be the baseline's, byte for byte (the script stops
otherwise). Per variant: the dedup's wall seconds and this process's CPU seconds, the CPU seconds of the pool's
workers (children, counted when the pool is closed) or of the Ray cluster, and the same-fact part
(`_same_fact_links`: its wall and this process's CPU). Last line JSON.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import subprocess
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from pipeline import dedup as dedup_module  # noqa: E402
from pipeline.cache import Cache, collector_paused  # noqa: E402
from pipeline.config import load_settings  # noqa: E402
from pipeline.executors.local import LocalExecutor  # noqa: E402
from pipeline.flow import DedupStep, IngestStep  # noqa: E402


def baseline_module(revision: str) -> Any:
    """`pipeline/dedup.py` at `revision`, as the module `pipeline._dedup_baseline` (its relative imports are
    this checkout's modules)."""
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{revision}:pipeline/dedup.py"], check=True,
                            capture_output=True, text=True).stdout
    spec = importlib.util.spec_from_loader("pipeline._dedup_baseline", loader=None)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "pipeline"
    sys.modules[spec.name] = module
    exec(compile(source, f"{revision}:pipeline/dedup.py", "exec"), module.__dict__)
    return module


def corpus_documents(corpus: Path, work: Path, settings: Any) -> tuple[list, Cache]:
    """The corpus's documents, ingested with the cache in `work` (made on the first call, with the documents'
    dedup features: later calls read them)."""
    work.mkdir(parents=True, exist_ok=True)
    cache = Cache(work / "cache.sqlite")
    documents = IngestStep().run(corpus, settings, cache).documents
    DedupStep().features(documents, settings, cache)
    print(f"{len(documents)} documents", flush=True)
    return documents, cache


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(module: Any, documents: Any, settings: Any, features: Any, blocks: Callable[..., Any] | None,
            close: Callable[[], Any] = lambda: None, cluster_cpu: Any = None) -> tuple[dict, dict[str, float]]:
    """One dedup in full with `module`; its result as JSON and the figures. `close`: ends the executor's pool
    (its workers' CPU seconds are counted when they end)."""
    same_fact = module._same_fact_links
    part: dict[str, float] = {}

    def timed_same_fact(*a: Any, **k: Any) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        out = same_fact(*a, **k)
        part.update(same_fact_wall_s=round(time.perf_counter() - wall, 3),
                    same_fact_driver_cpu_s=round(time.process_time() - cpu, 3))
        return out

    module._same_fact_links = timed_same_fact
    extra = {"same_fact_blocks": blocks} if blocks is not None else {}
    try:
        children = children_cpu()
        with (cluster_cpu() if cluster_cpu is not None else nullcontext()) as cluster:
            wall, cpu = time.perf_counter(), time.process_time()
            with collector_paused():
                result, _ = module.dedup_across_runs(documents, settings.dedup, features=features, **extra)
            figures = {"wall_s": round(time.perf_counter() - wall, 3),
                       "driver_cpu_s": round(time.process_time() - cpu, 3)}
        close()
        figures["workers_cpu_s"] = round(children_cpu() - children, 3)
        if cluster is not None:
            figures["workers_cpu_s"] = round(cluster.seconds, 3)
    finally:
        module._same_fact_links = same_fact
    figures.update(part)
    return module.result_to_json(result), figures


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, required=True, help="a corpus folder made by scripts/bench_scale.py")
    ap.add_argument("--work", type=Path, required=True, help="the cache (made on the first call)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--baseline", default="main", help="git revision of the comparison's baseline (none: "
                    "compare the variants with the first one)")
    ap.add_argument("--ray", action="store_true", help="also on a local two-node Ray cluster")
    ap.add_argument("--only", default="", help="comma-separated variants to run besides the baseline "
                    "(default: here,pool[,ray])")
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "default.yaml")
    args = ap.parse_args()

    settings = load_settings(args.config)
    wanted = [v for v in args.only.split(",") if v] or ["here", "pool", *(["ray"] if args.ray else [])]
    pool = LocalExecutor(args.workers)
    pool_scope = pool.run_scope()
    if "pool" in wanted:
        pool_scope.__enter__()
        pool.map_blocks(_echo, None, list(range(2 * args.workers)))  # forked now, before the corpus is read
    documents, cache = corpus_documents(args.corpus, args.work, settings)

    def features() -> Any:
        return DedupStep().features(documents, settings, cache)

    out: dict[str, Any] = {"documents": len(documents), "workers": args.workers, "block": dedup_module.SAME_FACT_BLOCK,
                           "in_process_blocks": dedup_module.SAME_FACT_IN_PROCESS}
    expected = None
    if args.baseline != "none":
        expected, figures = measure(baseline_module(args.baseline), documents, settings, features(), None)
        out["baseline"] = figures
        print(f"baseline ({args.baseline}): {figures}", flush=True)
    for variant in wanted:
        cluster_cpu, close, stack = None, (lambda: None), nullcontext()
        if variant == "here":
            blocks = None
        elif variant == "pool":
            blocks, close = pool.map_blocks, (lambda: pool_scope.__exit__(None, None, None))
        elif variant == "ray":
            from ray_compare import ClusterCpu, cluster_at

            from pipeline.executors.ray import RayExecutor

            stack = cluster_at("", args.workers)
            address = stack.__enter__()
            ray_executor = RayExecutor(address=address, workers=args.workers)
            ray_executor.map_blocks(_echo, None, list(range(4 * args.workers)))  # workers started before timing
            blocks, cluster_cpu = ray_executor.map_blocks, ClusterCpu
        else:
            raise SystemExit(f"unknown variant {variant!r}: here, pool or ray")
        try:
            result, figures = measure(dedup_module, documents, settings, features(), blocks, close, cluster_cpu)
        finally:
            if variant == "ray":
                import ray

                ray.shutdown()  # this driver first: the cluster's head cannot go while it is connected
                stack.__exit__(None, None, None)
        expected = result if expected is None else expected  # `--baseline none`: the first variant's
        same = result == expected
        figures["identical"] = same
        out[variant] = figures
        print(f"{variant}: {figures}", flush=True)
        if not same:
            print(json.dumps(out))
            print(f"{variant}: the dedup result differs from the baseline's", file=sys.stderr)
            return 1
    print(json.dumps(out))
    return 0


def _echo(_: Any, item: Any) -> Any:
    return item


if __name__ == "__main__":
    sys.exit(main())
