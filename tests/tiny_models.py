"""Build tiny, randomly initialised models for tests, fully offline.

Nothing here downloads anything. Each builder writes a folder that the real
loading code paths (`from_pretrained(path, use_safetensors=True)`, AutoTokenizer,
CTranslate2's converter) accept exactly as they would accept a real model:

- `build_tiny_marian(dir)`: a MarianMT model (opus-mt layout: `vocab.json`,
  `source.spm`, `target.spm`, `config.json`, `model.safetensors`), with a
  SentencePiece vocabulary trained on the sample corpus.
- `build_tiny_bart(dir)`: a BART seq2seq model with a BARThez-style tokenizer
  (the tokenizer class of the default summarizer), same vocabulary source.

The weights are random: these models prove plumbing (loading, batching,
chunking, conversion), never translation or summary quality.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import sentencepiece as spm
import torch

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"

# Small enough to train in well under a second on the five sample articles.
VOCAB_PIECES = 400


def corpus_sentences() -> list[str]:
    """Non-empty lines of the sample corpus (SentencePiece training input)."""
    lines: list[str] = []
    for path in sorted(CORPUS.glob("*.txt")):
        lines.extend(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    if not lines:
        raise RuntimeError(f"no text found in {CORPUS}/*.txt: the tiny models need the sample corpus")
    return lines


def train_spm(*, vocab_size: int = VOCAB_PIECES, bos_id: int, eos_id: int, unk_id: int, pad_id: int) -> bytes:
    """Train a unigram SentencePiece model on the corpus; return the serialized model."""
    out = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus_sentences()),
        model_writer=out,
        vocab_size=vocab_size,
        model_type="unigram",
        character_coverage=1.0,
        bos_id=bos_id,
        eos_id=eos_id,
        unk_id=unk_id,
        pad_id=pad_id,
        hard_vocab_limit=False,
        minloglevel=2,
        num_threads=1,
    )
    return out.getvalue()


def build_tiny_marian(out_dir: Path, *, seed: int = 0, layers: int = 1) -> Path:
    """A MarianMT folder with d_model 32, 2 heads, random weights, safetensors."""
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    out_dir.mkdir(parents=True, exist_ok=True)
    model_bytes = train_spm(bos_id=-1, eos_id=0, unk_id=1, pad_id=-1)
    (out_dir / "source.spm").write_bytes(model_bytes)
    (out_dir / "target.spm").write_bytes(model_bytes)
    proc = spm.SentencePieceProcessor(model_proto=model_bytes)
    # opus-mt layout: </s>=0, <unk>=1, the pieces, <pad> last.
    vocab: dict[str, int] = {"</s>": 0, "<unk>": 1}
    for i in range(proc.get_piece_size()):
        piece = proc.id_to_piece(i)
        if piece not in vocab:
            vocab[piece] = len(vocab)
    vocab["<pad>"] = len(vocab)
    (out_dir / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")

    pad = vocab["<pad>"]
    config = MarianConfig(
        vocab_size=len(vocab),
        decoder_vocab_size=len(vocab),
        d_model=32,
        encoder_layers=layers,
        decoder_layers=layers,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_position_embeddings=512,
        activation_function="swish",
        scale_embedding=True,
        pad_token_id=pad,
        eos_token_id=0,
        bos_token_id=0,
        decoder_start_token_id=pad,
        forced_eos_token_id=0,
        share_encoder_decoder_embeddings=True,
        # With the usual 0.02 a model this small gives the same output for every
        # input, and a test of output order could not fail. 0.5 makes the output
        # depend on the input.
        init_std=0.5,
    )
    torch.manual_seed(seed)
    model = MarianMTModel(config).eval()
    with torch.no_grad():
        # Favour </s> a little so that some outputs end before the length budget.
        model.final_logits_bias[0, 0] = 5.0
    model.generation_config.num_beams = 1
    # As in opus-mt's config: never generate <pad> (CTranslate2 drops it from the vocabulary).
    model.generation_config.bad_words_ids = [[pad]]
    model.save_pretrained(out_dir, safe_serialization=True)
    tok = MarianTokenizer(
        source_spm=str(out_dir / "source.spm"),
        target_spm=str(out_dir / "target.spm"),
        vocab=str(out_dir / "vocab.json"),
        source_lang="fr",
        target_lang="en",
    )
    tok.save_pretrained(out_dir)
    return out_dir


def build_tiny_bart(out_dir: Path, *, seed: int = 0, layers: int = 1) -> Path:
    """A BART seq2seq folder with a BARThez-style tokenizer, random weights, safetensors."""
    from tokenizers import processors
    from transformers import BartConfig, BartForConditionalGeneration, BarthezTokenizer

    out_dir.mkdir(parents=True, exist_ok=True)
    # BARThez ids: <s>=0, <pad>=1, </s>=2, <unk>=3 (the tokenizer expects unk at 3).
    model_bytes = train_spm(bos_id=0, pad_id=1, eos_id=2, unk_id=3)
    proc = spm.SentencePieceProcessor(model_proto=model_bytes)
    pieces = [(proc.id_to_piece(i), proc.get_score(i)) for i in range(proc.get_piece_size())]
    pieces.append(("<mask>", 0.0))
    tok = BarthezTokenizer(vocab=pieces)
    # As in the published BARThez tokenizer.json: "<s> text </s>".
    tok._tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", 0), ("</s>", 2)],
    )
    tok.model_max_length = 1024
    tok.save_pretrained(out_dir)

    config = BartConfig(
        vocab_size=len(pieces),
        d_model=32,
        encoder_layers=layers,
        decoder_layers=layers,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_position_embeddings=1024,
        bos_token_id=0,
        pad_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=2,
        forced_bos_token_id=0,
        forced_eos_token_id=2,
        # Untied output layer: with random tied weights the decoder echoes its
        # start token (</s>) and every output would be empty.
        tie_word_embeddings=False,
        init_std=0.5,  # as for Marian: output that depends on the input
    )
    torch.manual_seed(seed)
    model = BartForConditionalGeneration(config).eval()
    model.generation_config.num_beams = 1
    model.save_pretrained(out_dir, safe_serialization=True)
    return out_dir
