"""Export reviewed briefs: what a newsroom publishes (`python -m pipeline review export`).

Each exported brief is `<story>.md` and `<story>.json` in the target folder:
the wording as reviewers left it (edits applied, rejected sentences left out
of the text and listed with their reasons), every decision with who and
when, the sign-off (reviewer and time), and the citations.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..render import _environment as _markdown_environment
from ..render import lines_label
from .state import BriefState, ItemState

EXPORT_VERSION = "1.0"


def _item_dict(item: ItemState) -> dict[str, Any]:
    entry = item.entry
    out: dict[str, Any] = {
        "fr": item.final_fr, "en": item.final_en, "decision": item.status,
        "decided_by": item.decided_by, "decided_at": item.decided_at, "reason": item.reason,
        "edited": item.edited_fr is not None or item.edited_en is not None,
        "citations": entry.get("citations", []),
        "comments": [{"reviewer": c.reviewer, "at": c.at, "text": c.text} for c in item.comments],
    }
    if out["edited"]:
        out.update(original={"fr": item.fr, "en": item.en}, edited_by=item.edited_by, edited_at=item.edited_at)
    if item.kind == "quote":
        out.update(speaker=entry.get("speaker"), speaker_en=entry.get("speaker_en"))
    return out


def export_dict(state: BriefState) -> dict[str, Any]:
    b = state.brief
    sign_off = state.signed_off
    return {
        "export_version": EXPORT_VERSION,
        "run_id": state.run_id,
        "story_id": state.story_id,
        "headline": b.get("headline"),
        "review": {
            "signed_off": sign_off is not None,
            "signed_off_by": sign_off.reviewer if sign_off else None,
            "signed_off_at": sign_off.at if sign_off else None,
            "sign_off_lost": state.sign_off_lost,
            "counts": state.counts(),
        },
        "summary": [_item_dict(i) for i in state.items if i.kind == "sentence"],
        "quotes": [_item_dict(i) for i in state.items if i.kind == "quote"],
        "sources": b.get("sources", []),
        "engines": b.get("engines", {}),
        "warnings": b.get("warnings", []),
        "changes": state.changes.to_dict() if state.changes else None,
    }


def export_markdown(state: BriefState) -> str:
    data = export_dict(state)
    kept = [i for i in state.items if i.status != "rejected"]
    numbers = {c["number"]: c for i in kept for c in i.entry.get("citations", ())}
    return _markdown_environment().get_template("server_export.md.j2").render(
        data=data, state=state, sentences=[i for i in kept if i.kind == "sentence"],
        quotes=[i for i in kept if i.kind == "quote"], rejected=[i for i in state.items if i.status == "rejected"],
        edited=[i for i in state.items if i.edited_fr is not None or i.edited_en is not None],
        commented=[i for i in state.items if i.comments],
        citations=[{**numbers[n], "lines": lines_label(numbers[n]["line_start"], numbers[n]["line_end"])}
                   for n in sorted(numbers)],
    )


def export_briefs(states: list[BriefState], to: Path, signed_off_only: bool) -> list[Path]:
    """Write `<to>/<story>.md` and `.json` per brief (signed-off ones only if asked); returns the paths."""
    to = Path(to)
    to.mkdir(parents=True, exist_ok=True)
    written = []
    for state in states:
        if signed_off_only and state.signed_off is None:
            continue
        md, js = to / f"{state.story_id}.md", to / f"{state.story_id}.json"
        md.write_text(export_markdown(state), encoding="utf-8")
        js.write_text(json.dumps(export_dict(state), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        written += [md, js]
    return written
