"""Benchmark: the corpus-wide steps of dedup and stories still on the driver, against doing them on Ray.

    .venv/bin/python scripts/bench_ray_corpus.py --corpus WORK/corpus-10000 --work DIR [--address HOST:PORT]

The corpus is one made by scripts/bench_scale.py (e.g. the 10,000-article one its `--work` folder keeps);
documents and their dedup features come from ingest with the cache in `--work` (the first call ingests, later
calls read the cache). Then one dedup and one story grouping of the whole corpus run on the driver, and at
each step below a Ray version does the same work on a local cluster of two nodes, one CPU each (or
`--address`); its result must be the driver's, ties included (the script stops otherwise). Per step: wall and
CPU seconds of the driver (this process) and CPU seconds of the cluster's processes.

* grouping (`dedup._clusters`, each level): on Ray, tasks that each group whole connected components of the
  links with `_clusters` itself (`dedup_groups` below); not run for a level with links across languages
  when an embedder judges them (the embeddings are the driver's);
* components (`dedup._components`, scipy, on the driver) against the least any distributed union-find or
  label propagation costs: sending the level's links to the cluster and their labels back;
* story candidate pairs (`stories.candidate_pairs`): on Ray, a shuffle by term (`story_pairs` below);
* same-fact comparisons (`dedup._same_fact_links`): here in-process only, for scale (their blocks on the
  pool and as Ray tasks are measured by `scripts/bench_same_fact.py`).

These Ray versions live here, not in `pipeline.executors.ray`: measured at 10,000 articles they cost the
driver as much CPU as the steps themselves, or more (README, "What Ray does not do yet").
Last line JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import numpy as np  # noqa: E402

from pipeline import dedup as dedup_module  # noqa: E402
from pipeline.cache import Cache, collector_paused  # noqa: E402
from pipeline.config import load_settings  # noqa: E402
from pipeline.executors.ray import (  # noqa: E402
    _EMPTY, TASKS_PER_CPU, RayExecutor, _by_block, _gathered, _row_blocks, _runs, _split,
)
from pipeline.flow import DedupStep, IngestStep  # noqa: E402
from ray_compare import ClusterCpu, cluster_at  # noqa: E402


def story_pairs(self: RayExecutor, q: Any, neighbours: int) -> np.ndarray:
    """The neighbour search of `pipeline.stories.candidate_pairs` on the cluster's tasks (see "The stories stage's
    candidate pairs" below): each document's `neighbours` best by its products with the
    others in the index matrix `q` (sparse, rows: documents); sorted codes `a * n + b` (a < b), the same as
    the driver's. Its tasks take one CPU each: call it outside a `session`."""
    n_total = q.shape[0]
    if n_total < 2:
        return _EMPTY
    ray, parts = self._ray, max(2, self.workers)
    blocks = _row_blocks(n_total, TASKS_PER_CPU * self.workers)
    step = -(-n_total // (TASKS_PER_CPU * self.workers))
    entries = ray.remote(num_cpus=1, num_returns=parts)(_index_entries)
    mapped = []
    for a in range(0, n_total, step):
        rows = q[a:a + step]
        mapped.append(entries.remote(rows.indptr, rows.indices, rows.data, a, parts))
    postings = ray.remote(num_cpus=1, num_returns=blocks.size - 1)(_index_postings)
    reduced = [postings.remote(blocks, *[m[p] for m in mapped]) for p in range(parts)]
    if blocks.size == 2:  # one block: one object per reduce task
        reduced = [[r] for r in reduced]
    del mapped
    rows_task = ray.remote(num_cpus=1)(_block_story_pairs)
    found = ray.get([rows_task.remote(n_total, q.shape[1], neighbours, *[r[k] for r in reduced])
                     for k in range(blocks.size - 1)])
    return np.unique(np.concatenate(found))


def dedup_groups(self: RayExecutor, cluster: Callable[..., list[Any]], items: Sequence[Any], links: Sequence[Any],
                 component: np.ndarray, signature: Callable[[int], Any] | None) -> list[Any]:
    """`cluster(items, links, signature)` (`pipeline.dedup._clusters`) run on the cluster's tasks, component by
    component (`component`: each item's link component), the same groups in the same order (see "Dedup's grouping"
    below). Its tasks take one CPU each: call it outside a `session`."""
    if not links:
        return []
    ends = np.fromiter((l.a for l in links), dtype=np.int64, count=len(links))
    of_link = component[ends]
    order = np.argsort(of_link, kind="stable")  # links by component, each component's in their order
    starts = _runs(of_link[order])
    weight = np.diff(np.append(starts, order.size))
    blocks = max(1, min(TASKS_PER_CPU * self.workers, order.size // GROUP_BLOCK_LINKS))
    cuts = np.searchsorted(np.cumsum(weight), np.arange(1, blocks) * (order.size / blocks)) + 1
    bounds = [0, *np.unique(cuts[(cuts > 0) & (cuts < starts.size)]).tolist(), starts.size]
    task = self._ray.remote(num_cpus=1)(_group_block)
    pending = []
    for first, stop in zip(bounds[:-1], bounds[1:]):  # whole components
        mine = order[starts[first]:starts[stop] if stop < starts.size else order.size]
        block = [links[k] for k in np.sort(mine).tolist()]
        members = np.unique(np.fromiter((e for l in block for e in (l.a, l.b)), dtype=np.int64))
        local = {int(m): k for k, m in enumerate(members.tolist())}
        sub = [type(l)(local[l.a], local[l.b], l.relation, l.score) for l in block]
        pending.append(task.remote(cluster, [items[m] for m in members.tolist()], sub,
                                   [signature(m) for m in members.tolist()] if signature is not None else None,
                                   members))
    groups = [c for part in self._ray.get(pending) for c in part]
    groups.sort(key=lambda c: min(m for m, _, _ in c))
    return groups



# --------------------------------------------------------------------------
# The stories stage's candidate pairs (`pipeline.stories.candidate_pairs`) as a shuffle.
#
# The index matrix (each document's heaviest indexed terms, term ids of the driver's vocabulary) is
# cut into slices of rows; map tasks split each slice's entries by a hash of the term into `parts`
# partitions; each reduce task owns the terms of one partition and sends each block of documents its
# rows' entries and the whole posting list (every document, ascending) of each term they use; a block
# task builds its rows and the transposed postings exactly as `candidate_pairs` has them (rows' terms
# ascending, postings' documents ascending), so scipy's product adds the same floats in the same
# order and lists each row's scores in the same order: `argpartition` then keeps the same neighbours,
# ties included. Only the pair codes come back; the time window and the exact cosines stay on the
# driver.


def _index_entries(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, first: int, parts: int) -> list[Any]:
    """Map task: the entries (term, document, weight) of a slice of the index matrix's rows (documents from
    `first`), cut into `parts` partitions by a hash of the term."""
    docs = np.repeat(np.arange(first, first + indptr.size - 1, dtype=np.int64), np.diff(indptr))
    terms = indices.astype(np.int64)
    return [tuple(p) for p in _split(terms.astype(np.uint64), parts, terms, docs, data.astype(np.float64))]


def _index_postings(blocks: np.ndarray, *parts: tuple[np.ndarray, np.ndarray, np.ndarray]) -> Any:
    """Reduce task: for each block of documents, its rows' entries (document, term, weight) in this
    partition, and the postings (term, document, weight; by term, documents ascending) of the terms they use."""
    return _by_block(blocks, *(np.concatenate([p[k] for p in parts]) for k in range(3)))


def _block_story_pairs(n_total: int, n_terms: int, neighbours: int, *parts: Any) -> np.ndarray:
    """Block task: `candidate_pairs`'s neighbour pairs (codes `a * n_total + b`, a < b) of this block's rows."""
    from scipy.sparse import csr_matrix

    (row_docs, row_terms, row_values), (post_terms, post_docs, post_values) = _gathered(parts)
    if row_docs.size == 0:
        return _EMPTY
    first, last = int(row_docs.min()), int(row_docs.max())
    order = np.lexsort((row_terms, row_docs))  # each row's terms ascending, as the driver's matrix has them
    indptr = np.concatenate(([0], np.cumsum(np.bincount(row_docs - first, minlength=last - first + 1))))
    q = csr_matrix((row_values[order], row_terms[order], indptr), shape=(last - first + 1, n_terms))
    order = np.lexsort((post_docs, post_terms))  # postings by term, documents ascending (`csr_matrix(q.T)`)
    indptr = np.concatenate(([0], np.cumsum(np.bincount(post_terms, minlength=n_terms))))
    qt = csr_matrix((post_values[order], post_docs[order], indptr), shape=(n_terms, n_total))
    scores = csr_matrix(q @ qt)
    found = []
    for r in range(scores.shape[0]):  # `candidate_pairs`'s choice of a row's best, as it makes it
        x = first + r
        lo, hi = scores.indptr[r], scores.indptr[r + 1]
        cols, vals = scores.indices[lo:hi], scores.data[lo:hi]
        self_mask = cols != x
        cols, vals = cols[self_mask], vals[self_mask]
        if len(cols) > neighbours:
            cols = cols[np.argpartition(-vals, neighbours)[:neighbours]]
        cols = cols.astype(np.int64)
        found.append(np.minimum(x, cols) * n_total + np.maximum(x, cols))
    return np.unique(np.concatenate(found))


# --------------------------------------------------------------------------
# Dedup's grouping (`pipeline.dedup._clusters`) component by component.
#
# `_clusters` takes a level's links strongest first and joins their items unless their facts
# conflict; what it does inside one connected component of the links never depends on another
# component (its union-find, signatures and choices are the component's own), and its groups come in
# the order of their first item. So the components (found on the driver: scipy's connected
# components, the links are there already) are cut into blocks of whole components of about equal
# links; a task groups each block's items with `_clusters` itself (items renumbered in the same
# order, so every sort and every tie is decided as on the driver), and the driver puts the groups
# back in the order of their first item: the same groups, in the same order (checked below).

# Links per grouping task, at least.
GROUP_BLOCK_LINKS = 1 << 15


def _group_block(cluster: Callable[..., list[Any]], items: Sequence[Any], links: Sequence[Any],
                 signatures: Sequence[Any] | None, members: np.ndarray) -> list[list[tuple[int, str, float]]]:
    """Grouping task: `cluster` (`dedup._clusters`) of one block's items (`members`: their indices in the
    level, ascending), its groups in the level's indices."""
    found = cluster(items, links, signatures.__getitem__ if signatures is not None else None)
    ids = members.tolist()
    return [[(ids[m], r, x) for m, r, x in c] for c in found]


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
        executor = RayExecutor(address=address, workers=2)
        ray = executor._ray
        echo = ray.remote(num_cpus=1)(_echo)
        ray.get([echo.remote(_EMPTY) for _ in range(4)])  # the workers started before anything is timed
        levels: list[dict[str, Any]] = []
        clusters, same_fact = dedup_module._clusters, dedup_module._same_fact_links

        def both_clusters(items: Any, links: Any, signature: Any = None, vectors: Any = None,
                          across_threshold: float = 0.0) -> Any:
            here, driver = timed(lambda: clusters(items, links, signature, vectors, across_threshold))
            level: dict[str, Any] = {"items": len(items), "links": len(links), "groups": len(here), "driver": driver}
            a, b, _ = dedup_module._link_arrays(links)
            component, level["components_driver"] = timed(lambda: dedup_module._components(len(items), a, b))
            _, level["links_round_trip_ray"] = on_cluster(lambda: ray.get(echo.remote(np.stack([a, b]))))
            if vectors is not None and any(items[l.a].lang != items[l.b].lang for l in links):
                level["ray"] = "not run: links across languages, judged with the driver's embeddings"
            else:
                there, level["ray"] = on_cluster(lambda: dedup_groups(executor, clusters, items, links, component,
                                                                      signature))
                if there != here:
                    raise SystemExit("bench_ray_corpus: the cluster's groups are not the driver's")
            print(f"grouping: {json.dumps(level)}", flush=True)
            levels.append(level)
            return here

        same_fact_figures: dict[str, Any] = {}

        def timed_same_fact(*a: Any, **k: Any) -> Any:
            result, figures = timed(lambda: same_fact(*a, **k))
            same_fact_figures.update(figures, links=len(result[0]), document_pairs=len(result[1]))
            return result

        dedup_module._clusters, dedup_module._same_fact_links = both_clusters, timed_same_fact
        try:
            with collector_paused():  # as the dedup step runs it
                result, dedup_figures = timed(lambda: dedup_module.dedup_across_runs(
                    documents, settings.dedup, features=features)[0])
        finally:
            dedup_module._clusters, dedup_module._same_fact_links = clusters, same_fact
        del features
        out.update(dedup_driver=dedup_figures, grouping=levels, same_fact_driver=same_fact_figures)
        print(f"dedup (on the driver, with the checks): {dedup_figures}; same-fact: {same_fact_figures}", flush=True)

        from pipeline.stories import _document_space, _index_matrix, bridged_texts, candidate_pairs
        from pipeline.textsim import row_dots

        space, _ = _document_space(documents, settings.stories, bridged_texts(documents, result))
        undated = [None] * len(documents)  # (the time window is the same filter on both sides)
        (a, b, sims), driver = timed(lambda: candidate_pairs(space, undated, settings.stories))

        def on_ray() -> tuple[np.ndarray, np.ndarray]:
            codes = story_pairs(executor, _index_matrix(space, settings.stories), settings.stories.neighbours)
            n = len(documents)
            return codes, row_dots(space.matrix, codes // n, codes % n)

        (codes, cosines), ray_figures = on_cluster(on_ray)
        if not (np.array_equal(codes, a * len(documents) + b) and np.array_equal(cosines, sims)):
            raise SystemExit("bench_ray_corpus: the cluster's story candidate pairs are not the driver's")
        out["story_pairs"] = {"documents": len(documents), "pairs": int(a.size), "driver": driver, "ray": ray_figures}
        print(f"story candidate pairs: {json.dumps(out['story_pairs'])}", flush=True)
        ray.shutdown()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
