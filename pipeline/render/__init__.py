"""Render briefs as Markdown (Jinja2 templates), JSON (versioned schema) and review HTML.

- `render_markdown(brief, run_id)`, `render_index(...)`: Markdown that reads on
  its own (GitHub/GitLab render it);
- `brief_to_dict(brief, run_id)`: the JSON form, valid against
  `brief.schema.json` (`SCHEMA_VERSION`, `schema()`);
- `pipeline.render.review`: the offline review site (one HTML page per brief
  and an index), see `review_jobs` and `write_review_site`.

Citations are numbered once per brief, in order of first use: the summary's
first, then the quotes'. A number always names one source sentence.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import marshal
import os
import re
import stat
import typing
import zlib
from dataclasses import dataclass, fields
from functools import lru_cache
from importlib import resources
from operator import attrgetter
from pathlib import Path
from json.encoder import encode_basestring as _encode_string  # the C escaper (ensure_ascii=False)
from json.encoder import c_make_encoder as _c_make_encoder  # the C encoder (None without the _json module)
from typing import TYPE_CHECKING, Any, Callable, Sequence

from jinja2 import Environment, PackageLoader, StrictUndefined

from ..model import Brief, Citation, Quote, RelatedSource, SourceInfo, SummarySentence

if TYPE_CHECKING:
    from ..changes import Changes

# 1.1: quotes (with speaker, attribution and citations); citations of quotes
# share the brief's numbering.
# 2.0: citations point into the source of record (sources/<doc_id>.txt) and
# check byte for byte: char_start, char_end, exact, prefix, suffix (W3C
# TextPositionSelector + TextQuoteSelector), url; line numbers are lines of
# the source of record (for .txt/.md, the file itself). Sources gain url,
# record and notes ("feed summary only"). Document ids contain no ':'. Story ids are
# stable across runs (story-<8 hex>). Summary sentences say where each language's
# text comes from (fr_origin, en_origin: "source" = a source sentence verbatim,
# "machine" = machine-translated); quotes likewise (en_origin). An optional
# `changes` object says what changed since the previous run.
# 3.0: `run_id` becomes `updated_in`, the run that wrote the brief; a later run whose brief of the story is
# the same links that file instead of writing it (`pipeline.flow.RenderStep.write_briefs`), so a brief file
# depends on the story's history, not on the run that shows it; `changes` says what changed in `updated_in`.
SCHEMA_VERSION = "3.0"

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>])")
# Line breaks (CommonMark ends a line at \r too) and other control characters: in corpus text they
# would start a new Markdown block (a heading, a list) inside a line of the brief.
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")
_BACKTICKS = re.compile(r"`+")
# Any character `_md_text` changes (markup or control): most texts hold none, and are returned as they are.
_MD_CHANGED = re.compile(r"[\\`*_\[\]<>\x00-\x1f\x7f\x85\u2028\u2029]")


def _one_line(text: str) -> str:
    return _CONTROL.sub(" ", text)


def _md_text(text: str) -> str:
    """Corpus text as Markdown text: markup characters escaped, so `<b>` or `*x*` show as written."""
    return _MD_SPECIAL.sub(r"\\\1", _one_line(text)) if _MD_CHANGED.search(text) else text


def _md_plain(text: str) -> str:
    """Our own messages (warnings, engines) in Markdown: only raw HTML is neutralised, `code` stays code."""
    return re.sub(r"([<>])", r"\\\1", _one_line(text))


def _md_cell(text: str) -> str:
    return _md_text(text).replace("|", "\\|")


def _md_code(text: str) -> str:
    """A file name as a Markdown code span that no character of it can end: the fence is one backtick
    longer than the longest run inside, control characters are shown escaped (a newline as \\n), so
    nothing in the name becomes markup or HTML."""
    shown = _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text) \
        if _CONTROL.search(text) else text
    fence = "`" * (max((len(r) for r in _BACKTICKS.findall(shown)), default=0) + 1) if "`" in shown else "`"
    pad = " " if shown.startswith(("`", " ")) or shown.endswith(("`", " ")) else ""
    return f"{fence}{pad}{shown}{pad}{fence}"


def _md_code_cell(text: str) -> str:
    """`_md_code` inside a table row: a `|` would end the cell even in a code span (GFM), so it is escaped."""
    return _md_code(text).replace("|", "\\|")


@lru_cache(maxsize=1)
def _environment() -> Environment:
    """The Markdown templates' environment, built once (templates compile once per process)."""
    env = Environment(
        loader=PackageLoader("pipeline.render", "templates"),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # Markdown, not HTML: corpus text goes through md_text / md_cell
    )
    env.filters["md_cell"] = _md_cell
    env.filters["md_text"] = _md_text
    env.filters["md_plain"] = _md_plain
    env.filters["md_code"] = _md_code
    env.filters["md_code_cell"] = _md_code_cell
    return env


def lines_label(start: int, end: int) -> str:
    return f"line {start}" if start == end else f"lines {start}–{end}"


def citation_numbers(brief: Brief) -> dict[str, int]:
    """Number each cited source sentence once, in order of first use (summary, then quotes)."""
    numbers: dict[str, int] = {}
    for item in (*brief.summary, *brief.quotes):
        for c in item.citations:
            numbers.setdefault(c.sid, len(numbers) + 1)
    return numbers


def cited_sentences(brief: Brief) -> dict[str, Citation]:
    return {c.sid: c for item in (*brief.summary, *brief.quotes) for c in item.citations}


def n_sources(item: SummarySentence | Quote) -> int:
    return len({c.doc_id for c in item.citations})


def _refs(item: SummarySentence | Quote, numbers: dict[str, int]) -> str:
    return "".join(f"[{numbers[c.sid]}]" for c in item.citations)


def render_markdown(brief: Brief, run_id: str, changes: "Changes | None" = None) -> str:
    """The brief in Markdown as run `run_id` writes it; with `changes` (pipeline.changes), a "Changes in run
    <run_id>, since <previous run>" section."""
    return markdown_head(brief, run_id, changes, markdown_body(brief))


def markdown_head(brief: Brief, run_id: str, changes: "Changes | None", body: str) -> str:
    """The brief's Markdown from its body (`markdown_body`): headline, the run that writes it, changes, then the
    body (last: the Markdown with `body` "" is the file's head, `previous_bodies`)."""
    return _environment().get_template("brief.md.j2").render(
        brief=brief, run_id=run_id, n_docs=len(brief.sources), changes=changes, body=body)


def markdown_body(brief: Brief) -> str:
    """The brief's Markdown from the summary on: a function of the brief alone (no run id, no changes)."""
    numbers = citation_numbers(brief)
    by_sid = cited_sentences(brief)
    sentences = [
        {"text_fr": s.text_fr, "text_en": s.text_en, "refs": _refs(s, numbers), "n_sources": n_sources(s),
         "flagged": s.flagged, "fr_origin": s.fr_origin, "en_origin": s.en_origin}
        for s in brief.summary
    ]
    quotes = [
        {"text_fr": q.text_fr, "text_en": q.text_en, "speaker": q.speaker, "speaker_en": q.speaker_en or q.speaker,
         "refs": _refs(q, numbers), "n_sources": n_sources(q), "en_origin": q.en_origin}
        for q in brief.quotes
    ]
    return _environment().get_template("_brief_body.md.j2").render(
        brief=brief, sentences=sentences, quotes=quotes, n_docs=len(brief.sources),
        citations_md=_citations_md(numbers, by_sid), sources_md=_sources_md(brief.sources))


# The body's long lists (a citation per copy of each summary sentence: 100 lines in a brief of 20 sources) are
# written here rather than as template loops, which cost several times the text they write; a test holds them
# to the loops they replace, byte for byte.

def _citations_md(numbers: dict[str, int], by_sid: dict[str, Citation]) -> str:
    """One line per citation, in number order: where it is and the source of record's characters it quotes."""
    out = []
    for sid, n in numbers.items():
        c = by_sid[sid]
        out.append(f"{n}. {_md_code(c.file)}, paragraph {c.paragraph}, {lines_label(c.line_start, c.line_end)}: "
                   f"{_md_text(c.text)} (`sources/{c.doc_id}.txt`, characters {c.char_start}–{c.char_end})\n")
    return "".join(out)


def _sources_md(sources: Sequence[SourceInfo]) -> str:
    """One table row per source: file, title, date, language, paragraphs cited, origin (record, URL, notes)."""
    out = []
    for s in sources:
        origin = ([s.record] if s.record else []) + ([s.url] if s.url else []) + list(s.notes)
        used = ", ".join(map(str, s.paragraphs_used)) if s.paragraphs_used else "—"
        out.append(f"| {_md_code_cell(s.file)} | {_md_cell(s.title) if s.title else '—'} | "
                   f"{_md_cell(s.date) if s.date else '—'} | {s.lang} | {used} | "
                   f"{_md_cell(' · '.join(map(str, origin))) if origin else '—'} |\n")
    return "".join(out)


def render_index(briefs: Sequence[Brief], run_id: str, n_documents: int, n_skipped: int,
                 unsummarised: Sequence[dict[str, Any]] = ()) -> str:
    """The run's index; `unsummarised`: stories given no brief ({story_id, files, reason})."""
    return _environment().get_template("index.md.j2").render(
        briefs=briefs, run_id=run_id, n_documents=n_documents, n_skipped=n_skipped, unsummarised=unsummarised
    )


_CITATION_FIELDS = tuple(f.name for f in fields(Citation))


_SOURCE_FIELDS = tuple(f.name for f in fields(SourceInfo))
_RELATED_FIELDS = tuple(f.name for f in fields(RelatedSource))


def _fields_dict(record: Any, names: Sequence[str]) -> dict[str, Any]:
    """What asdict(record) gives for a record of plain values (tuples are listed by the caller), without
    its recursion and deep copies."""
    return {name: getattr(record, name) for name in names}


def _citation_dict(c: Citation, numbers: dict[str, int]) -> dict[str, Any]:
    # what asdict(c) gives (its fields are all plain values), without its deep copies: 10x faster
    return {"number": numbers[c.sid], **_fields_dict(c, _CITATION_FIELDS)}


def brief_to_dict(brief: Brief, run_id: str, changes: "Changes | None" = None) -> dict[str, Any]:
    """The brief's JSON form as run `run_id` writes it (`updated_in`); with `changes` (pipeline.changes), a
    `changes` object (issue 14)."""
    numbers = citation_numbers(brief)
    data = {
        "schema_version": SCHEMA_VERSION,
        "updated_in": run_id,
        "story_id": brief.story_id,
        "headline": {"fr": brief.headline_fr, "en": brief.headline_en},
        "summary": [
            {
                "fr": s.text_fr,
                "en": s.text_en,
                "fr_origin": s.fr_origin,
                "en_origin": s.en_origin,
                "support": s.support,
                "flagged": s.flagged,
                "sources_count": n_sources(s),
                "citations": [_citation_dict(c, numbers) for c in s.citations],
            }
            for s in brief.summary
        ],
        "quotes": [
            {
                "fr": q.text_fr,
                "en": q.text_en,
                "en_origin": q.en_origin,
                "speaker": q.speaker,
                "speaker_en": q.speaker_en,
                "attribution": q.attribution,
                "sources_count": n_sources(q),
                "citations": [_citation_dict(c, numbers) for c in q.citations],
            }
            for q in brief.quotes
        ],
        "sources": [{**_fields_dict(s, _SOURCE_FIELDS), "paragraphs_used": list(s.paragraphs_used),
                     "notes": list(s.notes)} for s in brief.sources],
        "related": [_fields_dict(r, _RELATED_FIELDS) for r in brief.related],
        "engines": dict(brief.engines),
        "warnings": list(brief.warnings),
    }
    if changes is not None:
        data["changes"] = changes.to_dict()
    return data


def brief_digest(brief: Brief) -> str:
    """SHA-256 of everything a brief holds (every field of every record in it): the key of what is made from
    the brief alone (its files' bodies, `brief_bodies`; part of its review page's key). Its records as
    tuples of their fields, written by `marshal` (version 2: no sharing of equal objects, floats in binary,
    so equal briefs give equal bytes however they were made): 4x faster than their repr."""
    return hashlib.sha256(marshal.dumps(_plain(brief), 2)).hexdigest()


def _plain(record: Any) -> tuple:
    """A record (a dataclass of the model) as a tuple of its fields' values, records in them made tuples too."""
    return _flattener(type(record))(record)


def _plain_all(records: tuple) -> tuple:
    """`_plain` of each record of a tuple; records all of one type (a brief's citations) flattened by their
    type's flattener in one `map` (the records' own type each time, as `_plain` takes it)."""
    kinds = set(map(type, records))
    return tuple(map(_flattener(kinds.pop()) if len(kinds) == 1 else _plain, records))


@lru_cache(maxsize=None)
def _flattener(cls: type) -> Callable[[Any], tuple]:
    """The function making a record of type `cls` a tuple (`_plain`): the getter of its fields (a record of
    plain values, a citation: that getter alone), each field that holds records (a record, or a tuple of
    records: from the type hints) flattened in turn."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in fields(cls)]

    def holds_records(hint: Any) -> bool:
        return dataclasses.is_dataclass(hint) or any(holds_records(a) for a in typing.get_args(hint))

    one = attrgetter(names[0])
    getter = attrgetter(*names) if len(names) > 1 else lambda record: (one(record),)
    nested = [i for i, n in enumerate(names) if holds_records(hints[n])]
    if not nested:
        return getter

    def flat(record: Any) -> tuple:
        values = list(getter(record))
        for i in nested:
            v = values[i]
            if isinstance(v, tuple):
                values[i] = _plain_all(v)
            elif v is not None:
                values[i] = _plain(v)
        return tuple(values)

    return flat


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The JSON Schema (Draft 2020-12) that every `brief_to_dict` result follows."""
    return json.loads(resources.files("pipeline.render").joinpath("brief.schema.json").read_text(encoding="utf-8"))


# --- brief files, and their cache ----------------------------------------------------------------

CACHE_KIND = "brief_files"
# Top-level keys of a brief's JSON that depend on the run that wrote it (its id, what changed since the previous
# one); the others depend on the brief alone and are cached as text.
_RUN_KEYS = ("schema_version", "updated_in", "changes")


def json_text(data: dict[str, Any]) -> str:
    """`json.dumps(data, ensure_ascii=False, indent=2)` plus a newline, byte for byte (a test holds it),
    built key by key so that the keys that depend on the brief alone can come from the cache."""
    return json_assemble(data, json_members(data, [k for k in data if k not in _RUN_KEYS]))


def json_members(data: dict[str, Any], keys: Sequence[str]) -> str:
    """Those top-level members of `data` as an indented JSON object writes them (no braces)."""
    return ",\n".join(f"  {json.dumps(k)}: " + indented_json(data[k], 2, 1) for k in keys)


def indented_json(value: Any, indent: int, level: int = 0) -> str:
    """`json.dumps(value, ensure_ascii=False, indent=indent)` byte for byte (a test holds it), as if nested
    `level` deep (each line after the first indented `level` more times), for the values JSON has (dicts with
    string keys, lists and tuples, strings, numbers, booleans, None). json.dumps writes an indented document
    with its pure-Python encoder, item by item through generators; this writes each string with the C
    escaper and joins: 4x faster (a brief's JSON, the sources' index)."""
    return _indented(value, "\n" + " " * (indent * level), " " * indent)


_CONTAINERS = frozenset((dict, list, tuple))


@lru_cache(maxsize=None)
def _flat_encoder(inner: str) -> Callable[[Any], str]:
    """The C encoder writing a container's items one per line, `inner` before each (made once per depth): what
    `json.JSONEncoder(ensure_ascii=False, separators=("," + inner, ": ")).encode` writes, called directly
    (`encode` would make a new C encoder and check for cycles each time: a brief's JSON has 100 citations;
    the values given it are made by `brief_to_dict`, and hold none)."""
    if _c_make_encoder is None:
        return json.JSONEncoder(ensure_ascii=False, separators=("," + inner, ": ")).encode
    encode = _c_make_encoder(None, json.JSONEncoder().default, _encode_string, None, ": ", "," + inner,
                             False, False, True)
    return lambda value: "".join(encode(value, 0))


def _indented(value: Any, newline: str, step: str) -> str:
    kind = type(value)
    if kind is str:
        return _encode_string(value)
    if kind is dict or kind is list or kind is tuple:
        if not value:
            return "{}" if kind is dict else "[]"
        inner = newline + step
        items = value.values() if kind is dict else value
        # one level (but empty ones): the C encoder (no container at all, the common case, checked in C first)
        if _CONTAINERS.isdisjoint(map(type, items)) or not any(v and type(v) in _CONTAINERS for v in items):
            flat = _flat_encoder(inner)(value)
            return flat[0] + inner + flat[1:-1] + newline + flat[-1]
        if kind is dict:
            return "{" + inner + ("," + inner).join(
                _encode_string(k) + ": " + _indented(v, inner, step) for k, v in value.items()) + newline + "}"
        return "[" + inner + ("," + inner).join(_indented(v, inner, step) for v in value) + newline + "]"
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is int or kind is float:
        return json.dumps(value)
    return json.dumps(value, ensure_ascii=False, indent=len(step)).replace("\n", newline)  # anything else: as json does


def json_assemble(data: dict[str, Any], middle: str) -> str:
    """The brief's JSON text from its run keys (in `data`) and the text of the other members."""
    return json_file(data, middle.encode("utf-8")).decode("utf-8")


def json_file(data: dict[str, Any], middle: bytes) -> bytes:
    """`json_assemble` as the UTF-8 bytes of the file, from the bytes of the other members (as the cache holds
    them: a warm run's 70 MB of brief JSON are neither decoded nor encoded again)."""
    head = json_members(data, [k for k in ("schema_version", "updated_in") if k in data]).encode("utf-8")
    tail = json_members(data, ["changes"]).encode("utf-8") if "changes" in data else b""
    return b"{\n" + b",\n".join(part for part in (head, middle, tail) if part) + b"\n}\n"


@lru_cache(maxsize=1)
def _code_key() -> str:
    """What brief files depend on besides the brief: this module, its templates, Jinja2."""
    from ..cache import code_fingerprint, digest, package_versions

    folder = resources.files("pipeline.render").joinpath("templates")
    return digest(CACHE_KIND, code_fingerprint(__name__), package_versions("jinja2", "markupsafe"), SCHEMA_VERSION,
                  [(n, folder.joinpath(n).read_text(encoding="utf-8")) for n in ("brief.md.j2", "_brief_body.md.j2")])


def compress_text(text: str, level: int = 6) -> str:
    """Text as stored in the cache: zlib-compressed (rendered pages are mostly markup and repeated words), base64.
    `level`: zlib's (any level reads back the same)."""
    return base64.b64encode(zlib.compress(text.encode("utf-8"), level)).decode("ascii")


def expand_text(value: object) -> str | None:
    """The text a cache value holds; None for a value that does not read back (recomputed)."""
    try:
        return zlib.decompress(base64.b64decode(value, validate=True)).decode("utf-8") if isinstance(value, str) \
            else None
    except (ValueError, zlib.error):  # binascii.Error and UnicodeDecodeError are ValueErrors
        return None


def expand_bytes(value: object) -> bytes | None:
    """`expand_text`'s text as UTF-8 bytes, not decoded (zlib's checksum tells a damaged value: None)."""
    try:
        return zlib.decompress(base64.b64decode(value, validate=True)) if isinstance(value, str) else None
    except (ValueError, zlib.error):  # binascii.Error is a ValueError
        return None


def holds_members(text: bytes, members: bytes) -> bool:
    """Whether `text`, the bytes of a brief's JSON as `json_file` wrote it (in any run), has exactly `members`
    (the UTF-8 of every member but the run keys, `json_members`) besides its run keys: the same brief."""
    framed = _framed(text, len(members))
    return framed is not None and framed.members == members


@dataclass(frozen=True)
class _Framed:
    """A brief's JSON file as `json_file` writes it, in its parts."""

    updated_in: str  # the run that wrote it
    members: bytes  # every member but the run keys (`json_members`)
    changes: bytes  # the `changes` member as `json_members` writes it; b"" when there is none


_JSON_HEAD = ("{\n" + json_members({"schema_version": SCHEMA_VERSION}, ["schema_version"])
              + ',\n  "updated_in": "').encode("utf-8")
_RUN_NAME = re.compile(rb'[^"\\\x00-\x1f]{1,200}')  # a run folder's name, which JSON writes as it is


def _framed(text: bytes, length: int) -> _Framed | None:
    """`text`, a brief's JSON file as `json_file` wrote it, whose members but the run keys are `length` bytes long,
    in its parts: schema_version and updated_in before the members, changes (if any) after them; None when `text`
    is not framed so (another schema version, another length, damaged)."""
    close = text.find(b'",\n', len(_JSON_HEAD), len(_JSON_HEAD) + 203)
    if not text.startswith(_JSON_HEAD) or close < 0 or not _RUN_NAME.fullmatch(text, len(_JSON_HEAD), close):
        return None
    start = close + 3
    end = start + length
    if not text.endswith(b"\n}\n"):
        return None
    if end == len(text) - 3:
        changes = b""
    elif text.startswith(b',\n  "changes": ', end):
        changes = text[end + 2:len(text) - 3]
    else:
        return None
    return _Framed(text[len(_JSON_HEAD):close].decode("utf-8"), text[start:end], changes)


@dataclass(frozen=True)
class PreviousFiles:
    """A brief's files in the previous run, whose bodies are this run's (`previous_bodies`): `kept` tells whether
    they are, byte for byte, what this code writes for the brief in the run that wrote them (then this run links
    them instead of writing them: `pipeline.flow.RenderStep.write_briefs`)."""

    files: dict[str, bytes]  # relative path in the run folder -> the previous file's bytes
    updated_in: str | None  # the run that wrote them (None without the JSON: not known)
    changes: bytes  # their `changes` member (`_Framed`)
    md_head: bytes | None  # the Markdown file but its body

    def kept(self, brief: Brief) -> bool:
        """Whether these files are those `brief_files` writes for `brief` in run `updated_in` with its changes."""
        from ..changes import Changes

        if self.updated_in is None:
            return False
        change = None
        if self.changes:
            try:
                data = json.loads(b"{" + self.changes + b"}")["changes"]
                change = Changes.from_dict(data)
            except (ValueError, KeyError, TypeError):
                return False
            if json_members({"changes": change.to_dict()}, ["changes"]).encode("utf-8") != self.changes:
                return False
        return self.md_head is None or self.md_head == markdown_head(brief, self.updated_in, change, "").encode(
            "utf-8")


SUMS_KIND = "brief_files_sums"  # cache kind: each body's length and SHA-256, under its `brief_bodies` key
# cache kind: the identity (`file_ids`) of a brief's files, under its `brief_bodies` key, as a run left them after
# writing or linking them: a previous run's files with that identity are those files, unchanged (the brief's files
# in the run that wrote them, for this code: `pipeline.flow.RenderStep.write_briefs` links them as they are)
FILES_KIND = "brief_files_ids"
FROM_PREVIOUS = "from_previous_run"  # in a `brief_bodies` entry: its `PreviousFiles`, when they hold its bodies


def brief_bodies(briefs: Sequence[Brief], digests: Sequence[str], formats: Sequence[str], cache: Any = None,
                 data_of: Callable[[int], dict[str, Any]] | None = None,
                 previous_run: Path | None = None) -> list[dict[str, Any]]:
    """What each brief's files hold besides the run (format -> content): the Markdown from the summary on
    (`markdown_body`, text), the JSON but for its run keys (`json_members`, as UTF-8 bytes: written as they
    are, `json_file`). `digests`: each brief's `brief_digest`;
    `data_of(i)`: the i-th brief's `brief_to_dict` (default: made here), asked for only for a brief not cached.

    Taken from `cache` (kind "brief_files") under a hash of the brief's digest and of this code, so an unchanged
    brief costs a lookup; the others are made and stored. With `previous_run`, a brief whose files there hold
    exactly its bodies (their length and SHA-256, kept in the cache: `SUMS_KIND`) takes them from those files
    (`previous_bodies`): neither looked up in the cache nor decoded; its entry's `FROM_PREVIOUS` holds those
    files (`PreviousFiles`: the brief did not change since that run).
    """
    keys = body_keys(digests, formats)
    sums = cache.get_many(SUMS_KIND, keys) if cache is not None and formats and keys else {}
    reused: dict[int, dict[str, Any]] = {}
    if previous_run is not None:
        for i, (brief, key) in enumerate(zip(briefs, keys)):
            bodies = previous_bodies(previous_run, brief.story_id, formats, sums.get(key))
            if bodies is not None:
                reused[i] = bodies
    wanted = [k for i, k in enumerate(keys) if i not in reused]
    found = cache.get_many(CACHE_KIND, wanted) if cache is not None and wanted else {}
    out: list[dict[str, Any]] = []
    new: list[tuple[str, dict[str, str]]] = []
    new_sums: list[tuple[str, dict[str, list]]] = []
    expand = {"md": expand_text, "json": expand_bytes}
    for i, (brief, key) in enumerate(zip(briefs, keys)):
        if i in reused:
            out.append(reused[i])
            continue
        hit = found.get(key)
        bodies = {f: expand[f](hit.get(f)) for f in formats} if isinstance(hit, dict) else {}
        if formats and (not bodies or any(v is None for v in bodies.values())):
            made = {}
            if "md" in formats:
                made["md"] = markdown_body(brief)
            if "json" in formats:
                data = data_of(i) if data_of is not None else brief_to_dict(brief, "")
                made["json"] = json_members(data, [k for k in data if k not in _RUN_KEYS])
            new.append((key, {f: compress_text(v, 1) for f, v in made.items()}))  # (level 1: review.PAGE_ZLIB_LEVEL)
            bodies = {**made, **({"json": made["json"].encode("utf-8")} if "json" in made else {})}
        if formats and not isinstance(sums.get(key), dict):
            new_sums.append((key, body_sums(bodies)))
        out.append(bodies)
    if cache is not None and new:
        cache.put_many(CACHE_KIND, new)
    if cache is not None and new_sums:
        cache.put_many(SUMS_KIND, new_sums)
    return out


def body_keys(digests: Sequence[str], formats: Sequence[str]) -> list[str]:
    """The key of each brief's bodies (`brief_bodies`), of its files' lengths and hashes (`SUMS_KIND`) and of their
    identity in the run that wrote them (`FILES_KIND`): a hash of the brief's digest, of the formats and of this
    code."""
    fixed = hashlib.sha256(_code_key().encode())
    fixed.update(repr(sorted(formats)).encode())
    keys = []
    for d in digests:
        h = fixed.copy()
        h.update(d.encode())
        keys.append(h.hexdigest())
    return keys


def file_ids(run_dir: Path, story_id: str, formats: Sequence[str]) -> dict[str, list[int]] | None:
    """The identity of a brief's files in `run_dir` (format -> inode, size, modification time in ns), as
    `FILES_KIND` keeps it; None when one of them cannot be read (`os.lstat`) or is not a regular file."""
    out: dict[str, list[int]] = {}
    for f in formats:
        try:
            st = os.lstat(f"{run_dir}/briefs/{story_id}.{f}")
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        out[f] = [st.st_ino, st.st_size, st.st_mtime_ns]
    return out


def body_sums(bodies: dict[str, Any]) -> dict[str, list]:
    """Each body's UTF-8 length and SHA-256 (what `previous_bodies` checks a previous run's file against)."""
    out = {}
    for f, body in bodies.items():
        data = body if isinstance(body, bytes) else body.encode("utf-8")
        out[f] = [len(data), hashlib.sha256(data).hexdigest()]
    return out


def previous_bodies(previous_run: Path, story_id: str, formats: Sequence[str],
                    sums: Any) -> dict[str, Any] | None:
    """The bodies of a brief (as `brief_bodies` gives them) read from its files in `previous_run`, when those
    hold bodies of exactly the lengths and SHA-256 of `sums` (`body_sums`); else None. The JSON's are the
    bytes between its run keys (`json_file`: schema_version and updated_in, the name of the run that wrote it,
    before them; changes, if any, after them: `_framed`); the Markdown's are the end of the file
    (`markdown_head`). The files themselves come with them, under `FROM_PREVIOUS` (`PreviousFiles`)."""
    if not isinstance(sums, dict) or not formats:
        return None
    out: dict[str, Any] = {}
    files: dict[str, bytes] = {}
    framed: _Framed | None = None
    md_head: bytes | None = None
    for f in formats:
        want = sums.get(f)
        if not (isinstance(want, list) and len(want) == 2 and isinstance(want[0], int)):
            return None
        relative = f"briefs/{story_id}.{f}"
        try:
            with open(f"{previous_run}/{relative}", "rb") as file:  # (no Path per file: 2,000 a run)
                text = file.read()
        except OSError:
            return None
        if f == "json":
            framed = _framed(text, want[0])
            if framed is None:
                return None
            body: bytes = framed.members
        else:
            body = text[len(text) - want[0]:] if want[0] <= len(text) else b""
            md_head = text[:len(text) - want[0]]
        if len(body) != want[0] or hashlib.sha256(body).hexdigest() != want[1]:
            return None
        if f == "md":
            try:
                out[f] = body.decode("utf-8")
            except UnicodeDecodeError:
                return None
        else:
            out[f] = body
        files[relative] = text
    out[FROM_PREVIOUS] = PreviousFiles(files, framed.updated_in if framed is not None else None,
                                       framed.changes if framed is not None else b"", md_head)
    return out


def brief_files(briefs: Sequence[Brief], run_id: str, formats: Sequence[str],
                changes: Sequence["Changes | None"], bodies: Sequence[dict[str, Any]]) -> list[dict[str, str | bytes]]:
    """Each brief's files (relative path -> content: the Markdown's text, the JSON's UTF-8 bytes): as
    `render_markdown` and `json_text(brief_to_dict(...))` write them, byte for byte, from their `brief_bodies`:
    only the run id and the changes are made here."""
    out: list[dict[str, str | bytes]] = []
    run = {"schema_version": SCHEMA_VERSION, "updated_in": run_id}
    for brief, change, body in zip(briefs, changes, bodies):
        files: dict[str, str | bytes] = {}
        if "md" in formats:
            files[f"briefs/{brief.story_id}.md"] = markdown_head(brief, run_id, change, body["md"])
        if "json" in formats:
            full = {**run, "changes": change.to_dict()} if change is not None else run
            files[f"briefs/{brief.story_id}.json"] = json_file(full, body["json"])
        out.append(files)
    return out
