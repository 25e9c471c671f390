"""Ingest alone on a corpus and an ingest cache: CPU and wall seconds, and the documents' memory.

    .venv/bin/python scripts/bench_ingest.py --corpus BENCH/corpus-10000 --cache BENCH/out-10000/cache.sqlite

Runs `pipeline.ingest.ingest` as the run's ingest step does (`IngestCache` over the cache, the default
config or --config; the cyclic
collector paused, as the flow does), in this process (no pool): with a cache holding the corpus (a warm run's cache,
e.g. the one `scripts/bench_scale.py --work` leaves) that is the warm run's ingest; with an empty one
the documents are made here and stored (pass a copy: the cache is written to). Then the same again
under tracemalloc, to measure what the documents hold once made (traced memory with them minus after
they are dropped): `--repeat` times in all. Prints the figures; the last line is JSON.
To compare two trees in one session, run it with `PYTHONPATH=<other tree>` (its `pipeline` is then
imported; `pipeline_file` in the JSON says which).
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, required=True, help="corpus folder")
    ap.add_argument("--cache", type=Path, required=True, help="cache.sqlite to read (and write what it lacks)")
    ap.add_argument("--config", type=Path, default=None, help="pipeline config (default: configs/default.yaml)")
    ap.add_argument("--repeat", type=int, default=2, help="timed ingests (the best is reported)")
    args = ap.parse_args()

    import pipeline
    from pipeline.cache import Cache, IngestCache, collector_paused
    from pipeline.config import load_settings, settings_dict
    from pipeline.ingest import ingest

    settings = load_settings(args.config or ROOT / "configs" / "default.yaml")
    cache = Cache(args.cache, ours=False, private=False, max_age_days=settings.cache.max_age_days)

    def run() -> tuple[object, float, float]:
        store = IngestCache(cache, settings_dict(settings)["ingest"])
        wall, cpu = time.perf_counter(), _cpu()
        with collector_paused():  # as the flow runs it (`pipeline.flow`)
            result = ingest(args.corpus, settings.ingest, store=store)
        return result, time.perf_counter() - wall, _cpu() - cpu

    timings = []
    for _ in range(max(1, args.repeat)):
        result, wall, cpu = run()
        timings.append((cpu, wall))
        print(f"ingest: {len(result.documents)} documents, {wall:.2f} s wall, {cpu:.2f} s CPU", flush=True)
        del result
        gc.collect()
    hits = cache.stats_dict().get("ingest", {})

    gc.collect()
    tracemalloc.start()
    result, _, _ = run()
    gc.collect()
    with_docs = tracemalloc.get_traced_memory()[0]
    documents = result.documents
    n_docs = len(documents)
    n_par = sum(len(d.paragraphs) for d in documents)
    n_sent = sum(len(p.sentences) for d in documents for p in d.paragraphs)
    source_chars = sum(len(d.source_text) for d in documents)
    del result, documents
    gc.collect()
    without = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    cpu, wall = min(timings)
    figures = {
        "pipeline_file": pipeline.__file__, "documents": n_docs,
        "ingest_cpu_s": round(cpu, 3), "ingest_wall_s": round(wall, 3),
        "all_cpu_s": [round(c, 3) for c, _ in timings], "cache_ingest": hits,
        "paragraphs": n_par, "sentences": n_sent, "source_chars": source_chars,
        "documents_mb": round((with_docs - without) / 1e6, 1), "peak_rss_mb": round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    cache.close()
    print(f"documents hold {figures['documents_mb']} MB (tracemalloc): {n_par} paragraphs, {n_sent} sentences, "
          f"{source_chars} source characters")
    print(json.dumps(figures))


if __name__ == "__main__":
    sys.exit(main())
