"""The review state of a run's briefs: the run's briefs/*.json joined with the stored decisions.

A sentence (summary sentence or key quote) is known by its identity,
`item_key`: the story id, its kind, its normalised French text and what it
cites (file and line range of each citation), never its position. A
decision made on one run therefore applies to every later run where the
sentence and its citations are unchanged; a new or changed sentence is
"to review". An approval or rejection made on an English wording that has
changed since is "to review" again (unless a reviewer wrote the English).

A brief is signed off when its last sign-off still matches: same sentences,
same English, no decision changed since. Otherwise it says why it lost it.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..changes import Changes, compute_changes, read_briefs
from .store import Event, ReviewStore

KINDS = ("sentence", "quote")
MAX_NAME = 80
MAX_TEXT = 5000
TO_REVIEW = "to review"


class ReviewError(Exception):
    """A reviewer's request that cannot be done (the message says why)."""


def _norm(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


def item_key(story_id: str, kind: str, fr: str, citations: Iterable[Mapping[str, Any]]) -> str:
    """Stable identity of a summary sentence or quote: story, kind, what it says and what it cites."""
    cited = sorted((c["file"], int(c["line_start"]), int(c["line_end"])) for c in citations)
    raw = json.dumps([story_id, kind, _norm(fr), cited], ensure_ascii=False)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class Run:
    run_id: str
    run_dir: Path  # resolved
    briefs: dict[str, dict[str, Any]]  # story id -> brief JSON, in file order


def latest_run(out: Path) -> Run:
    latest = Path(out) / "latest"
    if not latest.is_dir():
        raise ReviewError(f"no run to review in {out}: {latest} is missing; run `python -m pipeline run --out {out}` "
                          "first")
    run_dir = latest.resolve()
    return Run(run_id=run_dir.name, run_dir=run_dir, briefs=read_briefs(run_dir))


def previous_run(run: Run) -> Path | None:
    """The run before `run` in `<out>/runs/` (run ids are UTC time stamps, so they sort by time)."""
    older = sorted(p for p in run.run_dir.parent.iterdir()
                   if p.is_dir() and not p.name.startswith(".") and p.name < run.run_id)
    return older[-1] if older else None


def run_changes(run: Run) -> dict[str, Changes]:
    """What changed in each story since the previous run: the `changes` the runner wrote into the briefs it wrote
    in this run; a brief written by an earlier run (its `updated_in`: the runner linked the previous run's file, the
    brief being the same) is unchanged since the previous run; computed against the previous run where absent."""
    written: dict[str, Changes] = {}
    kept = []
    for sid, b in run.briefs.items():
        if b.get("updated_in", run.run_id) != run.run_id:
            kept.append(sid)
        elif b.get("changes"):
            written[sid] = Changes.from_dict(b["changes"])
    before = previous_run(run) if kept else None
    if before is not None:
        written.update({sid: Changes(previous_run=before.name, new_story=False) for sid in kept})
    if len(written) == len(run.briefs):
        return written
    return {**compute_changes(previous_run(run), list(run.briefs.values())), **written}


@dataclass(frozen=True)
class Comment:
    reviewer: str
    at: str
    text: str


@dataclass
class ItemState:
    key: str
    kind: str  # "sentence" or "quote"
    number: int  # 1-based among the brief's items of its kind
    entry: dict[str, Any]  # the brief JSON's summary or quote entry
    status: str = TO_REVIEW  # "to review", "approved", "rejected", "edited"
    decided_by: str | None = None
    decided_at: str | None = None
    decided_on_run: str | None = None
    reason: str | None = None  # of a rejection
    note: str | None = None  # why a past decision no longer applies
    edited_fr: str | None = None
    edited_en: str | None = None
    edited_by: str | None = None
    edited_at: str | None = None
    decision_id: int | None = None  # id of the event the status comes from
    comments: list[Comment] = field(default_factory=list)
    history: list[Event] = field(default_factory=list)

    @property
    def fr(self) -> str:
        return str(self.entry["fr"])

    @property
    def en(self) -> str:
        return str(self.entry.get("en") or "")

    @property
    def final_fr(self) -> str:
        return self.edited_fr if self.edited_fr is not None else self.fr

    @property
    def final_en(self) -> str:
        return self.edited_en if self.edited_en is not None else self.en


@dataclass
class BriefState:
    story_id: str
    run_id: str
    brief: dict[str, Any]
    items: list[ItemState]
    signed_off: Event | None  # the sign-off that holds, or None
    sign_off_lost: str | None  # why the last sign-off no longer holds
    changes: Changes | None

    @property
    def to_review(self) -> int:
        return sum(1 for i in self.items if i.status == TO_REVIEW)

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in ("approved", "edited", "rejected", TO_REVIEW)}
        for i in self.items:
            out[i.status] += 1
        return out


def _items(story_id: str, brief: Mapping[str, Any]) -> list[ItemState]:
    out = []
    for kind, entries in (("sentence", brief.get("summary", ())), ("quote", brief.get("quotes", ()))):
        for n, entry in enumerate(entries, 1):
            out.append(ItemState(key=item_key(story_id, kind, entry["fr"], entry.get("citations", ())),
                                 kind=kind, number=n, entry=dict(entry)))
    return out


def _apply(item: ItemState, events: list[Event]) -> None:
    """Fold an item's history (oldest first) into its state: the last decision wins."""
    item.history = events
    decision: Event | None = None
    for e in events:
        if e.action == "comment":
            item.comments.append(Comment(e.reviewer, e.at, str(e.data.get("text", ""))))
        elif e.action in ("approve", "reject", "edit"):
            decision = e
        if e.action == "edit":
            item.edited_fr = e.data.get("fr") if e.data.get("fr") not in (None, item.fr) else None
            item.edited_en = e.data.get("en") if e.data.get("en") not in (None, item.en) else None
            item.edited_by, item.edited_at = e.reviewer, e.at
    if decision is None:
        return
    if item.edited_en is None and decision.data.get("en_seen", item.en) != item.en:
        item.note = (f"the English translation changed since {decision.reviewer} "
                     f"{'approved' if decision.action == 'approve' else decision.action + 'ed'} it on {decision.at} "
                     f"(it was: “{decision.data.get('en_seen')}”)")
        return
    item.status = {"approve": "approved", "reject": "rejected", "edit": "edited"}[decision.action]
    item.decided_by, item.decided_at, item.decided_on_run = decision.reviewer, decision.at, decision.run_id
    item.decision_id = decision.id
    item.reason = decision.data.get("reason") if decision.action == "reject" else None


def _fingerprint(items: list[ItemState]) -> str:
    raw = json.dumps(sorted((i.key, i.en, i.decision_id) for i in items))
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _lost_reason(sign_off: Event, items: list[ItemState]) -> str:
    signed: dict[str, str] = sign_off.data.get("items", {})
    now = {i.key: i.en for i in items}
    why = []
    new = [k for k in now if k not in signed]
    removed = [k for k in signed if k not in now]
    english = [k for k in now if k in signed and signed[k] != now[k]]
    if new:
        why.append(f"{_plural(len(new), 'new or changed sentence')} to review")
    if removed:
        why.append(f"{_plural(len(removed), 'sentence')} removed or changed")
    if english:
        why.append(f"the English of {_plural(len(english), 'sentence')} changed")
    if not why:
        why.append("a decision was changed after it")
    return (f"signed off by {sign_off.reviewer} on {sign_off.at} (run {sign_off.run_id}), but the brief changed "
            f"since: {'; '.join(why)}")


def brief_state(story_id: str, brief: dict[str, Any], run_id: str, events: list[Event],
                changes: Changes | None) -> BriefState:
    items = _items(story_id, brief)
    by_key: dict[str, list[Event]] = {}
    sign_off: Event | None = None
    for e in events:
        if e.action == "sign_off":
            sign_off = e
        elif e.item_key is not None:
            by_key.setdefault(e.item_key, []).append(e)
    for item in items:
        _apply(item, by_key.get(item.key, []))
    holds = (sign_off is not None and not any(i.status == TO_REVIEW for i in items)
             and sign_off.data.get("fingerprint") == _fingerprint(items))
    return BriefState(
        story_id=story_id, run_id=run_id, brief=brief, items=items,
        signed_off=sign_off if holds else None,
        sign_off_lost=_lost_reason(sign_off, items) if sign_off is not None and not holds else None,
        changes=changes,
    )


def run_states(run: Run, store: ReviewStore) -> list[BriefState]:
    changes = run_changes(run)
    by_story: dict[str, list[Event]] = {}
    for e in store.events():
        by_story.setdefault(e.story_id, []).append(e)
    return [brief_state(sid, b, run.run_id, by_story.get(sid, []), changes.get(sid)) for sid, b in run.briefs.items()]


def story_state(run: Run, store: ReviewStore, story_id: str) -> BriefState:
    if story_id not in run.briefs:
        raise ReviewError(f"no story {story_id!r} in run {run.run_id}")
    changes = run_changes(run).get(story_id)
    return brief_state(story_id, run.briefs[story_id], run.run_id, store.events(story_id), changes)


def _text(fields: Mapping[str, Any], name: str, what: str) -> str:
    value = fields.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ReviewError(f"{what} is empty: write it first")
    if len(value) > MAX_TEXT:
        raise ReviewError(f"{what} is longer than {MAX_TEXT} characters")
    return value.strip()


def act(run: Run, store: ReviewStore, story_id: str, action: str, reviewer: Any, fields: Mapping[str, Any],
        key: str | None = None) -> BriefState:
    """Record one reviewer action on the latest run; returns the brief's new state.

    Actions: approve, reject (fields: reason), edit (fields: fr, en: the new
    wording; at least one differs), comment (fields: text), sign_off (every
    sentence and quote decided). Raises ReviewError for a request that
    cannot be done.
    """
    if not isinstance(reviewer, str) or not reviewer.strip():
        raise ReviewError("reviewer name is empty: enter your name at the top of the page")
    reviewer = _norm(reviewer)
    if len(reviewer) > MAX_NAME:
        raise ReviewError(f"reviewer name is longer than {MAX_NAME} characters")
    state = story_state(run, store, story_id)
    if action == "sign_off":
        if state.to_review:
            raise ReviewError(f"{_plural(state.to_review, 'sentence')} still to review: decide on every sentence "
                              "and quote before signing off")
        data = {"fingerprint": _fingerprint(state.items), "items": {i.key: i.en for i in state.items}}
        store.add(reviewer, story_id, None, "sign_off", data, run.run_id)
        return story_state(run, store, story_id)
    item = next((i for i in state.items if i.key == key), None)
    if item is None:
        raise ReviewError(f"this sentence is no longer in story {story_id} of run {run.run_id}: reload the page")
    seen = {"fr_seen": item.fr, "en_seen": item.en}
    if action == "approve":
        data: dict[str, Any] = seen
    elif action == "reject":
        data = {"reason": _text(fields, "reason", "the reason for rejecting"), **seen}
    elif action == "edit":
        fr, en = _text(fields, "fr", "the French wording"), str(fields.get("en") or "").strip()
        if len(en) > MAX_TEXT:
            raise ReviewError(f"the English wording is longer than {MAX_TEXT} characters")
        if fr == item.final_fr and en == item.final_en:
            raise ReviewError("nothing was changed in the wording")
        data = {"fr": fr, "en": en, **seen}
    elif action == "comment":
        data = {"text": _text(fields, "text", "the comment")}
    else:
        raise ReviewError(f"unknown action {action!r}")
    store.add(reviewer, story_id, item.key, action, data, run.run_id)
    return story_state(run, store, story_id)
