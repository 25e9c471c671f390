"""Sources of record and their check.

- `write_sources(run_dir, documents)`: writes `sources/<doc_id>.txt` (each
  document's source text, UTF-8, line ends as in the source) and
  `sources/index.json` (each document's origin: file, record, URL, format,
  extractor and version, SHA-256 of the raw input bytes and of the source
  text).
- `verify_run(run_dir, corpus=None) -> VerifyReport`: re-checks a run. Every
  citation of every brief (summary sentences and quotes) must quote its source
  exactly: `source[char_start:char_end] == exact`, the prefix and suffix
  around it match, and `line_start`/`line_end` are the lines of those
  characters; every source file must hash as recorded; and every input file
  that is still there must hash as it did when the run read it.

`python -m pipeline verify RUN_DIR` prints the counts and exits 1 on any
mismatch (2 when RUN_DIR is not a run folder).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from .changes import link_file
from .ingest import file_sha256
from .model import Document

SOURCES_DIR = "sources"
INDEX_NAME = "index.json"
INDEX_FORMAT = 1

log = logging.getLogger("pipeline")


def _sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _input_path(cited: str) -> str:
    """The input's path inside the corpus: Document.path without the corpus folder's name."""
    return cited.split("/", 1)[1] if "/" in cited else cited


def write_sources(run_dir: Path, documents: Sequence[Document],
                  write_index: Callable[[str, list[dict[str, Any]], Callable[[], bytes]], None] | None = None,
                  previous_run: Path | None = None, like: Path | None = None) -> None:
    """Write sources/<doc_id>.txt and sources/index.json into a run folder. `write_index(relative path, entries,
    make)`, when given, puts the index there itself (`make()`: its bytes, a function of the entries).

    `previous_run`: a source whose text the previous run's index lists with the same SHA-256 and length is
    hard-linked from there instead of written again (`like`: a file this run wrote, whose owner and
    permissions the linked file must have); a run folder stays whole on its own, as with
    `pipeline.changes.reuse_previous` (an unchanged corpus: 10,000 files, 49 MB, not written again)."""
    from .render import indented_json

    folder = run_dir / SOURCES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    kept = _previous_sources(previous_run, like)
    want = os.stat(like) if kept else None  # (once, not once per file linked)
    # paths as strings: 10,000 files, each named twice (a Path join costs several times a string's)
    here, before = os.fspath(folder), os.path.join(previous_run, SOURCES_DIR) if previous_run else ""
    entries = []
    for d in documents:
        name = f"{d.doc_id}.txt"
        text = d.source_text  # made from the paragraphs at each access: once here
        sha = _sha256_text(text)
        target = f"{here}/{name}"
        if kept.get(d.doc_id) != (sha, len(text)) or not link_file(
                f"{before}/{name}", target, want):  # type: ignore[arg-type]
            with open(target, "w", encoding="utf-8", newline="") as f:
                f.write(text)
        entries.append({
            "doc_id": d.doc_id, "source": f"{SOURCES_DIR}/{name}", "source_sha256": sha,
            "source_chars": len(text), "file": d.path, "input_path": _input_path(d.path),
            "format": d.format, "record": d.record, "url": d.url, "sha256": d.sha256, "file_sha256": d.file_sha256,
            "extractor": d.extractor, "encoding": d.encoding, "title": d.title, "date": d.date, "author": d.author,
            "site_name": d.site_name, "lang": d.lang, "notes": list(d.notes),
        })
    def make() -> bytes:
        # json.dumps(..., ensure_ascii=False, indent=1), byte for byte, with the C encoder
        return (indented_json({"format": INDEX_FORMAT, "documents": entries}, 1) + "\n").encode("utf-8")

    if write_index is None:
        (folder / INDEX_NAME).write_bytes(make())
    else:
        write_index(f"{SOURCES_DIR}/{INDEX_NAME}", entries, make)


def _previous_sources(previous_run: Path | None, like: Path | None) -> dict[str, tuple[str, int]]:
    """doc_id -> (SHA-256, characters) of the previous run's sources that this run may link: its own files,
    with the owner and permissions of `like`, as its index lists them; {} when there are none."""
    if previous_run is None or like is None:
        return {}
    folder = previous_run / SOURCES_DIR
    try:
        want, st = os.stat(like), os.stat(folder / INDEX_NAME)
        if (st.st_uid, stat.S_IMODE(st.st_mode)) != (want.st_uid, stat.S_IMODE(want.st_mode)):
            return {}
        data = json.loads((folder / INDEX_NAME).read_text(encoding="utf-8"))
        return {e["doc_id"]: (e["source_sha256"], e["source_chars"]) for e in data["documents"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.debug("sources not linked from %s: %s", previous_run, exc)
        return {}


class VerifyError(Exception):
    """RUN_DIR is not a run folder with sources (the message says what is missing)."""


@dataclass
class VerifyReport:
    documents: int = 0
    sources_ok: int = 0
    inputs_ok: int = 0
    inputs_missing: int = 0
    citations: int = 0
    citations_ok: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {"documents": self.documents, "sources_ok": self.sources_ok, "inputs_ok": self.inputs_ok,
                "inputs_missing": self.inputs_missing, "citations": self.citations,
                "citations_ok": self.citations_ok, "mismatches": len(self.problems), "ok": self.ok}


def _line_of(text: str, offset: int) -> int:
    """1-based line number of text[offset] (\\n, \\r\\n and \\r end a line, as ingest counts)."""
    head = text[:offset]
    return head.count("\n") + head.count("\r") - head.count("\r\n") + 1


def _check_citation(c: dict[str, Any], sources: dict[str, str], where: str) -> str | None:
    source = sources.get(c.get("doc_id", ""))
    if source is None:
        return f"{where}: document {c.get('doc_id')!r} has no source in sources/index.json"
    start, end = c.get("char_start"), c.get("char_end")
    if not isinstance(start, int) or not isinstance(end, int) or not 0 <= start < end <= len(source):
        return f"{where}: char_start/char_end {start}-{end} outside the source ({len(source)} characters)"
    if source[start:end] != c.get("exact"):
        return f"{where}: source[{start}:{end}] is {source[start:end][:60]!r}, the citation says {str(c.get('exact'))[:60]!r}"
    if not source[:start].endswith(c.get("prefix", "")) or not source[end:].startswith(c.get("suffix", "")):
        return f"{where}: prefix or suffix does not surround the exact text in the source"
    lines = (_line_of(source, start), _line_of(source, end - 1))
    if lines != (c.get("line_start"), c.get("line_end")):
        return f"{where}: lines {c.get('line_start')}-{c.get('line_end')} cited, the characters are on lines {lines[0]}-{lines[1]}"
    return None


def verify_run(run_dir: Path, corpus: Path | None = None) -> VerifyReport:
    """Check a run's citations against its sources, the sources against their hashes, the inputs against theirs.

    corpus: where the inputs are (default: the run's manifest's "corpus", when it still exists).
    """
    index_path = run_dir / SOURCES_DIR / INDEX_NAME
    if not index_path.is_file():
        raise VerifyError(f"{run_dir}: no {SOURCES_DIR}/{INDEX_NAME}; pass a run folder (outputs/runs/<run-id> "
                          "or outputs/latest) written by this version of pipeline")
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
        entries = index["documents"]
    except (ValueError, KeyError, TypeError) as exc:
        raise VerifyError(f"{index_path}: not a sources index ({exc})") from None
    if corpus is None:
        try:
            manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
            corpus = Path(manifest["corpus"])
        except (OSError, ValueError, KeyError, TypeError):
            corpus = None
    report = VerifyReport(documents=len(entries))
    sources: dict[str, str] = {}
    hashed_inputs: dict[str, str] = {}
    for e in entries:
        path = run_dir / e["source"]
        try:
            with path.open("r", encoding="utf-8", newline="") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError) as exc:
            report.problems.append(f"{e['source']}: cannot read ({exc})")
            continue
        if _sha256_text(text) != e["source_sha256"]:
            report.problems.append(f"{e['source']}: SHA-256 differs from sources/index.json (the source was changed)")
        else:
            report.sources_ok += 1
        sources[e["doc_id"]] = text
        if corpus is None:
            report.inputs_missing += 1
            continue
        original = corpus / e["input_path"]
        if not original.is_file():
            report.inputs_missing += 1
            continue
        key = str(original)
        if key not in hashed_inputs:
            hashed_inputs[key] = file_sha256(original)
        if hashed_inputs[key] != e["file_sha256"]:
            report.problems.append(f"{e['file']}: the input file changed since the run (SHA-256 differs)")
        else:
            report.inputs_ok += 1
    for brief_path in sorted((run_dir / "briefs").glob("*.json")):
        try:
            brief = json.loads(brief_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            report.problems.append(f"{brief_path.name}: cannot read ({exc})")
            continue
        items = [("summary", s) for s in brief.get("summary", [])] + [("quote", q) for q in brief.get("quotes", [])]
        for kind, item in items:
            for c in item.get("citations", []):
                report.citations += 1
                problem = _check_citation(c, sources, f"{brief_path.name} {kind} citation [{c.get('number')}]")
                if problem:
                    report.problems.append(problem)
                else:
                    report.citations_ok += 1
    return report
