"""Benchmark: our near-duplicate finder against datasketch's MinHashLSH.

    .venv/bin/python scripts/bench_dedup.py --sizes 10000 100000

The corpus
----------
Synthetic French paragraphs of about 60 words, with planted duplicates.

* Real sentences come from OrangeSum articles (``--orangesum``, glued
  sentence joins repaired) and ``corpus/*.txt``. About 30% of the sentences
  of a paragraph are real ones, drawn from a pool of ``0.18 * size`` of them,
  so a real sentence recurs in about five paragraphs (quotes shared across
  articles), at every corpus size. The other sentences are produced by a
  word bigram chain trained on the same text: real French words, spelling,
  punctuation and local word order, but fresh 3-word shingles. Drawing only
  real sentences would have made every sentence recur ~14 times at 100k
  (0.56 M words of source for 6 M words of corpus) and only ~1.4 times at
  10k: the shingle statistics, and so the cost, would change with size.
* Duplicate families: about 10% of the paragraphs are sources; each gets one
  to three variants: ``exact`` (quote and apostrophe style changes only),
  ``light`` (1-4 dropped / inserted / replaced words), ``medium`` (5-12 such
  edits: pairs on both sides of J = 0.7), ``reorder`` (sentences shuffled,
  0-2 edits), ``contained`` (the source, 0-2 edits, with 1 to 6 other
  sentences around it) and ``excerpt`` (one end sentence dropped: contained
  in the source). Every variant also gets random quote styles (« » / " " / “ ”,
  ’ / ') and comma changes.

The truth
---------
Computed exactly on ``pipeline.minhash.shingle_hashes`` for the whole corpus,
not only within the planted families: a prefix-filtering set-similarity
join. Any qualifying pair (J >= 0.7 or max containment >= 0.8) shares at
least ``t * |A|`` shingles with ``t = min(0.7, 0.8)`` and ``A`` the smaller
set; order all shingles by document frequency (rarest first); then among
the first ``L`` shingles of ``A`` at least ``L - (|A| - ceil(t|A|))`` are in
``B`` (at most ``|A| - ceil(t|A|)`` shingles of ``A`` can be missing from
``B``). So probing the postings of each text's rarest ``L`` shingles and
keeping pairs with that many hits loses no qualifying pair; every survivor
is then checked with ``np.intersect1d``. ``--check-truth`` re-derives the
truth on a sub-corpus by brute force over a full inverted index (every pair
sharing a shingle) and stops if the two disagree.

The figures
-----------
* paragraphs/second: median wall time of ``--repeat`` calls on the whole
  corpus (datasketch: ``--datasketch-repeat``, default 1), without
  tracemalloc (ours: ``find_similar_pairs``; datasketch: tokenising with the
  same normaliser, 3-word shingle strings, ``MinHash(num_perm=128)`` with
  ``update_batch``, then query-before-insert into ``MinHashLSH(threshold=0.7)``).
* peak memory: ``tracemalloc`` peak of a second, separate call (numpy
  reports its buffers to tracemalloc), divided by the number of paragraphs.
  The input texts exist before the measurement and are not counted; nor is
  ``pipeline.minhash``'s per-process code-point table (4.4 MB of address
  space allocated at import, of which only the pages of the code points
  seen are ever touched).
* precision: share of the reported pairs that meet the engine's own target
  (ours: J >= 0.7 or containment >= 0.8; datasketch: J >= 0.7). Recall for
  J >= 0.7 and for containment >= 0.8 against the exact truth.
* cost ratio: time at the largest size / time at the smallest, next to the
  size ratio (linear = equal), in wall time and in process CPU time (the
  machines are shared: CPU time moves less with the load of others).

The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import re
import statistics
import sys
import time
import tracemalloc
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def default_eval_dev(root: Path = ROOT) -> Path:
    """The shared eval data: `../shared/eval-dev/` next to the repository (where a checkout lives
    beside `shared/`). `--orangesum` overrides."""
    beside = root / ".." / "shared" / "eval-dev"
    return beside.resolve()

from pipeline import minhash  # noqa: E402
from pipeline.minhash import find_similar_pairs, shingle_hashes, tokenize  # noqa: E402

JACCARD = 0.7
CONTAINMENT = 0.8
SHINGLE = 3
NUM_PERM = 128

Pair = tuple[int, int]

# --------------------------------------------------------------------------
# Source text

_GLUED = re.compile(r"(?<=[a-zàâäéèêëïîôöùûüç0-9\)»\"])([.!?])(?=[A-ZÀÂÄÉÈÊËÎÏÔÖÙÛÜÇ«])")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[«\"“A-ZÀ-Ý0-9])")


def load_source(orangesum: Path, corpus_dir: Path) -> list[str]:
    """Real French sentences of 6-45 words."""
    articles: list[str] = []
    with orangesum.open(encoding="utf-8") as f:
        for line in f:
            articles.append(json.loads(line)["article"])
    for path in sorted(corpus_dir.glob("*.txt")):
        articles.extend(p for p in path.read_text(encoding="utf-8").split("\n\n") if p.strip())
    sentences: list[str] = []
    for article in articles:
        text = _GLUED.sub(r"\1 ", " ".join(article.split()))
        for s in _SENTENCE_END.split(text):
            if 6 <= len(s.split()) <= 45:
                sentences.append(s.strip())
    return sentences


class BigramChain:
    """Word bigram chain over whitespace tokens (punctuation stays attached)."""

    def __init__(self, sentences: list[str]) -> None:
        nxt: dict[str, list[str]] = defaultdict(list)
        self.starts: list[str] = []
        for s in sentences:
            toks = s.split()
            self.starts.append(toks[0])
            for a, b in zip(toks, toks[1:], strict=False):
                nxt[a].append(b)
        self.next = dict(nxt)
        self.vocabulary = sorted({w.strip(".,;:!?«»\"“”()") for s in sentences for w in s.split()} - {""})

    def sentence(self, rng: random.Random) -> str:
        while True:
            toks = [rng.choice(self.starts)]
            while len(toks) < 45:
                options = self.next.get(toks[-1])
                if not options:
                    break
                toks.append(rng.choice(options))
                if toks[-1][-1] in ".!?" and len(toks) >= 6:
                    break
            if len(toks) >= 6:
                if toks[-1][-1] not in ".!?":
                    toks[-1] += "."
                return " ".join(toks)


# --------------------------------------------------------------------------
# Corpus with planted duplicates


@dataclass
class Corpus:
    texts: list[str]
    family: list[int]  # family id per text (-1: no planted relative)
    kind: list[str]  # "base", "source" or the variant kind


def _quote_style(text: str, rng: random.Random) -> str:
    opening, closing = rng.choice([("« ", " »"), ("«\u00a0", "\u00a0»"), ('"', '"'), ("“", "”")])
    text = re.sub(r"«\s*", opening, text)
    text = re.sub(r"\s*»", closing, text)
    text = text.replace("’", "'") if rng.random() < 0.5 else text.replace("'", "’")
    if rng.random() < 0.3:
        text = text.replace(", ", " , ", 1) if rng.random() < 0.5 else text.replace(",", "", 1)
    return text


def _edit_words(text: str, edits: int, vocabulary: list[str], rng: random.Random) -> str:
    toks = text.split()
    for _ in range(edits):
        if len(toks) < 4:
            break
        op = rng.random()
        k = rng.randrange(len(toks))
        if op < 0.4:
            del toks[k]
        elif op < 0.7:
            toks.insert(k, rng.choice(vocabulary))
        else:
            toks[k] = rng.choice(vocabulary)
    return " ".join(toks)


def build_corpus(size: int, sentences: list[str], seed: int) -> Corpus:
    rng = random.Random(seed)
    chain = BigramChain(sentences)
    pool = sentences[:]
    rng.shuffle(pool)
    pool = pool[: max(500, min(len(pool), int(0.18 * size)))]

    def sentence() -> str:
        return rng.choice(pool) if rng.random() < 0.3 else chain.sentence(rng)

    def paragraph_sentences() -> list[str]:
        target = rng.randint(35, 60)
        out: list[str] = []
        words = 0
        while words < target:
            s = sentence()
            out.append(s)
            words += len(s.split())
        return out

    n_variants_target = int(0.2 * size)
    n_base = size - n_variants_target
    base = [paragraph_sentences() for _ in range(n_base)]
    texts: list[str] = [" ".join(p) for p in base]
    family = [-1] * n_base
    kind = ["base"] * n_base
    kinds = ["exact", "light", "medium", "reorder", "contained", "excerpt"]
    weights = [0.15, 0.25, 0.2, 0.15, 0.15, 0.1]
    sources = rng.sample(range(n_base), k=n_base)
    fam = 0
    for src in sources:
        if len(texts) >= size:
            break
        family[src] = fam
        kind[src] = "source"
        sents = base[src]
        for _ in range(rng.randint(1, 3)):
            if len(texts) >= size:
                break
            k = rng.choices(kinds, weights)[0]
            if k == "excerpt" and len(sents) < 3:
                k = "light"
            if k == "exact":
                v = " ".join(sents)
            elif k == "light":
                v = _edit_words(" ".join(sents), rng.randint(1, 4), chain.vocabulary, rng)
            elif k == "medium":
                v = _edit_words(" ".join(sents), rng.randint(5, 12), chain.vocabulary, rng)
            elif k == "reorder":
                shuffled = sents[:]
                while len(shuffled) > 1 and shuffled == sents:
                    rng.shuffle(shuffled)
                v = _edit_words(" ".join(shuffled), rng.randint(0, 2), chain.vocabulary, rng)
            elif k == "contained":
                inner = _edit_words(" ".join(sents), rng.randint(0, 2), chain.vocabulary, rng)
                before = [sentence() for _ in range(rng.randint(0, 3))]
                after = [sentence() for _ in range(rng.randint(1 if not before else 0, 3))]
                v = " ".join(before + [inner] + after)
            else:  # excerpt
                v = " ".join(sents[1:] if rng.random() < 0.5 else sents[:-1])
            texts.append(_quote_style(v, rng))
            family.append(fam)
            kind.append(k)
        fam += 1
    order = list(range(len(texts)))
    rng.shuffle(order)
    return Corpus([texts[i] for i in order], [family[i] for i in order], [kind[i] for i in order])


# --------------------------------------------------------------------------
# Exact truth


@dataclass
class Truth:
    jaccard: set[Pair]  # J >= 0.7
    containment: set[Pair]  # max containment >= 0.8
    values: dict[Pair, tuple[float, float, float]]  # exact (J, c_ij, c_ji) of every qualifying pair
    probes: int  # postings entries visited by the prefix filter


def _classify(sets: list[np.ndarray], pairs: np.ndarray) -> Truth:
    jac: set[Pair] = set()
    con: set[Pair] = set()
    values: dict[Pair, tuple[float, float, float]] = {}
    for i, j in pairs.tolist():
        a, b = sets[i], sets[j]
        inter = np.intersect1d(a, b, assume_unique=True).size
        jv = inter / (a.size + b.size - inter)
        cij, cji = inter / a.size, inter / b.size
        if jv >= JACCARD:
            jac.add((i, j))
        if max(cij, cji) >= CONTAINMENT:
            con.add((i, j))
        if jv >= JACCARD or max(cij, cji) >= CONTAINMENT:
            values[(i, j)] = (jv, cij, cji)
    return Truth(jac, con, values, 0)


def exact_truth(sets: list[np.ndarray], extension: int = 8, block: int = 2_000_000) -> Truth:
    """Prefix-filtering join (see the module docstring); complete and exact."""
    n = len(sets)
    sizes = np.array([s.size for s in sets], dtype=np.int64)
    flat = np.concatenate(sets)
    owner = np.repeat(np.arange(n, dtype=np.int64), sizes)
    _, inverse, df = np.unique(flat, return_inverse=True, return_counts=True)
    del flat
    g = df.size
    rank_of = np.empty(g, dtype=np.int64)
    rank_of[np.lexsort((np.arange(g), df))] = np.arange(g)
    rank = rank_of[inverse.ravel()]
    del inverse, rank_of
    # postings in rank order: owners of rank r are post_owner[post_start[r]:post_start[r+1]]
    by_rank = np.lexsort((owner, rank))
    post_owner = owner[by_rank]
    post_start = np.concatenate(([0], np.cumsum(np.bincount(rank, minlength=g))))
    del by_rank
    # each text's shingles, rarest first
    per_text = rank[np.lexsort((rank, owner))]
    offsets = np.concatenate(([0], np.cumsum(sizes)))
    t = min(JACCARD, CONTAINMENT)
    alpha = np.maximum(1, np.ceil(t * sizes - 1e-6)).astype(np.int64)
    prefix = sizes - alpha + 1
    probe_len = np.minimum(sizes, prefix + extension)
    need = probe_len - prefix + 1
    # probe rows: (text, rank) for the first probe_len shingles of each text
    probe_text = np.repeat(np.arange(n, dtype=np.int64), probe_len)
    probe_pos = np.arange(probe_text.size) - np.repeat(np.cumsum(probe_len) - probe_len, probe_len)
    probe_rank = per_text[offsets[probe_text] + probe_pos]
    fan = post_start[probe_rank + 1] - post_start[probe_rank]
    cum_fan = np.cumsum(fan)
    survivors: list[np.ndarray] = []
    probes = int(cum_fan[-1]) if cum_fan.size else 0
    lo = 0
    while lo < probe_text.size:
        hi = int(np.searchsorted(cum_fan, (cum_fan[lo - 1] if lo else 0) + block, side="right"))
        hi = max(hi, lo + 1)
        # keep whole texts in one block
        hi = int(np.searchsorted(probe_text, probe_text[hi - 1], side="right"))
        f = fan[lo:hi]
        src = np.repeat(probe_text[lo:hi], f)
        starts = post_start[probe_rank[lo:hi]]
        idx = np.arange(int(f.sum())) - np.repeat(np.cumsum(f) - f, f) + np.repeat(starts, f)
        dst = post_owner[idx]
        ok = (dst != src) & (sizes[dst] >= sizes[src])
        codes = src[ok] * n + dst[ok]
        uniq, hits = np.unique(codes, return_counts=True)
        a = uniq // n
        keep = hits >= need[a]
        b = uniq[keep] % n
        a = a[keep]
        survivors.append(np.minimum(a, b) * n + np.maximum(a, b))
        lo = hi
    cand = np.unique(np.concatenate(survivors)) if survivors else np.empty(0, np.int64)
    truth = _classify(sets, np.stack([cand // n, cand % n], axis=1))
    truth.probes = probes
    return truth


def brute_force_truth(sets: list[np.ndarray]) -> Truth:
    """Every pair sharing at least one shingle, from a full inverted index."""
    n = len(sets)
    sizes = np.array([s.size for s in sets], dtype=np.int64)
    flat = np.concatenate(sets)
    owner = np.repeat(np.arange(n, dtype=np.int64), sizes)
    order = np.lexsort((owner, flat))
    flat, owner = flat[order], owner[order]
    starts = np.flatnonzero(np.concatenate(([True], flat[1:] != flat[:-1])))
    ends = np.append(starts[1:], flat.size)
    pairs = set()
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        if e - s >= 2:
            members = owner[s:e].tolist()
            for x in range(len(members)):
                for y in range(x + 1, len(members)):
                    pairs.add(members[x] * n + members[y])
    cand = np.array(sorted(pairs), dtype=np.int64)
    return _classify(sets, np.stack([cand // n, cand % n], axis=1) if cand.size else np.empty((0, 2), np.int64))


def truth_check_subset(corpus: Corpus, k: int, seed: int) -> list[int]:
    """About k texts: whole planted families (half) and other texts."""
    rng = random.Random(seed)
    families = sorted({f for f in corpus.family if f >= 0})
    rng.shuffle(families)
    members: dict[int, list[int]] = defaultdict(list)
    for i, f in enumerate(corpus.family):
        members[f].append(i)
    chosen: list[int] = []
    for f in families:
        if len(chosen) >= k // 2:
            break
        chosen.extend(members[f])
    taken = set(chosen)
    others = [i for i in range(len(corpus.texts)) if i not in taken]
    return sorted(chosen + rng.sample(others, min(len(others), k - len(chosen))))


# --------------------------------------------------------------------------
# Engines


Reported = dict[Pair, "tuple[float, float, float] | None"]


def run_ours(texts: list[str]) -> Reported:
    pairs = find_similar_pairs(
        texts, shingle_size=SHINGLE, jaccard_threshold=JACCARD, containment_threshold=CONTAINMENT, num_perm=NUM_PERM
    )
    return {(p.i, p.j): (p.jaccard, p.containment_ij, p.containment_ji) for p in pairs}


def run_datasketch(texts: list[str]) -> Reported:
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=JACCARD, num_perm=NUM_PERM)
    pairs: Reported = {}
    for i, text in enumerate(texts):
        words = tokenize(text)
        if len(words) >= SHINGLE:
            shingles = {" ".join(words[k : k + SHINGLE]).encode("utf-8") for k in range(len(words) - SHINGLE + 1)}
        elif words:
            shingles = {" ".join(words).encode("utf-8")}
        else:
            continue
        m = MinHash(num_perm=NUM_PERM)
        m.update_batch(list(shingles))
        for j in lsh.query(m):
            pairs[(j, i)] = None
        lsh.insert(i, m)
    return pairs


ENGINES: dict[str, Callable[[list[str]], Reported]] = {"ours": run_ours, "datasketch": run_datasketch}


def timed(fn: Callable[[list[str]], Reported], texts: list[str], repeat: int) -> tuple[Reported, float, float]:
    """Result, median wall time and median CPU time of ``repeat`` calls."""
    wall, cpu = [], []
    for _ in range(repeat):
        gc.collect()
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn(texts)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return out, statistics.median(wall), statistics.median(cpu)


def traced_peak(fn: Callable[[list[str]], Reported], texts: list[str]) -> int:
    minhash._POWERS.clear()  # its power tables (1 MiB) count as memory of the call
    gc.collect()
    tracemalloc.start()
    fn(texts)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


# --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10000, 100000])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--skip-datasketch-at", type=int, nargs="*", default=[], metavar="SIZE")
    ap.add_argument("--repeat", type=int, default=3, help="timed calls per engine and size; the median is reported")
    ap.add_argument("--datasketch-repeat", type=int, default=1,
                    help="timed calls of datasketch (about a minute each at 100k)")
    ap.add_argument("--skip-memory-at", type=int, nargs="*", default=[], metavar="SIZE",
                    help="sizes at which no tracemalloc run is made (any engine)")
    ap.add_argument("--check-truth", type=int, default=3000, metavar="N",
                    help="cross-check the prefix-filter truth by brute force on the first N texts (0: skip)")
    ap.add_argument("--orangesum", type=Path, default=default_eval_dev() / "orangesum-valid.jsonl",
                    help="OrangeSum JSON lines (default: ../shared/eval-dev/orangesum-valid.jsonl beside the repository)")
    ap.add_argument("--corpus-dir", type=Path, default=ROOT / "corpus")
    args = ap.parse_args(argv)

    sentences = load_source(args.orangesum, args.corpus_dir)
    print(f"source: {len(sentences)} real sentences", flush=True)
    results: dict[str, dict[str, dict[str, float | int | None]]] = {e: {} for e in ENGINES}
    corpus_info: dict[str, dict[str, object]] = {}
    for size in args.sizes:
        t0 = time.perf_counter()
        corpus = build_corpus(size, sentences, args.seed)
        texts = corpus.texts
        gen_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        sets = [shingle_hashes(t, SHINGLE) for t in texts]
        truth = exact_truth(sets)
        truth_s = time.perf_counter() - t0
        if args.check_truth and size >= 2:
            subset = truth_check_subset(corpus, min(args.check_truth, size), args.seed)
            sub_sets = [sets[i] for i in subset]
            sub = exact_truth(sub_sets)
            brute = brute_force_truth(sub_sets)
            if sub.jaccard != brute.jaccard or sub.containment != brute.containment:
                print(f"TRUTH MISMATCH on {len(subset)} texts: prefix filter and brute force disagree", flush=True)
                return 2
            print(f"truth check: prefix filter == brute force on {len(subset)} texts (whole planted families "
                  f"and others; {len(brute.jaccard)} J pairs, {len(brute.containment)} containment pairs)", flush=True)
        planted = sum(1 for i, j in truth.values if corpus.family[i] >= 0 and corpus.family[i] == corpus.family[j])
        words = sum(len(s) for s in sets) / size
        corpus_info[str(size)] = {
            "paragraphs": size,
            "mean_shingles": round(words, 1),
            "true_pairs_jaccard": len(truth.jaccard),
            "true_pairs_containment": len(truth.containment),
            "true_pairs_containment_only": len(truth.containment - truth.jaccard),
            "true_pairs_outside_planted_families": len(truth.values) - planted,
            "generate_s": round(gen_s, 1),
            "truth_s": round(truth_s, 1),
            "truth_probes": truth.probes,
        }
        print(f"\n== {size} paragraphs: {len(truth.jaccard)} pairs J>=0.7, {len(truth.containment)} containment>=0.8 "
              f"({len(truth.containment - truth.jaccard)} of them J<0.7), {len(truth.values) - planted} true pairs "
              f"outside planted families; mean {words:.1f} shingles; corpus {gen_s:.1f}s, truth {truth_s:.1f}s",
              flush=True)
        del sets
        for name, fn in ENGINES.items():
            if name == "datasketch" and size in args.skip_datasketch_at:
                continue
            repeat = args.datasketch_repeat if name == "datasketch" else args.repeat
            reported, seconds, cpu_seconds = timed(fn, texts, max(1, repeat))
            pairs = set(reported)
            peak = None if size in args.skip_memory_at else traced_peak(fn, texts)
            target = truth.jaccard if name == "datasketch" else truth.jaccard | truth.containment
            correct = len(pairs & target)
            # ours must report the exact figures of the pairs it returns
            wrong_values = sum(1 for k, v in reported.items() if v is not None and truth.values.get(k) != v)
            row = {
                "paragraphs_per_s": round(size / seconds, 1),
                "seconds": round(seconds, 3),
                "cpu_seconds": round(cpu_seconds, 3),
                "timed_calls": max(1, repeat),
                "peak_bytes": peak,
                "peak_bytes_per_paragraph": None if peak is None else round(peak / size, 1),
                "reported_pairs": len(pairs),
                "precision": round(correct / len(pairs), 4) if pairs else None,
                "recall_jaccard": round(len(pairs & truth.jaccard) / len(truth.jaccard), 4) if truth.jaccard else None,
                "recall_containment": round(len(pairs & truth.containment) / len(truth.containment), 4)
                if truth.containment else None,
                "reported_figures_not_exact": wrong_values if name == "ours" else None,
            }
            results[name][str(size)] = row
            print(f"  {name:<10} {row['paragraphs_per_s']:>9.0f} para/s  {seconds:7.2f} s (cpu {cpu_seconds:6.2f} s)  "
                  f"peak {'-' if peak is None else f'{peak / 2**20:7.1f} MiB = {peak / size:6.0f} B/para'}  "
                  f"P {row['precision']}  R(J) {row['recall_jaccard']}  R(C) {row['recall_containment']}", flush=True)
        del texts, corpus

    sizes = [str(s) for s in args.sizes]
    summary: dict[str, object] = {"sizes": args.sizes, "seed": args.seed, "corpus": corpus_info,
                                  "memory": "tracemalloc peak of a separate call; input texts not counted",
                                  "precision_target": {"ours": "J>=0.7 or containment>=0.8", "datasketch": "J>=0.7"}}
    for rows in results.values():
        if len(sizes) >= 2 and sizes[0] in rows and sizes[-1] in rows:
            ratio = rows[sizes[-1]]["seconds"] / rows[sizes[0]]["seconds"]  # type: ignore[operator]
            cpu_ratio = rows[sizes[-1]]["cpu_seconds"] / rows[sizes[0]]["cpu_seconds"]  # type: ignore[operator]
            rows["cost_ratio"] = {"from": int(sizes[0]), "to": int(sizes[-1]), "time_ratio": round(ratio, 2),
                                  "cpu_time_ratio": round(cpu_ratio, 2),
                                  "size_ratio": int(sizes[-1]) / int(sizes[0])}  # type: ignore[assignment]
    summary["engines"] = results
    speedup: dict[str, float] = {}
    for s in sizes:
        a, b = results["ours"].get(s), results["datasketch"].get(s)
        if a and b:
            speedup[s] = round(a["paragraphs_per_s"] / b["paragraphs_per_s"], 2)  # type: ignore[operator]
    summary["speedup_ours_vs_datasketch"] = speedup

    print("\n| engine | size | para/s | peak B/para | precision | recall J>=0.7 | recall C>=0.8 |")
    print("|---|---|---|---|---|---|---|")
    for name, rows in results.items():
        for s in sizes:
            r = rows.get(s)
            if r:
                print(f"| {name} | {s} | {r['paragraphs_per_s']:.0f} | {r['peak_bytes_per_paragraph']} | "
                      f"{r['precision']} | {r['recall_jaccard']} | {r['recall_containment']} |")
    for name, rows in results.items():
        if "cost_ratio" in rows:
            c = rows["cost_ratio"]
            print(f"{name}: wall time x{c['time_ratio']}, CPU time x{c['cpu_time_ratio']} "  # type: ignore[index]
                  f"for size x{c['size_ratio']:.0f}")  # type: ignore[index]
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
