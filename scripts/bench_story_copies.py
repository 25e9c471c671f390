"""Per-story work against a story's size: CPU per article as every story gets more copies.

    .venv/bin/python scripts/bench_story_copies.py [--copies 10 20 60 120] [--stories 25]
                                                   [--data ../shared/eval-dev] [--config configs/default.yaml]

Why
---
`scripts/bench_scale.py` grows its corpora by copies per story (10 at 10k articles, about 67 at 100k:
its `plan`), so work that grows faster than a story's size shows up there as a growth exponent above
1 only after a 100k run. Here the same stories are built with 10, 20, 60 and 120 copies each and the
per-story steps are timed in this process: CPU seconds per article should stay flat (linear in a
story's documents); a ratio largest / smallest above 1 is the superlinear part.

The corpus
----------
`--stories` OrangeSum validation articles (the bench's bases, in its order), each with `copies`
variants made exactly as the bench makes them (`bench_scale.variant`, `article_text`: sentences
dropped, swapped and reworded, another title), ingested in this process.

The figures (CPU seconds of this process, `time.process_time`)
----------------------------------------------------------------
* ``dedup``: `dedup.dedup`; ``stories``: `stories.group` (a cold grouping);
* ``join``: `story_join.join` of the last copy of every story into the grouping of the others
  (what a +1% run does: the whole corpus's state is read, so this one grows with the corpus);
* ``summarize``: the summarize stage as a run does it (`flow.summarize_stories`, one process, no
  cache), then its parts story by story in a second pass: ``summary`` (extractive), ``headline``,
  ``quotes`` (`quotes.extract_quotes`), ``english_quotes``, ``plan`` (`brief.plan_translations`).

Per article = seconds / articles. ``ratio``: per-article CPU at the most copies over the fewest;
``exponent``: log(t2 / t1) / log(n2 / n1) between the fewest and the most copies (1.0 = linear).
The machine is shared: read CPU seconds and ratios. The last line printed is JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.brief import choose_headline, english_quotes, plan_translations  # noqa: E402
from pipeline.cache import NullCache  # noqa: E402
from pipeline.config import Settings, load_settings  # noqa: E402
from pipeline.corpus_index import CorpusIndex  # noqa: E402
from pipeline.dedup import dedup  # noqa: E402
from pipeline.executors.local import LocalExecutor  # noqa: E402
from pipeline.flow import FlowStats, NoHooks, StoryContext, groups_by_document, summarize_stories  # noqa: E402
from pipeline.ingest import LanguageIdentifier, ingest_text  # noqa: E402
from pipeline.model import Document  # noqa: E402
from pipeline.quotes import extract_quotes  # noqa: E402
from pipeline.stories import group  # noqa: E402
from pipeline.story_join import join, state_of  # noqa: E402
from pipeline.summarize import make_summarizer  # noqa: E402
from scripts.bench_scale import article_text, default_data, load_bases, variant  # noqa: E402

PARTS = ("summary", "headline", "quotes", "english_quotes", "plan")


def documents(stories: int, copies: int, data: Path, settings: Settings, seed: int) -> list[Document]:
    """The bench's articles of the first `stories` bases, `copies` each, in the bench's file order."""
    bases = load_bases(data / "orangesum-valid.jsonl")[:stories]
    langid = LanguageIdentifier(settings.ingest.languages)
    out = []
    for number in range(copies):
        for base in bases:
            title, sentences = variant(base, number, seed)
            rng = random.Random(f"{seed}:{base.id}:{number}:paragraphs")
            name = f"{base.id}_{number:03d}"
            out.append(ingest_text(article_text(title, sentences, rng), doc_id=name, path=f"corpus/{name}.txt",
                                   sha256=name, encoding="utf-8", settings=settings.ingest, langid=langid))
    return out


def _cpu(work: Callable[[], Any]) -> tuple[Any, float]:
    start = time.process_time()
    result = work()
    return result, time.process_time() - start


def measure(docs: list[Document], settings: Settings, stories_wanted: int) -> dict[str, Any]:
    out: dict[str, Any] = {"articles": len(docs)}
    index = CorpusIndex.build(docs)
    result, out["dedup"] = _cpu(lambda: dedup(docs, settings.dedup))
    grouped, out["stories"] = _cpu(lambda: group(docs, result, settings.stories))
    out["stories_found"] = len(grouped.stories)

    # +1%: the last copy of every story joins the grouping of the others
    earlier = docs[:-stories_wanted]
    before = group(earlier, dedup(earlier, settings.dedup), settings.stories)
    state = state_of(earlier, before, settings.stories, "bench", "bench")
    _, out["join"] = _cpu(lambda: join(docs, result, settings.stories, state))

    summarizer = make_summarizer(settings.summarize)
    texts, out["summarize"] = _cpu(lambda: summarize_stories(
        grouped.stories, index, result, settings, NullCache(), LocalExecutor(1), summarizer, NoHooks(), FlowStats()))
    out["quotes_found"] = sum(len(t.quotes) for t in texts)
    ctx = StoryContext(index, groups_by_document(result, index), settings, summarizer)
    parts = dict.fromkeys(PARTS, 0.0)
    for story in grouped.stories:
        dedup_for = ctx.dedup_for(story)
        summary, t = _cpu(lambda: summarizer.summarize(story, index, dedup_for))
        parts["summary"] += t
        parts["headline"] += _cpu(lambda: choose_headline(story, index, summary))[1]
        quotes, t = _cpu(lambda: extract_quotes(story, index, skip=[s.text_fr for s in summary.sentences]))
        parts["quotes"] += t
        parts["english_quotes"] += _cpu(lambda: english_quotes(quotes, index, dedup_for))[1]
        parts["plan"] += _cpu(lambda: plan_translations(summary, index, dedup_for))[1]
    out.update(parts)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--copies", type=int, nargs="+", default=[10, 20, 60, 120], help="articles per story")
    ap.add_argument("--stories", type=int, default=25, help="base articles (stories)")
    ap.add_argument("--data", type=Path, default=default_data(), help="folder of orangesum-valid.jsonl")
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "default.yaml")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if not (args.data / "orangesum-valid.jsonl").exists():
        print(f"no orangesum-valid.jsonl in {args.data}: pass --data", file=sys.stderr)
        return 2
    settings = load_settings(args.config)
    rows = {}
    for copies in sorted(args.copies):
        docs = documents(args.stories, copies, args.data, settings, args.seed)
        row = measure(docs, settings, args.stories)
        rows[copies] = row
        per = {k: round(1000 * row[k] / row["articles"], 3) for k in ("dedup", "stories", "summarize", *PARTS)}
        print(f"{copies:>4} copies x {args.stories} stories = {row['articles']:>5} articles: CPU ms per article "
              + ", ".join(f"{k} {v}" for k, v in per.items()) + f"; join {row['join']:.2f} s", flush=True)
    small, large = rows[min(rows)], rows[max(rows)]
    growth = {}
    for k in ("dedup", "stories", "summarize", *PARTS):
        if small[k] > 0 and large[k] > 0:
            growth[k] = {"ratio": round((large[k] / large["articles"]) / (small[k] / small["articles"]), 2),
                         "exponent": round(math.log(large[k] / small[k]) / math.log(large["articles"]
                                                                                   / small["articles"]), 2)}
    for k, g in growth.items():
        print(f"{k}: per-article CPU x{g['ratio']} from {min(rows)} to {max(rows)} copies (exponent {g['exponent']})")
    print(json.dumps({"stories": args.stories, "seed": args.seed, "cpu_s": rows, "growth": growth}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
