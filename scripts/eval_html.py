#!/usr/bin/env python3
"""Article-extraction quality of ingest on real news pages.

Runs `pipeline.ingest.ingest` on `html-dev/html/*.html.gz` (90 pages from
scrapinghub/article-extraction-benchmark, see ../shared/eval-dev/README.md)
and scores the text of each document against the human-checked `articleBody`
of `ground-truth.json` exactly as that benchmark's evaluate.py does: token
(`\\w+`) 4-gram shingles, TP/FP/FN per page normalised to sum 1, precision
averaged over pages with a prediction, recall over pages with a truth, F1
from the two means. A page ingest skips counts as an empty prediction.

Two rows: `ingest` (the paragraphs ingest keeps, what briefs are made of) and
`source` (the source of record, i.e. the extractor's text before ingest's
boilerplate rules). The last line is JSON.

    .venv/bin/python scripts/eval_html.py [--data DIR] [--limit N] [--show-worst K]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.config import Settings  # noqa: E402
from pipeline.ingest import ingest  # noqa: E402

_TOKEN = re.compile(r"\w+", re.UNICODE | re.MULTILINE | re.IGNORECASE | re.DOTALL)


def default_data() -> Path:
    here = ROOT / ".." / "shared" / "eval-dev" / "html-dev"
    return here


def _shingles(text: str, n: int = 4) -> Counter:
    tokens = _TOKEN.findall(text or "")
    return Counter(tuple(tokens[i:i + n]) for i in range(max(1, len(tokens) - n + 1)) if tokens[i:i + n])


def tp_fp_fn(true: str, pred: str) -> tuple[float, float, float]:
    t, p = _shingles(true), _shingles(pred)
    tp = fp = fn = 0.0
    for key in set(t) | set(p):
        tp += min(t[key], p[key])
        fp += max(0, p[key] - t[key])
        fn += max(0, t[key] - p[key])
    s = tp + fp + fn
    return (tp / s, fp / s, fn / s) if s > 0 else (tp, fp, fn)


def _precision(tp: float, fp: float, fn: float) -> float:
    if fp == fn == 0:
        return 1.0
    return 0.0 if tp == fp == 0 else tp / (tp + fp)


def _recall(tp: float, fp: float, fn: float) -> float:
    if fp == fn == 0:
        return 1.0
    return 0.0 if tp == fn == 0 else tp / (tp + fn)


def scores(rows: list[tuple[float, float, float]]) -> dict[str, float]:
    precision = statistics.mean(_precision(*r) for r in rows if r[0] + r[1] > 0)
    recall = statistics.mean(_recall(*r) for r in rows if r[0] + r[2] > 0)
    return {"precision": round(precision, 4), "recall": round(recall, 4),
            "f1": round(2 * precision * recall / (precision + recall), 4)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=default_data(), help="html-dev folder (default: %(default)s)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N pages (by name)")
    parser.add_argument("--show-worst", type=int, default=0, metavar="K", help="print the K worst pages by F1")
    args = parser.parse_args()
    truth = json.loads((args.data / "ground-truth.json").read_text(encoding="utf-8"))
    pages = sorted((args.data / "html").glob("*.html.gz"))
    if args.limit:
        pages = pages[: args.limit]
    # ingest reads a folder: point it at a folder holding only the chosen pages
    import tempfile

    wall, cpu = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "html-dev"
        corpus.mkdir()
        for page in pages:
            (corpus / page.name).symlink_to(page.resolve())
        settings = Settings.model_validate({"ingest": {"follow_symlinks_outside": True}}).ingest
        result = ingest(corpus, settings)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    docs = {d.doc_id: d for d in result.documents}
    rows: dict[str, list[tuple[float, float, float]]] = {"ingest": [], "source": []}
    per_page = []
    for page in pages:
        key = page.name.removesuffix(".html.gz")
        body = truth[key].get("articleBody", "")
        doc = docs.get(key)
        kept = "\n\n".join(p.text for p in doc.paragraphs) if doc else ""
        row = tp_fp_fn(body, kept)
        rows["ingest"].append(row)
        rows["source"].append(tp_fp_fn(body, doc.source_text if doc else ""))
        per_page.append((2 * row[0] / (2 * row[0] + row[1] + row[2]) if any(row) else 1.0, key, truth[key].get("url", "")))
    results = {name: scores(r) for name, r in rows.items()}
    print(f"{len(pages)} pages, {len(result.skipped)} skipped by ingest; {wall:.1f} s wall, {cpu:.1f} s CPU")
    for s in result.skipped:
        print(f"  skipped {s.path}: {s.reason}")
    print(f"{'text scored':<10} {'precision':>9} {'recall':>7} {'F1':>6}")
    for name, r in results.items():
        print(f"{name:<10} {r['precision']:>9.3f} {r['recall']:>7.3f} {r['f1']:>6.3f}")
    for f1, key, url in sorted(per_page)[: args.show_worst]:
        print(f"  F1 {f1:.3f} {key[:12]} {url}")
    print(json.dumps({"pages": len(pages), "skipped": len(result.skipped), "wall_s": round(wall, 1),
                      "cpu_s": round(cpu, 1), **{name: r for name, r in results.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
