"""Look-ups over ingested documents: by id, and citations for sentences."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

from .model import Citation, Document, Paragraph, Sentence

SELECTOR_CONTEXT = 32  # characters of prefix and suffix around a citation's exact text


def sentence_spans(paragraph: Paragraph) -> Iterator[tuple[Sentence, int, int]]:
    """Each sentence of the paragraph with its [start, end) character offsets in the paragraph text.

    Sentences are found in order; one whose text is not found is skipped.
    """
    cursor = 0
    for s in paragraph.sentences:
        at = paragraph.text.find(s.text, cursor)
        if at < 0:
            continue
        cursor = at + len(s.text)
        yield s, at, cursor


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

    def cite(self, sid: str) -> Citation:
        """The citation of a sentence: where it is, and the exact source text it quotes (W3C selectors)."""
        sentence = self.sentences[sid]
        paragraph = self.paragraphs[sentence.pid]
        doc = self.documents[paragraph.doc_id]
        source, start, end = doc.source_text, sentence.char_start, sentence.char_end
        return Citation(
            file=doc.path, doc_id=doc.doc_id, paragraph=paragraph.index,
            line_start=sentence.line_start, line_end=sentence.line_end, text=sentence.text, sid=sid,
            char_start=start, char_end=end, exact=source[start:end],
            prefix=source[max(0, start - SELECTOR_CONTEXT):start], suffix=source[end:end + SELECTOR_CONTEXT],
            url=doc.url,
        )
