"""Measure quality: summaries (ROUGE) and translations (BLEU, chrF).

Entry points: `evaluate_summaries(items, settings) -> SummaryEval` and
`evaluate_translations(pairs, translator) -> TranslationEval`, plus the
loaders `load_summary_data` and `load_translation_data`. Nothing here prints;
the CLI (`python -m pipeline eval`) prints and writes the files.

Summaries go through the pipeline's own stages, one article at a time:
ingest (`ingest_text`: normalisation, paragraphs, sentence splitting that
repairs glued joins such as "Pyrénées.Alors"), dedup, stories, and the
configured summarizer's `summarize_story` — the code path of a brief, with a
story of one document. LEAD-k, the first k sentences of the same ingested
document, is scored the same way.

ROUGE uses the rouge-score package with an accent-safe tokenizer: lowercase,
Unicode `\\w+` tokens, no stemming (rouge-score's default tokenizer keeps only
[a-z0-9], so "été" would become "t"). Scores are mean F1 x 100.
Translations are scored with sacrebleu's corpus BLEU and chrF (defaults); the
signatures say how.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Sequence

from . import __version__
from .config import Settings, settings_dict
from .flow import summarize_documents
from .ingest import InputError, LanguageIdentifier, ingest_text
from .model import Document, Summary
from .summarize import Summarizer, make_summarizer
from .translate import Translator

LEAD_SIZES = (1, 2, 3)
_TOKEN = re.compile(r"\w+")


class EvalError(Exception):
    """Bad evaluation input (missing file, wrong columns); the message says what to fix."""


class AccentSafeTokenizer:
    """rouge-score tokenizer: lowercase Unicode `\\w+` words, accents kept, no stemming."""

    def tokenize(self, text: str) -> list[str]:
        return _TOKEN.findall(text.lower())


# --- data ----------------------------------------------------------------------


@dataclass(frozen=True)
class SummaryItem:
    id: str
    article: str
    abstract: str


@dataclass(frozen=True)
class TranslationPair:
    source: str
    reference: str


def load_summary_data(path: Path, limit: int | None = None) -> list[SummaryItem]:
    """JSON lines with `id`, `article`, `abstract`, read with the `datasets` library, offline.

    The Hugging Face cache goes to a temporary folder that is removed afterwards.
    """
    if not path.is_file():
        raise EvalError(f"data file not found: {path}")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import datasets

    datasets.disable_progress_bars()
    with tempfile.TemporaryDirectory(prefix="pipeline-eval-hf-") as cache:
        try:
            data = datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=cache)
        except Exception as exc:  # datasets raises many types for a malformed file
            raise EvalError(f"{path}: cannot read as JSON lines ({type(exc).__name__}: {exc})") from None
        missing = {"id", "article", "abstract"} - set(data.column_names)
        if missing:
            raise EvalError(
                f"{path}: every line needs the keys id, article, abstract; missing {', '.join(sorted(missing))}"
            )
        if limit is not None:
            data = data.select(range(min(limit, len(data))))
        return [SummaryItem(str(r["id"]), r["article"] or "", r["abstract"] or "") for r in data]


def load_translation_data(path: Path, limit: int | None = None) -> list[TranslationPair]:
    """Lines `French<TAB>English reference`, UTF-8."""
    if not path.is_file():
        raise EvalError(f"data file not found: {path}")
    pairs: list[TranslationPair] = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            line = line.rstrip("\n").rstrip("\r")
            if not line.strip():
                continue
            source, tab, reference = line.partition("\t")
            if not tab:
                raise EvalError(f"{path} line {number}: expected 'French<TAB>English reference', found no tab")
            pairs.append(TranslationPair(source, reference))
            if limit is not None and len(pairs) >= limit:
                break
    return pairs


# --- summaries -------------------------------------------------------------------


@dataclass(frozen=True)
class RougeScores:
    system: str
    rouge1: float  # mean F1 x 100
    rouge2: float
    rougeL: float
    avg_tokens: float  # mean summary length, accent-safe tokens


@dataclass(frozen=True)
class SummaryPrediction:
    id: str
    summary: str
    leads: tuple[str, ...]  # LEAD-1, LEAD-2, LEAD-3


@dataclass(frozen=True)
class SummaryEval:
    n: int
    engine: str
    system: RougeScores
    baselines: tuple[RougeScores, ...]
    predictions: tuple[SummaryPrediction, ...]
    seconds: float  # summarizing only (ingest to summary), not scoring

    @property
    def rouge_signature(self) -> str:
        return "rouge-score|tok:lower,unicode-\\w+|stem:no|F1x100|mean"


def article_document(item: SummaryItem, settings: Settings, langid: LanguageIdentifier) -> Document:
    sha = hashlib.sha256(item.article.encode("utf-8")).hexdigest()
    return ingest_text(item.article, doc_id=item.id, path=f"eval/{item.id}", sha256=sha, encoding="utf-8",
                       settings=settings.ingest, langid=langid)


def summarize_document(doc: Document, settings: Settings, summarizer: Summarizer | None = None) -> Summary:
    """The brief's code path for a corpus of one document: the flow's dedup, stories and summarize steps."""
    return summarize_documents([doc], settings, summarizer=summarizer)[0].summary


def lead(doc: Document, k: int) -> str:
    sentences = [s.text for p in doc.paragraphs if p.kind == "body" for s in p.sentences]
    return " ".join(sentences[:k])


def rouge_scores(name: str, hypotheses: Sequence[str], references: Sequence[str]) -> RougeScores:
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=False,
                                      tokenizer=AccentSafeTokenizer())
    totals = {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}
    tokens = 0
    tokenizer = AccentSafeTokenizer()
    for hyp, ref in zip(hypotheses, references, strict=True):
        scores = scorer.score(ref, hyp)
        for key in totals:
            totals[key] += scores[key].fmeasure
        tokens += len(tokenizer.tokenize(hyp))
    n = max(len(hypotheses), 1)
    return RougeScores(name, *(round(100 * totals[k] / n, 2) for k in ("rouge1", "rouge2", "rougeL")),
                       round(tokens / n, 1))


def evaluate_summaries(items: Sequence[SummaryItem], settings: Settings) -> SummaryEval:
    langid = LanguageIdentifier(settings.ingest.languages)
    summarizer = make_summarizer(settings.summarize, threads=settings.translate.threads,
                                 device=settings.translate.device)
    predictions: list[SummaryPrediction] = []
    engine = ""
    start = time.perf_counter()
    for item in items:
        try:
            doc = article_document(item, settings, langid)
        except InputError:  # nothing left of the article: an empty summary, scored as such
            predictions.append(SummaryPrediction(item.id, "", ("",) * len(LEAD_SIZES)))
            continue
        summary = summarize_document(doc, settings, summarizer)
        engine = summary.engine
        predictions.append(SummaryPrediction(
            item.id, " ".join(s.text_fr for s in summary.sentences), tuple(lead(doc, k) for k in LEAD_SIZES)
        ))
    seconds = time.perf_counter() - start
    references = [item.abstract for item in items]
    system = rouge_scores(settings.summarize.backend, [p.summary for p in predictions], references)
    baselines = tuple(
        rouge_scores(f"LEAD-{k}", [p.leads[i] for p in predictions], references) for i, k in enumerate(LEAD_SIZES)
    )
    return SummaryEval(len(items), engine, system, baselines, tuple(predictions), seconds)


# --- translations ---------------------------------------------------------------------


@dataclass(frozen=True)
class TranslationEval:
    n: int
    engine: str
    bleu: float
    bleu_signature: str
    chrf: float
    chrf_signature: str
    seconds: float  # the translate() call only
    hypotheses: tuple[str, ...]
    names: int = 0  # capitalised source words the reference also contains verbatim
    names_kept: int = 0  # ... of which the output contains them verbatim too

    @property
    def names_kept_percent(self) -> float:
        return round(100 * self.names_kept / self.names, 2) if self.names else 100.0

    @property
    def sentences_per_second(self) -> float:
        return round(self.n / self.seconds, 1) if self.seconds > 0 else 0.0


def names_kept(sources: Sequence[str], references: Sequence[str], hypotheses: Sequence[str]) -> tuple[int, int]:
    """(names, kept): capitalised source words (Unicode `\\w+` tokens starting with a capital) that the
    reference also contains as a token, once per sentence, and how many of them the output contains too."""
    names = kept = 0
    for src, ref, hyp in zip(sources, references, hypotheses, strict=True):
        wanted = {w for w in _TOKEN.findall(src) if w[:1].isupper()} & set(_TOKEN.findall(ref))
        names += len(wanted)
        kept += len(wanted & set(_TOKEN.findall(hyp)))
    return names, kept


def evaluate_translations(pairs: Sequence[TranslationPair], translator: Translator) -> TranslationEval:
    from sacrebleu.metrics import BLEU, CHRF

    start = time.perf_counter()
    hypotheses = translator.translate([p.source for p in pairs])
    seconds = time.perf_counter() - start
    if len(hypotheses) != len(pairs):
        raise EvalError(f"{translator.engine} returned {len(hypotheses)} translations for {len(pairs)} inputs")
    references = [[p.reference for p in pairs]]
    bleu, chrf = BLEU(), CHRF()
    bleu_score = bleu.corpus_score(hypotheses, references)
    chrf_score = chrf.corpus_score(hypotheses, references)
    return TranslationEval(
        n=len(pairs), engine=translator.engine,
        bleu=round(bleu_score.score, 2), bleu_signature=str(bleu.get_signature()),
        chrf=round(chrf_score.score, 2), chrf_signature=str(chrf.get_signature()),
        seconds=seconds, hypotheses=tuple(hypotheses),
        **dict(zip(("names", "names_kept"), names_kept([p.source for p in pairs], references[0], hypotheses))),
    )


# --- results files ------------------------------------------------------------------------

_VERSIONED = ("datasets", "rouge-score", "sacrebleu", "sentencex", "lingua-language-detector", "snowballstemmer",
              "stop-words", "numpy", "torch", "transformers", "ctranslate2")


def versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "pipeline": __version__}
    for name in _VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def results_record(task: str, result: SummaryEval | TranslationEval, *, data: Path, limit: int | None,
                   settings: Settings, config_path: Path, seed: int) -> dict[str, Any]:
    """What `--output` holds: the scores, and everything needed to compute them again."""
    if isinstance(result, SummaryEval):
        metrics: dict[str, Any] = {
            "rouge": {"signature": result.rouge_signature,
                      "systems": [asdict(r) for r in (result.system, *result.baselines)]},
            "seconds": round(result.seconds, 3),
            "articles_per_second": round(result.n / result.seconds, 2) if result.seconds else None,
        }
    else:
        metrics = {
            "bleu": {"score": result.bleu, "signature": result.bleu_signature},
            "chrf": {"score": result.chrf, "signature": result.chrf_signature},
            "names_kept": {"percent": result.names_kept_percent, "kept": result.names_kept, "names": result.names},
            "seconds": round(result.seconds, 3),
            "sentences_per_second": result.sentences_per_second,
        }
    return {
        "task": task, "data": str(data), "items": result.n, "limit": limit, "engine": result.engine,
        "metrics": metrics, "seed": seed, "config_path": str(config_path), "config": settings_dict(settings),
        "versions": versions(), "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def default_output(task: str, root: Path = Path("outputs/eval")) -> Path:
    return root / f"{task}-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}.json"


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def write_results(path: Path, record: dict[str, Any]) -> None:
    _write_atomic(path, json.dumps(record, ensure_ascii=False, indent=2) + "\n")


def write_predictions(path: Path, result: SummaryEval | TranslationEval) -> None:
    """Summaries: JSON lines with `id` and `summary`. Translations: one English line per input, in order."""
    if isinstance(result, SummaryEval):
        lines = [json.dumps({"id": p.id, "summary": p.summary}, ensure_ascii=False) for p in result.predictions]
    else:
        lines = [" ".join(h.split()) for h in result.hypotheses]
    _write_atomic(path, "".join(line + "\n" for line in lines))
