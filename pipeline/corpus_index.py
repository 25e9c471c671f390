"""Look-ups over ingested documents: by id, and citations for sentences."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator, NamedTuple, Sequence

from .model import Citation, Document, Paragraph, Sentence, replaced

SELECTOR_CONTEXT = 32  # characters of prefix and suffix around a citation's exact text


def sentence_spans(paragraph: Paragraph) -> Iterator[tuple[Sentence, int, int]]:
    """Each sentence of the paragraph with its [start, end) character offsets in the paragraph text.

    A sentence made from the paragraph's text (`Sentence.span`, as ingest makes them) gives its own
    span; others are found in order, and one whose text is not found is skipped.
    """
    cursor = 0
    for s in paragraph.sentences:
        if s.in_text is paragraph.text:
            cursor = s.end
            yield s, s.at, s.end
            continue
        at = paragraph.text.find(s.text, cursor)
        if at < 0:
            continue
        cursor = at + len(s.text)
        yield s, at, cursor


class DocumentCited(NamedTuple):
    """What every citation of a document takes from it (`CorpusIndex.cite`), made once for many citations."""

    source: str  # Document.source_text (made at each call: see there)
    path: str
    url: str | None


@dataclass(frozen=True)
class CorpusIndex:
    documents: dict[str, Document]
    paragraphs: dict[str, Paragraph]
    sentences: dict[str, Sentence]

    @classmethod
    def build(cls, documents: Sequence[Document]) -> "CorpusIndex":
        paragraphs = {p.pid: p for d in documents for p in d.paragraphs}
        sentences = {s.sid: s for p in paragraphs.values() for s in p.sentences}
        return cls({d.doc_id: d for d in documents}, paragraphs, sentences)

    def cite(self, sid: str, sources: dict[str, DocumentCited] | None = None) -> Citation:
        """The citation of a sentence: where it is, and the exact source text it quotes (W3C selectors).

        `sources`: what citations of the documents cited so far take from the document (doc id -> its
        `DocumentCited`; filled here), to cite many sentences of a few documents (a summary's copies)
        making each document's source text once."""
        sentence = self.sentences[sid]
        paragraph = self.paragraphs[sentence.pid]
        doc_id = paragraph.doc_id
        cited = None if sources is None else sources.get(doc_id)
        if cited is None:
            doc = self.documents[doc_id]
            cited = DocumentCited(doc.source_text, doc.path, doc.url)
            if sources is not None:
                sources[doc_id] = cited
        source, path, url = cited
        start, end = sentence.char_start, sentence.char_end
        return Citation.made(path, doc_id, paragraph.index, sentence.line_start, sentence.line_end, sentence.text, sid,
                             start, end, source[start:end], source[max(0, start - SELECTOR_CONTEXT):start],
                             source[end:end + SELECTOR_CONTEXT], url)


@dataclass(frozen=True)
class CorpusSlice(CorpusIndex):
    """The part of a CorpusIndex one unit of work reads, sent to a worker instead of the whole corpus:
    some documents whole, and single sentences of other documents (`SliceParts`)."""

    citations: dict[str, Citation]  # each sentence of another document: its citation, made from the whole index
    # the source texts of its documents made so far (`CorpusIndex.cite`): a story's work cites many sentences
    # of its few documents, each document's source text is made once
    sources: dict[str, DocumentCited] = field(default_factory=dict, compare=False, repr=False)

    def cite(self, sid: str, sources: dict[str, DocumentCited] | None = None) -> Citation:
        made = self.citations.get(sid)
        return made if made is not None else super().cite(sid, self.sources if sources is None else sources)


@dataclass(frozen=True)
class SliceParts:
    """What a `CorpusSlice` is made of, as it travels to a worker (the look-up tables are built there):
    documents whole, and for single sentences of other documents the sentence, its paragraph's identity and
    language (a copy without text or sentences) and its citation."""

    documents: tuple[Document, ...]
    others: tuple[tuple[Sentence, Paragraph, Citation], ...]

    @classmethod
    def of(cls, index: CorpusIndex, doc_ids: Sequence[str], sids: Iterable[str],
           sources: dict[str, DocumentCited] | None = None) -> "SliceParts":
        """The documents `doc_ids`, and the sentences `sids` of other documents (ids of theirs, or not in the
        corpus, are left out; each once). Such a sentence travels with its own text only (the text its citation
        quotes, one string for both), not its paragraph's; its paragraph's copy once for all its sentences.
        `sources`: see `CorpusIndex.cite`."""
        own, others = set(doc_ids), {}
        sources = {} if sources is None else sources
        stubs: dict[str, Paragraph] = {}
        for sid in sids:
            sentence = index.sentences.get(sid)
            if sentence is None or sid in others or index.paragraphs[sentence.pid].doc_id in own:
                continue
            if sentence.pid not in stubs:
                stubs[sentence.pid] = replaced(index.paragraphs[sentence.pid], text="", sentences=())
            citation = index.cite(sid, sources)
            text = citation.text  # (`Sentence(sid, pid, text, ...)`, made as `Sentence.span` makes it: 9x faster)
            alone = Sentence.span(sid, sentence.pid, text, 0, len(text), sentence.line_start, sentence.line_end,
                                  sentence.char_start, sentence.char_end)
            others[sid] = (alone, stubs[sentence.pid], citation)
        return cls(tuple(index.documents[d] for d in doc_ids), tuple(others.values()))

    def index(self) -> CorpusSlice:
        """The slice: the same answers as the whole index for every id it holds."""
        whole = CorpusIndex.build(self.documents)
        paragraphs, sentences = dict(whole.paragraphs), dict(whole.sentences)
        for sentence, paragraph, _ in self.others:
            sentences[sentence.sid] = sentence
            paragraphs.setdefault(paragraph.pid, paragraph)
        return CorpusSlice(whole.documents, paragraphs, sentences, {s.sid: c for s, _, c in self.others})
