"""End to end on every format: `run`, then `verify` re-checks every citation byte for byte."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, apertium_missing
from test_formats import build_mixed_corpus

pytestmark = pytest.mark.skipif(apertium_missing() is not None, reason=apertium_missing() or "")


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=cwd, capture_output=True, text=True, env=env)


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("verify")
    corpus = build_mixed_corpus(base / "news")
    proc = cli("run", "--corpus", str(corpus), "--out", str(base / "out"))
    assert proc.returncode == 0, proc.stderr
    return corpus, Path(proc.stdout.strip())


def _verify(run_dir: Path, *extra: str) -> tuple[int, dict, str]:
    proc = cli("verify", str(run_dir), *extra)
    return proc.returncode, json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def test_every_citation_of_every_format_verifies(mixed_run):
    corpus, run_dir = mixed_run
    code, counts, _ = _verify(run_dir)
    assert code == 0 and counts["ok"]
    assert counts["documents"] == 11 and counts["sources_ok"] == 11 and counts["inputs_ok"] == 11
    assert counts["citations"] == counts["citations_ok"] > 10
    index = json.loads((run_dir / "sources" / "index.json").read_text())
    formats = {d["format"] for d in index["documents"]}
    assert formats == {"txt", "html", "feed", "jsonl", "json", "csv", "parquet", "warc"}
    cited = set()
    for path in (run_dir / "briefs").glob("*.json"):
        brief = json.loads(path.read_text())
        for item in brief["summary"] + brief["quotes"]:
            for c in item["citations"]:
                source = (run_dir / "sources" / f"{c['doc_id']}.txt").read_text(encoding="utf-8")
                assert source[c["char_start"]:c["char_end"]] == c["exact"]
                assert len(c["prefix"]) <= 32 and len(c["suffix"]) <= 32
                cited.add(next(d["format"] for d in index["documents"] if d["doc_id"] == c["doc_id"]))
    assert len(cited) >= 5
    note = next(d for d in index["documents"] if d["format"] == "txt")
    assert (run_dir / note["source"]).read_bytes() == (corpus / "note.txt").read_bytes()


def test_verify_finds_a_changed_source_and_a_changed_input(mixed_run, tmp_path):
    corpus, run_dir = mixed_run
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    index = json.loads((copy / "sources" / "index.json").read_text())
    brief_path = next((copy / "briefs").glob("story-*.json"))
    brief = json.loads(brief_path.read_text())
    c = brief["summary"][0]["citations"][0]
    source = copy / "sources" / f"{c['doc_id']}.txt"
    text = source.read_text(encoding="utf-8")
    source.write_text(text[: c["char_start"]] + text[c["char_start"]:c["char_end"]].upper() + text[c["char_end"]:],
                      encoding="utf-8")
    code, counts, stderr = _verify(copy)
    assert code == 1 and not counts["ok"] and counts["citations_ok"] < counts["citations"]
    assert "SHA-256 differs" in stderr and brief_path.name in stderr
    moved = tmp_path / "news"
    shutil.copytree(corpus, moved)
    (moved / "note.txt").write_text("changed\n", encoding="utf-8")
    code, counts, stderr = _verify(run_dir, "--corpus", str(moved))
    assert code == 1 and "news/note.txt: the input file changed" in stderr
    assert index["format"] == 1


def test_sample_corpus_citations_quote_the_files_exactly(tmp_path):
    proc = cli("run", "--corpus", "corpus", "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    run_dir = Path(proc.stdout.strip())
    code, counts, _ = _verify(run_dir)
    assert code == 0 and counts["inputs_ok"] == counts["documents"] == 5 and counts["citations"] >= 10
    for path in (run_dir / "briefs").glob("*.json"):
        for item in json.loads(path.read_text())["summary"]:
            for c in item["citations"]:
                original = (ROOT / c["file"]).read_bytes().decode("utf-8-sig")
                assert original[c["char_start"]:c["char_end"]] == c["exact"]


def test_verify_on_a_folder_that_is_not_a_run_exits_2(tmp_path):
    proc = cli("verify", str(tmp_path))
    assert proc.returncode == 2 and "sources/index.json" in proc.stderr and "Traceback" not in proc.stderr


def test_csv_without_the_text_column_exits_2_naming_it(tmp_path):
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "export.csv").write_text("id,corps\n1,Un texte\n", encoding="utf-8")
    proc = cli("run", "--corpus", str(corpus), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2, proc.stderr
    assert "ingest.fields.text" in proc.stderr and "columns (id, corps)" in proc.stderr
    assert "Traceback" not in proc.stderr
