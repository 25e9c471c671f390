"""Routes per language: how a text in one language becomes French (the French brief) or English.

Offline routes, checked with `apt-cache search apertium` (Debian 12):

| from | to French | to English |
|---|---|---|
| fr | (none needed) | translate.backend: neural opus-mt-fr-en when local, else `translate.apertium_pairs` (fr-es, spa-eng) |
| en | eng-spa, es-fr | (none needed) |
| es | es-fr | spa-eng |
| ca | cat-fra | cat-eng |
| it | ita-cat, cat-fra | ita-cat, cat-eng |
| pt | pt-es, es-fr | pt-es, spa-eng |

A neural model named in `translate.neural_models` ("en-fr": opus-mt-en-fr...)
is used instead when it is present locally (never downloaded). Any other
language (German offline, Dutch) has no route: `translate()` raises NoRoute,
and the caller lists such sources as related with a warning. Text already in
the target language is returned as it is, never translated.

`check_routes` runs before any work: a configured language whose Apertium
route needs a pair that is not installed is an EngineFailure (exit 4) naming
the Debian package; a language with no route at all is only a warning.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Sequence

from ..config import TranslateSettings
from . import NoRoute, Translator
from .engine import mode_file, package_for

log = logging.getLogger("pipeline")

APERTIUM_ROUTES: dict[tuple[str, str], tuple[str, ...]] = {
    ("en", "fr"): ("eng-spa", "es-fr"),
    ("es", "fr"): ("es-fr",),
    ("es", "en"): ("spa-eng",),
    ("ca", "fr"): ("cat-fra",),
    ("ca", "en"): ("cat-eng",),
    ("it", "fr"): ("ita-cat", "cat-fra"),
    ("it", "en"): ("ita-cat", "cat-eng"),
    ("pt", "fr"): ("pt-es", "es-fr"),
    ("pt", "en"): ("pt-es", "spa-eng"),
}
TARGETS = ("fr", "en")


@dataclass(frozen=True)
class Route:
    source: str
    target: str
    kind: str  # "same" (no translation), "neural", "apertium", "none"
    detail: str  # the model or the pairs, or why there is none


def _neural_model(settings: TranslateSettings, source: str, target: str) -> str | None:
    """The local neural model for this direction, if one is configured and present (never downloaded)."""
    if settings.backend == "apertium":
        return None
    name = settings.neural_models.get(f"{source}-{target}")
    if not name:
        return None
    from ..models import resolve_model

    resolved = resolve_model(name)
    return str(resolved.local_path) if resolved.usable and resolved.local_path is not None else None


def plan_route(settings: TranslateSettings, source: str, target: str) -> Route:
    """How `source` text becomes `target` text (fr->en is the configured translator: see select.py)."""
    if source == target:
        return Route(source, target, "same", "already in the target language")
    if (source, target) == ("fr", "en"):
        return Route(source, target, "configured", f"translate.backend {settings.backend}")
    model = _neural_model(settings, source, target)
    if model is not None:
        return Route(source, target, "neural", model)
    pairs = APERTIUM_ROUTES.get((source, target))
    if pairs is None:
        return Route(source, target, "none", f"no offline route from {source!r} to {target!r} "
                                             "(no Apertium pairs, no local neural model)")
    return Route(source, target, "apertium", " + ".join(pairs))


def check_routes(settings: TranslateSettings, languages: Sequence[str], targets: Sequence[str] = TARGETS) -> list[str]:
    """Before any work: EngineFailure when a configured language's Apertium route needs a pair that
    is not installed (the message names the package); a warning per language with no route."""
    warnings = []
    for source in languages:
        for target in targets:
            route = plan_route(settings, source, target)
            if route.kind == "none":
                warnings.append(f"{source} sources have no route to {target}: {route.detail}; "
                                "they are listed as related sources, not summarised")
            elif route.kind == "apertium":
                for pair in APERTIUM_ROUTES[(source, target)]:
                    mode_file(pair)  # EngineFailure naming package_for(pair)
    return warnings


class RouteTranslator:
    """Translate between any two languages that have a route: `translate(texts, source, target)`.

    `fr_en` is the configured French->English translator (select.choose_translator); other
    directions are built on first use and kept. `make_apertium(pairs)` and `make_neural(path)`
    build the engines (tests pass their own).
    """

    def __init__(self, settings: TranslateSettings, fr_en: Translator,
                 make_apertium: Callable[[Sequence[str]], Translator] | None = None,
                 make_neural: Callable[[str], Translator] | None = None) -> None:
        self.settings = settings
        self._engines: dict[tuple[str, str], Translator] = {("fr", "en"): fr_en}
        self._make_apertium = make_apertium or self._apertium
        self._make_neural = make_neural or self._neural

    def _apertium(self, pairs: Sequence[str]) -> Translator:
        from .apertium import ApertiumTranslator

        # tested before its first translation: a run may build it only for its identity (a cache key)
        return ApertiumTranslator(pairs, timeout_s=self.settings.timeout_s, self_test="first use")

    def _neural(self, path: str) -> Translator:
        from .marian import MarianTranslator

        s = self.settings
        return MarianTranslator(path, batch_size=s.batch_size, threads=s.threads, device=s.device,
                                beam_size=s.beam_size, max_input_tokens=s.max_input_tokens)

    def route(self, source: str, target: str) -> Route:
        return plan_route(self.settings, source, target)

    def engine_for(self, source: str, target: str) -> Translator | None:
        """The translator for this direction (None when the text needs none); NoRoute when there is none."""
        if source == target:
            return None
        key = (source, target)
        if key not in self._engines:
            route = self.route(source, target)
            if route.kind == "none":
                raise NoRoute(route.detail)
            if route.kind == "neural":
                self._engines[key] = self._make_neural(route.detail)
            else:
                self._engines[key] = self._make_apertium(APERTIUM_ROUTES[key])
            log.info("translation route %s->%s: %s", source, target, self._engines[key].engine)
        return self._engines[key]

    def translate(self, texts: Sequence[str], source: str, target: str) -> list[str]:
        engine = self.engine_for(source, target)
        return list(texts) if engine is None else engine.translate(texts)


__all__ = ["APERTIUM_ROUTES", "Route", "RouteTranslator", "check_routes", "plan_route", "package_for"]
