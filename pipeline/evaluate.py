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


# --- multi-document summaries (RPM2-style clusters) ------------------------------------------

CUT_WORDS = 100  # the French summary is scored on its first 100 words


@dataclass(frozen=True)
class Cluster:
    id: str
    folder: Path  # the cluster's articles: one corpus, title on the first line of each file
    refs: tuple[str, ...]  # summaries written by people


def load_clusters(root: Path, limit: int | None = None) -> list[Cluster]:
    """`root/refs.jsonl` (`{"id", "refs": [...]}` per line) and `root/docs/<id>/*.txt`."""
    refs_path = root / "refs.jsonl"
    if not refs_path.is_file():
        raise EvalError(f"{refs_path} not found: --data must be a folder with refs.jsonl and docs/<cluster>/")
    clusters: list[Cluster] = []
    for number, line in enumerate(refs_path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            cid, refs = str(row["id"]), tuple(str(r) for r in row["refs"])
        except (ValueError, KeyError, TypeError) as exc:
            raise EvalError(f"{refs_path} line {number}: expected {{\"id\": ..., \"refs\": [...]}} ({exc})") from None
        folder = root / "docs" / cid
        if not folder.is_dir() or not refs:
            raise EvalError(f"{refs_path} line {number}: no folder {folder} or no reference summary")
        clusters.append(Cluster(cid, folder, refs))
        if limit is not None and len(clusters) >= limit:
            break
    return clusters


def cut_words(text: str, n: int = CUT_WORDS) -> str:
    """The first `n` words of `text` (space-separated; a lone punctuation mark is not a word)."""
    out: list[str] = []
    count = 0
    for token in text.split():
        if count >= n:
            break
        out.append(token)
        count += bool(_TOKEN.search(token))
    return " ".join(out)


def _mean_f1(hypothesis: str, references: Sequence[str]) -> list[float]:
    """ROUGE-1/2/L F1 of one hypothesis against each reference, averaged over the references."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=False,
                                      tokenizer=AccentSafeTokenizer())
    scores = [scorer.score(ref, hypothesis) for ref in references]
    return [sum(s[k].fmeasure for s in scores) / len(scores) for k in ("rouge1", "rouge2", "rougeL")]


def _scores(name: str, per_cluster: Sequence[Sequence[float]], tokens: float) -> RougeScores:
    n = max(len(per_cluster), 1)
    return RougeScores(name, *(round(100 * sum(x[i] for x in per_cluster) / n, 2) for i in range(3)), round(tokens, 1))


def multi_rouge(name: str, hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> RougeScores:
    """ROUGE F1 x 100 of each hypothesis against each of its references, averaged, then over clusters."""
    per_cluster = [_mean_f1(h, refs) for h, refs in zip(hypotheses, references, strict=True)]
    tokens = sum(len(AccentSafeTokenizer().tokenize(h)) for h in hypotheses) / max(len(hypotheses), 1)
    return _scores(name, per_cluster, tokens)


def _article_sentences(cluster: Cluster, settings: Settings, langid: LanguageIdentifier) -> list[list[str]]:
    """Body sentences of each article of the cluster, its first line (the title) left out."""
    from .ingest import read_file, split_lines

    out = []
    for path in sorted(cluster.folder.glob("*.txt")):
        try:
            decoded = read_file(path, int(settings.ingest.max_file_mb * 1024 * 1024))
            body = "\n".join(split_lines(decoded.text)[1:])
            doc = ingest_text(body, doc_id=path.stem, path=str(path), sha256="", encoding=decoded.encoding,
                              settings=settings.ingest, langid=langid)
        except InputError:
            continue
        out.append([s.text for p in doc.paragraphs if p.kind == "body" for s in p.sentences])
    return out


def round_robin(articles: Sequence[Sequence[str]]) -> str:
    """The first sentence of each article, then the second of each, and so on."""
    depth = max((len(a) for a in articles), default=0)
    return " ".join(a[k] for k in range(depth) for a in articles if k < len(a))


def _pipeline_summary(cluster: Cluster, settings: Settings, config_path: Path, work: Path) -> tuple[str, str]:
    """(French summary, engine) of the cluster run as its own corpus through `pipeline.runner.run`.

    When the run makes several stories, the summary of the story with the most documents is used.
    """
    import shutil

    from .runner import EXIT_PARTIAL, RunOptions, run

    with tempfile.TemporaryDirectory(prefix=f"{cluster.id}-", dir=work) as tmp:
        corpus = Path(tmp) / cluster.id
        shutil.copytree(cluster.folder, corpus)
        report = run(RunOptions(settings=settings, config_path=config_path, corpus=corpus, out=Path(tmp) / "out"))
        if report.exit_code > EXIT_PARTIAL or report.run_dir is None:
            raise EvalError(f"cluster {cluster.id}: the run failed with exit code {report.exit_code}: {report.message}")
        briefs = [json.loads(p.read_text(encoding="utf-8")) for p in sorted((report.run_dir / "briefs").glob("*.json"))]
    if not briefs:
        return "", ""
    biggest = max(briefs, key=lambda b: len(b["sources"]))  # first of the largest on a tie
    return " ".join(s["fr"] for s in biggest["summary"]), biggest["engines"].get("summarizer", "")


def default_multi_work_dir() -> Path:
    """Where `eval multi-summarize` keeps its cache between calls (translations, summaries)."""
    return Path(tempfile.gettempdir()) / "pipeline-eval-multi-summarize"


def evaluate_multi_summaries(clusters: Sequence[Cluster], settings: Settings, config_path: Path,
                             work: Path | None = None) -> SummaryEval:
    """Each cluster through the whole pipeline as its own corpus; French summary cut at `CUT_WORDS` words.

    Baselines: lead (the first article's opening), round-robin lead (first sentences of every
    article, then second ones…), both cut the same way and both without the articles' title lines;
    and people (each reference against the other ones). `predictions[i].leads` holds the lead and
    the round-robin lead. The pipeline's cache lives in `work` (default: a folder in the system's
    temporary directory), so a second call translates nothing again.
    """
    work = work or default_multi_work_dir()
    work.mkdir(parents=True, exist_ok=True)
    settings = settings.model_copy(update={"cache": settings.cache.model_copy(
        update={"enabled": True, "path": str(work / "cache.sqlite")})})
    langid = LanguageIdentifier(settings.ingest.languages)
    predictions: list[SummaryPrediction] = []
    engine = ""
    start = time.perf_counter()
    for cluster in clusters:
        summary, engine = _pipeline_summary(cluster, settings, config_path, work)
        articles = _article_sentences(cluster, settings, langid)
        predictions.append(SummaryPrediction(cluster.id, summary, (
            cut_words(" ".join(articles[0]) if articles else ""), cut_words(round_robin(articles)))))
    seconds = time.perf_counter() - start
    references = [c.refs for c in clusters]
    system = multi_rouge("pipeline", [cut_words(p.summary) for p in predictions], references)
    baselines = (
        multi_rouge("lead", [p.leads[0] for p in predictions], references),
        multi_rouge("round-robin", [p.leads[1] for p in predictions], references),
        _people(clusters),
    )
    return SummaryEval(len(clusters), engine, system, baselines, tuple(predictions), seconds)


def _people(clusters: Sequence[Cluster]) -> RougeScores:
    """Each reference scored against the other references of its cluster, averaged per cluster."""
    per_cluster, tokens = [], []
    for c in clusters:
        if len(c.refs) < 2:
            continue
        scores = [_mean_f1(r, [o for j, o in enumerate(c.refs) if j != i]) for i, r in enumerate(c.refs)]
        per_cluster.append([sum(s[k] for s in scores) / len(scores) for k in range(3)])
        tokens += [len(AccentSafeTokenizer().tokenize(r)) for r in c.refs]
    return _scores("people", per_cluster, sum(tokens) / max(len(tokens), 1))


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
