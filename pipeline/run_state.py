"""What a run keeps in its run folder for the next run (dedup's and stories' states), found again.

Each stage that works across runs writes one state file next to its outputs
(`pipeline.dedup_state`, `pipeline.story_join`); the next run reads the previous
run's file, or says why there is none and the stage works in full.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, TypeVar

State = TypeVar("State")


def previous_state(previous_run: Path | None, file_name: str, load: Callable[[Path], State], what: str,
                   ) -> tuple[State | None, str]:
    """The previous run's `file_name` read by `load` (which raises ValueError on a file it cannot read),
    or None and why there is none (`what` names the state in that reason)."""
    if previous_run is None:
        return None, "no previous run"
    path = previous_run / file_name
    if not path.is_file():
        return None, f"the previous run ({previous_run.name}) kept no {what}"
    try:
        return load(path), ""
    except ValueError as exc:
        return None, str(exc)
