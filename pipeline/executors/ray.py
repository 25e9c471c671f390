"""The Ray executor: per-item work on a pool of actors across a Ray cluster.

Same contract as the local executor (`pipeline.executors`): `session(shared)`
puts the read-only shared context in the cluster's object store once, starts
one actor per worker (one CPU each), and each actor deserialises the context
once and keeps it, with whatever it builds lazily (a translation engine, a
model), for every `map` of the session. `map` sends the items in fixed
slices and returns the results in item order, so the output is the same as
the local executor's whatever the cluster looks like.

Where the cluster is: `ray.address` from the config, else `RAY_ADDRESS`, else
a local cluster started for the run (this machine's cores, loopback only, no
dashboard) and stopped when the process exits. Usage statistics are off;
nothing is sent anywhere. Every node needs this package and the engines it
uses (Apertium, model folders) installed the same way as here.

Corpus-wide steps do not collect the corpus's sketches on the driver:
`RayExecutor.similar_pairs` (dedup's near-duplicate search) is a shuffle by
LSH bucket key across Ray tasks, and only the pairs come back;
`RayExecutor.map_blocks` (dedup's same-fact comparisons) sends each block of
document pairs, with the sentences it reads, to one task through the object
store, and only the links come back.

Ray is an optional extra: `pip install '.[ray]'`.
"""

from __future__ import annotations

import logging
import os
import socket
from contextlib import contextmanager, nullcontext
from typing import Any, Callable, ContextManager, Iterator, Sequence, TypeVar

import numpy as np

from ..minhash import (
    _MIN_POSTING_CAP, _PAIR_BUDGET_PER_TEXT, SimilarPair, _components, _min_shared, _MinHasher, _mix64, _pairs_in_runs,
    _ranges, _sketch, _verify, choose_bands, isin_sorted, unique_sorted,
)
from . import ExecutorError, available_cores
from .local import _InProcess

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger("pipeline")

# Slices per actor and `map` call: enough to even out uneven items, few enough that
# the per-call overhead of Ray (about a millisecond) stays small next to the work.
SLICES_PER_WORKER = 8


class _Worker:
    """One actor: holds the session's shared context and runs functions on slices of items."""

    def __init__(self, shared: Any) -> None:
        self.shared = shared

    def run(self, fn: Callable[[Any, Any], Any], items: Sequence[Any]) -> list[Any]:
        return [fn(self.shared, item) for item in items]


def _block_task(fn: Callable[[Any, Any], Any], shared: Any, block: Any) -> Any:
    """Task of `RayExecutor.map_blocks`: one block (Ray resolves the shared context's reference)."""
    return fn(shared, block)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ExecutorError("run.executor is 'ray' but Ray is not installed; install it with "
                            "`pip install '.[ray]'` (or set run.executor: local)") from None
    return ray


def _reachable(address: str) -> str | None:
    """Why a `host:port` (or `ray://host:port`) address cannot be reached, or None. Ray itself retries for
    minutes on a wrong address; a refused or silent port is said at once. Other forms ("auto") go to Ray."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return None
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        return f"nothing answers at {host}:{port} ({exc.strerror or exc})"
    return None


def connect(address: str = "") -> Any:
    """Connect to the cluster (once per process): `address`, else RAY_ADDRESS, else a local one."""
    ray = _import_ray()
    if ray.is_initialized():
        return ray
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    address = address or os.environ.get("RAY_ADDRESS", "")
    # Worker output stays in the cluster's logs; Ray's own warnings go through the run's log like any
    # library's (JSON lines with --log-format json), not through the handler Ray installs on import.
    ray_log = logging.getLogger("ray")
    ray_log.handlers[:] = []
    ray_log.propagate = True
    ray_log.setLevel(logging.WARNING)
    common: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING, "configure_logging": False}
    problem = _reachable(address) if address else None
    if problem:
        raise ExecutorError(f"cannot connect to the Ray cluster at {address}: {problem}; check ray.address / "
                            "RAY_ADDRESS (or set run.executor: local)")
    try:
        if address:
            log.info("ray: connecting to %s", address)
            ray.init(address=address, **common)
        else:
            log.info("ray: starting a local cluster (%d CPUs)", available_cores())
            # "local": a new instance, never one another process started on this machine
            ray.init(address="local", num_cpus=available_cores(), include_dashboard=False,
                     _node_ip_address="127.0.0.1", **common)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray cluster"
        raise ExecutorError(f"cannot connect to {where}: {exc}; check ray.address / RAY_ADDRESS "
                            "(or set run.executor: local)") from None
    return ray


class _ActorSession:
    def __init__(self, ray: Any, shared: Any, workers: int) -> None:
        self.ray = ray
        self.shared = shared
        self.workers = workers
        self._actors: list[Any] = []

    def map(self, fn: Callable[[Any, T], R], items: Sequence[T]) -> list[R]:
        if len(items) <= 1:
            return [fn(self.shared, item) for item in items]
        if not self._actors:  # started on first use, after the shared context is complete
            ref = self.ray.put(self.shared)
            actor = self.ray.remote(num_cpus=1)(_Worker)
            self._actors = [actor.remote(ref) for _ in range(self.workers)]
        size = max(1, -(-len(items) // (self.workers * SLICES_PER_WORKER)))
        slices = [items[i:i + size] for i in range(0, len(items), size)]
        from ray.util import ActorPool

        pool = ActorPool(self._actors)
        return [r for part in pool.map(lambda a, s: a.run.remote(fn, s), slices) for r in part]

    def close(self) -> None:
        for actor in self._actors:
            self.ray.kill(actor)
        self._actors = []


class RayExecutor:
    name = "ray"
    background = None  # no worker of its own for work not waited for: ingest's few new records run on a session

    def __init__(self, address: str = "", workers: int = 0) -> None:
        self.address = address
        self._ray = connect(address)  # before any work: a cluster that cannot be reached fails the run at once
        cpus = int(self._ray.cluster_resources().get("CPU", 1))
        if workers > cpus:  # an actor takes one CPU: more actors than CPUs would wait forever
            log.warning("ray: run.workers is %d but the cluster has %d CPUs; using %d actors", workers, cpus, cpus)
        self.workers = max(1, min(workers or cpus, cpus))

    def similar_pairs(self, texts: Sequence[str], *, shingle_size: int = 3, jaccard_threshold: float = 0.7,
                      containment_threshold: float = 0.8, num_perm: int = 128, seed: int = 1,
                      bucket_window: int | None = None) -> list[SimilarPair]:
        """`pipeline.minhash.find_similar_pairs` on the cluster's tasks, the same pairs (see the section
        "Corpus-wide" below): sketches, LSH buckets and containment postings stay in the object store.
        Its tasks take one CPU each: call it outside a `session`, whose actors hold the CPUs."""
        n_total = len(texts)
        if n_total < 2:
            return []
        ray, parts = self._ray, max(2, self.workers)
        bands, rows = choose_bands(jaccard_threshold, num_perm)
        sketch = ray.remote(num_cpus=1, num_returns=2 * parts + 1)(_sketch_slice)
        mapped = [sketch.remote(list(texts[a:b]), a, shingle_size, bands, rows, seed, parts)
                  for a, b in _slices(texts, TASKS_PER_CPU * self.workers)]
        bucket_pairs = ray.remote(num_cpus=1)(_bucket_pairs)
        lsh = [bucket_pairs.remote(n_total, bucket_window, *[m[p] for m in mapped]) for p in range(parts)]
        postings = ray.remote(num_cpus=1, num_returns=2)(_postings)
        sorted_samples = [postings.remote(*[m[parts + p] for m in mapped]) for p in range(parts)]
        counts = ray.get([m[-1] for m in mapped])
        del mapped
        shingle_counts = np.concatenate([c for c, _ in counts])
        sample_counts = np.concatenate([c for _, c in counts])
        cap = _posting_cap(ray.get([h for h, _ in sorted_samples]), n_total)
        shared_samples = ray.remote(num_cpus=1)(_shared_samples)
        shared = ray.get([shared_samples.remote(s, cap, n_total) for _, s in sorted_samples])
        del sorted_samples
        candidates = unique_sorted(np.concatenate([*ray.get(lsh),
                                                  _contained(n_total, sample_counts, shared, containment_threshold)]))
        del shared, lsh
        return self._verified(texts, candidates, shingle_counts, shingle_size, jaccard_threshold,
                              containment_threshold)

    def _verified(self, texts: Sequence[str], codes: np.ndarray, shingle_counts: np.ndarray, shingle_size: int,
                  jaccard_threshold: float, containment_threshold: float) -> list[SimilarPair]:
        """The candidate pairs that pass, checked by tasks in blocks of whole groups of texts where they can be
        (each text is shingled once per block it is in)."""
        if codes.size == 0:
            return []
        n_total = len(texts)
        left, right = codes // n_total, codes % n_total
        ids = unique_sorted(np.concatenate([left, right]))
        order = np.argsort(_components(np.searchsorted(ids, left), np.searchsorted(ids, right), ids.size),
                           kind="stable")
        weight = np.cumsum((shingle_counts[left] + shingle_counts[right])[order].astype(np.int64))
        blocks = max(1, min(TASKS_PER_CPU * self.workers, int(weight[-1]) // VERIFY_BLOCK_SHINGLES))
        verify = self._ray.remote(num_cpus=1)(_verify_block)
        pending = []
        for block in np.split(order, np.searchsorted(weight, np.arange(1, blocks) * (weight[-1] / blocks))):
            if block.size == 0:
                continue
            l, r = left[block], right[block]
            mine = unique_sorted(np.concatenate([l, r]))
            pending.append(verify.remote([texts[t] for t in mine.tolist()], mine, np.searchsorted(mine, l),
                                         np.searchsorted(mine, r), shingle_counts[mine], shingle_size,
                                         jaccard_threshold, containment_threshold))
        done = self._ray.get(pending)
        pairs = np.concatenate([p for p, _ in done], axis=1)
        figures = np.concatenate([f for _, f in done], axis=1)
        order = np.lexsort((pairs[1], pairs[0]))
        return [SimilarPair(int(i), int(j), float(x), float(y), float(z))
                for i, j, x, y, z in zip(*pairs[:, order], *figures[:, order], strict=True)]

    def top_neighbours(self, vectors: Sequence[dict[str, float]], neighbours: int, terms: int,
                       labels: Sequence[str] | None = None) -> list[tuple[int, int]]:
        """`pipeline.dedup.top_neighbours` on the cluster's tasks, the same pairs (see "Corpus-wide: document
        neighbours" below): the documents' term lists are shuffled by term, and only the pairs come back.
        Its tasks take one CPU each: call it outside a `session`."""
        n_total = len(vectors)
        if n_total < 2:
            return []
        ray, parts = self._ray, max(2, self.workers)
        blocks = _row_blocks(n_total, TASKS_PER_CPU * self.workers)
        codes = np.unique(np.asarray(labels if labels is not None else [""] * n_total), return_inverse=True)[1]
        heaviest = ray.remote(num_cpus=1, num_returns=parts)(_heaviest_terms)
        step = -(-n_total // (TASKS_PER_CPU * self.workers))
        mapped = [heaviest.remote(list(vectors[a:a + step]), a, terms, parts) for a in range(0, n_total, step)]
        postings = ray.remote(num_cpus=1, num_returns=blocks.size - 1)(_term_postings)
        reduced = [postings.remote(terms, blocks, *[m[p] for m in mapped]) for p in range(parts)]
        if blocks.size == 2:  # one block: one object per reduce task
            reduced = [[r] for r in reduced]
        del mapped
        rows = ray.remote(num_cpus=1)(_block_neighbours)
        found = ray.get([rows.remote(n_total, neighbours, labels is not None, codes, *[r[k] for r in reduced])
                         for k in range(blocks.size - 1)])
        pairs = unique_sorted(np.concatenate(found))
        return list(zip((pairs // n_total).tolist(), (pairs % n_total).tolist()))

    def map_blocks(self, fn: Callable[[Any, T], R], shared: Any, blocks: Sequence[T]) -> list[R]:
        """`fn(shared, block)` for each block as one Ray task (one CPU), the results in block order: a block
        (what its work reads, e.g. dedup's `SameFactBlock`: the documents of some document pairs) goes to
        its task through the object store, and only the results come back. At most `TASKS_PER_CPU` tasks
        per worker wait at once, so the blocks are not all in the object store together. Its tasks take
        one CPU each: call it outside a `session`."""
        ray = self._ray
        run = ray.remote(num_cpus=1)(_block_task)
        context = ray.put(shared)
        results: list[Any] = [None] * len(blocks)
        pending: dict[Any, int] = {}
        for k, block in enumerate(blocks):
            if len(pending) >= TASKS_PER_CPU * self.workers:
                done, _ = ray.wait(list(pending), num_returns=1)
                results[pending.pop(done[0])] = ray.get(done[0])
            pending[run.remote(fn, context, block)] = k
        for ref, k in pending.items():
            results[k] = ray.get(ref)
        return results

    def run_scope(self) -> ContextManager[None]:
        """Nothing to keep across sessions here: each session starts its own actors."""
        return nullcontext()

    @contextmanager
    def session(self, shared: Any, *, workers: int | None = None) -> Iterator[Any]:
        n = self.workers if workers is None else max(1, min(workers, self.workers))
        if n == 1:  # one worker asked for (a model-backed engine using its own threads): here
            yield _InProcess(shared)
            return
        session = _ActorSession(self._ray, shared, n)
        try:
            yield session
        finally:
            session.close()


# --------------------------------------------------------------------------
# Corpus-wide: near-duplicate pairs (`pipeline.minhash.find_similar_pairs`) as a shuffle.
#
# Map tasks sketch slices of the texts (shingles, MinHash band keys, containment samples) and split
# what they made by key into `parts` partitions, which stay in the object store; reduce tasks each
# own a hash range of LSH bucket keys (and of containment sample keys) and emit the candidate pairs
# of their buckets; verification tasks check blocks of candidates exactly. The driver receives the
# per-text counts (8 bytes a text), the edge lists and the verified pairs, never the sketches. Each
# step is the one of `pipeline.minhash` on a partition of its keys (a bucket or a posting is whole in
# one partition), so the pairs are the same as `find_similar_pairs`'s (tests/test_ray_executor.py).

# Characters of text per map task, at least (each task sketches in minhash's own chunks).
SKETCH_SLICE_CHARS = 1 << 18
# Shingles (of the two texts of each pair) per verification task, at least.
VERIFY_BLOCK_SHINGLES = 1 << 16
# Tasks per CPU of the cluster for the map and verification steps: evens out uneven slices.
TASKS_PER_CPU = 4

_EMPTY = np.empty(0, np.int64)


def _split(values: np.ndarray, parts: int, *arrays: np.ndarray) -> list[tuple[np.ndarray, ...]]:
    """`arrays` cut into `parts` groups by a hash of `values` (uint64 keys)."""
    where = (_mix64(values.copy()) % np.uint64(parts)).astype(np.int64)
    order = np.argsort(where, kind="stable")
    cuts = np.searchsorted(where[order], np.arange(1, parts))
    return list(zip(*(np.split(a[order], cuts) for a in arrays)))


def _sketch_slice(texts: Sequence[str], first: int, shingle_size: int, bands: int, rows: int, seed: int,
                  parts: int) -> tuple[Any, ...]:
    """Map task: `parts` partitions of (bucket, text) for the LSH, `parts` partitions of containment
    samples (`key << 32 | text`), then the slice's shingle and sample counts. Texts are numbered
    from `first`; a bucket is `band key << 32 | band`."""
    sk = _sketch(texts, shingle_size, _MinHasher(bands, rows, seed))
    live = np.flatnonzero(sk.shingle_counts)
    buckets = (sk.band_keys[:, live].astype(np.uint64) << np.uint64(32)) | np.arange(bands, dtype=np.uint64)[:, None]
    buckets = buckets.ravel()
    owners = np.tile(live + first, bands)
    samples = np.concatenate(sk.samples) + np.uint64(first) if sk.samples else np.empty(0, np.uint64)
    by_bucket = [(b, o) for b, o in _split(buckets, parts, buckets, owners)]
    by_sample = [s for (s,) in _split(samples >> np.uint64(32), parts, samples)]
    return (*by_bucket, *by_sample, (sk.shingle_counts, sk.sample_counts))


def _runs(keys: np.ndarray) -> np.ndarray:
    """Starts of the runs of equal values of sorted `keys`."""
    if keys.size == 0:
        return _EMPTY
    return np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))


def _bucket_pairs(n_total: int, window: int | None, *parts: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Reduce task: the pair codes of the LSH buckets of one partition (texts in text order in a
    bucket, as `minhash._lsh_candidates` has them)."""
    buckets = np.concatenate([b for b, _ in parts])
    owners = np.concatenate([o for _, o in parts])
    order = np.lexsort((owners, buckets))
    starts = _runs(buckets[order])
    if starts.size == buckets.size:
        return _EMPTY
    return unique_sorted(_pairs_in_runs(owners[order], starts, n_total, window))


def _postings(*parts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reduce task: one partition's containment samples, sorted (postings by key, texts ascending),
    and the histogram of pairs per posting length (summed over partitions, it sets the posting cap)."""
    samples = np.sort(np.concatenate(parts))
    lengths = np.diff(_runs(samples >> np.uint64(32)), append=samples.size)
    return np.bincount(lengths, weights=lengths * (lengths - 1) / 2.0), samples


def _shared_samples(samples: np.ndarray, cap: int, n_total: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reduce task: the texts of postings longer than `cap` (no longer counted as samples), and each
    pair of texts sharing postings of this partition with how many it shares."""
    owners = (samples & np.uint64(0xFFFFFFFF)).astype(np.int64)
    starts = _runs(samples >> np.uint64(32))
    lengths = np.diff(starts, append=samples.size)
    dropped = lengths > cap
    dropped_owners = owners[_ranges(starts[dropped], lengths[dropped])]
    shared = (lengths >= 2) & (lengths <= cap)
    members, lengths = owners[np.repeat(shared, lengths)], lengths[shared]
    codes = _pairs_in_runs(members, np.cumsum(lengths) - lengths, n_total)
    pairs, counts = np.unique(codes, return_counts=True)
    return dropped_owners, pairs, counts


def _verify_block(texts: Sequence[str], ids: np.ndarray, left: np.ndarray, right: np.ndarray,
                  shingle_counts: np.ndarray, shingle_size: int, jaccard_threshold: float,
                  containment_threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Verification task: `minhash._verify` of some candidate pairs (indices into `texts`, which are the
    texts `ids` of the corpus): the pairs that pass as the corpus's indices `[2, n]` and their figures
    `[3, n]` (Jaccard, both containments), arrays rather than objects for the way back."""
    codes = np.sort(left * len(texts) + right)
    found = _verify(texts, codes, shingle_counts, shingle_size, jaccard_threshold, containment_threshold)
    pairs = ids[np.array([(p.i, p.j) for p in found], dtype=np.int64).reshape(-1, 2).T]
    figures = np.array([(p.jaccard, p.containment_ij, p.containment_ji) for p in found], dtype=np.float64)
    return pairs, figures.reshape(-1, 3).T


def _contained(n_total: int, sample_counts: np.ndarray, shared: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
               containment_threshold: float) -> np.ndarray:
    """The pairs that share enough containment samples (`minhash._count_and_filter` over all partitions)."""
    counts = sample_counts.astype(np.int64)
    counts -= np.bincount(np.concatenate([d for d, _, _ in shared]), minlength=n_total)
    pairs, index = np.unique(np.concatenate([p for _, p, _ in shared]), return_inverse=True)
    hits = np.bincount(index, weights=np.concatenate([c for _, _, c in shared]), minlength=pairs.size)
    n_small = np.minimum(counts[pairs // n_total], counts[pairs % n_total])
    values, where = np.unique(n_small, return_inverse=True)
    needed = np.array([_min_shared(int(v), containment_threshold) for v in values], dtype=np.int64)
    return pairs[hits >= needed[where]]


def _posting_cap(histograms: list[np.ndarray], n_total: int) -> int:
    """`minhash._containment_candidates`'s posting cap from the partitions' histograms."""
    total = np.zeros(max((h.size for h in histograms), default=0))
    for h in histograms:
        total[:h.size] += h
    within = np.flatnonzero(np.cumsum(total) <= _PAIR_BUDGET_PER_TEXT * n_total)
    return max(_MIN_POSTING_CAP, int(within[-1]) if within.size else 0)


def _slices(texts: Sequence[str], count: int) -> list[tuple[int, int]]:
    """About `count` consecutive (start, stop) ranges of texts of about equal characters."""
    ends = np.cumsum([len(t) + 1 for t in texts])
    size = max(SKETCH_SLICE_CHARS, int(ends[-1]) // count + 1)
    cuts = np.unique(np.searchsorted(ends, np.arange(size, int(ends[-1]), size), side="right"))
    bounds = [0, *[int(c) for c in cuts if 0 < c < len(texts)], len(texts)]
    return list(zip(bounds[:-1], bounds[1:]))


# --------------------------------------------------------------------------
# Corpus-wide: document neighbours (`pipeline.dedup.top_neighbours`) as a shuffle.
#
# Map tasks cut each document's vector to its `terms` heaviest entries and split them by a hash of
# the term into `parts` partitions. Each reduce task owns the terms of one partition: it gives each
# term the place it has in `top_neighbours`'s vocabulary (the order of first use: the first document
# using it, then its rank there), and sends each block of documents the entries of its rows and the
# whole posting list (every document, ascending) of each term its rows use. A block task then does
# `top_neighbours`'s sparse product for its rows, with the terms of each row in the same order and
# the postings in the same order, so every sum is added in the same order: the same floats, the same
# best neighbours, the same pairs (tests/test_ray_executor.py). The driver gets only the pairs.


def _row_blocks(n_total: int, count: int) -> np.ndarray:
    """Starts of about `count` blocks of consecutive documents (and `n_total` at the end)."""
    return np.unique(np.linspace(0, n_total, max(1, min(count, n_total)) + 1).astype(np.int64))


def _heaviest_terms(vectors: Sequence[dict[str, float]], first: int, terms: int, parts: int) -> list[Any]:
    """Map task: each document's `terms` heaviest entries (as `top_neighbours` picks them) as
    (term, document, rank, weight) columns, cut into `parts` partitions by a hash of the term."""
    import zlib

    columns: list[tuple[list[str], list[int], list[int], list[float]]] = [([], [], [], []) for _ in range(parts)]
    for r, v in enumerate(vectors, start=first):
        for rank, (w, x) in enumerate(sorted(v.items(), key=lambda kv: (-kv[1], kv[0]))[:terms]):
            part = columns[zlib.crc32(w.encode("utf-8")) % parts]
            part[0].append(w)
            part[1].append(r)
            part[2].append(rank)
            part[3].append(x)
    return [(words, np.array(docs, np.int64), np.array(ranks, np.int64), np.array(values, np.float64))
            for words, docs, ranks, values in columns]


def _term_postings(terms: int, blocks: np.ndarray, *parts: Any) -> Any:
    """Reduce task: this partition's terms, each numbered by its first use (`first document * terms +
    rank` orders them as `top_neighbours`'s vocabulary), and for each block of documents: its rows'
    entries (document, term number, weight) and the postings (term number, document, weight) of the
    terms they use."""
    words = [w for p in parts for w in p[0]]
    docs = np.concatenate([p[1] for p in parts])
    ranks = np.concatenate([p[2] for p in parts])
    values = np.concatenate([p[3] for p in parts])
    _, term_index = np.unique(np.asarray(words, dtype=object), return_inverse=True) if words else ([], _EMPTY)
    term_index = np.asarray(term_index, np.int64)
    first_use = np.full(int(term_index.max()) + 1 if term_index.size else 0, np.iinfo(np.int64).max)
    np.minimum.at(first_use, term_index, docs * terms + ranks)
    return _by_block(blocks, first_use[term_index], docs, values)


def _by_block(blocks: np.ndarray, terms: np.ndarray, docs: np.ndarray, values: np.ndarray) -> Any:
    """A reduce task's answer: for each block of documents, its rows' entries (document, term, weight) and the
    postings (term, document, weight; by term, documents ascending) of the terms they use."""
    order = np.lexsort((docs, terms))
    terms, docs, values = terms[order], docs[order], values[order]
    block_of = np.searchsorted(blocks, docs, side="right") - 1
    out = []
    for k in range(blocks.size - 1):
        mine = block_of == k
        used = isin_sorted(terms, unique_sorted(terms[mine]))
        out.append(((docs[mine], terms[mine], values[mine]), (terms[used], docs[used], values[used])))
    return out if len(out) > 1 else out[0]


def _gathered(parts: Sequence[Any]) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """A block task's rows (documents, terms, weights) and postings (terms, documents, weights) from the reduce
    tasks' pieces (`_by_block`), each column joined."""
    rows = tuple(np.concatenate([r[k] for r, _ in parts]) for k in range(3))
    return rows, tuple(np.concatenate([q[k] for _, q in parts]) for k in range(3))


def _block_neighbours(n_total: int, neighbours: int, labelled: bool, codes: np.ndarray, *parts: Any) -> np.ndarray:
    """Block task: `top_neighbours`'s pairs (codes `a * n_total + b`, a < b) of this block's rows."""
    from scipy.sparse import csr_matrix

    (row_docs, row_terms, row_values), (post_terms, post_docs, post_values) = _gathered(parts)
    if row_docs.size == 0:
        return _EMPTY
    numbers, columns = np.unique(post_terms, return_inverse=True)  # the terms in vocabulary order
    order = np.lexsort((np.searchsorted(numbers, row_terms), row_docs))
    first = int(row_docs.min())
    m = csr_matrix((row_values[order], (row_docs[order] - first, np.searchsorted(numbers, row_terms)[order])),
                   shape=(int(row_docs.max()) - first + 1, max(1, numbers.size)), dtype=np.float64)
    mt = csr_matrix((post_values, (post_docs, columns)), shape=(n_total, max(1, numbers.size)),
                    dtype=np.float64).T.tocsc()
    product = (m @ mt).tocsr()
    found = []
    for r in range(product.shape[0]):
        a = first + r
        lo, hi = product.indptr[r], product.indptr[r + 1]
        cols_r, vals_r = product.indices[lo:hi], product.data[lo:hi]
        keep = (cols_r != a) & (vals_r > 0)
        if labelled:
            keep &= codes[cols_r] != codes[a]
        cols_r, vals_r = cols_r[keep], vals_r[keep]
        if cols_r.size > neighbours:
            cols_r = cols_r[np.argpartition(-vals_r, neighbours - 1)[:neighbours]]
        cols_r = cols_r.astype(np.int64)
        found.append(np.minimum(a, cols_r) * n_total + np.maximum(a, cols_r))
    return unique_sorted(np.concatenate(found)) if found else _EMPTY
