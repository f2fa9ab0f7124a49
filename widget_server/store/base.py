"""The state every server instance shares, behind one interface.

    store = open_store("sqlite:///state.db")
    if await store.acquire_slot("support", limit=3, holder="l_abc", lease_until=time.time() + 900):
        ...
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Protocol

# "lost": the engine may have created it but its answer never came; it keeps its
# slot until the reconciler has found it at the engine (and ended it) or not.
LIVE = ("creating", "active", "lost")

DAY = 86400
# The daily budget books a finished conversation on the UTC days it overlaps, at most SPAN_DAYS of them
# (its last ones), and keeps a widget's day totals KEEP_DAYS days back (SQLite deletes older ones, Redis
# lets them expire).
KEEP_DAYS = 4
SPAN_DAYS = KEEP_DAYS + 1


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

    async def acquire_slot(self, widget: str, limit: int, holder: str, lease_until: float, now: float) -> bool:
        """Take one of ``limit`` slots of ``widget`` atomically; expired leases do not count."""
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

    async def outbox_put(self, item: OutboxItem) -> None: ...

    async def outbox_claim(self, now: float, limit: int, lease_until: float) -> list[OutboxItem]:
        """Take up to ``limit`` due items, hiding them from other instances until ``lease_until``."""
        ...

    async def outbox_done(self, item_id: str) -> None: ...

    async def outbox_retry(self, item_id: str, due_at: float, attempts: int) -> None: ...

    async def outbox_size(self) -> int:
        """Items queued, due or not (the gauge ``widget_webhook_backlog``)."""
        ...
