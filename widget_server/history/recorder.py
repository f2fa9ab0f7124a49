"""Moving each conversation from the live store into the history database, without ever losing an end.

    recorder = Recorder(history, store, engine, settings, metrics, clock)
    recorder.created(record)               # queued: a create never waits for history, never fails
    await recorder.ended(local_id)         # after the store recorded the end
    await recorder.sync()                  # the history-sync job: whatever did not make it, again
    recorder.refused("support", "busy")    # counted in memory; each instance adds its counts every few seconds

The live store is the outbox. An end is recorded in the store first (atomically, with its webhook); the
store keeps the record on its list of unarchived ones until history has it (``Store.unarchived``), and only
then lets it go (``Store.archived``: Redis expires it ``ARCHIVED_KEEP_S`` later). A history database that
is down, slow or refusing costs nothing but a log line and a metric: the sync job writes what is waiting
once it is back, every write being idempotent.

Refusals are the cheap path and stay so: ``refused`` only adds one to a counter in memory (per widget, UTC
hour and rule); a task of each instance (``start``/``stop``, not a leased job: each has its own counts) adds
them to history every ``REFUSALS_FLUSH_S`` seconds and once more when the process stops. What a failed write
held is kept for the next one; a process killed outright loses its last few seconds of counts.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from widget_server.clock import Clock
from widget_server.engines.base import Engine
from widget_server.errors import EngineError
from widget_server.history.base import HOUR, History, RefusalCount, Retention
from widget_server.history.migrate import SchemaBehind
from widget_server.metrics import Metrics
from widget_server.settings import RetentionSettings, Settings
from widget_server.store import ConversationRecord, Store

log = logging.getLogger("widget_server.history")

T = TypeVar("T")
WRITE_TIMEOUT_S = 2.0       # what a create or an end waits for history at most; then the sync job does it
ARCHIVED_KEEP_S = 600.0     # how long the live store keeps a record history holds (late heartbeats get 410)
SYNC_BATCH = 200
TRANSCRIPT_WAIT_S = 60.0    # the engine's transcript callback comes right after its shutdown one
TRANSCRIPT_HORIZON_S = 86400.0  # older ends are not asked about (the verbose GET is not free)
TRANSCRIPT_BATCH = 20
REFUSALS_FLUSH_S = 5.0      # how often each instance adds the refusals it counted to history
REFUSALS_HELD_MAX = 100_000  # distinct (widget, hour, rule) counts held while history is away; past it, dropped
Job = Callable[[], Awaitable[list[tuple[str, str]]]]

# Ends this server decides; every other reason is the engine's (its callback or its record).
SERVER_REASONS = ("visitor_", "operator_", "heartbeat_timeout", "expired_backstop", "reconciled_", "engine_",
                  "create_abandoned")


def end_source(reason: str | None) -> str:
    return "server" if (reason or "").startswith(SERVER_REASONS) else "engine"


def retention_of_target(r: RetentionSettings) -> Retention:
    return Retention(r.conversations_days, r.transcripts_days, r.client_ip_days)


def retention_of(settings: Settings) -> Retention:
    return retention_of_target(settings.retention)


@dataclass(eq=False)
class Recorder:
    history: History
    store: Store
    engine: Engine
    settings: Settings
    metrics: Metrics
    clock: Clock
    _ip_key: bytes = field(init=False)
    _refusals: Counter[tuple[str, int, str]] = field(default_factory=Counter)  # (widget, hour, rule) -> count
    _flusher: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        # The hash survives the address (retention.client_ip_days) for abuse counting; keyed, because an
        # unkeyed hash of an IPv4 address is reversed by trying all of them.
        self.history.created_failed = self._created_failed
        self._ip_key = hashlib.sha256(b"client-ip\0" + self.settings.server.secret_keys[-1].encode()).digest()

    async def open(self) -> None:
        """Open (and migrate) the history database; one that cannot be reached now is retried by ``sync``.

        A schema older than this code with ``server.history_migrate = false`` is a misconfiguration: raised.
        """
        try:
            await self.history.open(migrate=self.settings.server.history_migrate)
        except SchemaBehind:
            raise
        except Exception as exc:
            self.metrics.history_failures.labels("open").inc()
            log.error("history database not reachable (%s: %s); ends wait in the live store until it is",
                      type(exc).__name__, str(exc)[:200])

    def ip_hash(self, ip: str) -> str:
        return hmac.new(self._ip_key, ip.encode(), hashlib.sha256).hexdigest()[:32] if ip else ""

    async def _try(self, op: str, write: Awaitable[T]) -> T | None:
        try:
            return await asyncio.wait_for(write, WRITE_TIMEOUT_S)
        except Exception as exc:  # history down or slow: the live store still has it
            self.metrics.history_failures.labels(op).inc()
            log.warning("history %s failed: %s: %s", op, type(exc).__name__, str(exc)[:200])
            return None

    # --- from the conversations service ------------------------------------------------------------------
    async def past(self, conversation_id: str) -> ConversationRecord | None:
        """A conversation the live store has let go of, from history (None when history cannot say)."""
        return await self._try("read", self.history.conversation(conversation_id=conversation_id))

    def created(self, record: ConversationRecord) -> None:
        """Queued: the row is written within ``CREATED_DELAY_S``, with the other creates of that moment."""
        self.history.queue_created(record, self.ip_hash(record.client_ip))

    def _created_failed(self, exc: Exception) -> None:
        self.metrics.history_failures.labels("created").inc()
        log.warning("history created failed: %s: %s", type(exc).__name__, str(exc)[:200])

    async def started(self, local_id: str, at: float) -> None:
        await self._try("started", self.history.record_started(local_id, at))

    async def ended(self, local_id: str) -> None:
        """Write the store's ended record to history and let the store forget it; on failure, the sync job will."""
        record = await self.store.by_local(local_id)
        if record is not None and record.ended_at is not None:
            await self._try("ended", self._archive([record]))

    async def _archive(self, records: list[ConversationRecord]) -> None:
        for record in records:
            await self.history.record_end(record, source=end_source(record.end_reason),
                                          ip_hash=self.ip_hash(record.client_ip))
        await self.store.archived([r.local_id for r in records], ARCHIVED_KEEP_S)

    async def transcript(self, local_id: str, entries: list[dict[str, Any]]) -> None:
        await self._try("transcript", self.history.record_transcript(local_id, entries, source="callback",
                                                                     at=self.clock()))

    async def recording(self, local_id: str, ref: dict[str, Any]) -> None:
        await self._try("recording", self.history.record_recording(local_id, ref, self.clock()))

    async def delivery(self, event_id: str, event_type: str, conversation_id: str | None, attempt: int,
                       outcome: str) -> None:
        await self._try("delivery", self.history.record_delivery(event_id, event_type, conversation_id,
                                                                 self.clock(), attempt, outcome))

    async def audit(self, actor: str, action: str, target: str = "", **detail: Any) -> None:
        await self._try("audit", self.history.record_audit(self.clock(), actor, action, target, detail))

    # --- refusals: counted in memory, added to history by each instance ----------------------------------
    def refused(self, widget: str, rule: str) -> None:
        """One create refused by ``rule``: nothing but a dict update here (the refusal path stays cheap)."""
        self._refusals[(widget, int(self.clock() // HOUR) * HOUR, rule)] += 1

    def pending_refusals(self, since: float) -> Counter[tuple[str, str]]:
        """(widget, rule) -> what this instance counted from ``since`` and has not written yet."""
        out: Counter[tuple[str, str]] = Counter()
        for (widget, hour, rule), n in self._refusals.items():
            if hour >= since:
                out[(widget, rule)] += n
        return out

    async def flush_refusals(self) -> None:
        if not self._refusals or not self.history.opened:
            return
        taken, self._refusals = self._refusals, Counter()
        counts = [RefusalCount(hour, rule, n, widget) for (widget, hour, rule), n in taken.items()]
        try:  # no timeout, unlike the other writes: one given up on might still commit, and then count twice
            await self.history.record_refusals(counts)
        except Exception as exc:
            self.metrics.history_failures.labels("refusals").inc()
            log.warning("history refusals failed: %s: %s", type(exc).__name__, str(exc)[:200])
            taken.update(self._refusals)  # kept for the next flush (what came in meanwhile too)
            self._refusals = taken if len(taken) <= REFUSALS_HELD_MAX else Counter()

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(REFUSALS_FLUSH_S)
            await self.flush_refusals()

    def start(self) -> None:
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_loop())

    async def stop(self) -> None:
        """Stop the refusals' task and write what it holds."""
        if self._flusher is not None:
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
            self._flusher = None
        await self.flush_refusals()

    # --- background jobs (leased, on every instance) ------------------------------------------------------
    def jobs(self) -> list[tuple[str, float, Job]]:
        lc = self.settings.lifecycle
        return [("history-sync", lc.sweep_interval_s, self.sync),
                ("history-transcripts", lc.reconcile_interval_s, self.fetch_transcripts),
                ("history-purge", self.settings.retention.purge_interval_s, self.purge)]

    async def sync(self, batches: int = 50) -> list[tuple[str, str]]:
        """Write the ended records history does not hold yet (a failed write, an older database)."""
        if not self.history.opened:
            await self.open()
            if not self.history.opened:
                return []
        done: list[tuple[str, str]] = []
        for _ in range(batches):
            waiting = await self.store.unarchived(SYNC_BATCH)
            if not waiting:
                break
            await self._archive(waiting)
            done.extend((r.local_id, "archived") for r in waiting)
            if len(waiting) < SYNC_BATCH:
                break
        return done

    async def fetch_transcripts(self) -> list[tuple[str, str]]:
        """No transcript callback came: ask the engine's verbose record, once, for what it kept."""
        now = self.clock()
        done: list[tuple[str, str]] = []
        for past in await self.history.awaiting_transcript(now - TRANSCRIPT_HORIZON_S, now - TRANSCRIPT_WAIT_S,
                                                           TRANSCRIPT_BATCH):
            assert past.conversation_id is not None
            try:
                conv = await self.engine.get(past.conversation_id)
            except EngineError as exc:
                if exc.kind != "not_found":
                    log.warning("transcript of %s not fetched: %s", past.conversation_id, exc)
                    continue
                conv = None
            if conv is not None and conv.transcript:
                await self.history.record_transcript(past.local_id, list(conv.transcript), source="engine_get",
                                                     at=now)
                done.append((past.local_id, "transcript_fetched"))
            else:
                await self.history.mark_no_transcript(past.local_id)
                done.append((past.local_id, "no_transcript"))
        return done

    async def purge(self) -> list[tuple[str, str]]:
        counts = await self.history.purge(retention_of(self.settings), self.clock())
        return [(str(n), f"purged_{kind}") for kind, n in counts.items() if n]
