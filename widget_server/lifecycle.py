"""Ending what nobody uses: missed heartbeats, the expiry backstop, orphans at the engine.

    lifecycle = Lifecycle(settings, store, engine, conversations, webhooks, signer, metrics, clock)
    await lifecycle.sweep()        # one pass; tests call the passes directly
    await lifecycle.reconcile()
    lifecycle.start()              # background jobs, from the app's lifespan
    await lifecycle.stop()

Every instance runs the jobs. A named lease in the store lets one instance do
each pass (the holder keeps it while alive; another takes over when it lapses),
and every action is idempotent anyway: the store changes state only once and
ending an ended conversation at the engine is not an error.

A pass that fails (the store or the engine is away) is retried on the next one and logged once per
state change (:class:`widget_server.health.Condition`), not once a second; action lines name the public
(engine) conversation id, the one the report and the webhooks use.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from widget_server.clock import Clock
from widget_server.conversations import Conversations
from widget_server.engines.base import Engine, EngineConversation
from widget_server.errors import EngineError, Problem
from widget_server.health import Condition
from widget_server.metrics import Metrics
from widget_server.settings import LifecycleSettings, Settings
from widget_server.store import STORE_ERRORS, ConversationRecord, Store
from widget_server.tokens import BadToken, Signer, new_id
from widget_server.webhooks import Webhooks

log = logging.getLogger("widget_server.lifecycle")

PAGE = 100
Job = Callable[[], Awaitable[list[tuple[str, str]]]]
CREATE_MARGIN_S = 5.0
# A heartbeat silent for this many sweeps past the grace means no sweep ran meanwhile: ask the engine first.
UNWATCHED_SWEEPS = 3


@dataclass(eq=False)
class Lifecycle:
    settings: Settings
    store: Store
    engine: Engine
    conversations: Conversations
    webhooks: Webhooks
    signer: Signer
    metrics: Metrics
    clock: Clock
    jobs: list[tuple[str, float, Job]] = field(default_factory=list)  # more leased jobs (the history's)
    instance: str = field(default_factory=lambda: new_id("i_", 6))
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    store_condition: Condition = field(default_factory=lambda: Condition(log, "store"))
    engine_condition: Condition = field(default_factory=lambda: Condition(log, "engine (lifecycle jobs)"))

    # Read through the settings at each use, so that a reload (widget_server.reload) reaches the jobs.
    @property
    def cfg(self) -> LifecycleSettings:
        return self.settings.lifecycle

    @property
    def hook_prefix(self) -> str:
        return f"{self.settings.server.public_url}/hooks/engine/"

    @property
    def create_window_s(self) -> float:
        """How long a create may still be in flight: the engine's whole timeout, and a margin."""
        return self.settings.engine.timeout_s + CREATE_MARGIN_S

    # --- the sweep: missed heartbeats, expired conversations, abandoned creates ----------------
    async def sweep(self) -> list[tuple[str, str]]:
        """One pass over live records; returns (local_id, what was done)."""
        await self.conversations.record_abandoned()
        now = self.clock()
        done: list[tuple[str, str]] = []
        for record in await self.store.live_records():
            try:
                action = await self._sweep_one(record, now)
            except (Problem, EngineError) as exc:  # the engine is down: the next pass tries again
                self.engine_condition.failed(exc)
                continue
            if action:
                done.append((record.local_id, action))
        return done

    async def _sweep_one(self, record: ConversationRecord, now: float) -> str | None:
        if record.status == "creating" and now - record.created_at > self.create_window_s:
            # the instance that was creating it is gone; the reconciler settles it with the engine
            return "marked_lost" if await self.store.mark_lost(record.local_id) else None
        if record.status != "active":
            return None
        if record.last_seen is not None and now - record.last_seen > self.cfg.heartbeat_grace_s:
            if now - record.last_seen > self.cfg.heartbeat_grace_s + UNWATCHED_SWEEPS * self.cfg.sweep_interval_s:
                # Nobody swept for a while (every instance was down): the engine may have ended it meanwhile,
                # and then its end, not this late one, is what it billed.
                assert record.conversation_id is not None
                conv = await self.engine.get(record.conversation_id)
                if conv.status == "ended":
                    reason = conv.shutdown_reason or "engine_ended"
                    done = await self.conversations.note_ended(record, reason, ended_at=conv.ended_at)
                    return reason if done else None
            return "heartbeat_timeout" if await self.conversations.end_record(record, "heartbeat_timeout") else None
        if now > record.expires_at + self.cfg.expiry_grace_s:
            assert record.conversation_id is not None
            conv = await self.metrics.engine("get", self.engine.get(record.conversation_id))
            if conv.status == "ended":
                reason = conv.shutdown_reason or "engine_ended"
                done = await self.conversations.note_ended(record, reason, ended_at=conv.ended_at)
                return reason if done else None
            return "expired_backstop" if await self.conversations.end_record(record, "expired_backstop") else None
        return None

    # --- reconciliation with the engine ----------------------------------------------------------
    def owner_ref(self, conv: EngineConversation) -> str | None:
        """Our local id for an engine conversation of this deployment, else None (never touch it)."""
        url = conv.callback_url or ""
        if not url.startswith(self.hook_prefix):
            return None
        try:
            return self.signer.read_callback_ref(url.removeprefix(self.hook_prefix))
        except BadToken:
            return None

    async def _active_at_engine(self) -> list[EngineConversation]:
        found: list[EngineConversation] = []
        page = 1
        while True:
            chunk = await self.metrics.engine("list", self.engine.list(status="active", limit=PAGE, page=page))
            found.extend(c for c in chunk.data if c.status == "active")
            if len(chunk.data) < PAGE or page * PAGE >= chunk.total_count:
                return found
            page += 1

    async def reconcile(self) -> list[tuple[str, str]]:
        """End this deployment's conversations the store does not hold live; close what the engine ended."""
        started = self.clock()
        active = await self._active_at_engine()
        done: list[tuple[str, str]] = []
        seen: set[str] = set()
        for conv in active:
            local_id = self.owner_ref(conv)
            if local_id is None:
                continue
            seen.add(local_id)
            record = await self.store.by_local(local_id)
            if record is not None:
                if record.live and record.conversation_id == conv.conversation_id:
                    continue
                if record.status == "creating" and started - record.created_at <= self.create_window_s:
                    continue  # its create is still in flight on some instance
            action = await self._end_orphan(conv, record)
            if action:
                done.append((local_id, action))
        listed = {c.conversation_id for c in active}
        for record in await self.store.live_records():
            try:
                action = await self._settle(record, seen, listed, started)
            except (Problem, EngineError) as exc:
                self.engine_condition.failed(exc)
                continue
            if action:
                done.append((record.local_id, action))
        return done

    async def _end_orphan(self, conv: EngineConversation, record: ConversationRecord | None) -> str | None:
        try:
            await self.metrics.engine("end", self.engine.end(conv.conversation_id))
        except EngineError as exc:
            if exc.kind != "not_found":
                self.engine_condition.failed(exc)
                return None
        if record is None or record.status == "ended":
            return "ended_unknown" if record is None else "ended_again"
        reason = "reconciled_lost_answer" if record.status == "lost" else "reconciled_orphan"
        return reason if await self.conversations.note_ended(record, reason, found=conv.conversation_id) else None

    async def _settle(self, record: ConversationRecord, seen: set[str], listed: set[str],
                      started: float) -> str | None:
        if record.status == "lost" and record.local_id not in seen:
            if started - record.created_at <= self.create_window_s:
                return None  # the engine may still be creating it
            ok = await self.conversations.fail(record.local_id, "engine_never_created")
            return "engine_never_created" if ok else None
        if record.status != "active" or record.conversation_id in listed or record.created_at >= started - 1:
            return None
        # Live here, not active there: a shutdown callback went missing. Ask the engine.
        assert record.conversation_id is not None
        ended_at = None
        try:
            conv = await self.metrics.engine("get", self.engine.get(record.conversation_id))
        except EngineError as exc:
            if exc.kind != "not_found":
                raise
            reason = "engine_not_found"
        else:
            if conv.status != "ended":
                return None
            # the engine's end, not ours: an instance down for ten minutes must not bill ten minutes
            reason, ended_at = conv.shutdown_reason or "engine_ended", conv.ended_at
        return reason if await self.conversations.note_ended(record, reason, ended_at=ended_at) else None

    # --- background jobs ---------------------------------------------------------------------------
    def start(self) -> None:
        jobs: list[tuple[str, float, Job]] = [
            ("sweep", self.cfg.sweep_interval_s, self.sweep),
            ("reconcile", self.cfg.reconcile_interval_s, self.reconcile),
            *self.jobs,
        ]
        self._tasks = [asyncio.create_task(self._loop(*job)) for job in jobs]
        if self.webhooks.enabled:
            self._tasks.append(asyncio.create_task(self.webhooks.run()))

    async def _loop(self, name: str, interval: float, job: Job) -> None:
        other = Condition(log, f"{name} pass")
        while True:
            engine_failures = self.engine_condition.failures
            try:
                if await self.store.try_lock(name, self.instance, max(2 * interval, 1.0), self.clock()):
                    for local_id, action in await job():
                        await self._log_action(name, local_id, action)
                        self.metrics.lifecycle.labels(name, action[:40]).inc()
                    # the reconciler always asks the engine: a pass without an engine failure is a recovery
                    if name == "reconcile" and self.engine_condition.failures == engine_failures:
                        self.engine_condition.ok()
                self.store_condition.ok()
                other.ok()
            except EngineError as exc:
                self.engine_condition.failed(exc)
            except STORE_ERRORS as exc:  # the store is briefly away: try again next time
                self.store_condition.failed(exc)
            except Exception as exc:
                other.failed(exc)
            await asyncio.sleep(interval)

    async def _log_action(self, job: str, local_id: str, action: str) -> None:
        record = await self.store.by_local(local_id)
        public = record.conversation_id if record is not None else None
        fields = {"job": job, "action": action, "conversation_id": public, "widget": record and record.widget}
        if public is None:  # the engine never gave it an id: the internal one is all there is
            fields["local_id"] = local_id
        log.info("%s: %s %s", job, action, public or local_id, extra=fields)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        try:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        finally:  # also when the shutdown's bound cancels the wait: the sender's connections are closed
            self._tasks = []
            await self.webhooks.aclose()
