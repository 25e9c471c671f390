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

import hashlib
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

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


class InputError(Exception):
    """A file that cannot be ingested; the message is the reason shown to the user."""


@dataclass(frozen=True)
class DecodedFile:
    text: str
    encoding: str
    sha256: str


def decode_bytes(raw: bytes) -> tuple[str, str]:
    """Decode a text file: UTF-8 when valid, else the encoding charset-normalizer finds."""
    if not raw.strip():
        raise InputError("empty file")
    if b"\x00" in raw[:8192]:
        raise InputError("binary file (contains NUL bytes), not text")
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    best = charset_normalizer.from_bytes(raw).best()
    if best is None:
        raise InputError("not valid UTF-8 and no other text encoding fits; convert it to UTF-8")
    return str(best), best.encoding


def read_file(path: Path, max_bytes: int) -> DecodedFile:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise InputError(f"file is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.1f} MB limit (ingest.max_file_mb)")
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
        raise InputError(f"cannot read: {exc.strerror or exc}") from None
    text, encoding = decode_bytes(raw)
    return DecodedFile(text=text, encoding=encoding, sha256=hashlib.sha256(raw).hexdigest())


def discover(corpus_dir: Path, extensions: list[str]) -> tuple[list[Path], list[SkippedInput]]:
    """Candidate files under corpus_dir, sorted; plus what was skipped and why."""
    found: list[Path] = []
    skipped: list[SkippedInput] = []
    for root, dirs, files in os.walk(corpus_dir, followlinks=False):
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
            if path.is_symlink():
                try:
                    path.resolve(strict=True)
                except (OSError, RuntimeError) as exc:
                    skipped.append(SkippedInput(_display(corpus_dir, path), f"broken or looping symlink ({exc.__class__.__name__})"))
                    continue
            found.append(path)
    return found, skipped


def _display(corpus_dir: Path, path: Path) -> str:
    return f"{corpus_dir.name}/{path.relative_to(corpus_dir).as_posix()}"


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
    cursor = 0
    for piece in sentencex.segment("fr", text):
        piece = piece.strip()
        if not piece:
            continue
        at = text.find(piece, cursor)
        if at < 0:  # the segmenter changed the text; fall back to the whole block
            return (Sentence(f"{pid}.s1", pid, text, block.line_start, block.line_end),)
        end = at + len(piece)
        cursor = end
        out.append(Sentence(f"{pid}.s{len(out) + 1}", pid, piece, line_of(at), line_of(end - 1)))
    return tuple(out)


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


def ingest(corpus_dir: Path, settings: IngestSettings) -> IngestResult:
    """Read every text file under corpus_dir. Bad files are skipped with a reason."""
    files, skipped = discover(corpus_dir, settings.extensions)
    langid = LanguageIdentifier(settings.languages)
    documents: list[Document] = []
    max_bytes = int(settings.max_file_mb * 1_000_000)
    for path, doc_id in _doc_ids(corpus_dir, files):
        shown = _display(corpus_dir, path)
        try:
            decoded = read_file(path, max_bytes)
            documents.append(
                ingest_text(
                    decoded.text, doc_id=doc_id, path=shown, sha256=decoded.sha256,
                    encoding=decoded.encoding, settings=settings, langid=langid,
                )
            )
        except InputError as exc:
            skipped.append(SkippedInput(shown, str(exc)))
    return IngestResult(documents=tuple(documents), skipped=tuple(skipped))
