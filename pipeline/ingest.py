"""Ingest: corpus folder -> Documents with normalised, line-anchored paragraphs.

Entry point: `ingest(corpus_dir, settings) -> IngestResult`.

Formats (chosen by extension, checked against the content): .txt/.md;
web pages .html/.htm(.gz) (trafilatura: main text and the page's metadata);
RSS/Atom feeds .xml/.rss/.atom (feedparser: one article per item); exports
.jsonl/.ndjson, .json (an array of records), .csv, .parquet (one article per
record, field names from `ingest.fields`, streamed); web archives .warc(.gz)
(warcio: one article per HTML response record). See `_FORMATS`.

Every document has a source of record (`Document.source_text`, written to
`sources/<doc_id>.txt` by `write_sources`): for .txt/.md the decoded file
itself, for the other formats the extracted text. Every kept paragraph and
sentence remembers its 1-based line range in that text and its character
offsets [char_start, char_end), so a citation quotes
`source_text[char_start:char_end]` byte for byte; `normalize_line` is for
matching (dedup, summaries), never for what is cited.

Libraries: charset-normalizer (encoding detection for non-UTF-8 files),
lingua (language identification, restricted to the configured languages
because short lines are otherwise misread), sentencex (French-aware sentence
segmentation that also repairs glued joins such as "Pyrénées.Alors").
"""

from __future__ import annotations

import bisect
import codecs
import errno
import gzip
import hashlib
import json
import logging
import os
import re
import stat
import sys
import time
import unicodedata
import zlib
from collections import deque
from contextlib import ExitStack
from dataclasses import dataclass, replace
from functools import lru_cache, partial
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator, Protocol, Sequence

import charset_normalizer
import sentencex
from lingua import IsoCode639_1, Language, LanguageDetector, LanguageDetectorBuilder

from .config import ConfigError, IngestSettings
from .file_hashes import HashStore, known_hashes, remember, settled, signature
from .model import Document, DroppedBlock, IngestResult, Paragraph, Sentence, SkippedInput, SourceLayout, source_of

log = logging.getLogger("pipeline")

# --- normalisation -----------------------------------------------------------

_CHAR_MAP = str.maketrans(
    {
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u02bc": "'", "\u2032": "'",
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
        "\u00a0": " ", "\u202f": " ", "\u2009": " ", "\u2007": " ", "\u2002": " ",
        "\u2003": " ", "\u2005": " ", "\u2006": " ", "\u2008": " ", "\u200a": " ", "\t": " ",
        "\u200b": None, "\u200c": None, "\u200d": None, "\u2060": None, "\ufeff": None, "\u00ad": None,
    }
)
_CHAR_MAPPED = re.compile("[" + re.escape("".join(map(chr, _CHAR_MAP))) + "]")  # a character _CHAR_MAP changes
_GUILLEMET_OPEN = re.compile(r"«\s*")
_GUILLEMET_CLOSE = re.compile(r"\s*»")


def normalize_line(line: str) -> str:
    """The normalisation ingest applies to every line of a source file.

    Unicode NFC; typographic apostrophes and double quotes to ASCII; every
    kind of space (no-break, thin, tab) to one plain space; invisible
    characters and soft hyphens removed; French guillemets written « like this ».
    """
    text = unicodedata.normalize("NFC", line)
    if _CHAR_MAPPED.search(text):  # (rare: a search is 15x faster than the translation of a line)
        text = text.translate(_CHAR_MAP)
    text = " ".join(text.split())  # runs of whitespace (str.isspace, as regex \s) to one space; stripped
    if "«" in text:
        text = _GUILLEMET_OPEN.sub("« ", text)
    if "»" in text:
        text = _GUILLEMET_CLOSE.sub(" »", text)
    return text


class _Line:
    """One normalised line and where each of its characters came from in the source text.

    `src(i)` gives the [start, end) source offsets of character i of `text`
    (absolute in the document's source text).
    """

    __slots__ = ("number", "text", "offset", "starts", "ends")

    def __init__(self, number: int, text: str, offset: int, starts: list[int] | None, ends: list[int] | None) -> None:
        self.number = number
        self.text = text
        self.offset = offset  # identity mapping when starts is None: character i is source[offset + i]
        self.starts = starts
        self.ends = ends

    def src(self, i: int) -> tuple[int, int]:
        if self.starts is None or self.ends is None:
            return self.offset + i, self.offset + i + 1
        return self.offset + self.starts[i], self.offset + self.ends[i]

    def drop_prefix(self, k: int) -> "_Line":
        if k == 0:
            return self
        if self.starts is None or self.ends is None:
            return _Line(self.number, self.text[k:], self.offset + k, None, None)
        return _Line(self.number, self.text[k:], self.offset, self.starts[k:], self.ends[k:])


def _normalize_mapped(line: str) -> tuple[str, list[int] | None, list[int] | None]:
    """`normalize_line(line)` with, for each output character, the [start, end) of the input it came from.

    (None, None) maps character i to input character i (the line needed no change).
    """
    expected = normalize_line(line)
    if expected == line:
        return expected, None, None
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    n = len(line)
    i = 0
    while i < n:  # NFC per base character and its combining marks
        j = i + 1
        while j < n and unicodedata.combining(line[j]):
            j += 1
        for ch in unicodedata.normalize("NFC", line[i:j]).translate(_CHAR_MAP):
            chars.append(ch)
            starts.append(i)
            ends.append(j)
        i = j
    out_c: list[str] = []
    out_s: list[int] = []
    out_e: list[int] = []
    for ch, a, b in zip(chars, starts, ends):  # runs of spaces -> one space; strip
        if ch.isspace():
            if not out_c or out_c[-1] == " ":
                if out_c:
                    out_e[-1] = b
                continue
            ch = " "
        out_c.append(ch)
        out_s.append(a)
        out_e.append(b)
    while out_c and out_c[-1] == " ":
        out_c.pop(); out_s.pop(); out_e.pop()
    fc: list[str] = []
    fs: list[int] = []
    fe: list[int] = []
    for k, (ch, a, b) in enumerate(zip(out_c, out_s, out_e)):  # « like this »
        if ch == "»" and fc and fc[-1] != " ":
            fc.append(" "); fs.append(a); fe.append(a)
        fc.append(ch); fs.append(a); fe.append(b)
        if ch == "«" and (k + 1 == len(out_c) or out_c[k + 1] != " "):
            fc.append(" "); fs.append(b); fe.append(b)
    text = "".join(fc)
    if text != expected:  # an unusual composition: map every character to the whole line
        return expected, [0] * len(expected), [n] * len(expected)
    return text, fs, fe


def split_lines(text: str) -> list[str]:
    """Lines as an editor numbers them (\\n, \\r\\n and \\r all end a line)."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _lines_with_offsets(text: str) -> list[tuple[str, int]]:
    """`split_lines(text)` with the offset of each line's first character in text."""
    out: list[tuple[str, int]] = []
    start = 0
    for m in _LINE_BREAK.finditer(text):
        out.append((text[start:m.start()], start))
        start = m.end()
    out.append((text[start:], start))
    return out


# --- reading -----------------------------------------------------------------
#
# What is read, and what is skipped (each skip has a reason, shown in the log
# and the manifest; the run goes on):
#
# - UTF-8 (with or without BOM) and UTF-16 with a BOM are read as such.
# - Any other bytes: charset-normalizer proposes legacy encodings, and the
#   first one whose decoded text uses the Western European repertoire of the
#   languages this pipeline reads (Latin-1 / Windows-1252 letters and
#   punctuation, for at least `_WESTERN_MIN` of the non-ASCII characters) is
#   used, Windows-1252 preferred on a tie. So a Latin-1 or Windows-1252
#   French file reads correctly; a file no encoding fits is skipped ("convert
#   it to UTF-8"), rather than read as mojibake. A file that is mostly valid
#   UTF-8 with a few bad bytes (mixed encodings) is skipped with the line of
#   the first bad byte: guessing would garble its accents.
# - Skipped: empty (or blank) files; binary files (NUL bytes or control
#   characters); files over `ingest.max_file_mb`; anything that is not a
#   regular file (a directory, FIFO or device named *.txt); unreadable files
#   (permissions, I/O errors); files deleted between discovery and reading;
#   broken or looping symlinks; file names that are not valid UTF-8.


class InputError(Exception):
    """A file that cannot be ingested; the message is the reason shown to the user."""


@dataclass(frozen=True)
class DecodedFile:
    text: str
    encoding: str
    sha256: str


_BINARY_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f]")
_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
_WESTERN = frozenset(
    [chr(c) for c in range(0xA0, 0x100)] + list("€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ")
)
_WESTERN_MIN = 0.9


def _western_share(text: str) -> float:
    """Share of the non-ASCII characters of text that are Western European letters or punctuation."""
    other = [ch for ch in text if ord(ch) > 0x7F]
    if not other:
        return 1.0
    return sum(ch in _WESTERN for ch in other) / len(other)


def _check_text(text: str) -> None:
    if not text.strip():
        raise InputError("empty file")
    sample = text[:20000]
    if len(_BINARY_CONTROLS.findall(sample)) > max(2, len(sample) // 100):
        raise InputError("binary file (control characters), not text")


def _first_bad_byte(raw: bytes) -> str:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return f"byte 0x{raw[exc.start]:02x} on line {line}"
    return "none"


def decode_bytes(raw: bytes) -> tuple[str, str]:
    """Decode a text file (see the rules above); raise InputError with the reason when it is not one."""
    if not raw.strip():
        raise InputError("empty file")
    for bom, codec in ((codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if raw.startswith(bom) and not raw.startswith(codecs.BOM_UTF32_LE):
            try:
                text = raw.decode(codec)
            except UnicodeDecodeError:
                raise InputError("starts with a UTF-16 byte order mark but is not valid UTF-16") from None
            _check_text(text)
            return text, "utf-16"
    if b"\x00" in raw[:8192]:
        raise InputError("binary file (contains NUL bytes), not text")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    else:
        _check_text(text)
        return text, "utf-8"
    good_utf8 = len(_UTF8_MULTIBYTE.findall(raw))
    bad_bytes = len(raw.decode("utf-8", errors="replace").split("\ufffd")) - 1
    if good_utf8 > bad_bytes:
        raise InputError(
            f"mixed encodings: mostly UTF-8 but {bad_bytes} invalid byte(s), the first is {_first_bad_byte(raw)}; "
            "fix those bytes or convert the whole file to UTF-8"
        )
    candidates = []
    for rank, match in enumerate(charset_normalizer.from_bytes(raw)):
        text = str(match)
        share = _western_share(text)
        if share >= _WESTERN_MIN:
            candidates.append((-share, match.encoding != "cp1252", rank, text, match.encoding))
    if not candidates:
        raise InputError(
            f"not valid UTF-8 ({_first_bad_byte(raw)}) and no Western European legacy encoding fits; "
            "convert it to UTF-8"
        )
    *_, text, encoding = min(candidates)
    _check_text(text)
    return text, encoding


def _read_raw(path: Path, max_bytes: int, read: bool = True) -> bytes:
    """The bytes of a regular file, at most max_bytes (InputError with the reason otherwise)."""
    try:
        st = path.stat()
        if stat.S_ISDIR(st.st_mode):
            raise InputError("is a directory, not a file")
        if not stat.S_ISREG(st.st_mode):
            raise InputError("not a regular file (a FIFO, socket or device)")
        if st.st_size > max_bytes:
            raise InputError(
                f"file is {st.st_size / 1e6:.1f} MB, over the {max_bytes / 1e6:.1f} MB limit (ingest.max_file_mb)"
            )
        if not read:
            with path.open("rb"):
                return b""
        raw = _read_all(path, st.st_size, max_bytes)
    except InputError:
        raise
    except IsADirectoryError:
        raise InputError("is a directory, not a file") from None
    except PermissionError:
        raise InputError("permission denied; check the file's permissions") from None
    except FileNotFoundError:
        raise InputError("file disappeared while the run was reading the corpus") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputError("symlink loop") from None
        raise InputError(f"cannot read: {exc.strerror or exc}") from None
    if len(raw) > max_bytes:  # it grew after stat
        raise InputError(f"file is over the {max_bytes / 1e6:.1f} MB limit (ingest.max_file_mb)")
    return raw


def _read_all(path: Path, size: int, max_bytes: int) -> bytes:
    """The file's bytes to its end (or just over max_bytes when it grew past them): one read of its
    size, and one that finds its end (without `Path.read_bytes`' buffered file object: a warm run reads
    every file of the corpus)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        parts = [os.read(fd, size + 1)]
        got = len(parts[0])
        while parts[-1] and got <= max_bytes:
            parts.append(os.read(fd, max(size + 1 - got, 1 << 16)))
            got += len(parts[-1])
    finally:
        os.close(fd)
    return parts[0] if len(parts) == 2 and not parts[1] else b"".join(parts)


def read_file(path: Path, max_bytes: int) -> DecodedFile:
    raw = _read_raw(path, max_bytes)
    text, encoding = decode_bytes(raw)
    return DecodedFile(text=text, encoding=encoding, sha256=hashlib.sha256(raw).hexdigest())


# Folders an output tree of this tool has (next to its .pipeline.lock): never read as news.
_OUTPUT_MARK = ".pipeline.lock"
_OUTPUT_DIRS = ("runs", "latest")


def has_extension(name: str, extensions: Iterable[str]) -> bool:
    return name.lower().endswith(tuple(extensions))


def discover(
    corpus_dir: Path, extensions: list[str], follow_outside: bool = False, exclude: Sequence[Path] = (),
) -> tuple[list[Path], list[SkippedInput]]:
    """Candidate files under corpus_dir, sorted; plus what was skipped and why.

    Never descends into `exclude` (e.g. the run's --out) nor into the `runs/`
    and `latest` of a folder holding a `.pipeline.lock` (an output folder of
    this tool). A symlink whose real path is outside the corpus is skipped
    unless `follow_outside` (`ingest.follow_symlinks_outside`).
    """
    found: list[Path] = []
    skipped: list[SkippedInput] = []
    root_real = corpus_dir.resolve()
    excluded = {p.resolve() for p in exclude}

    def walk_error(exc: OSError) -> None:
        where = Path(exc.filename) if exc.filename else corpus_dir
        if where != corpus_dir:
            skipped.append(SkippedInput(_display(corpus_dir, where), f"cannot list folder: {exc.strerror or exc}"))

    for root, dirs, files in os.walk(corpus_dir, followlinks=False, onerror=walk_error):
        root_path = Path(root)
        try:  # the folder's symlinks, from one listing (not one lstat per file)
            with os.scandir(root) as entries:
                links: set[str] | None = {e.name for e in entries if e.is_symlink()}
        except OSError:
            links = None
        output_here = _OUTPUT_MARK in files or root_path.resolve() in excluded
        dirs[:] = sorted(
            d for d in dirs
            if not d.startswith(".") and (root_path / d).resolve() not in excluded
            and not (output_here and d in _OUTPUT_DIRS)
        )
        for d in list(dirs):
            if has_extension(d, extensions):
                skipped.append(SkippedInput(_display(corpus_dir, root_path / d), "is a directory, not a file"))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = root_path / name
            if not has_extension(name, extensions):
                continue
            if not _valid_name(name):
                skipped.append(SkippedInput(_display(corpus_dir, path), "file name is not valid UTF-8; rename the file"))
                continue
            if name in links if links is not None else path.is_symlink():
                try:
                    real = path.resolve(strict=True)
                except (OSError, RuntimeError) as exc:
                    skipped.append(SkippedInput(_display(corpus_dir, path), f"broken or looping symlink ({exc.__class__.__name__})"))
                    continue
                if not follow_outside and not real.is_relative_to(root_real):
                    skipped.append(SkippedInput(
                        _display(corpus_dir, path),
                        "symlink to a file outside the corpus, not read (set ingest.follow_symlinks_outside: true "
                        "to allow it)"))
                    continue
            found.append(path)
    return found, skipped


def _valid_name(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes arrive as lone surrogates
        return False
    return True


def corpus_name(corpus_dir: Path) -> str:
    """The corpus folder's name as citations show it ("corpus" for `--corpus .` run in a folder named corpus)."""
    return corpus_dir.resolve().name or "corpus"


def _displayed(corpus_dir: Path, name: str) -> Callable[[Path], str]:
    """`_display(corpus_dir, path, name)` for the files `discover` found under corpus_dir: their relative
    path cut from their string, not made by `Path.relative_to` (slow, and called for every file)."""
    root = str(corpus_dir)
    prefix = "" if root == "." else root.rstrip("/") + "/"

    def shown(path: Path) -> str:
        whole = str(path)
        if prefix and not whole.startswith(prefix) or not prefix and whole.startswith(("/", "../")):
            return _display(corpus_dir, path, name)
        text = f"{name}/{whole[len(prefix):]}"
        return text if _valid_name(text) else os.fsencode(text).decode("utf-8", "backslashreplace")

    return shown


def _display(corpus_dir: Path, path: Path, name: str | None = None) -> str:
    """The path as citations show it; `name`: the corpus's `corpus_name`, when the caller has it (it
    resolves the corpus folder: worth doing once, not once per file)."""
    shown = f"{name or corpus_name(corpus_dir)}/{path.relative_to(corpus_dir).as_posix()}"
    return shown if _valid_name(shown) else os.fsencode(shown).decode("utf-8", "backslashreplace")


# --- language identification ----------------------------------------------------


class LanguageIdentifier:
    """lingua restricted to the configured languages; returns ISO 639-1 codes.

    `preload`: lingua loads every model as it is built, on a pool of threads of its own (rayon's, one per
    core): 0.6 s of wall time instead of 1.0 for seven languages on two cores, for the same models and the
    same answers. Only in a process that forks no worker afterwards: a forked child would inherit that pool
    without its threads."""

    def __init__(self, languages: list[str], preload: bool = False) -> None:
        chosen = []
        for code in languages:
            try:
                chosen.append(Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper())))
            except AttributeError:
                raise ValueError(f"ingest.languages: unknown language code {code!r}") from None
        if len(chosen) == 1:
            self._only: str | None = languages[0]
            self._detector: LanguageDetector | None = None
        else:
            self._only = None
            builder = LanguageDetectorBuilder.from_languages(*chosen)
            self._detector = (builder.with_preloaded_language_models() if preload else builder).build()

    def detect(self, text: str) -> str | None:
        if self._only is not None:
            return self._only
        assert self._detector is not None
        lang = self._detector.detect_language_of(text)
        return lang.iso_code_639_1.name.lower() if lang is not None else None


# --- structure -----------------------------------------------------------------

_DATE_PREFIX = re.compile(r"^date\s*:?\s*(\d{4}-\d{2}(?:-\d{2})?)\b\s*", re.IGNORECASE)
_MD_PREFIX = re.compile(r"^(#{1,6}\s+|>\s*)")
_END_PUNCT = (".", "…", ":", ";", "!", '"', "»", ")")
_WORD = re.compile(r"\w+")
# Characters that are not text: replaced by a space (same length, so offsets and
# line numbers hold) before anything is analysed or written.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x80-\x9f]")


@dataclass
class _Block:
    lines: list[_Line]

    @property
    def line_start(self) -> int:
        return self.lines[0].number

    @property
    def line_end(self) -> int:
        return self.lines[-1].number

    @property
    def text(self) -> str:
        return " ".join(line.text for line in self.lines)


def _is_heading(text: str, n_lines: int, words: int) -> bool:
    """`words`: how many words text has (`_WORD`)."""
    if n_lines > 1 or words > 20:
        return False
    if text.endswith("?") or text.endswith("!"):
        return words <= 8
    return not text.endswith(_END_PUNCT)


@lru_cache(maxsize=64)
def _compiled(patterns: tuple[str, ...]) -> list[re.Pattern[str]]:
    """The boilerplate patterns, compiled (case-insensitive) once, not once per document."""
    return [re.compile(p, re.IGNORECASE) for p in patterns]


def _blocks(source: str, settings: IngestSettings) -> tuple[list[_Block], list[DroppedBlock], str | None]:
    """Group normalised lines into blocks; drop boilerplate; read the date prefix.

    A footer line (tags, author box: `boilerplate.footer_patterns`) ends the
    article only near its end: when less text follows it than precedes it. A
    footer-like line before any text (a tag line at the top) is dropped alone.
    """
    line_res = _compiled(tuple(settings.boilerplate.line_patterns))
    footer_res = _compiled(tuple(settings.boilerplate.footer_patterns))
    raw_lines = _lines_with_offsets(source)
    normalised: list[_Line] = []
    for number, (raw, offset) in enumerate(raw_lines, start=1):
        text, starts, ends = _normalize_mapped(raw)
        normalised.append(_Line(number, text, offset, starts, ends))
    remaining = sum(len(line.text) for line in normalised)
    blocks: list[_Block] = []
    dropped: list[DroppedBlock] = []
    date: str | None = None
    current: _Block | None = None
    seen_text = False
    before = 0
    for line in normalised:
        remaining -= len(line.text)
        number = line.number
        if not seen_text and line.text:
            m = _DATE_PREFIX.match(line.text)
            if m:
                date = m.group(1)
                line = line.drop_prefix(m.end())
            seen_text = True
        md = _MD_PREFIX.match(line.text)
        if md:
            line = line.drop_prefix(md.end())
        text = line.text
        if not text:
            current = None
            continue
        if any(r.fullmatch(text) for r in footer_res):
            if not blocks:
                dropped.append(DroppedBlock(number, number, text, "tag or author line before the article"))
                continue
            if remaining <= before:
                rest = [x.text for x in normalised[number - 1:]]
                dropped.append(DroppedBlock(number, len(normalised), "\n".join(x for x in rest if x),
                                            "footer: tags / author box and what follows"))
                break
        if any(r.fullmatch(text) for r in line_res):
            dropped.append(DroppedBlock(number, number, text, "page boilerplate line"))
            continue
        before += len(text)
        if current is None:
            current = _Block([])
            blocks.append(current)
        current.lines.append(line)
    return blocks, dropped, date


# A bullet item starts a sentence of its own: at the start of a line, or inline
# ("…inscrire.► Les votants…", "• Hausses de salairesInterpellé lors…").
_LINE_BULLET = re.compile(r"(?:[-*–—•►▪■◆●▶➤]|\d{1,2}[.)])\s")
_INLINE_BULLET = re.compile(r"[•►▪■◆●▶➤]")
# "salairesInterpellé": a short bullet heading glued to the next sentence.
_GLUED_HEADING = re.compile(r"[a-zà-ÿ]{2}(?=[A-ZÀ-Ý][a-zà-ÿ])")
# "…quartier.PROPRETÉLa candidate…": a heading in capitals glued between two sentences.
_GLUED_CAPS_HEADING = re.compile(r"(?<=[a-zà-ÿ.!?\"»])\s?([A-ZÀ-Ý]{4,})(?=[A-ZÀ-Ý][a-zà-ÿ])")  # "…quartier.PROPRETÉLa candidate…"
_CAPITALS_5 = re.compile(r"[A-ZÀ-Ý]{5}")


def _bullet_cuts(block: _Block) -> set[int]:
    """Positions in the block's joined text where a bullet item or a glued capitals heading starts or ends."""
    cuts: set[int] = set()
    pos = 0
    previous_bullet = False
    for k, line in enumerate(block.lines):
        is_bullet = bool(_LINE_BULLET.match(line.text)) or bool(_INLINE_BULLET.match(line.text))
        if k > 0 and (is_bullet or previous_bullet):
            cuts.add(pos)
        previous_bullet = is_bullet
        pos += len(line.text) + 1
    text = block.text
    if _CAPITALS_5.search(text):  # (what every glued capitals heading has: a cheaper scan first)
        for m in _GLUED_CAPS_HEADING.finditer(text):
            cuts.update((m.start(1), m.end(1)))
    for m in _INLINE_BULLET.finditer(text):
        cuts.add(m.start())
        glued = _GLUED_HEADING.search(text, m.end(), min(len(text), m.end() + 60))
        if glued and len(_WORD.findall(text[m.end():glued.end()])) <= 8:
            cuts.add(glued.end())
    return cuts


# sentencex keeps everything up to a closing quotation mark in one sentence, so
# one unbalanced " makes a 300-word "sentence". Those (over this many words)
# are also cut after . ! ? … (and a closing quote) followed by a capital, unless
# what ends there is a title or an initial ("M. Trump").
_LONG_SENTENCE_WORDS = 60
_FALLBACK_END = re.compile(r"[.!?…]+[\"»]?(?=\s*[\"«]?\s*[A-ZÀ-Ý])")


_GLUED_DASH_ITEM = re.compile(r"(?<=[\w.:;])\s?-\s(?=[A-ZÀ-Ý])")  # "…handicapées- Jean-Baptiste Lemoyne…"


def _fallback_ends(text: str, at: int, end: int) -> list[int]:
    ends = [m.end() for m in _FALLBACK_END.finditer(text, at, end)
            if not _TITLE_END.search(text[max(at, m.start() - 6):m.start() + 1])]
    return ends + [m.start() for m in _GLUED_DASH_ITEM.finditer(text, at, end)]


def _split_at(text: str, at: int, end: int, cuts: list[int]) -> list[tuple[int, int]]:
    """[at, end) cut at the given positions, each piece stripped of spaces; empty pieces dropped."""
    bounds = [at, *[c for c in cuts if at < c < end], end]
    out = []
    for a, b in zip(bounds, bounds[1:]):
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if b > a:
            out.append((a, b))
    return out


def _sentences(pid: str, block: _Block, text: str) -> tuple[Sentence, ...]:
    """The block's sentences, as spans of `text` (its text, `block.text`: the paragraph's, not copied)."""
    line_at: list[int] = []  # start offset of each line in the joined text
    pos = 0
    for line in block.lines:
        line_at.append(pos)
        pos += len(line.text) + 1

    def where(offset: int) -> tuple[_Line, int]:
        k = bisect.bisect_right(line_at, offset) - 1
        return block.lines[k], offset - line_at[k]

    def sentence(k: int, at: int, end: int) -> Sentence:
        first, i = where(at)
        last, j = where(end - 1)
        return Sentence.span(f"{pid}.s{k}", pid, text, at, end, first.number, last.number, first.src(i)[0],
                             last.src(j)[1])

    spans: list[tuple[int, int]] = []
    cursor = 0
    for piece in sentencex.segment("fr", text):
        piece = piece.strip()
        if not piece:
            continue
        at = text.find(piece, cursor)
        if at < 0:  # the segmenter changed the text; fall back to the whole block
            return (sentence(1, 0, len(text)),)
        cursor = at + len(piece)
        if spans and _continues(text[spans[-1][0]:spans[-1][1]], piece):
            spans[-1] = (spans[-1][0], cursor)
        else:
            spans.append((at, cursor))
    cuts = sorted(_bullet_cuts(block))
    for at, end in spans:  # (n words take at least 2n - 1 characters: a shorter span is not counted)
        if end - at > 2 * _LONG_SENTENCE_WORDS and len(_WORD.findall(text, at, end)) > _LONG_SENTENCE_WORDS:
            cuts.extend(_fallback_ends(text, at, end))
    if cuts:
        cuts.sort()
        spans = [p for at, end in spans for p in _split_at(text, at, end, cuts)]
    return tuple(sentence(k, at, end) for k, (at, end) in enumerate(spans, start=1))


# sentencex ends a sentence after "M." or "J." ("Tard vendredi, M." / "Trump a
# déclaré"): a piece ending in a title or an initial continues into the next;
# one ending in an abbreviated month continues when a number follows ("sept. 2020").
_TITLE_END = re.compile(r"(?:^|[\s(«\"'])(?:M|MM|Mme|Mmes|Mlle|Mlles|Dr|Pr|Me|Mgr|St|Ste|[A-Z])\.$")
_MONTH_END = re.compile(r"(?:^|\s)(?:janv|févr|fév|avr|juil|sept|oct|nov|déc)\.$", re.IGNORECASE)


def _continues(previous: str, piece: str) -> bool:
    # Both patterns end at the string's end and match at most 8 characters ("«Mlles.\n"): searched in
    # the last 9 only (a whole sentence took 4x longer), where a match at ^ needs the whole string anyway.
    tail = previous[-9:]
    return bool(_TITLE_END.search(tail)) or (bool(_MONTH_END.search(tail)) and piece[:1].isdigit())


def clean_source(text: str) -> tuple[str, int, int]:
    """Control characters (NUL included) replaced by spaces: (text, how many, line of the first)."""
    first = _CONTROL.search(text)
    if first is None:
        return text, 0, 0
    line = len(split_lines(text[: first.start()]))
    cleaned, n = _CONTROL.subn(" ", text)
    return cleaned, n, line


_MIN_HEADLINE_WORDS = 5  # a document with no body paragraph needs this many words to be an article


def ingest_text(
    text: str, *, doc_id: str, path: str, sha256: str, encoding: str,
    settings: IngestSettings, langid: LanguageIdentifier,
) -> Document:
    """Turn one decoded text into a Document (raises InputError if no article text is left).

    `text`, with control characters replaced by spaces, is the document's
    source of record (`Document.source_text`).
    """
    text, n_control, control_line = clean_source(text)
    blocks, dropped, date = _blocks(text, settings)
    if n_control:
        dropped.insert(0, DroppedBlock(control_line, control_line, "",
                                       f"{n_control} control character(s) (NUL and the like) replaced by spaces, "
                                       f"the first on line {control_line}"))
    seen: dict[str, int] = {}
    kept: list[_Block] = []
    for block in blocks:
        key = block.text.casefold()
        if key in seen:
            dropped.append(DroppedBlock(block.line_start, block.line_end, block.text, f"repeats lines {seen[key]} of the same file"))
            continue
        seen[key] = block.line_start
        kept.append(block)
    if not kept:
        raise InputError("no text left after removing page boilerplate")

    full = " ".join(b.text for b in kept)
    doc_lang = langid.detect(full[:4000]) or "und"
    paragraphs: list[Paragraph] = []
    edits: list[tuple[int | str, ...]] = []
    for index, block in enumerate(kept, start=1):
        pid = f"{doc_id}:p{index}"
        body = block.text
        words = len(_WORD.findall(body))
        lang = (langid.detect(body) if words >= settings.lang_min_words else None) or doc_lang
        kind = "heading" if _is_heading(body, len(block.lines), words) else "body"
        first, last = block.lines[0], block.lines[-1]
        paragraphs.append(
            Paragraph(pid, doc_id, index, body, block.line_start, block.line_end, lang, kind,
                      _sentences(pid, block, body), first.src(0)[0], last.src(len(last.text) - 1)[1])
        )
        edits.append(_source_edits(block, body, text))
    if not any(p.kind == "body" for p in paragraphs) and len(_WORD.findall(full)) < _MIN_HEADLINE_WORDS:
        # a one-line news item ("Grève des contrôleurs aériens ce jeudi") is an article, read through
        # its heading; a few words left by boilerplate removal ("Newsletter") are not
        raise InputError("no article text: only headings, tags or short lines are left after removing page boilerplate")
    title = None
    for p in paragraphs:
        if p.kind == "body":
            break
        if len(_WORD.findall(p.text)) >= 4:
            title = p.text
            break
    return Document(
        doc_id=doc_id, path=path, sha256=sha256, encoding=encoding, lang=doc_lang,
        title=title, date=date, paragraphs=tuple(paragraphs), dropped=tuple(dropped),
        layout=_layout(text, paragraphs, edits), file_sha256=sha256,
    )


# --- the source of record, held once -------------------------------------------------
#
# A Document holds its paragraphs' normalised text; its source text (`Document.source_text`) is made
# from it and a `SourceLayout`: the source between the paragraphs, and where each paragraph's source
# differs from its text (typographic quotes, several spaces, the line breaks of a block...).


def _source_edits(block: _Block, text: str, source: str) -> tuple[int | str, ...]:
    """`SourceLayout.edits` of one paragraph: (start, end, source string) triples over its text `text`
    that turn it into its source `source[char_start:char_end]`, found from each character's origin."""
    first, last = block.lines[0], block.lines[-1]
    start, end = first.src(0)[0], last.src(len(last.text) - 1)[1]
    if source[start:end] == text:
        return ()
    out: list[list[Any]] = []  # [start, end, source string]

    def edit(a: int, b: int, string: str) -> None:
        if out and out[-1][1] == a:
            out[-1][1] = b
            out[-1][2] += string
        else:
            out.append([a, b, string])

    pos = start  # in source: what is accounted for
    t = 0  # in text
    for k, line in enumerate(block.lines):
        if k:  # the space joining two lines stands for the source between them
            a = line.src(0)[0]
            edit(t, t + 1, source[pos:a])
            pos, t = a, t + 1
        if line.starts is None or line.ends is None:  # the line's text is its source as is
            pos, t = line.offset + len(line.text), t + len(line.text)
            continue
        line_text, starts, ends, offset = line.text, line.starts, line.ends, line.offset
        i, n = 0, len(line_text)
        while i < n:
            a, b = starts[i], ends[i]
            j = i + 1
            while j < n and starts[j] == a and ends[j] == b:  # characters made from one piece of source (NFC)
                j += 1
            a, b = a + offset, b + offset
            if a < pos:
                return _whole(text, source, start, end)
            if a > pos:
                edit(t + i, t + i, source[pos:a])
            if b - a != j - i or source[a:b] != line_text[i:j]:
                edit(t + i, t + j, source[a:b])
            pos, i = b, j
        t += n
    edits = tuple(v for a, b, string in out for v in (a, b, string))
    if pos != end or source_of(text, edits) != source[start:end]:
        return _whole(text, source, start, end)
    return edits


def _whole(text: str, source: str, start: int, end: int) -> tuple[int | str, ...]:
    """The edit that puts back a paragraph's whole source (when its characters' origins do not say it)."""
    return (0, len(text), source[start:end])


_SHORT_GAP = 8  # gaps this short ("\n\n") are interned: one string for every document


def _layout(source: str, paragraphs: Sequence[Paragraph], edits: Sequence[tuple[int | str, ...]]) -> SourceLayout:
    """The document's `SourceLayout`: the source between its paragraphs, and each paragraph's edits.
    The source whole when its paragraphs do not lie in order in it (not expected; never wrong)."""
    gaps: list[str] = []
    pos = 0
    for p in paragraphs:
        if p.char_start < pos:
            return SourceLayout((source,))
        gap = source[pos:p.char_start]
        gaps.append(sys.intern(gap) if len(gap) <= _SHORT_GAP else gap)
        pos = p.char_end
    gap = source[pos:]
    gaps.append(sys.intern(gap) if len(gap) <= _SHORT_GAP else gap)
    layout = SourceLayout(tuple(gaps), tuple(edits))
    if layout.text(tuple(paragraphs)) != source:
        return SourceLayout((source,))
    return layout


# --- formats -------------------------------------------------------------------------
#
# Each reader turns one input file into records: (record key, where, raw sha256,
# extract()). extract() runs only when the ingest cache has no Document for
# that record's bytes, so trafilatura, feedparser and friends are not run again
# on an unchanged corpus. A reader raises InputError for a file it cannot read
# at all and yields a _Skip for one bad record (the others are still read).

# extension (after an optional .gz) -> format
_FORMATS = {
    ".txt": "txt", ".md": "md", ".html": "html", ".htm": "html", ".xml": "feed", ".rss": "feed",
    ".atom": "feed", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv",
    ".parquet": "parquet", ".warc": "warc",
}
_GZIP_OK = {"html", "warc", "jsonl", "csv", "json", "txt", "md"}
_HTML_TAG = re.compile(rb"<\s*(?:!doctype\s+html|html|head|body|article|div|p)\b", re.IGNORECASE)
_FEED_ROOT = re.compile(rb"<\s*(?:rss|feed|rdf:RDF)\b")
_HTML_FRAGMENT = re.compile(r"<\s*(?:p|div|br|span|a|h[1-6]|ul|ol|li|article|section|em|strong|b|i|img|figure)\b[^>]*>",
                            re.IGNORECASE)


def format_of(name: str) -> tuple[str | None, bool]:
    """(format, gzipped) from a file name; format None when the extension is not one we read."""
    lower = name.lower()
    gz = lower.endswith(".gz")
    if gz:
        lower = lower[:-3]
    fmt = _FORMATS.get(os.path.splitext(lower)[1])
    if fmt is None or (gz and fmt not in _GZIP_OK):
        return None, gz
    return fmt, gz


@dataclass
class _Extracted:
    text: str
    extractor: str
    encoding: str = "utf-8"
    title: str | None = None
    date: str | None = None
    url: str | None = None
    author: str | None = None
    site_name: str | None = None
    notes: tuple[str, ...] = ()


@dataclass
class _Record:
    key: str | None  # for the doc id: None for a one-document file
    where: str | None  # shown to the user: "line 3", "row 2", "item 1", a WARC-Record-ID
    sha256: str  # of the record's raw bytes
    extract: Callable[[], _Extracted]  # picklable (a partial of a module-level function): it runs on a worker


@dataclass
class _Skip:
    where: str
    reason: str


# Libraries whose version changes what a reader extracts: part of the ingest cache key of its documents.
_READER_LIBRARIES = {
    "html": ("trafilatura", "lxml"), "warc": ("warcio", "trafilatura", "lxml"), "feed": ("feedparser", "lxml"),
    "jsonl": ("lxml",), "json": ("lxml",), "csv": ("pyarrow", "lxml"), "parquet": ("pyarrow", "lxml"),
}


def _store_key(sha256: str, fmt: str) -> str:
    """What the ingest cache keys a document on: its raw bytes' hash, plus the extractors' versions."""
    libraries = _READER_LIBRARIES.get(fmt, ())
    if not libraries:
        return sha256
    return _sha(" ".join([sha256, fmt, *(f"{n}={_package_version(n)}" for n in libraries)]).encode())


@lru_cache(maxsize=None)
def _package_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read in 1 MB chunks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _gunzip(raw: bytes) -> bytes:
    if not raw.startswith(b"\x1f\x8b"):
        raise InputError("named .gz but not gzip-compressed")
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(f"damaged gzip data ({exc})") from None


def _open_stream(path: Path, gz: bool) -> IO[bytes]:
    """The file's bytes, decompressed on the fly when gz (InputError when it is not gzip)."""
    f = path.open("rb")
    if not gz:
        return f
    if f.read(2) != b"\x1f\x8b":
        f.close()
        raise InputError("named .gz but not gzip-compressed")
    f.seek(0)
    return gzip.GzipFile(fileobj=f)  # type: ignore[return-value]


def _looks_like(raw: bytes) -> str:
    """What the first bytes say the content is: gzip, pdf, zip, parquet, warc, feed, html, xml, json, text."""
    head = raw[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"%PDF"):
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"WARC/"):
        return "warc"
    if head.startswith(b"<"):
        if _FEED_ROOT.search(head):
            return "feed"
        return "html" if _HTML_TAG.search(head) else "xml"
    if head[:1] in (b"{", b"["):
        return "json"
    return "text"


def _mismatch(name: str, fmt: str, found: str) -> InputError:
    return InputError(f"named like {fmt} but the content looks like {found}; rename it or fix the export")


def _html_fragment_text(html: str) -> str:
    """Text of an HTML fragment (a feed item's content, a record's HTML body): one paragraph per block element."""
    import lxml.html

    try:
        root = lxml.html.fragment_fromstring(html, create_parent="div")
    except Exception:  # lxml raises ParserError / ValueError subclasses on junk
        return re.sub(r"<[^>]+>", " ", html)
    for el in list(root.iter("script", "style")):
        el.drop_tree()
    for br in root.iter("br"):
        br.tail = "\n" + (br.tail or "")
    blocks = ("p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "section", "article", "tr", "figure")
    for el in root.iter(*blocks):
        el.tail = "\n\n" + (el.tail or "")
        if el.text:
            el.text = "\n\n" + el.text
    text = root.text_content()
    return re.sub(r"[ \t]*\n\s*\n\s*", "\n\n", text).strip()


def _text_value(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return _html_fragment_text(text) if _HTML_FRAGMENT.search(text) else text


def _first(record: dict[str, Any], names: Sequence[str]) -> Any:
    for name in names:
        value = record.get(name)
        if value is not None and value != "":
            return value
    return None


def _opt_str(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


_MIN_PAGE_WORDS = 15  # fewer words extracted from a page: no article there (a menu, an error page, junk)


def _html_page(raw: bytes, name: str) -> _Extracted:
    """Main text and metadata of a web page (trafilatura)."""
    import trafilatura

    found = _looks_like(raw)
    if found not in ("html", "xml", "text") or not _HTML_TAG.search(raw[:200_000]):
        raise _mismatch(name, "an HTML page", found if found != "text" else "text without HTML markup")
    try:
        doc = trafilatura.bare_extraction(raw, with_metadata=True)
    except Exception as exc:  # trafilatura/lxml raise many kinds on broken markup
        raise InputError(f"malformed HTML, no text could be extracted ({exc.__class__.__name__})") from None
    text = ((getattr(doc, "text", None) or "") if doc is not None else "").strip()
    # trafilatura puts one paragraph per line; a blank line between them makes each one of ours
    text = "\n\n".join(line.strip() for line in text.splitlines() if line.strip())
    words = len(_WORD.findall(text))
    if words < _MIN_PAGE_WORDS:
        raise InputError(f"no main text found in the page ({words} word(s) extracted; trafilatura found only "
                         "navigation, boilerplate or broken markup)")
    return _Extracted(
        text=text, extractor=f"trafilatura {_package_version('trafilatura')}", encoding="html",
        title=getattr(doc, "title", None) or None, date=getattr(doc, "date", None) or None,
        url=getattr(doc, "url", None) or None, author=getattr(doc, "author", None) or None,
        site_name=getattr(doc, "sitename", None) or None,
    )


def _read_whole(path: Path, gz: bool, limit_mb: float) -> tuple[bytes, bytes]:
    """(raw bytes, content): the whole file, at most limit_mb, and its content decompressed when gz."""
    raw = _read_raw(path, int(limit_mb * 1_000_000))
    return raw, (_gunzip(raw) if gz else raw)


def _read_html(path: Path, gz: bool, settings: IngestSettings) -> Iterator[_Record | _Skip]:
    raw, page = _read_whole(path, gz, settings.max_file_mb)
    yield _Record(None, None, _sha(raw), partial(_html_page, page, path.name))


def _read_feed(path: Path, gz: bool, settings: IngestSettings) -> Iterator[_Record | _Skip]:
    import feedparser

    _, raw = _read_whole(path, gz, settings.max_file_mb)
    found = _looks_like(raw)
    if found != "feed":
        raise InputError(f"not an RSS/Atom feed (the content looks like {found}, not feed XML)")
    feed = feedparser.parse(raw)
    if feed.bozo and not feed.entries:
        raise InputError(f"not a readable RSS/Atom feed: {feed.get('bozo_exception')}")
    version = f"feedparser {_package_version('feedparser')}"
    site = feed.feed.get("title") if feed.get("feed") else None
    for n, entry in enumerate(feed.entries, start=1):
        full = entry.get("content")
        body = full[0].get("value") if full else None
        notes: tuple[str, ...] = ()
        if not body:
            body = entry.get("summary")
            notes = ("feed summary only",)
        parsed = entry.get("published_parsed") or entry.get("updated_parsed")
        date = time.strftime("%Y-%m-%d", parsed) if parsed else (entry.get("published") or entry.get("updated"))
        key = entry.get("id") or entry.get("link") or str(n)
        payload = json.dumps([key, entry.get("title"), body, date, entry.get("link")], ensure_ascii=False)
        extract = partial(_feed_extract, body, version, entry.get("title") or None, date, entry.get("link") or None,
                          entry.get("author") or None, site, notes)
        yield _Record(key, f"item {n}", _sha(payload.encode("utf-8")), extract)


def _feed_extract(body: Any, version: str, title: str | None, date: str | None, url: str | None, author: str | None,
                  site: str | None, notes: tuple[str, ...]) -> _Extracted:
    text = _text_value(body).strip()
    if not text:
        raise InputError("empty text (the item has neither content nor summary)")
    return _Extracted(text=text, extractor=version, title=title, date=date, url=url, author=author, site_name=site,
                      notes=notes)


def _record_extract(record: dict[str, Any], settings: IngestSettings, extractor: str) -> _Extracted:
    fields = settings.fields
    value = _first(record, fields.text)
    if value is None:
        raise InputError(f"no text field (ingest.fields.text: {', '.join(fields.text)})")
    text = _text_value(value).strip()
    if not text:
        raise InputError("empty text")
    return _Extracted(text=text, extractor=extractor, title=_opt_str(_first(record, fields.title)),
                      date=_opt_str(_first(record, fields.date)), url=_opt_str(_first(record, fields.url)),
                      author=_opt_str(_first(record, fields.author)))


def _record(n: int, where: str, record: Any, raw: bytes, settings: IngestSettings, extractor: str) -> _Record | _Skip:
    if not isinstance(record, dict):
        return _Skip(where, f"not a JSON object but {type(record).__name__}")
    key = _first(record, settings.fields.id)
    return _Record(str(key) if key is not None else str(n), where, _sha(raw),
                   partial(_record_extract, record, settings, extractor))


def _read_jsonl(path: Path, gz: bool, settings: IngestSettings) -> Iterator[_Record | _Skip]:
    extractor = "json lines (python json)"
    with _open_stream(path, gz) as stream:
        try:
            first = True
            for n, line in enumerate(stream, start=1):
                if first and line.strip():
                    line = line.removeprefix(b"\xef\xbb\xbf")
                    if not line.lstrip().startswith(b"{"):
                        raise _mismatch(path.name, "JSON lines", _looks_like(line))
                    first = False
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError as exc:
                    yield _Skip(f"line {n}", f"line {n} is not JSON ({exc})")
                    continue
                yield _record(n, f"line {n}", record, line, settings, extractor)
        except (OSError, EOFError, zlib.error) as exc:
            raise InputError(f"cannot read the file to its end ({exc})") from None


def _read_json(path: Path, gz: bool, settings: IngestSettings) -> Iterator[_Record | _Skip]:
    _, raw = _read_whole(path, gz, settings.max_json_array_mb)
    found = _looks_like(raw)
    if found != "json":
        raise _mismatch(path.name, "JSON", found)
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise InputError(f"not valid JSON ({exc})") from None
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise InputError("JSON that is neither an array of records nor one record")
    for n, record in enumerate(data, start=1):
        raw_record = json.dumps(record, ensure_ascii=False, sort_keys=True).encode()
        yield _record(n, f"record {n}", record, raw_record, settings, "json (python json)")


def _check_columns(path: Path, columns: Sequence[str], settings: IngestSettings) -> None:
    if not any(c in columns for c in settings.fields.text):
        raise ConfigError(
            f"{path}: no text column: none of ingest.fields.text ({', '.join(settings.fields.text)}) is among its "
            f"columns ({', '.join(columns)}); set ingest.fields.text to the column that holds the article text"
        )


def _batch_records(batches: Iterable[Any], path: Path, settings: IngestSettings,
                   extractor: str) -> Iterator[_Record | _Skip]:
    n = 0
    checked = False
    for batch in batches:
        if not checked:
            _check_columns(path, batch.schema.names, settings)
            checked = True
        for record in batch.to_pylist():
            n += 1
            raw = json.dumps(record, ensure_ascii=False, sort_keys=True, default=str).encode()
            yield _record(n, f"row {n}", record, raw, settings, extractor)


def _read_csv(path: Path, gz: bool, settings: IngestSettings) -> Iterator[_Record | _Skip]:
    import pyarrow
    import pyarrow.csv as pacsv

    bad_rows: list[_Skip] = []

    def invalid(row: Any) -> str:
        bad_rows.append(_Skip(f"line {row.number}" if row.number else "a row",
                              f"expected {row.expected_columns} columns, found {row.actual_columns}"))
        return "skip"

    with _open_stream(path, gz) as head:
        try:
            sample = head.read(4096)
        except (OSError, EOFError, zlib.error) as exc:
            raise InputError(f"cannot read the file ({exc})") from None
    found = _looks_like(sample)
    if found != "text":
        raise _mismatch(path.name, "CSV", found)
    extractor = f"csv (pyarrow {pyarrow.__version__})"
    try:
        with _open_stream(path, gz) as stream:
            reader = pacsv.open_csv(
                stream, parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=invalid),
                convert_options=pacsv.ConvertOptions(strings_can_be_null=False),
            )
            for item in _batch_records(reader, path, settings, extractor):
                yield from bad_rows
                bad_rows.clear()
                yield item
        yield from bad_rows
    except pyarrow.ArrowInvalid as exc:
        raise InputError(f"not readable as CSV ({str(exc).splitlines()[0]})") from None


def _read_parquet(path: Path, gz: bool, settings: IngestSettings) -> Iterator[_Record | _Skip]:
    import pyarrow
    import pyarrow.parquet as pq

    with path.open("rb") as f:
        head = f.read(4096)
    if not head.startswith(b"PAR1"):
        raise _mismatch(path.name, "Parquet", _looks_like(head))
    try:
        batches = pq.ParquetFile(path).iter_batches(batch_size=512)
        yield from _batch_records(batches, path, settings, f"parquet (pyarrow {pyarrow.__version__})")
    except (pyarrow.ArrowException, OSError) as exc:
        raise InputError(f"not readable as Parquet ({exc})") from None


def _read_warc(path: Path, gz: bool, settings: IngestSettings) -> Iterator[_Record | _Skip]:
    from warcio.archiveiterator import ArchiveIterator
    from warcio.exceptions import ArchiveLoadFailed

    max_bytes = int(settings.max_file_mb * 1_000_000)
    other: dict[str, int] = {}
    with path.open("rb") as f:
        head = f.read(4096)
        if gz and not head.startswith(b"\x1f\x8b"):
            raise InputError("named .gz but not gzip-compressed")
        if not gz and _looks_like(head) != "warc":
            raise _mismatch(path.name, "a WARC archive", _looks_like(head))
        f.seek(0)
        n = 0
        try:
            for rec in ArchiveIterator(f):
                n += 1
                kind = rec.rec_type
                ctype = (rec.http_headers.get_header("Content-Type") or "") if rec.http_headers else ""
                if kind != "response" or "html" not in ctype.lower():
                    label = kind if kind != "response" else f"response {ctype.split(';')[0] or 'without type'}"
                    other[label] = other.get(label, 0) + 1
                    rec.content_stream().read()
                    continue
                rid = rec.rec_headers.get_header("WARC-Record-ID") or f"record {n}"
                uri = rec.rec_headers.get_header("WARC-Target-URI")
                date = rec.rec_headers.get_header("WARC-Date")
                payload = rec.content_stream().read(max_bytes + 1)
                if len(payload) > max_bytes:
                    yield _Skip(rid, f"record over the {max_bytes / 1e6:.1f} MB limit (ingest.max_file_mb)")
                    continue
                missing = getattr(rec.raw_stream, "limit", 0)
                if missing:
                    yield _Skip(rid, f"truncated WARC record: {missing} byte(s) of its declared length are missing")
                    continue
                yield _Record(rid.strip("<>").removeprefix("urn:uuid:"), rid, _sha(payload),
                              partial(_warc_extract, payload, uri, date, path.name))
        except (ArchiveLoadFailed, OSError, EOFError, zlib.error, ValueError) as exc:
            yield _Skip(f"after record {n}", f"truncated or damaged WARC record; the rest of the file is not read ({exc})")
    if other:
        log.info("%s: %d non-HTML WARC record(s) skipped (%s)", path.name, sum(other.values()),
                 ", ".join(f"{k}: {v}" for k, v in sorted(other.items())))


def _warc_extract(payload: bytes, uri: str | None, date: str | None, name: str) -> _Extracted:
    page = _html_page(payload, uri or name)
    return replace(page, url=page.url or uri, date=page.date or (date[:10] if date else None))


def _read_text(path: Path, gz: bool, settings: IngestSettings) -> Iterator[_Record | _Skip]:
    raw, data = _read_whole(path, gz, settings.max_file_mb)
    yield _Record(None, None, _sha(raw), partial(_text_extract, data))


def _text_extract(data: bytes) -> _Extracted:
    text, encoding = decode_bytes(data)
    return _Extracted(text=text, extractor="text", encoding=encoding)


_READERS: dict[str, Callable[[Path, bool, IngestSettings], Iterator[_Record | _Skip]]] = {
    "txt": _read_text, "md": _read_text, "html": _read_html, "feed": _read_feed, "jsonl": _read_jsonl,
    "json": _read_json, "csv": _read_csv, "parquet": _read_parquet, "warc": _read_warc,
}


# --- ids -----------------------------------------------------------------------------

_UNSAFE_ID = re.compile(r"[^\w.-]+")


def safe_id(text: str) -> str:
    """An id made of letters, digits, '.', '_' and '-' only (paragraph ids are "<doc_id>:p<n>", split on ':')."""
    return (_UNSAFE_ID.sub("_", text).strip("._") or "doc")[:120]


def _doc_ids(corpus_dir: Path, files: list[Path]) -> Iterator[tuple[Path, str]]:
    """(file, id): the file's stem (without .gz and the format's extension), or its path when stems collide."""
    def stem(p: Path) -> str:
        name = p.name[:-3] if p.name.lower().endswith(".gz") else p.name
        return os.path.splitext(name)[0]

    stems = [stem(p) for p in files]
    counts: dict[str, int] = {}
    for st in stems:
        counts[st] = counts.get(st, 0) + 1
    used: set[str] = set()
    for path, st in zip(files, stems):
        base = safe_id(st if counts[st] == 1 else path.relative_to(corpus_dir).as_posix().replace("/", "__"))
        doc_id, k = base, 2
        while doc_id in used:
            doc_id, k = f"{base}-{k}", k + 1
        used.add(doc_id)
        yield path, doc_id


# --- the cached form of a Document ---------------------------------------------------------
#
# What the ingest cache stores of a Document (`pipeline.cache.IngestCache`): its text once (each
# paragraph's; the rest of the source as `SourceLayout` gaps and edits) and each paragraph's sentences
# as flat numbers, in tuples, lists, strings and numbers only: the cache writes it with `marshal`,
# which reads back 2x faster than JSON (a warm run reads every document). Paragraph and sentence ids
# are not stored: ingest makes them from the document's id.

STORED_FORMAT = 3  # bump when what `stored_document` writes changes


def stored_document(d: Document) -> tuple[Any, ...]:
    """The cached form of a Document made by `ingest_text` (ValueError for another): (format, the
    document's fields, dropped blocks, layout gaps, paragraphs), of tuples, lists, str, int and None."""
    layout = d.layout
    by_paragraph = len(layout.gaps) > 1  # else the source is held whole (`_layout`)
    if by_paragraph and (len(layout.gaps) != len(d.paragraphs) + 1 or len(layout.edits) != len(d.paragraphs)):
        raise ValueError(f"{d.doc_id}: its source's layout does not match its paragraphs")
    paragraphs = []
    for index, (p, edits) in enumerate(zip(d.paragraphs, layout.edits if by_paragraph else [()] * len(d.paragraphs)),
                                       start=1):
        if p.pid != f"{d.doc_id}:p{index}" or p.index != index or p.doc_id != d.doc_id:
            raise ValueError(f"{p.pid}: not a paragraph ingest made")
        numbers: list[int] = []
        for k, s in enumerate(p.sentences, start=1):
            if s.in_text is not p.text or s.sid != f"{p.pid}.s{k}" or s.pid != p.pid:
                raise ValueError(f"{s.sid}: not a sentence ingest made")
            numbers += (s.line_start, s.line_end, s.char_start, s.char_end, s.at, s.end)
        paragraphs.append((p.text, p.line_start, p.line_end, p.lang, p.kind, p.char_start, p.char_end,
                           tuple(edits), tuple(numbers)))
    return (STORED_FORMAT,
            (d.doc_id, d.path, d.sha256, d.encoding, d.lang, d.title, d.date, d.format, d.record, d.url,
             d.extractor, d.file_sha256, d.author, d.site_name, tuple(d.notes)),
            [(b.line_start, b.line_end, b.text, b.reason) for b in d.dropped],
            tuple(layout.gaps),
            paragraphs)


def document_from_stored(data: Sequence[Any]) -> Document:
    """Inverse of `stored_document` (ValueError, TypeError, KeyError or IndexError for a value of another
    shape or format)."""
    stored_format, fields, dropped, stored_gaps, stored_paragraphs = data
    if stored_format != STORED_FORMAT:
        raise ValueError(f"stored document format {stored_format!r}, not {STORED_FORMAT}")
    (doc_id, path, sha256, encoding, lang, title, date, fmt, record, url, extractor, file_sha, author, site_name,
     notes) = fields
    new, span = object.__new__, Sentence.span
    paragraphs = []
    all_edits = []
    for index, (text, line_start, line_end, p_lang, kind, char_start, char_end, edits, numbers) in enumerate(
            stored_paragraphs, start=1):
        if not isinstance(text, str) or len(numbers) % 6:
            raise TypeError(f"{doc_id}: paragraph {index} is not a stored paragraph")
        pid = f"{doc_id}:p{index}"
        sentences = tuple(span(f"{pid}.s{k}", pid, text, numbers[i + 4], numbers[i + 5], numbers[i],
                               numbers[i + 1], numbers[i + 2], numbers[i + 3])
                          for k, i in enumerate(range(0, len(numbers), 6), start=1))
        p = new(Paragraph)
        p.__dict__.update(pid=pid, doc_id=doc_id, index=index, text=text, line_start=line_start, line_end=line_end,
                          lang=p_lang, kind=kind, sentences=sentences, char_start=char_start, char_end=char_end)
        paragraphs.append(p)
        all_edits.append(tuple(edits))
    gaps = tuple(g if len(g) > _SHORT_GAP else sys.intern(g) for g in stored_gaps)
    if len(gaps) != len(paragraphs) + 1 and (len(gaps) != 1 or any(all_edits)):
        raise ValueError(f"{doc_id}: {len(gaps)} gaps for {len(paragraphs)} paragraphs")
    return Document(
        doc_id=doc_id, path=path, sha256=sha256, encoding=encoding, lang=lang, title=title, date=date,
        paragraphs=tuple(paragraphs), dropped=tuple(DroppedBlock(*b) for b in dropped),
        layout=SourceLayout(gaps, tuple(all_edits) if len(gaps) > 1 else ()), format=fmt, record=record, url=url,
        extractor=extractor, file_sha256=file_sha, author=author, site_name=site_name, notes=tuple(notes),
    )


class DocumentStore(Protocol):
    """Where `ingest` keeps Documents between runs (`pipeline.cache.IngestCache`): (store key, doc id, path)."""

    def load_many(self, keys: Sequence[tuple[str, str, str]]) -> list[Document | None]: ...

    def save_many(self, items: Sequence[tuple[tuple[str, str, str], Document]]) -> None: ...


class Session(Protocol):
    """Where the per-record work runs (`pipeline.executors`): results in the order of the items."""

    def map(self, fn: Callable[[Any, Any], Any], items: Sequence[Any]) -> list[Any]: ...


# Records per task sent to a worker, and records read (and hashed, and looked up in the cache) per round
# before the round's misses go to the workers. Fixed, so the work is cut the same way whatever the number
# of workers; a round's raw bytes are all the driver holds of the input at once.
INGEST_SLICE = 16
INGEST_ROUND = 512


@dataclass(frozen=True)
class _Job:
    """One record to analyse on a worker: how to get its text, and the Document's identity."""

    extract: Callable[[], _Extracted]  # a partial of a module-level function (picklable)
    doc_id: str
    path: str
    sha256: str
    fmt: str
    where: str | None
    file_sha256: str


@dataclass
class IngestContext:
    """What ingest workers share: the settings, and a language identifier built once.

    Before the local pool forks, ingest loads lingua's models (a second of CPU for seven languages)
    here, so the workers share those pages instead of each loading its own; the background worker
    (`_Analysis`), and a process that gets the context through pickling (a Ray actor), build their
    own on first use."""

    settings: IngestSettings
    # lingua's models loaded by its own threads (`LanguageIdentifier`'s `preload`): for the background worker
    # only, which forks nothing (the process that forks the pool loads them lazily, without threads)
    preload: bool = False
    _langid: LanguageIdentifier | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_langid": None}  # lingua is rebuilt where it runs

    def langid(self) -> LanguageIdentifier:
        if self._langid is None:
            self._langid = LanguageIdentifier(self.settings.languages, preload=self.preload)
            self._langid.detect("Le conseil a voté. The council voted.")  # loads every model now
        return self._langid


def ingest_slice(ctx: IngestContext, jobs: Sequence[_Job]) -> list[Document | str]:
    """Worker function: each record's Document, or why it was skipped (decode, extract, clean, split, langid)."""
    out: list[Document | str] = []
    for job in jobs:
        try:
            got = job.extract()
            document = ingest_text(got.text, doc_id=job.doc_id, path=job.path, sha256=job.sha256,
                                   encoding=got.encoding, settings=ctx.settings, langid=ctx.langid())
            out.append(replace(
                document, format=job.fmt, record=job.where, url=got.url, extractor=got.extractor,
                file_sha256=job.file_sha256 or job.sha256, title=got.title or document.title,
                date=got.date or document.date, author=got.author, site_name=got.site_name, notes=got.notes,
            ))
        except InputError as exc:
            out.append(str(exc))
    return out


class _Pending(Protocol):
    """Results on their way (`multiprocessing.pool.AsyncResult`'s methods): `get` waits for them."""

    def ready(self) -> bool: ...

    def get(self) -> Any: ...


class _Done:
    """Results already made (a `_Pending` that never waits)."""

    def __init__(self, results: list[Any]) -> None:
        self.results = results

    def ready(self) -> bool:
        return True

    def get(self) -> list[Any]:
        return self.results


class _Round:
    """The records read since the last flush, in corpus order: skips, and jobs with their store keys."""

    def __init__(self) -> None:
        self.entries: list[SkippedInput | tuple[_Job, str, str]] = []  # (job, where shown, store key)
        self.jobs = 0
        self.files = 0  # files whose every record is in this round (for progress)

    def submit(self, analysis: _Analysis, store: DocumentStore | None) -> _Submitted:
        """Look the round's records up in the store (one query) and start the analysis of the others (fixed
        slices); the round is then empty again. What is kept until `_Submitted.finish` is small: the found
        Documents and each record's place, not the records' bytes."""
        pending = [e for e in self.entries if not isinstance(e, SkippedInput)]
        keys = [(key, job.doc_id, job.path) for job, _, key in pending]
        found = store.load_many(keys) if store is not None else [None] * len(pending)
        # (a file not read, its Document not stored: read here, as every file is, not where it is analysed)
        misses = [replace(job, extract=job.extract.read()) if isinstance(job.extract, _NotRead) else job
                  for (job, _, _), hit in zip(pending, found) if hit is None]
        slices = [misses[i:i + INGEST_SLICE] for i in range(0, len(misses), INGEST_SLICE)]
        made = analysis.start(ingest_slice, slices)
        by_entry = iter(found)
        entries = [e if isinstance(e, SkippedInput) else (e[1], next(by_entry)) for e in self.entries]
        submitted = _Submitted(entries, [k for k, hit in zip(keys, found) if hit is None], made, self.files)
        self.entries, self.jobs, self.files = [], 0, 0
        return submitted


@dataclass
class _Submitted:
    """A round whose records were looked up and whose misses are being analysed (`made`, one list per slice)."""

    entries: list[SkippedInput | tuple[str, Document | None]]  # (where shown, found Document or None)
    miss_keys: list[tuple[str, str, str]]
    made: _Pending
    files: int

    def finish(self, store: DocumentStore | None, documents: list[Document], skipped: list[SkippedInput]) -> None:
        """Wait for the analysis, save what it made in the store, add the round's Documents and skips in order."""
        made = [r for part in self.made.get() for r in part]
        if store is not None:
            store.save_many([(k, r) for k, r in zip(self.miss_keys, made) if isinstance(r, Document)])
        by_miss = iter(made)
        for entry in self.entries:
            if isinstance(entry, SkippedInput):
                skipped.append(entry)
                continue
            where, result = entry
            if result is None:
                result = next(by_miss)
            if isinstance(result, Document):
                documents.append(result)
            else:
                skipped.append(SkippedInput(where, result))


def ingest(
    corpus_dir: Path,
    settings: IngestSettings,
    *,
    store: DocumentStore | None = None,
    progress: Callable[[int, int], None] | None = None,
    exclude: Sequence[Path] = (),
    executor: Any = None,
    hashes: HashStore | None = None,
) -> IngestResult:
    """Read every input file under corpus_dir. Bad files and bad records are skipped with a reason.

    Files are read and hashed here, in rounds of `INGEST_ROUND` records; a
    record whose bytes (SHA-256), id and path were ingested before with the
    same settings comes from the `store` (one query per round); the others
    are decoded, extracted, cleaned, split into sentences and their language
    identified in slices of `INGEST_SLICE`, on the `executor`'s workers
    (`pipeline.executors`; default: this process): see `_Analysis`. Language
    identification (lingua, slow to load) is loaded only when something is
    analysed. The result is the same, in the same order, whatever the number
    of workers.
    `exclude`: folders never read (pass the run's --out).
    `hashes` (the run's cache): where the SHA-256 of each file of one record (`_ONE_READ`) is remembered
    by its signature (`pipeline.file_hashes`): a file whose size, times and inode are those its hash was
    taken for is not read again, only looked up in the `store` by that hash (a warm run of 100,000
    articles read 214 MB of them: 0.7 s with the files in the page cache, 6.5 s with them on disk). It is
    read (here, as every file is) only when the store has no Document for it.
    `progress(done, total)` is called once before the first file (done = 0), then after each file.
    Raises ConfigError when a CSV or Parquet file has none of the configured text columns.
    """
    with ExitStack() as stack:
        return _ingest(corpus_dir, settings, store, progress, exclude, _Analysis(executor, settings, stack), hashes)


# Rounds whose analysis may be under way at once on the background worker (`_Analysis`) before this process
# waits for the oldest: what it holds meanwhile (their records' bytes in the worker's queue) stays bounded.
INGEST_PENDING = 64
# The same on the pool (a cold run): two rounds, so that the workers analyse the next round while this
# process stores the last one's Documents and reads the one after, and are never left idle between rounds.
INGEST_POOL_PENDING = 2
# Records the background worker (`_Analysis`) is handed in all, at most: half a round. A run's new records
# fit (the 101 of a +1% run of 10,000 articles come 1 to 20 a round); past that, the pool analyses them.
INGEST_BACKGROUND = 256


class _Analysis:
    """Where the records the store does not hold are analysed, opened at the first one (a warm run starts
    no worker and loads no language model):

    - a round with several slices to analyse (a cold run): on the executor's session; lingua is loaded
      here first, before the pool forks, so that its workers share the models' pages. Not waited for when
      the session can (`map_async`, the local pool): this process reads, looks up and stores the rounds
      before and after it meanwhile, with at most `INGEST_POOL_PENDING` rounds under way;
    - a round with one slice (a run with a few new records among many, where the pool would run it here),
      before any round with several, and the later rounds while the background worker has been handed at
      most `INGEST_BACKGROUND` records (theirs included): on the executor's background worker
      (`LocalExecutor.background`), not waited for: this process goes on reading, hashing and looking up
      the next rounds while that worker loads lingua (a second of CPU, on lingua's own threads there:
      `IngestContext.preload`) and analyses them. (A later round with a few slices among them does not make
      this process load lingua too, a second it would not read meanwhile, to fork a pool for them);
    - without an executor, or with one worker, or on a session without `map_async` (Ray): here or on the
      session, waited for, lingua loaded first."""

    def __init__(self, executor: Any, settings: IngestSettings, stack: ExitStack) -> None:
        self.executor, self.settings, self.stack = executor, settings, stack
        self._session: Session | None = None
        self._background: Any = None
        self._handed = 0  # records handed to the background worker

    def start(self, fn: Callable[[Any, Any], Any], slices: Sequence[Any]) -> _Pending:
        if not slices:
            return _Done([])
        executor = self.executor
        records = sum(len(s) for s in slices)
        if (self._session is None and (len(slices) == 1 or self._background is not None)
                and self._handed + records <= INGEST_BACKGROUND
                and executor is not None and executor.workers > 1 and executor.background is not None):
            if self._background is None:
                self._background = self.stack.enter_context(executor.background(IngestContext(self.settings,
                                                                                             preload=True)))
            self._handed += records
            return self._background.map_async(fn, slices)
        if self._session is None:
            context = IngestContext(self.settings)
            context.langid()  # here, before the pool forks (see IngestContext)
            from .executors.local import _InProcess

            self._session = (_InProcess(context) if executor is None
                             else self.stack.enter_context(executor.session(context)))
        map_async = getattr(self._session, "map_async", None)
        if map_async is not None:
            return map_async(fn, slices)
        return _Done(self._session.map(fn, slices))

    def max_pending(self) -> int:
        """How many submitted rounds may be under way before this process waits for the oldest."""
        return INGEST_PENDING if self._session is None else INGEST_POOL_PENDING


def _ingest(corpus_dir: Path, settings: IngestSettings, store: DocumentStore | None,
            progress: Callable[[int, int], None] | None, exclude: Sequence[Path], analysis: _Analysis,
            hashes: HashStore | None = None) -> IngestResult:
    files, skipped = discover(corpus_dir, settings.extensions, settings.follow_symlinks_outside, tuple(exclude))
    documents: list[Document] = []
    round_ = _Round()
    submitted: deque[_Submitted] = deque()  # in corpus order
    finished = 0

    def flush(wait: bool = False) -> None:
        """Submit the round read so far, then finish the submitted rounds whose results are in (all with
        `wait`; the oldest too while more than INGEST_PENDING are under way), in order."""
        nonlocal finished
        if round_.entries or round_.files:
            submitted.append(round_.submit(analysis, store))
        while submitted and (wait or submitted[0].made.ready() or len(submitted) > analysis.max_pending()):
            done = submitted.popleft()
            done.finish(store, documents, skipped)
            for _ in range(done.files):
                finished += 1
                if progress is not None:
                    progress(finished, len(files))

    if progress is not None:
        progress(0, len(files))
    display = _displayed(corpus_dir, corpus_name(corpus_dir))
    known = _KnownFiles(hashes if store is not None else None, settings)
    for path, file_id in known.looked_up(_doc_ids(corpus_dir, files)):
        shown = display(path)
        fmt, gz = format_of(path.name)
        try:
            if fmt is None:
                raise InputError("its extension is in ingest.extensions but is not a format pipeline reads")
            if fmt in _ONE_READ:  # the reader reads the file at once, with the same checks (unless it need not)
                file_sha = ""
                items = known.records(path, fmt, gz)
            else:
                _check_regular(path)
                file_sha = file_sha256(path)
                items = _READERS[fmt](path, gz, settings)
            seen: dict[str, str] = {}
            for item in items:
                where = shown if isinstance(item, _Record) and item.where is None else f"{shown} ({item.where})"
                if isinstance(item, _Skip):
                    round_.entries.append(SkippedInput(where, item.reason))
                    continue
                doc_id = file_id if item.key is None else f"{file_id}.{safe_id(item.key)}"
                if doc_id in seen:
                    round_.entries.append(
                        SkippedInput(where, f"duplicate record id {item.key!r} (first at {seen[doc_id]})"))
                    continue
                seen[doc_id] = item.where or "the file"
                job = _Job(item.extract, doc_id, shown, item.sha256, fmt, item.where, file_sha)
                round_.entries.append((job, where, _store_key(item.sha256, fmt)))
                round_.jobs += 1
                if round_.jobs >= INGEST_ROUND:
                    flush()
        except InputError as exc:
            round_.entries.append(SkippedInput(shown, str(exc)))
        round_.files += 1
    flush(wait=True)
    known.save()
    return IngestResult(documents=tuple(documents), skipped=tuple(skipped))


# The cache kind of a corpus file's SHA-256, keyed by its signature (`pipeline.file_hashes.signature`)
CORPUS_FILE_HASHES = "corpus_file_sha256"


class _KnownFiles:
    """The files of one record (`_ONE_READ`) whose SHA-256 `hashes` remembers for their signature: they are
    not read, their record is made from that hash (`records`). Looked up `INGEST_ROUND` files at a time (one
    stat each, one query); the hashes of the files read meanwhile that had settled are remembered (`save`)."""

    def __init__(self, hashes: HashStore | None, settings: IngestSettings) -> None:
        self.hashes, self.settings = hashes, settings
        self.max_bytes = int(settings.max_file_mb * 1_000_000)
        # the current files' (those of one record that could be stat'ed): their stat and signature
        self.stats: dict[Path, tuple[os.stat_result, str]] = {}
        self.found: dict[str, str] = {}  # their signatures' remembered hashes
        self.new: list[tuple[str, str]] = []  # (signature, hash) of the settled files read

    def looked_up(self, files: Iterator[tuple[Path, str]]) -> Iterator[tuple[Path, str]]:
        """`files` as they are, looking up the next `INGEST_ROUND` files' hashes before the first of them."""
        if self.hashes is None:
            yield from files
            return
        batch: list[tuple[Path, str]] = []
        for entry in files:
            batch.append(entry)
            if len(batch) == INGEST_ROUND:
                yield from self._batch(batch)
                batch = []
        yield from self._batch(batch)

    def _batch(self, batch: list[tuple[Path, str]]) -> list[tuple[Path, str]]:
        self.save()  # (the last batch's)
        self.stats = {}
        for path, _ in batch:
            if format_of(path.name)[0] in _ONE_READ:
                try:
                    st = os.stat(path)
                except OSError:
                    continue  # (reading it says why)
                self.stats[path] = (st, signature(os.path.abspath(path), st))
        self.found = known_hashes(self.hashes, CORPUS_FILE_HASHES, [sig for _, sig in self.stats.values()])
        return batch

    def records(self, path: Path, fmt: str, gz: bool) -> Iterable[_Record | _Skip]:
        """The file's record: made from its remembered hash when its signature has one (and it is a regular file
        within the size limit), else read (and its hash remembered when the file has settled)."""
        if path not in self.stats:
            return _READERS[fmt](path, gz, self.settings)
        st, sig = self.stats[path]
        sha = self.found.get(sig)
        if sha is not None and stat.S_ISREG(st.st_mode) and st.st_size <= self.max_bytes:
            return [_Record(None, None, sha, _NotRead(path, fmt, gz, self.settings, sha))]
        records = list(_READERS[fmt](path, gz, self.settings))
        if records and isinstance(records[0], _Record) and settled(st):
            self.new.append((sig, records[0].sha256))
        return records

    def save(self) -> None:
        remember(self.hashes, CORPUS_FILE_HASHES, self.new)
        self.new = []


@dataclass(frozen=True)
class _NotRead:
    """The extract of a file of one record that the run did not read (its hash was remembered: `_KnownFiles`):
    when the store has no Document for it (other settings), it is read where files are read (`read`, before
    its analysis goes to a worker, which may be on another machine)."""

    path: Path
    fmt: str
    gz: bool
    settings: IngestSettings
    sha256: str

    def read(self) -> Callable[[], _Extracted]:
        """The file's extract; one that raises InputError when it cannot be read, or when its bytes are no longer
        those of the remembered hash (written while the run read the corpus)."""
        try:
            record = next(iter(_READERS[self.fmt](self.path, self.gz, self.settings)))
        except InputError as exc:
            return partial(_unreadable, str(exc))
        if not isinstance(record, _Record) or record.sha256 != self.sha256:
            return partial(_unreadable, "the file changed while the run was reading the corpus; the next run reads "
                                        "its new version")
        return record.extract

    def __call__(self) -> _Extracted:
        return self.read()()


def _unreadable(reason: str) -> _Extracted:
    raise InputError(reason)


# Formats whose reader reads the whole file first (`_read_whole`): one document per file, whose sha256 is
# the file's. The others are checked (`_check_regular`) and hashed whole before their records are read.
_ONE_READ = ("txt", "md", "html")


def _check_regular(path: Path) -> None:
    """InputError unless path is a readable regular file (the reasons `_read_raw` gives)."""
    _read_raw(path, 1 << 62, read=False)
