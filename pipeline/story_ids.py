"""Story ids that hold across runs.

`group_stories` numbers the stories of one run (`story-001`, by size). A
scheduled job runs on a growing corpus, and reviewers and links follow a story
by its id, so `assign_story_ids` gives each story the id it had in the previous
run, matched by the documents they share (when new documents joined the
previous stories, `pipeline.story_join`, every story that goes on holds all its
previous documents still in the corpus, so it keeps its id):

* a new story takes the id of the previous story it holds most documents of,
  provided it holds at least half of that story's documents still in the
  corpus; each previous id goes to one story at most (most shared documents
  first), so when a story splits, the id follows the larger part, and when two
  merge, the merged story keeps the id of the one it shares most with;
* any other story gets a new id, `story-<8 hex>` from the SHA-256 of its
  founding document's key (its first document by date): an id is never reused
  for another story, because ids already issued (current or retired) are
  skipped (the hash is salted until unused);
* previous ids that no story continues are kept as retired, with the id of the
  story that took over most of their documents when there is one, so they can
  be redirected and are never issued again.

Document keys are `document_key(doc)`: the document's path as cited (an edited
article is the same article). `load_story_state` / `save_story_state` keep the
state in a JSON file (written atomically): `{"stories": {id: [keys]},
"retired": {id: successor or null}}`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from .model import Document, Story

STATE_VERSION = 1


@dataclass(frozen=True)
class StoryState:
    stories: dict[str, frozenset[str]] = field(default_factory=dict)  # id -> document keys
    retired: dict[str, str | None] = field(default_factory=dict)  # id -> id of its successor, if any


def document_key(doc: Document) -> str:
    return doc.path


def _new_id(founder: str, taken: set[str]) -> str:
    salt = 0
    while True:
        text = founder if salt == 0 else f"{founder}#{salt}"
        sid = "story-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
        if sid not in taken:
            return sid
        salt += 1


def assign_story_ids(stories: Sequence[Story], keys: Mapping[str, str],
                     previous: StoryState) -> tuple[list[Story], StoryState]:
    """Stories with ids stable across runs, and the state to keep for the next run.

    `keys` maps each doc_id to its document key; `previous` is the state the
    last run saved (an empty `StoryState()` the first time).
    """
    owner = {k: sid for sid, ks in previous.stories.items() for k in ks}
    present = set(keys.values())
    alive = {sid: len(ks & present) for sid, ks in previous.stories.items()}
    matches = []
    for n, story in enumerate(stories):
        shared = Counter(owner[keys[d]] for d in story.doc_ids if keys[d] in owner)
        for sid, count in shared.items():
            if 2 * count >= alive[sid]:
                matches.append((-count, n, sid))
    new_ids: dict[int, str] = {}
    used: set[str] = set()
    for _count, n, sid in sorted(matches):
        if n not in new_ids and sid not in used:
            new_ids[n] = sid
            used.add(sid)
    taken = set(previous.stories) | set(previous.retired) | used
    for n, story in enumerate(stories):
        if n not in new_ids:
            new_ids[n] = _new_id(keys[story.doc_ids[0]], taken)
            taken.add(new_ids[n])
    rename = {s.story_id: new_ids[n] for n, s in enumerate(stories)}
    out = [dataclasses.replace(s, story_id=rename[s.story_id],
                               related=tuple(dataclasses.replace(r, story_id=rename.get(r.story_id, r.story_id))
                                             for r in s.related))
           for s in stories]
    story_of_key = {keys[d]: s.story_id for s in out for d in s.doc_ids}
    retired = dict(previous.retired)
    for sid, ks in previous.stories.items():
        if sid not in used:
            successors = Counter(story_of_key[k] for k in ks if k in story_of_key)
            retired[sid] = successors.most_common(1)[0][0] if successors else None
    state = StoryState({s.story_id: frozenset(keys[d] for d in s.doc_ids) for s in out}, retired)
    return out, state


def load_story_state(path: Path) -> StoryState:
    """The state saved by the previous run; empty when there is none yet."""
    if not path.exists():
        return StoryState()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return StoryState({sid: frozenset(ks) for sid, ks in data["stories"].items()}, dict(data["retired"]))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path}: not a story-id state file ({exc}); move it aside to start new ids") from exc


def save_story_state(path: Path, state: StoryState) -> None:
    data = {"version": STATE_VERSION, "stories": {sid: sorted(ks) for sid, ks in sorted(state.stories.items())},
            "retired": dict(sorted(state.retired.items()))}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, path)
