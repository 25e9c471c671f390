"""The flow: the pipeline's steps, in order. Nothing operational lives here.

    ingest -> dedup -> stories -> summarize (+ quotes) -> translate -> brief -> render

Each step is a small class with one interface:

- `name`: the stage name (timings, cache statistics, progress);
- `code`: the modules its output depends on (part of its cache key);
- `key(...)`: the cache key of one unit of its work, declared next to its code
  (None where the step is not cached);
- `run(...)`: the work itself, on typed records (`pipeline.model`).

Per-item work (summarising a story, translating a chunk of texts) goes
through an executor (`pipeline.executors`): a local process pool or a Ray
cluster, with output identical whatever the number of workers. Corpus-wide
steps (dedup, stories) run where the flow runs. While the briefs' files are
written, two threads of the flow's process write dedup.json and the sources
(`RenderStep.corpus_files`) and wait on the workers for the review pages
(`pipeline.render.review.start_review_site`); the cache is used from the
flow's thread alone.

`run_flow` composes the steps for `python -m pipeline run` (the runner adds
the lock, the run folder, the cache store, progress and the manifest);
`summarize_documents` is the same code path for `eval`. Adding a stage means
adding a step class and one call in `run_flow`.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import json
import logging
import os
import shutil
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterable, Iterator, Mapping, Protocol, Sequence

from .brief import (
    TranslationNeed, apply_translations, build_brief, choose_headline, english_quotes, plan_translations,
    quote_texts, translated_quotes,
)
from .cache import (
    INGEST_LIBRARIES, TEXT_LIBRARIES, Cache, CachedTranslator, IngestCache, code_fingerprint, collector_paused,
    decode, digest, encode, folder_fingerprint, package_versions, schema_fingerprint, translator_identity,
)
from .config import Settings, settings_dict
from .corpus_index import CorpusIndex, DocumentCited, SliceParts
from .executors import Executor, Session
from .model import Brief, Citation, DedupResult, Document, IngestResult, Quote, Story, Summary, SummarySentence, \
    replaced
from .translate import EngineFailure, TranslationError, Translator
from .verify import write_sources

log = logging.getLogger("pipeline")

# Texts per call to the translation cache (each call commits what it translated: a killed run
# loses at most one batch) and per task sent to a worker. Fixed, so the way texts are grouped
# never depends on the number of workers.
TRANSLATE_BATCH = 512
TRANSLATE_CHUNK = 64
TRANSLATE_IN_PROCESS = 256  # texts a PooledTranslator translates in one call in its own process
RENDER_BATCH = 256  # briefs per cache read of their files
SUMMARIZE_BATCH = 64  # stories per call to the workers (and per cache write of their summaries)
# The first call's stories (then twice as many at each call, up to SUMMARIZE_BATCH): the workers start as soon as a
# few stories' inputs are made here, not after a whole batch's (64 stories' slices: 0.15 s while they wait)
SUMMARIZE_FIRST = 8

# Test-only hook: with PIPELINE_TEST_SLOW_TRANSLATE=<seconds> set, every call to the
# translation engine sleeps that long first, so tests/test_runner_ops.py can kill a
# run in the middle of translation. Never set it in production.
SLOW_TRANSLATE_ENV = "PIPELINE_TEST_SLOW_TRANSLATE"


# --- what the flow needs from whoever runs it ---------------------------------------------------


class Hooks(Protocol):
    """Timing and progress, provided by the runner (no-ops for eval and tests)."""

    def stage(self, name: str) -> ContextManager[None]: ...

    def bar(self, desc: str, total: int | None, unit: str) -> ContextManager[Any]: ...


class NoBar:
    """A progress bar that shows nothing (eval, tests, and runs whose stderr is not a terminal)."""

    total: int | None = None

    def update(self, n: int = 1) -> None:
        pass

    def refresh(self) -> None:
        pass

    def set_postfix_str(self, s: str) -> None:
        pass


class NoHooks:
    def stage(self, name: str) -> ContextManager[None]:
        return nullcontext()

    @contextmanager
    def bar(self, desc: str, total: int | None, unit: str) -> Iterator[Any]:
        yield NoBar()


@dataclass
class FlowStats:
    summarize_calls: int = 0
    translate_calls: int = 0
    translated_texts: int = 0


@dataclass
class FlowResult:
    ingested: IngestResult
    index: CorpusIndex
    dedup: DedupResult
    stories: list[Story]
    briefs: list[Brief]
    failed: list[dict[str, str]]
    warnings: list[str]
    stats: FlowStats
    engines: dict[str, str]
    unsummarised: list[dict[str, Any]] = field(default_factory=list)  # stories given no brief, and why


# --- steps ----------------------------------------------------------------------------------------


class IngestStep:
    """Files -> Documents (decoding, cleaning, paragraphs, sentences, language); cached per file.

    Files are read and hashed where the flow runs; what the cache does not hold is analysed on the
    executor's workers, in fixed slices (`pipeline.ingest.INGEST_SLICE`)."""

    name = "ingest"

    def run(self, corpus: Path, settings: Settings, cache: Cache,
            progress: Callable[[int, int], None] | None = None, exclude: Sequence[Path] = (),
            executor: Executor | None = None) -> IngestResult:
        from .ingest import ingest

        return ingest(corpus, settings.ingest, store=IngestCache(cache, settings_dict(settings)["ingest"]),
                      progress=progress, exclude=exclude, executor=executor, hashes=cache)


class DedupStep:
    """Documents -> duplicate groups of paragraphs and sentences.

    Per-document work (`pipeline.dedup_features.document_features`: fact terms, stems, fact signatures) runs
    on the executor's workers and is cached by document content (`features_key`), so a run with a
    few new articles computes only theirs; the corpus-wide part (MinHash LSH, document neighbours,
    same-fact comparisons of neighbouring documents, grouping) runs here. Across runs
    (`across_runs`, `pipeline.dedup_state`) it verifies and compares only the pairs that involve new
    or edited documents, with the same result as in full, and reads only their features (the kept
    documents' text keys, terms, stems and signatures are in the previous run's dedup state)."""

    name = "dedup"
    code = ("pipeline.ingest", "pipeline.dedup", "pipeline.dedup_features", "pipeline.minhash", "pipeline.textsim")
    # what one document's features are made by (`features_key`): not the corpus-wide search, whose changes keep
    # them (every pipeline module `pipeline.dedup_features` imports: a test holds it)
    features_code = ("pipeline.ingest", "pipeline.model", "pipeline.dedup_features", "pipeline.textsim")

    def __init__(self) -> None:
        self.writing: list[Future] = []  # the states being written on the caller's `writer` thread

    def key(self, documents: Sequence[Document], settings: Settings) -> str:
        return digest(self.fingerprint(settings), [(d.doc_id, d.path, d.sha256) for d in documents])

    def fingerprint(self, settings: Settings) -> str:
        """What the result depends on besides the documents: code, libraries, ingest and dedup settings (not
        those that only say when to reuse the previous run, `dedup_state.NOT_SETTINGS`)."""
        from .dedup_state import NOT_SETTINGS

        dedup = {k: v for k, v in settings_dict(settings)["dedup"].items() if k not in NOT_SETTINGS}
        return digest(self.name, schema_fingerprint(), code_fingerprint(*self.code, "pipeline.dedup_state"),
                      package_versions(*INGEST_LIBRARIES, *TEXT_LIBRARIES), settings_dict(settings)["ingest"], dedup)

    def features_key(self, settings: Settings) -> Callable[[Document], str]:
        """The cache key of one document's features: its bytes and what its text and features depend on
        (not the dedup settings, nor the other documents)."""
        fixed = digest("dedup-features", schema_fingerprint(), code_fingerprint(*self.features_code),
                       package_versions(*INGEST_LIBRARIES, *TEXT_LIBRARIES), settings_dict(settings)["ingest"])
        return lambda d: digest(fixed, d.sha256)

    def features(self, documents: Sequence[Document], settings: Settings, cache: Cache,
                 executor: Executor | None = None) -> list[Any]:
        """Each document's `DocumentFeatures`: from the cache, the others computed on the workers (fixed slices)."""
        from .dedup_features import features_from_json, features_to_json, shared_words

        key_of = self.features_key(settings)  # (its fixed part made once: 25 µs a call, 1.4 µs a document)
        keys = [key_of(d) for d in documents]
        found = cache.get_many("dedup_features", keys)
        out: list[Any] = []
        words: dict[str, str] = {}  # each term and stem held once (`shared_words`)
        first: dict[str, int] = {}  # (documents of the same content share their features)
        for i, k in enumerate(keys):
            if k in first:
                out.append(out[first[k]])
                continue
            first[k] = i
            value = found.pop(k, None)  # (each entry's JSON dropped once decoded)
            try:
                out.append(features_from_json(value, words) if value is not None else None)
            except (TypeError, KeyError, ValueError):  # an entry of another shape: a miss
                out.append(None)
        todo = [i for i, f in enumerate(out) if f is None]
        slices = [[documents[i] for i in todo[n:n + DEDUP_SLICE]] for n in range(0, len(todo), DEDUP_SLICE)]
        from .executors.local import _InProcess

        # a few new documents (a nightly run) cost less here than starting the workers
        with (executor.session(None) if executor is not None and len(slices) > DEDUP_IN_PROCESS
              else nullcontext(_InProcess(None))) as session:
            made = [f for part in session.map(_features_slice, slices) for f in part]
        for i, f in zip(todo, made):
            out[i] = shared_words(f, words)
        for n in range(0, len(todo), DEDUP_PUT_BATCH):  # (not the JSON of all at once: +0.17 GB at 10,000 articles)
            cache.put_many("dedup_features",
                           [(keys[i], features_to_json(out[i])) for i in todo[n:n + DEDUP_PUT_BATCH]])
        return out

    def new_features(self, documents: Sequence[Document], kept: Any, settings: Settings, cache: Cache,
                     executor: Executor | None = None) -> Sequence[Any]:
        """`features` of the new and edited documents only, None for those kept from the previous run
        (`kept`: each previous document's index now, -1 when gone): dedup reads what it needs of these
        from the dedup state (`dedup.CorpusTexts`), not from their features."""
        out: list[Any] = [None] * len(documents)
        kept_now = set(kept[kept >= 0].tolist())
        todo = [k for k in range(len(documents)) if k not in kept_now]
        for k, f in zip(todo, self.features([documents[k] for k in todo], settings, cache, executor)):
            out[k] = f
        return out

    def across_runs(self, documents: Sequence[Document], settings: Settings, cache: Cache, key: str,
                    previous_run: Path | None, run_dir: Path | None, executor: Executor | None = None,
                    writer: ThreadPoolExecutor | None = None) -> tuple[DedupResult, bool]:
        """The dedup result and whether it came from the cache; the state for the next run is written to
        `run_dir` (`pipeline.dedup_state`). Only the pairs that involve new or edited documents are
        compared when the previous run kept a state (same result as in full); the log says which
        happened and why. With the cyclic garbage collector off throughout (`cache.collector_paused`:
        what dedup makes, its result and its state, holds no reference cycle, and each collection
        would walk the groups made so far: 0.1 s of a +1% run at 10,000 articles).

        `writer`: a thread on which the state is written while the caller goes on (`written` waits for it
        and raises what it raised): the file is 57 MB at 10,000 articles, 0.15-0.7 s of disk writes of a
        +1% run's dedup stage on a busy host, for 0.08-0.25 CPU s, most of it outside the interpreter
        lock (numpy's bytes, zlib's CRC, the file's writes); None: written before this returns."""
        with collector_paused():
            return self._across_runs(documents, settings, cache, key, previous_run, run_dir, executor, writer)

    def written(self) -> None:
        """Wait for the states being written on the `writer` thread (raises what writing raised)."""
        writing, self.writing = self.writing, []
        for future in writing:
            future.result()

    def _across_runs(self, documents: Sequence[Document], settings: Settings, cache: Cache, key: str,
                     previous_run: Path | None, run_dir: Path | None, executor: Executor | None = None,
                     writer: ThreadPoolExecutor | None = None) -> tuple[DedupResult, bool]:
        from .dedup import body_counts, body_items, dedup_across_runs, result_from_json, result_to_json
        from .dedup_state import STATE_FILE, previous, previous_state, save_state, state_key, state_of

        path = previous_run / STATE_FILE if previous_run is not None else None
        with collector_paused():
            result = cache.get_as("dedup", key, result_from_json)
        if result is not None:
            kept = path is not None and state_key(path) == key
            if kept and run_dir is not None:
                shutil.copyfile(path, run_dir / STATE_FILE)  # the same state, not decoded again
            log.info("dedup: unchanged since the previous run (%d documents, cached)%s", len(documents),
                     "" if kept else "; no dedup state kept for the next run")
            return result, True
        fingerprint = self.fingerprint(settings)
        # the previous run's state is read on the writer thread (57 MB at 10,000 articles: file reads and CRCs,
        # mostly outside the interpreter lock) while this thread lists the body texts dedup compares
        loading = writer.submit(previous_state, previous_run) if writer is not None else None
        body = body_items(documents)
        with collector_paused():
            state, why = loading.result() if loading is not None else previous_state(previous_run)
        before = change = None
        if state is not None:
            before, change, why = previous(state, documents, fingerprint, settings.dedup, body_counts(body))
        with collector_paused():  # (dedup makes millions of small objects and little cyclic garbage)
            # the features are passed without a name here: dedup reads them into its arrays (`dedup.CorpusTexts`)
            # and drops them, so they are not held through the rest of dedup (GBs at 100,000 articles)
            result, memo = dedup_across_runs(
                documents, settings.dedup, previous=before,
                features=self.new_features(documents, before.documents, settings, cache, executor)
                if before is not None else self.features(documents, settings, cache, executor),  # (kept: not read)
                similar_pairs=executor.similar_pairs if executor is not None else None,
                document_neighbours=executor.top_neighbours if executor else None,
                same_fact_blocks=executor.map_blocks if executor else None,
                background=executor.background if executor is not None and executor.workers > 1 else None,
                body=body)
        if before is not None and change is not None:
            log.info("dedup: %d new or edited documents compared with %d kept from the previous run (%d gone)",
                     change.new, change.kept, change.gone)
        else:
            log.info("dedup: in full: %s", why)
        if memo is None:
            log.info("dedup: no dedup state kept for the next run: the near-duplicate search ran on the %s "
                     "cluster, whose sketches stay there (the next run dedups in full)",
                     executor.name if executor is not None else "executor's")
        elif run_dir is not None:
            state = state_of(documents, memo, key, fingerprint)
            if writer is None:
                save_state(run_dir / STATE_FILE, state)
            else:  # (started before the result is cached: the two overlap)
                self.writing.append(writer.submit(save_state, run_dir / STATE_FILE, state))
        cache.put("dedup", key, result_to_json(result))
        return result, False


# Documents per task when dedup's per-document features are computed on the workers (fixed: the
# work is cut the same way whatever the pool size).
DEDUP_SLICE = 32
# ... and up to this many slices are computed where the flow runs instead (the same features either way).
DEDUP_IN_PROCESS = 8
# Documents' features per write to the cache.
DEDUP_PUT_BATCH = 512


def _features_slice(_: Any, documents: Sequence[Document]) -> list[Any]:
    """Worker function: `pipeline.dedup_features.document_features` of some documents."""
    from .dedup_features import document_features
    from .textsim import ContentWords

    words = ContentWords()
    return [document_features(d, words) for d in documents]


class StoriesStep:
    """Documents and duplicate groups -> stories (corpus-wide).

    Across runs, new documents join the previous run's stories (`pipeline.story_join`, state in
    the run folder next to `stories.json`) instead of every document being regrouped; the log
    says which happened and why.
    """

    name = "stories"
    code = ("pipeline.stories", "pipeline.story_join")

    def key(self, dedup_key: str, settings: Settings) -> str:
        return digest(self.name, dedup_key, code_fingerprint(*self.code), settings_dict(settings)["stories"])

    def across_runs(self, documents: Sequence[Document], dedup_result: DedupResult, settings: Settings, cache: Cache,
                    base: str, previous_run: Path | None) -> tuple[list[Story], Any, bool]:
        """Stories, the grouping state for the next run (None when there is none to keep), and whether
        they came from the cache. `base`: this step's key of the inputs. With the cyclic garbage
        collector off (`cache.collector_paused`: stories hold no reference cycle, and each collection
        would walk the dedup groups just made: 0.06-0.1 s of a +1% run's 0.6 s at 10,000 articles)."""
        with collector_paused():
            return self._across_runs(documents, dedup_result, settings, cache, base, previous_run)

    def _across_runs(self, documents: Sequence[Document], dedup_result: DedupResult, settings: Settings,
                     cache: Cache, base: str, previous_run: Path | None) -> tuple[list[Story], Any, bool]:
        from .stories import group
        from .story_join import decide, join, previous_state, state_of

        load = lambda v: [decode(Story, s) for s in v]  # noqa: E731
        state, why = previous_state(previous_run)
        if state is not None and state.base == base:  # the same inputs as the previous run
            stories = cache.get_as("stories", state.key, load)
            if stories is not None:
                log.info("stories: unchanged since the previous run (%d documents)", len(documents))
                return stories, state, True
        why = decide(state, why, documents, settings.stories)
        if not why and state is not None:
            # the same inputs as the previous run (its stories no longer cached): nothing to place, same key
            key = state.key if state.base == base else digest(self.name, "joined", base, state.key)
            grouped, counts, n = join(documents, dedup_result, settings.stories, state)
            log.info("stories: %d new documents placed into %d kept (%d joined existing stories, %d new stories; "
                     "%d gone)", counts.new, counts.kept, counts.joined, counts.new_stories, counts.gone)
            cache.put("stories", key, encode(grouped.stories))
            return grouped.stories, state_of(documents, grouped, settings.stories, key, base, n), False
        stories = cache.get_as("stories", base, load)
        if stories is not None:
            log.info("stories: regrouped from scratch (%s): found in the cache; no grouping state kept for the "
                     "next run", why)
            return stories, None, True
        log.info("stories: regrouped from scratch: %s", why)
        grouped = group(documents, dedup_result, settings.stories)
        cache.put("stories", base, encode(grouped.stories))
        return grouped.stories, state_of(documents, grouped, settings.stories, base, base), False


@dataclass
class StoryContext:
    """What every story's work reads besides its own `StoryInput` (sent to each worker once): small."""

    settings: Settings
    summarizer: Any  # pipeline.summarize.Summarizer


@dataclass(frozen=True)
class StoryInput:
    """What a worker needs for one story (made where the flow runs, sent with the story): the story, its
    cached summary and headline if any, the sentence dedup groups touching its documents (`summary_groups`),
    and its slice of the corpus: its documents whole, and the sentences of other documents in those groups
    (`story_input`). Never the whole corpus, so that a worker's memory is bounded by its story, not by the
    corpus; and nothing its summary's cache key (`SummarizeStep.key`) leaves out."""

    story: Story
    cached: tuple[Summary, str] | None
    parts: SliceParts
    groups: tuple[Any, ...]  # DupGroup

    def dedup(self) -> DedupResult:
        return story_dedup(self.groups)


def story_input(story: Story, cached: tuple[Summary, str] | None, index: CorpusIndex,
                groups_of_doc: Mapping[str, list], sources: dict[str, DocumentCited] | None = None) -> StoryInput:
    """A story's `StoryInput`. Of the groups' members in other documents only sentences are read (a summary
    cites every copy of a sentence it takes; its English may come from a copy), never paragraphs. `sources`:
    see `CorpusIndex.cite` (one dict for a batch of stories: their copies are often in the same documents)."""
    groups = summary_groups(story, groups_of_doc)
    others = (m.id for g in groups for m in g.members)
    return StoryInput(story, cached, SliceParts.of(index, story.doc_ids, others, sources), tuple(groups))


def story_dedup(groups: Sequence[Any]) -> DedupResult:
    """The dedup groups that touch a story's documents (`story_groups`) as a DedupResult: all a summary
    reads, and only those, so that summarising one story costs what its own groups cost."""
    return DedupResult(tuple(g for g in groups if g.level == "paragraph"),
                       tuple(g for g in groups if g.level == "sentence"))


def story_groups(story: Story, groups_of_doc: Mapping[str, list]) -> list:
    """The dedup groups with a member in the story's documents, each once, in a stable order."""
    return list({g.group_id: g for d in story.doc_ids for g in groups_of_doc.get(d, ())}.values())


def summary_groups(story: Story, groups_of_doc: Mapping[str, list]) -> list:
    """The sentence dedup groups with a member in the story's documents (`story_groups`): what its summary,
    headline, quotes and translation plan read of dedup (support, the copies cited, English from a copy).
    Paragraph groups are not read there (they shape the story's paragraphs, `Story.paragraph_ids`): a new
    article repeating one of its paragraphs changes neither its summary nor its cache key."""
    return [g for g in story_groups(story, groups_of_doc) if g.level == "sentence"]


def story_slice(story: Story, groups: Sequence[Any], group_docs: Mapping[str, Sequence[str]]) -> list[str]:
    """The documents a story's summary, headline, quotes and translation plan read: its own and those of
    the other members of the dedup groups it reads (`groups`, from `summary_groups`; `group_docs` from
    `docs_by_group`), sorted."""
    return sorted(set(story.doc_ids).union(*(group_docs[g.group_id] for g in groups)))


@dataclass(frozen=True)
class StoryText:
    """A story's summary, headline and key quotes, before translation, and what needs translating
    (`pipeline.brief.plan_translations`: only what no source states in the target language)."""

    summary: Summary
    headline_fr: str  # the headline as the chosen source gives it (in `headline_lang`)
    quotes: tuple[Quote, ...]
    needs: tuple[TranslationNeed, ...] = ()
    headline_lang: str = "fr"

    def headline_jobs(self) -> list[tuple[str, str, str]]:
        return [(self.headline_lang, "fr", self.headline_fr), (self.headline_lang, "en", self.headline_fr)]

    def jobs(self) -> list[tuple[str, str, str]]:
        """(source language, target language, text) of every text this story needs translated."""
        return [*self.headline_jobs(), *((n.source_lang, n.target_lang, n.text) for n in self.needs),
                *(("fr", "en", t) for t in quote_texts(self.quotes))]


def _summarize_story(ctx: StoryContext, item: StoryInput) -> StoryText:
    """A story's summary (unless cached) and its quotes, from the story's slice of the corpus."""
    return _story_text(ctx, item, item.parts.index())


def _summarized(ctx: StoryContext, item: StoryInput) -> tuple[StoryText, dict[str, Any]]:
    """Worker function: a story's StoryText (`_summarize_story`) and its cache entry (`_encoded_text`), encoded
    here against the story's slice, which cites every sentence it holds as the whole index does (so the main
    process, which decodes the cached stories meanwhile, does not cite them again to encode them)."""
    index = item.parts.index()
    text = _story_text(ctx, item, index)
    return text, _encoded_text(text, index)


def _story_text(ctx: StoryContext, item: StoryInput, index: CorpusIndex) -> StoryText:
    from .quotes import extract_quotes

    story, dedup = item.story, item.dedup()
    if item.cached is None:
        summary = ctx.summarizer.summarize(story, index, dedup)
        headline_fr = choose_headline(story, index, summary)
    else:
        summary, headline_fr = item.cached
    summary = dataclasses.replace(summary, story_id=story.story_id)
    quotes = english_quotes(extract_quotes(story, index, skip=[s.text_fr for s in summary.sentences]), index, dedup)
    return StoryText(summary, headline_fr, tuple(quotes), tuple(plan_translations(summary, index, dedup)),
                     _headline_lang(story, index, summary, headline_fr))


def _headline_lang(story: Story, index: CorpusIndex, summary: Summary, headline: str) -> str:
    """The language of the headline: its document's (a title), or its sentence's (a summary sentence)."""
    for d in story.doc_ids:
        if index.documents[d].title == headline:
            return index.documents[d].lang
    for s in summary.sentences:
        if s.text_fr == headline and s.citations and s.citations[0].sid in index.sentences:
            return index.paragraphs[index.sentences[s.citations[0].sid].pid].lang
    return "fr"


# Story fields a story's summary, headline, quotes and translation plan never read (`_summarize_story`), so
# not part of its cache key: its id (given back after the cache), and the documents of other stories
# related to it (read by the brief only; they change whenever a new article lands near the story).
NOT_SUMMARIZED = ("story_id", "related")


class SummarizeStep:
    """Story -> French summary, headline and key quotes; summaries cached per story."""

    name = "summarize"
    # (pipeline.flow: the worker function `_summarize_story`, what a story's input holds, how summaries are cached)
    code = ("pipeline.ingest", "pipeline.summarize", "pipeline.summarize.extractive", "pipeline.summarize.seq2seq",
            "pipeline.textsim", "pipeline.dedup", "pipeline.dedup_features", "pipeline.brief", "pipeline.corpus_index",
            "pipeline.quotes", "pipeline.flow")

    def fixed(self, settings: Settings) -> str:
        """The part of every story's key that does not depend on the story (computed once per run)."""
        return digest(
            self.name, schema_fingerprint(), code_fingerprint(*self.code), _summarizer_model(settings),
            package_versions(*INGEST_LIBRARIES, *TEXT_LIBRARIES),
            settings_dict(settings)["ingest"], settings_dict(settings)["summarize"],
        )

    def key(self, story: Story, index: CorpusIndex, groups_of_doc: Mapping[str, list], fixed: str,
            group_docs: Mapping[str, Sequence[str]]) -> str:
        """What a story's summary and headline depend on: the story (but its id and its related documents,
        `NOT_SUMMARIZED`), its documents, the membership of the sentence dedup groups touching them
        (`summary_groups`, and the documents of their other members: `group_docs`, from `docs_by_group`),
        the settings, the code: what its `StoryInput` holds.

        Group scores are left out on purpose: they shift a little whenever any article is added (corpus
        TF-IDF), and the summarizer reads only who is in a group. If a summarizer starts reading
        something else of the dedup result, add it here.
        """
        groups = summary_groups(story, groups_of_doc)
        involved = story_slice(story, groups, group_docs)
        story_data = {f.name: getattr(story, f.name) for f in dataclasses.fields(story) if f.name not in NOT_SUMMARIZED}
        return digest(
            fixed, story_data,
            [(d, index.documents[d].path, index.documents[d].sha256) for d in involved],
            sorted([g.level, sorted(m.id for m in g.members)] for g in groups),
        )

    def run(self, session: Session, items: Sequence[StoryInput]) -> list[tuple[StoryText, dict[str, Any]]]:
        """Each story's StoryText and its cache entry."""
        return session.map(_summarized, items)


def _summarizer_model(settings: Settings) -> dict[str, str] | None:
    """The seq2seq model folder's fingerprint (files, sizes, times); None for extractive."""
    if settings.summarize.backend == "extractive":
        return None
    from .models import resolve_model

    resolved = resolve_model(settings.summarize.model)
    return folder_fingerprint(str(resolved.local_path)) if resolved.local_path else None


def groups_by_document(dedup_result: DedupResult, index: CorpusIndex) -> dict[str, list]:
    """Each document's dedup groups (one pass over the groups, not one per story). Every run makes it before the
    workers have anything to do (180,000 members at 10,000 articles): each group's documents in one set
    comprehension."""
    out: dict[str, list] = {}
    sentences, paragraphs = index.sentences, index.paragraphs  # (a member is a sentence or a paragraph)
    sentence_of, member_id = sentences.get, attrgetter("id")
    for g in (*dedup_result.paragraph_groups, *dedup_result.sentence_groups):
        for d in {paragraphs[mid if s is None else s.pid].doc_id for mid in map(member_id, g.members)
                  for s in (sentence_of(mid),)}:
            _listed(out, d, g)
    return out


def _listed(out: dict[str, list], key: str, value: Any) -> None:
    """`out.setdefault(key, []).append(value)`, with no list made for a key already there."""
    listed = out.get(key)
    if listed is None:
        out[key] = [value]
    else:
        listed.append(value)


def docs_by_group(groups_of_doc: Mapping[str, list]) -> dict[str, list[str]]:
    """Each dedup group's documents (group id -> doc ids), from `groups_by_document`'s result."""
    out: dict[str, list[str]] = {}
    for d, groups in groups_of_doc.items():
        for g in groups:
            out.setdefault(g.group_id, []).append(d)
    return out


@dataclass
class TranslateContext:
    """What translation workers need: the settings to build their own engine, once per worker process."""

    settings: Any  # TranslateSettings
    slow: float = 0.0
    prebuilt: Translator | None = None  # used as is in the process that built it (not in workers)
    prebuilt_pid: int = field(default_factory=os.getpid)
    _engine: Translator | None = field(default=None, repr=False)
    _pid: int = field(default=0, repr=False)
    _router: Any = field(default=None, repr=False)  # pipeline.translate.routes.RouteTranslator
    _router_pid: int = field(default=0, repr=False)
    # translator identity per direction (hashes the engine's programs and data): computed once per run
    identities: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False)
    hashes: Any = field(default=None, repr=False)  # the run's Cache: Apertium's file hashes are remembered there

    def __getstate__(self) -> dict[str, Any]:
        """Sent to another process (a Ray actor): the settings only; the engine is built there."""
        return {**self.__dict__, "prebuilt": None, "_engine": None, "_pid": 0, "_router": None, "_router_pid": 0,
                "hashes": None}

    def engine(self) -> Translator:
        if self.prebuilt is not None and os.getpid() == self.prebuilt_pid:
            return self.prebuilt
        if self._engine is None or self._pid != os.getpid():
            from .translate.select import choose_translator

            self._engine, self._pid = choose_translator(self.settings).translator, os.getpid()
        return self._engine

    def router(self) -> Any:
        """Every other direction (`pipeline.translate.routes`), built on first use in this process."""
        engine = self.engine()
        if self._router is None or self._router_pid != os.getpid():
            from .translate.routes import RouteTranslator

            self._router, self._router_pid = RouteTranslator(self.settings, engine), os.getpid()
        return self._router


def _translate_chunk(ctx: TranslateContext, job: tuple[str, str, Sequence[str]]) -> list[str]:
    """Worker function: one chunk of texts, from one language to another, through this worker's engines."""
    source, target, texts = job
    if ctx.slow:
        time.sleep(ctx.slow)
    if (source, target) == ("fr", "en"):
        out = ctx.engine().translate(list(texts))
    else:
        out = ctx.router().translate(list(texts), source, target)
    if len(out) != len(texts):
        raise TranslationError(f"{source}->{target} returned {len(out)} texts for {len(texts)}")
    return out


class PooledTranslator:
    """A `Translator` (one direction) that splits its texts into fixed chunks and translates them on the
    executor's workers."""

    def __init__(self, session: Session, engine: str, source: str = "fr", target: str = "en") -> None:
        self.session = session
        self.engine = engine
        self.direction = (source, target)
        self._ahead: tuple[list[str], Future[list[str]]] | None = None  # `start`ed

    def start(self, texts: Sequence[str], background: ThreadPoolExecutor) -> None:
        """Begin translating `texts` on `background` (a thread of this process, which waits on the engine), for
        the next call to `translate` with these texts: this thread goes on meanwhile."""
        self._ahead = (list(texts), background.submit(self._translate, list(texts)))

    def translate(self, texts: Sequence[str]) -> list[str]:
        """The translations of `texts`: those `start`ed for these texts, or made now."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[0] == list(texts):
            return ahead[1].result()
        return self._translate(texts)

    def _translate(self, texts: Sequence[str]) -> list[str]:
        """Up to TRANSLATE_IN_PROCESS texts (a +1% run's new texts) in one call here: a worker would first start
        its own engine (0.25 s for Apertium), and each call costs 0.04 s whatever its size."""
        size = TRANSLATE_CHUNK if len(texts) > TRANSLATE_IN_PROCESS else max(1, len(texts))
        chunks = [(*self.direction, list(texts[i:i + size])) for i in range(0, len(texts), size)]
        return [t for part in self.session.map(_translate_chunk, chunks) for t in part]


class TranslateStep:
    """French texts of every story (headlines, summaries, quotes, reviewed paragraphs) -> English.

    Texts are collected across stories, deduplicated, looked up in the cache, and
    what is missing is translated in batches on the workers, each of which keeps
    its engine alive for the whole step. A batch that fails costs only the
    stories whose texts it held.
    """

    name = "translate"

    def run(self, translator: CachedTranslator, texts: Sequence[str],
            progress: Callable[[int], None] | None = None) -> tuple[dict[str, str], dict[str, str]]:
        """English for each text, and the reason for each text that could not be translated."""
        english, todo = self.cached(translator, texts, progress)
        return english, self.translate_new(translator, english, todo, progress)

    @staticmethod
    def cached(translator: CachedTranslator, texts: Sequence[str], progress: Callable[[int], None] | None = None
               ) -> tuple[dict[str, str], list[str]]:
        """`run`'s first part: the translations the cache holds, and the distinct texts it does not (`todo`)."""
        unique = list(dict.fromkeys(t for t in texts))
        english = translator.cached(unique)  # looked up at once: only the texts not cached go in batches
        if progress and english:
            progress(len(english))
        return english, [t for t in unique if t not in english]

    @staticmethod
    def translate_new(translator: CachedTranslator, english: dict[str, str], todo: Sequence[str],
                      progress: Callable[[int], None] | None = None) -> dict[str, str]:
        """`run`'s second part: `todo` translated into `english`, in batches; returns the reason for each text that
        could not be translated (TRANSLATE_BATCH texts to `start` first: `todo[:TRANSLATE_BATCH]`)."""
        failed: dict[str, str] = {}
        for i in range(0, len(todo), TRANSLATE_BATCH):
            batch = todo[i:i + TRANSLATE_BATCH]
            try:
                english.update(translator.translate_new(batch))
            except TranslationError as exc:
                if isinstance(exc, EngineFailure):  # an engine that cannot work fails the run (exit 4)
                    raise
                failed.update((t, str(exc)) for t in batch)
            if progress:
                progress(len(batch))
        return failed


class BriefStep:
    """Story, French text and English -> Brief (citations, sources, quotes, warnings)."""

    name = "brief"

    def run(self, story: Story, text: StoryText, translated: Mapping[tuple[str, str, str], str], index: CorpusIndex,
            dedup: DedupResult, engines: dict[str, str], engine_warnings: Sequence[str]) -> Brief:
        """`translated` maps (source language, target language, text) to the translation; a text in
        another direction than French->English left untranslated keeps its own words, with a warning."""
        missing = [n for n in text.needs if (n.source_lang, n.target_lang, n.text) not in translated]
        summary = apply_translations(text.summary, index, dedup, text.needs,
                                     [translated.get((n.source_lang, n.target_lang, n.text), n.text)
                                      for n in text.needs])
        warnings = list(engine_warnings)
        if missing:
            warnings.append(f"{len(missing)} summary text(s) could not be translated "
                            f"({', '.join(sorted({f'{n.source_lang}->{n.target_lang}' for n in missing}))}); "
                            "they are shown in their source language")
        head_fr, head_en = (translated.get(j, text.headline_fr) for j in text.headline_jobs())
        quote_jobs = [("fr", "en", t) for t in quote_texts(text.quotes)]  # this story's only: linear per story
        english = {j[2]: translated[j] for j in quote_jobs if j in translated}
        # (the brief made once, with its quotes: `attach_quotes` of it made without them would make its sources twice)
        quotes, quote_warnings = translated_quotes(text.quotes, english)
        brief = build_brief(story, summary, head_fr, head_en, (), index,
                            {**engines, "summarizer": summary.engine}, warnings, quotes, dedup_result=dedup)
        return replaced(brief, warnings=(*brief.warnings, *quote_warnings)) if quote_warnings else brief


class RenderStep:
    """Briefs -> files in the run folder: Markdown, JSON, index, dedup groups, review site."""

    name = "render"

    def write_briefs(self, run_dir: Path, briefs: Sequence[Brief], run_id: str, settings: Settings,
                     previous_run: Path | None, cache: Cache, digests: Sequence[str]) -> None:
        """Each brief's Markdown and JSON. A brief unchanged since the previous run keeps that run's files, byte for
        byte: they are hard-linked into this run (`pipeline.changes.link_file`; written, where they cannot be), so
        they still name the run that wrote them (`updated_in`) and what changed in that run. The others are written
        with this run's id and what changed since the previous run (`pipeline.changes`).

        A brief whose files in the previous run still have the identity (inode, size, modification time) the cache
        keeps for them (`pipeline.render.FILES_KIND`: recorded by the run that wrote or linked them, for the brief's
        digest and this code) is linked without reading them (`_link_as_left`): at 10,000 articles, a +1% run reads
        about 85 MB of briefs less. Otherwise, what depends on the brief alone comes from the cache when the brief is
        unchanged
        (`pipeline.render.brief_bodies`, under the brief's `digests`: `pipeline.render.brief_digest`), in batches
        (one cache read and write each); a brief unchanged since the previous run takes its bodies from that run's
        files (checked against the lengths and SHA-256 the cache keeps; their run keys against what this code writes:
        `pipeline.render.PreviousFiles`). Without those lengths and hashes in the cache, the previous files are
        checked against the brief's bodies: what a run writes does not depend on the cache. The previous run's brief
        is parsed only when its text differs (`pipeline.changes.brief_changes`); a brief's JSON form is made only for
        a brief not cached or changed."""
        from .changes import brief_changes
        from .render import (FILES_KIND, FROM_PREVIOUS, PreviousFiles, body_keys, body_sums, brief_bodies,
                             brief_files, brief_to_dict, file_ids, previous_bodies)

        formats = settings.output.formats
        tracked = "json" in formats  # (only where JSON is written does a run link unchanged briefs: `PreviousFiles`)
        try:  # the linked files must have the owner and permissions of this run's (index.md is written first)
            like = os.stat(run_dir / "index.md") if previous_run is not None else None
        except OSError:
            like = None
        with collector_paused():  # (dicts of every brief, and no reference cycle: see cache.collector_paused)
            for start in range(0, len(briefs), RENDER_BATCH):
                batch, batch_digests = briefs[start:start + RENDER_BATCH], digests[start:start + RENDER_BATCH]
                keys = body_keys(batch_digests, formats)
                # a brief whose files in the previous run are those a run left for it (their identity in the
                # cache): linked as they are, neither read nor made
                known = cache.get_many(FILES_KIND, keys) if like is not None and tracked else {}
                rest = [i for i, (brief, key) in enumerate(zip(batch, keys))
                        if not self._link_as_left(run_dir, previous_run, brief.story_id, formats, known.get(key),
                                                  like)]
                datas: dict[int, dict[str, Any]] = {}  # made once, and only for the briefs that need it

                def data_of(i: int) -> dict[str, Any]:
                    if i not in datas:
                        datas[i] = brief_to_dict(batch[i], run_id)
                    return datas[i]

                bodies = brief_bodies([batch[i] for i in rest], [batch_digests[i] for i in rest], formats, cache,
                                      lambda n: data_of(rest[n]), previous_run)
                left: list[tuple[str, Any]] = []  # the identity of the files written or linked below
                for i, body in zip(rest, bodies):
                    brief = batch[i]
                    kept: PreviousFiles | None = body.get(FROM_PREVIOUS)
                    if kept is None and previous_run is not None:  # (its lengths and hashes not in the cache)
                        found = previous_bodies(previous_run, brief.story_id, formats,
                                                body_sums({f: body[f] for f in formats}))
                        kept = found[FROM_PREVIOUS] if found is not None else None
                    if kept is not None and kept.kept(brief):
                        for rel, data in kept.files.items():
                            self._link_or_copy(previous_run, run_dir, rel, like, data)
                    else:
                        change = (brief_changes(previous_run, brief.story_id, lambda i=i: data_of(i), body.get("json"))
                                  if previous_run is not None else None)
                        for rel, content in brief_files([brief], run_id, formats, [change], [body])[0].items():
                            write_bytes(run_dir, rel,
                                        content if isinstance(content, bytes) else content.encode("utf-8"))
                    ids = file_ids(run_dir, brief.story_id, formats) if tracked else None
                    if ids is not None:
                        left.append((keys[i], ids))
                if left:
                    cache.put_many(FILES_KIND, left)

    @staticmethod
    def _link_as_left(run_dir: Path, previous_run: Path | None, story_id: str, formats: Sequence[str], ids: Any,
                      like: os.stat_result) -> bool:
        """Link a brief's files from `previous_run` when they have the identity `ids` (`pipeline.render.file_ids`:
        inode, size and modification time, as a run left them after writing or linking them for this brief and
        this code): they are those files, unchanged, so neither read nor checked again. A file that cannot be
        linked (another owner or permissions) is copied. False, and nothing linked, when one of them has another
        identity (edited, replaced, or written for another brief)."""
        from .render import file_ids

        if previous_run is None or not isinstance(ids, dict) or file_ids(previous_run, story_id, formats) != ids:
            return False
        for f in formats:
            RenderStep._link_or_copy(previous_run, run_dir, f"briefs/{story_id}.{f}", like)
        return True

    @staticmethod
    def _link_or_copy(previous_run: Path | None, run_dir: Path, relative: str, like: os.stat_result | None,
                      data: bytes | None = None) -> None:
        """The previous run's file `relative` hard-linked into `run_dir` (`pipeline.changes.link_file`); written
        where it cannot be (no `like`, another owner or permissions): `data`, or else that file's bytes."""
        from .changes import link_file

        if like is None or not link_file(f"{previous_run}/{relative}", f"{run_dir}/{relative}", like):
            if data is None:
                with open(f"{previous_run}/{relative}", "rb") as file:
                    data = file.read()
            write_bytes(run_dir, relative, data)

    def run_files(self, run_dir: Path, briefs: Sequence[Brief], run_id: str, ingested: IngestResult,
                  unsummarised: Sequence[dict[str, Any]] = ()) -> None:
        """index.md, written into `run_dir` (first: the files linked from the previous run must have its owner and
        permissions, `pipeline.changes.reuse_previous`)."""
        from .render import render_index

        write_text(run_dir, "index.md", render_index(briefs, run_id, len(ingested.documents), len(ingested.skipped),
                                                      unsummarised))

    def corpus_files(self, run_dir: Path, documents: Sequence[Document], dedup_result: DedupResult,
                     index: CorpusIndex, cache: Cache | None, dedup_key: str, previous_run: Path | None,
                     documents_key: str = "", background: ThreadPoolExecutor | None = None,
                     line_keys: Mapping[str, bytes] | None = None) -> Callable[[], None]:
        """dedup.json (`write_dedup_file`) and the sources of record (`pipeline.verify.write_sources`): files of the
        corpus, not of the briefs. With `background` (one thread), they are written there while this thread goes on
        (the briefs' files, the review pages: while it waits on the workers, and while the other writes and hashes
        files, both run); the cache is used from this thread only. Call the returned `finish()` (here, after
        index.md is written) to wait for them (what they raised is raised there) and keep dedup.json's SHA-256 in
        the cache. The sources' index (10,000 entries) is made on the thread every run and linked from the
        previous run when it has its bytes (`write_index`): made there, it costs this thread nothing. `line_keys`:
        `group_keys`, when the caller made them (for the review pages' keys too)."""
        key = self.dedup_file_key(dedup_key)
        known = self.known_sha(cache, key)

        def work() -> str:
            sha = self.write_dedup_file(run_dir, dedup_result, index, known, previous_run, documents_key, line_keys)
            # the text of record every citation points into; those unchanged linked from the previous run
            write_sources(run_dir, documents, lambda rel, _entries, make: self.write_index(run_dir, rel, make,
                                                                                            previous_run),
                          previous_run=previous_run, like=run_dir / "index.md")
            return sha

        pending = background.submit(work) if background is not None else None
        done = None if background is not None else work()

        def finish() -> None:
            sha = pending.result() if pending is not None else done
            if cache is not None and key is not None and known is None:
                cache.put(RUN_FILE_KIND, key, {"sha256": sha})

        return finish

    def write_index(self, run_dir: Path, relative: str, make: Callable[[], bytes], previous_run: Path | None) -> str:
        """A run file made whole (`make()`: sources/index.json), hard-linked from the previous run when that run's
        file has the same bytes (`link_or_write`), else written. Returns its SHA-256."""
        data = make()
        return self.link_or_write(run_dir, relative, hashlib.sha256(data).hexdigest(), lambda: data, previous_run)

    @staticmethod
    def dedup_file_key(dedup_key: str) -> str | None:
        """dedup.json's key (the cache keeps the SHA-256 of its bytes under it: `known_sha`): a function of the dedup
        result and the documents, which `dedup_key` (`DedupStep.key`) names, and of the code that writes it; None
        when `dedup_key` is ""."""
        return digest("dedup.json", dedup_key, code_fingerprint("pipeline.flow"), _dedup_lines_code()) \
            if dedup_key else None

    @staticmethod
    def group_keys(dedup_result: DedupResult, index: CorpusIndex, documents_key: str) -> dict[str, bytes]:
        """The key of each duplicate group's line in dedup.json, by group id, in the file's order (paragraph
        groups, then sentence groups: `pipeline.render.dedup_file.line_keys`): a hash of the group's content and
        of its members' documents, under `documents_key` and the code that writes the lines. The review pages' keys use them too
        (`pipeline.render.review._PageInputs`): made once a run for both."""
        from .render import dedup_file

        groups = (*dedup_result.paragraph_groups, *dedup_result.sentence_groups)
        keys = dedup_file.line_keys(groups, index, digest("dedup.json lines", _dedup_lines_code(), documents_key))
        return dict(zip([g.group_id for g in groups], keys, strict=True))

    def write_dedup_file(self, run_dir: Path, dedup_result: DedupResult, index: CorpusIndex, known: str | None,
                         previous_run: Path | None, documents_key: str = "",
                         line_keys: Mapping[str, bytes] | None = None) -> str:
        """dedup.json (70 MB at 10,000 articles); `known`: the SHA-256 the cache keeps for its key (`known_sha`), so
        the previous run's file is linked when it has those bytes (`link_or_write`). With `documents_key` (what the
        documents are a function of besides their bytes: `documents_key`), each group's line is keyed by its
        content, and the lines of the groups the previous run wrote alike are copied from its file
        (`pipeline.render.dedup_file`) instead of being made again; the index of the lines is written next to
        the file for the next run. Uses no cache (it may run on a thread of its own: `corpus_files`). Returns the
        file's SHA-256. `line_keys`: `group_keys` when the caller made them (else they are made here, when
        needed)."""
        from .render import dedup_file

        groups = (*dedup_result.paragraph_groups, *dedup_result.sentence_groups)
        lines: dedup_file.LineIndex | None = None
        previous: dedup_file.PreviousLines | None = None

        def make() -> Iterator[bytes]:
            nonlocal lines, previous
            if documents_key:
                keys = line_keys if line_keys is not None else self.group_keys(dedup_result, index, documents_key)
                lines = dedup_file.LineIndex(list(keys.values()))
                previous = dedup_file.PreviousLines(previous_run)
            return dedup_file.dedup_file_parts(groups, index, lines, previous)

        try:
            sha = self.link_or_write(run_dir, "dedup.json", known, make, previous_run)
        finally:
            if previous is not None:
                previous.close()
        if lines is not None:
            lines.save(run_dir / dedup_file.LINES_FILE, sha)
            log.info("dedup.json: %d of %d groups' lines copied from the previous run's", lines.reused, len(groups))
        elif documents_key:  # linked from the previous run: so is the index of its lines
            dedup_file.link_lines(previous_run, run_dir)
        return sha

    @staticmethod
    def known_sha(cache: Cache | None, key: str | None) -> str | None:
        """The SHA-256 of the run file made under `key`, as the cache keeps it (None: not known)."""
        known = cache.get(RUN_FILE_KIND, key) if cache is not None and key is not None else None
        sha = known.get("sha256") if isinstance(known, dict) else None
        return sha if isinstance(sha, str) else None

    @staticmethod
    def link_or_write(run_dir: Path, relative: str, known: str | None, make: Callable[[], bytes | Iterable[bytes]],
                      previous_run: Path | None) -> str:
        """The previous run's file hard-linked when it has the bytes whose SHA-256 is `known`
        (`pipeline.changes.reuse_previous`; index.md, written first, gives the permissions), else `make()`'s bytes
        written. `make` may give the bytes in pieces, written and hashed one by one (the whole file is then never
        held: dedup.json is 0.7 GB at 100,000 articles). Returns the file's SHA-256."""
        from .changes import reuse_previous

        if known is not None and reuse_previous(previous_run, run_dir, relative, known, run_dir / "index.md"):
            return known
        data = make()
        h = hashlib.sha256()

        def hashed() -> Iterator[bytes]:
            for piece in [data] if isinstance(data, bytes) else data:
                h.update(piece)
                yield piece

        write_bytes(run_dir, relative, hashed())
        return h.hexdigest()


RUN_FILE_KIND = "run_file"


def _dedup_lines_code() -> str:
    """The fingerprint of the code that makes dedup.json's lines."""
    return code_fingerprint("pipeline.corpus_index", "pipeline.render.dedup_file")


# --- the flow ---------------------------------------------------------------------------------------


def write_text(run_dir: Path, relative: str, text: str) -> None:
    write_bytes(run_dir, relative, text.encode("utf-8"))


def write_bytes(run_dir: Path, relative: str, data: bytes | Iterable[bytes]) -> None:
    """`data`: the bytes, or their pieces in order (written one by one)."""
    path = run_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            with path.open("wb") as f:
                for piece in data:
                    f.write(piece)
    except OSError as exc:  # issue 16: the runner's message (disk full) names the file
        if exc.filename is None:
            exc.filename = str(path)
        raise


def corpus_steps(documents: Sequence[Document], settings: Settings, cache: Cache, hooks: Hooks,
                 executor: Executor | None = None, previous_run: Path | None = None, run_dir: Path | None = None,
                 ) -> tuple[DedupResult, list[Story], bool]:
    """Dedup and stories, each reused from the cache when what it depends on is unchanged.

    `previous_run`: new documents join its stories when it kept a grouping state; `run_dir`: where
    this run's grouping state is written for the next run."""
    dedup_step, stories_step = DedupStep(), StoriesStep()
    dedup_key = dedup_step.key(documents, settings)
    # the dedup state is written on a thread of its own while stories are made (`DedupStep.across_runs`)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dedup-state") as writer:
        with hooks.stage(dedup_step.name):
            dedup_result, cached = dedup_step.across_runs(documents, settings, cache, dedup_key, previous_run,
                                                          run_dir, executor, writer)
        stories_key = stories_step.key(dedup_key, settings)
        with hooks.stage(stories_step.name):
            stories, state, from_cache = stories_step.across_runs(documents, dedup_result, settings, cache,
                                                                  stories_key, previous_run)
            cached = cached and from_cache
            if run_dir is not None and state is not None:
                from .story_join import STATE_FILE, save_state

                save_state(run_dir / STATE_FILE, state)
            dedup_step.written()
    return dedup_result, stories, cached


def _decoded_summary(value: Any, index: CorpusIndex, sources: dict[str, DocumentCited] | None = None,
                     ) -> tuple[Summary, str] | None:
    """A cached summary, or None when there is none or it no longer decodes (a miss). `sources`: see
    `_decoded_cited`."""
    if value is None:
        return None
    try:
        data = value["summary"]
        summary = decode(Summary, {**data, "sentences": ()})
        sentences = tuple(_decoded_cited(SummarySentence, s, index, sources) for s in data["sentences"])
        return replaced(summary, sentences=sentences), value["headline_fr"]
    except (KeyError, TypeError, ValueError):
        return None


def _encoded_text(text: StoryText, index: CorpusIndex) -> dict[str, Any]:
    """A story's summary, headline, quotes and translation plan as cached (one entry per story key), their
    citations as `_encoded_cited` keeps them."""
    sources: dict[str, DocumentCited] = {}
    summary = {**encode(dataclasses.replace(text.summary, sentences=())),
               "sentences": [_encoded_cited(s, index, sources) for s in text.summary.sentences]}
    return {"summary": summary, "headline_fr": text.headline_fr, "headline_lang": text.headline_lang,
            "quotes": [_encoded_cited(q, index, sources) for q in text.quotes], "needs": [list(n) for n in text.needs]}


def _encoded_cited(record: Any, index: CorpusIndex, sources: dict[str, DocumentCited]) -> dict[str, Any]:
    """A SummarySentence or Quote as cached. Each citation is kept as the id of the sentence it cites where the
    index cites that sentence alike (`CorpusIndex.cite`; the key says the cited documents are unchanged when
    it is read back), whole otherwise: citations (every copy of a sentence, with its text and context) are
    most of a summary's bytes, and a warm run reads back every story's."""
    data = encode(dataclasses.replace(record, citations=()))
    data["citations"] = [c.sid if c.sid in index.sentences and _cites_alike(index.cite(c.sid, sources), c)
                         else encode(c) for c in record.citations]
    return data


def _cites_alike(made: Citation, citation: Citation) -> bool:
    """`made == citation`, at once when they are the same record (a slice gives the citation it holds of a sentence
    of another document: `CorpusSlice.cite`)."""
    return made is citation or made == citation


def _decoded_cited(tp: type, data: dict[str, Any], index: CorpusIndex, sources: dict[str, DocumentCited] | None) -> Any:
    """Inverse of `_encoded_cited` (KeyError for a sentence no longer in the index). `sources`: the source
    texts of the story's documents made so far (`CorpusIndex.cite`), one dict per story."""
    record = decode(tp, {**data, "citations": ()})
    cite = index.cite
    return replaced(record, citations=tuple(
        [cite(c, sources) if c.__class__ is str else decode(Citation, c) for c in data["citations"]]))


def _decoded_text(story: Story, value: Any, index: CorpusIndex, sources: dict[str, DocumentCited] | None = None
                  ) -> StoryText | None:
    """The whole cached StoryText (summary, quotes, plan), or None when the entry holds only the summary
    (an older entry: the worker then extracts quotes and plans again) or no longer decodes. `sources`: see
    `CorpusIndex.cite`."""
    sources = {} if sources is None else sources
    hit = _decoded_summary(value, index, sources)
    if hit is None or not _whole(value):
        return None
    try:
        return StoryText(replaced(hit[0], story_id=story.story_id), hit[1],
                         tuple(_decoded_cited(Quote, q, index, sources) for q in value["quotes"]),
                         tuple(TranslationNeed(int(p), t, sl, tl) for p, t, sl, tl in value["needs"]),
                         value["headline_lang"])
    except (KeyError, TypeError, ValueError):
        return None


def _whole(value: Any) -> bool:
    """Whether a cached summary entry holds a whole StoryText (summary, quotes, plan): such a hit needs no worker
    (an older entry holds the summary only: the worker then extracts its quotes and plans again)."""
    return isinstance(value, dict) and "quotes" in value


def summarize_stories(stories: Sequence[Story], index: CorpusIndex, dedup_result: DedupResult, settings: Settings,
                      cache: Cache, executor: Executor, summarizer: Any, hooks: Hooks,
                      stats: FlowStats, by_doc: Mapping[str, list] | None = None) -> list[StoryText]:
    """Each story's StoryText: whole cache hits decoded here, the others made on the workers.

    The stories to summarise go to the workers in batches (`SUMMARIZE_FIRST` stories, then twice as many each
    time up to `SUMMARIZE_BATCH`), from a thread of this process that only waits on them, two batches at a time:
    the one the workers summarise, and the next, its inputs made. The first go
    before the cached entries are decoded here, and more go as decoding goes on, so that decoding (a +1% run
    decodes most of the stories) overlaps the workers' summaries instead of following them. A whole entry that
    no longer decodes is summarised with the last batches."""
    step = SummarizeStep()
    with hooks.stage(step.name):  # (the keys and the cache's answers too: a warm run's whole summarize stage)
        by_doc = by_doc if by_doc is not None else groups_by_document(dedup_result, index)
        fixed = step.fixed(settings)
        group_docs = docs_by_group(by_doc)
        keys = [step.key(s, index, by_doc, fixed, group_docs) for s in stories]
        found = cache.get_many("summary", keys)
        done: list[StoryText | None] = [None] * len(stories)
        whole = [i for i, k in enumerate(keys) if _whole(found.get(k))]
        todo = [i for i, k in enumerate(keys) if not _whole(found.get(k))]
        if not todo:  # (a warm run: the workers are needed only for an entry that no longer decodes)
            _decode_whole(whole, stories, keys, found, index, done, todo)
            whole = []
        if not todo:
            return [t for t in done if t is not None]
        # neural summarizers use their own threads: one worker
        workers = 1 if settings.summarize.backend != "extractive" else None
        with collector_paused(), executor.session(StoryContext(settings, summarizer), workers=workers) as session, \
                ThreadPoolExecutor(1, thread_name_prefix="summarize") as waiting:
            pending: deque[tuple[list[int], Future[list[tuple[StoryText, dict[str, Any]]]]]] = deque()
            sent = 0  # stories of `todo` sent so far
            size = SUMMARIZE_FIRST  # stories in the next batch

            def top_up() -> None:
                """Two batches with the workers (so at most two batches' slices held here at once)."""
                nonlocal sent, size
                while len(pending) < 2 and sent < len(todo):
                    batch = todo[sent:sent + size]
                    size = min(2 * size, SUMMARIZE_BATCH)
                    sent += len(batch)
                    # a summary-only hit (an older entry) is reused: the worker extracts its quotes and plan
                    hits = [_decoded_summary(found.get(keys[i]), index) for i in batch]
                    stats.summarize_calls += sum(1 for hit in hits if hit is None)
                    sources: dict[str, DocumentCited] = {}  # (the batch's: its stories share documents)
                    items = [story_input(stories[i], hit, index, by_doc, sources) for i, hit in zip(batch, hits)]
                    pending.append((batch, waiting.submit(step.run, session, items)))

            def collect(wait: bool) -> None:
                """The batches the workers have finished (waiting for the first with `wait`): kept and cached."""
                while pending and (wait or pending[0][1].done()):
                    batch, future = pending.popleft()
                    made = future.result()
                    for i, (text, _) in zip(batch, made):
                        done[i] = text
                    cache.put_many("summary", [(keys[i], entry) for i, (_, entry) in zip(batch, made)])
                    wait = False
                    top_up()

            top_up()
            for start in range(0, len(whole), SUMMARIZE_BATCH):  # (while the workers summarise)
                _decode_whole(whole[start:start + SUMMARIZE_BATCH], stories, keys, found, index, done, todo)
                collect(wait=False)
                top_up()
            while pending:
                collect(wait=True)
    return [t for t in done if t is not None]


def _decode_whole(which: Sequence[int], stories: Sequence[Story], keys: Sequence[str], found: Mapping[str, Any],
                  index: CorpusIndex, done: list[StoryText | None], todo: list[int]) -> None:
    """Decode the whole cache hits `which` (positions in `stories`) into `done`; one that no longer decodes joins
    `todo` (a miss)."""
    sources: dict[str, DocumentCited] = {}  # the documents cited, made once per SUMMARIZE_BATCH stories (bounded)
    with collector_paused():  # (80,000 citations at 10,000 articles, no reference cycle: see run_flow)
        for n, i in enumerate(which):
            if n % SUMMARIZE_BATCH == 0:
                sources = {}
            done[i] = _decoded_text(stories[i], found[keys[i]], index, sources)
            if done[i] is None:
                todo.append(i)


def _one_brief(story: Story, text: StoryText, translated: Mapping[tuple[str, str, str], str],
               untranslated: Mapping[tuple[str, str, str], str], index: CorpusIndex, dedup: DedupResult,
               engines: dict[str, str], engine_warnings: Sequence[str], failed: list[dict[str, str]], step: BriefStep,
               unsummarised: list[dict[str, Any]], readable: Sequence[str]) -> Brief | None:
    """The story's brief, or None: recorded in `failed` when its French->English summary could not be
    translated, in `unsummarised` when none of its articles is in a language read here (`readable`:
    French and summarize.fallback_languages), which is never an empty brief."""
    langs = sorted({index.documents[d].lang for d in story.doc_ids})
    if not text.summary.sentences and not set(langs) & set(readable):
        reason = (f"articles in {', '.join(langs)}: no offline route to French and English "
                  f"(summarize.fallback_languages: {', '.join(readable[1:])})")
        log.warning("story %s has no brief: %s", story.story_id, reason)
        unsummarised.append({"story_id": story.story_id, "files": [index.documents[d].path for d in story.doc_ids],
                             "reason": reason})
        return None
    jobs = [*text.headline_jobs(), *(("fr", "en", n.text) for n in text.needs
                                     if (n.source_lang, n.target_lang) == ("fr", "en"))]
    reasons = [untranslated[j] for j in jobs if j in untranslated]
    if reasons:
        log.error("story %s failed: %s", story.story_id, reasons[0])
        failed.append({"story_id": story.story_id, "reason": reasons[0]})
        return None
    return step.run(story, text, translated, index, dedup, engines, engine_warnings)


def _direction(source: str, target: str, engine: Translator, tctx: TranslateContext, settings: Settings
               ) -> tuple[Translator, Any]:
    """The engine of a direction and its identity (what its translations are a function of: the cache
    key); raises NoRoute. French->English is the configured engine, the others their route."""
    direct = engine if (source, target) == ("fr", "en") else tctx.router().engine_for(source, target)
    if (source, target) not in tctx.identities:
        tctx.identities[(source, target)] = {**translator_identity(direct, settings_dict(settings)["translate"],
                                                                   tctx.hashes),
                                             "direction": [source, target]}
    return direct, tctx.identities[(source, target)]


def documents_key(settings: Settings) -> str:
    """What every Document is a function of besides its bytes, place and extractor: the code and settings
    of ingest (as its cache keys them)."""
    return digest("documents", schema_fingerprint(), code_fingerprint("pipeline.ingest"),
                  package_versions(*INGEST_LIBRARIES), settings_dict(settings)["ingest"])


def direction_keys(engine: Translator, tctx: TranslateContext, settings: Settings) -> Callable[[str, str], str]:
    """(source, target) -> the identity of that direction's engine as text (or why there is none),
    each direction looked up once: what a review page's translations depend on."""
    from .translate import NoRoute

    known: dict[tuple[str, str], str] = {}

    def key(source: str, target: str) -> str:
        if (source, target) not in known:
            try:
                known[(source, target)] = repr(_direction(source, target, engine, tctx, settings)[1])
            except NoRoute as exc:
                known[(source, target)] = f"no route: {exc}"
        return known[(source, target)]

    return key


def translate_jobs(jobs: Sequence[tuple[str, str, str]], session: Session, engine: Translator, tctx: TranslateContext,
                   cache: Cache, settings: Settings, stats: FlowStats, progress: Callable[[int], None] | None = None,
                   meanwhile: Callable[[Mapping[tuple[str, str, str], str]], None] | None = None,
                   ) -> tuple[dict[tuple[str, str, str], str], dict[tuple[str, str, str], str]]:
    """Translate (source, target, text) jobs, one cached, pooled translator per direction.

    French->English goes through the configured engine; other directions through their route
    (`pipeline.translate.routes`). A direction with no route leaves its texts untranslated, with
    the reason; an engine that cannot work at all (EngineFailure) fails the run.

    Every direction's cached translations are looked up first. With `meanwhile`, the engines then translate the
    first batch of each direction's other texts (`PooledTranslator.start`), from a thread of this process that
    waits on them, while this thread calls `meanwhile(known)` with the translations known so far (the cached
    ones, and each text whose target is its source's language): the result holds them all, alike. The result's
    order is the order without `meanwhile` (direction by direction, as before).
    """
    from .translate import NoRoute

    step = TranslateStep()
    translated: dict[tuple[str, str, str], str] = {}
    untranslated: dict[tuple[str, str, str], str] = {}
    directions: dict[tuple[str, str], list[str]] = {}
    for source, target, text in jobs:
        if source == target:
            translated[(source, target, text)] = text
        else:
            directions.setdefault((source, target), []).append(text)
    known = dict(translated)  # (what `meanwhile` is given)
    # per direction, in order: the reason it has no route, or its translator, cached translations and texts to do
    found: list[tuple[str, str, Sequence[str], str | None, Any]] = []
    for (source, target), texts in sorted(directions.items()):
        try:
            direct, identity = _direction(source, target, engine, tctx, settings)
        except NoRoute as exc:
            found.append((source, target, texts, str(exc), None))
            continue
        pooled = PooledTranslator(session, direct.engine, source, target)
        translator = CachedTranslator(pooled, cache, identity)
        english, todo = step.cached(translator, texts, progress)
        known.update(((source, target, t), e) for t, e in english.items())
        found.append((source, target, texts, None, (pooled, translator, english, todo)))
    if meanwhile is not None:
        with ThreadPoolExecutor(1, thread_name_prefix="translate") as ahead:
            for *_, work in found:
                if work is not None and work[3]:
                    work[0].start(work[3][:TRANSLATE_BATCH], ahead)
            meanwhile(known)
        # (the engine calls started have ended here: those that follow are made one at a time, from this thread)
    del known
    for source, target, texts, no_route, work in found:  # (each direction's results in order, as made one by one)
        if work is None:
            untranslated.update(((source, target, t), no_route) for t in texts)
            continue
        _, translator, english, todo = work
        failed = step.translate_new(translator, english, todo, progress)
        translated.update(((source, target, t), e) for t, e in english.items())
        untranslated.update(((source, target, t), r) for t, r in failed.items())
        stats.translate_calls += translator.calls
        stats.translated_texts += translator.texts_translated
    return translated, untranslated


class StoryIdsStep:
    """Stories -> the same stories with ids stable across runs (`pipeline.story_ids`).

    The state (which documents each id holds) is kept in each run folder as `stories.json`
    and read back from the previous published run, so ids move only with `latest`.
    """

    name = "story_ids"
    file = "stories.json"

    def run(self, stories: Sequence[Story], documents: Sequence[Document], previous_run: Path | None,
            ) -> tuple[list[Story], Any]:
        from .story_ids import StoryState, assign_story_ids, document_key, load_story_state

        state = StoryState()
        if previous_run is not None and (previous_run / self.file).is_file():
            try:
                state = load_story_state(previous_run / self.file)
            except ValueError as exc:
                log.warning("story ids start afresh: %s", exc)
        return assign_story_ids(stories, {d.doc_id: document_key(d) for d in documents}, state)


def run_flow(corpus: Path, settings: Settings, *, cache: Cache, executor: Executor, engine: Translator,
             engine_warnings: Sequence[str], run_dir: Path, run_id: str, hooks: Hooks | None = None,
             previous_run: Path | None = None) -> FlowResult:
    """Every step, in order, for one corpus; files are written under `run_dir` (the runner's temporary folder).

    `previous_run` is the last published run folder: story ids continue from it, and each brief
    says what changed since it.

    The records that live to the end of the run (documents, index, dedup groups, stories) are moved
    out of the cyclic garbage collector's reach once made (`gc.freeze`): they hold no reference cycle,
    and every full collection would otherwise walk them again (a warm run's dedup stage took 3x
    longer at 10,000 articles). Reference counting still frees them; they are handed back to the
    collector when the flow ends.
    """
    try:
        with executor.run_scope():  # one pool of workers for the whole run (local: forked at its first use)
            return _run_flow(corpus, settings, cache=cache, executor=executor, engine=engine,
                             engine_warnings=engine_warnings, run_dir=run_dir, run_id=run_id, hooks=hooks,
                             previous_run=previous_run)
    finally:
        gc.unfreeze()


def _run_flow(corpus: Path, settings: Settings, *, cache: Cache, executor: Executor, engine: Translator,
              engine_warnings: Sequence[str], run_dir: Path, run_id: str, hooks: Hooks | None,
              previous_run: Path | None) -> FlowResult:
    from .summarize import make_summarizer

    hooks = hooks or NoHooks()
    stats = FlowStats()
    warnings: list[str] = []

    # ingest
    log.info("ingest: reading %s", corpus)
    ingest_step = IngestStep()
    with hooks.stage(ingest_step.name), hooks.bar("ingest", None, "file") as bar:
        def advance(done: int, total: int) -> None:
            if done == 0:
                bar.total = total
                bar.refresh()
            else:
                bar.update(1)

        # never read the tool's own outputs back (the runner also refuses an --out inside the corpus)
        with collector_paused():  # (the corpus's records: see run_flow)
            ingested = ingest_step.run(corpus, settings, cache, advance, exclude=(run_dir.parent.parent,),
                                       executor=executor)
            # the corpus: see run_flow. Frozen before the collector is back on, whose first collection would
            # otherwise walk every record made meanwhile, all of them still in its youngest generation
            # (0.17 s of a +1% or warm run's ingest at 10,000 articles)
            gc.freeze()
    for s in ingested.skipped:
        log.warning("skipped %s: %s", s.path, s.reason)
    documents = ingested.documents
    log.info("ingest: %d documents, %d paragraphs, %d skipped", len(documents),
             sum(len(d.paragraphs) for d in documents), len(ingested.skipped))
    if not documents and not ingested.skipped:
        w = f"no {'/'.join(settings.ingest.extensions)} files found under {corpus}"
        log.warning("%s", w)
        warnings.append(w)

    # dedup, stories
    dedup_result, stories, cached = corpus_steps(documents, settings, cache, hooks, executor, previous_run,
                                                 run_dir)
    index = CorpusIndex.build(documents)  # (after dedup, whose peak is the run's: it reads no index)
    gc.freeze()  # its groups and stories, the index
    log.info("dedup: %d paragraph groups, %d sentence groups%s", len(dedup_result.paragraph_groups),
             len(dedup_result.sentence_groups), " (cached)" if cached else "")
    with hooks.stage(StoryIdsStep.name):
        stories, story_state = StoryIdsStep().run(stories, documents, previous_run)
    log.info("stories: %d", len(stories))

    # summarize (+ quotes), per story, on the workers
    summarizer = make_summarizer(settings.summarize, threads=settings.translate.threads,
                                 device=settings.translate.device)
    by_doc = groups_by_document(dedup_result, index)
    texts = summarize_stories(stories, index, dedup_result, settings, cache, executor, summarizer, hooks, stats,
                              by_doc)
    gc.freeze()  # the summaries (80,000 citations at 10,000 articles), read until the briefs are made: see run_flow

    # translate: every text of every story, in batches across stories, per direction
    engines = {"translator": engine.engine}
    jobs = list(dict.fromkeys(j for t in texts for j in t.jobs()))
    slow = float(os.environ.get(SLOW_TRANSLATE_ENV) or 0)
    # Apertium is rebuilt in each worker from the settings; a model-backed engine uses its own threads here
    from .translate.apertium import ApertiumTranslator

    neural = not isinstance(engine, ApertiumTranslator)
    tctx = TranslateContext(settings.translate, slow=slow, prebuilt=engine, hashes=cache)
    # the session (workers and their engines) lives on for the review pages; the stage is timed on its own
    with executor.session(tctx, workers=1 if neural else None) as session:
        briefs: list[Brief] = []
        failed: list[dict[str, str]] = []
        unsummarised: list[dict[str, Any]] = []
        readable = ["fr", *settings.summarize.fallback_languages]
        brief_step, render_step = BriefStep(), RenderStep()
        # the stories' briefs made while the engine translates the texts not cached: (brief or None, what it adds to
        # `failed`, to `unsummarised`) by the story's position
        made: dict[int, tuple[Brief | None, list[dict[str, str]], list[dict[str, Any]]]] = {}

        def brief_of(i: int, translated: Mapping[tuple[str, str, str], str],
                     untranslated: Mapping[tuple[str, str, str], str]
                     ) -> tuple[Brief | None, list[dict[str, str]], list[dict[str, Any]]]:
            story_failed: list[dict[str, str]] = []
            story_unsummarised: list[dict[str, Any]] = []
            brief = _one_brief(stories[i], texts[i], translated, untranslated, index,
                               story_dedup(story_groups(stories[i], by_doc)), engines, engine_warnings, story_failed,
                               brief_step, story_unsummarised, readable)
            return brief, story_failed, story_unsummarised

        def early_briefs(known: Mapping[tuple[str, str, str], str]) -> None:
            """The briefs of the stories whose texts are all translated already (`known`: from the cache), while the
            engine translates the others' (a +1% run: most stories); the same briefs as made after it (a brief reads
            the translations of its story's texts only, and none of them changes). Timed with translate (its wait
            on the engine); with the cyclic collector off (see below)."""
            with collector_paused():
                for i, (_, text) in enumerate(zip(stories, texts)):
                    if all(j in known for j in text.jobs()):
                        made[i] = brief_of(i, known, {})

        log.info("translate: %d distinct texts for %d stories", len(jobs), len(texts))
        with hooks.stage(TranslateStep.name), hooks.bar("translate", len(jobs), "text") as bar:
            translated, untranslated = translate_jobs(jobs, session, engine, tctx, cache, settings, stats, bar.update,
                                                      meanwhile=early_briefs)

        # briefs, in the stories' order (those made above as they are), timed once for all stories (a stage's clock
        # reads the workers' CPU at each start and end), and with the cyclic collector off: the briefs hold no
        # reference cycle, and its collections walked the briefs made so far (with the summaries frozen above, the
        # stage's CPU at 10,000 articles went from 0.5 s to 0.4 s)
        with hooks.bar("briefs", len(stories), "story") as bar, hooks.stage(brief_step.name), collector_paused():
            for i, (story, _) in enumerate(zip(stories, texts)):
                bar.update(1)
                brief, story_failed, story_unsummarised = made.pop(i) if i in made else \
                    brief_of(i, translated, untranslated)
                failed.extend(story_failed)
                unsummarised.extend(story_unsummarised)
                if brief is None:
                    continue
                briefs.append(brief)
                log.info("brief %s: %d sentences, %d sources", story.story_id, len(brief.summary),
                         len(brief.sources))
        del texts, jobs, translated, untranslated, by_doc  # in the briefs now; not held through render and review

        # On threads of their own (each waits, or runs while the other waits): dedup.json and the sources, from
        # the start of render to its end (`RenderStep.corpus_files`); the review pages, rendered by the workers
        # while this thread writes the briefs' files (`pipeline.render.review.start_review_site`).
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pipeline-corpus-files") as background:
            with hooks.stage(render_step.name):
                from .render import brief_digest

                render_step.run_files(run_dir, briefs, run_id, ingested, unsummarised)
                # each duplicate group's key: of its line in dedup.json, and part of the review pages' keys
                line_keys = render_step.group_keys(dedup_result, index, documents_key(settings))
                corpus_files = render_step.corpus_files(run_dir, documents, dedup_result, index, cache,
                                                        DedupStep().key(documents, settings), previous_run,
                                                        documents_key(settings), background, line_keys)
                digests = [brief_digest(b) for b in briefs]  # the key of what each brief's files and page are made of

            # review site: cited paragraphs side by side in English, each distinct sentence translated once,
            # and only for the pages not in the cache
            with hooks.stage("review"):
                from .render.review import start_review_site

                def review_translate(review: list[tuple[str, str, str]]) -> dict[tuple[str, str, str], str]:
                    log.info("review: %d distinct sentences to translate for the pages not cached", len(review))
                    done, review_failed = translate_jobs(review, session, engine, tctx, cache, settings, stats)
                    if review_failed:
                        w = f"review pages: {len(review_failed)} sentence(s) of cited paragraphs left untranslated: " \
                            f"{next(iter(review_failed.values()))}"
                        log.warning("%s", w)
                        warnings.append(w)
                    return done

                if settings.output.review_english == "cited":
                    log.info("review pages: only the sentences they mark (citations and their copies) are translated; "
                             "the others are shown in their own language, in grey (output.review_english: all "
                             "translates every sentence)")
                review_site = start_review_site(
                    run_dir, briefs, index, dedup_result, run_id, translate=review_translate,
                    direction_key=direction_keys(engine, tctx, settings), cache=cache,
                    english=settings.output.review_english, documents_key=documents_key(settings),
                    digests=digests if settings.cache.enabled else (),
                    # pages unchanged since the previous run are linked, unless nothing is to be reused
                    previous_run=previous_run if settings.cache.enabled else None, pages_map=session.map,
                    background=True, group_keys=line_keys)

            with hooks.stage(render_step.name):
                render_step.write_briefs(run_dir, briefs, run_id, settings, previous_run, cache, digests)
                from .story_ids import save_story_state

                save_story_state(run_dir / StoryIdsStep.file, story_state)
            with hooks.stage("review"):
                review_site()  # (waits for the pages: the time they took beyond the briefs' files is review's)
            with hooks.stage(render_step.name):
                corpus_files()  # (waits for the thread: its time not spent while the others ran is render's)
    if unsummarised:
        warnings.append(f"{len(unsummarised)} stor{'ies' if len(unsummarised) > 1 else 'y'} in languages with no "
                        "offline route got no brief (listed in index.md and the manifest)")
    return FlowResult(ingested, index, dedup_result, list(stories), briefs, failed, warnings, stats, engines,
                      unsummarised)


def summarize_documents(documents: Sequence[Document], settings: Settings, *, summarizer: Any = None,
                        executor: Executor | None = None, cache: Cache | None = None) -> list[StoryText]:
    """Dedup, stories and summaries of some documents, exactly as a run makes them (used by `eval`)."""
    from .cache import NullCache
    from .executors.local import LocalExecutor
    from .summarize import make_summarizer

    cache = cache or NullCache()
    hooks = NoHooks()
    index = CorpusIndex.build(documents)
    dedup_result, stories, _ = corpus_steps(documents, settings, cache, hooks)
    summarizer = summarizer or make_summarizer(settings.summarize, threads=settings.translate.threads,
                                               device=settings.translate.device)
    return summarize_stories(stories, index, dedup_result, settings, cache, executor or LocalExecutor(1),
                             summarizer, hooks, FlowStats())


@dataclass
class InProcessBriefs:
    briefs: list[Brief]
    index: CorpusIndex
    dedup: DedupResult


def briefs_in_process(documents: Sequence[Document], settings: Settings, translator: Translator,
                      ) -> InProcessBriefs:
    """The briefs of some documents through the flow's steps, in this process, with no cache (tests, tools)."""
    index = CorpusIndex.build(documents)
    texts = summarize_documents(documents, settings)
    dedup_result, stories, _ = corpus_steps(documents, settings, _null_cache(), NoHooks())
    jobs = list(dict.fromkeys(j for t in texts for j in t.jobs()))  # the translator stands in for every direction
    translated = dict(zip(jobs, translator.translate([text for _, _, text in jobs])))
    step, by_doc = BriefStep(), groups_by_document(dedup_result, index)
    briefs = [step.run(story, text, translated, index, story_dedup(story_groups(story, by_doc)),
                       {"translator": translator.engine}, [])
              for story, text in zip(stories, texts)]
    return InProcessBriefs(briefs, index, dedup_result)


def _null_cache() -> Cache:
    from .cache import NullCache

    return NullCache()
