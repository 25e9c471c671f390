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


class _Recording:
    """An engine that tags its texts and records when it is closed."""

    def __init__(self, name: str, closed: list[str]) -> None:
        self.engine, self.closed = name, closed

    def translate(self, texts):
        return [f"{self.engine}:{t}" for t in texts]

    def close(self):
        self.closed.append(self.engine)


def test_only_the_directions_used_last_keep_their_engines_running():
    closed: list[str] = []
    router = RouteTranslator(APERTIUM_ONLY, _Recording("fr-en", closed),
                             make_apertium=lambda pairs: _Recording("+".join(pairs), closed), running=2)
    assert router.translate(["a"], "es", "fr") == ["es-fr:a"]
    assert router.translate(["b"], "es", "en") == ["spa-eng:b"]
    assert router.translate(["c"], "es", "fr") == ["es-fr:c"] and closed == []  # two running: none closed
    assert router.translate(["d"], "pt", "fr") == ["pt-es+es-fr:d"]
    assert closed == ["spa-eng"]  # the least recently used (es->en), not es->fr used since
    assert router.translate(["e"], "fr", "en") == ["fr-en:e"]  # French->English is never closed
    assert router.translate(["f"], "it", "en") == ["ita-cat+cat-eng:f"]
    assert closed == ["spa-eng", "es-fr"] and "fr-en" not in closed
    assert router.translate(["g"], "es", "en") == ["spa-eng:g"]  # a closed direction is used again


@needs_apertium
def test_a_closed_apertium_route_ends_its_processes_and_starts_them_again():
    router = RouteTranslator(APERTIUM_ONLY, _Never(), running=1)
    text = "El presidente anunció nuevas medidas contra la inflación."
    first = router.translate([text], "es", "fr")
    spanish = router.engine_for("es", "fr")
    procs = [p for p in spanish._procs]
    assert all(p._procs for p in procs)  # running
    assert "président" in router.translate(["Il presidente ha annunciato nuove misure."], "it", "fr")[0]
    assert not any(p._procs for p in procs)  # es->fr closed: its processes ended
    assert spanish._names is None or not spanish._names.analyser._procs
    assert router.translate([text], "es", "fr") == first  # started again, same translation
