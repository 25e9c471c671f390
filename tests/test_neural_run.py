"""`python -m pipeline run` end to end with each neural backend, on tiny models.

The tiny models (random weights, built by the tests; see tiny_models.py) prove
the wiring only: the config selects the backend, the model loads from a local
folder, the brief and manifest name the engine, citations stay checkable,
`auto` prefers a local model and a missing model exits 4. Their output is
gibberish and says nothing about quality.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from pipeline.ingest import decode_bytes, normalize_line, split_lines
from pipeline.render import schema

from conftest import ROOT, apertium_missing


def run_cli(workdir: Path, config: str, *command: str) -> tuple[subprocess.CompletedProcess, Path]:
    """Run `python -m pipeline <command> --config <config>` (and `--out` for run) in its own folder."""
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = workdir / "config.yaml"
    cfg.write_text(config)
    out = workdir / "out"
    args = [*command, "--config", str(cfg)] + (["--out", str(out)] if command[0] == "run" else [])
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(workdir / "hf")}
    proc = subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=ROOT, capture_output=True, text=True, env=env)
    return proc, out


def the_brief(out: Path) -> dict:
    (path,) = (out / "latest" / "briefs").glob("*.json")
    return json.loads(path.read_text())


def assert_citations_hold(brief: dict) -> None:
    for sentence in brief["summary"]:
        for c in sentence["citations"]:
            lines = split_lines(decode_bytes((ROOT / c["file"]).read_bytes())[0])
            assert c["text"] in " ".join(normalize_line(x) for x in lines[c["line_start"] - 1 : c["line_end"]])


def test_marian_backend(tmp_path, marian_dir):
    proc, out = run_cli(tmp_path, f"translate:\n  backend: marian\n  model: {marian_dir}\n  max_input_tokens: 48\n", "run")
    assert proc.returncode == 0, proc.stderr
    brief = the_brief(out)
    assert brief["engines"]["translator"].startswith("marian")
    assert all(s["en"].strip() for s in brief["summary"])
    assert_citations_hold(brief)
    manifest = json.loads((out / "latest" / "manifest.json").read_text())
    assert not any("degraded" in w for w in manifest["warnings"])


def test_ctranslate2_backend_and_auto_prefers_it(tmp_path, marian_dir, ct2_int8_dir):
    cfg = f"translate:\n  backend: ctranslate2\n  model: {marian_dir}\n  ct2_model: {ct2_int8_dir}\n"
    proc, out = run_cli(tmp_path, cfg, "run")
    assert proc.returncode == 0, proc.stderr
    assert "ctranslate2" in the_brief(out)["engines"]["translator"].lower()
    proc, out = run_cli(tmp_path / "auto", cfg.replace("backend: ctranslate2", "backend: auto"), "run")
    assert proc.returncode == 0, proc.stderr
    assert "ctranslate2" in the_brief(out)["engines"]["translator"].lower()


def test_seq2seq_summarizer_attributes_generated_sentences(tmp_path, bart_dir):
    cfg = (f"summarize:\n  backend: seq2seq\n  model: {bart_dir}\n  max_input_tokens: 64\n  max_new_tokens: 24\n"
           "  weak_support: flag\ntranslate:\n  backend: apertium\n")
    if apertium_missing():
        pytest.skip(apertium_missing())
    proc, out = run_cli(tmp_path, cfg, "run")
    assert proc.returncode == 0, proc.stderr
    brief = the_brief(out)
    jsonschema.validate(brief, schema(), cls=jsonschema.Draft202012Validator)
    assert brief["engines"]["summarizer"].startswith("seq2seq")
    for s in brief["summary"]:
        # generated text: every sentence is either supported by cited source sentences or flagged
        assert s["flagged"] or (s["citations"] and s["support"] > 0)
    assert_citations_hold(brief)


def test_missing_models_exit_4_with_the_remedy(tmp_path):
    proc, _ = run_cli(tmp_path, "translate:\n  backend: marian\n  model: /nonexistent/opus-mt\n", "run")
    assert proc.returncode == 4
    assert "/nonexistent/opus-mt" in proc.stderr and "Traceback" not in proc.stderr
    proc, _ = run_cli(tmp_path / "s", "summarize:\n  backend: seq2seq\n  model: /nonexistent/barthez\n", "run")
    assert proc.returncode == 4 and "summarize.model" in proc.stderr


def test_models_list_and_convert(tmp_path, marian_dir):
    ct2 = tmp_path / "ct2"
    cfg = f"translate:\n  model: {marian_dir}\n  ct2_model: {ct2}\n  compute_type: int8\n"
    proc, _ = run_cli(tmp_path, cfg, "models", "convert")
    assert proc.returncode == 0, proc.stderr
    assert (ct2 / "model.bin").is_file()
    proc, _ = run_cli(tmp_path, cfg, "models", "list")
    assert proc.returncode == 0
    assert "translate.model      usable" in proc.stdout and "translate.ct2_model  usable" in proc.stdout
