"""The local executor: a pool of worker processes on this machine (default: one per core).

Workers are forked, so the shared context (corpus index, dedup groups,
settings) is inherited, not copied through a pipe; only the items and the
results travel. With one worker, or one item, everything runs in this
process. Results come back in item order.
"""

from __future__ import annotations

import multiprocessing
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# Set in each worker process by the pool's initializer (fork: inherited, never pickled).
_worker_shared: Any = None


def _init_worker(shared: Any) -> None:
    global _worker_shared
    _worker_shared = shared


def _call(packed: tuple[Callable[[Any, Any], Any], Any]) -> Any:
    fn, item = packed
    return fn(_worker_shared, item)


class _InProcess:
    def __init__(self, shared: Any) -> None:
        self.shared = shared

    def map(self, fn: Callable[[Any, T], R], items: Sequence[T]) -> list[R]:
        return [fn(self.shared, item) for item in items]


class _PoolSession:
    def __init__(self, shared: Any, workers: int) -> None:
        self.shared = shared
        self.workers = workers
        self._pool: Any = None

    def map(self, fn: Callable[[Any, T], R], items: Sequence[T]) -> list[R]:
        if len(items) <= 1:
            return [fn(self.shared, item) for item in items]
        if self._pool is None:  # forked on first use, after the shared context is complete
            ctx = multiprocessing.get_context("fork")
            self._pool = ctx.Pool(self.workers, initializer=_init_worker, initargs=(self.shared,))
        return self._pool.map(_call, [(fn, item) for item in items], chunksize=1)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool.join()
            self._pool = None

    def terminate(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None


class LocalExecutor:
    name = "local"
    similar_pairs = None  # corpus-wide steps run find_similar_pairs in the driver's process (numpy)
    top_neighbours = None  # ... and dedup.top_neighbours (scipy)

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)

    @contextmanager
    def session(self, shared: Any, *, workers: int | None = None) -> Iterator[Any]:
        n = self.workers if workers is None else max(1, min(workers, self.workers))
        if n == 1:
            yield _InProcess(shared)
            return
        session = _PoolSession(shared, n)
        try:
            yield session
        except BaseException:
            session.terminate()
            raise
        else:
            session.close()
