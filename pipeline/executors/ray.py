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

Ray is an optional extra: `pip install '.[ray]'`.
"""

from __future__ import annotations

import logging
import os
import socket
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence, TypeVar

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

    def __init__(self, address: str = "", workers: int = 0) -> None:
        self.address = address
        self._ray = connect(address)  # before any work: a cluster that cannot be reached fails the run at once
        cpus = int(self._ray.cluster_resources().get("CPU", 1))
        if workers > cpus:  # an actor takes one CPU: more actors than CPUs would wait forever
            log.warning("ray: run.workers is %d but the cluster has %d CPUs; using %d actors", workers, cpus, cpus)
        self.workers = max(1, min(workers or cpus, cpus))

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
