"""The state every server instance shares, behind one interface.

    store = open_store("sqlite:///state.db")
    if await store.acquire_slot("support", limit=3, holder="l_abc", lease_until=time.time() + 900):
        ...
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

# "lost": the engine may have created it but its answer never came; it keeps its
# slot until the reconciler has found it at the engine (and ended it) or not.
LIVE = ("creating", "active", "lost")

DAY = 86400
# The daily budget books a finished conversation on the UTC days it overlaps, at most SPAN_DAYS of them
# (its last ones), and keeps a widget's day totals KEEP_DAYS days back (SQLite deletes older ones, Redis
# lets them expire).
KEEP_DAYS = 4
SPAN_DAYS = KEEP_DAYS + 1


def require_open(handle: T | None) -> T:
    """A store's connection, once ``open()`` has made it: ``return require_open(self._db)``."""
    if handle is None:
        raise RuntimeError("store is not open")
    return handle


def day_start(ts: float) -> int:
    """The start of the UTC day ``ts`` falls in."""
    return math.floor(ts / DAY) * DAY


def day_parts(created_at: float, ended_at: float) -> list[tuple[int, float]]:
    """(UTC day start, seconds of [created_at, ended_at) within that day): what each store books."""
    last = day_start(ended_at)
    parts = []
    for k in range(SPAN_DAYS):
        day = last - k * DAY
        part = min(ended_at, day + DAY) - max(created_at, day)
        if part > 0:
            parts.append((day, part))
    return parts


def booked_day(since: float, now: float) -> bool:
    """True if ``since`` is a UTC day start the booked days answer for (today's or yesterday's)."""
    return since % DAY == 0 and since <= now < since + 2 * DAY


def fixed_window(now: float, window_s: int) -> tuple[float, int]:
    """The start of the ``window_s`` window ``now`` is in, and the whole seconds (at least 1) until it resets."""
    start = now - (now % window_s)
    return start, max(1, int(start + window_s - now + 0.999))


@dataclass
class ConversationRecord:
    local_id: str            # ours; also the callback ref's payload and the slot holder
    widget: str
    status: str              # creating | active | lost | ended | failed
    created_at: float
    expires_at: float
    origin: str = ""
    client_ip: str = ""
    conversation_id: str | None = None   # the engine's id
    conversation_url: str = ""
    started_at: float | None = None      # the replica joined
    ended_at: float | None = None
    end_reason: str | None = None
    last_seen: float | None = None       # the visitor's last heartbeat (None: not watched)
    consent: str | None = None           # JSON {"at", "text_sha256"}: what the visitor accepted before Join
    rating: str | None = None            # JSON {"thumbs", "comment", "at"}: the visitor's rating after the end

    def to_row(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def live(self) -> bool:
        return self.status in LIVE

    def seconds_live(self, now: float) -> float:
        end = self.ended_at if self.ended_at is not None else now
        return max(0.0, end - self.created_at)


# Why a visitor is no longer in a widget's line (``queue.left``'s reason; "served" is ``queue.served``).
LEFT_REASONS = ("served", "left", "gone", "expired", "turn_missed", "failed")
LINE_KEEP_S = 3600  # a departed entry still answers (410 with its reason) this long


@dataclass
class LineEntry:
    """One visitor waiting in a widget's line (``widget_server.line`` owns the rules).

    ``waiting``: in order (``seq``); ``offered``: its turn, a slot held for it (holder ``queue_id``) until
    ``turn_until``; ``serving``: its create runs, the slot now the conversation's (``holder``) and the entry
    kept until ``turn_until`` (a lease: an instance that dies mid-create gives the place back, not away).
    """

    queue_id: str
    widget: str
    joined_at: float
    seen_until: float            # the page's last heartbeat plus the grace: past it the visitor is gone
    wait_until: float            # joined_at + max_wait_s: past it, still waiting, the ticket expires
    payload: str = ""            # JSON: what the create needs when the turn comes
    seq: int = 0
    state: str = "waiting"       # waiting | offered | serving | left
    turn_until: float = 0.0
    hold_until: float = 0.0      # the engine refused for concurrency: nobody is offered a slot before this
    holder: str = ""
    reason: str = ""             # why it left (state "left")


@dataclass(frozen=True)
class LinePlace:
    """Where one ticket stands: ``position`` 1-based among those waiting, 0 once offered or serving."""

    state: str                   # waiting | offered | serving | left | "" (unknown)
    position: int
    length: int                  # entries in the widget's line, whatever their state
    reason: str = ""             # state "left": why
    entry: LineEntry | None = None


@dataclass(frozen=True)
class Departure:
    """An entry that left the line (drained by ``line_departures`` for the webhooks and metrics)."""

    queue_id: str
    widget: str
    reason: str
    joined_at: float
    at: float


@dataclass(frozen=True)
class OutboxItem:
    """One operator webhook waiting for a 2xx; ``body`` is the exact JSON that is signed."""

    id: str
    body: str
    due_at: float
    attempts: int = 0


class Store(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> bool: ...

    async def acquire_slot(self, widget: str, limit: int, holder: str, lease_until: float, now: float,
                           record: ConversationRecord | None = None) -> bool:
        """Take one of ``limit`` slots of ``widget`` atomically; expired leases do not count.

        Refused while anyone waits in the widget's line: a newcomer never takes a slot from the line.
        With ``record``, a slot taken also inserts it (in the same transaction on SQLite: one commit
        per create fewer).
        """
        ...

    # --- the line: one FIFO per widget; every call first drops the entries whose time ran out --------------

    async def line_enter(self, entry: LineEntry, limit: int, holder: str, lease_until: float, max_length: int,
                         now: float) -> int:
        """Take a slot for ``holder`` if one is free and nobody waits (0), else join the line (the position,
        1-based), or -1 when ``max_length`` entries are in it already; one atomic step."""
        ...

    async def line_advance(self, widget: str, limit: int, turn_until: float, now: float) -> list[str]:
        """Offer every free slot to the head of the line, in order (holding the slot until ``turn_until``);
        the queue ids offered now."""
        ...

    async def line_claim(self, widget: str, queue_id: str, holder: str, lease_until: float, claim_until: float,
                         now: float) -> bool:
        """An offered entry's visitor is there: its held slot becomes ``holder``'s (the conversation's);
        the entry stays, ``serving``, until ``line_leave(..., "served")`` or ``claim_until``."""
        ...

    async def line_requeue(self, widget: str, queue_id: str, hold_until: float, seen_until: float,
                           now: float) -> bool:
        """A serving entry goes back to waiting in its own place (the head); nobody is offered before
        ``hold_until`` (the engine's concurrency refusal)."""
        ...

    async def line_leave(self, widget: str, queue_id: str, reason: str, now: float) -> bool:
        """Take an entry out at once (freeing a slot held for it); True for the call that did."""
        ...

    async def line_touch(self, widget: str, queue_id: str, seen_until: float, now: float) -> LinePlace:
        """The visitor is still there (presence until ``seen_until``); where the ticket stands now."""
        ...

    async def line_place(self, widget: str, queue_id: str, now: float) -> LinePlace: ...

    async def line_length(self, widget: str, now: float) -> int:
        """Entries in the widget's line (the gauge ``widget_queue_length``)."""
        ...

    async def line_entries(self, widget: str, now: float) -> list[LineEntry]:
        """The entries in the widget's line, in order, their ``payload`` left out (the console's Live page)."""
        ...

    async def line_departures(self, limit: int) -> list[Departure]:
        """Take up to ``limit`` departures, oldest first (each is handed out once, to one instance)."""
        ...

    async def live_slots(self, widget: str, now: float) -> int:
        """Slots of ``widget`` whose lease runs past ``now`` (the gauge ``widget_slots_taken``)."""
        ...

    async def insert(self, record: ConversationRecord) -> None: ...

    async def activate(self, local_id: str, conversation_id: str, conversation_url: str,
                       outbox: OutboxItem | None = None) -> bool:
        """creating -> active; ``outbox`` is queued in the same step, only if this call did it."""
        ...

    async def mark_lost(self, local_id: str) -> bool:
        """creating -> lost: the create's answer never came; the slot stays taken."""
        ...

    async def by_conversation(self, conversation_id: str) -> ConversationRecord | None: ...

    async def by_local(self, local_id: str) -> ConversationRecord | None: ...

    async def mark_started(self, local_id: str, at: float, outbox: OutboxItem | None = None) -> bool:
        """Record the replica's arrival once; True (and ``outbox`` queued) only the first time."""
        ...

    async def touch(self, local_id: str, at: float) -> bool:
        """A visitor heartbeat; True while the conversation is live."""
        ...

    async def finish(self, local_id: str, status: str, reason: str, at: float,
                     outbox: OutboxItem | None = None) -> bool:
        """End a live record and free its slot; True (and ``outbox`` queued) only for the call that ended it."""
        ...

    async def adopt(self, local_id: str, conversation_id: str, reason: str, at: float,
                    outbox: OutboxItem | None = None) -> bool:
        """Record an orphan found at the engine (and ended there) against its creating/lost/failed record."""
        ...

    async def rate(self, local_id: str, rating: str, outbox: OutboxItem | None = None) -> bool:
        """Store the visitor's rating (JSON) of an ended conversation once; True (and ``outbox`` queued) if stored."""
        ...

    async def live_records(self, widget: str | None = None) -> list[ConversationRecord]: ...

    async def unarchived(self, limit: int) -> list[ConversationRecord]:
        """Ended or failed records the history database does not hold yet, oldest end first."""
        ...

    async def archived(self, local_ids: list[str], keep_s: float) -> None:
        """History holds these records now: the store may forget them after ``keep_s`` (Redis expires them)."""
        ...

    async def records_since(self, since: float) -> list[ConversationRecord]:
        """Every record created at or after ``since``, oldest first (the ledger)."""
        ...

    async def hit(self, key: str, window_s: int, limit: int, now: float) -> int:
        """Count one hit in a fixed window; 0 if allowed, else seconds until the window resets."""
        ...

    async def seconds_used(self, widget: str, since: float, now: float) -> float:
        """Seconds of conversations of ``widget`` since ``since``; live ones counted up to ``now``.

        For ``since`` the start of today's or yesterday's UTC day (the daily budget) it reads
        per-day totals and the widget's unended conversations, not its history.
        """
        ...

    async def try_lock(self, name: str, holder: str, ttl_s: float, now: float) -> bool:
        """Take (or renew, for the same holder) a named lease shared by all instances."""
        ...

    async def revoke(self, key: str, at: float, until: float, now: float) -> None:
        """Remember ``key`` (a console session, an operator) as revoked at ``at``, for every instance, until
        ``until`` (then it is forgotten: whatever it revoked has expired by then). A later revoke of the same
        key replaces the earlier one."""
        ...

    async def revocations(self, keys: list[str], now: float) -> dict[str, float]:
        """Of ``keys``, those revoked and not yet forgotten, with when each was revoked."""
        ...

    async def outbox_put(self, item: OutboxItem) -> None: ...

    async def outbox_claim(self, now: float, limit: int, lease_until: float) -> list[OutboxItem]:
        """Take up to ``limit`` due items, hiding them from other instances until ``lease_until``."""
        ...

    async def outbox_done(self, item_id: str) -> None: ...

    async def outbox_retry(self, item_id: str, due_at: float, attempts: int) -> None: ...

    async def outbox_size(self) -> int:
        """Items queued, due or not (the gauge ``widget_webhook_backlog``)."""
        ...
