"""Scale benchmark: the real `python -m pipeline run` on corpora of growing size.

    .venv/bin/python scripts/bench_scale.py --sizes 1000 10000 [--variants 10] [--workers 0]

The corpora
-----------
Built deterministically (``--seed``) from OrangeSum's validation articles
(``../shared/eval-dev/orangesum-valid.jsonl``, 1,500 French news articles):
a size-N corpus holds ``ceil(N / variants)`` base articles (at most 1,500),
each followed by republished variants until N files are written, as a wire
service's copies look on different sites: one or two sentences dropped, two
neighbouring sentences swapped, one to three sentences reworded (a word
replaced, dropped, a number written differently), another title. Articles are
``.txt`` files: title, blank line, paragraphs of two to four sentences. Above
15,000 articles the 1,500 bases get more variants each (larger duplicate
groups): say so next to any 100k figure. With ``--permuted-bases`` they do
not: more bases are made of the 1,500 by permuting their content words
(``permuted_bases``), so a 100,000-article corpus is 10,000 stories of 10
copies, the issue's shape (a measure of scale, not real news).

The runs
--------
For each size, in a fresh output folder (so a fresh cache):

1. ``cold``: the corpus, no cache;
2. ``warm``: the same corpus again (everything cached);
3. ``plus1``: 1% more articles (new variants of existing bases) added, run again.

``--plus1-again`` repeats only step 3 on a copy of an earlier ``--work`` folder: the next 1% of
articles join the corpus and the run folder already there (``cp -a`` the folder first: it changes).

``--repeat N`` runs steps 2 and 3 N times each on the same state: between two runs the output folder
is put back as it was before the first (the runs it made removed, ``latest`` and the cache file
restored; the corpus is not touched, so its files keep the inodes and times the cache knows), so each
run does the same work. The step's figures are those of its median run by wall time, with every run's
wall and CPU seconds listed (``samples_wall_s``, ``samples_cpu_s``); the targets are checked on the
median. On a shared host the same +1% run varies by a quarter (five runs of identical work at 15,000
articles took 14.5 to 22.6 s, round 20): one run cannot tell 9% from 11%.

Each run is the real CLI (``python -m pipeline run --log-format json``) in a
child process. Per run: wall seconds, CPU seconds of the run and every process
it started (``os.wait4``: user + system, pool workers and Apertium included),
peak RSS (the largest single process, from ``wait4``; and the largest sum of
proportional set sizes over the process tree, sampled every second: pool
workers share the parent's pages, PSS counts them once), articles per second,
and the manifest's per-stage seconds (``timings_s``, wall; ``timings_cpu_s``, CPU of the run and of the
worker processes that ended during the stage).

Between consecutive sizes, the growth exponent of each stage (cold):
``log(t2 / t1) / log(n2 / n1)`` (1.0 = linear); stages under 0.2 s at the
smaller size are left out (noise). Targets from issue 11 are checked where the
sizes allow: 10k cold <= 300 s; 100k cold <= 2,700 s and <= 8 GB; every
exponent 10k -> 100k <= 1.15; warm <= 5% of cold; +1% <= 10% of cold.

The machine is shared: read ratios and CPU seconds more than wall seconds.
The last line printed is JSON with everything.
"""

from __future__ import annotations

import argparse
import compileall
import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

sys.path.insert(0, str(ROOT))
from scripts.bench_dedup import _GLUED, _SENTENCE_END  # noqa: E402  (OrangeSum's glued sentence joins)

# Rewordings a desk applies to a wire copy (both directions are tried).
_REWORDS = [
    ("a déclaré", "a affirmé"), ("a indiqué", "a précisé"), ("selon", "d'après"), ("mais", "cependant"),
    ("très", "particulièrement"), ("aussi", "également"), ("lundi", "ce lundi"), ("mardi", "ce mardi"),
    ("mercredi", "ce mercredi"), ("jeudi", "ce jeudi"), ("vendredi", "ce vendredi"), ("samedi", "ce samedi"),
    ("dimanche", "ce dimanche"), ("personnes", "individus"), ("le gouvernement", "l'exécutif"),
    ("la police", "les forces de l'ordre"), ("environ", "près de"), ("plus de", "au moins"),
]
_TITLE_PREFIXES = ["", "INFO - ", "VIDÉO - ", "EN DIRECT - ", "Actualité : ", "France : ", "DÉPÊCHE - "]
_TITLE_SUFFIXES = ["", " (AFP)", " - Le Journal", " : ce que l'on sait", " | Actualités"]


def default_data() -> Path:
    """`../shared/eval-dev` beside the checkout (elsewhere, pass `--data`)."""
    return ROOT / ".." / "shared" / "eval-dev"


# --- corpora -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Base:
    id: str
    title: str
    sentences: tuple[str, ...]


def load_bases(path: Path) -> list[Base]:
    bases = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            text = _GLUED.sub(r"\1 ", " ".join(row["article"].split()))
            sentences = tuple(s.strip() for s in _SENTENCE_END.split(text) if s.strip())
            if len(sentences) >= 3 and row.get("title"):
                bases.append(Base(str(row["id"]), " ".join(row["title"].split()), sentences))
    bases.sort(key=lambda b: int(b.id) if b.id.isdigit() else 0)
    return bases


# A permuted base: an OrangeSum article whose content words are swapped for others of about the same
# frequency (`permuted_bases`); the stop words, numbers and every word of two letters or fewer stay.
_TOKEN = re.compile(r"\w+")
_PERMUTE_BAND = 64  # content words of neighbouring frequency ranks swapped among themselves


def _content_word(word: str, stop: frozenset[str]) -> bool:
    return len(word) > 2 and word not in stop and not any(c.isdigit() for c in word)


def _cased(word: str, like: str) -> str:
    if like.isupper() and len(like) > 1:
        return word.upper()
    return word[:1].upper() + word[1:] if like[:1].isupper() else word


def permuted_bases(bases: list[Base], needed: int, seed: int) -> list[Base]:
    """`bases`, then as many generations of permuted copies of them as make `needed` bases in all.

    OrangeSum's validation split has 1,500 articles: above 15,000 articles the issue's shape (10 variants a
    base) needs more bases than there are. Generation g (1, 2, ...) of base `id` (named `idpg`) is that article
    with every content word replaced by its image under a permutation of the corpus's content words (lower-cased)
    within bands of `_PERMUTE_BAND` words of neighbouring frequency rank, seeded by `seed` and g: the sentences
    keep their length, their stop words and the corpus's word frequencies, but tell another story with other
    words, so dedup and the stories see distinct articles. Not real news: a corpus for measuring scale only."""
    from pipeline.textsim import ContentWords

    if needed <= len(bases):
        return bases
    stop = ContentWords().stop_words
    counts: dict[str, int] = {}
    for b in bases:
        for text in (b.title, *b.sentences):
            for w in _TOKEN.findall(text.lower()):
                if _content_word(w, stop):
                    counts[w] = counts.get(w, 0) + 1
    ranked = sorted(counts, key=lambda w: (-counts[w], w))
    out = list(bases)
    for g in range(1, -(-needed // len(bases))):
        rng = random.Random(f"{seed}:permute:{g}")
        image: dict[str, str] = {}
        for start in range(0, len(ranked), _PERMUTE_BAND):
            band = ranked[start:start + _PERMUTE_BAND]
            image.update(zip(band, rng.sample(band, len(band))))

        def swap(m: re.Match[str], image: dict[str, str] = image) -> str:
            word = m.group(0)
            lower = word.lower()
            return _cased(image[lower], word) if lower in image else word

        out.extend(Base(f"{b.id}p{g}", _TOKEN.sub(swap, b.title), tuple(_TOKEN.sub(swap, s) for s in b.sentences))
                   for b in bases)
    return out


def _reword(sentence: str, rng: random.Random) -> str:
    for a, b in rng.sample(_REWORDS, len(_REWORDS)):
        for old, new in ((a, b), (b, a)):
            if f" {old} " in sentence:
                return sentence.replace(f" {old} ", f" {new} ", 1)
    words = sentence.split()
    if len(words) > 8:  # nothing to reword: drop a word from the middle
        del words[rng.randrange(2, len(words) - 2)]
    return " ".join(words)


def variant(base: Base, number: int, seed: int) -> tuple[str, list[str]]:
    """Title and sentences of the base's variant `number` (0 = the base itself)."""
    if number == 0:
        return base.title, list(base.sentences)
    rng = random.Random(f"{seed}:{base.id}:{number}")
    sentences = list(base.sentences)
    for _ in range(rng.randint(1, 2)):
        if len(sentences) > 4:
            del sentences[rng.randrange(1, len(sentences))]  # keep the lead sentence
    if len(sentences) > 3:
        i = rng.randrange(1, len(sentences) - 1)
        sentences[i], sentences[i + 1] = sentences[i + 1], sentences[i]
    for i in rng.sample(range(len(sentences)), min(len(sentences), rng.randint(1, 3))):
        sentences[i] = _reword(sentences[i], rng)
    title = rng.choice(_TITLE_PREFIXES) + base.title + rng.choice(_TITLE_SUFFIXES)
    if title == base.title:
        title = base.title + " (mise à jour)"
    return title, sentences


def article_text(title: str, sentences: list[str], rng: random.Random) -> str:
    paragraphs, i = [], 0
    while i < len(sentences):
        n = rng.randint(2, 4)
        paragraphs.append(" ".join(sentences[i:i + n]))
        i += n
    return title + "\n\n" + "\n\n".join(paragraphs) + "\n"


def plan(size: int, n_bases: int, variants: int) -> list[tuple[int, int]]:
    """(base index, variant number) of each article, in file order."""
    bases = min(n_bases, max(1, math.ceil(size / variants)))
    return [(i % bases, i // bases) for i in range(size)]


def write_article(folder: Path, base: Base, number: int, seed: int) -> None:
    title, sentences = variant(base, number, seed)
    rng = random.Random(f"{seed}:{base.id}:{number}:paragraphs")
    (folder / f"{base.id}_{number:03d}.txt").write_text(article_text(title, sentences, rng), encoding="utf-8")


def build_corpus(folder: Path, size: int, bases: list[Base], variants: int, seed: int) -> list[tuple[int, int]]:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    articles = plan(size, len(bases), variants)
    for b, number in articles:
        write_article(folder, bases[b], number, seed)
    return articles


def corpus_articles(folder: Path, bases: list[Base]) -> list[tuple[int, int]]:
    """The (base, variant number) of every article already in `folder` (as `write_article` names them)."""
    index = {b.id: k for k, b in enumerate(bases)}
    articles = []
    for path in sorted(folder.glob("*_[0-9][0-9][0-9].txt")):
        base, number = path.stem.rsplit("_", 1)
        articles.append((index[base], int(number)))
    return articles


def add_new_articles(folder: Path, articles: list[tuple[int, int]], bases: list[Base], seed: int) -> int:
    """1% more articles: the next variants of the first bases (new copies of running stories)."""
    new = max(1, math.ceil(len(articles) / 100))
    last: dict[int, int] = {}
    for b, number in articles:
        last[b] = max(last.get(b, -1), number)
    used = sorted(last)
    for k in range(new):
        b = used[k % len(used)]
        last[b] += 1
        write_article(folder, bases[b], last[b], seed)
    return new


# --- runs ----------------------------------------------------------------------------------------


def _tree_pss_kb(pid: int) -> int:
    """Sum of proportional set sizes of `pid` and its descendants (kB); 0 if gone."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
                    break
        except OSError:
            pass
    return total


def run_pipeline(corpus: Path, out: Path, config: Path | None, timeout: float | None, log: Path) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "pipeline", "run", "--corpus", str(corpus), "--out", str(out), "--log-format", "json"]
    if config is not None:
        cmd += ["--config", str(config)]
    start = time.perf_counter()
    with log.open("w", encoding="utf-8") as err:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    peak_pss = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak_pss
        while not done.wait(1.0):
            peak_pss = max(peak_pss, _tree_pss_kb(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    timed_out = False
    timer = None
    if timeout:
        def kill() -> None:
            nonlocal timed_out
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)
        timer = threading.Timer(timeout, kill)
        timer.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    done.set()
    if timer:
        timer.cancel()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    result: dict[str, Any] = {
        "exit_code": proc.returncode, "timed_out": timed_out, "wall_s": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "peak_tree_pss_mb": round(peak_pss / 1024, 1),
    }
    manifest = out / "latest" / "manifest.json"
    if proc.returncode in (0, 1) and manifest.exists():
        m = json.loads(manifest.read_text(encoding="utf-8"))
        result.update(timings_s=m["timings_s"], timings_cpu_s=m.get("timings_cpu_s", {}), counts=m["counts"],
                      engine_calls=m["cache"]["engine_calls"],
                      executor=m.get("executor"))
    return result


class OutputState:
    """What a run changes in an output folder (`out`): its run folders, `latest`, the cache file. `restore()`
    puts them back as they were when this was made (a copy of the cache file is kept meanwhile, next to it)."""

    CACHE_FILES = ("cache.sqlite", "cache.sqlite-wal", "cache.sqlite-shm")

    def __init__(self, out: Path) -> None:
        self.out = out
        self.runs = set(os.listdir(out / "runs")) if (out / "runs").is_dir() else set()
        self.latest = os.readlink(out / "latest") if (out / "latest").is_symlink() else None
        self.kept = out / ".bench-cache-before"
        shutil.rmtree(self.kept, ignore_errors=True)
        self.kept.mkdir()
        self.cache = [name for name in self.CACHE_FILES if (out / name).exists()]
        for name in self.cache:
            shutil.copy2(out / name, self.kept / name)

    def restore(self) -> None:
        for name in set(os.listdir(self.out / "runs")) - self.runs if (self.out / "runs").is_dir() else ():
            shutil.rmtree(self.out / "runs" / name)
        latest = self.out / "latest"
        if latest.is_symlink() or latest.exists():
            latest.unlink()
        if self.latest is not None:
            os.symlink(self.latest, latest)
        for name in self.CACHE_FILES:
            (self.out / name).unlink(missing_ok=True)
        for name in self.cache:
            shutil.copy2(self.kept / name, self.out / name)

    def close(self) -> None:
        shutil.rmtree(self.kept, ignore_errors=True)


def repeated(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median run of `runs` (by wall time; of an even number, the slower of the two middle ones), with
    every run's wall and CPU seconds."""
    if len(runs) == 1:
        return runs[0]
    ranked = sorted(runs, key=lambda r: r["wall_s"])
    return {**ranked[len(ranked) // 2], "samples_wall_s": [r["wall_s"] for r in runs],
            "samples_cpu_s": [r["cpu_s"] for r in runs]}


def exponents(small: tuple[int, dict], large: tuple[int, dict]) -> dict[str, float]:
    (n1, r1), (n2, r2) = small, large
    t1, t2 = r1.get("timings_s", {}), r2.get("timings_s", {})
    out = {}
    for stage in sorted(set(t1) & set(t2)):
        if t1[stage] >= 0.2 and t2[stage] > 0:
            out[stage] = round(math.log(t2[stage] / t1[stage]) / math.log(n2 / n1), 2)
    for key in ("wall_s", "cpu_s"):
        if r1.get(key) and r2.get(key):
            out[key] = round(math.log(r2[key] / r1[key]) / math.log(n2 / n1), 2)
    return out


def check_targets(results: dict[int, dict], growth: dict[str, dict]) -> dict[str, Any]:
    checks: dict[str, Any] = {}
    for n, r in results.items():
        cold = r.get("cold")  # (none with --plus1-again: compare with the earlier run's)
        if cold is None or cold.get("exit_code") not in (0, 1):
            continue
        if "warm" in r and r["warm"].get("wall_s") is not None:
            checks[f"{n}: warm <= 5% of cold"] = r["warm"]["wall_s"] <= 0.05 * cold["wall_s"]
        if "plus1" in r and r["plus1"].get("wall_s") is not None:
            checks[f"{n}: +1% <= 10% of cold"] = r["plus1"]["wall_s"] <= 0.10 * cold["wall_s"]
        if n == 10_000:
            checks["10k cold <= 300 s"] = cold["wall_s"] <= 300
        if n == 100_000:
            checks["100k cold <= 2700 s"] = cold["wall_s"] <= 2700
            checks["100k peak <= 8 GB"] = max(cold["peak_rss_mb"], cold["peak_tree_pss_mb"]) <= 8192
    g = growth.get("10000->100000")
    if g:
        checks["10k->100k every stage exponent <= 1.15"] = all(
            v <= 1.15 for k, v in g.items() if k not in ("wall_s", "cpu_s"))
    return checks


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--data", type=Path, default=default_data(), help="eval-dev folder (orangesum-valid.jsonl)")
    ap.add_argument("--work", type=Path, default=ROOT / "outputs" / "bench_scale", help="corpora and run folders")
    ap.add_argument("--variants", type=int, default=10, help="articles per base article (wire story)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--permuted-bases", action="store_true",
                    help="more bases than OrangeSum's 1,500 where a size needs them (`permuted_bases`: its articles "
                         "with their content words permuted), so every size keeps --variants articles a base")
    ap.add_argument("--config", type=Path, default=None, help="pipeline config (default: configs/default.yaml)")
    ap.add_argument("--timeout", type=float, default=None, help="seconds per run before it is killed")
    ap.add_argument("--cold-only", action="store_true", help="skip the warm and +1%% runs")
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs of the warm and of the +1%% step, each on the same state (the median is kept)")
    ap.add_argument("--plus1-again", action="store_true",
                    help="keep each size's corpus and run folder from an earlier run of this script (a copy of "
                         "it: they change), add the next 1%% of articles and make only the +1%% run (in a copy made "
                         "with cp -a, every file has a new inode: the first such run checks the previous run's "
                         "brief files again, as a run after a restored backup does; time the second)")
    args = ap.parse_args()

    source = args.data / "orangesum-valid.jsonl"
    if not source.exists():
        print(f"bench_scale: {source} not found; pass --data DIR (the eval-dev folder)", file=sys.stderr)
        return 2
    bases = load_bases(source)
    if args.permuted_bases:
        bases = permuted_bases(bases, max(math.ceil(n / args.variants) for n in args.sizes), args.seed)
    # Each run times the package as an install has it, byte-compiled (pip compiles it; Python writes
    # __pycache__ on a first import): where PYTHONDONTWRITEBYTECODE is set (this project's sessions) and the
    # tree is fresh, every run would otherwise compile the pipeline's sources again (0.1 s of CPU).
    compileall.compile_dir(ROOT / "pipeline", quiet=1)
    results: dict[int, dict[str, Any]] = {}
    for size in sorted(args.sizes):
        corpus, out = args.work / f"corpus-{size}", args.work / f"out-{size}"
        if args.plus1_again:
            if not (out / "runs").is_dir():
                print(f"bench_scale: --plus1-again: no earlier run in {out}", file=sys.stderr)
                return 2
            articles = corpus_articles(corpus, bases)
        else:
            articles = build_corpus(corpus, size, bases, args.variants, args.seed)
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(parents=True)
        r: dict[str, Any] = {"bases": len({b for b, _ in articles})}
        phases = ["plus1"] if args.plus1_again else ["cold"] if args.cold_only else ["cold", "warm", "plus1"]
        for phase in phases:
            if phase == "plus1":
                r["new_articles"] = add_new_articles(corpus, articles, bases, args.seed)
            samples = max(1, args.repeat) if phase != "cold" else 1
            state = OutputState(out) if samples > 1 else None
            runs: list[dict[str, Any]] = []
            try:
                for k in range(samples):
                    if k and state is not None:
                        state.restore()
                    runs.append(run_pipeline(corpus, out, args.config, args.timeout,
                                             out / f"{phase}{'-' + str(k + 1) if samples > 1 else ''}.log"))
                    if runs[-1]["exit_code"] not in (0, 1):
                        break
            finally:
                if state is not None:
                    state.close()
            res = repeated(runs) if all(x["exit_code"] in (0, 1) for x in runs) else runs[-1]
            n = size + r.get("new_articles", 0)
            res["articles_per_s"] = round(n / res["wall_s"], 2) if res["wall_s"] else None
            r[phase] = res
            print(f"{size:>7} {phase:<5} exit {res['exit_code']}{' (timeout)' if res['timed_out'] else ''} "
                  f"wall {res['wall_s']:>8.1f} s  cpu {res['cpu_s']:>8.1f} s  rss {res['peak_rss_mb']:>7.0f} MB  "
                  f"pss {res['peak_tree_pss_mb']:>7.0f} MB  {res['articles_per_s']} art/s", flush=True)
            if "samples_wall_s" in res:
                print("        runs (the median above): wall " + ", ".join(f"{w:.1f}" for w in res["samples_wall_s"])
                      + " s; cpu " + ", ".join(f"{c:.1f}" for c in res["samples_cpu_s"]) + " s", flush=True)
            if "timings_s" in res:
                print("        stages: " + ", ".join(f"{k} {v:.1f}" for k, v in res["timings_s"].items()), flush=True)
            if res.get("timings_cpu_s"):
                print("        stages CPU: " + ", ".join(f"{k} {v:.1f}" for k, v in res["timings_cpu_s"].items()),
                      flush=True)
            if res["exit_code"] not in (0, 1):
                print(f"        run failed: see {out / (phase + '.log')}", flush=True)
                break
        results[size] = r
    sizes = sorted(results)
    growth = {f"{a}->{b}": exponents((a, results[a]["cold"]), (b, results[b]["cold"]))
              for a, b in zip(sizes, sizes[1:])}
    for k, g in growth.items():
        print(f"growth exponents {k}: " + ", ".join(f"{s} {e}" for s, e in g.items()))
    checks = check_targets(results, growth)
    for k, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {k}")
    print(json.dumps({"sizes": {str(k): v for k, v in results.items()}, "growth_exponents": growth,
                      "targets": checks, "variants": args.variants, "permuted_bases": args.permuted_bases,
                      "seed": args.seed, "cores": os.cpu_count()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
