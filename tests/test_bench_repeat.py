"""`scripts/bench_scale.py --repeat`: between two runs of a step the output folder is put back as it was, so
each run does the same work (the step's figure is their median)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from pipeline.config import Settings
from pipeline.runner import RunOptions, run

from conftest import apertium_missing
from test_stories_mixed import write_mixed_corpus

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from bench_scale import OutputState, repeated  # noqa: E402

pytestmark = pytest.mark.skipif(apertium_missing() is not None, reason=apertium_missing() or "")


def _run(corpus: Path, out: Path) -> dict:
    settings = Settings.model_validate({"run": {"workers": 1}, "translate": {"backend": "apertium"},
                                        "cache": {"path": str(out / "cache.sqlite")}})
    report = run(RunOptions(settings=settings, config_path=Path("test"), corpus=corpus, out=out))
    assert report.exit_code == 0, report.message
    return {"dir": report.run_dir, "cache": {k: v for k, v in report.manifest["cache"].items() if k != "path"}}


def test_a_restored_output_folder_makes_the_next_run_do_the_same_work(tmp_path):
    corpus, out = write_mixed_corpus(tmp_path / "corpus"), tmp_path / "out"
    first = _run(corpus, out)  # the previous run
    article = sorted(corpus.glob("*.txt"))[0]
    (corpus / "copie.txt").write_text(article.read_text(encoding="utf-8").replace("\n\n", "\n\nUn paragraphe "
                                      "ajouté pour ce test, avec assez de mots pour compter.\n\n", 1), encoding="utf-8")
    state = OutputState(out)
    cache_before = {name: (out / name).read_bytes() for name in state.cache}
    assert "cache.sqlite" in cache_before
    once = _run(corpus, out)
    assert once["cache"]["ingest"]["misses"] == 1  # the new article
    state.restore()
    assert sorted(os.listdir(out / "runs")) == [first["dir"].name]
    assert os.readlink(out / "latest") == state.latest
    assert {name: (out / name).read_bytes() for name in state.cache} == cache_before
    again = _run(corpus, out)
    state.close()
    assert again["cache"] == once["cache"]  # every look-up, hit or miss, as in the first run: the same work
    assert not (out / ".bench-cache-before").exists()
    assert sorted(os.listdir(out / "runs")) == sorted([first["dir"].name, again["dir"].name])


def test_the_median_run_is_kept_with_every_run_s_seconds():
    runs = [{"wall_s": 3.0, "cpu_s": 2.0, "n": 0}, {"wall_s": 1.0, "cpu_s": 1.5, "n": 1},
            {"wall_s": 2.0, "cpu_s": 4.0, "n": 2}]
    median = repeated(runs)
    assert median["n"] == 2
    assert median["samples_wall_s"] == [3.0, 1.0, 2.0] and median["samples_cpu_s"] == [2.0, 1.5, 4.0]
    assert repeated(runs[:2])["n"] == 0  # (of two, the slower)
    assert repeated(runs[:1]) == runs[0]
