"""The CLI on the sample corpus, and every citation checked against the files."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.ingest import decode_bytes, normalize_line, split_lines

from conftest import ROOT, apertium_missing

pytestmark = pytest.mark.skipif(apertium_missing() is not None, reason=apertium_missing() or "")


def cli(*args, cwd=ROOT):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=cwd, capture_output=True, text=True, env=env)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    proc = cli("run", "--corpus", "corpus", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    latest = out / "latest"
    assert latest.is_symlink() and latest.resolve() == Path(proc.stdout.strip()).resolve()
    assert latest.resolve().parent == (out / "runs").resolve()
    return latest


def test_outputs_written(run_dir):
    assert (run_dir / "index.md").is_file() and (run_dir / "manifest.json").is_file()
    assert (run_dir / "dedup.json").is_file()
    names = sorted(p.name for p in (run_dir / "briefs").iterdir())
    assert len(names) == 2 and names[0].endswith(".json") and names[1] == names[0].replace(".json", ".md")
    assert re.fullmatch(r"story-[0-9a-f]{8}\.json", names[0])  # a stable id, not a position
    assert not list(run_dir.resolve().parent.glob(".tmp-*"))


def test_dedup_file_is_one_json_document_with_one_group_per_line(run_dir):
    text = (run_dir / "dedup.json").read_text(encoding="utf-8")
    groups = json.loads(text)["groups"]
    assert groups and text.count("\n") == len(groups) + 2  # the opening line, a line per group, the closing line
    for line, group in zip(text.splitlines()[1:-1], groups):
        assert json.loads(line.rstrip(",")) == group
        assert group["canonical"] in {m["id"] for m in group["members"]}
        for m in group["members"]:
            assert m["text"] and m["file"].startswith("corpus/") and m["line_start"] <= m["line_end"]
    assert len({g["group_id"] for g in groups}) == len(groups)


def test_every_citation_is_in_the_cited_lines(run_dir):
    checked = 0
    for brief_path in (run_dir / "briefs").glob("*.json"):
        brief = json.loads(brief_path.read_text())
        assert brief["summary"], "empty brief"
        for sentence in brief["summary"]:
            assert sentence["citations"]
            assert sentence["en"].strip()
            for c in sentence["citations"]:
                path = ROOT / c["file"]
                assert c["file"].startswith("corpus/") and path.is_file()
                text, _ = decode_bytes(path.read_bytes())
                lines = split_lines(text)
                assert 1 <= c["line_start"] <= c["line_end"] <= len(lines)
                cited = " ".join(normalize_line(x) for x in lines[c["line_start"] - 1 : c["line_end"]])
                assert c["text"] in cited, c
                assert isinstance(c["paragraph"], int) and c["paragraph"] >= 1
                checked += 1
        # the summary sentence is the text of its first citation (extractive)
        assert all(s["fr"] == s["citations"][0]["text"] for s in brief["summary"])
    assert checked >= 5


def test_markdown_brief_reads_on_its_own(run_dir):
    md = next((run_dir / "briefs").glob("story-*.md")).read_text()
    assert md.startswith("# ")
    for section in ("## Résumé", "## Summary (English)", "## Citations", "## Sources"):
        assert section in md
    assert "corpus/004_0f845232afc981bf.txt" in md
    assert "sources*" in md  # "reported by N of M sources"


def test_manifest_records_run(run_dir):
    m = json.loads((run_dir / "manifest.json").read_text())
    assert m["status"] == "ok" and m["counts"]["documents"] == 5 and m["counts"]["briefs"] == 1
    assert set(m["timings_s"]) >= {"ingest", "dedup", "stories"}
    assert "apertium" in m["engines"]["translator"]
    assert m["versions"]["python"] and m["config"]["summarize"]["backend"] == "extractive"
    assert any("degraded to Apertium" in w for w in m["warnings"])


def test_bad_config_exits_2_with_one_line(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("dedup:\n  near_treshold: 0.5\n")
    proc = cli("run", "--config", str(cfg), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2
    assert "dedup.near_treshold" in proc.stderr and "Traceback" not in proc.stderr


def test_skipped_input_gives_partial_exit(tmp_path):
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "ok.txt").write_text(
        "Microsoft a confirmé dimanche qu'il poursuivait les discussions en vue de racheter TikTok aux États-Unis.\n"
    )
    (corpus / "broken.txt").write_bytes(b"\x00\x01\x02binary")
    proc = cli("run", "--corpus", str(corpus), "--out", str(tmp_path / "o"))
    assert proc.returncode == 1, proc.stderr
    assert "broken.txt" in proc.stderr and "binary" in proc.stderr
    m = json.loads((tmp_path / "o" / "latest" / "manifest.json").read_text())
    assert m["status"] == "partial" and m["skipped_inputs"][0]["path"] == "c/broken.txt"


def test_a_profiled_run_still_writes_its_profile(tmp_path):
    """The CLI leaves without tearing the interpreter down (`pipeline.__main__.leave`), except under a profiler,
    which writes its results as the interpreter ends: `python -m cProfile -o FILE -m pipeline run` keeps working."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    profile = tmp_path / "run.prof"
    proc = subprocess.run([sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "pipeline", "run", "--corpus",
                           "corpus", "--out", str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()).resolve() == (tmp_path / "out" / "latest").resolve()
    import pstats

    assert pstats.Stats(str(profile)).total_calls > 0
