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
