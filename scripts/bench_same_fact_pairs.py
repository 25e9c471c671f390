"""Benchmark: how dedup's work grows with the copies of a story: the similar document pairs it compares.

    .venv/bin/python scripts/bench_same_fact_pairs.py --corpus WORK/corpus-10000 --work DIR
                                                     [--baseline main] [--variants here]

The corpus is one made by scripts/bench_scale.py (its 10,000-article corpus has 10 copies a story; 30,000 and
60,000 articles have about 20 and 40 copies of each of its 1,500 stories). Documents and their dedup features
come from ingest with the cache in `--work` (made on the first call). Then the whole dedup of the corpus (in full,
as a cold run does, in this process: no pool) runs once per variant, one after the other in this process:

* `baseline`: `pipeline/dedup.py` at the git revision `--baseline` (default `main`; `none`: skipped), loaded
  as a module of its own (`bench_same_fact.baseline_module`);
* `here`: this checkout; `here:K` with `dedup.DOC_NEIGHBOURS = K`; `here:K:R` also with `COPY_NEIGHBOURS = R`.

Per variant: dedup's wall and CPU seconds and those of its parts (the document neighbours
`similar_document_arrays`, the same-fact comparisons `compare_similar`, the shingle links, the grouping
`_groups_across_runs`), the similar document pairs compared (and per document), the sentence pairs whose
cosine was computed, the links found, the sentence groups (count, members, largest), and how the sentence
groups differ from the first variant's (groups with exactly the same members, and the rest). Last line JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_same_fact import baseline_module, corpus_documents  # noqa: E402

from pipeline import dedup as dedup_module  # noqa: E402
from pipeline.cache import collector_paused  # noqa: E402
from pipeline.config import load_settings  # noqa: E402
from pipeline.flow import DedupStep  # noqa: E402


def timed(module: Any, documents: Any, settings: Any, features: Any) -> tuple[Any, dict[str, Any]]:
    """One dedup in full with `module`, its parts timed and counted (the module's functions wrapped)."""
    parts: dict[str, list[float]] = {}
    counts = Counter()
    restore: list[tuple[Any, str, Any]] = []

    def wrap(owner: Any, name: str, label: str, count=None) -> None:
        fn = getattr(owner, name)
        restore.append((owner, name, fn))

        def run(*a: Any, **k: Any) -> Any:
            w, c = time.perf_counter(), time.process_time()
            try:
                out = fn(*a, **k)
            finally:
                acc = parts.setdefault(label, [0.0, 0.0])
                acc[0] += time.perf_counter() - w
                acc[1] += time.process_time() - c
            if count is not None:
                count(a, out)
            return out
        setattr(owner, name, run)

    def pairs(a: Any, out: Any) -> None:
        counts["similar_pairs"] += int(out[0].size)

    def sentence_pairs(a: Any, out: Any) -> None:
        block = a[1]
        sizes = block.starts[1:] - block.starts[:-1]
        counts["document_pairs_in_blocks"] += len(block.pairs)
        counts["sentence_pairs"] += int((sizes[block.pairs[:, 0]] * sizes[block.pairs[:, 1]]).sum())
        counts["same_fact_links"] += sum(len(links) for _, links, _ in out)

    wrap(module.SameFactScorer, "similar_document_arrays", "neighbours", pairs)
    wrap(module, "compare_similar", "compare")
    wrap(module, "compare_block", "compare_blocks", sentence_pairs)
    wrap(module, "_shingle_links", "shingles")
    wrap(module, "_groups_across_runs", "groups")
    try:
        w, c = time.perf_counter(), time.process_time()
        with collector_paused():
            result, _ = module.dedup_across_runs(documents, settings.dedup, features=features)
        total = (time.perf_counter() - w, time.process_time() - c)
    finally:
        for owner, name, fn in reversed(restore):
            setattr(owner, name, fn)
    figures: dict[str, Any] = {"wall_s": round(total[0], 2), "cpu_s": round(total[1], 2)}
    figures.update({f"{k}_wall_s": round(v[0], 2) for k, v in parts.items()})
    figures.update({f"{k}_cpu_s": round(v[1], 2) for k, v in parts.items()})
    figures.update(counts)
    figures["pairs_per_document"] = round(counts["similar_pairs"] / max(1, len(documents)), 2)
    sizes = [len(g.members) for g in result.sentence_groups]
    figures.update(sentence_groups=len(sizes), sentence_group_members=sum(sizes), largest_sentence_group=max(sizes, default=0),
                   paragraph_groups=len(result.paragraph_groups))
    return result, figures


def partition(result: Any) -> set[frozenset[str]]:
    return {frozenset(m.id for m in g.members) for g in result.sentence_groups}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, required=True, help="a corpus folder made by scripts/bench_scale.py")
    ap.add_argument("--work", type=Path, required=True, help="the cache (made on the first call)")
    ap.add_argument("--baseline", default="main", help="git revision of the baseline variant (none: no baseline)")
    ap.add_argument("--variants", default="here", help="comma-separated: here, here:K (DOC_NEIGHBOURS = K), "
                    "here:K:R (and COPY_NEIGHBOURS = R)")
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "default.yaml")
    args = ap.parse_args()

    settings = load_settings(args.config)
    documents, cache = corpus_documents(args.corpus, args.work, settings)
    wanted = (["baseline"] if args.baseline != "none" else []) + [v for v in args.variants.split(",") if v]
    out: dict[str, Any] = {"documents": len(documents), "baseline": args.baseline}
    first = None
    for name in wanted:
        module = baseline_module(args.baseline) if name == "baseline" else dedup_module
        given = dict(zip(("DOC_NEIGHBOURS", "COPY_NEIGHBOURS"), map(int, name.split(":")[1:])))
        defaults = {k: getattr(module, k) for k in given}
        for k, v in given.items():
            setattr(module, k, v)
        try:
            result, figures = timed(module, documents, settings, DedupStep().features(documents, settings, cache))
        finally:
            for k, v in defaults.items():
                setattr(module, k, v)
        figures.update({k.lower(): getattr(module, k, None) for k in ("DOC_NEIGHBOURS", "COPY_NEIGHBOURS")})
        figures.update({k.lower(): v for k, v in given.items()})
        groups = partition(result)
        if first is None:
            first = groups
        figures["groups_as_first"] = len(groups & first)
        figures["groups_not_in_first"] = len(groups - first)
        figures["first_groups_missing"] = len(first - groups)
        out[name] = figures
        print(f"{name}: {figures}", flush=True)
        del result
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
