"""cache.max_age_days: an entry read is never pruned before it has gone unused that long, although a warm run
does not rewrite the `used` time of every entry it reads (only of those marked more than a tenth of it ago)."""

from __future__ import annotations

import sqlite3
import time

from pipeline.cache import Cache

DAY = 86400


def _used(path, key: str) -> float:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT used FROM entries WHERE key = ?", (key,)).fetchone()[0]


def _age(path, key: str, days: float) -> None:
    with sqlite3.connect(path) as db:
        db.execute("UPDATE entries SET used = ? WHERE key = ?", (time.time() - days * DAY, key))


def test_reads_mark_entries_used_at_a_tenth_of_max_age_and_prune_never_comes_early(tmp_path):
    path = tmp_path / "c.sqlite"
    cache = Cache(path, max_age_days=10)
    cache.put_many("translate", [("recent", "a"), ("old", "b"), ("gone", "c")])
    _age(path, "recent", 0.5)  # read half a day ago: under a tenth of 10 days, not marked again
    _age(path, "old", 2)  # two days ago: marked again now
    _age(path, "gone", 10.5)  # unused for more than 10 days, but within 11: kept until the lag is over
    before = _used(path, "recent")
    assert cache.get_many("translate", ["recent", "old"]) == {"recent": "a", "old": "b"}
    assert _used(path, "recent") == before
    assert _used(path, "old") > time.time() - 60
    assert cache.prune(10) == 0
    _age(path, "recent", 9.9)  # its time may lag by a day: not unused for 10 days yet
    _age(path, "gone", 11.5)
    assert cache.prune(10) == 1
    assert cache.get_many("translate", ["recent", "old", "gone"]) == {"recent": "a", "old": "b"}
    assert _used(path, "recent") > time.time() - 60  # read now, after 9.9 days: marked again
    cache.close()


def test_without_max_age_every_read_marks_the_entry(tmp_path):
    path = tmp_path / "c.sqlite"
    cache = Cache(path)
    cache.put("translate", "k", "v")
    _age(path, "k", 0.01)
    cache.get("translate", "k")
    assert _used(path, "k") > time.time() - 60
    cache.close()


def test_prune_looks_up_old_entries_by_their_time_not_by_reading_every_value(tmp_path):
    """Every run prunes: through an index on `used`, so a cache of large values (summaries, dedup) is not read
    whole for it; a cache made before the index existed gets it when opened."""
    path = tmp_path / "c.sqlite"
    with sqlite3.connect(path) as db:  # as an older version made it
        db.execute("CREATE TABLE entries (kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, "
                   "used REAL NOT NULL, PRIMARY KEY (kind, key))")
        db.execute("INSERT INTO entries VALUES ('translate', 'old', '\"a\"', ?)", (time.time() - 20 * DAY,))
    cache = Cache(path, max_age_days=10)
    with sqlite3.connect(path) as db:
        plan = " ".join(str(row) for row in db.execute("EXPLAIN QUERY PLAN DELETE FROM entries WHERE used < 0"))
    assert "entries_used" in plan
    assert cache.prune(10) == 1
    cache.close()


def test_a_cache_of_the_older_layout_is_emptied_and_made_again_as_a_rowid_table(tmp_path, caplog):
    """Caches made before round 18 kept each whole row in the primary key's B-tree (WITHOUT ROWID), where SQLite
    reads an overflowing row whole to compare a key with it (a look-up next to a 50 MB dedup entry read it). Their
    entries come from code whose keys no later run makes: the table is made again, empty, and the file shrinks."""
    path = tmp_path / "c.sqlite"
    with sqlite3.connect(path) as db:  # as an older version made it
        db.execute("CREATE TABLE entries (kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, "
                   "used REAL NOT NULL, PRIMARY KEY (kind, key)) WITHOUT ROWID")
        db.execute("INSERT INTO entries VALUES ('dedup', 'big', ?, ?)", ("x" * 3_000_000, time.time()))
    before = path.stat().st_size
    with caplog.at_level("WARNING", logger="pipeline"):
        cache = Cache(path)
    assert "older version in a slower layout; emptied" in caplog.text
    wal = path.with_name(path.name + "-wal")  # (while the cache is open: the log VACUUM wrote is truncated)
    assert not wal.exists() or wal.stat().st_size < before / 10
    assert cache.get("dedup", "big") is None
    cache.put("translate", "k", "v")
    assert cache.get("translate", "k") == "v"
    cache.close()
    with sqlite3.connect(path) as db:
        (sql,) = db.execute("SELECT sql FROM sqlite_master WHERE name = 'entries'").fetchone()
    assert "WITHOUT ROWID" not in sql.upper()
    assert path.stat().st_size < before / 10
    caplog.clear()
    Cache(path).close()  # opened again: nothing to do
    assert "slower layout" not in caplog.text
