"""Cached records read back exactly as they were stored, and a value of another shape is refused."""

from __future__ import annotations

import dataclasses
import json
import pickle

import pytest

from pipeline.cache import decode, encode
from pipeline.config import IngestSettings
from pipeline.ingest import LanguageIdentifier, document_from_stored, ingest_text, stored_document
from pipeline.model import Citation, DedupResult, Document, DupGroup, DupMember, Sentence, SourceLayout

# Typographic quotes, guillemets, a no-break space, a tab, a block of two lines, a Markdown heading,
# a repeated block and a footer: a source whose paragraphs' text is not their source as is.
SOURCE = ("# Le conseil  vote\r\n\r\nLe maire l\u2019a dit\u00a0: \u00abnous\tvoterons\u00bb, a-t-il\n"
          "   ajout\u00e9. M. Dupont approuve.\n\nUne deuxi\u00e8me phrase ici.\n\nLe conseil vote\n\n"
          "Tags : politique\n")


def _document() -> Document:
    return ingest_text(SOURCE, doc_id="d", path="corpus/d.txt", sha256="ab" * 32, encoding="utf-8",
                       settings=IngestSettings(languages=["fr"]), langid=LanguageIdentifier(["fr"]))


def test_a_document_holds_its_text_once_and_gives_back_its_source_exactly():
    doc = _document()
    assert doc.source_text == SOURCE.replace("\u0000", " ")
    assert not any("source" in name for name in vars(doc))  # no second copy of the text
    for p in doc.paragraphs:
        for s in p.sentences:
            assert s.in_text is p.text and s.text == p.text[s.at:s.end]
            assert doc.source_text[s.char_start:s.char_end]  # what a citation quotes
    p = doc.paragraphs[1]
    assert p.text == "Le maire l'a dit : « nous voterons », a-t-il ajouté. M. Dupont approuve."
    assert [s.text for s in p.sentences] == ["Le maire l'a dit : « nous voterons », a-t-il ajouté.",
                                             "M. Dupont approuve."]
    assert doc.source_text[p.char_start:p.char_end] == ("Le maire l\u2019a dit\u00a0: \u00abnous\tvoterons\u00bb, "
                                                        "a-t-il\n   ajout\u00e9. M. Dupont approuve.")


def test_a_cached_document_reads_back_as_it_was_and_pickles():
    doc = _document()
    back = document_from_stored(json.loads(json.dumps(stored_document(doc), ensure_ascii=False)))
    assert back == doc and repr(back) == repr(doc) and back.source_text == doc.source_text
    assert hash(back.paragraphs[1].sentences[0]) == hash(doc.paragraphs[1].sentences[0])
    assert all(s.in_text is p.text for p in back.paragraphs for s in p.sentences)
    again = pickle.loads(pickle.dumps(doc))
    assert again == doc and again.source_text == doc.source_text
    assert all(s.in_text is p.text for p in again.paragraphs for s in p.sentences)
    stale = (1, *stored_document(doc)[1:])
    with pytest.raises(ValueError):
        document_from_stored(stale)


def test_a_sentence_made_by_hand_holds_its_text():
    s = Sentence("d:p1.s1", "d:p1", "Le conseil a voté.", 1, 1, 0, 18)
    assert s.text == "Le conseil a voté." and s == Sentence("d:p1.s1", "d:p1", "Le conseil a voté.", 1, 1, 0, 18)
    assert repr(s) == ("Sentence(sid='d:p1.s1', pid='d:p1', text='Le conseil a voté.', line_start=1, line_end=1, "
                       "char_start=0, char_end=18)")


def test_records_decode_to_what_was_encoded():
    groups = DedupResult((DupGroup("g1", "paragraph", "d:p1", (DupMember("d:p1", "exact", 1.0),)),), ())
    assert decode(DedupResult, encode(groups)) == groups


def test_missing_fields_take_their_defaults_and_an_int_reads_as_a_float():
    data = encode(Citation("corpus/a.txt", "a", 1, 1, 1, "Le texte.", "a:p1.s1", url="https://x"))
    del data["url"], data["prefix"]
    citation = decode(Citation, data)
    assert citation.url is None and citation.prefix == ""
    member = decode(DupMember, {"id": "x", "relation": "near", "score": 1})
    assert member.score == 1.0 and isinstance(member.score, float)


@pytest.mark.parametrize("value, error", [
    ({"id": 1, "relation": "near", "score": 1.0}, TypeError),  # a number for a str
    ({"id": "x", "relation": "near", "score": "1"}, TypeError),  # a str for a float
    ({"id": "x", "relation": "near", "score": 1.0, "other": 0}, KeyError),  # unknown field
    ({"id": "x"}, TypeError),  # required fields missing
    (["x", "near"], TypeError),  # not an object
])
def test_a_value_of_another_shape_is_refused(value, error):
    with pytest.raises(error):
        decode(DupMember, value)


def test_a_document_whose_source_is_held_whole_is_cached_too():
    doc = dataclasses.replace(_document(), layout=SourceLayout((SOURCE,)))
    back = document_from_stored(json.loads(json.dumps(stored_document(doc))))
    assert back == doc and back.source_text == SOURCE


def test_a_citation_made_the_fast_way_is_the_record_its_fields_make():
    """`Citation.made` (what `CorpusIndex.cite` uses) gives the record `Citation(...)` gives: equal, same hash,
    repr, encoding and pickle; still frozen."""
    fields = dict(file="corpus/a.txt", doc_id="a", paragraph=3, line_start=5, line_end=6, text="Le maire a parlé.",
                  sid="a:p3.s2", char_start=75, char_end=92, exact="Le maire a parlé.", prefix="Hier, ", suffix=" Puis",
                  url=None)
    made, plain = Citation.made(**fields), Citation(**fields)
    assert made == plain and hash(made) == hash(plain) and repr(made) == repr(plain)
    assert encode(made) == encode(plain) and pickle.loads(pickle.dumps(made)) == plain
    assert made != dataclasses.replace(plain, prefix="elsewhere")
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.text = "autre"  # type: ignore[misc]
