"""SQLite store: one file, shared safely by the processes of one machine.

Calls are short and local, so they run on the event loop thread; writes that
must be atomic (slot acquisition, finishing) use ``BEGIN IMMEDIATE``.

The daily budget does not scan history: triggers keep ``budget_days``, per widget
and UTC day, the seconds of every finished (not failed) conversation, each day
getting only its own part of a conversation that spans midnight. They fire on
every write of ``conversations`` (by any process, on any path), so the table is
always what the rows say. ``seconds_used`` for a day adds the conversations that
have not ended yet, found through a partial index.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from widget_server.store.base import (
    DAY,
    KEEP_DAYS,
    LIVE,
    SPAN_DAYS,
    ConversationRecord,
    OutboxItem,
    booked_day,
    fixed_window,
    require_open,
)
from widget_server.store.sqlite_line import LINE_SCHEMA, SqliteLine, waiting_in_line

SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    local_id TEXT PRIMARY KEY,
    widget TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    origin TEXT NOT NULL DEFAULT '',
    client_ip TEXT NOT NULL DEFAULT '',
    conversation_id TEXT UNIQUE,
    conversation_url TEXT NOT NULL DEFAULT '',
    started_at REAL,
    ended_at REAL,
    end_reason TEXT,
    last_seen REAL,
    consent TEXT,
    rating TEXT
);
CREATE INDEX IF NOT EXISTS conversations_live ON conversations (status, widget);
CREATE INDEX IF NOT EXISTS conversations_created ON conversations (widget, created_at);
CREATE INDEX IF NOT EXISTS conversations_open ON conversations (widget) WHERE ended_at IS NULL;
CREATE TABLE IF NOT EXISTS slots (
    widget TEXT NOT NULL,
    holder TEXT NOT NULL,
    lease_until REAL NOT NULL,
    PRIMARY KEY (widget, holder)
);
CREATE INDEX IF NOT EXISTS slots_lease ON slots (widget, lease_until);
CREATE TABLE IF NOT EXISTS counters (
    key TEXT PRIMARY KEY,
    window_start REAL NOT NULL,
    count INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS revoked (
    key TEXT PRIMARY KEY,
    at REAL NOT NULL,
    until REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS locks (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    due_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (due_at);
"""

_COLUMNS = tuple(ConversationRecord.__dataclass_fields__)
_LIVE_IN = "(" + ", ".join(f"'{s}'" for s in LIVE) + ")"


def _book(row: str, sign: str) -> str:
    """Add (sign '+') or take back (sign '-') the per-day parts of trigger row ``row`` (NEW or OLD)."""
    part = f"MIN({row}.ended_at, d + {DAY}) - MAX({row}.created_at, d)"
    last = f"CAST({row}.ended_at / {DAY} AS INTEGER)"
    return (
        f"INSERT INTO budget_days (widget, day, seconds) SELECT {row}.widget, d, {sign}({part}) "
        f"FROM (SELECT ({last} - k) * {DAY} AS d FROM budget_offsets "
        f"WHERE k <= {last} - CAST({row}.created_at / {DAY} AS INTEGER)) "
        f"WHERE {row}.ended_at IS NOT NULL AND {row}.status != 'failed' AND {part} > 0 "
        f"ON CONFLICT (widget, day) DO UPDATE SET seconds = seconds + excluded.seconds;"
    )


# A widget's days older than KEEP_DAYS before its latest finished conversation are deleted.
_PRUNE = (f"DELETE FROM budget_days WHERE widget = NEW.widget "
          f"AND day < (CAST(MIN(NEW.created_at, NEW.ended_at) / {DAY} AS INTEGER) - {KEEP_DAYS}) * {DAY};")

# Created in one transaction with its triggers and its backfill, so that no write is ever missed,
# also when an older version of this server shares the file.
BUDGET_SCHEMA = (
    "CREATE TABLE budget_offsets (k INTEGER PRIMARY KEY)",
    "INSERT INTO budget_offsets (k) VALUES " + ", ".join(f"({k})" for k in range(SPAN_DAYS)),
    """CREATE TABLE budget_days (
        widget TEXT NOT NULL,
        day INTEGER NOT NULL,
        seconds REAL NOT NULL,
        PRIMARY KEY (widget, day)
    ) WITHOUT ROWID""",
    f"CREATE TRIGGER budget_days_insert AFTER INSERT ON conversations WHEN NEW.ended_at IS NOT NULL "
    f"BEGIN {_book('NEW', '+')} {_PRUNE} END",
    # Every path that ends a conversation (or adopts a failed one) sets ended_at: take back what the row
    # booked before, book what it says now. (activate and mark_lost do not set it, so they cost nothing.)
    f"CREATE TRIGGER budget_days_update AFTER UPDATE OF ended_at ON conversations "
    f"WHEN OLD.ended_at IS NOT NULL OR NEW.ended_at IS NOT NULL "
    f"BEGIN {_book('OLD', '-')} {_book('NEW', '+')} {_PRUNE} END",
    f"CREATE TRIGGER budget_days_delete AFTER DELETE ON conversations WHEN OLD.ended_at IS NOT NULL "
    f"BEGIN {_book('OLD', '-')} END",
    # A database made before the table: book what its conversations already used.
    f"""INSERT INTO budget_days (widget, day, seconds)
        SELECT widget, d, SUM(MIN(ended_at, d + {DAY}) - MAX(created_at, d)) FROM (
            SELECT c.widget, c.created_at, c.ended_at, (CAST(c.ended_at / {DAY} AS INTEGER) - o.k) * {DAY} AS d
            FROM conversations AS c, budget_offsets AS o WHERE c.ended_at IS NOT NULL AND c.status != 'failed')
        WHERE MIN(ended_at, d + {DAY}) > MAX(created_at, d) GROUP BY widget, d""",
)

_HAS_BUDGET = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'budget_days'"

# Ended records not yet written to the history database (an older database: all of its ended ones, so
# that history gets them on the first start). The rows stay here afterwards: the budget's triggers read them.
ARCHIVE_SCHEMA = (
    "ALTER TABLE conversations ADD COLUMN archived INTEGER NOT NULL DEFAULT 0",
    "CREATE INDEX conversations_unarchived ON conversations (ended_at) WHERE archived = 0 AND ended_at IS NOT NULL",
)
_HAS_ARCHIVE = "SELECT 1 FROM pragma_table_info('conversations') WHERE name = 'archived'"

# Each widget's number of slot rows, kept by triggers, so that taking a slot does not count them: with
# thousands of live conversations the count was most of a create's store time. Slots are only ever
# inserted (an upsert for the same holder updates, which the count ignores) or deleted.
SLOT_COUNT_SCHEMA = (
    "CREATE TABLE slot_counts (widget TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID",
    "CREATE TRIGGER slot_counts_insert AFTER INSERT ON slots BEGIN "
    "INSERT INTO slot_counts (widget, n) VALUES (NEW.widget, 1) "
    "ON CONFLICT (widget) DO UPDATE SET n = n + 1; END",
    "CREATE TRIGGER slot_counts_delete AFTER DELETE ON slots BEGIN "
    "UPDATE slot_counts SET n = n - 1 WHERE widget = OLD.widget; END",
    # A database made before the table: count what is there.
    "INSERT INTO slot_counts (widget, n) SELECT widget, COUNT(*) FROM slots GROUP BY widget",
)
_HAS_SLOT_COUNTS = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'slot_counts'"

# Today's (or yesterday's) use: the booked days from ``since`` on, plus what has not ended yet.
_USED_FAST = (
    "SELECT (SELECT COALESCE(SUM(seconds), 0) FROM budget_days WHERE widget = ? AND day >= ?) + "
    "(SELECT COALESCE(SUM(MAX(0, ? - MAX(created_at, ?))), 0) FROM conversations INDEXED BY conversations_open "
    "WHERE widget = ? AND ended_at IS NULL AND status != 'failed')"
)
# Any other ``since``: the definition itself, a scan of the widget's history.
_USED_SCAN = (
    "SELECT COALESCE(SUM(MAX(0, COALESCE(ended_at, ?) - MAX(created_at, ?))), 0) "
    "FROM conversations WHERE widget = ? AND status != 'failed' AND COALESCE(ended_at, ?) > ?"
)


def _queue(db: sqlite3.Connection, item: OutboxItem | None) -> None:
    if item is not None:
        db.execute("INSERT OR IGNORE INTO outbox VALUES (?, ?, ?, ?)", (item.id, item.body, item.due_at, item.attempts))


class SqliteStore(SqliteLine):
    def __init__(self, path: str) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None

    async def open(self) -> None:
        if self._db is not None:
            return
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=10000")
        db.executescript(SCHEMA)
        db.executescript(LINE_SCHEMA)
        have = {row[1] for row in db.execute("PRAGMA table_info(conversations)")}
        for column in ("consent", "rating"):  # added after the first release: older files lack them
            if column not in have:
                db.execute(f"ALTER TABLE conversations ADD COLUMN {column} TEXT")
        self._db = db
        try:
            with self._tx():
                if db.execute(_HAS_BUDGET).fetchone() is None:
                    for statement in BUDGET_SCHEMA:
                        db.execute(statement)
                if db.execute(_HAS_SLOT_COUNTS).fetchone() is None:
                    for statement in SLOT_COUNT_SCHEMA:
                        db.execute(statement)
                if db.execute(_HAS_ARCHIVE).fetchone() is None:
                    for statement in ARCHIVE_SCHEMA:
                        db.execute(statement)
        except BaseException:
            self._db = None
            db.close()
            raise

    @property
    def db(self) -> sqlite3.Connection:
        return require_open(self._db)

    async def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    async def ping(self) -> bool:
        try:
            self.db.execute("SELECT 1").fetchone()
            return True
        except (sqlite3.Error, RuntimeError):
            return False

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _update(self, sql: str, args: tuple[Any, ...], outbox: OutboxItem | None, *,
                ending: str | None = None) -> bool:
        """One conditional UPDATE of a conversation, and ``outbox`` queued if it changed the row, in one
        transaction; ``ending``: the holder whose slot goes too (whether or not the row changed)."""
        with self._tx() as db:
            changed = db.execute(sql, args).rowcount == 1
            if ending is not None:
                db.execute("DELETE FROM slots WHERE holder = ?", (ending,))
            if changed:
                _queue(db, outbox)
            return changed

    async def acquire_slot(self, widget: str, limit: int, holder: str, lease_until: float, now: float,
                           record: ConversationRecord | None = None) -> bool:
        with self._tx() as db:
            db.execute("DELETE FROM slots WHERE widget = ? AND lease_until <= ?", (widget, now))  # by index
            if waiting_in_line(db, widget, now):
                return False
            row = db.execute("SELECT n - EXISTS (SELECT 1 FROM slots WHERE widget = ? AND holder = ?) "
                             "FROM slot_counts WHERE widget = ?", (widget, holder, widget)).fetchone()
            if row is not None and row[0] >= limit:  # the others' slots (this holder's own may be renewed)
                return False
            db.execute("INSERT INTO slots VALUES (?, ?, ?) ON CONFLICT (widget, holder) "
                       "DO UPDATE SET lease_until = excluded.lease_until", (widget, holder, lease_until))
            if record is not None:
                self._insert(db, record)
            return True

    async def live_slots(self, widget: str, now: float) -> int:
        row = self.db.execute(
            "SELECT COUNT(*) FROM slots WHERE widget = ? AND lease_until > ?", (widget, now)
        ).fetchone()
        return int(row[0])

    async def insert(self, record: ConversationRecord) -> None:
        self._insert(self.db, record)

    @staticmethod
    def _insert(db: sqlite3.Connection, record: ConversationRecord) -> None:
        row = record.to_row()
        names = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        db.execute(f"INSERT INTO conversations ({names}) VALUES ({marks})", tuple(row.values()))

    async def activate(self, local_id: str, conversation_id: str, conversation_url: str,
                       outbox: OutboxItem | None = None) -> bool:
        return self._update(
            "UPDATE conversations SET conversation_id = ?, conversation_url = ?, status = 'active' "
            "WHERE local_id = ? AND status = 'creating'",
            (conversation_id, conversation_url, local_id), outbox)

    async def mark_lost(self, local_id: str) -> bool:
        cur = self.db.execute(
            "UPDATE conversations SET status = 'lost' WHERE local_id = ? AND status = 'creating'", (local_id,))
        return cur.rowcount == 1

    def _one(self, sql: str, args: tuple[Any, ...]) -> ConversationRecord | None:
        row = self.db.execute(sql, args).fetchone()
        return ConversationRecord(**{k: row[k] for k in _COLUMNS}) if row else None

    async def by_conversation(self, conversation_id: str) -> ConversationRecord | None:
        return self._one("SELECT * FROM conversations WHERE conversation_id = ?", (conversation_id,))

    async def by_local(self, local_id: str) -> ConversationRecord | None:
        return self._one("SELECT * FROM conversations WHERE local_id = ?", (local_id,))

    async def mark_started(self, local_id: str, at: float, outbox: OutboxItem | None = None) -> bool:
        return self._update(
            "UPDATE conversations SET started_at = ? WHERE local_id = ? AND started_at IS NULL", (at, local_id), outbox)

    async def touch(self, local_id: str, at: float) -> bool:
        cur = self.db.execute(
            f"UPDATE conversations SET last_seen = MAX(COALESCE(last_seen, 0), ?) "
            f"WHERE local_id = ? AND status IN {_LIVE_IN}", (at, local_id))
        return cur.rowcount == 1

    async def finish(self, local_id: str, status: str, reason: str, at: float,
                     outbox: OutboxItem | None = None) -> bool:
        return self._update(
            f"UPDATE conversations SET status = ?, end_reason = ?, ended_at = ? "
            f"WHERE local_id = ? AND status IN {_LIVE_IN}",
            (status, reason, at, local_id), outbox, ending=local_id)

    async def adopt(self, local_id: str, conversation_id: str, reason: str, at: float,
                    outbox: OutboxItem | None = None) -> bool:
        return self._update(
            "UPDATE conversations SET status = 'ended', conversation_id = COALESCE(conversation_id, ?), "
            "end_reason = ?, ended_at = ? WHERE local_id = ? AND status IN ('creating', 'lost', 'failed')",
            (conversation_id, reason, at, local_id), outbox, ending=local_id)

    async def rate(self, local_id: str, rating: str, outbox: OutboxItem | None = None) -> bool:
        return self._update("UPDATE conversations SET rating = ? WHERE local_id = ? AND rating IS NULL "
                            "AND status = 'ended'", (rating, local_id), outbox)

    def _many(self, sql: str, args: tuple[Any, ...]) -> list[ConversationRecord]:
        return [ConversationRecord(**{k: r[k] for k in _COLUMNS}) for r in self.db.execute(sql, args).fetchall()]

    async def live_records(self, widget: str | None = None) -> list[ConversationRecord]:
        sql = f"SELECT * FROM conversations WHERE status IN {_LIVE_IN}"
        if widget is not None:
            return self._many(sql + " AND widget = ?", (widget,))
        return self._many(sql, ())

    async def unarchived(self, limit: int) -> list[ConversationRecord]:
        return self._many("SELECT * FROM conversations INDEXED BY conversations_unarchived "
                          "WHERE archived = 0 AND ended_at IS NOT NULL ORDER BY ended_at LIMIT ?", (limit,))

    async def archived(self, local_ids: list[str], keep_s: float) -> None:
        self.db.executemany("UPDATE conversations SET archived = 1 WHERE local_id = ?", [(i,) for i in local_ids])

    async def records_since(self, since: float) -> list[ConversationRecord]:
        return self._many("SELECT * FROM conversations WHERE created_at >= ? ORDER BY created_at", (since,))

    async def hit(self, key: str, window_s: int, limit: int, now: float) -> int:
        start, wait = fixed_window(now, window_s)
        with self._tx() as db:
            row = db.execute("SELECT window_start, count FROM counters WHERE key = ?", (key,)).fetchone()
            count = row["count"] if row and row["window_start"] == start else 0
            if count >= limit:
                return wait
            db.execute("INSERT OR REPLACE INTO counters VALUES (?, ?, ?)", (key, start, count + 1))
            return 0

    async def seconds_used(self, widget: str, since: float, now: float) -> float:
        if booked_day(since, now):
            row = self.db.execute(_USED_FAST, (widget, since, now, since, widget)).fetchone()
        else:
            row = self.db.execute(_USED_SCAN, (now, since, widget, now, since)).fetchone()
        return float(row[0])

    async def try_lock(self, name: str, holder: str, ttl_s: float, now: float) -> bool:
        with self._tx() as db:
            row = db.execute("SELECT holder, until FROM locks WHERE name = ?", (name,)).fetchone()
            if row and row["holder"] != holder and row["until"] > now:
                return False
            db.execute("INSERT OR REPLACE INTO locks VALUES (?, ?, ?)", (name, holder, now + ttl_s))
            return True

    async def revoke(self, key: str, at: float, until: float, now: float) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM revoked WHERE until <= ?", (now,))  # few rows: sign-outs within a session's life
            db.execute("INSERT OR REPLACE INTO revoked VALUES (?, ?, ?)", (key, at, until))

    async def revocations(self, keys: list[str], now: float) -> dict[str, float]:
        if not keys:
            return {}
        marks = ", ".join("?" for _ in keys)
        rows = self.db.execute(f"SELECT key, at FROM revoked WHERE key IN ({marks}) AND until > ?", (*keys, now))
        return {r["key"]: float(r["at"]) for r in rows}

    async def outbox_put(self, item: OutboxItem) -> None:
        _queue(self.db, item)

    async def outbox_claim(self, now: float, limit: int, lease_until: float) -> list[OutboxItem]:
        with self._tx() as db:
            rows = db.execute("SELECT * FROM outbox WHERE due_at <= ? ORDER BY due_at LIMIT ?",
                              (now, limit)).fetchall()
            db.executemany("UPDATE outbox SET due_at = ? WHERE id = ?", [(lease_until, r["id"]) for r in rows])
        return [OutboxItem(r["id"], r["body"], lease_until, r["attempts"]) for r in rows]

    async def outbox_done(self, item_id: str) -> None:
        self.db.execute("DELETE FROM outbox WHERE id = ?", (item_id,))

    async def outbox_retry(self, item_id: str, due_at: float, attempts: int) -> None:
        self.db.execute("UPDATE outbox SET due_at = ?, attempts = ? WHERE id = ?", (due_at, attempts, item_id))

    async def outbox_size(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
