"""Scheduled batch runs: cache, atomic outputs, lock, exit codes, logs, bad input, scheduling files.

In-process tests use a counting fake translator (no Apertium needed); the
tests that start the CLI as a subprocess (kill-and-resume, lock, logs) use
the real default translator and are skipped where Apertium is missing.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import pipeline.dedup
import pipeline.ingest
import pipeline.runner as runner
import pipeline.flow
import pipeline.summarize.extractive
from pipeline.config import CacheSettings, IngestSettings, Settings
from pipeline.ingest import decode_bytes, ingest
from pipeline.runner import RunOptions, run
from pipeline.translate.select import TranslatorChoice

from conftest import CORPUS, ROOT, apertium_missing

needs_apertium = pytest.mark.skipif(apertium_missing() is not None, reason=apertium_missing() or "")

# Two short articles about other news than the sample corpus (one story each).
STORM = """Une tempête frappe la Bretagne

La tempête Ciaran a frappé les côtes de la Bretagne dans la nuit de mercredi à jeudi avec des rafales à 180 kilomètres par heure.
Plus de 780 000 foyers ont été privés d'électricité dans le Finistère et les Côtes-d'Armor selon le gestionnaire du réseau.
Les écoles de toute la région sont restées fermées jeudi par mesure de précaution, a annoncé la préfecture maritime.
Les pompiers sont intervenus plus de 2 000 fois pour dégager des arbres tombés sur les routes départementales.
Météo-France a levé la vigilance rouge vendredi matin mais maintient une vigilance orange pour les vagues submersion.
"""

CHEESE = """Le festival du fromage attire les foules à Rocamadour

Le festival annuel du fromage de chèvre a réuni plus de 25 000 visiteurs ce week-end dans le village de Rocamadour. Il fêtait sa trentième édition.
Une centaine de producteurs du Lot et de l'Aveyron ont présenté leurs meilleurs cabécous aux amateurs venus de toute la France. Certains venaient pour la première fois.
Le jury a décerné la médaille d'or à une petite ferme familiale installée depuis trois générations sur le causse de Gramat. La ferme compte quarante chèvres.
Les organisateurs prévoient déjà d'agrandir le marché couvert pour accueillir davantage d'exposants l'an prochain. La mairie soutient le projet.
Des ateliers de dégustation ont permis aux enfants de découvrir la fabrication traditionnelle du fromage au lait cru. Ils ont affiché complet.
"""


# --- helpers ----------------------------------------------------------------------------------


class CountingTranslator:
    """A `Translator` that records every call (texts sent to the engine)."""

    engine = "counting fake translator 1.0"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def translate(self, texts):
        self.calls.append(list(texts))
        return [f"EN[{t}]" for t in texts]

    @property
    def texts(self) -> list[str]:
        return [t for call in self.calls for t in call]


@pytest.fixture()
def fake_engine(monkeypatch):
    engine = CountingTranslator()
    monkeypatch.setattr(runner, "choose_translator", lambda settings, **_: TranslatorChoice(engine, ()))
    return engine


@pytest.fixture()
def summarize_calls(monkeypatch):
    calls: list[str] = []
    real = pipeline.summarize.extractive.summarize_story

    def counting(story, *args, **kwargs):
        calls.append(story.story_id)
        return real(story, *args, **kwargs)

    monkeypatch.setattr(pipeline.summarize.extractive, "summarize_story", counting)
    return calls


@pytest.fixture()
def corpus(tmp_path) -> Path:
    """A copy of the sample corpus (named `corpus`, so cited paths read corpus/...)."""
    dest = tmp_path / "corpus"
    shutil.copytree(CORPUS, dest)
    return dest


def run_in_process(corpus: Path, out: Path, settings: Settings | None = None):
    return run(RunOptions(settings=settings or Settings(), config_path=Path("test"), corpus=corpus, out=out))


def cli(*args, env=None, cwd=ROOT, **kw):
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=cwd, capture_output=True, text=True,
                          env=full_env, **kw)


def popen(*args, env=None):
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "pipeline", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=full_env)


def lines_of(stream) -> "queue.Queue[str | None]":
    """Read a pipe line by line in a thread (None at the end), so the test can wait with a deadline."""
    q: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in stream:
            q.put(line)
        q.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return q


def wait_for_line(q: "queue.Queue[str | None]", pattern: str, seen: list[str], *, count: int = 1,
                  timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while sum(bool(re.search(pattern, x)) for x in seen) < count:
        line = q.get(timeout=max(0.1, deadline - time.monotonic()))
        if line is None:
            raise AssertionError(f"process ended before {count}x {pattern!r}:\n" + "".join(seen))
        seen.append(line)


def manifest(out: Path) -> dict:
    return json.loads((out / "latest" / "manifest.json").read_text())


def translation_keys(out: Path, used_since: float = 0.0) -> set[str]:
    with sqlite3.connect(out / "cache.sqlite") as db:
        rows = db.execute("SELECT key FROM entries WHERE kind = 'translate' AND used >= ?", (used_since,))
        return {k for (k,) in rows}


def tree_digest(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- cache: no model work on an unchanged corpus ----------------------------------------------


def _only_brief(run_dir: Path) -> Path:
    """The JSON brief of a one-story run (its name is the story's stable id)."""
    (path,) = (run_dir / "briefs").glob("story-*.json")
    return path


def test_warm_run_makes_no_translation_or_summarization_call(corpus, tmp_path, fake_engine, summarize_calls,
                                                              monkeypatch):
    out = tmp_path / "out"
    cold = run_in_process(corpus, out)
    assert cold.exit_code == 0, cold.message
    assert fake_engine.calls and len(summarize_calls) == 1
    assert cold.manifest["cache"]["engine_calls"]["translate"] == len(fake_engine.calls)
    cold_brief = _only_brief(cold.run_dir).read_text()

    # Warm: no engine call, no summary, no dedup, and lingua is not even built.
    fake_engine.calls.clear()
    summarize_calls.clear()

    def must_not_run(*args, **kwargs):
        raise AssertionError("called on a warm run")

    monkeypatch.setattr(pipeline.dedup, "dedup", must_not_run)
    monkeypatch.setattr(pipeline.dedup, "dedup_across_runs", must_not_run)
    monkeypatch.setattr(pipeline.ingest, "LanguageIdentifier", must_not_run)
    warm = run_in_process(corpus, out)
    assert warm.exit_code == 0, warm.message
    assert fake_engine.calls == [] and summarize_calls == []
    m = warm.manifest
    assert m["cache"]["engine_calls"] == {"summarize": 0, "translate": 0, "translated_texts": 0}
    assert m["cache"]["translate"]["misses"] == 0 and m["cache"]["translate"]["hits"] >= 2
    assert m["cache"]["ingest"] == {"hits": 5, "misses": 0}
    assert m["cache"]["summary"] == {"hits": 1, "misses": 0} and m["cache"]["dedup"] == {"hits": 1, "misses": 0} and m["cache"]["stories"] == {"hits": 1, "misses": 0}
    # The same brief: the cold run's file, which names the run that wrote it (issue 14: no change since).
    assert _only_brief(warm.run_dir).read_text() == cold_brief
    assert json.loads(cold_brief)["updated_in"] == cold.run_dir.name and _only_brief(warm.run_dir).stat().st_nlink == 2


def test_cache_disabled_redoes_the_work(corpus, tmp_path, fake_engine, summarize_calls):
    """The counters above can fail: without the cache, the second run calls the engines again."""
    settings = Settings(cache=CacheSettings(enabled=False))
    out = tmp_path / "out"
    assert run_in_process(corpus, out, settings).exit_code == 0
    assert run_in_process(corpus, out, settings).exit_code == 0
    assert len(summarize_calls) == 2 and summarize_calls[0] == summarize_calls[1]
    calls_per_run = len(fake_engine.calls) // 2
    assert calls_per_run >= 1 and fake_engine.calls[:calls_per_run] == fake_engine.calls[calls_per_run:]
    assert not (out / "cache.sqlite").exists()


def test_changed_setting_that_matters_misses_the_cache(corpus, tmp_path, fake_engine, summarize_calls):
    out = tmp_path / "out"
    first = run_in_process(corpus, out)
    assert first.exit_code == 0
    first_texts = set(fake_engine.texts)
    fake_engine.calls.clear()
    fewer = Settings.model_validate({"summarize": {"sentences": 2}})
    report = run_in_process(corpus, out, fewer)
    assert len(summarize_calls) == 2 and summarize_calls[0] == summarize_calls[1]
    assert report.manifest["cache"]["summary"] == {"hits": 0, "misses": 1}
    # the summary is new, but its sentences were translated before: none is sent again
    brief = json.loads(_only_brief(report.run_dir).read_text())
    assert len(brief["summary"]) == 2 and {s["fr"] for s in brief["summary"]} <= first_texts
    assert not set(fake_engine.texts) & first_texts


def test_adding_an_article_reprocesses_only_what_it_changes(corpus, tmp_path, fake_engine, summarize_calls):
    out = tmp_path / "out"
    assert run_in_process(corpus, out).exit_code == 0
    first_texts = set(fake_engine.texts)
    fake_engine.calls.clear()
    summarize_calls.clear()

    (corpus / "900_storm.txt").write_text(STORM, encoding="utf-8")
    report = run_in_process(corpus, out)
    assert report.exit_code == 0, report.message
    m = report.manifest
    assert m["counts"]["stories"] == 2
    # only the new file is ingested, only the new story is summarised
    assert m["cache"]["ingest"] == {"hits": 5, "misses": 1}
    assert m["cache"]["summary"] == {"hits": 1, "misses": 1}
    assert m["cache"]["engine_calls"]["summarize"] == 1  # (the summarizer may run in a worker process)
    # only sentences never translated before go to the engine: exactly the new story's
    briefs = [json.loads(p.read_text()) for p in (report.run_dir / "briefs").glob("*.json")]
    storm = next(b for b in briefs if any("900_storm" in s["file"] for s in b["sources"]))
    new_story = storm["summary"][0]
    sent = set(fake_engine.texts)
    assert sent and not (sent & first_texts)
    assert new_story["fr"] in sent
    assert all("Ciaran" in t or "tempête" in t.lower() or "Bretagne" in t or "foyers" in t or "écoles" in t
               or "pompiers" in t or "Météo" in t for t in sent)


def test_cached_translator_sends_each_new_text_once(tmp_path):
    from pipeline.cache import Cache, CachedTranslator

    cache = Cache(tmp_path / "c.sqlite")
    engine = CountingTranslator()
    cached = CachedTranslator(engine, cache, {"engine": engine.engine})
    assert cached.translate(["a", "b", "a"]) == ["EN[a]", "EN[b]", "EN[a]"]
    assert cached.translate(["b", "c"]) == ["EN[b]", "EN[c]"]
    assert engine.calls == [["a", "b"], ["c"]]
    other_model = CachedTranslator(engine, cache, {"engine": engine.engine, "model": "v2"})
    other_model.translate(["a"])
    assert engine.calls[-1] == ["a"]  # another identity, another key
    cache.close()


def test_translator_identity_follows_the_model_files(tmp_path):
    from pipeline.cache import translator_identity

    class FakeNeural(CountingTranslator):
        model_path = tmp_path / "model"

    FakeNeural.model_path.mkdir()
    (FakeNeural.model_path / "model.safetensors").write_bytes(b"weights v1")
    before = translator_identity(FakeNeural(), {"model": "m", "batch_size": 8})
    assert translator_identity(FakeNeural(), {"model": "m", "batch_size": 64}) == before  # batch size: same output
    (FakeNeural.model_path / "model.safetensors").write_bytes(b"weights v2, retrained")
    assert translator_identity(FakeNeural(), {"model": "m", "batch_size": 8}) != before
    assert translator_identity(FakeNeural(), {"model": "m", "beam_size": 4}) != before


def test_changed_file_is_ingested_again(corpus, tmp_path, fake_engine):
    out = tmp_path / "out"
    assert run_in_process(corpus, out).exit_code == 0
    path = corpus / "004_0f845232afc981bf.txt"
    path.write_text(path.read_text(encoding="utf-8") + "\nUne phrase ajoutée à la fin de cet article pour le test.\n",
                    encoding="utf-8")
    report = run_in_process(corpus, out)
    assert report.manifest["cache"]["ingest"] == {"hits": 4, "misses": 1}
    assert report.manifest["cache"]["dedup"] == {"hits": 0, "misses": 1}


def test_corrupt_cache_is_set_aside_not_fatal(corpus, tmp_path, fake_engine):
    out = tmp_path / "out"
    out.mkdir()
    (out / "cache.sqlite").write_bytes(b"this is not an SQLite database" * 100)
    report = run_in_process(corpus, out)
    assert report.exit_code == 0
    assert any("could not be read" in w for w in report.warnings)
    assert list(out.glob("cache.sqlite.corrupt-*"))


# --- atomic outputs ---------------------------------------------------------------------------


def test_layout_runs_and_latest(corpus, tmp_path, fake_engine):
    out = tmp_path / "out"
    first = run_in_process(corpus, out)
    second = run_in_process(corpus, out)
    assert first.run_dir.parent == second.run_dir.parent == out / "runs"
    assert os.readlink(out / "latest") == f"runs/{second.run_dir.name}"
    assert (out / "latest" / "manifest.json").is_file()
    assert sorted(p.name for p in (out / "runs").iterdir()) == sorted([first.run_dir.name, second.run_dir.name])


def test_failed_run_leaves_previous_outputs(corpus, tmp_path, fake_engine, monkeypatch):
    out = tmp_path / "out"
    good = run_in_process(corpus, out)
    before = tree_digest(good.run_dir)

    def crash(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(pipeline.flow.RenderStep, "run_files", crash)
    with pytest.raises(RuntimeError):
        run_in_process(corpus, out)
    assert (out / "latest").resolve() == good.run_dir.resolve()
    assert tree_digest(good.run_dir) == before
    assert [p.name for p in (out / "runs").iterdir() if not p.name.startswith(".")] == [good.run_dir.name]
    monkeypatch.undo()
    # the next run cleans up the temporary folder the failed one left
    run_in_process(corpus, out)
    assert not list((out / "runs").glob(".tmp-*"))


@needs_apertium
def test_kill_during_translation_then_resume(corpus, tmp_path):
    out = tmp_path / "out"
    # every sentence of the review pages in English: the cheese article's uncited sentences keep the
    # killed run translating after its briefs are written
    cfg = tmp_path / "all-english.yaml"
    # (cache.max_age_days 0: every read marks its entry used, which is how this test sees what was reused)
    cfg.write_text("output:\n  review_english: all\ncache:\n  max_age_days: 0\n", encoding="utf-8")
    conf = ("--config", str(cfg))
    # 1. a good run of the sample corpus
    first = cli("run", *conf, "--corpus", str(corpus), "--out", str(out))
    assert first.returncode == 0, first.stderr
    good_dir = (out / "latest").resolve()
    before = tree_digest(good_dir)
    first_keys = translation_keys(out)

    # 2. two new stories; translation made slow (test-only hook), killed with SIGKILL mid-way
    (corpus / "900_storm.txt").write_text(STORM, encoding="utf-8")
    (corpus / "901_cheese.txt").write_text(CHEESE, encoding="utf-8")
    proc = popen("run", *conf, "--corpus", str(corpus), "--out", str(out), env={"PIPELINE_TEST_SLOW_TRANSLATE": "3"})
    seen: list[str] = []
    try:
        # the briefs' translations are committed before any brief is written; the run is then
        # sleeping in the review pages' translations (the cheese article's paragraphs hold
        # sentences no summary cites, so the review pages need new ones)
        wait_for_line(lines_of(proc.stderr), r"INFO +brief story-", seen, count=2)
        time.sleep(0.5)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    print("killed run (SIGKILL), its log so far:\n" + "".join(seen))
    assert proc.returncode == -signal.SIGKILL
    assert (out / "latest").resolve() == good_dir
    assert tree_digest(good_dir) == before
    assert [p.name for p in (out / "runs").iterdir() if not p.name.startswith(".")] == [good_dir.name]
    print("left behind:", sorted(p.name for p in (out / "runs").iterdir()))
    after_first = json.loads((good_dir / "manifest.json").read_text())["cache"]["translate"]["misses"]
    by_killed_run = translation_keys(out) - first_keys
    print(f"translations in the cache: {after_first} after the first run, "
          f"{after_first + len(by_killed_run)} after the kill")
    assert len(first_keys) == after_first and by_killed_run  # the killed run committed what it had finished

    # 3. the next run completes, reusing the killed run's committed translations
    resume_started = time.time()
    resumed = cli("run", *conf, "--corpus", str(corpus), "--out", str(out))
    print("resumed run exit code:", resumed.returncode, "\n" + resumed.stderr)
    assert resumed.returncode == 0, resumed.stderr
    m = manifest(out)
    print("resumed run cache:", json.dumps(m["cache"]))
    assert m["counts"]["briefs"] == 3 and (out / "latest").resolve() != good_dir
    # every translation the killed run committed was found and used again; only the rest was translated
    reused = translation_keys(out, used_since=resume_started)
    print(f"resumed run: reused {len(by_killed_run & reused)} of the {len(by_killed_run)} translations "
          f"the killed run committed; translated {m['cache']['engine_calls']['translated_texts']} new texts")
    assert by_killed_run <= reused
    assert m["cache"]["engine_calls"]["translated_texts"] == m["cache"]["translate"]["misses"]
    assert m["cache"]["summary"]["hits"] >= 2  # story-001 and the story finished before the kill
    assert not list((out / "runs").glob(".tmp-*"))
    assert tree_digest(good_dir) == before


# --- lock -------------------------------------------------------------------------------------


@needs_apertium
def test_second_run_on_same_out_exits_3_or_waits(corpus, tmp_path):
    out = tmp_path / "out"
    holder = popen("run", "--corpus", str(corpus), "--out", str(out), env={"PIPELINE_TEST_SLOW_TRANSLATE": "6"})
    try:
        seen: list[str] = []
        wait_for_line(lines_of(holder.stderr), r"ingest: reading", seen)  # the lock is held from here on

        blocked = cli("run", "--corpus", str(corpus), "--out", str(out))
        assert blocked.returncode == 3, blocked.stderr
        assert "another run holds the lock" in blocked.stderr and f"pid {holder.pid}" in blocked.stderr
        assert "Traceback" not in blocked.stderr

        gave_up = cli("run", "--corpus", str(corpus), "--out", str(out), "--wait-timeout", "0.5")
        assert gave_up.returncode == 3 and "after waiting 0.5 s" in gave_up.stderr

        waiter = cli("run", "--corpus", str(corpus), "--out", str(out), "--wait", timeout=300)
        assert holder.poll() is not None, "the waiting run finished while the first one still held the lock"
        assert holder.returncode == 0
        assert waiter.returncode == 0, waiter.stderr
        assert "waiting" in waiter.stderr
        # it ran after the first one, so everything was cached
        assert manifest(out)["cache"]["engine_calls"]["translate"] == 0
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.wait()


# --- exit codes -------------------------------------------------------------------------------


def test_usage_errors_exit_2(tmp_path):
    missing = cli("run", "--corpus", str(tmp_path / "nope"), "--out", str(tmp_path / "o"))
    assert missing.returncode == 2 and "corpus folder not found" in missing.stderr
    (tmp_path / "file").write_text("x")
    out_is_file = cli("run", "--corpus", "corpus", "--out", str(tmp_path / "file"))
    assert out_is_file.returncode == 2 and "output folder" in out_is_file.stderr
    bad_flag = cli("run", "--wait-timeout", "soon")
    assert bad_flag.returncode == 2 and "seconds" in bad_flag.stderr
    bad_lang = tmp_path / "c.yaml"
    bad_lang.write_text("ingest:\n  languages: [fr, xx]\n")
    lang = cli("run", "--config", str(bad_lang), "--out", str(tmp_path / "o"))
    assert lang.returncode == 2 and "ingest.languages" in lang.stderr and "Traceback" not in lang.stderr
    for proc in (missing, out_is_file, bad_flag, lang):
        assert "Traceback" not in proc.stderr


def test_cache_path_unusable_exits_2(corpus, tmp_path, fake_engine):
    (tmp_path / "dir.sqlite").mkdir()
    settings = Settings(cache=CacheSettings(path=str(tmp_path / "dir.sqlite")))
    report = run_in_process(corpus, tmp_path / "out", settings)
    assert report.exit_code == 2 and "cache" in report.message


def test_missing_engine_exits_4(tmp_path):
    cfg = tmp_path / "marian.yaml"
    cfg.write_text(f"translate:\n  backend: marian\n  model: {tmp_path / 'no-such-model'}\n")
    proc = cli("run", "--config", str(cfg), "--out", str(tmp_path / "o"))
    assert proc.returncode == 4, proc.stderr
    assert "not available locally" in proc.stderr and "Traceback" not in proc.stderr
    no_apertium = cli("run", "--out", str(tmp_path / "o2"), env={"PATH": str(tmp_path)})
    assert no_apertium.returncode == 4 and "apertium is not installed" in no_apertium.stderr.lower()
    assert not (tmp_path / "o" / "latest").exists()


def test_unexpected_error_is_70_with_traceback(monkeypatch, capsys, tmp_path):
    from pipeline.__main__ import main

    def bug(options):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr("pipeline.__main__.run", bug)
    assert main(["run", "--out", str(tmp_path / "o")]) == 70
    err = capsys.readouterr().err
    assert "this is a bug" in err and "Traceback" in err and "ZeroDivisionError" in err


# --- logs and progress ------------------------------------------------------------------------


@needs_apertium
def test_json_logs_only_json_on_stderr(tmp_path):
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "ok.txt").write_text(STORM, encoding="utf-8")
    (corpus / "bad.txt").write_bytes(b"\x00\x01binary")
    proc = cli("run", "--corpus", str(corpus), "--out", str(tmp_path / "o"), "--log-format", "json")
    assert proc.returncode == 1
    records = [json.loads(line) for line in proc.stderr.splitlines()]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert any(r["level"] == "warning" and "bad.txt" in r["message"] for r in records)
    final = records[-1]
    assert final["event"] == "run_finished" and final["exit_code"] == 1 and final["status"] == "partial"
    assert final["counts"]["skipped_inputs"] == 1 and "cache" in final
    assert proc.stdout.strip() == final["run_dir"]

    usage = cli("run", "--log-format", "json", "--wait-timeout", "x")
    assert usage.returncode == 2
    assert [json.loads(x)["level"] for x in usage.stderr.splitlines()] == ["error"]
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("nope: 1\n")
    bad = cli("run", "--log-format", "json", "--config", str(cfg))
    assert bad.returncode == 2 and json.loads(bad.stderr.strip())["level"] == "error"


def _run_on_tty(*args):
    """Run the CLI with stderr on a pseudo-terminal; returns (exit code, what the terminal showed)."""
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))  # a new pty is 0x0
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=slave, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=120)
    os.close(master)
    return proc.returncode, b"".join(chunks).decode("utf-8", "replace")


@needs_apertium
def test_progress_bars_only_on_a_terminal_in_text_mode(corpus, tmp_path):
    code, shown = _run_on_tty("run", "--corpus", str(corpus), "--out", str(tmp_path / "o"))
    assert code == 0
    assert re.search(r"ingest: +\d+%\|", shown) and re.search(r"briefs: +\d+%\|", shown)
    assert re.search(r"INFO    brief story-[0-9a-f]{8}", shown)
    code, shown = _run_on_tty("run", "--corpus", str(corpus), "--out", str(tmp_path / "o"), "--log-format", "json")
    assert code == 0
    assert "%|" not in shown
    assert all(json.loads(line) for line in shown.splitlines() if line.strip())
    # not a terminal (the other tests): no bar
    proc = cli("run", "--corpus", str(corpus), "--out", str(tmp_path / "o"))
    assert "%|" not in proc.stderr


# --- bad input never stops the batch ----------------------------------------------------------

GOOD = "Une phrase française tout à fait correcte pour ce test, avec assez de mots.\n"


def _skips(folder: Path, settings: IngestSettings | None = None) -> dict[str, str]:
    result = ingest(folder, settings or IngestSettings())
    assert [d.doc_id for d in result.documents] == ["good"], result
    return {s.path.split("/", 1)[1]: s.reason for s in result.skipped}


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("png.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 10, "binary"),
        ("controls.txt", bytes(range(1, 32)) * 50, "binary"),
        ("empty.txt", b"", "empty file"),
        ("blank.md", b" \n\t\n", "empty file"),
        ("bom-only.txt", b"\xef\xbb\xbf\n", "empty file"),
        ("russian.txt", "Президент заявил в пятницу, что готов к переговорам.\n".encode("cp1251"),
         "no Western European legacy encoding fits"),
        ("mixed.txt", ("Le président a été élu à Paris. " * 5).encode() + "Réunion à Genève\n".encode("latin-1"),
         "mixed encodings"),
    ],
)
def test_bad_bytes_skipped_with_reason(tmp_path, name, content, reason):
    (tmp_path / name).write_bytes(content)
    (tmp_path / "good.txt").write_text(GOOD)
    skips = _skips(tmp_path)
    assert list(skips) == [name] and reason in skips[name], skips


def test_mixed_encoding_reason_names_the_line():
    raw = "Première ligne en UTF-8, très correcte.\nDeuxième ligne\n".encode() + "troisième à Genève\n".encode("latin-1")
    with pytest.raises(pipeline.ingest.InputError, match="on line 3"):
        decode_bytes(raw)


@pytest.mark.parametrize(
    "text, encoding",
    [
        ("Le président a été élu à Paris.\n", "latin-1"),  # short: charset-normalizer alone guesses mac_latin2
        ("L\u2019État a décidé d\u2019agir « vite » — et c\u2019est tout.\n", "cp1252"),
        ("Le président américain a déclaré vendredi qu'il était prêt à négocier.\n", "utf-16"),
    ],
)
def test_legacy_and_utf16_files_read_correctly(text, encoding):
    decoded, used = decode_bytes(text.encode(encoding))
    assert decoded == text, used


def test_oversized_file_skipped(tmp_path):
    (tmp_path / "big.txt").write_text(GOOD * 200)
    (tmp_path / "good.txt").write_text(GOOD)
    skips = _skips(tmp_path, IngestSettings(max_file_mb=0.005))
    assert "over the 0.0 MB limit" in skips["big.txt"] or "limit (ingest.max_file_mb)" in skips["big.txt"]


def test_directory_named_like_a_text_file(tmp_path):
    (tmp_path / "folder.txt").mkdir()
    (tmp_path / "good.txt").write_text(GOOD)
    assert _skips(tmp_path) == {"folder.txt": "is a directory, not a file"}


def test_fifo_named_like_a_text_file_does_not_block(tmp_path):
    os.mkfifo(tmp_path / "pipe.txt")
    (tmp_path / "good.txt").write_text(GOOD)
    assert "not a regular file" in _skips(tmp_path)["pipe.txt"]


def test_unreadable_file(tmp_path, monkeypatch):
    """chmod 000 does not stop root (tests run as root in CI), so the read itself is made to fail."""
    (tmp_path / "secret.txt").write_text(GOOD)
    (tmp_path / "good.txt").write_text(GOOD)
    (tmp_path / "secret.txt").chmod(0)
    real = os.open

    def open_(path, flags, *args, **kwargs):  # (ingest opens a file with os.open: `pipeline.ingest._read_all`)
        if os.fspath(path).endswith("secret.txt"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_)
    assert "permission denied" in _skips(tmp_path)["secret.txt"]


def test_symlink_loop_and_broken_symlink(tmp_path):
    (tmp_path / "loop.txt").symlink_to(tmp_path / "loop.txt")
    (tmp_path / "a.txt").symlink_to(tmp_path / "b.txt")
    (tmp_path / "b.txt").symlink_to(tmp_path / "a.txt")
    (tmp_path / "dangling.txt").symlink_to(tmp_path / "gone.txt")
    (tmp_path / "good.txt").write_text(GOOD)
    skips = _skips(tmp_path)
    assert set(skips) == {"loop.txt", "a.txt", "b.txt", "dangling.txt"}
    assert all("symlink" in r for r in skips.values())


def test_file_deleted_between_discovery_and_reading(tmp_path, monkeypatch):
    (tmp_path / "good.txt").write_text(GOOD)
    (tmp_path / "vanishing.txt").write_text(GOOD)
    real = pipeline.ingest.discover

    def discover_then_delete(*args):
        found = real(*args)
        (tmp_path / "vanishing.txt").unlink()
        return found

    monkeypatch.setattr(pipeline.ingest, "discover", discover_then_delete)
    assert "disappeared" in _skips(tmp_path)["vanishing.txt"]


def test_undecodable_file_name(tmp_path):
    bad = os.fsdecode(b"caf\xe9.txt")
    (tmp_path / bad).write_text(GOOD)
    (tmp_path / "good.txt").write_text(GOOD)
    skips = _skips(tmp_path)
    assert skips == {"caf\\xe9.txt": "file name is not valid UTF-8; rename the file"}


@needs_apertium
def test_every_bad_input_at_once_is_a_partial_run(corpus, tmp_path):
    (corpus / "bin.txt").write_bytes(b"\x00\x01\x02binary")
    (corpus / "empty.txt").write_bytes(b"")
    (corpus / "russian.txt").write_bytes("Президент заявил в пятницу.\n".encode("cp1251"))
    (corpus / "dir.md").mkdir()
    (corpus / "loop.txt").symlink_to(corpus / "loop.txt")
    (corpus / os.fsdecode(b"caf\xe9.txt")).write_text(GOOD)
    os.mkfifo(corpus / "pipe.txt")
    cfg = tmp_path / "small.yaml"
    cfg.write_text("ingest:\n  max_file_mb: 0.1\n")
    (corpus / "huge.txt").write_text(GOOD * 2000)
    proc = cli("run", "--config", str(cfg), "--corpus", str(corpus), "--out", str(tmp_path / "o"))
    assert proc.returncode == 1, proc.stderr
    m = manifest(tmp_path / "o")
    assert m["status"] == "partial" and m["counts"]["briefs"] == 1 and m["counts"]["documents"] == 5
    reasons = {s["path"]: s["reason"] for s in m["skipped_inputs"]}
    assert set(reasons) == {"corpus/bin.txt", "corpus/empty.txt", "corpus/russian.txt", "corpus/dir.md",
                            "corpus/loop.txt", "corpus/caf\\xe9.txt", "corpus/pipe.txt", "corpus/huge.txt"}
    for path in reasons:
        assert f"skipped {path}: " in proc.stderr
    assert "Traceback" not in proc.stderr


# --- scheduling files work as written ------------------------------------------------------------


def _install_tree(tmp_path: Path) -> Path:
    """A stand-in for the install folder that @PIPELINE_DIR@ names: the venv, configs and corpus."""
    home = tmp_path / "srv-pipeline"
    home.mkdir()
    for name in (".venv", "configs", "corpus"):
        (home / name).symlink_to(ROOT / name)
    return home


def _placeholders(text: str, home: Path) -> str:
    return text.replace("@PIPELINE_DIR@", str(home)).replace("@PIPELINE_USER@", "root")


@needs_apertium
def test_cron_line_works_as_written(tmp_path):
    home = _install_tree(tmp_path)
    cron = (ROOT / "scripts" / "pipeline.cron").read_text()
    entries = [line for line in cron.splitlines() if line.strip() and not line.lstrip().startswith("#")
               and not re.match(r"^\w+=", line)]
    assert len(entries) == 1
    fields = entries[0].split(None, 6)  # m h dom mon dow user command (/etc/cron.d format)
    assert len(fields) == 7 and fields[5] == "@PIPELINE_USER@" and "%" not in fields[6]
    command = _placeholders(fields[6], home)
    # cron runs the command with /bin/sh and a minimal environment
    proc = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0 and proc.stdout == "" and proc.stderr == "", (proc.stdout, proc.stderr)
    log_lines = (home / "outputs" / "pipeline.log").read_text().splitlines()
    assert json.loads(log_lines[-1])["event"] == "run_finished"
    assert (home / "outputs" / "latest" / "manifest.json").is_file()


@needs_apertium
def test_systemd_service_command_works_as_written(tmp_path):
    home = _install_tree(tmp_path)
    unit = (ROOT / "scripts" / "pipeline.service").read_text()
    keys = dict(re.findall(r"^(\w+)=(.*)$", unit, re.MULTILINE))
    assert keys["Type"] == "oneshot" and keys["SuccessExitStatus"].split() == ["1"]
    assert keys["WorkingDirectory"] == "@PIPELINE_DIR@"
    argv = shlex.split(_placeholders(keys["ExecStart"], home))
    assert Path(argv[0]).is_absolute()
    proc = subprocess.run(argv, cwd=_placeholders(keys["WorkingDirectory"], home), capture_output=True, text=True,
                          timeout=300, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr
    assert (home / "outputs" / "latest" / "manifest.json").is_file()
    timer = (ROOT / "scripts" / "pipeline.timer").read_text()
    assert re.search(r"^OnCalendar=", timer, re.MULTILINE) and "Persistent=true" in timer


def test_systemd_units_verify(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    home = _install_tree(tmp_path)
    units = tmp_path / "units"
    units.mkdir()
    for name in ("pipeline.service", "pipeline.timer"):
        (units / name).write_text(_placeholders((ROOT / "scripts" / name).read_text(), home))
    proc = subprocess.run(["systemd-analyze", "verify", "--man=no", str(units / "pipeline.service"),
                           str(units / "pipeline.timer")], capture_output=True, text=True, timeout=60)
    problems = [line for line in proc.stderr.splitlines() if "pipeline." in line]
    assert proc.returncode == 0 and not problems, proc.stderr


def test_run_files_are_the_json_that_the_json_module_indents(tmp_path):
    """manifest.json (and the lock's file) are written with `render.indented_json`, faster than the json
    module and the same text as `json.dumps(value, ensure_ascii=False, indent=2)`."""
    value = {
        "run": "20261201T061019Z", "empty": {}, "none": [], "nested": [[], {}, [[1]], {"a": {"b": []}}],
        "text": "é « guillemets » \u2028 \x00\x1f \"quoted\" \\ back\nslash\ttab 🙂",
        "numbers": [0, -1, 2 ** 70, 0.1, -0.0, 1e16, 1e-07, 2.8487, float("inf"), float("-inf"), float("nan")],
        "constants": [True, False, None], "tuple": (1, ("a", {"b": None})),
    }
    runner._write_json(tmp_path / "manifest.json", value)
    assert (tmp_path / "manifest.json").read_text(encoding="utf-8") == json.dumps(value, ensure_ascii=False,
                                                                                   indent=2) + "\n"


def test_the_cli_leaves_the_runs_records_to_the_end_of_the_process(corpus, tmp_path, fake_engine, monkeypatch):
    """`python -m pipeline run` ends the process right after the run (`leave`): the run's records stay in its
    report, out of the cyclic collector's reach, instead of being freed one by one; `main` (a caller that
    goes on) and `run` by default keep nothing."""
    import gc

    from pipeline.__main__ import _main, main

    monkeypatch.chdir(ROOT)  # (the default config)
    kept: list = []
    try:
        assert _main(["run", "--corpus", str(corpus), "--out", str(tmp_path / "cli")], kept) == 0
        records = kept[0].records
        assert [d.path for d in records.ingested.documents] == [d["file"] for d in kept[0].manifest["documents"]]
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
    assert main(["run", "--corpus", str(corpus), "--out", str(tmp_path / "main")]) == 0
    assert run_in_process(corpus, tmp_path / "library").records is None
