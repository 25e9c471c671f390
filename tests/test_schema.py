"""Every brief follows the documented, versioned JSON Schema (pipeline/render/brief.schema.json)."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pytest
from jsonschema import Draft202012Validator

from pipeline.corpus_index import CorpusIndex
from pipeline.flow import briefs_in_process
from pipeline.ingest import ingest
from pipeline.model import Brief, DedupResult
from pipeline.render import SCHEMA_VERSION, brief_to_dict, schema

from conftest import CORPUS, ROOT, apertium_missing
from test_stories_mixed import write_mixed_corpus


class Tagged:
    """A stand-in translator: predictable English ("EN: " + the French), no engine needed."""

    engine = "tagged (test)"

    def translate(self, texts):
        return [f"EN: {t}" for t in texts]


@dataclass
class Built:
    briefs: list[Brief]
    index: CorpusIndex
    dedup: DedupResult


def build_run(corpus: Path, settings, translator=None) -> Built:
    """The flow's steps in process: ingest, dedup, stories, summary, translation, quotes."""
    translator = translator or Tagged()
    docs = ingest(corpus, settings.ingest).documents
    built = briefs_in_process(docs, settings, translator)
    return Built(built.briefs, built.index, built.dedup)


def validate(data: dict) -> None:
    jsonschema.validate(data, schema(), cls=Draft202012Validator, format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_schema_is_draft_2020_12_and_versioned():
    s = schema()
    Draft202012Validator.check_schema(s)
    assert s["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert s["properties"]["schema_version"]["const"] == SCHEMA_VERSION


def test_every_field_is_documented():
    missing = []

    def walk(node, where):
        if isinstance(node, dict):
            for name, sub in node.get("properties", {}).items():
                if "description" not in sub and "$ref" not in sub:
                    missing.append(f"{where}.{name}")
                walk(sub, f"{where}.{name}")
            for key in ("items", "additionalProperties"):
                if isinstance(node.get(key), dict):
                    walk(node[key], f"{where}[]")
            for name, sub in node.get("$defs", {}).items():
                walk(sub, f"$defs.{name}")

    walk(schema(), "brief")
    assert not missing, missing


@pytest.fixture(scope="module")
def sample_built(settings):
    return build_run(CORPUS, settings)


@pytest.fixture(scope="module")
def mixed_built(tmp_path_factory, settings):
    return build_run(write_mixed_corpus(tmp_path_factory.mktemp("mixed") / "corpus"), settings)


def test_sample_and_mixed_briefs_follow_the_schema(sample_built, mixed_built):
    assert len(sample_built.briefs) == 1 and len(mixed_built.briefs) == 4
    for brief in (*sample_built.briefs, *mixed_built.briefs):
        data = brief_to_dict(brief, "20260101T000000Z")
        validate(json.loads(json.dumps(data, ensure_ascii=False)))  # as written to disk
    assert any(q["speaker"] for b in sample_built.briefs for q in brief_to_dict(b, "r")["quotes"])


@pytest.mark.parametrize("break_it", [
    lambda d: d.pop("quotes"),
    lambda d: d.update(schema_version="0.9"),
    lambda d: d["summary"][0]["citations"][0].update(line_start=0),
    lambda d: d["summary"][0]["citations"].clear(),
    lambda d: d["quotes"][0].update(speaker=5),
    lambda d: d["sources"][0].update(lang="French"),
    lambda d: d.update(extra_field=1),
])
def test_schema_rejects_broken_briefs(sample_built, break_it):
    data = copy.deepcopy(brief_to_dict(sample_built.briefs[0], "r"))
    break_it(data)
    with pytest.raises(jsonschema.ValidationError):
        validate(data)


# --- the real CLI (Apertium translation) ------------------------------------------------------------


def _cli_run(corpus: Path, out: Path) -> Path:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "pipeline", "run", "--corpus", str(corpus), "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    return out / "latest"


@pytest.mark.skipif(apertium_missing() is not None, reason=apertium_missing() or "")
@pytest.mark.parametrize("which", ["sample", "mixed"])
def test_cli_run_briefs_follow_the_schema(which, tmp_path):
    corpus = CORPUS if which == "sample" else write_mixed_corpus(tmp_path / "corpus")
    run = _cli_run(corpus, tmp_path / "out")
    briefs = sorted((run / "briefs").glob("*.json"))
    assert len(briefs) == (1 if which == "sample" else 4)
    for path in briefs:
        data = json.loads(path.read_text(encoding="utf-8"))
        validate(data)
        assert (run / "review" / f"{data['story_id']}.html").is_file()
    assert (run / "review" / "index.html").is_file()


def test_only_a_flagged_sentence_may_have_no_citation():
    from pipeline.model import Brief, SourceInfo, SummarySentence

    uncited = SummarySentence("Une phrase générée sans appui.", (), 0.0, text_en="A generated sentence.", flagged=True)
    source = SourceInfo("corpus/a.txt", "a", None, None, "fr", ())
    brief = Brief(story_id="story-001", headline_fr="Titre", headline_en="Title", summary=(uncited,),
                  sources=(source,), engines={"translator": "t", "summarizer": "s"})
    data = brief_to_dict(brief, "run1")
    validate(data)
    data["summary"][0]["flagged"] = False
    with pytest.raises(jsonschema.ValidationError):
        validate(data)
