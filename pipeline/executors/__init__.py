"""Executors: run a step's per-item work, here (local process pool) or on a cluster (Ray).

Steps never know where they run. The flow hands an executor a module-level
function `fn(shared, item) -> result`, the items, and the read-only `shared`
context the function needs (the corpus index, settings, ...). The executor
returns the results in the order of the items, whatever its number of
workers, so a run's output does not depend on where or how widely it ran.

`similar_pairs`: how a corpus-wide step finds near-duplicate texts
(`pipeline.minhash.find_similar_pairs`'s arguments and result): None on the
local executor (the step runs it in this process); on Ray, a shuffle across
the cluster's tasks that brings only the pairs back to this process.
`top_neighbours`: the same for dedup's document neighbours
(`pipeline.dedup.top_neighbours`): None locally; on Ray, a shuffle by term.

`map_blocks(fn, shared, blocks)`: independent blocks of a corpus-wide step
(dedup's same-fact comparisons of similar document pairs), each block bringing
what it reads: on the local pool's workers, or one Ray task per block (the
block through the object store); the results in block order.

`background(shared)`: one worker of its own whose `map_async(fn, items)` returns
at once (`ready()`, `get()`), for a few items whose results are wanted later
while this process goes on (ingest's new records in a mostly cached run); None
on Ray (such items run on a session).

`session(shared)` keeps workers (and whatever they built lazily, such as a
translation engine) alive across several `map` calls; `map` on a session
blocks until every result is back. `run_scope()` wraps a whole run: the local
executor forks one pool at its first use and keeps it for every session in the
block (so its workers are forked before the corpus exists, and get the shared
context pickled, not inherited); on Ray it changes nothing. Keep `shared` small:
the corpus's records a function reads go in its items.
"""

from __future__ import annotations

import os
from typing import Any, Callable, ContextManager, Protocol, Sequence, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class ExecutorError(Exception):
    """The configured executor cannot run (Ray missing, cluster unreachable): the run fails with exit 4."""


class Session(Protocol):
    def map(self, fn: Callable[[Any, T], R], items: Sequence[T]) -> list[R]: ...


class Executor(Protocol):
    name: str
    workers: int
    similar_pairs: Callable[..., list[Any]] | None
    top_neighbours: Callable[..., list[tuple[int, int]]] | None
    background: Callable[[Any], ContextManager[Any]] | None

    def map_blocks(self, fn: Callable[[Any, T], R], shared: Any, blocks: Sequence[T]) -> list[R]: ...

    def session(self, shared: Any, *, workers: int | None = None) -> ContextManager[Session]: ...

    def run_scope(self) -> ContextManager[None]: ...


def available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def make_executor(kind: str, workers: int, ray_address: str = "") -> Executor:
    """The executor the config asks for (`run.executor`, `run.workers`, `ray.address`)."""
    if kind == "ray":
        from .ray import RayExecutor

        return RayExecutor(address=ray_address, workers=workers)
    from .local import LocalExecutor

    return LocalExecutor(workers or available_cores())
