"""Cached records read back exactly as they were stored, and a value of another shape is refused."""

from __future__ import annotations

import pytest

from pipeline.cache import decode, encode
from pipeline.model import DedupResult, Document, DupGroup, DupMember, Paragraph, Sentence


def _document() -> Document:
    s = Sentence("d:p1.s1", "d:p1", "Le conseil a voté.", 1, 1, 0, 18)
    p = Paragraph("d:p1", "d", 1, "Le conseil a voté.", 1, 1, "fr", "body", (s,), 0, 18)
    return Document("d", "corpus/d.txt", "ab" * 32, "utf-8", "fr", "Titre", None, (p,), source_text=s.text,
                    notes=("feed summary only",))


def test_records_decode_to_what_was_encoded():
    doc = _document()
    back = decode(Document, encode(doc))
    assert back == doc and repr(back) == repr(doc) and hash(back.paragraphs[0].sentences[0]) == hash(
        doc.paragraphs[0].sentences[0])
    groups = DedupResult((DupGroup("g1", "paragraph", "d:p1", (DupMember("d:p1", "exact", 1.0),)),), ())
    assert decode(DedupResult, encode(groups)) == groups


def test_missing_fields_take_their_defaults_and_an_int_reads_as_a_float():
    data = encode(_document())
    del data["notes"], data["author"]
    doc = decode(Document, data)
    assert doc.notes == () and doc.author is None
    member = decode(DupMember, {"id": "x", "relation": "near", "score": 1})
    assert member.score == 1.0 and isinstance(member.score, float)


@pytest.mark.parametrize("value, error", [
    ({"sid": 1, "pid": "p", "text": "t", "line_start": 1, "line_end": 1}, TypeError),  # a number for a str
    ({"sid": "s", "pid": "p", "text": "t", "line_start": "1", "line_end": 1}, TypeError),  # a str for an int
    ({"sid": "s", "pid": "p", "text": "t", "line_start": 1, "line_end": 1, "other": 0}, KeyError),  # unknown field
    ({"sid": "s", "pid": "p"}, TypeError),  # required fields missing
    (["s", "p"], TypeError),  # not an object
])
def test_a_value_of_another_shape_is_refused(value, error):
    with pytest.raises(error):
        decode(Sentence, value)
