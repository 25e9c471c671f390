"""dedup.json, written line by line, each group's line taken from the previous run's file when its content is
unchanged.

dedup.json (70 MB at 10,000 articles) is `{"groups": [` then one group per line, then `]}`: each line is the
group's record (`group_record`) as `json.dumps(..., ensure_ascii=False)` writes it, lines separated by ",\\n"
(one JSON document, readable and greppable). Groups are numbered in the order dedup gives them, so one new
group renumbers every group after it, although most groups' content is the same as in the previous run (90%
of the lines when 1% new articles join the corpus).

A group's line is a function of its `group_id` and of its content: level, canonical member, each member's id,
relation and score, and what `where` writes of each member (file, paragraph, lines, text), which is a function
of the member's document: its place, record, bytes and extractor, with `documents_key` (the ingest code and
settings) and this code. `line_keys` hashes that content (not the id) per group. Next to dedup.json a run
writes `dedup-lines.npz` (`LINES_FILE`): the SHA-256 of its dedup.json, and for each line the group's key
and where the line's text after the group id starts and ends. The next run, for a group whose key is there,
copies those bytes after its own `{"group_id": "<id>"`: the very bytes it would encode (a test writes both
ways and compares). The previous dedup.json is read in windows (it is 0.7 GB at 100,000 articles), and used
only when its SHA-256 is the one the index records (the file as that run wrote it); otherwise every line
is encoded, as in a run with no previous one.
"""

from __future__ import annotations

import hashlib
import json
from json.encoder import c_make_encoder, encode_basestring
import logging
import marshal
from operator import attrgetter
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Sequence

import numpy as np

from ..corpus_index import CorpusIndex
from ..model import DupGroup

log = logging.getLogger("pipeline")

LINES_FILE = "dedup-lines.npz"
LINES_FORMAT = 1
KEY_BYTES = 16
_HEAD, _SEPARATOR, _TAIL = b'{"groups": [\n', b",\n", b"\n]}\n"
_CHUNK = 1 << 20  # bytes per write: the lines are joined into pieces of about this size
_WINDOW = 4 << 20  # bytes of the previous dedup.json read at once


def group_record(g: DupGroup, index: CorpusIndex) -> dict[str, Any]:
    """A group's record in dedup.json: its id, level, canonical member and members, each member with where it is
    (what `CorpusIndex.cite` says of it, without the selectors) and its text."""
    sentences, paragraphs, documents = index.sentences, index.paragraphs, index.documents
    members = []
    for m in g.members:  # (each member's record made in one go: 185,000 of them at 10,000 articles)
        sentence = sentences.get(m.id)
        if sentence is not None:
            p = paragraphs[sentence.pid]
            members.append({"id": m.id, "relation": m.relation, "score": m.score, "file": documents[p.doc_id].path,
                            "paragraph": p.index, "line_start": sentence.line_start, "line_end": sentence.line_end,
                            "text": sentence.text})
        else:
            p = paragraphs[m.id]
            members.append({"id": m.id, "relation": m.relation, "score": m.score, "file": documents[p.doc_id].path,
                            "paragraph": p.index, "line_start": p.line_start, "line_end": p.line_end,
                            "text": p.text})
    return {"group_id": g.group_id, "level": g.level, "canonical": g.canonical, "members": members}


# `json.dumps(value, ensure_ascii=False)`, called as the C encoder directly (json.dumps makes a new one, and checks
# for cycles, each time: once per group here; a record holds none); None without the _json module.
_C_ENCODE = c_make_encoder(None, json.JSONEncoder().default, encode_basestring, None, ": ", ", ", False, False, True) \
    if c_make_encoder is not None else None


def _dumps(value: Any) -> str:
    return "".join(_C_ENCODE(value, 0)) if _C_ENCODE is not None else json.dumps(value, ensure_ascii=False)


def line_keys(groups: Sequence[DupGroup], index: CorpusIndex, fixed: str) -> list[bytes]:
    """Each group's key: a hash of what its line holds but its id (see the module's docstring); `fixed`: what
    every line is a function of besides (this code, the ingest code and settings). A member's document is the
    part of its id before the ':' (document ids contain none: `pipeline.ingest`)."""
    start = hashlib.blake2b(fixed.encode(), digest_size=KEY_BYTES)
    idents = {d.doc_id: marshal.dumps((d.doc_id, d.path, d.record, d.sha256, d.format, d.extractor), 2)
              for d in index.documents.values()}
    fields = attrgetter("id", "relation", "score")
    out = []
    for g in groups:
        members = list(map(fields, g.members))
        h = start.copy()
        h.update(marshal.dumps((g.level, g.canonical, members), 2))  # (self-delimiting, as each identity is)
        for doc_id in dict.fromkeys([m[0].partition(":")[0] for m in members]):
            h.update(idents[doc_id])
        out.append(h.digest())
    return out


class PreviousLines:
    """The previous run's dedup.json lines by group key (`LINES_FILE`); empty when there is no previous run, no
    index, or a dedup.json that is not the one the index describes (said in the log). The file is read in
    windows of `_WINDOW` bytes (lines are asked for mostly in the order of the file): neither it nor a map of it
    is held whole (0.7 GB at 100,000 articles). `close()` when done."""

    def __init__(self, previous_run: Path | None) -> None:
        self.spans: dict[bytes, tuple[int, int]] = {}
        self.file: BinaryIO | None = None
        self.window, self.window_at = b"", 0
        if previous_run is None:
            return
        try:
            with np.load(previous_run / LINES_FILE, allow_pickle=False) as z:
                if int(z["format"]) != LINES_FORMAT:
                    return
                sha = bytes(z["sha256"]).hex()
                keys, starts, ends = bytes(z["keys"]), z["starts"].tolist(), z["ends"].tolist()
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.info("dedup.json: %s unreadable (%s): every group's line is encoded", previous_run / LINES_FILE, exc)
            return
        try:
            f = open(previous_run / "dedup.json", "rb")
        except OSError as exc:
            log.info("dedup.json: the previous run's is unreadable (%s): every group's line is encoded", exc)
            return
        h = hashlib.sha256()
        try:
            for chunk in iter(lambda: f.read(_WINDOW), b""):
                h.update(chunk)
            size = f.tell()
        except OSError as exc:
            f.close()
            log.info("dedup.json: the previous run's is unreadable (%s): every group's line is encoded", exc)
            return
        if h.hexdigest() != sha or len(keys) != KEY_BYTES * len(starts) or len(starts) != len(ends) or (
                ends and max(ends) > size):
            f.close()
            log.info("dedup.json: the previous run's is not the file its %s describes: every group's line is encoded",
                     LINES_FILE)
            return
        self.file = f
        self.spans = {keys[i * KEY_BYTES:(i + 1) * KEY_BYTES]: (s, e) for i, (s, e) in enumerate(zip(starts, ends))}

    def tail(self, key: bytes) -> bytes | None:
        """The bytes of the line of the group with this key after its group id; None: not in the previous file."""
        span = self.spans.get(key)
        if span is None or self.file is None:
            return None
        start, end = span
        if start < self.window_at or end > self.window_at + len(self.window):
            self.file.seek(start)
            self.window, self.window_at = self.file.read(max(_WINDOW, end - start)), start
        return self.window[start - self.window_at:end - self.window_at]

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


class LineIndex:
    """Where each line of the dedup.json being written starts and ends (after its group id), by group key:
    `LINES_FILE`, written once the file's SHA-256 is known (`save`)."""

    def __init__(self, keys: list[bytes]) -> None:
        self.keys = keys
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.reused = 0

    def save(self, path: Path, sha256: str) -> None:
        with open(path, "wb") as f:
            np.savez(f, format=np.array(LINES_FORMAT), sha256=np.frombuffer(bytes.fromhex(sha256), dtype=np.uint8),
                     keys=np.frombuffer(b"".join(self.keys), dtype=np.uint8),
                     starts=np.array(self.starts, dtype=np.int64), ends=np.array(self.ends, dtype=np.int64))


def dedup_file_parts(groups: Sequence[DupGroup], index: CorpusIndex, lines: LineIndex | None = None,
                     previous: PreviousLines | None = None) -> Iterator[bytes]:
    """dedup.json's bytes in pieces of about `_CHUNK` bytes: every group's `group_record` one per line, as the
    module's docstring describes. With `lines` (each group's key, `line_keys`), where each line is goes into
    it, and a group whose key `previous` holds has its line copied from there after its own id."""
    pieces: list[bytes] = [_HEAD]
    size = at = len(_HEAD)
    separator = b""
    for i, g in enumerate(groups):
        head = b'{"group_id": ' + encode_basestring(g.group_id).encode("utf-8")  # (json.dumps of a string)
        tail = previous.tail(lines.keys[i]) if previous is not None and lines is not None else None
        if tail is None:
            text = _dumps(group_record(g, index)).encode("utf-8")
            assert text.startswith(head)  # (the record's first member is its id)
            tail = text[len(head):]
        elif lines is not None:
            lines.reused += 1
        line = separator + head + tail
        if lines is not None:
            lines.starts.append(at + len(line) - len(tail))
            lines.ends.append(at + len(line))
        pieces.append(line)
        size += len(line)
        at += len(line)
        separator = _SEPARATOR
        if size >= _CHUNK:
            yield b"".join(pieces)
            pieces, size = [], 0
    pieces.append(_TAIL)
    yield b"".join(pieces)


def link_lines(previous_run: Path | None, run_dir: Path) -> None:
    """The previous run's `LINES_FILE`, hard-linked next to a dedup.json linked from there (the same file: the
    index still describes it, and `PreviousLines` checks that before using it)."""
    from ..changes import link_file

    if previous_run is not None:
        link_file(previous_run / LINES_FILE, run_dir / LINES_FILE, run_dir / "index.md")
