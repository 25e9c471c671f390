"""`python -m pipeline run ...` with the review stage measured: CPU seconds of this (main) process and of
the executor's pool workers while the stage runs, and optionally a cProfile of the main process. (The run
starts the review, writes the briefs' files while the workers render its pages, then finishes it: the main
process's seconds are those of the two parts, the workers' those from the start to the end.)

    .venv/bin/python scripts/review_profile.py [--profile FILE] -- run --corpus C --out O --log-format json

The pipeline's own output goes where it always goes; the last line on stdout is JSON:
{"review_main_cpu_s", "review_workers_cpu_s", "review_wall_s", "exit_code"}. (Workers' child processes,
such as Apertium, are not counted: they are counted when they end.)
"""

from __future__ import annotations

import argparse
import cProfile
import json
import multiprocessing
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pipeline.render.review as review  # noqa: E402
from pipeline.__main__ import main  # noqa: E402


def _workers_cpu() -> float:
    """CPU seconds of this process's live children (the pool's workers), from /proc."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0.0
    for child in multiprocessing.active_children():
        try:
            fields = Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def run() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", type=Path, default=None, help="write the main process's cProfile stats here")
    ap.add_argument("pipeline_args", nargs=argparse.REMAINDER, help="-- then the pipeline's arguments")
    args = ap.parse_args()
    measured: dict[str, float] = {}
    start = review.start_review_site
    profiler = cProfile.Profile() if args.profile else None

    def timed(fn, *a, **k):  # type: ignore[no-untyped-def]
        """Run one part of the review (the run calls `start_review_site`, writes the briefs' files, then calls
        its `finish()`): the parts' seconds are added up."""
        cpu, wall, workers = time.process_time(), time.perf_counter(), _workers_cpu()
        if profiler:
            profiler.enable()
        try:
            return fn(*a, **k)
        finally:
            if profiler:
                profiler.disable()
                profiler.dump_stats(args.profile)
            for name, value in (("review_main_cpu_s", time.process_time() - cpu),
                                ("review_wall_s", time.perf_counter() - wall)):
                measured[name] = round(measured.get(name, 0.0) + value, 2)

    def measured_start(*a, **k):  # type: ignore[no-untyped-def]
        workers = _workers_cpu()  # (the workers render pages between the two parts too: counted from here)
        finish = timed(start, *a, **k)

        def measured_finish():  # type: ignore[no-untyped-def]
            try:
                return timed(finish)
            finally:
                measured["review_workers_cpu_s"] = round(_workers_cpu() - workers, 2)

        return measured_finish

    review.start_review_site = measured_start
    pipeline_args = [a for a in args.pipeline_args if a != "--"]
    code = main(pipeline_args)
    print(json.dumps({**measured, "exit_code": code}))
    return code


if __name__ == "__main__":
    sys.exit(run())
