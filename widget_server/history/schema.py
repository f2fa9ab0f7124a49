"""The history database's tables (SQLAlchemy Core): what happened, kept after the live store forgets it.

Times are unix seconds (double precision), as everywhere else in the server. Tables carry a ``history_``
prefix: by default they share the SQLite file of the live store. The Alembic migrations in
``migrations/versions`` create exactly these; ``tests/history`` checks that the two agree.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()

# SQLite only gives AUTOINCREMENT-free rowid aliases to INTEGER PRIMARY KEY columns.
_ID = BigInteger().with_variant(Integer(), "sqlite")
_TIME = Float(precision=53)

conversations = Table(
    "history_conversations", metadata,
    Column("local_id", String(64), primary_key=True),
    Column("conversation_id", String(128), unique=True),
    Column("conversation_url", String(500), nullable=False, server_default=""),
    Column("widget", String(64), nullable=False),
    Column("status", String(16), nullable=False),       # active | lost | ended | failed
    Column("created_at", _TIME, nullable=False),
    Column("expires_at", _TIME, nullable=False),
    Column("started_at", _TIME),
    Column("ended_at", _TIME),
    Column("end_reason", String(200)),
    Column("end_source", String(16)),                   # engine (its callback or record) | server
    Column("seconds", _TIME, nullable=False, server_default="0"),  # what the engine bills; 0 for failed
    Column("last_seen", _TIME),
    Column("origin", String(300), nullable=False, server_default=""),
    Column("client_ip", String(64), nullable=False, server_default=""),
    Column("client_ip_hash", String(64), nullable=False, server_default=""),
    Column("consent", Text),   # JSON {"at", "text_sha256"}
    Column("rating", Text),    # JSON {"thumbs", "comment", "at"}
    Column("transcript", String(16), nullable=False, server_default=""),  # "" | kept | none | purged
    Column("recording", Text),                          # JSON: the engine's recording references
    Column("updated_at", _TIME, nullable=False),
    Index("history_conversations_created", "created_at"),
    Index("history_conversations_widget", "widget", "created_at"),
    Index("history_conversations_transcript", "transcript", "ended_at"),
)

events = Table(
    "history_events", metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("local_id", String(64), nullable=False),
    Column("at", _TIME, nullable=False),
    Column("kind", String(40), nullable=False),        # created | started | ended | transcript | recording
    Column("data", Text, nullable=False, server_default="{}"),
    Index("history_events_conversation", "local_id", "at"),
    Index("history_events_at", "at"),
)

transcripts = Table(
    "history_transcripts", metadata,
    Column("local_id", String(64), primary_key=True),
    Column("source", String(16), nullable=False),      # callback | engine_get
    Column("received_at", _TIME, nullable=False),
    Column("body", Text, nullable=False),              # JSON list of {role, content, ...}
)

deliveries = Table(
    "history_deliveries", metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False),
    Column("event_type", String(40), nullable=False),
    Column("conversation_id", String(128)),
    Column("at", _TIME, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("outcome", String(16), nullable=False),     # delivered | http_<code> | no_answer
    Index("history_deliveries_at", "at"),
    Index("history_deliveries_event", "event_id"),
)

audit = Table(
    "history_audit", metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("at", _TIME, nullable=False),
    Column("actor", String(64), nullable=False),       # server_key | cli | ...
    Column("action", String(64), nullable=False),
    Column("target", String(128), nullable=False, server_default=""),
    Column("detail", Text, nullable=False, server_default="{}"),
    Index("history_audit_at", "at"),
)

# Per widget and UTC day, kept as conversations end (never summed at read time): the seconds each day
# holds of the conversations that overlap it, and the conversations (ended, failed) created that day.
days = Table(
    "history_days", metadata,
    Column("widget", String(64), primary_key=True),
    Column("day", BigInteger, primary_key=True),       # unix seconds of the UTC day's start
    Column("conversations", Integer, nullable=False, server_default="0"),
    Column("failed", Integer, nullable=False, server_default="0"),
    Column("seconds", _TIME, nullable=False, server_default="0"),
)

# Per widget, UTC day of creation, status and end reason, kept as conversations end like ``days``: what the
# console's charts of end and failure reasons read, so that a year of them is a few thousand rows, not a scan.
day_reasons = Table(
    "history_day_reasons", metadata,
    Column("widget", String(64), primary_key=True),
    Column("day", BigInteger, primary_key=True),
    Column("status", String(16), primary_key=True),      # ended | failed
    Column("reason", String(200), primary_key=True),     # the end reason ("" when none was given)
    Column("conversations", Integer, nullable=False, server_default="0"),
    Column("seconds", _TIME, nullable=False, server_default="0"),
    # all widgets over a range of days: read from the index alone
    Index("history_day_reasons_day", "day", "status", "reason", "conversations", "seconds"),
)

# Creates refused by a rule (rate-limited, busy, budget-spent, queue-full, origin-not-allowed...), per widget,
# UTC day and rule: each instance counts them in memory and adds its counts every few seconds (recorder.py),
# so a flood of refusals costs the database one upsert per widget, rule and flush, not one per refusal.
refusal_days = Table(
    "history_refusal_days", metadata,
    Column("widget", String(64), primary_key=True),
    Column("day", BigInteger, primary_key=True),
    Column("rule", String(40), primary_key=True),
    Column("refusals", BigInteger, nullable=False, server_default="0"),
    # all widgets over a range of days: read from the index alone
    Index("history_refusal_days_day", "day", "rule", "refusals"),
)

# The same per UTC hour, for the hourly charts (3 days at most): kept a week, then pruned by the purge job.
refusal_hours = Table(
    "history_refusal_hours", metadata,
    Column("widget", String(64), primary_key=True),
    Column("hour", BigInteger, primary_key=True),       # unix seconds of the hour's start
    Column("rule", String(40), primary_key=True),
    Column("refusals", BigInteger, nullable=False, server_default="0"),
    Index("history_refusal_hours_hour", "hour"),
)

# The same day totals over all widgets, kept beside the per-widget ones in the same transaction: the
# console's charts of every widget read a row per day (and reason or rule), not one per widget to be summed
# (a year of 20 widgets' reasons was 65,000 rows to group at each read).
days_all = Table(
    "history_days_all", metadata,
    Column("day", BigInteger, primary_key=True),
    Column("conversations", Integer, nullable=False, server_default="0"),
    Column("failed", Integer, nullable=False, server_default="0"),
    Column("seconds", _TIME, nullable=False, server_default="0"),
)

day_reasons_all = Table(
    "history_day_reasons_all", metadata,
    Column("day", BigInteger, primary_key=True),
    Column("status", String(16), primary_key=True),
    Column("reason", String(200), primary_key=True),
    Column("conversations", Integer, nullable=False, server_default="0"),
    Column("seconds", _TIME, nullable=False, server_default="0"),
)

refusal_days_all = Table(
    "history_refusal_days_all", metadata,
    Column("day", BigInteger, primary_key=True),
    Column("rule", String(40), primary_key=True),
    Column("refusals", BigInteger, nullable=False, server_default="0"),
)

# The ledger filtered by rating reads only the rated conversations (a small share), newest first.
Index("history_conversations_rated", conversations.c.created_at,
      sqlite_where=conversations.c.rating.is_not(None), postgresql_where=conversations.c.rating.is_not(None))
