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
    """The engine itself is broken (fails, hangs, misaligned or empty output): not one story's
    problem but the run's, which fails with exit 4 and publishes nothing."""


class Translator(Protocol):
    engine: str

    def translate(self, texts: Sequence[str]) -> list[str]: ...
