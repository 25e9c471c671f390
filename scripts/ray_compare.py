"""Ray against local on a 2,000-article syndicated corpus: same briefs, and the time each took.

    .venv/bin/python scripts/ray_compare.py [--size 2000 [10000 ...]] [--workers 2] [--address HOST:PORT]
                                            [--bases orangesum|repository] [--corpus DIR]

Builds the corpus of `scripts/bench_scale.py` (base articles and their
republished variants; the bases are OrangeSum articles from ../shared/eval-dev,
or with `--bases repository` those `repository_bases` makes from the sentences
the repository itself holds), runs `python -m pipeline run` with
`run.executor: local` and then with `run.executor: ray` (no cache, Apertium),
and checks that every brief, review page, `index.md` and `dedup.json` is
byte-identical (the run id blanked; `dedup-state.npz` aside: a Ray run keeps no
dedup state). Without `--address` it starts a real local cluster for the Ray
run: a head node and a second worker node, separate processes with
`--workers / 2` CPUs each (`ray.cluster_utils.Cluster`), shut down at the end
whatever happens; the cluster's CPU seconds during the Ray run (its processes,
sampled while they live) are printed next to the driver's.
tests/test_ray_executor.py runs the `--bases repository` corpus of 2,000
articles on the same kind of cluster (the suite's check); this script gives
the figures, and runs OrangeSum's longer articles. Several sizes (`--size 2000
10000`) run one after the other and end with one table: per size and executor,
wall and CPU seconds (locally: the run and every process it started; on Ray:
the driver and its children, and the cluster's processes), the driver's peak
RSS, and the dedup and stories stages' wall and driver CPU seconds.
`--corpus DIR`: an existing corpus folder (one size) instead of building one,
e.g. the 10,000-article corpus `scripts/bench_scale.py --work` left (read, never
written).
Last line: JSON (one size: its figures; several: a list of them).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import random
import shutil
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_dedup import _GLUED, _SENTENCE_END  # noqa: E402
from bench_scale import ROOT, Base, build_corpus, default_data, load_bases, run_pipeline  # noqa: E402


def repository_sentences(root: Path = ROOT) -> list[str]:
    """Distinct French sentences the repository holds, in a fixed order: those of the sample corpus (`corpus/`)
    and the OrangeSum sentences quoted in `tests/data/same_fact_pairs_orangesum.tsv` (by article, then by
    position), so a checkout without ../shared can build a large corpus."""
    sentences: list[str] = []
    for path in sorted((root / "corpus").glob("*.txt")):
        text = _GLUED.sub(r"\1 ", " ".join(path.read_text(encoding="utf-8").split()))
        sentences += [s.strip() for s in _SENTENCE_END.split(text)]
    quoted: dict[tuple[str, int, int], str] = {}
    with (root / "tests" / "data" / "same_fact_pairs_orangesum.tsv").open(encoding="utf-8") as f:
        rows = csv.DictReader((line for line in f if not line.startswith("#")), delimiter="\t")
        for row in rows:
            for side in ("a", "b"):
                article, position = row[f"id_{side}"].split(":")  # orangesum-<id>:p<paragraph>.s<sentence>
                paragraph, sentence = position.lstrip("p").split(".s")
                quoted[(article, int(paragraph), int(sentence))] = row[f"text_{side}"]
    sentences += [quoted[key] for key in sorted(quoted)]
    return list(dict.fromkeys(s for s in sentences if len(s.split()) >= 4))


REPOSITORY_VARIANTS = 20  # articles per base of `repository_bases` (101 bases: 2,000 articles, about 100 stories)


def repository_bases(seed: int = 1, root: Path = ROOT) -> list[Base]:
    """Distinct base articles from `repository_sentences`: runs of 3 to 6 consecutive sentences (mostly of one
    source article, in their order; no sentence in two bases), titled with the first words of their lead."""
    sentences = repository_sentences(root)
    rng = random.Random(f"{seed}:repository-bases")
    bases, start = [], 0
    while start + 3 <= len(sentences):
        run = tuple(sentences[start:start + rng.randint(3, 6)])
        title = " ".join(run[0].split()[:9]).rstrip(",;:.")
        bases.append(Base(f"r{len(bases):03d}", title, run))
        start += len(run)
    return bases


def outputs(run_dir: Path) -> dict[str, str]:
    """sha256 of every file of a run but the manifest, with the run id blanked out."""
    return {
        str(p.relative_to(run_dir)): hashlib.sha256(p.read_bytes().replace(run_dir.name.encode(), b"<run>")).hexdigest()
        for p in sorted(run_dir.rglob("*")) if p.is_file() and p.name != "manifest.json"
    }


@contextmanager
def cluster_at(address: str, cpus: int) -> Iterator[str]:
    """`address`, or that of a local cluster of two nodes (separate processes, `cpus / 2` CPUs each) started
    for the block and shut down after it, whatever happens. Usage statistics off."""
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    if address:
        yield address
        return
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=False)
    try:
        cluster.add_node(num_cpus=max(1, cpus // 2), include_dashboard=False)
        cluster.add_node(num_cpus=max(1, cpus // 2))
        cluster.wait_for_nodes()
        yield cluster.address
    finally:
        cluster.shutdown()


class ClusterCpu:
    """CPU seconds of a local cluster's processes and their Ray workers (this process's children when the block
    starts, and their descendants) while the block runs. Sampled every half second: a Ray worker ends with its job and is reaped without passing its
    CPU time to a parent, so it is read while it lives (a worker's last half second is missed)."""

    def __init__(self) -> None:
        self._first: dict[tuple[int, str], int] = {}
        self._last: dict[tuple[int, str], int] = {}
        self._roots: list[int] | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ClusterCpu:
        self._sample()
        self._first = dict(self._last)  # what the processes alive now spent before: not counted
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self._sample()

    @property
    def seconds(self) -> float:
        ticks = sum(v - self._first.get(k, 0) for k, v in self._last.items())
        return round(ticks / os.sysconf("SC_CLK_TCK"), 2)

    def _run(self) -> None:
        while not self._done.wait(0.5):
            self._sample()

    def _sample(self) -> None:
        children: dict[int, list[int]] = {}
        stats: dict[int, list[str]] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except (OSError, IndexError):
                    continue
                stats[int(entry.name)] = fields
                children.setdefault(int(fields[1]), []).append(int(entry.name))
        if self._roots is None:  # the cluster: this process's children before the block (not the drivers it starts)
            self._roots = children.get(os.getpid(), [])
        todo = list(self._roots)
        while todo:
            pid = todo.pop()
            todo += children.get(pid, [])
            key = (pid, stats[pid][19])  # the start time: a pid used again is another process
            self._last[key] = int(stats[pid][11]) + int(stats[pid][12])  # utime, stime


def run_one(corpus: Path, work: Path, executor: str, workers: int) -> tuple[dict, dict[str, str]]:
    out = work / f"out-{executor}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    config = work / f"{executor}.yaml"
    config.write_text(json.dumps({"run": {"executor": executor, "workers": workers},
                                  "translate": {"backend": "apertium"}, "cache": {"enabled": False}}))
    result = run_pipeline(corpus, out, config, None, work / f"{executor}.log")
    if result["exit_code"] not in (0, 1):
        raise SystemExit(f"ray_compare: the {executor} run failed (exit {result['exit_code']}); see {work}/{executor}.log")
    return result, outputs((out / "latest").resolve())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, nargs="+", default=[2000], help="corpus sizes, run in turn")
    ap.add_argument("--corpus", type=Path, help="an existing corpus folder (one size) instead of building one")
    ap.add_argument("--workers", type=int, default=2, help="local processes; Ray actors (two nodes share them)")
    ap.add_argument("--address", default="", help="an existing Ray cluster instead of a local two-node one")
    ap.add_argument("--bases", choices=["orangesum", "repository"], default="orangesum",
                    help="base articles: OrangeSum's (--data) or made from the repository's own sentences")
    ap.add_argument("--data", type=Path, default=default_data())
    ap.add_argument("--work", type=Path, default=ROOT / "outputs" / "ray_compare")
    args = ap.parse_args()
    if args.corpus is not None and len(args.size) > 1:
        ap.error("--corpus is one corpus: give one --size")
    figures = [compare(args, size) for size in args.size]
    print("\n| articles | run | wall s | CPU s (driver / cluster) | driver peak RSS MB | dedup wall / CPU s "
          "| stories wall / CPU s |")
    print("|---|---|---|---|---|---|---|")
    for f in figures:
        for name in ("local", "ray"):
            r = f[name]
            cpu = f"{r['cpu_s']} / {r['cluster_cpu_s']}" if "cluster_cpu_s" in r else f"{r['cpu_s']}"
            stage = lambda s: f"{r.get('timings_s', {}).get(s, '?')} / {r.get('timings_cpu_s', {}).get(s, '?')}"  # noqa: E731
            print(f"| {f['size']:,} | {name} | {r['wall_s']} | {cpu} | {r['peak_rss_mb']} | {stage('dedup')} "
                  f"| {stage('stories')} |")
    print(json.dumps(figures[0] if len(figures) == 1 else figures))
    return 0 if all(f["identical"] for f in figures) else 1


def compare(args: argparse.Namespace, size: int) -> dict:
    """One size: the local run, then the Ray run, their figures and whether their files are the same."""
    corpus = args.corpus or args.work / f"corpus-{size}"
    if args.corpus is None and args.bases == "repository":
        build_corpus(corpus, size, repository_bases(), variants=REPOSITORY_VARIANTS, seed=1)
    elif args.corpus is None:
        build_corpus(corpus, size, load_bases(args.data / "orangesum-valid.jsonl"), variants=10, seed=1)
    local, local_files = run_one(corpus, args.work, "local", args.workers)
    print(f"{size}: local: wall {local['wall_s']} s, cpu {local['cpu_s']} s, peak RSS {local['peak_rss_mb']} MB, "
          f"stages {local.get('timings_s')}", flush=True)

    with cluster_at(args.address, args.workers) as address, ClusterCpu() as cluster_cpu:
        os.environ["RAY_ADDRESS"] = address
        on_ray, ray_files = run_one(corpus, args.work, "ray", args.workers)
    if not args.address:  # the tasks and actors' CPU: on the cluster, not in the driver's
        on_ray["cluster_cpu_s"] = cluster_cpu.seconds
    print(f"{size}: ray:   wall {on_ray['wall_s']} s, cpu {on_ray['cpu_s']} s (driver and its children; the actors "
          f"and tasks are the cluster's processes: {on_ray.get('cluster_cpu_s', '?')} s), driver peak RSS "
          f"{on_ray['peak_rss_mb']} MB, stages {on_ray.get('timings_s')}", flush=True)
    # dedup's state for the next run holds the MinHash sketches; on Ray they stay on the cluster (the
    # near-duplicate search is a shuffle there), so a Ray run keeps none: the one file expected only locally
    local_files.pop("dedup-state.npz", None)
    differing = sorted(k for k in set(local_files) | set(ray_files) if local_files.get(k) != ray_files.get(k))
    print(f"{size}: {len(local_files)} files; "
          f"{'identical' if not differing else f'{len(differing)} differ: {differing[:5]}'}", flush=True)
    figures = {"size": size, "workers": args.workers, "identical": not differing, "files": len(local_files),
               "differing": differing, "local": local, "ray": on_ray}
    print(f"{size}: {json.dumps(figures)}", flush=True)  # (kept if a larger size is stopped)
    return figures


if __name__ == "__main__":
    sys.exit(main())
