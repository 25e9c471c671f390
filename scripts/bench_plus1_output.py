"""The brief, render and review stages of a run with 1% new articles, part by part: wall seconds, and the CPU
seconds of the thread each part runs on.

    cp -a WORK COPY   # a `bench_scale.py --work` folder (corpus-N, out-N); the copy changes
    .venv/bin/python scripts/bench_plus1_output.py --work COPY [--size 10000] [--data ../shared/eval-dev]

1. a run on the corpus as it is, with this code (a change to the code re-keys summaries, brief files and
   review pages: the +1% run's previous run and cache must be this code's);
2. `bench_scale.add_new_articles`: the next 1% of articles;
3. the +1% run in this process (`python -m pipeline run`'s own code path), with each part named below timed:
   wall seconds, and `time.thread_time()` of the thread it runs on, which says what the part cost whatever
   else ran on a shared machine (the parts on the workers are waited for: their wall is the wait).

The last line is JSON: the +1% run's stages (wall and CPU s, from its manifest), brief+render+review (wall),
and the parts ({name: [wall s, thread CPU s]}).
"""

from __future__ import annotations

import argparse
import functools
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

import bench_scale  # noqa: E402
import pipeline.flow as flow  # noqa: E402
import pipeline.render as render  # noqa: E402
import pipeline.render.review as review  # noqa: E402

PARTS: list[tuple[Any, str]] = [
    (flow, "_one_brief"), (render, "brief_digest"), (flow.RenderStep, "write_briefs"), (render, "brief_bodies"),
    (render, "brief_files"), (flow.RenderStep, "write_dedup_file"), (flow, "write_sources"),
    (review, "_known_keys"), (review, "review_jobs"), (review._Site, "render"), (flow, "translate_jobs"),
]


def timed(parts: dict[str, list[float]], owner: Any, name: str) -> None:
    """Wrap `owner.name` so that each call adds its wall and thread CPU seconds to `parts[name]`."""
    fn: Callable[..., Any] = getattr(owner, name)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            total = parts.setdefault(name, [0.0, 0.0])
            total[0] += time.perf_counter() - wall
            total[1] += time.thread_time() - cpu

    setattr(owner, name, wrapper)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, required=True, help="a copy of a bench_scale.py --work folder")
    ap.add_argument("--size", type=int, default=10000)
    ap.add_argument("--data", type=Path, default=bench_scale.default_data(), help="eval-dev folder")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    corpus, out = args.work / f"corpus-{args.size}", args.work / f"out-{args.size}"
    if not (out / "runs").is_dir():
        print(f"bench_plus1_output: no earlier run in {out}", file=sys.stderr)
        return 2
    run = ["run", "--corpus", str(corpus), "--out", str(out), "--log-format", "json"]
    with (args.work / "prime.log").open("w", encoding="utf-8") as log:
        primed = subprocess.run([sys.executable, "-m", "pipeline", *run], cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=log)
    if primed.returncode not in (0, 1):
        print(f"bench_plus1_output: the run with this code failed (exit {primed.returncode}): "
              f"{args.work / 'prime.log'}", file=sys.stderr)
        return 1
    bases = bench_scale.load_bases(args.data / "orangesum-valid.jsonl")
    new = bench_scale.add_new_articles(corpus, bench_scale.corpus_articles(corpus, bases), bases, args.seed)
    parts: dict[str, list[float]] = {}
    for owner, name in PARTS:
        timed(parts, owner, name)
    from pipeline.__main__ import main as pipeline_main

    start = time.perf_counter()
    code = pipeline_main(run)
    wall = time.perf_counter() - start
    manifest = json.loads((out / "latest" / "manifest.json").read_text(encoding="utf-8"))
    stages, cpu = manifest["timings_s"], manifest.get("timings_cpu_s", {})
    ours = round(sum(stages.get(s, 0.0) for s in ("brief", "render", "review")), 2)
    print(f"+1% run ({new} new articles): exit {code}, {wall:.1f} s wall; brief+render+review {ours} s wall")
    for name, (w, c) in sorted(parts.items()):
        print(f"  {name:<18} wall {w:6.2f} s  thread CPU {c:6.2f} s")
    print(json.dumps({"new_articles": new, "exit_code": code, "wall_s": round(wall, 2), "stages_s": stages,
                      "stages_cpu_s": cpu, "brief_render_review_s": ours,
                      "parts": {k: [round(w, 3), round(c, 3)] for k, (w, c) in sorted(parts.items())}}))
    return 0 if code in (0, 1) else code


if __name__ == "__main__":
    sys.exit(main())
