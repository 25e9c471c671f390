"""Routes per language: English, Spanish, Catalan, Italian, Portuguese to French and English
offline; no route for German; text already in the target language untouched."""

from __future__ import annotations

import pytest

from pipeline.config import TranslateSettings
from pipeline.translate import EngineFailure, NoRoute
from pipeline.translate.routes import APERTIUM_ROUTES, RouteTranslator, check_routes, plan_route

from conftest import apertium_missing

needs_apertium = pytest.mark.skipif(apertium_missing() is not None, reason=apertium_missing() or "")
APERTIUM_ONLY = TranslateSettings(backend="apertium")


class _Never:
    engine = "never"

    def translate(self, texts):
        raise AssertionError("called")


def test_routes_per_language():
    assert plan_route(APERTIUM_ONLY, "en", "fr").detail == "eng-spa + es-fr"
    assert plan_route(APERTIUM_ONLY, "ca", "en").detail == "cat-eng"
    assert plan_route(APERTIUM_ONLY, "fr", "fr").kind == "same"
    assert plan_route(APERTIUM_ONLY, "de", "fr").kind == "none"
    assert {s for s, _ in APERTIUM_ROUTES} == {"en", "es", "ca", "it", "pt"}


def test_text_in_the_target_language_is_never_translated():
    router = RouteTranslator(APERTIUM_ONLY, _Never(), make_apertium=lambda pairs: _Never())
    assert router.translate(["Déjà en français."], "fr", "fr") == ["Déjà en français."]
    assert router.translate(["Already English."], "en", "en") == ["Already English."]


def test_no_route_is_said_clearly():
    router = RouteTranslator(APERTIUM_ONLY, _Never())
    with pytest.raises(NoRoute, match="no offline route from 'de' to 'fr'"):
        router.translate(["Bahnstreik legt Fernverkehr lahm"], "de", "fr")
    warnings = check_routes(APERTIUM_ONLY, ["fr", "de"])
    assert len(warnings) == 2 and all("de sources have no route" in w for w in warnings)


def test_missing_pair_for_a_configured_language_names_the_package(tmp_path, monkeypatch):
    (tmp_path / "modes").mkdir()
    monkeypatch.setattr("pipeline.translate.engine.data_dirs", lambda: [tmp_path])
    with pytest.raises(EngineFailure, match="apt-get install -y apertium-eng-spa"):
        check_routes(APERTIUM_ONLY, ["en"])


@needs_apertium
@pytest.mark.parametrize("source, text, french, english", [
    ("en", "The president announced new measures against inflation.", "président", "president"),
    ("es", "El presidente anunció nuevas medidas contra la inflación.", "président", "president"),
    ("ca", "El president ha anunciat noves mesures contra la inflació.", "président", "president"),
    ("it", "Il presidente ha annunciato nuove misure contro l'inflazione.", "président", "president"),
    ("pt", "O presidente anunciou novas medidas contra a inflação.", "président", "president"),
])
def test_each_language_reaches_french_and_english(source, text, french, english):
    router = RouteTranslator(APERTIUM_ONLY, _Never())
    assert french in router.translate([text], source, "fr")[0]
    out = router.translate([text], source, "en")[0]
    assert english in out.lower() if source != "en" else out == text
