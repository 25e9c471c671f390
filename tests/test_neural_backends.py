"""Neural backends (Marian, CTranslate2, seq2seq) and model management, offline.

The models here are tiny and randomly initialised, built by the tests
(`tiny_models.py`): a SentencePiece vocabulary trained on the sample corpus,
d_model 32, one layer. They prove plumbing only: loading from a folder with
safetensors, batching by length with the input order kept, long inputs cut
and nothing lost, CTranslate2 conversion of the same weights, model
resolution, attribution of generated sentences. Their output is gibberish:
nothing here says anything about translation or summary quality.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
import sentencex

from pipeline.model import Citation, Sentence, SummarySentence
from pipeline.models import (
    ModelError,
    convert_to_ct2,
    default_ct2_dir,
    is_ct2_model_dir,
    pull,
    resolve_model,
)
from pipeline.summarize.seq2seq import Seq2SeqGenerator, abstractive_summary, attribute, content_words
from pipeline.translate.chunking import split_for_budget
from pipeline.translate.ct2 import CT2Translator
from pipeline.translate.marian import MarianTranslator
from tiny_models import CORPUS

pytestmark = pytest.mark.filterwarnings("ignore:Recommended. pip install sacremoses")
needs_ct2 = pytest.mark.skipif(
    importlib.util.find_spec("ctranslate2") is None, reason="ctranslate2 is not installed (pip install '.[fast]')"
)


def _paragraphs() -> list[str]:
    out: list[str] = []
    for path in sorted(CORPUS.glob("*.txt")):
        out.extend(" ".join(p.split()) for p in path.read_text(encoding="utf-8").split("\n\n") if p.strip())
    return out


PARAGRAPHS = _paragraphs()
LONG = max(PARAGRAPHS, key=len)  # several sentences, well over a 32-token budget


# --- fixtures: tiny models built once per session ----------------------------------


# marian_dir, bart_dir, ct2_f32_dir and ct2_int8_dir come from conftest.py (shared with test_neural_run.py)


@pytest.fixture(scope="session")
def marian(marian_dir: Path) -> MarianTranslator:
    return MarianTranslator(marian_dir, batch_size=3, threads=0, device="cpu", beam_size=1, max_input_tokens=32)


@pytest.fixture(scope="session")
def generator(bart_dir: Path) -> Seq2SeqGenerator:
    return Seq2SeqGenerator(bart_dir, max_input_tokens=32, max_new_tokens=24, batch_size=2, threads=0, device="cpu")


# --- chunking ------------------------------------------------------------------------


def test_split_for_budget_cuts_on_sentences_under_budget_and_loses_nothing(marian: MarianTranslator) -> None:
    count = marian.count_tokens
    assert count(LONG) > 32
    chunks = split_for_budget(LONG, count, 32)
    assert len(chunks) > 1
    assert all(count(c) <= 32 for c in chunks)
    assert " ".join(chunks).split() == LONG.split()
    # Every sentence short enough to fit lies whole inside one chunk.
    for sentence in (s.strip() for s in sentencex.segment("fr", LONG)):
        if sentence and count(sentence) <= 32:
            assert any(sentence in c for c in chunks), sentence


def test_split_for_budget_cuts_an_overlong_sentence_into_word_then_character_windows() -> None:
    def count(text: str) -> int:  # one token per character: easy to reason about
        return len(text)

    sentence = "un deux trois quatre cinq six sept huit neuf dix onze douze"
    chunks = split_for_budget(sentence, count, 12)
    assert len(chunks) > 1 and all(len(c) <= 12 for c in chunks)
    assert " ".join(chunks).split() == sentence.split()

    word = "anticonstitutionnellement"
    chunks = split_for_budget(f"Un mot {word}.", count, 8)
    assert all(len(c) <= 8 for c in chunks)
    assert "".join("".join(c.split()) for c in chunks) == f"Unmot{word}."


def test_split_for_budget_keeps_short_text_whole_and_drops_blank() -> None:
    assert split_for_budget("  Bonjour.  ", len, 100) == ["Bonjour."]
    assert split_for_budget(" \n ", len, 100) == []


# --- Marian --------------------------------------------------------------------------


def test_marian_one_output_per_input_in_order(marian: MarianTranslator) -> None:
    texts = PARAGRAPHS[:5]
    out = marian.translate(texts)
    assert len(out) == len(texts)
    assert all(isinstance(t, str) and t for t in out)
    # The random model's output depends on its input: each output is the one its own
    # input gives alone, so a mix-up of the order would show.
    assert len(set(out)) == len(out)
    assert out == [marian.translate([t])[0] for t in texts]
    assert marian.engine.startswith("marian tiny-opus-mt-fr-en (transformers ")
    assert marian.engine.endswith(", cpu, fp32, greedy)")


def test_marian_empty_list_and_blank_input(marian: MarianTranslator) -> None:
    assert marian.translate([]) == []
    out = marian.translate(["", "Bonjour.", "   "])
    assert out[0] == "" and out[2] == "" and out[1]
    assert marian.last_stats.pieces == 1  # blank inputs never reach the model


def test_marian_long_input_is_chunked_not_truncated(marian: MarianTranslator) -> None:
    out = marian.translate([LONG])
    stats = marian.last_stats
    chunks = split_for_budget(LONG, marian.count_tokens, 32)
    assert stats.pieces == len(chunks) > 1 and stats.split_inputs == 1
    assert all(n <= 32 for batch in stats.batch_lengths for n in batch)
    # The long input's translation is its pieces' translations, joined in order.
    assert out == [" ".join(marian.translate(chunks))]


def test_marian_batches_sorted_by_length_output_order_kept(marian: MarianTranslator) -> None:
    texts = [PARAGRAPHS[i][:n] for i, n in [(0, 20), (1, 60), (2, 8), (3, 45), (4, 30), (5, 70), (6, 15)]]
    out = marian.translate(texts)
    assert marian.last_stats.split_inputs == 0
    lengths = [n for batch in marian.last_stats.batch_lengths for n in batch]
    assert len(marian.last_stats.batch_lengths) == 3  # 7 pieces, batch_size 3
    assert lengths == sorted(lengths, reverse=True)
    assert lengths != [marian.count_tokens(t) for t in texts]  # the input was not already sorted
    assert out == [marian.translate([t])[0] for t in texts]


# --- CTranslate2 ---------------------------------------------------------------------


@needs_ct2
def test_ct2_and_marian_load_the_same_tiny_model(marian: MarianTranslator, ct2_f32_dir: Path) -> None:
    assert is_ct2_model_dir(ct2_f32_dir)
    ct2 = CT2Translator(ct2_f32_dir, compute_type="float32", batch_size=3, threads=2, device="cpu", max_input_tokens=32)
    assert "(cpu, float32, 2x1 threads, greedy)" in ct2.engine
    assert "tiny-opus-mt-fr-en" in ct2.engine
    texts = PARAGRAPHS[:4] + ["Microsoft rachète TikTok."]
    # Same weights, same vocabulary, same greedy decoding and length budget: same text.
    assert ct2.translate(texts) == marian.translate(texts)


@needs_ct2
def test_ct2_int8_order_empty_and_chunking(ct2_int8_dir: Path, marian_dir: Path) -> None:
    ct2 = CT2Translator(ct2_int8_dir, marian_dir, compute_type="int8", batch_size=16, threads=2, device="cpu", max_input_tokens=32)
    assert ct2.translate([]) == []
    texts = [PARAGRAPHS[2][:20], LONG, "", PARAGRAPHS[3][:30]]
    out = ct2.translate(texts)
    assert len(out) == 4 and out[2] == "" and all(out[i] for i in (0, 1, 3))
    stats = ct2.last_stats
    assert stats.split_inputs == 1 and stats.pieces > 3
    # Sub-batches sorted by length; at least one per replica.
    lengths = [n for batch in stats.batch_lengths for n in batch]
    assert lengths == sorted(lengths, reverse=True) and len(stats.batch_lengths) >= 2
    assert out == [ct2.translate([t])[0] for t in texts]


@needs_ct2
def test_ct2_refuses_a_folder_that_is_not_converted(marian_dir: Path) -> None:
    from pipeline.translate import TranslationError

    with pytest.raises(TranslationError, match="not a CTranslate2 model folder"):
        CT2Translator(marian_dir, compute_type="int8")


def test_convert_refuses_vocab_that_does_not_match_the_weights(marian_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(marian_dir, broken)
    config = json.loads((broken / "config.json").read_text())
    config["vocab_size"] += 1
    (broken / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match="vocab.json has .* entries but .* vocab_size="):
        convert_to_ct2(broken, tmp_path / "out", "int8")
    assert not (tmp_path / "out").exists()


@needs_ct2
def test_convert_bart_family_without_normalize_before(bart_dir: Path, tmp_path: Path) -> None:
    assert "normalize_before" not in json.loads((bart_dir / "config.json").read_text())
    out = convert_to_ct2(bart_dir, tmp_path / "bart-ct2", "int8")
    assert is_ct2_model_dir(out)
    assert "normalize_before" not in json.loads((bart_dir / "config.json").read_text())  # source untouched


# --- model resolution ----------------------------------------------------------------


def test_resolve_model_missing_without_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    r = resolve_model("Helsinki-NLP/opus-mt-fr-en")
    assert (r.source, r.usable, r.local_path) == ("missing", False, None)
    assert "models pull" in r.reason and str(tmp_path / "hf" / "hub") in r.reason
    r = resolve_model(str(tmp_path / "no-such-folder"))
    assert (r.source, r.usable) == ("missing", False)


def test_resolve_model_usable_folder_and_hf_cache(marian_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    r = resolve_model(str(marian_dir))
    assert (r.source, r.usable, r.local_path) == ("path", True, marian_dir.resolve())

    # The same files laid out as the hub cache does, found without any network.
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    repo = tmp_path / "hub" / "models--someone--tiny-opus"
    commit = "0" * 40
    shutil.copytree(marian_dir, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    r = resolve_model("someone/tiny-opus")
    assert (r.source, r.usable) == ("hf-cache", True)
    assert r.local_path == repo / "snapshots" / commit
    assert r.label == "someone/tiny-opus@0000000"
    assert resolve_model(str(r.local_path)).label == "someone/tiny-opus@0000000"  # the path the runner passes on

    # Pickled weights on main, the hub's safetensors conversion on refs/pr/7: the latter is used.
    repo = tmp_path / "hub" / "models--someone--legacy-opus"
    main, pr = "1" * 40, "2" * 40
    (repo / "snapshots" / main).mkdir(parents=True)
    for name in ("config.json", "vocab.json", "source.spm", "target.spm"):
        shutil.copy(marian_dir / name, repo / "snapshots" / main / name)
    (repo / "snapshots" / main / "pytorch_model.bin").write_bytes(b"not loaded")
    shutil.copytree(marian_dir, repo / "snapshots" / pr)
    (repo / "refs" / "pr").mkdir(parents=True)
    (repo / "refs" / "main").write_text(main)
    (repo / "refs" / "pr" / "7").write_text(pr)
    r = resolve_model("someone/legacy-opus")
    assert (r.source, r.usable, r.local_path) == ("hf-cache", True, repo / "snapshots" / pr)


def test_resolve_model_refuses_pickled_weights(marian_dir: Path, tmp_path: Path) -> None:
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    for name in ("config.json", "vocab.json", "source.spm", "target.spm", "tokenizer_config.json"):
        shutil.copy(marian_dir / name, legacy / name)
    (legacy / "pytorch_model.bin").write_bytes(b"not loaded")
    r = resolve_model(str(legacy))
    assert (r.source, r.usable) == ("path", False)
    assert "not usable: safetensors weights required" in r.reason


def test_pull_offline_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match="no model hub is reachable|No model hub is reachable") as err:
        pull("Helsinki-NLP/opus-mt-fr-en", cache_dir=tmp_path)
    assert "copy the model folder" in str(err.value)


def test_default_ct2_dir(tmp_path: Path) -> None:
    assert default_ct2_dir("Helsinki-NLP/opus-mt-fr-en", "int8", tmp_path) == tmp_path / "models" / "opus-mt-fr-en-ct2-int8"
    assert default_ct2_dir("/srv/models/opus-mt-fr-en/", "float32", tmp_path).name == "opus-mt-fr-en-ct2-float32"


def test_marian_refuses_a_model_it_cannot_use(tmp_path: Path) -> None:
    from pipeline.translate import TranslationError

    with pytest.raises(TranslationError, match="translate.model"):
        MarianTranslator(tmp_path / "nothing-here")


# --- seq2seq generator ---------------------------------------------------------------


def test_generator_order_empty_chunking_and_sorting(generator: Seq2SeqGenerator) -> None:
    assert generator.generate([]) == []
    texts = [PARAGRAPHS[1][:60], PARAGRAPHS[2][:20], "", PARAGRAPHS[3][:100]]
    out = generator.generate(texts)
    assert len(out) == 4 and out[2] == ""
    lengths = [n for batch in generator.last_stats.batch_lengths for n in batch]
    assert lengths == sorted(lengths, reverse=True)
    assert out == [generator.generate([t])[0] for t in texts]
    assert generator.engine.startswith("seq2seq tiny-barthez (transformers ") and ", cpu" in generator.engine

    long_out = generator.generate([LONG])
    chunks = split_for_budget(LONG, generator.count_tokens, 32)
    assert generator.last_stats.pieces == len(chunks) > 1
    assert long_out == [" ".join(generator.generate(chunks))]


# --- attribution of generated sentences ----------------------------------------------


def _sentences() -> list[Sentence]:
    texts = [
        "Microsoft est prêt à poursuivre les discussions pour explorer l’achat de TikTok aux États-Unis.",
        "Trump a donné 45 jours à Microsoft et ByteDance pour trouver un accord.",
        "Avec 100 millions d’utilisateurs aux États-Unis, le rachat serait un événement majeur.",
    ]
    return [
        Sentence(sid=f"doc:p{i}.s1", pid=f"doc:p{i}", text=t, line_start=i, line_end=i)
        for i, t in enumerate(texts, start=1)
    ]


def _cite(s: Sentence) -> Citation:
    index = int(s.pid.split(":p")[1])
    return Citation(
        file="corpus/doc.txt", doc_id="doc", paragraph=index, line_start=s.line_start, line_end=s.line_end, text=s.text, sid=s.sid
    )


class FixedOutputGenerator:
    """TEST DOUBLE, not a model: returns fixed text so the attribution logic can be checked exactly."""

    engine = "test double"

    def __init__(self, text: str) -> None:
        self.text = text
        self.inputs: list[str] = []

    def generate(self, inputs: list[str]) -> list[str]:
        self.inputs.extend(inputs)
        return [self.text for _ in inputs]


def test_content_words_are_stemmed_without_stop_words() -> None:
    words = content_words("Les présidents américains ont donné 45 jours à l’entreprise.")
    assert {"président", "américain", "45", "jour", "entrepris"} <= words
    assert not words & {"les", "ont", "à", "l"}


def test_abstractive_summary_cites_support_and_flags_unsupported() -> None:
    sentences = _sentences()
    fake = FixedOutputGenerator(
        "Microsoft est prêt à explorer l’achat de TikTok aux États-Unis. "
        "Trump donne 45 jours ; le rachat de TikTok par Microsoft serait un événement majeur. "
        "La météo sera ensoleillée demain."
    )
    out = abstractive_summary(sentences, _cite, fake, min_support=0.35, weak_support="flag")
    assert fake.inputs == [" ".join(s.text for s in sentences)]
    assert all(isinstance(s, SummarySentence) for s in out) and len(out) == 3

    first, fused, unsupported = out
    assert [c.sid for c in first.citations] == ["doc:p1.s1"] and first.support == 1.0 and not first.flagged
    # A sentence fusing two sources cites both, best first.
    assert {c.sid for c in fused.citations} >= {"doc:p2.s1", "doc:p3.s1"} and not fused.flagged
    assert fused.support >= 0.35
    # Nothing in common with the sources: support 0, no citation, flagged.
    assert unsupported.text_fr == "La météo sera ensoleillée demain."
    assert (unsupported.support, unsupported.citations, unsupported.flagged) == (0.0, (), True)

    dropped = abstractive_summary(sentences, _cite, fake, min_support=0.35, weak_support="drop")
    assert [s.text_fr for s in dropped] == [first.text_fr, fused.text_fr]


def test_attribute_weak_support_keeps_best_source_but_flags() -> None:
    sources = [s.text for s in _sentences()]
    chosen, support = attribute("Microsoft annonce une baisse des prix du cloud en Europe.", sources, min_support=0.35)
    assert chosen and chosen[0] in (0, 1)  # the best (only "microsoft" in common)
    assert 0 < support < 0.35
    out = abstractive_summary(_sentences(), _cite, FixedOutputGenerator("Microsoft annonce une baisse des prix du cloud en Europe."))
    assert len(out) == 1 and out[0].flagged and len(out[0].citations) == 1


def test_abstractive_summary_end_to_end_with_the_tiny_model(generator: Seq2SeqGenerator) -> None:
    sentences = _sentences()
    assert abstractive_summary([], _cite, generator) == []
    out = abstractive_summary(sentences, _cite, generator, min_support=0.35, weak_support="flag")
    assert out, "the tiny model generated nothing"
    by_sid = {s.sid for s in sentences}
    for s in out:
        assert s.text_fr and 0.0 <= s.support <= 1.0
        assert s.flagged == (s.support < 0.35)
        assert all(c.sid in by_sid for c in s.citations)
        if s.support == 0:
            assert s.citations == ()
    kept = abstractive_summary(sentences, _cite, generator, min_support=0.35, weak_support="drop")
    assert all(not s.flagged for s in kept)
    assert [s.text_fr for s in kept] == [s.text_fr for s in out if not s.flagged]
