import pytest

from pipeline.translate.apertium import ApertiumTranslator, clean_output

from conftest import apertium_missing

needs_apertium = pytest.mark.skipif(apertium_missing() is not None, reason=apertium_missing() or "")


def test_clean_output_removes_marks_and_guillemets():
    assert clean_output("The *Nadella has #said « yes » .") == 'The Nadella has said "yes".'
    assert clean_output("@word and e-mail a@b") == "word and e-mail a@b"


@needs_apertium
def test_translates_line_aligned_and_keeps_names():
    tr = ApertiumTranslator()
    texts = [
        "Le patron de Microsoft, Satya Nadella, a parlé avec le président.",
        "",
        "Le cœur du problème est la sécurité des données.",
        "Microsoft pourrait inviter d'autres investisseurs américains.\nSur deux lignes.",
    ]
    out = tr.translate(texts)
    assert len(out) == 4
    assert "Satya Nadella" in out[0] and "Microsoft" in out[0]
    assert out[1] == ""
    assert "heart" in out[2]  # œ written as oe is known to Apertium
    assert "investors" in out[3]
    assert not any(mark in " ".join(out) for mark in ("*", "#", "@"))
    assert "apertium" in tr.engine and "fr-es" in tr.engine


@needs_apertium
def test_empty_input():
    assert ApertiumTranslator().translate([]) == []
