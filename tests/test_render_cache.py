"""Warm reruns: brief files and review pages of unchanged stories come from the cache, and the run folder
is byte for byte what a run with an empty cache writes (but for the run ids); a changed story is rendered
again."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline.config import Settings
from pipeline.runner import RunOptions, run

from conftest import apertium_missing
from test_stories_mixed import write_mixed_corpus

pytestmark = pytest.mark.skipif(apertium_missing() is not None, reason=apertium_missing() or "")


def _run(corpus: Path, out: Path, cache: Path) -> dict:
    settings = Settings.model_validate({"run": {"workers": 1}, "translate": {"backend": "apertium"},
                                        "cache": {"path": str(cache)}})
    report = run(RunOptions(settings=settings, config_path=Path("test"), corpus=corpus, out=out))
    assert report.exit_code == 0, report.message
    return {"dir": report.run_dir, "cache": report.manifest["cache"], "briefs": report.manifest["counts"]["briefs"]}


def _files(run_dir: Path, run_ids: list[str]) -> dict[str, bytes]:
    """Every file of a run but the manifest (timings), as bytes (the stories' grouping state is binary),
    with the run ids (this one's and the previous run's, named in "changes since") blanked."""
    files = {}
    for path in sorted(run_dir.rglob("*")):
        if path.is_file() and path.name != "manifest.json":
            text = path.read_bytes()
            for run_id in run_ids:
                text = text.replace(run_id.encode(), b"<run>")
            files[str(path.relative_to(run_dir))] = text
    return files


def _same(a: Path, b: Path, out_a: Path, out_b: Path) -> None:
    # longest first: a run made in the same second as another is "<stamp>-<hex>", which holds the other's id
    ids = sorted((p.name for out in (out_a, out_b) for p in (out / "runs").iterdir()), key=len, reverse=True)
    files_a, files_b = _files(a, ids), _files(b, ids)
    assert files_a.keys() == files_b.keys()
    different = [name for name in files_a if files_a[name] != files_b[name]]
    assert not different, different


def test_warm_rerun_writes_what_a_cold_render_writes(tmp_path):
    corpus = write_mixed_corpus(tmp_path / "corpus")  # several stories
    warm_out, cold_out = tmp_path / "warm", tmp_path / "cold"
    _run(corpus, warm_out, tmp_path / "warm.sqlite")
    shutil.copytree(warm_out, cold_out, symlinks=True)  # the same previous run for both (changes since it)
    (cold_out / "cache.sqlite").unlink(missing_ok=True)
    (cold_out / "latest" / "review" / "pages.json").unlink()  # nor review pages to link: all rendered

    # nothing changed: every brief's files and every review page come from the cache
    warm = _run(corpus, warm_out, tmp_path / "warm.sqlite")
    cold = _run(corpus, cold_out, tmp_path / "cold-1.sqlite")
    assert warm["briefs"] > 1
    # ... the briefs' bodies not even looked up, nor the previous run's files read: those files still have the
    # identity (inode, size, modification time) the run that wrote them left in the cache
    assert "brief_files" not in warm["cache"] and "brief_files_sums" not in warm["cache"]
    assert warm["cache"]["brief_files_ids"]["hits"] == warm["briefs"]
    for kind in ("brief_files", "review"):
        assert cold["cache"][kind]["hits"] == 0, kind
    # the review pages are not even read from the cache: they are links to the previous run's files
    assert "review" not in warm["cache"]
    # ... nor their keys looked up: a hash of each page's inputs (its brief's digest, its groups and documents)
    assert "review_key" not in warm["cache"]
    assert all(p.stat().st_nlink == 2 for p in (warm["dir"] / "review").glob("story-*.html"))
    assert all(p.stat().st_nlink == 2 for p in (warm["dir"] / "sources").glob("*.txt"))  # unchanged sources too
    # ... and so are the briefs' files: unchanged, they still name the run that wrote them
    first = next(p.name for p in (warm_out / "runs").iterdir() if p != warm["dir"])
    assert all(p.stat().st_nlink == 2 for p in (warm["dir"] / "briefs").iterdir())
    assert all(f"written in run `{first}`" in p.read_text(encoding="utf-8") for p in (warm["dir"] / "briefs").glob("*.md"))
    _same(warm["dir"], cold["dir"], warm_out, cold_out)

    # one article changed: its story is rendered again, the others are not, and all is still as cold
    article = sorted(corpus.glob("*.txt"))[0]
    text = article.read_text(encoding="utf-8")
    article.write_text(text.replace("\n\n", "\n\nUn paragraphe ajouté pour ce test, avec assez de mots pour compter.\n\n",
                                    1), encoding="utf-8")
    warm = _run(corpus, warm_out, tmp_path / "warm.sqlite")
    cold = _run(corpus, cold_out, tmp_path / "cold-2.sqlite")
    assert warm["cache"]["brief_files"]["misses"] >= 1 and warm["cache"]["brief_files_ids"]["hits"] >= 1
    _same(warm["dir"], cold["dir"], warm_out, cold_out)
    changed = [p for p in (warm["dir"] / "briefs").glob("*.md")
               if f"## Changes in run {warm['dir'].name}, since " in p.read_text(encoding="utf-8")]
    assert changed, "the changed article's story says what changed"
    assert all(p.stat().st_nlink == 1 for p in changed)
    assert len(changed) < warm["briefs"], "the unchanged stories' briefs are still those of the first run"


def test_a_previous_brief_edited_in_place_is_not_linked(tmp_path):
    """A brief file of the previous run edited in place (same inode, same size) no longer has the identity the
    cache keeps for it: it is checked again, found different, and this run writes the brief as a run with an empty
    cache does; the edited file is left as it is."""
    corpus = write_mixed_corpus(tmp_path / "corpus")
    warm_out, cold_out = tmp_path / "warm", tmp_path / "cold"
    _run(corpus, warm_out, tmp_path / "warm.sqlite")
    edited = sorted((warm_out / "latest" / "briefs").glob("*.md"))[0].resolve()  # (in the first run)
    text = edited.read_bytes()
    assert b"." in text
    edited.write_bytes(text.replace(b".", b"!", 1))  # (in place: the same inode and size)
    shutil.copytree(warm_out, cold_out, symlinks=True)
    (cold_out / "cache.sqlite").unlink(missing_ok=True)

    warm = _run(corpus, warm_out, tmp_path / "warm.sqlite")
    cold = _run(corpus, cold_out, tmp_path / "cold.sqlite")
    again = warm["dir"] / "briefs" / edited.name
    others = [p for p in (warm["dir"] / "briefs").glob("*.md") if p.name != edited.name]
    assert others and all(p.stat().st_nlink == 2 for p in others)  # linked: the first run's and this run's
    assert again.stat().st_nlink == 1 and f"written in run `{warm['dir'].name}`" in again.read_text(encoding="utf-8")
    assert edited.read_bytes() == text.replace(b".", b"!", 1)
    _same(warm["dir"], cold["dir"], warm_out, cold_out)


def test_a_copied_output_folder_is_checked_again_and_still_linked(tmp_path):
    """A copy of the output folder (a restored backup: every file has a new inode) with the same cache: the
    identities the cache keeps no longer match, so the previous run's brief files are read and checked against
    the brief (their lengths and hashes), found the same, and linked; then their new identities are kept."""
    corpus = write_mixed_corpus(tmp_path / "corpus")
    first, copy = tmp_path / "first", tmp_path / "copy"
    _run(corpus, first, tmp_path / "cache.sqlite")
    shutil.copytree(first, copy, symlinks=True)

    again = _run(corpus, copy, tmp_path / "cache.sqlite")
    assert again["cache"]["brief_files_ids"]["hits"] == again["briefs"]  # (found, but of the first folder's files)
    assert again["cache"]["brief_files_sums"]["hits"] == again["briefs"]  # so each brief was checked again
    assert all(p.stat().st_nlink == 2 for p in (again["dir"] / "briefs").iterdir())  # and linked

    third = _run(corpus, copy, tmp_path / "cache.sqlite")
    assert "brief_files_sums" not in third["cache"]  # the copy's identities are kept now: nothing read again
    assert all(p.stat().st_nlink == 3 for p in (third["dir"] / "briefs").iterdir())
