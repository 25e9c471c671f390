"""The local executor: a pool of worker processes on this machine (default: one per core).

Workers are forked. Inside `run_scope()` (a whole run: `pipeline.flow.run_flow`) one pool serves
every session: it is forked at its first use, which in a cold run is ingest's first slice, before
the corpus exists, so a worker never holds the corpus's pages; each later session's shared context
(small: settings, an engine's settings) is pickled once and sent along with its items, and a worker
unpickles it once. What a worker reads of the corpus comes in its items (a story's documents, a
page's paragraphs), so its memory is bounded by its batch, not by the corpus. Outside a
`run_scope()` (tests, tools) each session forks its own pool, which inherits the shared context.

In a worker, what it inherited from the parent is moved out of the cyclic collector's reach
(`gc.freeze`): a collection would otherwise write to every inherited object and unshare its page.

With one worker, or one item, everything runs in this process. Results come back in item order.

`background(shared)` is one more worker, of its own, forked when it opens: `map_async` hands it items
and returns at once, so this process goes on with other work; it builds what it needs (a language model)
itself, on its first item. For a few items whose results are wanted later (ingest's new records in a run
that finds most in its cache), while this process and that worker keep two cores busy.
"""

from __future__ import annotations

import gc
import itertools
import multiprocessing
import pickle
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# Set in each worker process: the current session's token and shared context (the first one inherited
# through fork by the pool's initializer, the later ones unpickled from the first task that brings them).
_worker_token: int = 0
_worker_shared: Any = None


def _init_worker(token: int, shared: Any) -> None:
    global _worker_token, _worker_shared
    gc.freeze()  # what the worker inherited: never walked (and so never unshared) by its collections
    _worker_token, _worker_shared = token, shared


def _call(packed: tuple[int, bytes | None, bool, Callable[[Any, Any], Any], Any]) -> Any:
    """Run `fn` on an item with its session's context; the first item of a session also sets the cyclic
    collector as the session's opener had it (paused around ingest and dedup: `pipeline.cache.collector_paused`),
    as a pool forked for the session would have inherited it."""
    global _worker_token, _worker_shared
    token, payload, collect, fn, item = packed
    if token != _worker_token:
        if payload is None:  # pragma: no cover - a session's items always bring its context to a kept pool
            raise RuntimeError(f"worker has no shared context for session {token}")
        _worker_shared, _worker_token = None, 0  # the previous session's context is freed first
        _worker_shared, _worker_token = pickle.loads(payload), token
        gc.enable() if collect else gc.disable()
    return fn(_worker_shared, item)


_tokens = itertools.count(1)


class _InProcess:
    def __init__(self, shared: Any) -> None:
        self.shared = shared

    def map(self, fn: Callable[[Any, T], R], items: Sequence[T]) -> list[R]:
        return [fn(self.shared, item) for item in items]


class _Pool:
    """A pool of forked workers, forked at first use; `session` is the token of the context it inherits."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.pool: Any = None

    def map(self, fn: Callable[[Any, T], R], items: Sequence[T], token: int, shared: Any,
            payload: Callable[[], bytes | None], collect: bool) -> list[R]:
        return self.map_async(fn, items, token, shared, payload, collect).get()

    def map_async(self, fn: Callable[[Any, T], R], items: Sequence[T], token: int, shared: Any,
                  payload: Callable[[], bytes | None], collect: bool) -> Any:
        if self.pool is None:
            ctx = multiprocessing.get_context("fork")
            self.pool = ctx.Pool(self.workers, initializer=_init_worker, initargs=(token, shared))
        data = payload()
        return self.pool.map_async(_call, [(token, data, collect, fn, item) for item in items], chunksize=1)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool.join()
            self.pool = None

    def terminate(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
            self.pool = None


class _PoolSession:
    def __init__(self, shared: Any, pool: _Pool, kept: bool) -> None:
        self.shared = shared
        self.pool = pool
        self.token = next(_tokens)
        self.kept = kept  # the pool outlives the session: the context goes with the items
        self.collect = gc.isenabled()
        self._payload: bytes | None = None

    def _context(self) -> bytes | None:
        if self.kept and self._payload is None:
            self._payload = pickle.dumps(self.shared, protocol=pickle.HIGHEST_PROTOCOL)
        return self._payload

    def map(self, fn: Callable[[Any, T], R], items: Sequence[T]) -> list[R]:
        if len(items) <= 1:
            return [fn(self.shared, item) for item in items]
        return self.pool.map(fn, items, self.token, self.shared, self._context, self.collect)

    def map_async(self, fn: Callable[[Any, T], R], items: Sequence[T]) -> Any:
        """`map` without waiting: a `multiprocessing.pool.AsyncResult` (`ready`; `get`: the results in item
        order, or the first error raised), so that this process goes on with other work meanwhile (ingest
        reads and stores the next round while the workers analyse this one)."""
        return self.pool.map_async(fn, items, self.token, self.shared, self._context, self.collect)


class _Background:
    """One forked worker of its own; `map_async` returns a `multiprocessing.pool.AsyncResult` (`ready`, `get`:
    the results in item order, or the first error raised)."""

    def __init__(self, shared: Any) -> None:
        self.token = next(_tokens)
        self.collect = gc.isenabled()
        self.pool = multiprocessing.get_context("fork").Pool(1, initializer=_init_worker, initargs=(self.token, shared))

    def map_async(self, fn: Callable[[Any, T], R], items: Sequence[T]) -> Any:
        return self.pool.map_async(_call, [(self.token, None, self.collect, fn, item) for item in items], chunksize=1)


class LocalExecutor:
    name = "local"
    similar_pairs = None  # corpus-wide steps run find_similar_pairs in the driver's process (numpy)
    top_neighbours = None  # ... and dedup.top_neighbours (scipy)

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        self._kept: _Pool | None = None

    @contextmanager
    def run_scope(self) -> Iterator[None]:
        """Sessions inside share one pool, forked at its first use and closed when the block ends."""
        if self._kept is not None:  # nested: the outer block owns the pool
            yield
            return
        self._kept = _Pool(self.workers)
        try:
            yield
        except BaseException:
            self._kept.terminate()
            raise
        else:
            self._kept.close()
        finally:
            self._kept = None

    @contextmanager
    def session(self, shared: Any, *, workers: int | None = None) -> Iterator[Any]:
        n = self.workers if workers is None else max(1, min(workers, self.workers))
        if n == 1:
            yield _InProcess(shared)
            return
        kept = self._kept
        pool = kept if kept is not None and n == kept.workers else _Pool(n)
        session = _PoolSession(shared, pool, kept=pool is kept)
        try:
            yield session
        except BaseException:
            pool.terminate()  # a kept pool too: a later session forks a new one
            raise
        else:
            if pool is not kept:
                pool.close()

    @contextmanager
    def background(self, shared: Any) -> Iterator[_Background]:
        """One worker besides the pool, forked now (inheriting `shared`), for work not waited for at once
        (`_Background.map_async`); closed when the block ends, after its last item."""
        worker = _Background(shared)
        try:
            yield worker
        except BaseException:
            worker.pool.terminate()
            raise
        else:
            worker.pool.close()
        finally:
            worker.pool.join()

    def map_blocks(self, fn: Callable[[Any, T], R], shared: Any, blocks: Sequence[T]) -> list[R]:
        """Independent blocks of a corpus-wide step (dedup's same-fact comparisons) on the workers: a session
        (the run's pool), each block pickled to one worker, the results in block order."""
        with self.session(shared) as session:
            return session.map(fn, blocks)
