"""Files' SHA-256 remembered between runs by their signature, as git's index remembers its files'.

A signature is what the operating system says of a file without reading it: its path, size, mtime,
ctime, inode and device. A file whose signature is the one a hash was taken for has not been written
since (ctime cannot be set back: an edit that restores the mtime still changes it), so the hash stands
and the file need not be read again. Used for the Apertium programs and data a translation depends on
(`pipeline.translate.engine.file_identities`) and for the corpus's files (`pipeline.ingest`: a warm
run does not read an unchanged article).
"""

from __future__ import annotations

import os
import time
from typing import Any, Iterable, Protocol, Sequence

# A file modified or touched (mtime or ctime) less than this before its hash was taken may change again
# within the same timestamps (a "racy" file, as git's index calls it): its hash is not remembered, so it is
# hashed again next run.
RACY_NS = 2_000_000_000


class HashStore(Protocol):
    """Where file hashes are remembered between runs: the run's cache (`pipeline.cache.Cache`)."""

    def get_many(self, kind: str, keys: Sequence[str]) -> dict[str, Any]: ...

    def put_many(self, kind: str, items: Any) -> None: ...


def signature(path: str, st: os.stat_result) -> str:
    """What a remembered hash is trusted for: the same path, size, mtime, ctime, inode and device (a
    package upgrade or a copy writes new files: a new inode and ctime, whatever mtime it sets)."""
    return f"{path}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\0{st.st_ino}\0{st.st_dev}"


def settled(st: os.stat_result) -> bool:
    """Whether a hash taken now of the file `st` describes may be remembered (not written within RACY_NS)."""
    return time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) >= RACY_NS


def known_hashes(hashes: HashStore | None, kind: str, signatures: Sequence[str]) -> dict[str, str]:
    """The remembered hashes of those signatures that have one (one query)."""
    if hashes is None or not signatures:
        return {}
    return {k: v for k, v in hashes.get_many(kind, signatures).items() if isinstance(v, str)}


def remember(hashes: HashStore | None, kind: str, items: Iterable[tuple[str, str]]) -> None:
    """Remember each (signature, hash) in one write. Callers pass only files `settled` when they were hashed."""
    items = list(dict(items).items())
    if hashes is not None and items:
        hashes.put_many(kind, items)
