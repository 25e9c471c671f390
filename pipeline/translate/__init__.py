"""FR->EN translation backends.

Every backend is a `Translator`: `translate(texts)` returns one English string
per French input, in order, and `engine` names what produced them (recorded
in briefs and the manifest).
"""

from __future__ import annotations

from typing import Protocol, Sequence


class TranslationError(Exception):
    """A translator could not run (missing engine, failed process)."""


class EngineFailure(TranslationError):
    """The engine itself is broken (a stage exits, hangs, prints misaligned or empty output, a
    configured pair is missing): the run fails (exit 4), it is not a partial result."""


class NoRoute(TranslationError):
    """No offline route from this source language to the target (German, offline): the caller lists
    such sources as related, with a warning, and never translates them through a wrong pivot."""


class Translator(Protocol):
    engine: str

    def translate(self, texts: Sequence[str]) -> list[str]: ...
