"""Start-up of a run, before its first stage: imports and the translation engine.

    .venv/bin/python scripts/bench_start.py [--repeat 5]

- ``imports``: a fresh interpreter importing what ``python -m pipeline run`` imports (wall and CPU of
  that process, the median of ``--repeat``);
- ``engine``: the configured translator built as the runner builds it, alternately with the start-up
  self-test on the calling thread (``self_test=True``, the runner before) and on a thread
  (``self_test="background"``, the runner now: ingest reads the corpus meanwhile): seconds the caller
  waits, and seconds until the self-test is done (``ready()``), medians;
- ``apertium_version``: its first call (dpkg-query) and a later one (asked once per process).

Numbers only; the last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

_IMPORT = ("import resource, time; t = time.perf_counter(); import pipeline.__main__; "
           "u = resource.getrusage(resource.RUSAGE_SELF); "
           "print(time.perf_counter() - t, u.ru_utime + u.ru_stime)")


def imports(repeat: int) -> dict[str, float]:
    walls, cpus = [], []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", _IMPORT], cwd=ROOT, capture_output=True, text=True, check=True)
        wall, cpu = (float(x) for x in out.stdout.split())
        walls.append(wall)
        cpus.append(cpu)
    return {"wall_s": round(statistics.median(walls), 3), "process_cpu_s": round(statistics.median(cpus), 3)}


def engine(repeat: int) -> dict[str, dict[str, float]]:
    from pipeline.config import Settings
    from pipeline.translate.select import choose_translator

    settings = Settings().translate
    waits: dict[str, list[float]] = {"on the caller's thread": [], "on a thread": []}
    ready: dict[str, list[float]] = {"on the caller's thread": [], "on a thread": []}
    for _ in range(repeat):
        for name, mode in (("on the caller's thread", True), ("on a thread", "background")):
            start = time.perf_counter()
            translator = choose_translator(settings, self_test=mode).translator  # type: ignore[arg-type]
            waits[name].append(time.perf_counter() - start)
            getattr(translator, "ready", lambda: None)()
            ready[name].append(time.perf_counter() - start)
            getattr(translator, "close", lambda: None)()
    return {name: {"caller_waits_s": round(statistics.median(waits[name]), 3),
                   "self_test_done_s": round(statistics.median(ready[name]), 3)} for name in waits}


def version() -> dict[str, float]:
    from pipeline.translate.apertium import apertium_version

    apertium_version.cache_clear()
    start = time.perf_counter()
    apertium_version()
    first = time.perf_counter() - start
    start = time.perf_counter()
    apertium_version()
    return {"first_s": round(first, 4), "later_s": round(time.perf_counter() - start, 6)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    result = {"imports": imports(args.repeat), "engine": engine(args.repeat), "apertium_version": version()}
    print(f"imports: {result['imports']}")
    for name, r in result["engine"].items():
        print(f"engine, self-test {name}: {r}")
    print(f"apertium_version: {result['apertium_version']}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
