#!/usr/bin/env python
"""Translation speed: transformers Marian vs CTranslate2 vs Apertium, on this machine.

    .venv/bin/python scripts/bench_translate.py            # everything; last line is JSON
    .venv/bin/python scripts/bench_translate.py --reps 5
    .venv/bin/python scripts/bench_translate.py --apertium-only   # Apertium per-call speed, text steps per MB

The neural engines run a RANDOMLY initialised model with exactly the
architecture of Helsinki-NLP/opus-mt-fr-en (values from its config.json:
vocab 59514, d_model 512, 6+6 layers, 8 heads, FFN 2048, swish, scaled
embeddings, eos 0, pad = decoder start = 59513, max positions 512), built in a
temporary folder: speed depends on the shapes, not on the weights. Inputs are
pre-tokenised random ids (batch 32 x 30 source tokens, the last one </s>) and
every engine decodes exactly 35 target tokens (transformers min/max_new_tokens,
CTranslate2 min/max_decoding_length), so all do the same work.

Each engine runs in its own subprocess (MEASUREMENTS.md: torch and
CTranslate2 in one process slow each other down). Figures are source tokens
per second of the best of --reps timed runs after one warm-up run (on a shared
machine other work only ever adds time, so the best run is the closest to the
engine's own cost; the median is printed too), and ratios use the best runs. CTranslate2
runs as the pipeline's CT2Translator configures it: inter_threads = cores,
intra_threads = 1, sub-batches of 16 sorted by length. Apertium
(fr-es then spa-eng) runs on the text of corpus/*.txt, start-up included.

Speed only: the random model's output is meaningless.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Helsinki-NLP/opus-mt-fr-en config.json (the values that shape the compute).
OPUS_MT_FR_EN = dict(
    vocab_size=59514,
    decoder_vocab_size=59514,
    d_model=512,
    encoder_layers=6,
    decoder_layers=6,
    encoder_attention_heads=8,
    decoder_attention_heads=8,
    encoder_ffn_dim=2048,
    decoder_ffn_dim=2048,
    max_position_embeddings=512,
    activation_function="swish",
    scale_embedding=True,
    normalize_embedding=False,
    static_position_embeddings=True,
    add_bias_logits=False,
    share_encoder_decoder_embeddings=True,
    eos_token_id=0,
    bos_token_id=0,
    pad_token_id=59513,
    decoder_start_token_id=59513,
    forced_eos_token_id=0,
    dropout=0.1,
    attention_dropout=0.0,
    activation_dropout=0.0,
)

ENGINES = {
    "marian-fp32-greedy": ("transformers", "float32", 1),
    "marian-fp32-beam4": ("transformers", "float32", 4),
    "ct2-int8-greedy": ("ctranslate2", "int8", 1),
    "ct2-fp32-greedy": ("ctranslate2", "float32", 1),
    "ct2-int8-beam4": ("ctranslate2", "int8", 4),
}


def build(model_dir: Path) -> None:
    """Random opus-mt-fr-en-shaped Marian model + a 59514-entry vocabulary, and its CT2 conversions."""
    import warnings

    import sentencepiece as spm
    import torch
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer
    from transformers.utils import logging

    from pipeline.models import convert_to_ct2

    logging.set_verbosity_error()
    logging.disable_progress_bar()
    warnings.filterwarnings("ignore", message="Recommended: pip install sacremoses")
    hf = model_dir / "hf"
    hf.mkdir(parents=True)
    # Tokenizer files: a small SentencePiece model trained on the corpus, and a vocab.json
    # padded with dummy pieces to the model's 59514 entries (the CT2 converter checks the size).
    lines = [ln.strip() for p in sorted((ROOT / "corpus").glob("*.txt")) for ln in p.read_text("utf-8").splitlines() if ln.strip()]
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_prefix=str(hf / "sp"), vocab_size=400, model_type="unigram",
        bos_id=-1, eos_id=0, unk_id=1, pad_id=-1, hard_vocab_limit=False, minloglevel=2, num_threads=1,
    )
    for name in ("source.spm", "target.spm"):
        shutil.copy(hf / "sp.model", hf / name)
    (hf / "sp.model").unlink()
    (hf / "sp.vocab").unlink()
    proc = spm.SentencePieceProcessor(model_file=str(hf / "source.spm"))
    vocab: dict[str, int] = {"</s>": 0, "<unk>": 1}
    for i in range(proc.get_piece_size()):
        vocab.setdefault(proc.id_to_piece(i), len(vocab))
    n = 0
    while len(vocab) < OPUS_MT_FR_EN["vocab_size"] - 1:
        vocab.setdefault(f"▁dummy{n}", len(vocab))
        n += 1
    vocab["<pad>"] = len(vocab)
    (hf / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")

    torch.manual_seed(0)
    model = MarianMTModel(MarianConfig(**OPUS_MT_FR_EN)).eval()
    model.generation_config.num_beams = 4
    model.generation_config.max_length = 512
    model.generation_config.bad_words_ids = [[OPUS_MT_FR_EN["pad_token_id"]]]
    model.save_pretrained(hf, safe_serialization=True)
    MarianTokenizer(str(hf / "source.spm"), str(hf / "target.spm"), str(hf / "vocab.json"), source_lang="fr", target_lang="en").save_pretrained(hf)
    for quantization in ("int8", "float32"):
        convert_to_ct2(hf, model_dir / f"ct2-{quantization}", quantization)


def make_inputs(batch: int, src_len: int, seed: int = 1) -> list[list[int]]:
    import random

    rng = random.Random(seed)
    # Ordinary vocabulary ids (not </s>=0, <unk>=1, <pad>=59513), ending with </s>.
    return [[rng.randrange(2, 59000) for _ in range(src_len - 1)] + [0] for _ in range(batch)]


def run_engine(name: str, model_dir: Path, batch: int, src_len: int, out_len: int, reps: int) -> dict:
    kind, dtype, beams = ENGINES[name]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    ids = make_inputs(batch, src_len)
    if kind == "transformers":
        import torch
        import transformers
        from transformers import MarianMTModel
        from transformers.utils import logging

        logging.set_verbosity_error()
        logging.disable_progress_bar()
        torch.set_num_threads(cores)
        model = MarianMTModel.from_pretrained(str(model_dir / "hf"), use_safetensors=True).eval()
        input_ids = torch.tensor(ids)
        mask = torch.ones_like(input_ids)

        def once() -> list[int]:
            with torch.inference_mode():
                out = model.generate(
                    input_ids=input_ids, attention_mask=mask, num_beams=beams, do_sample=False,
                    min_new_tokens=out_len, max_new_tokens=out_len,
                )
            return [out.shape[1] - 1] * batch  # minus the decoder start token

        setup = f"transformers {transformers.__version__}, torch {torch.__version__}, {cores} threads"
    else:
        import ctranslate2

        ct2_dir = model_dir / f"ct2-{'int8' if dtype == 'int8' else 'float32'}"
        vocab = json.loads((ct2_dir / "shared_vocabulary.json").read_text("utf-8"))
        tokens = [[vocab[i] for i in row] for row in ids]
        translator = ctranslate2.Translator(str(ct2_dir), device="cpu", compute_type=dtype, inter_threads=cores, intra_threads=1)

        def once() -> list[int]:
            results = translator.translate_batch(
                tokens, max_batch_size=16, batch_type="examples", beam_size=beams, max_input_length=0,
                min_decoding_length=out_len, max_decoding_length=out_len,
            )
            return [len(r.hypotheses[0]) for r in results]

        setup = f"ctranslate2 {ctranslate2.__version__}, inter_threads={cores} intra_threads=1, sub-batches of 16"
    lengths = once()  # warm-up
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        lengths = once()
        times.append(time.perf_counter() - start)
    best, median = min(times), statistics.median(times)
    return {
        "engine": name,
        "setup": setup,
        "decoding": "greedy" if beams == 1 else f"beam {beams}",
        "compute": dtype,
        "batch": batch,
        "src_tokens": batch * src_len,
        "out_tokens_each": sorted(set(lengths)),
        "seconds_best": round(best, 3),
        "seconds_all": [round(t, 3) for t in times],
        "src_tok_per_s": round(batch * src_len / best, 1),
        "src_tok_per_s_median": round(batch * src_len / median, 1),
    }


def bench_apertium(pairs: tuple[str, ...] = ("fr-es", "spa-eng")) -> dict:
    if shutil.which("apertium") is None:
        return {"skipped": "apertium is not on PATH (Debian: apt-get install apertium apertium-fr-es apertium-eng-spa)"}
    text = "\n\n".join(p.read_text("utf-8") for p in sorted((ROOT / "corpus").glob("*.txt")))
    words = len(text.split())
    command = " | ".join(f"apertium -u {pair}" for pair in pairs)

    def timed(payload: str) -> tuple[float, str]:
        start = time.perf_counter()
        done = subprocess.run(["bash", "-o", "pipefail", "-c", command], input=payload, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"`{command}` failed ({done.returncode}): {done.stderr.strip()[:300]}")
        return elapsed, done.stdout

    try:
        startup, _ = timed("Bonjour.\n")
        corpus_s, out = timed(text)
        big_s, _ = timed("\n\n".join([text] * 20))
    except RuntimeError as exc:
        return {"skipped": str(exc)}
    return {
        "command": command,
        "french_words": words,
        "startup_s": round(startup, 3),
        "corpus_s": round(corpus_s, 3),
        "words_per_s_incl_startup": round(words / corpus_s, 1),
        "corpus_x20_words_per_s_incl_startup": round(20 * words / big_s, 1),
        "output_chars": len(out),
    }


def _eval_dev() -> Path:
    here = ROOT / ".." / "shared" / "eval-dev"
    return here


def bench_apertium_calls(data: Path, sentences: int = 300, per_call: int = 6) -> dict:
    """Words/s when texts come a few at a time, as a run translates story by story (headline +
    summary sentences per call): a process pipeline started per call (`apertium fr-es | apertium
    spa-eng`, what the engine did before) against the kept-alive pairs of ApertiumTranslator (all
    repairs included). Sentences: the first `sentences` French lines of newstest2013."""
    from pipeline.translate.apertium import ApertiumTranslator

    lines = [ln.split("\t")[0] for ln in (data / "newstest2013-fr-en.tsv").read_text("utf-8").splitlines()[:sentences]]
    calls = [lines[i: i + per_call] for i in range(0, len(lines), per_call)]
    words = sum(len(t.split()) for t in lines)
    command = "apertium fr-es | apertium spa-eng"
    start, cpu = time.perf_counter(), time.process_time()
    for call in calls:
        subprocess.run(["bash", "-o", "pipefail", "-c", command], input="\n\n".join(call) + "\n",
                       capture_output=True, text=True, check=True)
    before_s = time.perf_counter() - start
    start = time.perf_counter()
    translator = ApertiumTranslator()
    startup_s = time.perf_counter() - start
    start = time.perf_counter()
    for call in calls:
        translator.translate(call)
    after_s = time.perf_counter() - start
    translator.close()
    return {
        "sentences": len(lines), "texts_per_call": per_call, "calls": len(calls), "french_words": words,
        "process_per_call_words_per_s": round(words / before_s, 1),
        "kept_alive_words_per_s": round(words / after_s, 1),
        "kept_alive_startup_s": round(startup_s, 2),
        "speedup": round(before_s / after_s, 1),
    }


def bench_text_steps(sizes_mb: tuple[float, ...] = (0.5, 1.0, 2.0)) -> dict:
    """Seconds per MB of the French preparation and English clean-up on one-line texts of growing
    size: a linear step keeps the same seconds per MB (issue 16: a 5 MB line never finished)."""
    from pipeline.translate.apertium import clean_output, fix_spanish, prepare_french

    sentence = "Il dit que nous avons vu elle avec vous, et « Tom fume-t-il » encore 2 600 fois à Kioto. "
    out = {}
    for mb in sizes_mb:
        line = sentence * int(mb * 1_000_000 / len(sentence))
        start = time.perf_counter()
        prepared = prepare_french(line)
        clean_output(fix_spanish(prepared), line)
        out[f"{mb:g}MB_s_per_MB"] = round((time.perf_counter() - start) / mb, 2)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=sorted(ENGINES), help="run one engine (used by the parent run)")
    parser.add_argument("--build", type=Path, help="build the random model into this folder and exit")
    parser.add_argument("--model-dir", type=Path)
    parser.add_argument("--json", action="store_true", help="print one JSON line only")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--src-len", type=int, default=30)
    parser.add_argument("--out-len", type=int, default=35)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--apertium-only", action="store_true",
                        help="only Apertium: per-call words/s before/after, and the text steps' seconds per MB")
    parser.add_argument("--data", type=Path, default=_eval_dev(), help="folder with newstest2013-fr-en.tsv")
    args = parser.parse_args()
    if args.apertium_only:
        result = {"calls": bench_apertium_calls(args.data), "text_steps": bench_text_steps()}
        c = result["calls"]
        print(f"apertium, {c['texts_per_call']} texts per call: process pipeline per call "
              f"{c['process_per_call_words_per_s']} words/s, kept alive {c['kept_alive_words_per_s']} words/s "
              f"({c['speedup']}x; start-up once {c['kept_alive_startup_s']} s)")
        print("text steps, seconds per MB of one-line text: " + ", ".join(f"{k} {v}" for k, v in result["text_steps"].items()))
        print(json.dumps(result))
        return 0

    if args.build:
        build(args.build)
        return 0
    if args.engine:
        if not args.model_dir:
            parser.error("--engine needs --model-dir")
        result = run_engine(args.engine, args.model_dir, args.batch, args.src_len, args.out_len, args.reps)
        print(json.dumps(result))
        return 0

    me = [sys.executable, str(Path(__file__).resolve())]
    summary: dict = {
        "machine": {"cpu_count": os.cpu_count(), "python": sys.version.split()[0]},
        "workload": f"batch {args.batch} x {args.src_len} source tokens (pre-tokenised), {args.out_len} output tokens, "
        f"random weights, opus-mt-fr-en architecture; best (and median) of {args.reps} runs after 1 warm-up; "
        "ratios from the best runs",
        "engines": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench-translate-") as tmp:
        model_dir = Path(tmp)
        print(f"building a random opus-mt-fr-en-shaped model and its CTranslate2 conversions in {model_dir} ...", flush=True)
        start = time.perf_counter()
        subprocess.run([*me, "--build", str(model_dir)], check=True)
        print(f"  built in {time.perf_counter() - start:.1f} s", flush=True)
        for name in ENGINES:
            done = subprocess.run(
                [*me, "--engine", name, "--model-dir", str(model_dir), "--json", "--batch", str(args.batch),
                 "--src-len", str(args.src_len), "--out-len", str(args.out_len), "--reps", str(args.reps)],
                capture_output=True, text=True,
            )
            if done.returncode != 0:
                print(f"{name:20s} FAILED: {done.stderr.strip()[-500:]}", flush=True)
                summary["engines"][name] = {"error": done.stderr.strip()[-500:]}
                continue
            result = json.loads(done.stdout.strip().splitlines()[-1])
            summary["engines"][name] = result
            print(
                f"{name:20s} {result['src_tok_per_s']:8.1f} src tok/s best, {result['src_tok_per_s_median']:8.1f} median "
                f"(runs {result['seconds_all']} s; {result['setup']}; output lengths {result['out_tokens_each']})",
                flush=True,
            )
    base = summary["engines"].get("marian-fp32-greedy", {}).get("src_tok_per_s")
    ratios = {}
    for name, result in summary["engines"].items():
        if base and "src_tok_per_s" in result:
            ratios[name] = round(result["src_tok_per_s"] / base, 2)
    summary["x_transformers_fp32_greedy"] = ratios
    int8 = ratios.get("ct2-int8-greedy")
    summary["target_ct2_int8_at_least_4x"] = None if int8 is None else int8 >= 4.0
    print("ratio to transformers fp32 greedy: " + ", ".join(f"{k} {v:.2f}x" for k, v in ratios.items()))
    if int8 is not None:
        print(f"target CT2 int8 >= 4x transformers fp32 greedy: {'met' if int8 >= 4.0 else 'NOT met'} ({int8:.2f}x)")

    apertium = bench_apertium()
    summary["apertium"] = apertium
    if "skipped" in apertium:
        print(f"apertium             skipped: {apertium['skipped']}")
    else:
        print(
            f"apertium             {apertium['words_per_s_incl_startup']:8.1f} French words/s incl. start-up "
            f"({apertium['french_words']} words of corpus/*.txt in {apertium['corpus_s']} s; start-up "
            f"{apertium['startup_s']} s; corpus x20: {apertium['corpus_x20_words_per_s_incl_startup']} words/s)"
        )
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
