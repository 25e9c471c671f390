"""FR->EN with a CTranslate2 conversion of a MarianMT model: the fast CPU path.

Threading follows MEASUREMENTS.md: `inter_threads` = cores (one model replica
per core) and `intra_threads=1`; the pieces go to CTranslate2 in one call,
sorted by length and cut into sub-batches (`max_batch_size`,
`batch_type="examples"`) that the replicas translate in parallel. Long inputs
are chunked exactly as in `MarianTranslator` (shared `chunking` module);
nothing is truncated (`max_input_length=0`). CT2_USE_MKL is never set here.

Make the model folder with `pipeline.models.convert_to_ct2`; it carries the
tokenizer files, so `tokenizer_path` may be left out.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Sequence

from pipeline.models import is_ct2_model_dir
from pipeline.translate import TranslationError
from pipeline.translate.chunking import RunStats, length_sorted_batches, plan_chunks
from pipeline.translate.marian import output_budget

_MAX_POSITIONS = 512  # Marian's positional table; bounds the output length


def _available_cores() -> int:
    """Cores this process may run on (the affinity mask, which containers narrow), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class CT2Translator:
    """`Translator` backed by `ctranslate2.Translator`."""

    def __init__(
        self,
        ct2_dir: str | Path,
        tokenizer_path: str | Path | None = None,
        *,
        compute_type: str = "int8",
        batch_size: int = 16,
        threads: int = 0,
        device: str = "auto",
        beam_size: int = 1,
        max_input_tokens: int = 256,
    ) -> None:
        import ctranslate2
        from transformers import AutoTokenizer

        self.ct2_dir = Path(ct2_dir)
        if not is_ct2_model_dir(self.ct2_dir):
            raise TranslationError(
                f"translate.ct2_model: {self.ct2_dir} is not a CTranslate2 model folder (no model.bin); "
                "convert the model first (pipeline.models.convert_to_ct2) or point translate.ct2_model at one"
            )
        tok_dir = Path(tokenizer_path) if tokenizer_path else self.ct2_dir
        if not tok_dir.is_dir():
            raise TranslationError(f"tokenizer folder {tok_dir} does not exist; point it at the Marian model folder")

        if device == "auto":
            device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
        elif device == "cuda" and ctranslate2.get_cuda_device_count() == 0:
            raise TranslationError("translate.device is 'cuda' but CTranslate2 sees no CUDA device; set it to auto or cpu")
        elif device not in ("cpu", "cuda"):
            raise TranslationError(f"translate.device: unknown device {device!r} (expected auto, cpu or cuda)")
        supported = ctranslate2.get_supported_compute_types(device)
        if compute_type not in supported:
            raise TranslationError(
                f"translate.compute_type {compute_type!r} is not supported on {device} by CTranslate2 "
                f"{ctranslate2.__version__} (supported: {', '.join(sorted(supported))})"
            )
        cores = threads if threads > 0 else _available_cores()
        inter, intra = (cores, 1) if device == "cpu" else (1, 0)

        try:
            self.tokenizer: Any = AutoTokenizer.from_pretrained(str(tok_dir))
        except Exception as exc:
            raise TranslationError(
                f"cannot load the tokenizer from {tok_dir} ({type(exc).__name__}: {exc}); "
                "it must hold the Marian tokenizer files (vocab.json, source.spm, target.spm)"
            ) from exc
        try:
            self.translator: Any = ctranslate2.Translator(
                str(self.ct2_dir), device=device, compute_type=compute_type, inter_threads=inter, intra_threads=intra
            )
        except Exception as exc:
            raise TranslationError(
                f"cannot load the CTranslate2 model in {self.ct2_dir} ({type(exc).__name__}: {exc}); "
                "re-convert it with pipeline.models.convert_to_ct2"
            ) from exc

        self.device = device
        self.compute_type = compute_type
        self.replicas = inter
        self.batch_size = batch_size
        self.beam_size = beam_size
        self.max_input_tokens = min(max_input_tokens, _MAX_POSITIONS)
        self.warnings: tuple[str, ...] = ()
        decoding = "greedy" if beam_size == 1 else f"beam {beam_size}"
        self.engine = (
            f"ctranslate2 {ctranslate2.__version__} {self._label()} "
            f"({device}, {compute_type}, {inter}x{max(intra, 1)} threads, {decoding})"
        )
        self.last_stats = RunStats(0, 0, 0, ())

    def _label(self) -> str:
        """The source model's label recorded by convert_to_ct2, else the folder name."""
        info = self.ct2_dir / "pipeline-conversion.json"
        try:
            label = json.loads(info.read_text(encoding="utf-8")).get("source_label", "")
        except (OSError, ValueError):
            label = ""
        return str(label) or self.ct2_dir.name

    def count_tokens(self, text: str) -> int:
        """Tokens the encoder sees for `text`, the end-of-sentence token included."""
        return len(self.tokenizer(text)["input_ids"])

    def translate(self, texts: Sequence[str]) -> list[str]:
        plan = plan_chunks(texts, self.count_tokens, self.max_input_tokens, lang="fr")
        if not plan.pieces:
            self.last_stats = RunStats(len(texts), 0, 0, ())
            return [""] * len(texts)
        ids: list[list[int]] = self.tokenizer(list(plan.pieces))["input_ids"]
        tokens = [self.tokenizer.convert_ids_to_tokens(x) for x in ids]
        lengths = [len(x) for x in ids]
        # Give every replica work: at most batch_size per sub-batch, at least one sub-batch per replica.
        sub_batch = max(1, min(self.batch_size, math.ceil(len(tokens) / self.replicas)))
        batches = length_sorted_batches(lengths, sub_batch)
        order = [i for batch in batches for i in batch]
        try:
            results = self.translator.translate_batch(
                [tokens[i] for i in order],
                max_batch_size=sub_batch,
                batch_type="examples",
                beam_size=self.beam_size,
                max_input_length=0,
                max_decoding_length=output_budget(max(lengths), _MAX_POSITIONS),
            )
        except RuntimeError as exc:  # out of memory included
            raise TranslationError(
                f"{self.engine}: translation failed on {len(tokens)} pieces ({type(exc).__name__}: {exc})"
            ) from exc
        outputs = [""] * len(plan.pieces)
        for i, result in zip(order, results):
            hyp = result.hypotheses[0][: output_budget(lengths[i], _MAX_POSITIONS) - 1]  # as MarianTranslator
            outputs[i] = self.tokenizer.decode(self.tokenizer.convert_tokens_to_ids(hyp), skip_special_tokens=True)
        self.last_stats = RunStats(
            len(texts),
            len(plan.pieces),
            plan.split_inputs,
            tuple(tuple(lengths[i] for i in batch) for batch in batches),
        )
        return plan.join(outputs)
