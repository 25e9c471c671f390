"""A brief unchanged since the previous run takes its files' bodies from that run's files (no cache value
decoded), only when those files hold exactly the bodies the cache describes; otherwise from the cache. Those files
are kept as they are (linked: they name the run that wrote them) only when they are, byte for byte, what this code
writes for that run."""

from __future__ import annotations

from pathlib import Path

from pipeline.cache import Cache
from pipeline.changes import Changes
from pipeline.render import (CACHE_KIND, FROM_PREVIOUS, SUMS_KIND, brief_bodies, brief_digest, brief_files,
                             brief_to_dict, json_text, render_markdown)

from test_render import BRIEF

FORMATS = ("md", "json")


def _write_run(run_dir: Path, changes: Changes | None = None) -> None:
    """The brief's files as a run named `run_dir.name` writes them (the reference writers, not the cache)."""
    (run_dir / "briefs").mkdir(parents=True)
    data = brief_to_dict(BRIEF, run_dir.name, changes)
    (run_dir / "briefs" / f"{BRIEF.story_id}.json").write_text(json_text(data), encoding="utf-8")
    (run_dir / "briefs" / f"{BRIEF.story_id}.md").write_text(render_markdown(BRIEF, run_dir.name, changes),
                                                               encoding="utf-8")


def _bodies(cache: Cache, previous: Path | None) -> dict:
    return brief_bodies([BRIEF], [brief_digest(BRIEF)], FORMATS, cache, previous_run=previous)[0]


def test_unchanged_brief_takes_its_bodies_from_the_previous_run_files(tmp_path):
    cache = Cache(tmp_path / "cache.sqlite")
    first = _bodies(cache, None)  # made, stored with their lengths and hashes
    assert not first.get(FROM_PREVIOUS)
    previous = tmp_path / "runs" / "20260101T000000Z"
    _write_run(previous, Changes(previous_run="20251231T000000Z", new_story=True))  # (a changes member after)

    cache.stats.clear()
    again = _bodies(cache, previous)
    kept = again[FROM_PREVIOUS]
    assert kept.updated_in == previous.name and kept.kept(BRIEF)
    assert kept.files == {f"briefs/{BRIEF.story_id}.{f}": (previous / "briefs" / f"{BRIEF.story_id}.{f}").read_bytes()
                          for f in FORMATS}
    assert {f: again[f] for f in FORMATS} == {f: first[f] for f in FORMATS}
    assert CACHE_KIND not in cache.stats  # the bodies themselves were not looked up, nor decoded
    assert cache.stats[SUMS_KIND].hits == 1

    # the files written from them are the reference writers' output, byte for byte
    change = Changes(previous_run=previous.name, new_story=False)
    files = brief_files([BRIEF], "20260102T000000Z", FORMATS, [change], [again])[0]
    assert files[f"briefs/{BRIEF.story_id}.md"] == render_markdown(BRIEF, "20260102T000000Z", change)
    assert files[f"briefs/{BRIEF.story_id}.json"] == json_text(
        brief_to_dict(BRIEF, "20260102T000000Z", change)).encode("utf-8")


def test_previous_files_that_differ_are_not_used(tmp_path):
    cache = Cache(tmp_path / "cache.sqlite")
    made = _bodies(cache, None)
    previous = tmp_path / "runs" / "20260101T000000Z"
    _write_run(previous)
    for name in (f"{BRIEF.story_id}.json", f"{BRIEF.story_id}.md"):
        path = previous / "briefs" / name
        kept = path.read_bytes()
        path.write_bytes(kept.replace("TikTok".encode(), "TokTik".encode()))  # same length, other bytes
        cache.stats.clear()
        got = _bodies(cache, previous)
        assert not got.get(FROM_PREVIOUS), name
        assert {f: got[f] for f in FORMATS} == {f: made[f] for f in FORMATS}
        assert cache.stats[CACHE_KIND].hits == 1  # from the cache instead
        path.write_bytes(kept)
    (previous / "briefs" / f"{BRIEF.story_id}.md").unlink()  # a previous run without the file
    assert not _bodies(cache, previous).get(FROM_PREVIOUS)


def test_previous_files_with_other_run_keys_are_not_kept(tmp_path):
    """Files whose bodies are this brief's but whose head or changes are not as this code writes them (edited, or
    another code's) give their bodies, but are not kept: the run writes the brief again."""
    cache = Cache(tmp_path / "cache.sqlite")
    _bodies(cache, None)
    previous = tmp_path / "runs" / "20260101T000000Z"
    _write_run(previous, Changes(previous_run="20251231T000000Z", new_story=True))
    assert _bodies(cache, previous)[FROM_PREVIOUS].kept(BRIEF)
    md, js = (previous / "briefs" / f"{BRIEF.story_id}.{f}" for f in ("md", "json"))
    for path, old, new in ((md, "**2 sources**", "**3 sources**"), (md, "New story", "Old story"),
                           (js, '"new_story": true', '"new_story": 1')):
        text = path.read_text(encoding="utf-8")
        assert old in text
        path.write_text(text.replace(old, new), encoding="utf-8")
        got = _bodies(cache, previous)
        assert got[FROM_PREVIOUS] is not None and not got[FROM_PREVIOUS].kept(BRIEF), (path.name, new)
        path.write_text(text, encoding="utf-8")
