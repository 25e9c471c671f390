"""Dedup's document neighbours on the driver (scipy) against the Ray shuffle by term: same pairs, and the cost.

    .venv/bin/python scripts/bench_ray_neighbours.py [--articles 10000] [--workers 2]

The documents are `scripts/ray_compare.py`'s repository corpus (101 wire stories made of the
repository's sentences, republished variants of each), as TF-IDF vectors of their words.
`pipeline.dedup.top_neighbours` (20 neighbours, 40 terms a document, as dedup's same-fact step
uses it) runs in this process, then `RayExecutor.top_neighbours` on a local two-node cluster
(`--workers / 2` CPUs a node). Per side: wall seconds and this process's CPU seconds; for Ray also
the cluster's CPU seconds (its processes, sampled while they live). Last line: JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import variant  # noqa: E402
from ray_compare import ClusterCpu, cluster_at, repository_bases  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--articles", type=int, default=10000)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    from pipeline.dedup import DOC_NEIGHBOURS, DOC_TERMS, top_neighbours
    from pipeline.textsim import tfidf

    bases = repository_bases()
    documents = []
    for k in range(args.articles):
        title, sentences = variant(bases[k % len(bases)], k // len(bases), seed=1)
        documents.append(" ".join([title, *sentences]).lower().split())
    vectors = tfidf(documents).vectors

    wall, cpu = time.perf_counter(), time.process_time()
    here = top_neighbours(vectors, DOC_NEIGHBOURS, DOC_TERMS)
    driver = {"wall_s": round(time.perf_counter() - wall, 2), "cpu_s": round(time.process_time() - cpu, 2)}
    print(f"driver: {len(here)} pairs, wall {driver['wall_s']} s, cpu {driver['cpu_s']} s", flush=True)

    import ray

    from pipeline.executors.ray import RayExecutor

    with cluster_at("", args.workers) as address:
        executor = RayExecutor(address=address, workers=args.workers)
        with ClusterCpu() as cluster_cpu:
            wall, cpu = time.perf_counter(), time.process_time()
            on_ray = executor.top_neighbours(vectors, DOC_NEIGHBOURS, DOC_TERMS)
            shuffle = {"wall_s": round(time.perf_counter() - wall, 2), "cpu_s": round(time.process_time() - cpu, 2)}
        shuffle["cluster_cpu_s"] = cluster_cpu.seconds
        ray.shutdown()
    print(f"ray:    {len(on_ray)} pairs, wall {shuffle['wall_s']} s, driver cpu {shuffle['cpu_s']} s, "
          f"cluster cpu {shuffle['cluster_cpu_s']} s; {'identical' if on_ray == here else 'DIFFERENT'}", flush=True)
    print(json.dumps({"articles": args.articles, "workers": args.workers, "pairs": len(here),
                      "identical": on_ray == here, "driver": driver, "ray": shuffle}))
    return 0 if on_ray == here else 1


if __name__ == "__main__":
    sys.exit(main())
