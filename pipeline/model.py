"""Typed records passed between stages. Data only: no I/O; the only behaviour is reading a text that is
held once (`Sentence.text`, `Document.source_text`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ParagraphKind = Literal["body", "heading"]
Relation = Literal["exact", "near", "contained", "same_fact"]


@dataclass(frozen=True, init=False, eq=False, repr=False, slots=True)
class Sentence:
    """One sentence of a paragraph, in ingest's normalised text.

    Its text is not held apart: it is `text[at:end]` of its paragraph's text (`Paragraph.text`, the
    same string object, so a corpus's text is held once; see `Document.source_text`). Made as
    `Sentence(sid, pid, text, line_start, line_end, char_start, char_end)` (the text held whole) or,
    by ingest, `Sentence.span(...)`. Compares, hashes and prints as a record of those seven values."""

    sid: str  # "<doc_id>:p<index>.s<k>", k from 1
    pid: str
    line_start: int  # 1-based, inclusive, in the original file
    line_end: int
    # [char_start, char_end): where the sentence lies in the document's source
    # text (Document.source_text, written to sources/<doc_id>.txt), in Unicode
    # code points; source_text[char_start:char_end] is what a citation quotes.
    char_start: int
    char_end: int
    in_text: str  # the paragraph's normalised text (or the sentence's own text)
    at: int  # [at, end): where the sentence lies in `in_text`
    end: int

    def __init__(self, sid: str, pid: str, text: str, line_start: int, line_end: int,
                 char_start: int = 0, char_end: int = 0) -> None:
        for name, value in zip(_SENTENCE_SLOTS, (sid, pid, line_start, line_end, char_start, char_end, text, 0,
                                                 len(text))):
            object.__setattr__(self, name, value)

    @staticmethod
    def span(sid: str, pid: str, in_text: str, at: int, end: int, line_start: int, line_end: int,
             char_start: int, char_end: int) -> "Sentence":
        """The sentence `in_text[at:end]` (in_text: its paragraph's text, not copied).

        Made as a `_Draft` (the same slots, not frozen), then made a Sentence: 9x faster than setting
        a frozen record's fields one by one, and a warm run reads every sentence of the corpus."""
        obj = _Draft()
        obj.sid, obj.pid, obj.line_start, obj.line_end = sid, pid, line_start, line_end
        obj.char_start, obj.char_end, obj.in_text, obj.at, obj.end = char_start, char_end, in_text, at, end
        obj.__class__ = Sentence  # type: ignore[assignment]
        return obj  # type: ignore[return-value]

    @property
    def text(self) -> str:
        return self.in_text[self.at:self.end]

    def _key(self) -> tuple[str, str, str, int, int, int, int]:
        return (self.sid, self.pid, self.text, self.line_start, self.line_end, self.char_start, self.char_end)

    def __eq__(self, other: object) -> bool:
        return other._key() == self._key() if isinstance(other, Sentence) else NotImplemented

    def __hash__(self) -> int:
        return hash(self._key())

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # pickled as `span`'s arguments (`in_text` is the paragraph's text: pickled once with it), and
        # read back through it: the frozen record's own way sets its fields one by one, 9x slower
        return (_span, (self.sid, self.pid, self.in_text, self.at, self.end, self.line_start, self.line_end,
                        self.char_start, self.char_end))

    def __repr__(self) -> str:
        return (f"Sentence(sid={self.sid!r}, pid={self.pid!r}, text={self.text!r}, line_start={self.line_start!r}, "
                f"line_end={self.line_end!r}, char_start={self.char_start!r}, char_end={self.char_end!r})")


_SENTENCE_SLOTS = ("sid", "pid", "line_start", "line_end", "char_start", "char_end", "in_text", "at", "end")
_span = Sentence.span


class _Draft:
    """A Sentence being made (`Sentence.span`): its slots, in its order, so it can become one."""

    __slots__ = _SENTENCE_SLOTS


if Sentence.__slots__ != _SENTENCE_SLOTS:  # what lets a _Draft become a Sentence
    raise TypeError("Sentence's slots are not _SENTENCE_SLOTS")


@dataclass(frozen=True)
class Paragraph:
    pid: str  # "<doc_id>:p<index>"
    doc_id: str
    index: int  # 1-based position among the document's kept paragraphs
    text: str  # normalised; lines of the block joined by one space
    line_start: int  # 1-based, inclusive, in the original file
    line_end: int
    lang: str  # ISO 639-1, e.g. "fr"
    kind: ParagraphKind
    sentences: tuple[Sentence, ...]
    char_start: int = 0  # [char_start, char_end) in Document.source_text
    char_end: int = 0


@dataclass(frozen=True)
class DroppedBlock:
    """Text ingest removed from a document, and why (shown in the manifest)."""

    line_start: int
    line_end: int
    text: str
    reason: str


@dataclass(frozen=True)
class SourceLayout:
    """How a document's source of record is made from its paragraphs' normalised text, so that the
    text is held once (`Document.source_text`).

    `gaps`: the source text before the first paragraph, between each two, after the last (one more
    than the paragraphs); or one string, the whole source as is (a document made by hand; none: "").
    `edits`: per paragraph, where its source differs from its normalised text, as flat triples
    (start, end, source string) over `Paragraph.text` ([start, end) replaced by the string; in order;
    empty when the paragraph's text is its source as is)."""

    gaps: tuple[str, ...] = ()
    edits: tuple[tuple[int | str, ...], ...] = ()

    def text(self, paragraphs: tuple[Paragraph, ...]) -> str:
        gaps = self.gaps
        if len(gaps) <= 1:
            return gaps[0] if gaps else ""
        out = [gaps[0]]
        for p, edits, gap in zip(paragraphs, self.edits, gaps[1:], strict=True):
            out.append(p.text if not edits else source_of(p.text, edits))
            out.append(gap)
        return "".join(out)


def source_of(text: str, edits: tuple[int | str, ...]) -> str:
    """`text` with each (start, end, string) of `edits` put back (see `SourceLayout.edits`)."""
    out = []
    pos = 0
    for i in range(0, len(edits), 3):
        start, end, string = edits[i], edits[i + 1], edits[i + 2]
        out.append(text[pos:start])  # type: ignore[misc]
        out.append(string)  # type: ignore[arg-type]
        pos = end  # type: ignore[assignment]
    out.append(text[pos:])
    return "".join(out)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Document:
    doc_id: str  # file stem (or file stem + record), unique within a corpus; letters, digits, . _ - only
    path: str  # as cited: "corpus/<file>" (corpus folder name + relative path)
    sha256: str  # of the raw bytes this document was read from (the file, or the record's own bytes)
    encoding: str
    lang: str
    title: str | None
    date: str | None
    paragraphs: tuple[Paragraph, ...]
    dropped: tuple[DroppedBlock, ...] = ()
    # How the source of record (`source_text`) is made from the paragraphs' text (see SourceLayout).
    layout: SourceLayout = SourceLayout()
    format: str = "txt"  # txt, md, html, feed, jsonl, json, csv, parquet, warc
    record: str | None = None  # where in the file: "line 12", "row 3", "item 2", a WARC-Record-ID
    url: str | None = None  # canonical URL, feed item link, WARC target URI, record URL field
    extractor: str = "text"  # what made source_text, with its version (e.g. "trafilatura 2.0.0")
    file_sha256: str = ""  # of the whole input file's raw bytes (= sha256 for one-document files)
    author: str | None = None
    site_name: str | None = None
    notes: tuple[str, ...] = ()  # e.g. "feed summary only"

    @property
    def source_text(self) -> str:
        """The source of record: the text every citation's char offsets and line numbers point into
        (written to sources/<doc_id>.txt). For .txt/.md the decoded file itself; for web pages the
        extracted main text; for records the record's text field. Made from the paragraphs' text and
        `layout` at each call (not held apart: keep it only as long as it is needed)."""
        return self.layout.text(self.paragraphs)


@dataclass(frozen=True)
class SkippedInput:
    path: str
    reason: str


@dataclass(frozen=True)
class IngestResult:
    documents: tuple[Document, ...]
    skipped: tuple[SkippedInput, ...]


@dataclass(frozen=True)
class DupMember:
    id: str  # a pid or a sid
    relation: Relation  # how this member relates to the canonical one
    score: float  # similarity of this member to the canonical one (1.0 for the canonical)


@dataclass(frozen=True)
class DupGroup:
    group_id: str
    level: Literal["paragraph", "sentence"]
    canonical: str  # id of the canonical member
    members: tuple[DupMember, ...]  # includes the canonical member


@dataclass(frozen=True)
class DedupResult:
    paragraph_groups: tuple[DupGroup, ...]
    sentence_groups: tuple[DupGroup, ...]


@dataclass(frozen=True)
class RelatedDocument:
    """A document of another story that is similar to this one, but not enough to join it."""

    doc_id: str
    story_id: str  # the story it is in
    score: float  # its best cosine with a document of this story
    reason: str  # why it is related and why it did not join, in words


@dataclass(frozen=True)
class Story:
    story_id: str
    doc_ids: tuple[str, ...]
    paragraph_ids: tuple[str, ...]  # unique (canonical) body paragraphs, in document order
    # Body paragraphs of this story's documents that are about another story
    # (a document covering two stories joins the one most of its text is
    # about); they are left out of this story's summary and quotes.
    off_topic_paragraph_ids: tuple[str, ...] = ()
    # Documents of other stories that are close to this one (best first): show them as "related".
    related: tuple[RelatedDocument, ...] = ()


@dataclass(frozen=True)
class Citation:
    file: str  # "corpus/<file>"
    doc_id: str
    paragraph: int  # Paragraph.index
    line_start: int
    line_end: int
    text: str  # the cited source sentence, normalised
    sid: str
    # W3C Web Annotation selectors into the source of record (sources/<doc_id>.txt):
    # TextPositionSelector [char_start, char_end) and TextQuoteSelector exact/prefix/suffix.
    char_start: int = 0
    char_end: int = 0
    exact: str = ""  # source_text[char_start:char_end], byte for byte (no normalisation)
    prefix: str = ""  # up to 32 characters before exact
    suffix: str = ""  # up to 32 characters after exact
    url: str | None = None  # the document's URL when known

    @staticmethod
    def made(file: str, doc_id: str, paragraph: int, line_start: int, line_end: int, text: str, sid: str,
             char_start: int, char_end: int, exact: str, prefix: str, suffix: str, url: str | None) -> "Citation":
        """`Citation(...)` of these fields, made without the frozen record's field-by-field set (4x faster; a
        +1% run at 10,000 articles makes 200,000 citations from the index: `CorpusIndex.cite`)."""
        obj = object.__new__(Citation)
        fields = obj.__dict__  # (set one by one: 1.4x faster than an update from keywords)
        fields["file"], fields["doc_id"], fields["paragraph"] = file, doc_id, paragraph
        fields["line_start"], fields["line_end"], fields["text"], fields["sid"] = line_start, line_end, text, sid
        fields["char_start"], fields["char_end"], fields["exact"] = char_start, char_end, exact
        fields["prefix"], fields["suffix"], fields["url"] = prefix, suffix, url
        return obj


@dataclass(frozen=True)
class SummarySentence:
    text_fr: str
    citations: tuple[Citation, ...]  # first one is the sentence the text comes from
    support: float  # 1.0 for extracted text; attribution score for generated text
    text_en: str = ""
    flagged: bool = False  # weak support: shown as a warning in the brief
    # Where each language's text comes from: "source" = a source sentence in that language, given
    # verbatim (its id in fr_sid / en_sid, and it is among the citations); "machine" = machine-translated
    # (pipeline.brief.plan_translations says which texts need it, in which direction).
    fr_origin: Literal["source", "machine"] = "source"
    en_origin: Literal["source", "machine"] = "machine"
    fr_sid: str | None = None
    en_sid: str | None = None


@dataclass(frozen=True)
class Summary:
    story_id: str
    sentences: tuple[SummarySentence, ...]
    engine: str  # e.g. "extractive"


@dataclass(frozen=True)
class Quote:
    """A quotation found in the sources, with who said it where the text says so."""

    text_fr: str  # the words between the quotation marks, as in the source (normalised)
    citations: tuple[Citation, ...]  # the sentences that contain it, in every source that reports it
    speaker: str | None  # None when the text names no speaker: never guessed
    attribution: str | None  # the source words the speaker was read from, e.g. ", a déclaré Donald Trump"
    text_en: str = ""
    speaker_en: str | None = None  # a described speaker ("un porte-parole") in English; a name stays as is
    en_origin: Literal["source", "machine"] = "machine"  # "source": quoted as an English source gives it


@dataclass(frozen=True)
class Translation:
    texts: tuple[str, ...]
    engine: str  # e.g. "apertium 3.8.3 (fr-es + spa-eng)"
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class SourceInfo:
    file: str
    doc_id: str
    title: str | None
    date: str | None
    lang: str
    paragraphs_used: tuple[int, ...]
    url: str | None = None
    record: str | None = None
    notes: tuple[str, ...] = ()  # e.g. "feed summary only"


@dataclass(frozen=True)
class RelatedSource:
    """An article of another story listed in this brief as related (`Story.related`), with why."""

    file: str
    title: str | None
    story_id: str
    score: float
    reason: str


@dataclass(frozen=True)
class Brief:
    story_id: str
    headline_fr: str
    headline_en: str
    summary: tuple[SummarySentence, ...]
    sources: tuple[SourceInfo, ...]
    engines: dict[str, str]
    warnings: tuple[str, ...] = field(default_factory=tuple)
    quotes: tuple[Quote, ...] = field(default_factory=tuple)
    related: tuple[RelatedSource, ...] = field(default_factory=tuple)


def replaced(record: Any, **changes: Any) -> Any:
    """`dataclasses.replace(record, **changes)` for a record of this module that keeps its fields in its
    `__dict__` (every one but `Sentence`): its fields copied, `changes` set, without `__init__` (a frozen
    record's sets each field through object.__setattr__: 4x slower, and a +1% run at 10,000 articles
    replaces 20,000 summary sentences and quotes). The same record: no record here has a `__post_init__`
    or a field left out of `__init__`. A name that is not a field is a TypeError, as with `replace`."""
    kind = type(record)
    unknown = changes.keys() - kind.__dataclass_fields__.keys()
    if unknown:
        raise TypeError(f"{kind.__name__} has no field {', '.join(sorted(unknown))}")
    obj = object.__new__(kind)
    fields = obj.__dict__
    fields.update(record.__dict__)
    fields.update(changes)
    return obj
