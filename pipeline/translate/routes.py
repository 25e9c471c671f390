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


# Directions besides French->English whose engines a process keeps running at once (`RouteTranslator`).
RUNNING_ROUTES = 2


class RouteTranslator:
    """Translate between any two languages that have a route: `translate(texts, source, target)`.

    `fr_en` is the configured French->English translator (select.choose_translator); other
    directions are built on first use and kept. `make_apertium(pairs)` and `make_neural(path)`
    build the engines (tests pass their own).

    Of the other directions, only the `running` last used keep their engine's processes: before another
    is used, the least recently used one is closed (`close()`: an Apertium route's ~10 to 20 processes, 150
    to 300 MB, end; its next use starts them again, 0.5 to 1.5 s). Review pages translate direction after
    direction (`pipeline.flow.translate_jobs`), so a direction starts at most twice per process; kept open,
    a corpus whose sources are in five languages held 7 directions' processes in each worker and in the run's
    own process at once (2.3 GB of 8.6 GB at 100,000 articles).
    """

    def __init__(self, settings: TranslateSettings, fr_en: Translator,
                 make_apertium: Callable[[Sequence[str]], Translator] | None = None,
                 make_neural: Callable[[str], Translator] | None = None, running: int = RUNNING_ROUTES) -> None:
        self.settings = settings
        self._engines: dict[tuple[str, str], Translator] = {("fr", "en"): fr_en}
        self._make_apertium = make_apertium or self._apertium
        self._make_neural = make_neural or self._neural
        self._running = max(1, running)
        self._used: dict[tuple[str, str], None] = {}  # the other directions used and not closed, oldest first

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
        if engine is None:
            return list(texts)
        if (source, target) != ("fr", "en"):
            self._use((source, target))
        return engine.translate(texts)

    def _use(self, key: tuple[str, str]) -> None:
        """`key` becomes the direction used last; the oldest beyond `running` is closed (its processes end)."""
        self._used.pop(key, None)
        while len(self._used) >= self._running:
            oldest = next(iter(self._used))
            del self._used[oldest]
            close = getattr(self._engines[oldest], "close", None)
            if close is not None:
                close()
        self._used[key] = None


__all__ = ["APERTIUM_ROUTES", "RUNNING_ROUTES", "Route", "RouteTranslator", "check_routes", "plan_route", "package_for"]
