"""Benchmark: the dedup stage (`pipeline.dedup.dedup`) on syndicated news, growth with size.

    .venv/bin/python scripts/bench_dedup_scale.py [--bases 1 1] [--variants 100 1000]
    .venv/bin/python scripts/bench_dedup_scale.py --bases 100 1000 --variants 10 10

Each corpus is `bases` real French articles (OrangeSum validation, in file
order, glued sentence joins repaired) and, for each, `variants` syndicated
copies: another title, one or two sentences dropped, two sentences swapped,
one or two sentences reworded (a word dropped, two neighbouring words
swapped), paragraphs re-cut. Built deterministically (`--seed`) and ingested
with `pipeline.ingest.ingest_text` (one configured language, so no language
identification is timed). Two shapes matter: one base with many variants (one
huge duplicate group: the cost must stay linear in the group's size), and
many bases with a few variants (many documents: no all-pairs of documents).

Prints, per corpus: documents, paragraphs, sentences, wall and process CPU
seconds of `dedup()` and of its parts (shingle links of paragraphs and of
sentences, same-fact links, grouping), groups found, and the largest sentence
group; then the growth exponent log(t2/t1)/log(n2/n1) of every figure between
consecutive sizes (1.0 = linear). Last line JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline import dedup as dedup_module  # noqa: E402
from pipeline.config import DedupSettings, IngestSettings  # noqa: E402
from pipeline.ingest import LanguageIdentifier, ingest_text  # noqa: E402

_GLUED = re.compile(r"(?<=[a-zàâäéèêëïîôöùûüç0-9\)»\"])([.!?])(?=[A-ZÀÂÄÉÈÊËÎÏÔÖÙÛÜÇ«])")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[«\"“A-ZÀ-Ý0-9])")


def default_data() -> Path:
    here = ROOT / ".." / "shared" / "eval-dev"
    return here


def load_articles(path: Path, count: int) -> list[tuple[str, list[str]]]:
    """(title, sentences) of the first `count` articles with at least 6 sentences."""
    out = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            sentences = [s.strip() for s in _SENTENCE_END.split(_GLUED.sub(r"\1 ", " ".join(row["article"].split())))]
            if len(sentences) >= 6:
                out.append((row["title"], sentences))
            if len(out) == count:
                break
    if len(out) < count:
        raise SystemExit(f"{path}: only {len(out)} usable articles, {count} needed")
    return out


def _reword(sentence: str, rng: random.Random) -> str:
    words = sentence.split()
    if len(words) < 8:
        return sentence
    k = rng.randrange(1, len(words) - 2)
    words[k], words[k + 1] = words[k + 1], words[k]
    del words[rng.randrange(1, len(words) - 1)]
    return " ".join(words)


def variant_text(title: str, sentences: list[str], rng: random.Random, k: int) -> str:
    s = list(sentences)
    for _ in range(rng.randint(1, 2)):
        if len(s) > 4:
            del s[rng.randrange(1, len(s))]
    i = rng.randrange(1, len(s) - 1)
    s[i], s[i + 1] = s[i + 1], s[i]
    for _ in range(rng.randint(1, 2)):
        j = rng.randrange(len(s))
        s[j] = _reword(s[j], rng)
    size = rng.randint(2, 4)
    paragraphs = [" ".join(s[a:a + size]) for a in range(0, len(s), size)]
    return "\n\n".join([f"{title} (version {k})", *paragraphs]) + "\n"


def build_corpus(articles: list[tuple[str, list[str]]], variants: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    out = []
    for b, (title, sentences) in enumerate(articles):
        size = 3
        paragraphs = [" ".join(sentences[a:a + size]) for a in range(0, len(sentences), size)]
        out.append((f"b{b}", "\n\n".join([title, *paragraphs]) + "\n"))
        out.extend((f"b{b}v{k}", variant_text(title, sentences, rng, k)) for k in range(1, variants + 1))
    return out


def timed_dedup(documents, settings: DedupSettings) -> tuple[dict, object]:
    """Wall and CPU seconds of dedup() and of its parts (wrapping the module's own functions)."""
    parts: dict[str, list[float]] = {}
    originals = {}

    def wrap(name: str, label):
        fn = getattr(dedup_module, name)
        originals[name] = fn

        def timed(*args, **kwargs):
            w, c = time.perf_counter(), time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                acc = parts.setdefault(label(args), [0.0, 0.0])
                acc[0] += time.perf_counter() - w
                acc[1] += time.process_time() - c
        setattr(dedup_module, name, timed)

    wrap("_shingle_links", lambda a: "shingle_" + ("paragraphs" if a[0] and ".s" not in a[0][0].id else "sentences"))
    wrap("_same_fact_links", lambda a: "same_fact")
    wrap("_groups_across_runs", lambda a: "groups")
    wrap("document_features", lambda a: "features")  # per document: on the workers and cached in a run
    try:
        w, c = time.perf_counter(), time.process_time()
        result = dedup_module.dedup(documents, settings)
        total = [time.perf_counter() - w, time.process_time() - c]
    finally:
        for name, fn in originals.items():
            setattr(dedup_module, name, fn)
    return {"total": total, **parts}, result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bases", type=int, nargs="+", default=[1, 1])
    ap.add_argument("--variants", type=int, nargs="+", default=[100, 1000])
    ap.add_argument("--data", type=Path, default=default_data())
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    if len(args.bases) != len(args.variants):
        ap.error("--bases and --variants need as many values each")
    articles = load_articles(args.data / "orangesum-valid.jsonl", max(args.bases))
    ingest_settings = IngestSettings(languages=["fr"])
    langid = LanguageIdentifier(["fr"])
    settings = DedupSettings()
    rows = []
    for bases, variants in zip(args.bases, args.variants):
        corpus = build_corpus(articles[:bases], variants, args.seed)
        documents = [ingest_text(text, doc_id=doc_id, path=f"corpus/{doc_id}.txt", sha256=doc_id, encoding="utf-8",
                                 settings=ingest_settings, langid=langid) for doc_id, text in corpus]
        times, result = timed_dedup(documents, settings)
        row = {
            "bases": bases, "variants": variants, "documents": len(documents),
            "paragraphs": sum(1 for d in documents for p in d.paragraphs if p.kind == "body"),
            "sentences": sum(len(p.sentences) for d in documents for p in d.paragraphs if p.kind == "body"),
            "paragraph_groups": len(result.paragraph_groups), "sentence_groups": len(result.sentence_groups),
            "largest_sentence_group": max((len(g.members) for g in result.sentence_groups), default=0),
            "wall_s": {k: round(v[0], 3) for k, v in times.items()},
            "cpu_s": {k: round(v[1], 3) for k, v in times.items()},
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        }
        rows.append(row)
        print(f"{bases} x (1 + {variants}): {row['documents']} docs, {row['paragraphs']} paragraphs, "
              f"{row['sentences']} sentences; groups P {row['paragraph_groups']} S {row['sentence_groups']} "
              f"(largest {row['largest_sentence_group']}); wall {row['wall_s']}; cpu {row['cpu_s']}", flush=True)
    exponents = []
    for a, b in zip(rows, rows[1:]):
        ratio = math.log(b["documents"] / a["documents"])
        exponents.append({
            "from": a["documents"], "to": b["documents"],
            "cpu": {k: round(math.log(max(b["cpu_s"][k], 1e-3) / max(a["cpu_s"][k], 1e-3)) / ratio, 2)
                    for k in b["cpu_s"] if k in a["cpu_s"]},
        })
        print(f"exponents {a['documents']} -> {b['documents']} docs (CPU): {exponents[-1]['cpu']}")
    print(json.dumps({"rows": rows, "exponents": exponents}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
