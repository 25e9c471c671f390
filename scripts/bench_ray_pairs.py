"""Dedup's near-duplicate search on the driver (numpy) against the Ray shuffle: same pairs, and what
the driver spends.

    .venv/bin/python scripts/bench_ray_pairs.py [--articles 10000] [--cpus 2] [--address HOST:PORT]

The texts are those dedup searches for a syndicated corpus of `scripts/bench_scale.py` (OrangeSum
articles and their variants): every paragraph (three sentences) and every sentence. The same texts go
through `pipeline.minhash.find_similar_pairs` in this process and through `RayExecutor.similar_pairs`
(map tasks sketch, reduce tasks own LSH bucket and containment sample keys, tasks verify): the pairs
must be equal. For each it prints the wall seconds, this process's CPU seconds and the peak of the
Python heap this process allocated during the call (tracemalloc: numpy arrays included), so the driver's
share is measured apart from the cluster's. Without `--address` a local cluster of two nodes (separate
processes, `--cpus / 2` CPUs each) is started and shut down. Last line: JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import default_data, load_bases, plan, variant  # noqa: E402

from pipeline.dedup import BUCKET_WINDOW  # noqa: E402
from pipeline.minhash import find_similar_pairs  # noqa: E402


def texts_of(articles: int, source: Path) -> list[str]:
    bases = load_bases(source)
    texts: list[str] = []
    for b, number in plan(articles, len(bases), variants=10):
        _, sentences = variant(bases[b], number, seed=1)
        texts += [" ".join(sentences[k:k + 3]) for k in range(0, len(sentences), 3)] + sentences
    return texts


def measured(call: Callable[[], Any]) -> tuple[Any, dict[str, float]]:
    tracemalloc.start()
    wall, cpu = time.perf_counter(), time.process_time()
    result = call()
    figures = {"wall_s": round(time.perf_counter() - wall, 2), "driver_cpu_s": round(time.process_time() - cpu, 2),
               "driver_peak_heap_mb": round(tracemalloc.get_traced_memory()[1] / 2**20, 1)}
    tracemalloc.stop()
    return result, figures


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--articles", type=int, default=10000)
    ap.add_argument("--cpus", type=int, default=2, help="CPUs of the local two-node cluster (half on each node)")
    ap.add_argument("--address", default="", help="an existing Ray cluster instead of a local two-node one")
    ap.add_argument("--data", type=Path, default=default_data())
    args = ap.parse_args()

    texts = texts_of(args.articles, args.data / "orangesum-valid.jsonl")
    print(f"{len(texts)} texts, {sum(map(len, texts)) / 2**20:.1f} M characters", flush=True)
    here, local = measured(lambda: find_similar_pairs(texts, bucket_window=BUCKET_WINDOW))
    print(f"driver (numpy): {local}, {len(here)} pairs", flush=True)

    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    cluster = None
    try:
        address = args.address
        if not address:
            from ray.cluster_utils import Cluster

            cluster = Cluster(initialize_head=False)
            cluster.add_node(num_cpus=max(1, args.cpus // 2), include_dashboard=False)
            cluster.add_node(num_cpus=max(1, args.cpus // 2))
            cluster.wait_for_nodes()
            address = cluster.address
        from pipeline.executors.ray import RayExecutor

        executor = RayExecutor(address=address)
        executor.similar_pairs(texts[:100])  # workers started and the code shipped before the clock
        on_ray, shuffled = measured(lambda: executor.similar_pairs(texts, bucket_window=BUCKET_WINDOW))
    finally:
        import ray

        ray.shutdown()
        if cluster is not None:
            cluster.shutdown()
    print(f"ray (shuffle):  {shuffled}, {len(on_ray)} pairs", flush=True)
    identical = on_ray == here
    print("identical pairs" if identical else "the pairs DIFFER")
    print(json.dumps({"articles": args.articles, "texts": len(texts), "pairs": len(here), "identical": identical,
                      "local": local, "ray": shuffled}))
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
