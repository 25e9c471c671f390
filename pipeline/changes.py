"""What changed in each story since the previous run (issue 14).

Entry points:
- `previous_run_dir(out) -> Path | None`: the run `<out>/latest` points at
  (call it before the new run is published: it is then the previous one);
- `compute_changes(previous_run_dir, briefs) -> dict[story_id, Changes]`:
  pure, reads only `<previous_run_dir>/briefs/*.json`. Runs are compared
  through their story ids (stable across runs): a story id absent from the
  previous run is a new story.

Per story: articles (source files) added and removed, summary sentences
added and removed (by their French text), sentences whose citations changed,
and sentences whose English translation changed. `briefs` are `Brief`
objects (the runner) or brief dicts as `brief_to_dict` writes them (the
review server reading a run folder).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from .model import Brief

log = logging.getLogger("pipeline")


@dataclass(frozen=True)
class TranslationChange:
    fr: str
    before: str
    after: str


@dataclass(frozen=True)
class Changes:
    previous_run: str  # run id (folder name) of the run compared with
    new_story: bool  # the story id is not in the previous run
    new_articles: tuple[str, ...] = ()  # files, as cited
    removed_articles: tuple[str, ...] = ()
    new_sentences: tuple[str, ...] = ()  # French text
    removed_sentences: tuple[str, ...] = ()
    changed_citations: tuple[str, ...] = ()  # same French text, different cited sources
    changed_translations: tuple[TranslationChange, ...] = ()

    @property
    def unchanged(self) -> bool:
        return not (self.new_story or self.new_articles or self.removed_articles or self.new_sentences
                    or self.removed_sentences or self.changed_citations or self.changed_translations)

    def to_dict(self) -> dict[str, Any]:
        data = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
        return {**data, "unchanged": self.unchanged}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Changes":
        return cls(
            previous_run=str(data["previous_run"]), new_story=bool(data["new_story"]),
            **{k: tuple(data.get(k, ())) for k in ("new_articles", "removed_articles", "new_sentences",
                                                    "removed_sentences", "changed_citations")},
            changed_translations=tuple(TranslationChange(**t) for t in data.get("changed_translations", ())),
        )


def previous_run_dir(out: Path) -> Path | None:
    """The run folder `<out>/latest` points at, or None (first run, or a dangling link)."""
    latest = Path(out) / "latest"
    return latest.resolve() if latest.is_dir() else None


def reuse_previous(previous_run: Path | None, run_dir: Path, relative: str, sha256: str, like: Path) -> bool:
    """Hard-link `<previous_run>/<relative>` to `<run_dir>/<relative>` when its bytes are those this run would
    write (their SHA-256 is `sha256`) and the file is as this run would make it: a regular file of this user,
    with the permissions of `like` (a file this run has just written into `run_dir`). False when it cannot
    (no previous file, other bytes or permissions, another file system): the caller writes the file.

    A run folder stays complete and immutable on its own: the link is made in the run's temporary folder
    (published by a rename like every file), the previous file is never written to, and removing either
    run folder leaves the other's file whole. It saves writing, and storing twice, a large file that an
    unchanged corpus makes again byte for byte (dedup.json: 70 MB at 10,000 articles)."""
    if previous_run is None:
        return False
    return link_file(os.path.join(previous_run, relative), os.path.join(run_dir, relative), like, sha256)


def link_file(source: str | Path, target: str | Path, like: Path | os.stat_result, sha256: str | None = None) -> bool:
    """Hard-link a previous run's file `source` to `target` when it is a regular file of this user with the
    permissions of `like` (a file, or its `os.stat` when linking many) and, with `sha256`, those bytes
    (`reuse_previous`); False when it cannot."""
    try:
        st, want = os.lstat(source), like if isinstance(like, os.stat_result) else os.stat(like)
        if not stat.S_ISREG(st.st_mode) or (st.st_uid, stat.S_IMODE(st.st_mode)) != (want.st_uid, stat.S_IMODE(
                want.st_mode)):
            return False
        if sha256 is not None:
            h = hashlib.sha256()
            with open(source, "rb") as f:  # in 1 MB reads: dedup.json is 0.7 GB at 100,000 articles
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            if h.hexdigest() != sha256:
                return False
        try:
            os.link(source, target)
        except FileNotFoundError:  # the target's folder is not there yet
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.link(source, target)
    except OSError as exc:
        log.debug("%s not linked to %s: %s", source, target, exc)
        return False
    return True


def read_briefs(run_dir: Path) -> dict[str, dict[str, Any]]:
    """story id -> brief dict, from `<run_dir>/briefs/*.json`; unreadable files are skipped with a warning."""
    out: dict[str, dict[str, Any]] = {}
    for path in sorted((Path(run_dir) / "briefs").glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            out[str(data["story_id"])] = data
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("%s: not a readable brief (%s); left out of the comparison", path, exc)
    return out


def brief_changes(previous_run: Path, story_id: str, current: Callable[[], Mapping[str, Any]],
                  members: bytes | None) -> Changes:
    """What changed in one story since `previous_run`: `story_changes` against its brief file there (none:
    a new story). `current()`: the current brief as `brief_to_dict` makes it, asked for only when the previous
    file must be parsed. `members`: the current brief's JSON but for its run keys, as
    `pipeline.render.json_members` writes it, as UTF-8 bytes; when the previous file holds those very bytes,
    nothing changed and it is neither decoded nor parsed (a warm run's briefs: 70 MB of JSON at 10,000 articles)."""
    from .render import holds_members

    path = Path(previous_run) / "briefs" / f"{story_id}.json"
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return Changes(previous_run=Path(previous_run).name, new_story=True)
    except (OSError, ValueError) as exc:
        log.warning("%s: not a readable brief (%s); left out of the comparison", path, exc)
        return Changes(previous_run=Path(previous_run).name, new_story=True)
    if members is not None and holds_members(text, members):
        return Changes(previous_run=Path(previous_run).name, new_story=False)
    try:
        previous = json.loads(text)
        if str(previous["story_id"]) != str(story_id):
            raise ValueError(f"it is the brief of {previous['story_id']!r}")
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("%s: not a readable brief (%s); left out of the comparison", path, exc)
        previous = None
    return story_changes(previous, current(), Path(previous_run).name)


def _as_dict(brief: Brief | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(brief, Brief):
        from .render import brief_to_dict

        return brief_to_dict(brief, "")
    return brief


def _cited(sentence: Mapping[str, Any]) -> list[tuple[str, int, int]]:
    return sorted((c["file"], c["line_start"], c["line_end"]) for c in sentence.get("citations", ()))


def story_changes(previous: Mapping[str, Any] | None, current: Mapping[str, Any], previous_run: str) -> Changes:
    if previous is None:
        return Changes(previous_run=previous_run, new_story=True)
    before_files = [s["file"] for s in previous.get("sources", ())]
    now_files = [s["file"] for s in current.get("sources", ())]
    before_set, now_set = set(before_files), set(now_files)
    before = {s["fr"]: s for s in previous.get("summary", ())}
    now = {s["fr"]: s for s in current.get("summary", ())}
    kept = [fr for fr in now if fr in before]
    return Changes(
        previous_run=previous_run, new_story=False,
        new_articles=tuple(f for f in now_files if f not in before_set),
        removed_articles=tuple(f for f in before_files if f not in now_set),
        new_sentences=tuple(fr for fr in now if fr not in before),
        removed_sentences=tuple(fr for fr in before if fr not in now),
        changed_citations=tuple(fr for fr in kept if _cited(before[fr]) != _cited(now[fr])),
        changed_translations=tuple(TranslationChange(fr, before[fr].get("en", ""), now[fr].get("en", ""))
                                   for fr in kept if before[fr].get("en", "") != now[fr].get("en", "")),
    )


def compute_changes(previous_run_dir: Path | None,
                    briefs: Sequence[Brief | Mapping[str, Any]]) -> dict[str, Changes]:
    """Per story id, what changed since the run in `previous_run_dir`; {} when there is none (first run)."""
    if previous_run_dir is None or not Path(previous_run_dir).is_dir():
        return {}
    previous = read_briefs(Path(previous_run_dir))
    run_id = Path(previous_run_dir).name
    out: dict[str, Changes] = {}
    for brief in briefs:
        data = _as_dict(brief)
        out[str(data["story_id"])] = story_changes(previous.get(str(data["story_id"])), data, run_id)
    return out
