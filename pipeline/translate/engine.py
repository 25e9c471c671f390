"""Apertium language pairs as long-lived, null-flushed process pipelines.

A pair's mode file (`/usr/share/apertium/modes/<pair>.mode`) is the shell
pipeline the `apertium` front end runs: lt-proc, apertium-tagger,
apertium-transfer, ... This module starts those stages itself, once per pair
and process lifetime, each with `-z` (flush at every NUL byte), chained by
pipes, with no shell in between: every stage's exit status is seen (there is
no `a | b` whose failing first stage is hidden), and texts stream through
without starting ~12 processes per pair for every call.

Each text is one segment, written as Apertium's plain-text deformatter would
(reserved characters escaped with a backslash), ended by an empty superblank
(`[]`, without which the last word waits for more input) and a NUL. Output
segments come back in order, one per NUL, so alignment is by construction;
a count that does not match is an engine failure.

Failures are `EngineFailure`: a stage that exits, a pipeline that produces
nothing for `timeout_s` seconds (hung), a missing mode file or program (the
message names the Debian package to install).
"""

from __future__ import annotations

import hashlib
import os
import re
import select
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
import weakref
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

from ..file_hashes import HashStore, known_hashes, remember, settled, signature
from . import EngineFailure, TranslationError

# Which Debian package ships each mode this project uses (apt-cache search apertium).
PAIR_PACKAGES = {
    "fr-es": "apertium-fr-es", "es-fr": "apertium-fr-es",
    "spa-eng": "apertium-eng-spa", "eng-spa": "apertium-eng-spa",
    "fra-cat": "apertium-fra-cat", "cat-fra": "apertium-fra-cat",
    "cat-eng": "apertium-eng-cat", "eng-cat": "apertium-eng-cat",
    "spa-cat": "apertium-spa-cat", "cat-spa": "apertium-spa-cat",
    "ita-cat": "apertium-cat-ita", "cat-ita": "apertium-cat-ita",
    "ita-spa": "apertium-spa-ita", "spa-ita": "apertium-spa-ita",
    "pt-es": "apertium-es-pt", "es-pt": "apertium-es-pt",
    "por-cat": "apertium-por-cat", "cat-por": "apertium-por-cat",
    "fr-eo": "apertium-eo-fr", "eo-en": "apertium-eo-en",
}
_NULL_FLUSH = frozenset(
    "lt-proc apertium-tagger apertium-pretransfer lrx-proc apertium-transfer apertium-interchunk "
    "apertium-postchunk cg-proc lsx-proc apertium-anaphora".split()
)
_RESERVED = re.compile(r"([\\\[\]^$/@*<>{}])")
_SUPERBLANK = re.compile(r"\\(.)|\[((?:\\.|[^\]\\])*)\]", re.DOTALL)
_END = "[]"


def package_for(pair: str) -> str:
    return PAIR_PACKAGES.get(pair, f"the Debian package that provides the Apertium mode {pair!r} (apt-cache search apertium)")


def data_dirs() -> list[Path]:
    dirs = [os.environ.get("APERTIUM_DATADIR", ""), "/usr/share/apertium", "/usr/local/share/apertium"]
    return [Path(d) for d in dirs if d]


def mode_file(pair: str) -> Path:
    """The mode file of `pair`; EngineFailure naming the package when it is not installed."""
    if not re.fullmatch(r"[a-z]{2,3}(?:_[A-Za-z0-9]+)?-[a-z]{2,3}(?:_[A-Za-z0-9]+)?", pair):
        raise EngineFailure(f"{pair!r} is not an Apertium pair name (like 'fr-es' or 'spa-eng'); check translate.apertium_pairs")
    for d in data_dirs():
        if (d / "modes" / f"{pair}.mode").is_file():
            return d / "modes" / f"{pair}.mode"
    raise EngineFailure(
        f"Apertium pair {pair!r} is not installed (no {pair}.mode in {', '.join(str(d / 'modes') for d in data_dirs())}); "
        f"install it with 'apt-get install -y {package_for(pair)}'"
    )


def stages(pair: str, *, marks: bool = True) -> list[list[str]]:
    """The mode's commands, `$1`/`$2` filled as the `apertium` front end does, `-z` added, programs resolved.
    Read once per mode file (its size and time) and PATH: a run asks for a pair's stages several times
    (its process, its analyser, its identity, for every route), each of a dozen programs looked up on PATH."""
    mode = mode_file(pair)
    st = mode.stat()
    return [list(argv) for argv in _stages(pair, str(mode), st.st_size, st.st_mtime_ns, marks,
                                           os.environ.get("PATH", os.defpath))]


@lru_cache(maxsize=64)
def _stages(pair: str, mode: str, _size: int, _mtime_ns: int, marks: bool, _path: str) -> tuple[tuple[str, ...], ...]:
    text = Path(mode).read_text(encoding="utf-8")
    text = text.replace("$1", "-g" if marks else "-n").replace("$2", "")
    out = []
    for part in text.strip().split("|"):
        argv = shlex.split(part)
        if not argv:
            raise EngineFailure(f"Apertium mode {pair!r}: empty stage in {mode}")
        exe = shutil.which(argv[0])
        if exe is None:
            raise EngineFailure(f"Apertium mode {pair!r} runs {argv[0]!r}, which is not on PATH; "
                                "install it with 'apt-get install -y apertium'")
        out.append((exe, "-z", *argv[1:]) if Path(argv[0]).name in _NULL_FLUSH else (exe, *argv[1:]))
    return tuple(out)


@lru_cache(maxsize=256)
def _file_hash(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# The cache kind of an Apertium file's SHA-256, keyed by its signature (`pipeline.file_hashes.signature`)
FILE_HASHES = "apertium_file_sha256"


def file_identities(paths: Sequence[str], hashes: HashStore | None = None) -> list[list[Any]]:
    """`file_identity` of each path. With `hashes` (the run's cache), a file's SHA-256 is read from
    there when its signature (path, size, mtime, ctime, inode) is the one it was taken for, and stored
    there when it is taken, unless the file was modified within `pipeline.file_hashes.RACY_NS` of that (hashed
    again every run until it has settled). Without it, a run with 8 pairs read 116 files, 37 MB (0.4-0.5 s
    wall on a loaded host)."""
    found: list[tuple[str, str, os.stat_result] | None] = []
    for path in paths:
        real = os.path.realpath(path)
        try:
            found.append((path, real, os.stat(real)))
        except OSError:
            found.append(None)
    known = known_hashes(hashes, FILE_HASHES, [signature(f[1], f[2]) for f in found if f is not None])
    out: list[list[Any]] = []
    new: list[tuple[str, str]] = []
    for path, f in zip(paths, found):
        if f is None:
            out.append([path, "missing"])
            continue
        _, real, st = f
        sig = signature(real, st)
        digest = known.get(sig)
        if digest is None:
            digest = _file_hash(real, st.st_size, st.st_mtime_ns)
            if settled(st):
                new.append((sig, digest))
        out.append([path, real, st.st_size, st.st_mtime_ns, digest])
    remember(hashes, FILE_HASHES, new)
    return out


def file_identity(path: str) -> list[Any]:
    """Resolved path, size, mtime and SHA-256 of a file that shapes the output."""
    return file_identities([path])[0]


def pair_identity(pair: str, hashes: HashStore | None = None) -> list[Any]:
    """What a pair's output depends on: the mode file, each program run and each data file it reads.
    `hashes`: where file hashes are remembered between runs (`file_identities`)."""
    mode = mode_file(pair)
    argvs = stages(pair)
    data = sorted({a for argv in argvs for a in argv[1:] if a.startswith("/")})
    files = file_identities([str(mode), *(argv[0] for argv in argvs), *data], hashes)
    return [pair, files[0], files[1:1 + len(argvs)], files[1 + len(argvs):]]


def escape(text: str) -> str:
    """Plain text as Apertium's stream format (what apertium-destxt does to one line)."""
    return _RESERVED.sub(r"\\\1", text)


def unformat(stream: str) -> str:
    """Stream format back to text (what apertium-retxt does): superblanks opened, escapes removed."""
    return _SUPERBLANK.sub(lambda m: m.group(1) if m.group(1) is not None else
                           re.sub(r"\\(.)", r"\1", m.group(2)), stream)


def _kill(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
    for p in procs:
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


class PairProcess:
    """One Apertium pair, started on first use and kept running; `run(segments)` streams them through."""

    def __init__(self, pair: str, *, timeout_s: float = 60.0, marks: bool = True,
                 argvs: list[list[str]] | None = None) -> None:
        self.pair = pair
        self.timeout_s = timeout_s
        self.marks = marks
        # the mode's stages, or given ones (a pair's analyser alone); fails now when the pair is missing
        self.argvs = argvs if argvs is not None else stages(pair, marks=marks)
        self._procs: list[subprocess.Popen[bytes]] = []
        self._stderr = tempfile.TemporaryFile()
        self._lock = threading.Lock()
        self._finalizer = weakref.finalize(self, _kill, self._procs)

    def _start(self) -> None:
        prev = None
        for argv in self.argvs:
            p = subprocess.Popen(argv, stdin=prev.stdout if prev else subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=self._stderr, start_new_session=True)
            if prev is not None and prev.stdout is not None:
                prev.stdout.close()  # only the next stage holds it
            self._procs.append(p)
            prev = p

    def start(self) -> None:
        """Start the pair's processes now, if they are not running (they load their data meanwhile)."""
        with self._lock:
            if not self._procs:
                self._start()

    def close(self) -> None:
        _kill(self._procs)
        self._procs.clear()

    def _failure(self, what: str) -> EngineFailure:
        time.sleep(0.05)  # let a dying stage finish writing its message
        codes = [(Path(a[0]).name, p.poll()) for a, p in zip(self.argvs, self._procs)]
        self.close()
        self._stderr.seek(0)
        lines = self._stderr.read().decode("utf-8", "replace").strip().splitlines()
        self._stderr.seek(0)
        self._stderr.truncate()
        failed = [f"{name} exited {code}" for name, code in codes if code not in (None, 0, -9)]
        detail = "; ".join(failed + lines[-2:]) or "no message"
        return EngineFailure(f"apertium {self.pair}: {what} ({detail}); check the Apertium installation "
                             f"('apt-get install --reinstall apertium {package_for(self.pair)}')")

    def run(self, segments: Sequence[str]) -> list[str]:
        """Each segment (stream format, no NUL) through the pair; one output per segment, in order."""
        if not segments:
            return []
        with self._lock:
            if not self._procs or any(p.poll() is not None for p in self._procs):
                self.close()
                self._start()
            return self._run(segments)

    def _run(self, segments: Sequence[str]) -> list[str]:
        # each segment opens with its number as a superblank, which every stage passes through
        # untouched: an output that does not start with its own number is misaligned
        payload = "".join(f"[{i}]" + s.replace("\0", " ") + _END + "\0" for i, s in enumerate(segments)).encode("utf-8")
        first, last = self._procs[0], self._procs[-1]
        assert first.stdin is not None and last.stdout is not None
        write_error: list[BaseException] = []

        def write() -> None:
            try:
                first.stdin.write(payload)  # type: ignore[union-attr]
                first.stdin.flush()  # type: ignore[union-attr]
            except (BrokenPipeError, OSError) as exc:
                write_error.append(exc)

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        fd = last.stdout.fileno()
        chunks: list[bytes] = []
        count = 0
        while count < len(segments):
            ready, _, _ = select.select([fd], [], [], self.timeout_s)
            if not ready:
                raise self._failure(f"no output for {self.timeout_s:g} s (translate.timeout_s); the engine hangs")
            data = os.read(fd, 1 << 16)
            if not data:
                raise self._failure(f"stopped after {count} of {len(segments)} texts")
            count += data.count(b"\0")
            chunks.append(data)
        writer.join(self.timeout_s)
        if write_error or writer.is_alive():
            raise self._failure("input could not be written")
        out = b"".join(chunks).decode("utf-8", "replace").split("\0")
        if len(out) != len(segments) + 1 or out[-1] or any(not o.startswith(f"[{i}]") for i, o in enumerate(out[:-1])):
            raise self._failure(f"returned {len(out) - 1} texts for {len(segments)}, out of order; "
                                "the alignment was lost")
        out = [o[len(f"[{i}]"):] for i, o in enumerate(out[:-1])]
        return [o[: -len(_END)] if o.endswith(_END) else o for o in out]


def analyser(pair: str, *, timeout_s: float = 60.0) -> PairProcess:
    """The first stage of `pair` alone (its morphological analyser), kept running."""
    return PairProcess(pair, timeout_s=timeout_s, argvs=stages(pair)[:1])


def run_pair(process: PairProcess, texts: Sequence[str]) -> list[str]:
    """Plain texts through a pair, plain texts back (escaping and unformatting around `PairProcess.run`)."""
    return [unformat(o) for o in process.run([escape(t) for t in texts])]


def require_apertium() -> None:
    if shutil.which("lt-proc") is None:
        raise EngineFailure(
            "apertium is not installed (no lt-proc on PATH); install it with "
            "'apt-get install -y apertium apertium-fr-es apertium-eng-spa' (scripts/setup.sh does this)"
        )


__all__ = ["PairProcess", "EngineFailure", "TranslationError", "escape", "unformat", "mode_file", "stages",
           "pair_identity", "file_identities", "FILE_HASHES", "package_for", "run_pair", "require_apertium"]
