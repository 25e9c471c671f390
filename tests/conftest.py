"""Shared fixtures: the sample corpus and its ingested form (built once)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline.config import Settings
from pipeline.ingest import ingest
from pipeline.model import IngestResult

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"


def apertium_missing() -> str | None:
    """Why Apertium tests cannot run here, or None when they can."""
    if shutil.which("apertium") is None:
        return "apertium is not installed (scripts/setup.sh installs it)"
    return None


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def sample(settings: Settings) -> IngestResult:
    return ingest(CORPUS, settings.ingest)


# --- tiny neural models, built once per session (see tiny_models.py) ---------------------


@pytest.fixture(scope="session")
def marian_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tiny_models import build_tiny_marian

    return build_tiny_marian(tmp_path_factory.mktemp("models") / "tiny-opus-mt-fr-en")


@pytest.fixture(scope="session")
def bart_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tiny_models import build_tiny_bart

    return build_tiny_bart(tmp_path_factory.mktemp("models") / "tiny-barthez")


@pytest.fixture(scope="session")
def ct2_f32_dir(marian_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pipeline.models import convert_to_ct2

    return convert_to_ct2(marian_dir, tmp_path_factory.mktemp("ct2") / "tiny-ct2-float32", "float32")


@pytest.fixture(scope="session")
def ct2_int8_dir(marian_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pipeline.models import convert_to_ct2

    return convert_to_ct2(marian_dir, tmp_path_factory.mktemp("ct2") / "tiny-ct2-int8", "int8")
