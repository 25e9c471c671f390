"""FR->EN with a MarianMT model (e.g. Helsinki-NLP/opus-mt-fr-en) through transformers.

Weights are loaded from safetensors only, never with remote code. Inputs longer
than `max_input_tokens` are cut on sentence boundaries (see `chunking`), the
pieces translated and their translations joined with a space: nothing is
truncated. Pieces are batched by length (longest first); outputs come back in
input order. An empty or blank input gives "" without running the model.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Sequence

from pipeline.models import ModelError, resolve_model, select_torch_device
from pipeline.translate import TranslationError
from pipeline.translate.chunking import RunStats, length_sorted_batches, plan_chunks

# Upper bound on generated tokens per piece when the model does not say otherwise.
_DEFAULT_MAX_POSITIONS = 512


def output_budget(input_tokens: int, max_positions: int) -> int:
    """Tokens a translation of an input of this length may use, its end token included:
    1.5x the input plus 10, within the model's positions.

    Applied per piece: a batch generates up to its longest piece's budget and every
    piece keeps at most `budget - 1` tokens before its end token. With greedy
    decoding that is exactly what the piece would get alone, and transformers
    (which forces the end token at the last step) and CTranslate2 agree.
    """
    return max(8, min(max_positions - 1, int(1.5 * input_tokens) + 10))


class MarianTranslator:
    """`Translator` backed by transformers' MarianMTModel."""

    def __init__(
        self,
        model_path: str | Path,
        *,
        batch_size: int = 16,
        threads: int = 0,
        device: str = "auto",
        beam_size: int = 1,
        max_input_tokens: int = 256,
    ) -> None:
        import torch
        import transformers
        from transformers import AutoTokenizer, MarianMTModel

        resolved = resolve_model(str(model_path))
        if not resolved.usable or resolved.local_path is None:
            raise TranslationError(f"translate.model {str(model_path)!r}: {resolved.reason}")
        try:
            self.device = select_torch_device(device, setting="translate.device")
        except ModelError as exc:
            raise TranslationError(str(exc)) from None
        if threads > 0:
            torch.set_num_threads(threads)

        self.model_path = resolved.local_path
        self.batch_size = batch_size
        self.beam_size = beam_size
        self.warnings: tuple[str, ...] = ()
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                self.tokenizer: Any = AutoTokenizer.from_pretrained(str(self.model_path))
            if any("sacremoses" in str(w.message) for w in caught):
                self.warnings = (
                    "sacremoses is not installed: Marian's punctuation normalisation is skipped "
                    "(pip install sacremoses to match how the model was trained)",
                )
            self.model: Any = MarianMTModel.from_pretrained(str(self.model_path), use_safetensors=True)
        except Exception as exc:
            raise TranslationError(
                f"cannot load the Marian model in {self.model_path} ({type(exc).__name__}: {exc}); "
                "translate.model must be a MarianMT folder (config.json, model.safetensors, "
                "vocab.json, source.spm, target.spm)"
            ) from exc
        self.model.to(self.device).eval()
        self.max_positions = int(getattr(self.model.config, "max_position_embeddings", _DEFAULT_MAX_POSITIONS))
        # The encoder cannot read more positions than it has, whatever the config says.
        self.max_input_tokens = min(max_input_tokens, self.max_positions)
        decoding = "greedy" if beam_size == 1 else f"beam {beam_size}"
        self.engine = f"marian {resolved.label} (transformers {transformers.__version__}, {self.device}, fp32, {decoding})"
        self.last_stats = RunStats(0, 0, 0, ())

    def count_tokens(self, text: str) -> int:
        """Tokens the encoder sees for `text`, the end-of-sentence token included."""
        return len(self.tokenizer(text)["input_ids"])

    def translate(self, texts: Sequence[str]) -> list[str]:
        import torch

        plan = plan_chunks(texts, self.count_tokens, self.max_input_tokens, lang="fr")
        if not plan.pieces:
            self.last_stats = RunStats(len(texts), 0, 0, ())
            return [""] * len(texts)
        ids: list[list[int]] = self.tokenizer(list(plan.pieces))["input_ids"]
        outputs = [""] * len(plan.pieces)
        batch_lengths: list[tuple[int, ...]] = []
        for batch in length_sorted_batches([len(x) for x in ids], self.batch_size):
            lengths = tuple(len(ids[i]) for i in batch)
            batch_lengths.append(lengths)
            enc = self.tokenizer.pad({"input_ids": [ids[i] for i in batch]}, return_tensors="pt")
            enc = {k: v.to(self.device) for k, v in enc.items()}
            try:
                with torch.inference_mode():
                    generated = self.model.generate(
                        **enc,
                        num_beams=self.beam_size,
                        do_sample=False,
                        # A non-empty input never translates to nothing (CTranslate2's default too).
                        min_new_tokens=1,
                        max_new_tokens=output_budget(max(lengths), self.max_positions),
                    )
            except RuntimeError as exc:  # out of memory included
                raise TranslationError(
                    f"{self.engine}: generation failed on a batch of {len(batch)} pieces "
                    f"({type(exc).__name__}: {exc}); if memory ran out, lower translate.batch_size "
                    "or translate.max_input_tokens"
                ) from exc
            # Column 0 is the decoder start token; each piece keeps at most budget - 1 tokens
            # after it, so its translation does not depend on which pieces share its batch.
            rows = [generated[r, : output_budget(len(ids[i]), self.max_positions)] for r, i in enumerate(batch)]
            for i, text in zip(batch, self.tokenizer.batch_decode(rows, skip_special_tokens=True)):
                outputs[i] = text
        self.last_stats = RunStats(len(texts), len(plan.pieces), plan.split_inputs, tuple(batch_lengths))
        return plan.join(outputs)
