"""Pick the translator the config asks for.

`backend: auto` prefers CTranslate2, then Marian, when the model is present
locally (a folder, or the local Hugging Face cache), and otherwise falls back
to Apertium. The fallback is a degradation, so it is returned as a warning
for the log, the brief and the manifest, never silent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..config import TranslateSettings
from . import TranslationError, Translator
from .apertium import ApertiumTranslator


@dataclass(frozen=True)
class TranslatorChoice:
    translator: Translator
    warnings: tuple[str, ...]


def _apertium(settings: TranslateSettings, self_test: bool | Literal["started"]) -> ApertiumTranslator:
    return ApertiumTranslator(settings.apertium_pairs, timeout_s=settings.timeout_s,
                              fallback_pairs=settings.apertium_fallback_pairs,
                              combine_routes=settings.apertium_combine, self_test=self_test)


def _marian(settings: TranslateSettings, path: str) -> Translator:
    from .marian import MarianTranslator

    return MarianTranslator(
        path, batch_size=settings.batch_size, threads=settings.threads, device=settings.device,
        beam_size=settings.beam_size, max_input_tokens=settings.max_input_tokens,
    )


def _ct2(settings: TranslateSettings, ct2_dir: str, tokenizer_path: str) -> Translator:
    from .ct2 import CT2Translator

    return CT2Translator(
        ct2_dir, tokenizer_path, compute_type=settings.compute_type, batch_size=settings.batch_size,
        threads=settings.threads, device=settings.device, beam_size=settings.beam_size,
        max_input_tokens=settings.max_input_tokens,
    )


def choose_translator(settings: TranslateSettings, *, self_test: bool | Literal["started"] = True
                      ) -> TranslatorChoice:
    """Build the configured translator; raise TranslationError if a required one is missing.

    `self_test`: Apertium's start-up self-test, run before this returns (True), or later ("started": its
    processes are started now and load their data while the caller goes on; the self-test runs at the
    translator's `ready`, see `wait_ready`, or at its first translation)."""
    backend = settings.backend
    if backend == "apertium":
        return TranslatorChoice(_apertium(settings, self_test), ())

    from ..models import default_ct2_dir, resolve_model

    resolved = resolve_model(settings.model)
    ct2_dir = settings.ct2_model or str(default_ct2_dir(settings.model, settings.compute_type))
    ct2_ready = (resolved.usable and resolved.local_path is not None) and _is_ct2_dir(ct2_dir)

    if backend == "marian" or (backend == "auto" and resolved.usable and not ct2_ready):
        if not resolved.usable or resolved.local_path is None:
            raise TranslationError(
                f"translate.model {settings.model!r} is not available locally ({resolved.reason}); "
                "run 'python -m pipeline models pull' where a model hub is reachable, or set translate.model to a local folder"
            )
        return TranslatorChoice(_marian(settings, str(resolved.local_path)), ())
    if backend == "ctranslate2" or (backend == "auto" and ct2_ready):
        if not ct2_ready:
            raise TranslationError(
                f"no CTranslate2 model at {ct2_dir} for {settings.model!r} ({resolved.reason or 'not converted'}); "
                "run 'python -m pipeline models convert' after the model is available locally"
            )
        assert resolved.local_path is not None
        return TranslatorChoice(_ct2(settings, ct2_dir, str(resolved.local_path)), ())
    # auto, and no neural model here
    fallback = _apertium(settings, self_test)
    return TranslatorChoice(
        fallback,
        (
            f"translation degraded to Apertium (rule-based): neural model {settings.model!r} is not available "
            f"locally ({resolved.reason}); see 'python -m pipeline models list'",
        ),
    )


def wait_ready(translator: Translator) -> None:
    """Make sure the translator has passed its start-up self-test, where it runs one after being built
    (`ApertiumTranslator(self_test="started")`); raise EngineFailure if it failed."""
    ready = getattr(translator, "ready", None)
    if ready is not None:
        ready()


def _is_ct2_dir(path: str) -> bool:
    from pathlib import Path

    return (Path(path) / "model.bin").is_file()
