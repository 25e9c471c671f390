"""A broken Apertium is an engine failure (exit 4), found before any work; nothing broken is cached.

Broken engines are real processes: a mode file in a temporary APERTIUM_DATADIR whose stage is a
small script that exits 1, hangs, prints nothing, or prints misaligned output.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from pipeline.cache import CachedTranslator, NullCache, plausible_translation, translator_identity
from pipeline.config import ConfigError, load_settings
from pipeline.translate import EngineFailure
from pipeline.translate.apertium import ApertiumTranslator, RawApertiumPivot, fix_spanish, prepare_french
from pipeline.translate.engine import PairProcess, escape, pair_identity, unformat

from conftest import apertium_missing

needs_apertium = pytest.mark.skipif(apertium_missing() is not None, reason=apertium_missing() or "")

# Stage scripts: each reads NUL-ended segments on stdin like an Apertium stage in null-flush mode.
_READER = f"""#!{sys.executable}
import sys
buf = b""
while True:
    chunk = sys.stdin.buffer.read1(65536)
    if not chunk:
        break
    buf += chunk
    while b"\\0" in buf:
        seg, buf = buf.split(b"\\0", 1)
        sys.stdout.buffer.write(OUT)
        sys.stdout.buffer.flush()
"""
FAKES = {
    "exits": f"#!{sys.executable}\nimport sys\nsys.stderr.write('fake-stage: cannot read the dictionary\\n')\nsys.exit(1)\n",
    "hangs": f"#!{sys.executable}\nimport time\ntime.sleep(60)\n",
    "silent": _READER.replace("OUT", 'seg[: seg.index(b"]") + 1] + b"\\0"'),  # an empty text for every text
    "misaligned": _READER.replace("OUT", 'seg + b"\\0" + seg + b"\\0"'),  # two texts for each
    "echo": _READER.replace("OUT", 'seg + b"\\0"'),  # the text unchanged (aligned, not translated)
}


def fake_pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, pair: str = "fr-es") -> None:
    script = tmp_path / f"fake-{kind}"
    script.write_text(FAKES[kind])
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    (tmp_path / "modes").mkdir(exist_ok=True)
    (tmp_path / "modes" / f"{pair}.mode").write_text(f"'{script}'\n")
    monkeypatch.setenv("APERTIUM_DATADIR", str(tmp_path))


@pytest.mark.parametrize("kind, message", [
    ("exits", "exited 1"), ("hangs", "no output for 1 s"), ("silent", "returned nothing"),
    ("misaligned", "alignment was lost"), ("echo", "untranslated"),
])
def test_broken_engine_fails_at_start_up(tmp_path, monkeypatch, kind, message):
    fake_pair(tmp_path, monkeypatch, kind)
    fake_pair(tmp_path, monkeypatch, "echo", pair="spa-eng")
    with pytest.raises(EngineFailure, match=message):
        ApertiumTranslator(["fr-es", "spa-eng"], timeout_s=1, protect_names=False)


@pytest.mark.parametrize("kind", ["exits", "hangs", "misaligned"])
def test_broken_pair_process_is_an_engine_failure(tmp_path, monkeypatch, kind):
    fake_pair(tmp_path, monkeypatch, kind)
    proc = PairProcess("fr-es", timeout_s=1)
    with pytest.raises(EngineFailure, match="apertium fr-es"):
        proc.run(["Bonjour.", "Au revoir."])
    proc.close()


@pytest.mark.parametrize("pairs, message", [
    (["xx-yy"], "apt-get install"), (["fr_es"], "not an Apertium pair name"), ([], "empty"),
])
def test_missing_or_misspelled_pair_names_what_to_install(pairs, message):
    with pytest.raises(EngineFailure, match=message):
        ApertiumTranslator(pairs)


def test_missing_known_pair_names_its_debian_package(tmp_path, monkeypatch):
    (tmp_path / "modes").mkdir()
    monkeypatch.setenv("APERTIUM_DATADIR", str(tmp_path))
    monkeypatch.setattr("pipeline.translate.engine.data_dirs", lambda: [tmp_path])
    with pytest.raises(EngineFailure, match="apt-get install -y apertium-fra-cat"):
        RawApertiumPivot(["fra-cat", "cat-eng"])


def test_empty_pair_list_is_a_config_error(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("translate:\n  apertium_pairs: []\n")
    with pytest.raises(ConfigError, match="apertium_pairs"):
        load_settings(config)


def test_identity_covers_the_program_actually_run(tmp_path, monkeypatch):
    fake_pair(tmp_path, monkeypatch, "echo")
    before = pair_identity("fr-es")
    script = tmp_path / "fake-echo"
    script.write_text(FAKES["echo"] + "# changed\n")
    os.utime(script, ns=(1, 1))
    assert pair_identity("fr-es") != before
    assert str(script) in repr(before)


class _Broken:
    engine = "broken"

    def __init__(self, out):
        self.out = out

    def translate(self, texts):
        return [self.out for _ in texts]


@pytest.mark.parametrize("bad", ["", "The *Nadella has #said"])
def test_output_failing_the_sanity_check_is_never_cached(bad):
    cache = NullCache()
    stored = []
    cache.put_many = lambda kind, items: stored.extend(items)  # type: ignore[method-assign]
    translator = CachedTranslator(_Broken(bad), cache, translator_identity(_Broken(bad), {}))
    with pytest.raises(EngineFailure):
        translator.translate(["Le patron de Microsoft a parlé."])
    assert stored == []
    assert plausible_translation("Bonjour.", "Hello.") and not plausible_translation("Bonjour.", " ")


def test_stream_escaping_round_trips():
    text = "a [b] ^c$ d/e @f *g <h> {i} \\j"
    assert unformat(escape(text)) == text
    assert unformat("Hola[QZXilXZQ] él.[]") == "HolaQZXilXZQ él."


def test_text_steps_are_linear_on_a_one_megabyte_line():
    """A 1 MB one-line text goes through every text step; with a quadratic step this never ends."""
    sentence = "Il dit que nous avons vu elle avec vous et que Tom fume-t-il encore "
    line = sentence * (1_000_000 // len(sentence))
    prepared = prepare_french(line)
    assert prepared.count("QZXilXZQ") == line.count("Il dit")
    spanish = fix_spanish(prepared.replace("QZXnousXZQ nous", "QZXnousXZQ nosotros"))
    assert "QZX" not in spanish


@needs_apertium
def test_processes_stay_alive_across_calls():
    tr = ApertiumTranslator()
    first = [p.pid for proc in tr._procs for p in proc._procs]
    assert tr.translate(["Le chat dort."]) and tr.translate(["Le chien dort."])
    assert [p.pid for proc in tr._procs for p in proc._procs] == first
    tr.close()


def test_an_engine_tested_on_first_use_starts_nothing_until_it_translates(tmp_path, monkeypatch):
    """A route engine built for its identity alone (a warm run's review pages) starts no process; a broken
    pair still fails before anything is translated with it."""
    fake_pair(tmp_path, monkeypatch, "echo")
    fake_pair(tmp_path, monkeypatch, "echo", pair="spa-eng")
    engine = ApertiumTranslator(["fr-es", "spa-eng"], timeout_s=1, protect_names=False, self_test="first use")
    assert all(not p._procs for p in engine._procs)
    with pytest.raises(EngineFailure, match="untranslated"):
        engine.translate(["Le chat dort."])
    engine.close()
class _Upper:
    engine = "upper"

    def __init__(self):
        self.calls = []

    def translate(self, texts):
        self.calls.append(list(texts))
        return [t.upper() for t in texts]


def test_translate_step_sends_only_uncached_texts_and_in_one_call(tmp_path, monkeypatch):
    """Only the texts not cached go to the engine, in batches of their own (not one call per batch of texts
    looked up), and
    each text's English is the same as when every text is new."""
    from pipeline.cache import Cache
    from pipeline.flow import TranslateStep

    monkeypatch.setattr("pipeline.flow.TRANSLATE_BATCH", 4)  # many batches of texts
    texts = [f"phrase {i}." for i in range(10)]
    cache = Cache(tmp_path / "cache.sqlite")
    first = _Upper()
    english, failed = TranslateStep().run(CachedTranslator(first, cache, {"engine": "upper"}), texts[::3])
    assert failed == {} and len(first.calls) == 1
    again = _Upper()
    translator = CachedTranslator(again, cache, {"engine": "upper"})
    done, failed = TranslateStep().run(translator, texts + texts[:2])
    assert failed == {} and done == {t: t.upper() for t in texts}
    new = [t for i, t in enumerate(texts) if i % 3]  # 6 texts not cached, spread over the 3 batches of 4 texts
    assert again.calls == [new[:4], new[4:]]  # batches of the texts not cached only
    assert translator.texts_translated == 6


@pytest.mark.parametrize("kind, message", [("exits", "exited 1"), ("hangs", "no output for 1 s"),
                                           ("echo", "untranslated")])
def test_a_started_engine_tests_itself_when_asked_and_fails_every_time(tmp_path, monkeypatch, kind, message):
    """Built with self_test="started" (the run's translator), the engine starts its processes and returns; the
    self-test runs at `ready` (or the first translation) and its failure is raised every time after."""
    fake_pair(tmp_path, monkeypatch, kind)
    fake_pair(tmp_path, monkeypatch, "echo", pair="spa-eng")
    engine = ApertiumTranslator(["fr-es", "spa-eng"], timeout_s=1, protect_names=False, self_test="started")
    assert all(p._procs for p in engine._procs)  # running (loading their data) before anything is asked
    for _ in range(2):
        with pytest.raises(EngineFailure, match=message):
            engine.ready()
    with pytest.raises(EngineFailure, match=message):
        engine.translate(["Le chat dort."])
    engine.close()


@needs_apertium
def test_a_started_engine_passes_its_self_test_and_translates_as_before():
    started = ApertiumTranslator(self_test="started")
    assert all(p._procs for p in started._procs) and started._names is not None and started._names.analyser._procs
    started.ready()
    texts = ["Le chat dort dans la maison.", "Le gouvernement a annoncé mardi une réforme."]
    at_start = ApertiumTranslator()
    assert started.translate(texts) == at_start.translate(texts)
    started.close()
    at_start.close()


@needs_apertium
def test_a_started_engine_and_forked_workers_do_not_wait_on_each_other(tmp_path):
    """The run forks its pool while the translator's processes load: nothing started on another thread can be
    held open by a forked worker (a start on a thread waits for its error pipe to close: a worker forked in
    between holds it until it exits). A run with 2 workers and Apertium ends (it hung with the self-test on a thread)."""
    import subprocess

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(40):  # (several slices: the pool forks during ingest, once lingua is loaded here)
        (corpus / f"a{i}.txt").write_text(f"Titre {i}\n\nLe chat numéro {i} dort dans la maison depuis mardi matin. "
                                          "Le gouvernement a annoncé une réforme.\n", encoding="utf-8")
    config = tmp_path / "c.yaml"
    config.write_text("run:\n  workers: 2\ntranslate:\n  backend: apertium\ncache:\n  enabled: false\n")
    proc = subprocess.run([sys.executable, "-m", "pipeline", "run", "--corpus", str(corpus), "--out",
                           str(tmp_path / "out"), "--config", str(config)], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parent.parent)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_a_run_whose_engine_fails_its_self_test_stops_after_ingest(tmp_path, monkeypatch, caplog):
    """The run's translator starts while ingest reads the corpus and tests itself when ingest ends: a broken
    engine still fails the run (exit 4, nothing published) before dedup or any story is worked on."""
    import logging

    from pipeline.config import Settings
    from pipeline.runner import RunOptions, run

    fake_pair(tmp_path, monkeypatch, "echo")
    fake_pair(tmp_path, monkeypatch, "echo", pair="spa-eng")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Un titre\n\nLe chat dort dans la maison depuis mardi matin.\n", encoding="utf-8")
    caplog.set_level(logging.INFO, logger="pipeline")
    report = run(RunOptions(settings=Settings(), config_path=Path("test"), corpus=corpus, out=tmp_path / "out"))
    assert report.exit_code == 4 and "untranslated" in report.message and report.run_dir is None
    logged = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("ingest: reading") for m in logged)
    assert not any(m.startswith(("dedup:", "stories:", "translate:")) for m in logged)
    assert not (tmp_path / "out" / "latest").exists()
