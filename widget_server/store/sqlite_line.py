"""The waiting line on SQLite: each step one ``BEGIN IMMEDIATE`` transaction (see store/base.py's contract).

Entries are rows of ``line`` ordered by ``seq``; an offered entry's slot is a row of ``slots`` whose
holder is the queue id, so every count of slots (``acquire_slot``, ``max_concurrent``) sees it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any

from widget_server.store.base import LINE_KEEP_S, Departure, LineEntry, LinePlace

LINE_SCHEMA = """
CREATE TABLE IF NOT EXISTS line (
    queue_id TEXT PRIMARY KEY,
    widget TEXT NOT NULL,
    seq INTEGER NOT NULL,
    joined_at REAL NOT NULL,
    seen_until REAL NOT NULL,
    wait_until REAL NOT NULL,
    payload TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL,
    turn_until REAL NOT NULL DEFAULT 0,
    hold_until REAL NOT NULL DEFAULT 0,
    holder TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '',
    left_at REAL
);
CREATE INDEX IF NOT EXISTS line_order ON line (widget, seq) WHERE state != 'left';
CREATE INDEX IF NOT EXISTS line_left ON line (left_at) WHERE state = 'left';
CREATE TABLE IF NOT EXISTS line_departures (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue_id TEXT NOT NULL,
    widget TEXT NOT NULL,
    reason TEXT NOT NULL,
    joined_at REAL NOT NULL,
    at REAL NOT NULL
);
"""

_FIELDS = tuple(LineEntry.__dataclass_fields__)


def _entry(row: sqlite3.Row) -> LineEntry:
    return LineEntry(**{k: row[k] for k in _FIELDS})


def _depart(db: sqlite3.Connection, row: sqlite3.Row, reason: str, now: float) -> None:
    # what the create needed (overrides, the client address) is forgotten with the place
    db.execute("UPDATE line SET state = 'left', reason = ?, left_at = ?, payload = '' WHERE queue_id = ?",
               (reason, now, row["queue_id"]))
    db.execute("DELETE FROM slots WHERE widget = ? AND holder = ?", (row["widget"], row["queue_id"]))
    db.execute("INSERT INTO line_departures (queue_id, widget, reason, joined_at, at) VALUES (?, ?, ?, ?, ?)",
               (row["queue_id"], row["widget"], reason, row["joined_at"], now))


def prune_line(db: sqlite3.Connection, widget: str, now: float) -> list[sqlite3.Row]:
    """Drop the entries whose time ran out (a lapsed claim goes back to waiting); the rest, in order."""
    kept = []
    for row in db.execute("SELECT * FROM line WHERE widget = ? AND state != 'left' ORDER BY seq", (widget,)).fetchall():
        reason = None
        if row["state"] == "serving":
            if row["turn_until"] <= now:  # the instance running its create died: the place is kept
                db.execute("UPDATE line SET state = 'waiting', holder = '', turn_until = 0, seen_until = ? "
                           "WHERE queue_id = ?", (max(row["seen_until"], now + 30), row["queue_id"]))
        elif row["state"] == "offered" and row["turn_until"] <= now:
            reason = "turn_missed"
        elif row["seen_until"] <= now:
            reason = "gone"
        elif row["state"] == "waiting" and row["wait_until"] <= now:
            reason = "expired"
        if reason:
            _depart(db, row, reason, now)
        else:
            kept.append(row)
    if kept:
        return list(db.execute("SELECT * FROM line WHERE widget = ? AND state != 'left' ORDER BY seq", (widget,)))
    return kept


def waiting_in_line(db: sqlite3.Connection, widget: str, now: float) -> int:
    return sum(1 for row in prune_line(db, widget, now) if row["state"] == "waiting")


def _free(db: sqlite3.Connection, widget: str, limit: int, now: float) -> int:
    db.execute("DELETE FROM slots WHERE widget = ? AND lease_until <= ?", (widget, now))
    row = db.execute("SELECT n FROM slot_counts WHERE widget = ?", (widget,)).fetchone()
    return limit - (row[0] if row else 0)


class SqliteLine:
    """The line's half of :class:`~widget_server.store.sqlite.SqliteStore` (which provides ``_tx``)."""

    def _tx(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def _place(self, db: sqlite3.Connection, widget: str, queue_id: str, now: float) -> LinePlace:
        rows = prune_line(db, widget, now)
        position = 0
        for row in rows:
            if row["state"] == "waiting":
                position += 1
            if row["queue_id"] == queue_id:
                return LinePlace(row["state"], position if row["state"] == "waiting" else 0, len(rows),
                                 entry=_entry(row))
        left = db.execute("SELECT * FROM line WHERE queue_id = ? AND widget = ?", (queue_id, widget)).fetchone()
        if left is None:
            return LinePlace("", 0, len(rows))
        return LinePlace("left", 0, len(rows), left["reason"], _entry(left))

    async def line_enter(self, entry: LineEntry, limit: int, holder: str, lease_until: float, max_length: int,
                         now: float) -> int:
        with self._tx() as db:
            rows = prune_line(db, entry.widget, now)
            waiting = sum(1 for r in rows if r["state"] == "waiting")
            if not waiting and _free(db, entry.widget, limit, now) > 0:
                db.execute("INSERT INTO slots VALUES (?, ?, ?)", (entry.widget, holder, lease_until))
                return 0
            if len(rows) >= max_length:
                return -1
            seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM line").fetchone()[0]
            row = {**{k: getattr(entry, k) for k in _FIELDS}, "seq": seq, "state": "waiting"}
            db.execute(f"INSERT INTO line ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
                       tuple(row.values()))
            return waiting + 1

    async def line_advance(self, widget: str, limit: int, turn_until: float, now: float) -> list[str]:
        offered: list[str] = []
        with self._tx() as db:
            rows = prune_line(db, widget, now)
            if not any(r["state"] == "waiting" for r in rows):
                return offered
            free = _free(db, widget, limit, now)
            for row in rows:
                held = "SELECT 1 FROM slots WHERE widget = ? AND holder = ?"
                if row["state"] == "serving" and db.execute(held, (widget, row["holder"])).fetchone() is None:
                    break  # its create failed and it is being settled (put back at the head, or out): wait
                if row["state"] != "waiting":
                    continue
                if free <= 0 or row["hold_until"] > now:
                    break
                db.execute("UPDATE line SET state = 'offered', turn_until = ? WHERE queue_id = ?",
                           (turn_until, row["queue_id"]))
                db.execute("INSERT INTO slots VALUES (?, ?, ?)", (widget, row["queue_id"], turn_until))
                offered.append(row["queue_id"])
                free -= 1
        return offered

    async def line_claim(self, widget: str, queue_id: str, holder: str, lease_until: float, claim_until: float,
                         now: float) -> bool:
        with self._tx() as db:
            prune_line(db, widget, now)
            cur = db.execute("UPDATE line SET state = 'serving', holder = ?, turn_until = ? "
                             "WHERE queue_id = ? AND widget = ? AND state = 'offered'",
                             (holder, claim_until, queue_id, widget))
            if cur.rowcount != 1:
                return False
            db.execute("DELETE FROM slots WHERE widget = ? AND holder = ?", (widget, queue_id))
            db.execute("INSERT INTO slots VALUES (?, ?, ?)", (widget, holder, lease_until))
            return True

    async def line_requeue(self, widget: str, queue_id: str, hold_until: float, seen_until: float,
                           now: float) -> bool:
        with self._tx() as db:
            cur = db.execute("UPDATE line SET state = 'waiting', holder = '', turn_until = 0, hold_until = ?, "
                             "seen_until = MAX(seen_until, ?) WHERE queue_id = ? AND widget = ? AND state = 'serving'",
                             (hold_until, seen_until, queue_id, widget))
            return cur.rowcount == 1

    async def line_leave(self, widget: str, queue_id: str, reason: str, now: float) -> bool:
        with self._tx() as db:
            prune_line(db, widget, now)
            row = db.execute("SELECT * FROM line WHERE queue_id = ? AND widget = ? AND state != 'left'",
                             (queue_id, widget)).fetchone()
            if row is None:
                return False
            _depart(db, row, reason, now)
            return True

    async def line_touch(self, widget: str, queue_id: str, seen_until: float, now: float) -> LinePlace:
        with self._tx() as db:
            db.execute("UPDATE line SET seen_until = MAX(seen_until, ?) WHERE queue_id = ? AND widget = ? "
                       "AND state IN ('waiting', 'offered') AND seen_until > ?", (seen_until, queue_id, widget, now))
            return self._place(db, widget, queue_id, now)

    async def line_place(self, widget: str, queue_id: str, now: float) -> LinePlace:
        with self._tx() as db:
            return self._place(db, widget, queue_id, now)

    async def line_length(self, widget: str, now: float) -> int:
        with self._tx() as db:
            db.execute("DELETE FROM line WHERE state = 'left' AND left_at < ?", (now - LINE_KEEP_S,))
            return len(prune_line(db, widget, now))

    async def line_entries(self, widget: str, now: float) -> list[LineEntry]:
        with self._tx() as db:
            return [replace(_entry(row), payload="") for row in prune_line(db, widget, now)]

    async def line_departures(self, limit: int) -> list[Departure]:
        with self._tx() as db:
            rows: Iterator[Any] = db.execute("DELETE FROM line_departures WHERE id IN (SELECT id FROM line_departures "
                                             "ORDER BY id LIMIT ?) RETURNING *", (limit,))
            found = sorted(rows, key=lambda r: r["id"])
        return [Departure(r["queue_id"], r["widget"], r["reason"], r["joined_at"], r["at"]) for r in found]
