"""Reviewers' decisions in SQLite (`<out>/review.sqlite`), as an append-only history.

Every action (approve, reject, edit, comment, sign_off) is one row with who,
when, the run it was made on and its data; nothing is ever updated or
deleted, so two reviewers acting on the same sentence at once both stay in
the history and the later row wins (rows are ordered by their id, which
SQLite hands out under its write lock). Each request opens its own
connection (WAL, busy timeout), so the server can serve requests in
parallel.

A file SQLite cannot read is moved aside (`review.sqlite.damaged-<time>`)
with a warning, and a new one is started: never a crash.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

log = logging.getLogger("pipeline")

FILE_NAME = "review.sqlite"
ACTIONS = ("approve", "reject", "edit", "comment", "sign_off")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,          -- UTC, ISO 8601
    reviewer TEXT NOT NULL,
    story_id TEXT NOT NULL,
    item_key TEXT,             -- the sentence's identity (pipeline.review.state.item_key); NULL for sign_off
    action TEXT NOT NULL,
    data TEXT NOT NULL,        -- JSON: reason, fr/en, text, or the signed-off items
    run_id TEXT NOT NULL       -- the run the reviewer was looking at
);
CREATE INDEX IF NOT EXISTS history_story ON history (story_id, id);
"""


@dataclass(frozen=True)
class Event:
    id: int
    at: str
    reviewer: str
    story_id: str
    item_key: str | None
    action: str
    data: dict[str, Any]
    run_id: str


class ReviewStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.warnings: list[str] = []
        try:
            self._init()
        except sqlite3.DatabaseError as exc:  # not a database, or a damaged one
            aside = self.path.with_name(f"{self.path.name}.damaged-{time.strftime('%Y%m%dT%H%M%S')}")
            for suffix in ("", "-wal", "-shm"):
                src = Path(f"{self.path}{suffix}")
                if src.exists():
                    os.replace(src, f"{aside}{suffix}")
            message = (f"review decisions {self.path} could not be read ({exc}); moved it to {aside} and started "
                       "a new one (the old decisions are in that file)")
            log.warning("%s", message)
            self.warnings.append(message)
            self._init()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.execute("PRAGMA busy_timeout=30000")
        return db

    def _init(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            db.execute("SELECT count(*) FROM history").fetchone()
            if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("integrity check failed")

    def add(self, reviewer: str, story_id: str, item_key: str | None, action: str, data: dict[str, Any],
            run_id: str) -> Event:
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}")
        at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        payload = json.dumps(data, ensure_ascii=False, sort_keys=True)
        with closing(self._connect()) as db:
            cur = db.execute(
                "INSERT INTO history (at, reviewer, story_id, item_key, action, data, run_id) VALUES (?,?,?,?,?,?,?)",
                (at, reviewer, story_id, item_key, action, payload, run_id))
            return Event(int(cur.lastrowid or 0), at, reviewer, story_id, item_key, action, data, run_id)

    def events(self, story_id: str | None = None) -> list[Event]:
        """The history, oldest first; of one story, or of all."""
        query = "SELECT id, at, reviewer, story_id, item_key, action, data, run_id FROM history"
        with closing(self._connect()) as db:
            rows = (db.execute(query + " WHERE story_id = ? ORDER BY id", (story_id,)) if story_id is not None
                    else db.execute(query + " ORDER BY id")).fetchall()
        return [Event(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]), r[7]) for r in rows]


def open_store(out: Path) -> ReviewStore:
    return ReviewStore(Path(out) / FILE_NAME)
