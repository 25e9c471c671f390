"""Per-sentence combination of the Apertium pivots (pipeline.translate.combine)."""

from __future__ import annotations

import re

import pytest

from pipeline.config import Settings
from pipeline.translate.combine import choose, combine, fluency
from pipeline.translate.select import choose_translator

from conftest import apertium_missing


def test_words_left_in_french_lower_fluency():
    assert fluency("The squad of the hammer has spread the poster.") > fluency("The escouade Marteau a fait le bilan.")


def test_the_pivots_agreement_and_english_words_choose():
    first = "The escouade has driven the ressortissants of the city."
    agreed = "The squad has driven the citizens of the city."
    assert choose([first, agreed, "The squad has driven the citizens of the town."]) == 1
    # a tie keeps the first route's English
    assert choose([agreed, agreed, agreed]) == 0
    assert combine([[first, "Same."], [agreed, "Same."], [agreed, "Same."]]) == [agreed, "Same."]


@pytest.mark.skipif(apertium_missing() is not None, reason=apertium_missing() or "")
def test_configured_translator_combines_four_routes_and_leaves_no_mark():
    settings = Settings.model_validate({"translate": {"backend": "apertium", "apertium_combine": [
        ["fra-cat", "cat-spa", "spa-eng"], ["fra-cat", "cat-eng"], ["fr-eo", "eo-en"]]}})
    translator = choose_translator(settings.translate).translator
    try:
        assert all(r in translator.engine for r in ("fra-cat + cat-spa + spa-eng", "fra-cat + cat-eng", "fr-eo + eo-en"))
        english = translator.translate(["Le patron de la société a parlé à Dallas.", "Il est de retour à Paris."])
        assert len(english) == 2 and all(english)
        assert not re.search(r"(?i)[*#@]|zqx", " ".join(english))
        assert "Dallas" in english[0] and "Paris" in english[1]
    finally:
        translator.close()  # type: ignore[attr-defined]
