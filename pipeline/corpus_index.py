"""Look-ups over ingested documents: by id, and citations for sentences."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .model import Citation, Document, Paragraph, Sentence


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
        sentence = self.sentences[sid]
        paragraph = self.paragraphs[sentence.pid]
        doc = self.documents[paragraph.doc_id]
        return Citation(
            file=doc.path, doc_id=doc.doc_id, paragraph=paragraph.index,
            line_start=sentence.line_start, line_end=sentence.line_end, text=sentence.text, sid=sid,
        )
