"""Ingest: corpus folder -> Documents with normalised, line-anchored paragraphs.

Entry point: `ingest(corpus_dir, settings) -> IngestResult`.

Every kept paragraph remembers the 1-based line range it came from in the
original file, and every sentence the lines its text lies on, so citations
can be checked mechanically: normalise the cited lines with
`normalize_line`, join them with one space, and the sentence text is in there.

Libraries: charset-normalizer (encoding detection for non-UTF-8 files),
lingua (language identification, restricted to the configured languages
because short lines are otherwise misread), sentencex (French-aware sentence
segmentation that also repairs glued joins such as "Pyrénées.Alors").
"""

from __future__ import annotations

import codecs
import errno
import hashlib
import os
import re
import stat
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Protocol

import charset_normalizer
import sentencex
from lingua import IsoCode639_1, Language, LanguageDetector, LanguageDetectorBuilder

from .config import IngestSettings
from .model import Document, DroppedBlock, IngestResult, Paragraph, Sentence, SkippedInput

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
_SPACES = re.compile(r"\s+")
_GUILLEMET_OPEN = re.compile(r"«\s*")
_GUILLEMET_CLOSE = re.compile(r"\s*»")


def normalize_line(line: str) -> str:
    """The normalisation ingest applies to every line of a source file.

    Unicode NFC; typographic apostrophes and double quotes to ASCII; every
    kind of space (no-break, thin, tab) to one plain space; invisible
    characters and soft hyphens removed; French guillemets written « like this ».
    """
    text = unicodedata.normalize("NFC", line).translate(_CHAR_MAP)
    text = _SPACES.sub(" ", text).strip()
    text = _GUILLEMET_OPEN.sub("« ", text)
    text = _GUILLEMET_CLOSE.sub(" »", text)
    return text


def split_lines(text: str) -> list[str]:
    """Lines as an editor numbers them (\\n, \\r\\n and \\r all end a line)."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


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


def _read_raw(path: Path, max_bytes: int) -> bytes:
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
        raw = path.read_bytes()
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


def read_file(path: Path, max_bytes: int) -> DecodedFile:
    raw = _read_raw(path, max_bytes)
    text, encoding = decode_bytes(raw)
    return DecodedFile(text=text, encoding=encoding, sha256=hashlib.sha256(raw).hexdigest())


def discover(corpus_dir: Path, extensions: list[str]) -> tuple[list[Path], list[SkippedInput]]:
    """Candidate files under corpus_dir, sorted; plus what was skipped and why."""
    found: list[Path] = []
    skipped: list[SkippedInput] = []

    def walk_error(exc: OSError) -> None:
        where = Path(exc.filename) if exc.filename else corpus_dir
        if where != corpus_dir:
            skipped.append(SkippedInput(_display(corpus_dir, where), f"cannot list folder: {exc.strerror or exc}"))

    for root, dirs, files in os.walk(corpus_dir, followlinks=False, onerror=walk_error):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        root_path = Path(root)
        for d in list(dirs):
            if Path(d).suffix.lower() in extensions:
                skipped.append(SkippedInput(_display(corpus_dir, root_path / d), "is a directory, not a file"))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = root_path / name
            if path.suffix.lower() not in extensions:
                continue
            if not _valid_name(name):
                skipped.append(SkippedInput(_display(corpus_dir, path), "file name is not valid UTF-8; rename the file"))
                continue
            if path.is_symlink():
                try:
                    path.resolve(strict=True)
                except (OSError, RuntimeError) as exc:
                    skipped.append(SkippedInput(_display(corpus_dir, path), f"broken or looping symlink ({exc.__class__.__name__})"))
                    continue
            found.append(path)
    return found, skipped


def _valid_name(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes arrive as lone surrogates
        return False
    return True


def _display(corpus_dir: Path, path: Path) -> str:
    shown = f"{corpus_dir.name}/{path.relative_to(corpus_dir).as_posix()}"
    return shown if _valid_name(shown) else os.fsencode(shown).decode("utf-8", "backslashreplace")


# --- language identification ----------------------------------------------------


class LanguageIdentifier:
    """lingua restricted to the configured languages; returns ISO 639-1 codes."""

    def __init__(self, languages: list[str]) -> None:
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
            self._detector = LanguageDetectorBuilder.from_languages(*chosen).build()

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


@dataclass
class _Block:
    line_start: int
    lines: list[tuple[int, str]]  # (1-based line number, normalised text)

    @property
    def text(self) -> str:
        return " ".join(t for _, t in self.lines)

    @property
    def line_end(self) -> int:
        return self.lines[-1][0]


def _is_heading(text: str, n_lines: int) -> bool:
    words = len(_WORD.findall(text))
    if n_lines > 1 or words > 20:
        return False
    if text.endswith("?") or text.endswith("!"):
        return words <= 8
    return not text.endswith(_END_PUNCT)


def _blocks(lines: list[str], settings: IngestSettings) -> tuple[list[_Block], list[DroppedBlock], str | None]:
    """Group normalised lines into blocks; drop boilerplate; read the date prefix."""
    line_res = [re.compile(p, re.IGNORECASE) for p in settings.boilerplate.line_patterns]
    footer_res = [re.compile(p, re.IGNORECASE) for p in settings.boilerplate.footer_patterns]
    blocks: list[_Block] = []
    dropped: list[DroppedBlock] = []
    date: str | None = None
    current: _Block | None = None
    seen_text = False
    for number, raw in enumerate(lines, start=1):
        text = normalize_line(raw)
        if not seen_text and text:
            m = _DATE_PREFIX.match(text)
            if m:
                date = m.group(1)
                text = text[m.end():]
            seen_text = True
        text = _MD_PREFIX.sub("", text)
        if not text:
            current = None
            continue
        if blocks and any(r.fullmatch(text) for r in footer_res):
            rest = [normalize_line(x) for x in lines[number - 1:]]
            dropped.append(
                DroppedBlock(number, len(lines), "\n".join(x for x in rest if x), "footer: tags / author box and what follows")
            )
            break
        if any(r.fullmatch(text) for r in line_res):
            dropped.append(DroppedBlock(number, number, text, "page boilerplate line"))
            continue
        if current is None:
            current = _Block(number, [])
            blocks.append(current)
        current.lines.append((number, text))
    return blocks, dropped, date


def _sentences(pid: str, block: _Block) -> tuple[Sentence, ...]:
    text = block.text
    # start offset of each line in the joined text
    starts: list[tuple[int, int]] = []
    pos = 0
    for number, line_text in block.lines:
        starts.append((pos, number))
        pos += len(line_text) + 1

    def line_of(offset: int) -> int:
        line = starts[0][1]
        for start, number in starts:
            if start <= offset:
                line = number
        return line

    out: list[Sentence] = []
    spans: list[tuple[int, int]] = []
    cursor = 0
    for piece in sentencex.segment("fr", text):
        piece = piece.strip()
        if not piece:
            continue
        at = text.find(piece, cursor)
        if at < 0:  # the segmenter changed the text; fall back to the whole block
            return (Sentence(f"{pid}.s1", pid, text, block.line_start, block.line_end),)
        cursor = at + len(piece)
        if spans and _continues(text[spans[-1][0]:spans[-1][1]], piece):
            spans[-1] = (spans[-1][0], cursor)
        else:
            spans.append((at, cursor))
    for at, end in spans:
        out.append(Sentence(f"{pid}.s{len(out) + 1}", pid, text[at:end], line_of(at), line_of(end - 1)))
    return tuple(out)


# sentencex ends a sentence after "M." or "J." ("Tard vendredi, M." / "Trump a
# déclaré"): a piece ending in a title or an initial continues into the next;
# one ending in an abbreviated month continues when a number follows ("sept. 2020").
_TITLE_END = re.compile(r"(?:^|[\s(«\"'])(?:M|MM|Mme|Mmes|Mlle|Mlles|Dr|Pr|Me|Mgr|St|Ste|[A-Z])\.$")
_MONTH_END = re.compile(r"(?:^|\s)(?:janv|févr|fév|avr|juil|sept|oct|nov|déc)\.$", re.IGNORECASE)


def _continues(previous: str, piece: str) -> bool:
    return bool(_TITLE_END.search(previous)) or (bool(_MONTH_END.search(previous)) and piece[:1].isdigit())


def ingest_text(
    text: str, *, doc_id: str, path: str, sha256: str, encoding: str,
    settings: IngestSettings, langid: LanguageIdentifier,
) -> Document:
    """Turn one decoded file into a Document (raises InputError if nothing is left)."""
    blocks, dropped, date = _blocks(split_lines(text), settings)
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
    for index, block in enumerate(kept, start=1):
        pid = f"{doc_id}:p{index}"
        body = block.text
        words = len(_WORD.findall(body))
        lang = (langid.detect(body) if words >= settings.lang_min_words else None) or doc_lang
        kind = "heading" if _is_heading(body, len(block.lines)) else "body"
        paragraphs.append(
            Paragraph(pid, doc_id, index, body, block.line_start, block.line_end, lang, kind, _sentences(pid, block))
        )
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
    )


def _doc_ids(corpus_dir: Path, files: list[Path]) -> Iterator[tuple[Path, str]]:
    stems = [p.stem for p in files]
    for path in files:
        if stems.count(path.stem) == 1:
            yield path, path.stem
        else:
            yield path, path.relative_to(corpus_dir).as_posix().replace("/", "__")


class DocumentStore(Protocol):
    """Where `ingest` keeps Documents between runs (`pipeline.cache.IngestCache`)."""

    def load(self, sha256: str, doc_id: str, path: str) -> Document | None: ...

    def save(self, sha256: str, doc_id: str, path: str, document: Document) -> None: ...


def ingest(
    corpus_dir: Path,
    settings: IngestSettings,
    *,
    store: DocumentStore | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> IngestResult:
    """Read every text file under corpus_dir. Bad files are skipped with a reason.

    With a `store`, a file whose bytes (SHA-256), id and path were ingested
    before with the same settings is not decoded or analysed again; language
    identification (lingua, slow to load) is then not even loaded.
    `progress(done, total)` is called once before the first file (done = 0), then after each file.
    """
    files, skipped = discover(corpus_dir, settings.extensions)
    langid: LanguageIdentifier | None = None
    documents: list[Document] = []
    max_bytes = int(settings.max_file_mb * 1_000_000)
    if progress is not None:
        progress(0, len(files))
    for done, (path, doc_id) in enumerate(_doc_ids(corpus_dir, files), start=1):
        shown = _display(corpus_dir, path)
        try:
            raw = _read_raw(path, max_bytes)
            sha256 = hashlib.sha256(raw).hexdigest()
            document = store.load(sha256, doc_id, shown) if store is not None else None
            if document is None:
                text, encoding = decode_bytes(raw)
                if langid is None:
                    langid = LanguageIdentifier(settings.languages)
                document = ingest_text(
                    text, doc_id=doc_id, path=shown, sha256=sha256, encoding=encoding, settings=settings, langid=langid,
                )
                if store is not None:
                    store.save(sha256, doc_id, shown, document)
            documents.append(document)
        except InputError as exc:
            skipped.append(SkippedInput(shown, str(exc)))
        if progress is not None:
            progress(done, len(files))
    return IngestResult(documents=tuple(documents), skipped=tuple(skipped))
