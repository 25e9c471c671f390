"""Apertium: rule-based, offline FR->EN through Spanish (fr-es, then spa-eng).

Debian packages: apertium, apertium-fr-es, apertium-eng-spa.

All texts of a call go through one process per pair, separated by blank
lines (Apertium keeps blank lines, so output lines stay aligned with the
inputs; a single newline would be a plain space to it and let one text's
words influence its neighbour's). Before: "œ"/"Œ" are written "oe"/"Oe"
(unknown to apertium-fr-es otherwise) and line breaks inside a text become
spaces. After: Apertium's marks for unknown words (`*`), generation errors
(`#`) and untransferred words (`@`) are removed, keeping the word, so names
survive; French guillemets become English double quotes.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Sequence

from . import TranslationError

_MARKS = re.compile(r"(?<![\w*#@])[*#@](?=\w)")
_GUILLEMETS = re.compile(r"«\s*(.*?)\s*»")
_SPACE_BEFORE = re.compile(r"\s+([,.;:!?)])")


def _prepare(text: str) -> str:
    return " ".join(text.replace("œ", "oe").replace("Œ", "Oe").split())


def clean_output(text: str) -> str:
    text = _MARKS.sub("", text)
    text = _GUILLEMETS.sub(r'"\1"', text)
    text = _SPACE_BEFORE.sub(r"\1", text)
    return " ".join(text.split())


def apertium_version() -> str | None:
    """Installed Apertium version (from dpkg), or None when not known."""
    if shutil.which("dpkg-query") is None:
        return None
    out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "apertium"], capture_output=True, text=True)
    return out.stdout.strip() or None if out.returncode == 0 else None


class ApertiumTranslator:
    """`Translator` backed by the apertium command-line tool."""

    def __init__(self, pairs: Sequence[str] = ("fr-es", "spa-eng"), *, timeout_s: float = 600.0) -> None:
        if shutil.which("apertium") is None:
            raise TranslationError(
                "apertium is not installed; install it with "
                "'apt-get install -y apertium apertium-fr-es apertium-eng-spa' (scripts/setup.sh does this)"
            )
        self.pairs = list(pairs)
        self.timeout_s = timeout_s
        version = apertium_version()
        self.engine = f"apertium {version or '(version unknown)'} ({' + '.join(self.pairs)})"

    def _run(self, pair: str, text: str) -> str:
        try:
            proc = subprocess.run(
                ["apertium", "-u", pair], input=text, capture_output=True, text=True, timeout=self.timeout_s
            )
        except subprocess.TimeoutExpired:
            raise TranslationError(f"apertium {pair} did not finish within {self.timeout_s:.0f} s") from None
        if proc.returncode != 0:
            detail = proc.stderr.strip().splitlines()[-1:] or ["no message"]
            raise TranslationError(
                f"apertium {pair} failed (exit {proc.returncode}): {detail[0]}; "
                f"is the language pair installed? (apt-get install apertium-fr-es apertium-eng-spa)"
            )
        return proc.stdout

    def translate(self, texts: Sequence[str]) -> list[str]:
        if not texts:
            return []
        prepared = [_prepare(t) for t in texts]
        joined = "\n\n".join(p if p else "." for p in prepared) + "\n"
        for pair in self.pairs:
            joined = self._run(pair, joined)
        pieces = [p for p in re.split(r"\n\s*\n", joined.strip("\n"))]
        if len(pieces) != len(texts):
            raise TranslationError(
                f"apertium returned {len(pieces)} texts for {len(texts)} inputs; the alignment was lost"
            )
        return [clean_output(out) if src else "" for out, src in zip(pieces, prepared)]
