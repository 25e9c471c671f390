"""French summarizers: `extractive` (default) and `seq2seq` (extract, then abstract).

`make_summarizer(settings)` returns an object with `engine` and
`summarize(story, index, dedup_result) -> Summary`. The seq2seq model is
loaded on the first `summarize` call, so a run whose summaries all come from
the cache never loads it; `check_available(settings)` tells up front whether
the configured model is there at all.
"""

from __future__ import annotations

from typing import Protocol

from ..config import SummarizeSettings
from ..corpus_index import CorpusIndex
from ..model import Citation, DedupResult, Sentence, Story, Summary
from . import extractive
from .seq2seq import SummarizeError, abstractive_summary

__all__ = ["SummarizeError", "Summarizer", "check_available", "make_summarizer"]


class Summarizer(Protocol):
    engine: str

    def summarize(self, story: Story, index: CorpusIndex, dedup_result: DedupResult) -> Summary: ...


class ExtractiveSummarizer:
    def __init__(self, settings: SummarizeSettings) -> None:
        self.settings = settings
        self.engine = extractive.ENGINE

    def summarize(self, story: Story, index: CorpusIndex, dedup_result: DedupResult) -> Summary:
        return extractive.summarize_story(story, index, dedup_result, self.settings)


class AbstractiveSummarizer:
    """Extract-then-abstract: the extractive selection is rewritten by a seq2seq model.

    Each generated sentence cites the selected source sentences that support
    it, with every source that reports the same fact (the extractive
    sentence's citations); weak support is flagged or dropped per
    `summarize.weak_support`.
    """

    def __init__(self, settings: SummarizeSettings, threads: int = 0, device: str = "auto") -> None:
        self.settings = settings
        self.threads = threads
        self.device = device
        self.engine = f"seq2seq {settings.model} (extract-then-abstract)"
        self._generator = None

    def _load(self):  # noqa: ANN202 - returns a Seq2SeqGenerator
        if self._generator is None:
            from .seq2seq import Seq2SeqGenerator

            self._generator = Seq2SeqGenerator(
                self.settings.model, max_input_tokens=self.settings.max_input_tokens,
                max_new_tokens=self.settings.max_new_tokens, batch_size=self.settings.batch_size,
                threads=self.threads, device=self.device,
            )
            self.engine = f"{self._generator.engine}, extract-then-abstract"
        return self._generator

    def summarize(self, story: Story, index: CorpusIndex, dedup_result: DedupResult) -> Summary:
        extracted = extractive.summarize_story(story, index, dedup_result, self.settings)
        by_sid: dict[str, tuple[Citation, ...]] = {s.citations[0].sid: s.citations for s in extracted.sentences}
        selected: list[Sentence] = [index.sentences[sid] for sid in by_sid]

        def cite(sentence: Sentence) -> tuple[Citation, ...]:
            return by_sid[sentence.sid]

        generator = self._load()
        sentences = abstractive_summary(
            selected, cite, generator, min_support=self.settings.min_support,
            weak_support=self.settings.weak_support,
        )
        return Summary(story.story_id, tuple(sentences), self.engine)


def check_available(settings: SummarizeSettings) -> str | None:
    """Why the configured summarizer cannot run here, or None when it can."""
    if settings.backend == "extractive":
        return None
    from ..models import resolve_model

    resolved = resolve_model(settings.model)
    if resolved.usable:
        return None
    return (
        f"summarize.model {settings.model!r} is not available locally ({resolved.reason}); "
        "run 'python -m pipeline models pull' where a model hub is reachable, set summarize.model to a "
        "local folder, or use summarize.backend: extractive"
    )


def make_summarizer(settings: SummarizeSettings, *, threads: int = 0, device: str = "auto") -> Summarizer:
    if settings.backend == "seq2seq":
        return AbstractiveSummarizer(settings, threads=threads, device=device)
    return ExtractiveSummarizer(settings)
