"""A hostile operator and a careless user (issue 16): nothing lost, nothing leaked, failures said as failures.

Small corpora built in tmp_path; runs in process with a fake translator, except the SIGINT test,
which starts the CLI (real Apertium, skipped with a reason where it is missing).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest

import pipeline.runner as runner
from pipeline.config import CacheSettings, ConfigError, OutputSettings, Settings, load_settings
from pipeline.runner import RunOptions, run
from pipeline.translate import EngineFailure, TranslationError
from pipeline.translate.select import TranslatorChoice

from conftest import ROOT, apertium_missing

STORM = """Une tempête frappe la Bretagne

La tempête Ciaran a frappé les côtes de la Bretagne dans la nuit de mercredi à jeudi avec des rafales à 180 kilomètres par heure. Plus de 780 000 foyers ont été privés d'électricité dans le Finistère et les Côtes-d'Armor selon le gestionnaire du réseau.

Les écoles de toute la région sont restées fermées jeudi par mesure de précaution, a annoncé la préfecture maritime.
"""

CHEESE = """Le festival du fromage attire les foules à Rocamadour

Le festival annuel du fromage de chèvre a réuni plus de 25 000 visiteurs ce week-end dans le village de Rocamadour. Une centaine de producteurs du Lot et de l'Aveyron ont présenté leurs meilleurs cabécous aux amateurs.

Le jury a décerné la médaille d'or à une petite ferme familiale installée depuis trois générations sur le causse de Gramat.
"""

TRAIN = """La grève des contrôleurs perturbe les trains du week-end

Un train sur trois a été supprimé samedi sur les lignes à grande vitesse entre Paris et Lyon à cause de la grève des contrôleurs. Les syndicats demandent une hausse des salaires et de meilleures conditions de travail.

La direction de la compagnie ferroviaire a proposé une nouvelle réunion de négociation lundi matin au siège parisien.
"""


class FakeTranslator:
    engine = "fake translator 1.0"

    def __init__(self, fail: type[Exception] | None = None, warnings_: tuple[str, ...] = ()) -> None:
        self.fail = fail
        self.warnings = warnings_

    def translate(self, texts):
        if self.fail is not None:
            raise self.fail("engine broken: exit status 1")
        return [f"EN[{t}]" for t in texts]


@pytest.fixture()
def engine(monkeypatch):
    fake = FakeTranslator()
    monkeypatch.setattr(runner, "choose_translator", lambda settings, **_: TranslatorChoice(fake, ()))
    return fake


@pytest.fixture()
def cli_logging():
    """The CLI's logging setup replaces handlers: put them back for the tests after this one."""
    loggers = [logging.getLogger("pipeline"), logging.getLogger()]
    saved = [(lg.handlers[:], lg.level, lg.propagate) for lg in loggers]
    yield
    for lg, (handlers, level, propagate) in zip(loggers, saved):
        lg.handlers[:], lg.level, lg.propagate = handlers, level, propagate
    logging.captureWarnings(False)


def make_corpus(root: Path, files: dict[str, str]) -> Path:
    corpus = root / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (corpus / name).write_text(text, encoding="utf-8")
    return corpus


def go(corpus: Path, out: Path, settings: Settings | None = None):
    return run(RunOptions(settings=settings or Settings(), config_path=Path("test"), corpus=corpus, out=out))


def run_folders(out: Path) -> list[str]:
    return sorted(p.name for p in (out / "runs").iterdir() if not p.name.startswith("."))


# --- data leaks and loss -----------------------------------------------------------------------


def test_out_inside_corpus_is_refused_and_nothing_written(tmp_path, engine):
    corpus = make_corpus(tmp_path, {"storm.txt": STORM})
    for out in (corpus, corpus / "out", corpus / "sub" / "out"):
        report = go(corpus, out)
        assert report.exit_code == 2 and "inside --corpus" in report.message
    assert sorted(p.name for p in corpus.iterdir()) == ["storm.txt"]


def test_stale_cleanup_touches_only_what_the_tool_made(tmp_path, engine):
    corpus = make_corpus(tmp_path, {"storm.txt": STORM})
    out = tmp_path / "shared-out"
    others = [out / "runs" / ".tmp-build", out / ".tmp-editor", out / "runs" / ".tmp-20200101T000000Z"]
    for folder in others:
        folder.mkdir(parents=True)
        (folder / "data.txt").write_text("another program's data")
    (out / ".latest-notes").write_text("not a link of ours")
    # what a killed run of ours left: a marked temporary folder and its link
    ours = out / "runs" / ".tmp-20200102T000000Z"
    ours.mkdir()
    (ours / ".pipeline-temp").write_text("")  # runner.TEMP_MARKER
    (out / ".latest-20200102T000000Z").symlink_to("runs/20200102T000000Z")
    assert go(corpus, out).exit_code == 0
    for folder in others:
        assert (folder / "data.txt").read_text() == "another program's data"
    assert (out / ".latest-notes").read_text() == "not a link of ours"
    assert not ours.exists() and not (out / ".latest-20200102T000000Z").is_symlink()


def test_deleting_the_lock_file_does_not_let_a_second_run_in(tmp_path, monkeypatch):
    corpus = make_corpus(tmp_path, {"storm.txt": STORM})
    out = tmp_path / "out"
    entered, release = threading.Event(), threading.Event()

    class Blocking(FakeTranslator):
        def translate(self, texts):
            entered.set()
            assert release.wait(60)
            return super().translate(texts)

    monkeypatch.setattr(runner, "choose_translator", lambda settings, **_: TranslatorChoice(Blocking(), ()))
    first: dict = {}
    holder = threading.Thread(target=lambda: first.setdefault("report", go(corpus, out)))
    holder.start()
    try:
        assert entered.wait(60)
        temp = list((out / "runs").glob(".tmp-*"))
        assert len(temp) == 1
        for name in (".pipeline.lock", ".pipeline.lock.json"):  # what a careless user deletes
            (out / name).unlink(missing_ok=True)
        second = go(corpus, out)
        assert second.exit_code == 3, second.message
        assert temp[0].is_dir()  # the first run's temporary folder survived
    finally:
        release.set()
        holder.join(60)
    assert first["report"].exit_code == 0, first["report"].message


def test_cache_path_on_a_users_file_is_refused_untouched(tmp_path, engine):
    corpus = make_corpus(tmp_path, {"storm.txt": STORM})
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes, not a database\n")
    report = go(corpus, tmp_path / "out", Settings(cache=CacheSettings(path=str(notes))))
    assert report.exit_code == 2 and str(notes) in report.message
    assert notes.read_text() == "my notes, not a database\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus", "notes.txt"]  # nothing written


def test_cache_and_run_files_are_private(tmp_path, engine):
    corpus = make_corpus(tmp_path, {"storm.txt": STORM})
    out = tmp_path / "out"
    old = os.umask(0o022)
    try:
        report = go(corpus, out)
        assert os.umask(0o022) == 0o022  # the run put the umask back
    finally:
        os.umask(old)
    assert report.exit_code == 0, report.message
    assert stat.S_IMODE((out / "cache.sqlite").stat().st_mode) == 0o600
    for p in [report.run_dir, *report.run_dir.rglob("*")]:
        assert stat.S_IMODE(p.stat().st_mode) == (0o700 if p.is_dir() else 0o600), p
    shared = go(corpus, tmp_path / "out2", Settings(output=OutputSettings(private=False)))
    assert stat.S_IMODE((shared.run_dir / "manifest.json").stat().st_mode) & 0o044  # output.private: false


@pytest.mark.parametrize("case", ["empty", "all skipped", "other extensions"])
def test_nothing_to_do_is_not_success_and_latest_stays(tmp_path, engine, case):
    corpus = make_corpus(tmp_path, {"storm.txt": STORM})
    out = tmp_path / "out"
    good = go(corpus, out)
    assert good.exit_code == 0
    (corpus / "storm.txt").unlink()
    if case == "all skipped":
        (corpus / "blank.txt").write_text("   \n")
    elif case == "other extensions":
        (corpus / "storm.pdf").write_text(STORM)
    report = go(corpus, out)
    assert report.exit_code == 5, report.message  # runner.EXIT_NOTHING
    assert "nothing to do" in report.message and report.run_dir is None
    assert (out / "latest").resolve() == good.run_dir.resolve()
    assert run_folders(out) == [good.run_dir.name] and not list((out / "runs").glob(".tmp-*"))


# --- failures reported as success ----------------------------------------------------------------


@pytest.mark.parametrize("failure", [EngineFailure, TranslationError])
def test_engine_failing_every_story_is_exit_4_and_latest_stays(tmp_path, monkeypatch, failure):
    corpus = make_corpus(tmp_path, {"storm.txt": STORM, "cheese.txt": CHEESE})
    out = tmp_path / "out"
    monkeypatch.setattr(runner, "choose_translator", lambda settings, **_: TranslatorChoice(FakeTranslator(), ()))
    good = go(corpus, out)
    assert good.exit_code == 0
    (corpus / "train.txt").write_text(TRAIN, encoding="utf-8")  # new text: the engine is asked again
    monkeypatch.setattr(runner, "choose_translator", lambda settings, **_: TranslatorChoice(FakeTranslator(failure), ()))
    report = go(corpus, out, Settings(cache=CacheSettings(enabled=False)))
    assert report.exit_code == 4, report.message
    assert "engine broken" in report.message and report.run_dir is None
    assert (out / "latest").resolve() == good.run_dir.resolve() and run_folders(out) == [good.run_dir.name]


def _populated_cache(tmp_path: Path, engine) -> tuple[Path, Path]:
    corpus = make_corpus(tmp_path, {"storm.txt": STORM})
    out = tmp_path / "out"
    assert go(corpus, out).exit_code == 0
    return corpus, out


def _bad_pages(db: Path) -> None:
    data = bytearray(db.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    data[page:] = b"\xa5" * (len(data) - page)  # every page but the first (the schema) overwritten
    db.write_bytes(bytes(data))


def _set_values(db: Path, value: str) -> None:
    with sqlite3.connect(db) as con:
        con.execute("UPDATE entries SET value = ?", (value,))
    con.close()


def _foreign_table(db: Path) -> None:
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE invoices (id INTEGER, amount REAL)")
    con.close()


@pytest.mark.parametrize("damage", ["bad pages", "not JSON", "wrong shape", "foreign table"])
def test_damaged_cache_is_never_a_reason_to_fail(tmp_path, engine, damage):
    corpus, out = _populated_cache(tmp_path, engine)
    db = out / "cache.sqlite"
    {"bad pages": _bad_pages, "not JSON": lambda p: _set_values(p, "{not json"),
     "wrong shape": lambda p: _set_values(p, "[1, 2]"), "foreign table": _foreign_table}[damage](db)
    report = go(corpus, out)
    assert report.exit_code == 0, report.message
    brief = json.loads(next((report.run_dir / "briefs").glob("story-*.json")).read_text())
    assert brief["headline"]["en"].startswith("EN[")
    if damage in ("bad pages", "foreign table"):
        assert any("moved it to" in w for w in report.manifest["warnings"]), report.manifest["warnings"]
        assert list(out.glob("cache.sqlite.corrupt-*"))
    else:
        assert any("do not read back" in w for w in report.manifest["warnings"]), report.manifest["warnings"]
    assert go(corpus, out).exit_code == 0  # and the run after it too


def test_cache_write_on_a_full_disk_warns_and_goes_on(tmp_path):
    from pipeline.cache import Cache

    cache = Cache(tmp_path / "cache.sqlite")
    cache.put("translate", "k0", "kept")
    pages = cache._db.execute("PRAGMA page_count").fetchone()[0]
    cache._db.execute(f"PRAGMA max_page_count = {pages}")  # this connection's disk is now full
    cache.put_many("translate", [(f"k{i}", "x" * 5000) for i in range(1, 50)])  # SQLITE_FULL
    cache.put("translate", "k99", "later")
    assert any("no more results are stored" in w for w in cache.warnings), cache.warnings
    assert cache.get("translate", "k0") == "kept" and cache.get("translate", "k1") is None
    cache.close()


# --- crashes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, key", [
    ("ingest:\n  max_file_mb: .inf\n", "ingest.max_file_mb"),
    ("ingest:\n  boilerplate:\n    footer_patterns: ['tags(']\n", "ingest.boilerplate.footer_patterns"),
    ("ingest:\n  boilerplate:\n    line_patterns: ['[menu']\n", "ingest.boilerplate.line_patterns"),
    ("summarize:\n  sentences: true\n", "summarize.sentences"),
    ("ingest:\n  extensions: []\n", "ingest.extensions"),
])
def test_config_values_that_crashed_are_exit_2_naming_the_key(tmp_path, text, key):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert key in str(err.value) and "\n" not in str(err.value)


def test_config_not_utf8_or_a_folder_is_exit_2_naming_the_file(tmp_path, capsys, cli_logging):
    from pipeline.__main__ import main

    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes("summarize:\n  model: 'modèle'\n".encode("latin-1"))
    folder = tmp_path / "configs"
    folder.mkdir()
    for cfg in (latin1, folder):
        assert main(["run", "--config", str(cfg), "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err
        assert str(cfg) in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_disk_full_is_a_clear_failure_and_latest_stays(tmp_path, engine, monkeypatch):
    corpus = make_corpus(tmp_path, {"storm.txt": STORM})
    out = tmp_path / "out"
    good = go(corpus, out)
    def failing(real):
        def full(self, *args, **kwargs):
            if self.name == "index.md":
                raise OSError(errno.ENOSPC, "No space left on device")
            return real(self, *args, **kwargs)
        return full

    for method in ("write_text", "write_bytes"):  # however a run file is written
        monkeypatch.setattr(Path, method, failing(getattr(Path, method)))
    report = go(corpus, out)
    assert report.exit_code == 6, report.message  # runner.EXIT_WRITE
    assert "No space left on device" in report.message and "index.md" in report.message
    assert (out / "latest").resolve() == good.run_dir.resolve()
    assert run_folders(out) == [good.run_dir.name] and not list((out / "runs").glob(".tmp-*"))


def test_old_runs_are_pruned_by_keep_runs(tmp_path, engine):
    corpus = make_corpus(tmp_path, {"storm.txt": STORM})
    out = tmp_path / "out"
    (out / "runs" / "notes").mkdir(parents=True)  # not a run folder: never touched
    settings = Settings(output=OutputSettings(keep_runs=2))
    made = []
    for _ in range(3):
        made.append(go(corpus, out, settings).run_dir.name)
        time.sleep(1.01)  # run ids have a resolution of one second (a clash gets a suffix, in any order)
    assert run_folders(out) == sorted(["notes", *made[1:]])
    assert os.readlink(out / "latest") == f"runs/{made[-1]}"


@pytest.mark.skipif(apertium_missing() is not None, reason=apertium_missing() or "")
def test_sigint_with_json_logs_stays_json_and_exits_130(tmp_path):
    corpus = make_corpus(tmp_path, {"storm.txt": STORM})
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PIPELINE_TEST_SLOW_TRANSLATE": "30"}
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "run", "--corpus", str(corpus), "--out",
                             str(tmp_path / "out"), "--log-format", "json"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            # as from a terminal: a suite started in the background (`cmd &`) has SIGINT
                            # ignored, which Python and so the run would inherit
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen = []
    try:
        for line in proc.stderr:
            seen.append(line)
            if '"translate: ' in line:  # logged as the (slowed) translation starts
                break
        time.sleep(0.5)  # in the slowed translation now
        proc.send_signal(signal.SIGINT)
        _, rest = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = [x for x in "".join(seen).splitlines() + (rest or "").splitlines() if x.strip()]
    records = [json.loads(x) for x in lines]  # every line is JSON: no raw traceback
    assert proc.returncode == 130, "\n".join(lines)
    assert records[-1]["event"] == "run_interrupted" and records[-1]["exit_code"] == 130
    assert not (tmp_path / "out" / "latest").exists()


# --- injection ---------------------------------------------------------------------------------------


HOSTILE_NAMES = {
    "a`<img src=x onerror=alert(1)>`.txt": STORM,
    "b\n# forged heading.txt": CHEESE,
    "c | d | e.txt": TRAIN,
}


def test_file_names_cannot_inject_markdown_html_or_break_the_json_schema(tmp_path, engine):
    import jsonschema
    from markdown_it import MarkdownIt

    from pipeline.render import schema

    corpus = make_corpus(tmp_path, HOSTILE_NAMES)
    report = go(corpus, tmp_path / "out")
    assert report.exit_code == 0, report.message
    md = MarkdownIt("commonmark").enable("table")
    briefs = sorted((report.run_dir / "briefs").glob("*.md"))
    assert len(briefs) == 3
    for path in briefs:
        text = path.read_text()
        html = md.render(text)
        assert "<img" not in html and "forged heading</h1>" not in html
        headings = [t.tag for t in md.parse(text) if t.type == "heading_open"]
        assert headings.count("h1") == 1
        rows = [line for line in text.splitlines() if line.startswith("| ")]
        width = len(re.split(r"(?<!\\)\|", rows[0]))  # the header's cells (+ 2 empty ends)
        assert len(rows) >= 2 and all(len(re.split(r"(?<!\\)\|", r)) == width for r in rows), rows
        cells = [t for t in md.parse(text) if t.type == "td_open"]
        assert cells and len(cells) % (width - 2) == 0
        jsonschema.validate(json.loads(path.with_suffix(".json").read_text()), schema())
    # the names are still shown, in full, inside code spans
    story = next(p.read_text() for p in briefs if "onerror" in p.read_text())
    assert "``corpus/a`<img src=x onerror=alert(1)>`.txt``" in story


def test_text_logs_escape_control_characters(capsys, cli_logging):
    from pipeline.__main__ import _setup_logging

    _setup_logging("text", False)
    logging.getLogger("pipeline").warning("skipped %s: empty", "x.txt\nERROR   forged: all is well")
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "x.txt\\nERROR   forged" in err


# --- wrong content --------------------------------------------------------------------------------------


def test_review_translation_failure_is_in_the_manifest(tmp_path, monkeypatch):
    class Refuses(FakeTranslator):
        def translate(self, texts):  # the sentence the one-sentence brief leaves out (review pages only) fails
            if any("rafales" in t for t in texts):
                raise TranslationError("engine refused a sentence")
            return super().translate(texts)

    monkeypatch.setattr(runner, "choose_translator", lambda settings, **_: TranslatorChoice(Refuses(), ()))
    # every sentence of the cited paragraphs translated for the pages (by default only the cited ones are)
    settings = Settings.model_validate({"summarize": {"sentences": 1}, "output": {"review_english": "all"}})
    report = go(make_corpus(tmp_path, {"storm.txt": STORM}), tmp_path / "out", settings)
    assert report.exit_code == 0, report.message
    assert any("review pages" in w and "refused a sentence" in w for w in report.manifest["warnings"])


def test_engine_and_python_warnings_reach_the_manifest(tmp_path, monkeypatch):
    class Warns(FakeTranslator):
        def translate(self, texts):
            warnings.warn("engine says: tokenizer fallback used")
            return super().translate(texts)

    fake = Warns(warnings_=("sacremoses is not installed: Marian's punctuation normalisation is skipped",))
    monkeypatch.setattr(runner, "choose_translator", lambda settings, **_: TranslatorChoice(fake, ()))
    report = go(make_corpus(tmp_path, {"storm.txt": STORM}), tmp_path / "out")
    found = report.manifest["warnings"]
    assert any("sacremoses" in w for w in found) and any("tokenizer fallback" in w for w in found), found
    brief = json.loads(next((report.run_dir / "briefs").glob("story-*.json")).read_text())
    assert any("sacremoses" in w for w in brief["warnings"])


def test_bench_dedup_finds_shared_eval_dev_beside_the_repository(tmp_path):
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import bench_dedup
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    repo = tmp_path / "checkout"
    (tmp_path / "shared" / "eval-dev").mkdir(parents=True)
    repo.mkdir()
    assert bench_dedup.default_eval_dev(repo) == (tmp_path / "shared" / "eval-dev").resolve()
