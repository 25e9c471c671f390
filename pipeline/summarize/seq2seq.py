"""Abstractive French summaries with a transformers seq2seq model (e.g. BARThez).

Two parts:

- `Seq2SeqGenerator`: text in, generated text out, batched by length. An input
  longer than `max_input_tokens` is cut on sentence boundaries into pieces
  under budget (shared `pipeline.translate.chunking`); each piece is
  summarized and the piece summaries are concatenated, in order, with a space.
  Nothing is truncated.
- `abstractive_summary`: extract-then-abstract. The extractive summarizer has
  chosen source sentences; their text goes to the generator, and every
  generated sentence is attributed to the source sentences that support it
  (content-word recall, see `support_scores`). Weakly supported sentences are
  flagged or dropped, never silently kept.

Weights are loaded from safetensors only, never with remote code.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Literal, Protocol, Sequence

import sentencex

from pipeline.model import Citation, Sentence, SummarySentence
from pipeline.models import ModelError, resolve_model, select_torch_device
from pipeline.translate.chunking import RunStats, length_sorted_batches, plan_chunks


class SummarizeError(Exception):
    """A summarizer could not run; the message says what to do."""


class TextGenerator(Protocol):
    """What `abstractive_summary` needs: one generated text per input, in order."""

    engine: str

    def generate(self, inputs: Sequence[str]) -> list[str]: ...


class Seq2SeqGenerator:
    """`TextGenerator` backed by AutoModelForSeq2SeqLM + AutoTokenizer."""

    def __init__(
        self,
        model_path: str | Path,
        *,
        max_input_tokens: int = 512,
        max_new_tokens: int = 96,
        batch_size: int = 4,
        threads: int = 0,
        device: str = "auto",
    ) -> None:
        import torch
        import transformers
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        resolved = resolve_model(str(model_path))
        if not resolved.usable or resolved.local_path is None:
            raise SummarizeError(f"summarize.model {str(model_path)!r}: {resolved.reason}")
        try:
            self.device = select_torch_device(device, setting="the summarizer device")
        except ModelError as exc:
            raise SummarizeError(str(exc)) from None
        if threads > 0:
            torch.set_num_threads(threads)
        self.model_path = resolved.local_path
        try:
            self.tokenizer: Any = AutoTokenizer.from_pretrained(str(self.model_path))
            self.model: Any = AutoModelForSeq2SeqLM.from_pretrained(str(self.model_path), use_safetensors=True)
        except Exception as exc:
            raise SummarizeError(
                f"cannot load the seq2seq model in {self.model_path} ({type(exc).__name__}: {exc}); "
                "summarize.model must be a transformers encoder-decoder folder with safetensors weights"
            ) from exc
        self.model.to(self.device).eval()
        positions = getattr(self.model.config, "max_position_embeddings", None)
        # The encoder cannot read more positions than it has, whatever the config says.
        self.max_input_tokens = min(max_input_tokens, positions) if positions else max_input_tokens
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        beams = int(getattr(self.model.generation_config, "num_beams", 1) or 1)
        decoding = "greedy" if beams == 1 else f"beam {beams}"
        self.engine = f"seq2seq {resolved.label} (transformers {transformers.__version__}, {self.device}, {decoding})"
        self.last_stats = RunStats(0, 0, 0, ())

    def count_tokens(self, text: str) -> int:
        """Tokens the encoder sees for `text`, special tokens included."""
        return len(self.tokenizer(text)["input_ids"])

    def generate(self, inputs: Sequence[str]) -> list[str]:
        """One generated text per input, in input order; "" for a blank input."""
        import torch

        plan = plan_chunks(inputs, self.count_tokens, self.max_input_tokens, lang="fr")
        if not plan.pieces:
            self.last_stats = RunStats(len(inputs), 0, 0, ())
            return [""] * len(inputs)
        ids: list[list[int]] = self.tokenizer(list(plan.pieces))["input_ids"]
        outputs = [""] * len(plan.pieces)
        batch_lengths: list[tuple[int, ...]] = []
        for batch in length_sorted_batches([len(x) for x in ids], self.batch_size):
            batch_lengths.append(tuple(len(ids[i]) for i in batch))
            enc = self.tokenizer.pad({"input_ids": [ids[i] for i in batch]}, return_tensors="pt")
            enc = {k: v.to(self.device) for k, v in enc.items()}
            try:
                with torch.inference_mode():
                    generated = self.model.generate(**enc, do_sample=False, max_new_tokens=self.max_new_tokens)
            except RuntimeError as exc:  # out of memory included
                raise SummarizeError(
                    f"{self.engine}: generation failed on a batch of {len(batch)} inputs "
                    f"({type(exc).__name__}: {exc}); if memory ran out, lower summarize.batch_size "
                    "or summarize.max_input_tokens"
                ) from exc
            for i, text in zip(batch, self.tokenizer.batch_decode(generated, skip_special_tokens=True)):
                outputs[i] = text
        self.last_stats = RunStats(len(inputs), len(plan.pieces), plan.split_inputs, tuple(batch_lengths))
        return plan.join(outputs)


# --- attribution of generated text -------------------------------------------------

_WORD = re.compile(r"\w+")
# Elided forms that `\w+` cuts off apostrophes ("jusqu’à", "lorsqu’il").
_ELISIONS = {"jusqu", "lorsqu", "puisqu", "quoiqu", "presqu", "quelqu"}


@lru_cache(maxsize=1)
def _french_stop_words() -> frozenset[str]:
    from stop_words import get_stop_words

    return frozenset(w.lower() for w in get_stop_words("french")) | _ELISIONS


@lru_cache(maxsize=1)
def _french_stemmer() -> Any:
    import snowballstemmer

    return snowballstemmer.stemmer("french")


def content_words(text: str) -> frozenset[str]:
    """Stemmed French content words of `text`: lowercase `\\w+` tokens (accents kept),
    stop words and single letters removed, Snowball-stemmed. Numbers are kept."""
    stop = _french_stop_words()
    words = [w for w in _WORD.findall(text.lower()) if w not in stop and (len(w) > 1 or w.isdigit())]
    return frozenset(_french_stemmer().stemWords(words))


def support_scores(generated: str, sources: Sequence[str]) -> list[float]:
    """For each source: share of the generated sentence's content words found in it (recall)."""
    wanted = content_words(generated)
    if not wanted:
        return [0.0] * len(sources)
    return [len(wanted & content_words(s)) / len(wanted) for s in sources]


def attribute(
    generated: str, sources: Sequence[str], *, min_support: float, min_gain: float = 0.2
) -> tuple[list[int], float]:
    """Which sources support `generated`, best first, and the combined support.

    Supporters are every source whose own recall reaches `min_support` (at least
    the best one, if it shares any content word). A generated sentence that fuses
    several sources is then completed greedily: a further source joins when it
    adds at least `min_gain` of the sentence's content words not yet covered.
    The support is the recall of the sentence's content words in the union of the
    supporters. No content word in common: no supporter, support 0.
    """
    wanted = content_words(generated)
    if not wanted or not sources:
        return [], 0.0
    source_words = [content_words(s) for s in sources]
    scores = [len(wanted & words) / len(wanted) for words in source_words]
    ranked = sorted(range(len(sources)), key=lambda j: (-scores[j], j))
    chosen = [j for j in ranked if scores[j] >= min_support]
    if not chosen and scores[ranked[0]] > 0:
        chosen = [ranked[0]]
    if not chosen:
        return [], 0.0
    covered: set[str] = set()
    for j in chosen:
        covered |= wanted & source_words[j]
    while len(covered) < len(wanted):
        rest = [j for j in ranked if j not in chosen]
        if not rest:
            break
        gains = {j: len((wanted & source_words[j]) - covered) for j in rest}
        best = max(rest, key=lambda j: gains[j])  # first of the best in ranked order
        if gains[best] == 0 or gains[best] / len(wanted) < min_gain:
            break
        chosen.append(best)
        covered |= wanted & source_words[best]
    return chosen, len(covered) / len(wanted)


def _citations(cited: Sequence[Sentence], cite: Callable[[Sentence], Citation | Sequence[Citation]]) -> tuple[Citation, ...]:
    out: list[Citation] = []
    seen: set[tuple[str, str]] = set()
    for sentence in cited:
        got = cite(sentence)
        for citation in (got,) if isinstance(got, Citation) else got:
            key = (citation.file, citation.sid)
            if key not in seen:
                seen.add(key)
                out.append(citation)
    return tuple(out)


def abstractive_summary(
    selected: Sequence[Sentence],
    cite: Callable[[Sentence], Citation | Sequence[Citation]],
    generator: TextGenerator,
    *,
    min_support: float = 0.35,
    weak_support: Literal["flag", "drop"] = "flag",
    min_gain: float = 0.2,
    lang: str = "fr",
) -> list[SummarySentence]:
    """Extract-then-abstract: rewrite the selected source sentences, cite what supports each result.

    `selected` are the extractive summarizer's sentences, in the order they should
    be read; their texts, joined by spaces, are the generator's single input.
    `cite(sentence)` gives the citation(s) for a source sentence (return several to
    credit every source that carries the same sentence; duplicates are removed).

    Each generated sentence (sentencex split) becomes a `SummarySentence` whose
    citations are its supporters (see `attribute`), best first, and whose
    `support` is the combined score. Below `min_support` it is flagged
    (`weak_support="flag"`) or left out (`"drop"`). A sentence sharing no content
    word with the sources has support 0 and no citation: it is flagged or
    dropped, never kept as if supported.
    """
    if weak_support not in ("flag", "drop"):
        raise ValueError(f"weak_support must be 'flag' or 'drop', got {weak_support!r}")
    if not selected:
        return []
    source_text = " ".join(s.text.strip() for s in selected if s.text.strip())
    generated = generator.generate([source_text])
    if len(generated) != 1:
        raise SummarizeError(f"{generator.engine}: expected one output for one input, got {len(generated)}")
    sources = [s.text for s in selected]
    result: list[SummarySentence] = []
    for piece in sentencex.segment(lang, generated[0]):
        text = " ".join(piece.split())
        if not text:
            continue
        chosen, support = attribute(text, sources, min_support=min_support, min_gain=min_gain)
        weak = support < min_support
        if weak and weak_support == "drop":
            continue
        result.append(
            SummarySentence(
                text_fr=text,
                citations=_citations([selected[j] for j in chosen], cite),
                support=round(support, 4),
                flagged=weak,
            )
        )
    return result
