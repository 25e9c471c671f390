"""Dedup's near-duplicate search on the driver (numpy) against the Ray shuffle: same pairs, and what
the driver spends.

    .venv/bin/python scripts/bench_ray_pairs.py [--articles 10000] [--cpus 2] [--address HOST:PORT]

The texts are those dedup searches for a syndicated corpus of `scripts/bench_scale.py` (OrangeSum
articles and their variants): every paragraph (three sentences) and every sentence, exact copies once.
The same texts go through `pipeline.minhash.find_similar_pairs` in one process and through
`RayExecutor.similar_pairs` (map tasks sketch, reduce tasks own LSH bucket and containment sample keys,
tasks verify) in another: the pairs must be equal. For each it prints the wall seconds, that process's
(the driver's) CPU seconds, and its peak resident memory during the search, all of it and the private
part (the object store's pages that a Ray driver maps are shared, not its own), and what the search
added to each; so the driver's share is measured apart from the cluster's (whose CPU seconds during
each side are printed too, when the script started the cluster). Without `--address` a local cluster of two nodes (separate
processes, `--cpus / 2` CPUs each) is started and shut down. Last line: JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import default_data, load_bases, plan, variant  # noqa: E402
from ray_compare import ClusterCpu, cluster_at  # noqa: E402

from pipeline.config import DedupSettings  # noqa: E402
from pipeline.dedup import BUCKET_WINDOW  # noqa: E402
from pipeline.dedup_features import exact_key  # noqa: E402
from pipeline.minhash import find_similar_pairs  # noqa: E402


def texts_of(articles: int, source: Path) -> list[str]:
    """The texts dedup sends to the near-duplicate search: each paragraph (three sentences) and each
    sentence of the corpus, exact copies once, at least `min_words` words (`dedup._shingle_links`)."""
    bases = load_bases(source)
    found: dict[str, str] = {}
    min_words = DedupSettings().min_words
    for b, number in plan(articles, len(bases), variants=10):
        _, sentences = variant(bases[b], number, seed=1)
        for text in [" ".join(sentences[k:k + 3]) for k in range(0, len(sentences), 3)] + sentences:
            key = exact_key(text)
            if len(key.split()) >= min_words:
                found.setdefault(key, text)
    return list(found.values())


def one_side(side: str, texts: list[str], address: str) -> dict[str, Any]:
    """This process's wall and CPU seconds for the search, its peak RSS and how much the search added to it."""
    search: Callable[..., list]
    if side == "ray":
        from pipeline.executors.ray import RayExecutor

        executor = RayExecutor(address=address)
        executor.similar_pairs(texts[:100])  # workers started and the code shipped before the clock
        search = executor.similar_pairs
    else:
        search = find_similar_pairs
    before = _memory_kb()
    peak = dict(before)
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            for k, v in _memory_kb().items():
                peak[k] = max(peak[k], v)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    wall, cpu = time.perf_counter(), time.process_time()
    pairs = search(texts, bucket_window=BUCKET_WINDOW)
    figures: dict[str, Any] = {"wall_s": round(time.perf_counter() - wall, 2),
                               "driver_cpu_s": round(time.process_time() - cpu, 2)}
    done.set()
    sampler.join()
    figures.update({f"driver_{k}_mb": round(peak[k] / 1024, 1) for k in peak})
    figures.update({f"added_{k}_mb": round((peak[k] - before[k]) / 1024, 1) for k in peak})
    figures.update(pairs=len(pairs), digest=hashlib.sha256(repr(pairs).encode()).hexdigest())
    return figures


def _memory_kb() -> dict[str, int]:
    """This process's resident memory (kB): all of it, and its private part (heap and numpy arrays; not the
    object store's shared pages it maps)."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return {"rss": int(fields["VmRSS"].split()[0]), "private": int(fields["RssAnon"].split()[0])}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--articles", type=int, default=10000)
    ap.add_argument("--cpus", type=int, default=2, help="CPUs of the local two-node cluster (half on each node)")
    ap.add_argument("--address", default="", help="an existing Ray cluster instead of a local two-node one")
    ap.add_argument("--data", type=Path, default=default_data())
    ap.add_argument("--side", choices=["local", "ray"], help=argparse.SUPPRESS)  # one side, in a process of its own
    args = ap.parse_args()

    texts = texts_of(args.articles, args.data / "orangesum-valid.jsonl")
    if args.side:
        print(json.dumps(one_side(args.side, texts, args.address)))
        return 0
    print(f"{len(texts)} texts, {sum(map(len, texts)) / 2**20:.1f} M characters", flush=True)
    results: dict[str, Any] = {}
    with cluster_at(args.address, args.cpus) as address:
        for side in ("local", "ray"):
            with ClusterCpu() as cluster_cpu:
                proc = subprocess.run([sys.executable, __file__, "--side", side, "--address", address, "--articles",
                                       str(args.articles), "--data", str(args.data)], capture_output=True, text=True)
            if proc.returncode != 0:
                raise SystemExit(f"bench_ray_pairs: the {side} side failed: {proc.stderr[-2000:]}")
            results[side] = json.loads(proc.stdout.strip().splitlines()[-1])
            if not args.address:  # the tasks' CPU (and the idle cluster's): its processes, not the driver's
                results[side]["cluster_cpu_s"] = cluster_cpu.seconds
            print(f"{side}: {results[side]}", flush=True)
    identical = results["local"]["digest"] == results["ray"]["digest"]
    print("identical pairs" if identical else "the pairs DIFFER")
    print(json.dumps({"articles": args.articles, "texts": len(texts), "identical": identical, **results}))
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
