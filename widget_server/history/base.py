"""What the history database answers, and the interface every history implementation keeps.

    history = open_history("sqlite:///state.db")          # or "postgresql://user:pw@host/db"
    await history.open()                                   # runs the migrations unless told not to
    await history.record_end(record, source="engine")     # idempotent: True only the first time
    page = await history.page(LedgerQuery(widget="support", reason="heartbeat_timeout", limit=50))

One implementation (``sql.SqlHistory``, SQLAlchemy Core) serves SQLite and PostgreSQL; the contract
suite in ``tests/history`` runs on both.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from widget_server.store import ConversationRecord

DAY = 86400
HOUR = 3600
# Refusals per hour are kept this long (the hourly charts reach 3 days back); per day, for ever.
REFUSAL_HOURS_KEEP_S = 7 * DAY
# A conversation is booked on at most this many UTC days (it lasts an hour at most, plus grace).
SPAN_DAYS = 5


def day_parts(created_at: float, ended_at: float) -> list[tuple[int, float]]:
    """(UTC day start, seconds of [created_at, ended_at) within it), as the live stores book a budget."""
    last = math.floor(ended_at / DAY)
    parts = []
    for k in range(SPAN_DAYS):
        day = (last - k) * DAY
        part = min(ended_at, day + DAY) - max(created_at, day)
        if part > 0:
            parts.append((day, part))
    return parts


@dataclass
class Past(ConversationRecord):
    """A conversation as history keeps it: the live record's fields and what only history holds."""

    seconds: float = 0.0            # what the engine bills: from creation to the engine's end; 0 if failed
    end_source: str | None = None   # "engine" (its callback or its record) or "server" (this server ended it)
    client_ip_hash: str = ""        # kept when the address is dropped (retention.client_ip_days)
    transcript: str = ""            # "" (not yet) | "kept" | "none" (the engine had none) | "purged"
    recording: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class LedgerQuery:
    """A ledger page: newest first (``order="desc"``) or oldest first, filtered, at most ``limit`` rows."""

    widget: str | None = None
    status: str | None = None       # active | ended | failed | lost
    reason: str | None = None       # an end reason, or its prefix with a trailing "*" ("visitor_*")
    since: float | None = None      # created at or after
    until: float | None = None      # created before
    before: float | None = None     # the cursor: created strictly before (newest-first pages)
    before_id: str | None = None    # with ``before``: also rows created at ``before`` whose local_id is smaller
    rating: str | None = None       # up | down | none (not rated) | any (rated)
    limit: int | None = 50
    order: str = "desc"


@dataclass(frozen=True)
class DayTotal:
    widget: str
    day: int                        # unix seconds of the UTC day's start
    conversations: int              # ended (not failed) conversations created that day
    failed: int                     # creates that never became a conversation
    seconds: float                  # the seconds of that day, of every conversation overlapping it


@dataclass(frozen=True)
class ReasonCount:
    """Conversations created in one bucket (an hour or a day) that ended (or failed) for one reason."""

    bucket: int                     # unix seconds of the bucket's start
    status: str                     # ended | failed | active | lost
    reason: str                     # the end reason ("" while live)
    conversations: int
    seconds: float
    widget: str = ""                # with ``by_widget`` only


@dataclass(frozen=True)
class RefusalCount:
    """Creates refused by one rule in one bucket (an hour or a day), of one widget (or all: ``widget == ""``)."""

    bucket: int                     # unix seconds of the bucket's start
    rule: str                       # rate-limited | busy | budget-spent | queue-full | origin-not-allowed | ...
    refusals: int
    widget: str = ""


@dataclass(frozen=True)
class Transcript:
    local_id: str
    conversation_id: str | None
    source: str                     # callback | engine_get
    received_at: float
    entries: list[dict[str, Any]]


@dataclass(frozen=True)
class Event:
    at: float
    kind: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Retention:
    """Days after which things go; 0 keeps them forever."""

    conversations_days: int = 0
    transcripts_days: int = 0
    client_ip_days: int = 0


class History(Protocol):
    url: str

    @property
    def opened(self) -> bool: ...

    async def open(self, *, migrate: bool = True) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> bool: ...

    async def schema_version(self) -> str | None:
        """The database's migration revision (None before the first migration)."""
        ...

    # --- writes: each idempotent, so that a retry after an unknown outcome is always safe -------------
    async def record_created(self, record: ConversationRecord, ip_hash: str = "") -> bool: ...

    created_failed: Callable[[Exception], None]  # told of a queued create's failed batch

    def queue_created(self, record: ConversationRecord, ip_hash: str = "") -> None:
        """``record_created`` soon, batched with other creates; reads and writes wait for the queue first."""
        ...

    async def flush_created(self) -> None: ...

    async def record_started(self, local_id: str, at: float) -> bool: ...

    async def record_end(self, record: ConversationRecord, *, source: str, ip_hash: str = "") -> bool:
        """Write an ended (or failed) record whole, book its seconds on its days; True the first time only."""
        ...

    async def record_transcript(self, local_id: str, entries: list[dict[str, Any]], *, source: str,
                                at: float) -> bool:
        """Keep a transcript; a callback's replaces one fetched earlier, never the other way round."""
        ...

    async def mark_no_transcript(self, local_id: str) -> None: ...

    async def record_recording(self, local_id: str, ref: dict[str, Any], at: float) -> None: ...

    async def record_delivery(self, event_id: str, event_type: str, conversation_id: str | None, at: float,
                              attempt: int, outcome: str) -> None: ...

    async def record_audit(self, at: float, actor: str, action: str, target: str = "",
                           detail: dict[str, Any] | None = None) -> None: ...

    async def record_refusals(self, counts: list[RefusalCount]) -> None:
        """Add refusals counted per widget, hour and rule (``bucket`` an hour's start) to the hourly and the
        daily totals, in one transaction. Additive, not idempotent: the caller sends each count once."""
        ...

    # --- reads ------------------------------------------------------------------------------------------
    async def conversation(self, *, conversation_id: str | None = None,
                           local_id: str | None = None) -> Past | None: ...

    async def page(self, query: LedgerQuery) -> list[Past]: ...

    async def day_totals(self, widget: str | None, first_day: float, last_day: float, *,
                         all_widgets: bool = False) -> list[DayTotal]:
        """Per widget and day, days ``first_day <= day <= last_day`` (day starts), oldest first; with
        ``all_widgets`` (and no ``widget``), one total per day of every widget (``widget == ""``)."""
        ...

    async def reason_counts(self, widget: str | None, since: float, until: float,
                            bucket_s: int = DAY, *, by_widget: bool = False) -> list[ReasonCount]:
        """Conversations created in ``[since, until)`` per bucket, status and end reason (the console's charts).

        Whole days are read from the per-day reason totals (ended and failed only, kept as each ends); any
        other bucket from the ledger (live ones too, with reason ""). ``by_widget``: whole days only, one row
        per widget too.
        """
        ...

    async def refusal_counts(self, widget: str | None, since: float, until: float, bucket_s: int = DAY, *,
                             by_widget: bool = False) -> list[RefusalCount]:
        """Refusals per bucket (day or hour) and rule in ``[since, until)``, oldest first, summed over widgets
        (``widget=None``) unless ``by_widget``. Days from the per-day totals; hours from the hourly ones, which
        go after ``REFUSAL_HOURS_KEEP_S``."""
        ...

    async def seconds_cut(self, since: float, until: float) -> dict[str, float]:
        """Of conversations created in ``[since, until)`` that this server ended (visitor gone, heartbeat lost,
        operator...), the seconds from their end to their ``expires_at``: what those early ends kept off the bill
        at most (the engine might have ended some sooner by itself); per widget."""
        ...

    async def idle_seconds(self, since: float, until: float) -> dict[str, float]:
        """Of the ended conversations created in ``[since, until)``, the seconds each ran with no visitor there
        (``ledger.without_visitor``, the figure of ``widget_seconds_without_visitor``), summed per widget."""
        ...

    async def timeline(self, local_id: str) -> list[Event]: ...

    async def transcript(self, local_id: str) -> Transcript | None: ...

    async def awaiting_transcript(self, ended_after: float, ended_before: float, limit: int) -> list[Past]:
        """Ended conversations with no transcript yet (``transcript == ""``), oldest end first."""
        ...

    async def audit_log(self, since: float, limit: int = 100) -> list[dict[str, Any]]: ...

    async def deliveries(self, since: float, limit: int = 100, *, newest_first: bool = False,
                         failed_only: bool = False, event_id: str | None = None) -> list[dict[str, Any]]: ...

    # --- retention ----------------------------------------------------------------------------------------
    async def purge(self, retention: Retention, now: float, *, dry_run: bool = False) -> dict[str, int]:
        """Remove what retention says has gone; with ``dry_run`` only count it. Returns counts by kind."""
        ...
