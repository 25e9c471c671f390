"""Citations made from the index: what a brief cites, checkable against the source text."""

from __future__ import annotations

from pathlib import Path

from pipeline.config import Settings
from pipeline.corpus_index import SELECTOR_CONTEXT, CorpusIndex
from pipeline.ingest import ingest
from pipeline.model import Citation


def _corpus(folder: Path) -> Path:
    folder.mkdir()
    # source text that differs from ingest's normalised text (line breaks, runs of spaces), sentences near the
    # start and end of a document (prefix and suffix cut short), and two documents sharing a sentence
    (folder / "a.txt").write_text(
        "Le titre\n\nLe conseil municipal a voté le budget  hier soir.\nLa séance a duré trois heures.\n\n"
        "Le maire a salué   un vote « historique » pour la commune. L'opposition s'est abstenue.\n",
        encoding="utf-8")
    (folder / "b.txt").write_text(
        "Autre titre\n\nLa séance a duré trois heures. Les habitants étaient nombreux dans la salle.\n",
        encoding="utf-8")
    return folder


def test_a_citation_quotes_the_source_text_at_its_offsets_with_or_without_shared_documents(tmp_path):
    """`cite` gives every field from the sentence, its paragraph and its document; exact, prefix and suffix are the
    source text's own characters; citing with a dict shared across many citations gives the same records."""
    documents = ingest(_corpus(tmp_path / "corpus"), Settings().ingest).documents
    index = CorpusIndex.build(documents)
    shared: dict = {}
    assert len(index.sentences) >= 6
    for sid, sentence in index.sentences.items():
        paragraph = index.paragraphs[sentence.pid]
        doc = index.documents[paragraph.doc_id]
        source, start, end = doc.source_text, sentence.char_start, sentence.char_end
        expected = Citation(file=doc.path, doc_id=doc.doc_id, paragraph=paragraph.index,
                            line_start=sentence.line_start, line_end=sentence.line_end, text=sentence.text, sid=sid,
                            char_start=start, char_end=end, exact=source[start:end],
                            prefix=source[max(0, start - SELECTOR_CONTEXT):start],
                            suffix=source[end:end + SELECTOR_CONTEXT], url=doc.url)
        alone, with_shared = index.cite(sid), index.cite(sid, shared)
        assert alone == with_shared == expected
        assert list(vars(alone)) == list(vars(expected))  # the same record, fields in their order
    assert set(shared) == {d.doc_id for d in documents}
    assert any(index.cite(sid).exact != index.cite(sid).text for sid in index.sentences)  # source differs somewhere


def test_each_document_gets_every_dedup_group_with_a_member_in_it_in_group_order(tmp_path):
    """`groups_by_document`: a group listed under each document holding a member (sentence or paragraph), once,
    in the groups' order (paragraph groups first)."""
    from pipeline.flow import NoHooks, _null_cache, corpus_steps, groups_by_document

    documents = ingest(_corpus(tmp_path / "corpus"), Settings().ingest).documents
    index = CorpusIndex.build(documents)
    dedup_result, _, _ = corpus_steps(documents, Settings(), _null_cache(), NoHooks())
    groups = (*dedup_result.paragraph_groups, *dedup_result.sentence_groups)
    assert dedup_result.sentence_groups
    expected: dict[str, list] = {}
    for g in groups:
        for doc_id in sorted({m.id.split(":")[0] for m in g.members}):
            expected.setdefault(doc_id, []).append(g)
    by_doc = groups_by_document(dedup_result, index)
    assert {d: [g.group_id for g in gs] for d, gs in by_doc.items()} == \
        {d: [g.group_id for g in gs] for d, gs in expected.items()}
