"""dedup.json written with every group's line encoded against with the unchanged groups' lines copied from the
previous run's file (`pipeline.render.dedup_file`), on a real corpus, in one process, back to back.

    .venv/bin/python scripts/bench_dedup_file.py --corpus WORK/corpus-10000 --out WORK/out-10000 [--repeat 5]

`--out`: an output folder (a copy: the cache is read and may be written) whose `latest` run is the previous
run (it holds dedup.json and dedup-lines.npz) and whose cache holds the corpus's documents and dedup result
(the folder after a run on the corpus, e.g. `scripts/bench_scale.py`'s +1% run; or a run on the corpus with 1%
fewer articles, then the corpus's run). The documents and dedup result are read through the flow's own steps
(ingest, dedup) as a run reads them. Each variant writes dedup.json into a temporary folder and hashes it, as
a run does; the bytes are checked equal. Prints process CPU seconds (best of `--repeat`) and the lines copied;
last line JSON.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.cache import Cache, code_fingerprint, digest  # noqa: E402
from pipeline.changes import previous_run_dir  # noqa: E402
from pipeline.config import Settings  # noqa: E402
from pipeline.corpus_index import CorpusIndex  # noqa: E402
from pipeline.executors.local import LocalExecutor  # noqa: E402
from pipeline.flow import IngestStep, NoHooks, corpus_steps, documents_key  # noqa: E402
from pipeline.render import dedup_file  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True, help="output folder: its latest run is the previous run")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    previous = previous_run_dir(args.out)
    if previous is None or not (previous / dedup_file.LINES_FILE).is_file():
        print(f"bench_dedup_file: {args.out}/latest has no {dedup_file.LINES_FILE}", file=sys.stderr)
        return 2
    settings = Settings.model_validate({"run": {"workers": 1}})
    cache = Cache(args.out / "cache.sqlite", ours=True, private=True)
    executor = LocalExecutor(1)
    with executor.run_scope():
        documents = IngestStep().run(args.corpus, settings, cache, lambda done, total: None, exclude=(args.out,),
                                     executor=executor).documents
        dedup_result, _stories, _cached = corpus_steps(documents, settings, cache, NoHooks(), executor, previous, None)
    index = CorpusIndex.build(documents)
    gc.freeze()
    groups = (*dedup_result.paragraph_groups, *dedup_result.sentence_groups)
    fixed = digest("dedup.json lines", code_fingerprint("pipeline.corpus_index", "pipeline.render.dedup_file"),
                   documents_key(settings))  # as `RenderStep.write_dedup_file` makes it
    folder = Path(tempfile.mkdtemp(prefix="bench-dedup-file-"))

    def write(pieces: Iterable[bytes]) -> str:
        h = hashlib.sha256()
        with open(folder / "dedup.json", "wb") as f:
            for piece in pieces:
                h.update(piece)
                f.write(piece)
        return h.hexdigest()

    def encoded() -> tuple[str, int]:
        return write(dedup_file.dedup_file_parts(groups, index)), 0

    def copied() -> tuple[str, int]:
        lines = dedup_file.LineIndex(dedup_file.line_keys(groups, index, fixed))
        before = dedup_file.PreviousLines(previous)
        try:
            sha = write(dedup_file.dedup_file_parts(groups, index, lines, before))
        finally:
            before.close()
        lines.save(folder / dedup_file.LINES_FILE, sha)
        return sha, lines.reused

    seconds: dict[str, list[float]] = {"every line encoded": [], "unchanged lines copied": []}
    results = {}
    for _ in range(args.repeat):
        for name, fn in (("every line encoded", encoded), ("unchanged lines copied", copied)):
            start = time.process_time()
            results[name] = fn()
            seconds[name].append(time.process_time() - start)
    same = results["every line encoded"][0] == results["unchanged lines copied"][0]
    for name, values in seconds.items():
        print(f"{name:<24} {min(values):6.3f} CPU s (best of {args.repeat})")
    print(f"groups {len(groups)}, lines copied {results['unchanged lines copied'][1]}, same bytes: {same}")
    print(json.dumps({"documents": len(documents), "groups": len(groups),
                      "lines_copied": results["unchanged lines copied"][1], "same_bytes": same,
                      "cpu_s": {k: round(min(v), 3) for k, v in seconds.items()}}))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
