"""Story grouping on a labelled mixed corpus: pairwise precision and recall, empty briefs, lost articles.

    .venv/bin/python scripts/eval_stories.py                  # the real `python -m pipeline run`
    .venv/bin/python scripts/eval_stories.py --direct         # grouping only (ingest, dedup, group_stories,
                                                              # extractive summary), no translation
    .venv/bin/python scripts/eval_stories.py --orangesum 200 --seed 13 --data ../shared/eval-dev
    .venv/bin/python scripts/eval_stories.py --direct --seed 99 --set entities=none   # a signal left out

The corpus (written to a temporary folder)
------------------------------------------
* `rpm2-dev/docs/<cluster>/*.txt`: 20 clusters of 10 French press articles on
  10 topics. The two clusters of a topic (`T01_C1`, `T01_C2`) are one ongoing
  story a month apart: the label is the topic (`T01`).
* `orangesum-valid.jsonl`: `--orangesum` articles drawn with `--seed`, each its
  own event (label = its id); half are written with their title on the first
  line and a blank line, half as the bare one-paragraph text.
* `corpus/`: the five sample articles, one story (label `sample`).

The figures
-----------
* pairwise precision: among pairs of documents put in one story, the share
  whose labels are equal (two documents of different events in one story =
  an error);
* pairwise recall: among pairs of documents with one label, the share put in
  one story (two documents of one RPM2 topic, or two sample articles, apart =
  an error);
* empty briefs: briefs with no summary sentence; lost: articles of the corpus
  that are the source of no brief.

With the real run the stories are read from the run's `briefs/*.json`
(`story_id`, `sources[].file`); `--direct` calls `group_stories` and the
extractive summarizer in-process. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from itertools import combinations
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def default_data() -> Path:
    """`../shared/eval-dev` beside the checkout (elsewhere, pass --data)."""
    return ROOT / ".." / "shared" / "eval-dev"


def build_corpus(folder: Path, data: Path, n_orangesum: int, seed: int) -> dict[str, str]:
    """Write the mixed corpus into `folder`; return label per file name."""
    folder.mkdir(parents=True)
    labels: dict[str, str] = {}
    for f in sorted((data / "rpm2-dev" / "docs").glob("*/*.txt")):
        shutil.copy(f, folder / f.name)
        labels[f.name] = f.name.split("_")[0]
    rows = [json.loads(line) for line in (data / "orangesum-valid.jsonl").read_text(encoding="utf-8").splitlines()]
    for k, row in enumerate(random.Random(seed).sample(rows, n_orangesum)):
        name = f"os_{row['id']}.txt"
        text = f"{row['title'].strip()}\n\n{row['article'].strip()}\n" if k % 2 == 0 else row["article"].strip() + "\n"
        (folder / name).write_text(text, encoding="utf-8")
        labels[name] = f"os-{row['id']}"
    for f in sorted((ROOT / "corpus").glob("*.txt")):
        shutil.copy(f, folder / f.name)
        labels[f.name] = "sample"
    return labels


def pairwise(labels: dict[str, str], story_of: dict[str, str]) -> dict[str, float]:
    """Pairwise precision and recall of `story_of` (file -> story) against `labels` (file -> event)."""
    by_story: dict[str, list[str]] = {}
    for f, s in story_of.items():
        by_story.setdefault(s, []).append(f)
    predicted = sum(len(fs) * (len(fs) - 1) // 2 for fs in by_story.values())
    correct = sum(1 for fs in by_story.values() for a, b in combinations(fs, 2) if labels[a] == labels[b])
    sizes = Counter(labels[f] for f in labels)
    truth = sum(c * (c - 1) // 2 for c in sizes.values())
    return {"precision": round(correct / predicted, 4) if predicted else 1.0,
            "recall": round(correct / truth, 4) if truth else 1.0,
            "false_pairs": predicted - correct, "missed_pairs": truth - correct}


def real_run(corpus: Path, work: Path) -> tuple[dict[str, str], int, float]:
    """Run `python -m pipeline run`; return (file -> story, empty briefs, seconds)."""
    import yaml

    config = yaml.safe_load((ROOT / "configs" / "default.yaml").read_text(encoding="utf-8"))
    config["cache"] = {"enabled": False}
    cfg = work / "config.yaml"
    cfg.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    out = work / "out"
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pipeline", "run", "--config", str(cfg), "--corpus", str(corpus),
                           "--out", str(out), "--log-format", "json"], cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        sys.exit(f"pipeline run failed with exit code {proc.returncode}:\n{proc.stderr[-3000:]}")
    run_dir = Path(proc.stdout.strip().splitlines()[-1])
    story_of: dict[str, str] = {}
    empty = 0
    for path in sorted((run_dir / "briefs").glob("*.json")):
        brief = json.loads(path.read_text(encoding="utf-8"))
        if not brief["summary"]:
            empty += 1
        for source in brief["sources"]:
            story_of[Path(source["file"]).name] = brief["story_id"]
    return story_of, empty, seconds


def direct(corpus: Path, overrides: list[str] = ()) -> tuple[dict[str, str], int, float]:
    """Grouping in-process: ingest, dedup, group_stories, extractive summary per story."""
    sys.path.insert(0, str(ROOT))
    from pipeline.config import load_settings
    from pipeline.corpus_index import CorpusIndex
    from pipeline.dedup import dedup
    from pipeline.ingest import ingest
    from pipeline.stories import group_stories
    from pipeline.summarize.extractive import summarize_story

    settings = load_settings(ROOT / "configs" / "default.yaml")
    if overrides:  # a signal switched off or re-weighted (ablation): stories.KEY=VALUE
        update = {}
        for item in overrides:
            key, _, value = item.partition("=")
            current = getattr(settings.stories, key)
            update[key] = value if isinstance(current, str) else type(current)(value)
        settings = settings.model_copy(update={"stories": settings.stories.model_copy(update=update)})
    docs = ingest(corpus, settings.ingest).documents
    result = dedup(docs, settings.dedup)
    start = time.perf_counter()
    stories = group_stories(docs, result, settings.stories)
    seconds = time.perf_counter() - start
    index = CorpusIndex.build(docs)
    path_of = {d.doc_id: Path(d.path).name for d in docs}
    story_of = {path_of[d]: s.story_id for s in stories for d in s.doc_ids}
    empty = sum(1 for s in stories if not summarize_story(s, index, result, settings.summarize).sentences)
    return story_of, empty, seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=default_data(), help="eval-dev folder (default: %(default)s)")
    ap.add_argument("--orangesum", type=int, default=200, help="OrangeSum articles, one event each")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--direct", action="store_true", help="group in-process instead of the real run")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="with --direct: override a stories setting (ablation), e.g. entities=none")
    ap.add_argument("--show", type=int, default=5, help="print this many impure stories")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="eval-stories-") as tmp:
        work = Path(tmp)
        labels = build_corpus(work / "corpus", args.data, args.orangesum, args.seed)
        cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime + resource.getrusage(resource.RUSAGE_SELF).ru_utime
        story_of, empty, seconds = direct(work / "corpus", args.set) if args.direct else real_run(work / "corpus", work)
        cpu = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime + resource.getrusage(resource.RUSAGE_SELF).ru_utime - cpu0
    lost = sorted(set(labels) - set(story_of))
    scores = pairwise(labels, {f: s for f, s in story_of.items() if f in labels})
    stories: dict[str, list[str]] = {}
    for f, s in story_of.items():
        stories.setdefault(s, []).append(f)
    impure = sorted((fs for fs in stories.values() if len({labels.get(f) for f in fs}) > 1), key=len, reverse=True)
    for fs in impure[: args.show]:
        print(f"impure story ({len(fs)} docs): " + ", ".join(f"{f}[{labels.get(f)}]" for f in sorted(fs)[:12]))
    split = {lab: len({story_of.get(f) for f, l in labels.items() if l == lab})
             for lab in sorted(set(labels.values())) if not lab.startswith("os-")}
    print(f"documents {len(labels)}, stories {len(stories)}, largest {max(map(len, stories.values()), default=0)}")
    print(f"stories per labelled topic: {split}")
    print(f"pairwise precision {scores['precision']:.4f} ({scores['false_pairs']} wrong pairs), "
          f"recall {scores['recall']:.4f} ({scores['missed_pairs']} missed pairs)")
    print(f"empty briefs {empty}, articles in no brief {len(lost)} {lost[:5]}")
    print(f"{'grouping' if args.direct else 'run'} {seconds:.1f} s wall, {cpu:.1f} s CPU")
    print(json.dumps({"mode": "direct" if args.direct else "run", "documents": len(labels), "stories": len(stories),
                      **scores, "empty_briefs": empty, "lost": len(lost), "seconds": round(seconds, 1),
                      "cpu_seconds": round(cpu, 1), "orangesum": args.orangesum, "seed": args.seed, "set": args.set}))


if __name__ == "__main__":
    main()
