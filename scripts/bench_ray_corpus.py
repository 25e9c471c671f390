"""Benchmark: the corpus-wide steps of dedup and stories on the driver against the Ray cluster, same results.

    .venv/bin/python scripts/bench_ray_corpus.py --corpus WORK/corpus-10000 --work DIR [--address HOST:PORT]

The corpus is one made by scripts/bench_scale.py (e.g. the 10,000-article one its `--work` folder keeps);
documents and their dedup features come from ingest with the cache in `--work` (the first call ingests, later
calls read the cache). Then one dedup and one story grouping of the whole corpus run on the driver, and at
each corpus-wide step the Ray executor (a local cluster of two nodes, one CPU each, or `--address`) does the
same work too: the result must be the same (it stops otherwise). Per step, wall and CPU seconds of the
driver (this process) and CPU seconds of the cluster's processes:

* grouping (`dedup._clusters` of each level; `RayExecutor.dedup_groups`: tasks over whole link components);
* components (`dedup._components`, scipy, on the driver) against the least any distributed union-find
  costs: sending the level's links to the cluster and their labels back (a task that returns them);
* story candidate pairs (`stories.candidate_pairs`'s search; `RayExecutor.story_pairs`: a shuffle by term);
* same-fact comparisons (`dedup._same_fact_links`): on the driver only (not sharded), for scale.

Last line JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import numpy as np  # noqa: E402

from pipeline import dedup as dedup_module  # noqa: E402
from pipeline.cache import Cache, collector_paused  # noqa: E402
from pipeline.config import load_settings  # noqa: E402
from pipeline.flow import DedupStep, IngestStep  # noqa: E402
from ray_compare import ClusterCpu, cluster_at  # noqa: E402


def timed(fn: Callable[[], Any]) -> tuple[Any, dict[str, float]]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, {"wall_s": round(time.perf_counter() - wall, 3), "driver_cpu_s": round(time.process_time() - cpu, 3)}


def on_cluster(fn: Callable[[], Any]) -> tuple[Any, dict[str, float]]:
    with ClusterCpu() as cpu:
        out, figures = timed(fn)
    figures["cluster_cpu_s"] = cpu.seconds
    return out, figures


def _echo(codes: np.ndarray) -> np.ndarray:
    return codes


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, required=True, help="a corpus folder made by scripts/bench_scale.py")
    ap.add_argument("--work", type=Path, required=True, help="the cache (made on the first call)")
    ap.add_argument("--address", default="", help="an existing Ray cluster instead of a local two-node one")
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "default.yaml")
    args = ap.parse_args()

    settings = load_settings(args.config)
    args.work.mkdir(parents=True, exist_ok=True)
    cache = Cache(args.work / "cache.sqlite")
    documents = IngestStep().run(args.corpus, settings, cache).documents
    features = DedupStep().features(documents, settings, cache)
    print(f"{len(documents)} documents", flush=True)
    out: dict[str, Any] = {"documents": len(documents)}

    with cluster_at(args.address, 2) as address:
        from pipeline.executors.ray import RayExecutor

        ray_executor = RayExecutor(address=address, workers=2)
        ray = ray_executor._ray
        echo = ray.remote(num_cpus=1)(_echo)
        levels: list[dict[str, Any]] = []

        def group_links(cluster: Callable[..., Any], items: Any, links: Any, component: np.ndarray,
                        signature: Any) -> Any:
            here, driver = timed(lambda: cluster(items, links, signature))
            there, ray_figures = on_cluster(lambda: ray_executor.dedup_groups(cluster, items, links, component,
                                                                              signature))
            if there != here:
                raise SystemExit("bench_ray_corpus: the cluster's groups are not the driver's")
            a, b, _ = dedup_module._link_arrays(links)
            _, components = timed(lambda: dedup_module._components(len(items), a, b))
            _, round_trip = on_cluster(lambda: ray.get(echo.remote(np.stack([a, b]))))
            level = {"items": len(items), "links": len(links), "groups": len(here), "driver": driver,
                     "ray": ray_figures, "components_driver": components, "links_round_trip_ray": round_trip}
            print(f"grouping: {json.dumps(level)}", flush=True)
            levels.append(level)
            return here

        same_fact = dedup_module._same_fact_links
        same_fact_figures: dict[str, Any] = {}

        def timed_same_fact(*a: Any, **k: Any) -> Any:
            result, figures = timed(lambda: same_fact(*a, **k))
            same_fact_figures.update(figures, links=len(result[0]), document_pairs=len(result[1]))
            return result

        dedup_module._same_fact_links = timed_same_fact
        try:
            with collector_paused():  # as the dedup step runs it
                result, dedup_figures = timed(lambda: dedup_module.dedup_across_runs(
                    documents, settings.dedup, features=features, group_links=group_links)[0])
        finally:
            dedup_module._same_fact_links = same_fact
        del features
        out.update(dedup_driver=dedup_figures, grouping=levels, same_fact_driver=same_fact_figures)
        print(f"dedup (the driver's, with the checks): {dedup_figures}; same-fact: {same_fact_figures}", flush=True)

        from pipeline.stories import _document_space, _days, _index_matrix, bridged_texts, candidate_pairs

        space, _ = _document_space(documents, settings.stories, bridged_texts(documents, result))
        days = [_days(d.date) for d in documents]
        q = _index_matrix(space, settings.stories)
        here, driver = timed(lambda: candidate_pairs(space, days, settings.stories))
        there, ray_figures = on_cluster(lambda: candidate_pairs(space, days, settings.stories,
                                                                find=ray_executor.story_pairs))
        if not all(np.array_equal(x, y) for x, y in zip(here, there, strict=True)):
            raise SystemExit("bench_ray_corpus: the cluster's story candidate pairs are not the driver's")
        out["story_pairs"] = {"documents": q.shape[0], "index_entries": int(q.nnz), "pairs": int(here[0].size),
                              "driver": driver, "ray": ray_figures}
        print(f"story candidate pairs: {json.dumps(out['story_pairs'])}", flush=True)
        ray.shutdown()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
