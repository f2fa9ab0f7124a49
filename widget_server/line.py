"""The waiting line: a visitor who finds every slot busy waits in a fair line instead of hearing "busy".

    line = Line(settings, store, conversations, signer, metrics, webhooks, clock)
    answer = await line.enter(widget, overrides, origin=..., client_ip=..., consent=None)
    # a Created (a slot was free and nobody waited) or a dict: {queue_id, position, estimated_wait_s, ticket}
    created = await line.join(widget, queue_id)      # once it is the visitor's turn and the page is there

The line itself lives in the store (store/base.py: ``line_*``), so that instances on one Redis keep one line.
A freed slot is offered to the head at once (``Conversations.on_free`` calls :meth:`Line.advance`), and by a
leased background job (:meth:`Line.tick`) on some instance twice a second, so the line moves when the
instance that freed the slot died. The conversation is created only when the page confirms the visitor is
there (:meth:`Line.join`); nobody in line is billed. docs/queue.md tells the whole story.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import logging
import statistics
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from widget_server.clock import Clock, iso
from widget_server.conversations import Attempt, Conversations, Created, log_create
from widget_server.errors import EngineError, Problem
from widget_server.live.base import Bus
from widget_server.metrics import Metrics
from widget_server.settings import Settings, WidgetSettings
from widget_server.store import STORE_ERRORS, Store
from widget_server.store.base import Departure, LineEntry, LinePlace
from widget_server.tokens import Signer, new_id
from widget_server.webhooks import Webhooks

log = logging.getLogger("widget_server.line")

TICK_S = 0.5             # the leased job's pace: the line moves though the instance that freed a slot died
CLAIM_MARGIN_S = 30      # a claim's lease past the engine's timeout: a dead instance's claim gives the place back
ESTIMATE_CACHE_S = 60    # the recent conversation lengths are read at most this often per widget
AGES_CACHE_S = 2         # the live conversations' ages: what every page's poll would otherwise read
RECENT_S = 3600          # ... from the conversations created this far back
ENGINE_HOLD_S = 15       # the engine's concurrency refusal without a Retry-After: the line waits this long
# Why a ticket is no longer in line, in the visitor's words (the 410's detail; the page has its own).
GONE = {
    "served": "this visitor's turn came and the conversation was created",
    "left": "the visitor left the line",
    "gone": "the page stopped answering, so its place was given to the next visitor",
    "expired": "the wait ran past the widget's max_wait_s; join again to get a new place",
    "turn_missed": "it was this visitor's turn but the page did not confirm in time",
    "failed": "the conversation could not be created",
}


@dataclass(eq=False)
class Line:
    settings: Settings
    store: Store
    conversations: Conversations
    signer: Signer
    metrics: Metrics
    webhooks: Webhooks
    clock: Clock
    # the live bus (Redis pub/sub across instances): an offer made on one instance wakes the streams of all
    bus: Bus | None = None
    _moved: dict[str, asyncio.Event] = field(default_factory=dict)
    _listening: dict[str, Callable[[], Awaitable[None]]] = field(default_factory=dict)
    _lengths: dict[str, tuple[float, float]] = field(default_factory=dict)  # widget -> (read at, typical length)
    _ages: dict[str, tuple[float, list[float]]] = field(default_factory=dict)  # widget -> (read at, creations)

    # --- joining and being served ------------------------------------------------------------------------

    def grace_s(self) -> float:
        return self.settings.lifecycle.heartbeat_grace_s

    async def enter(self, widget: WidgetSettings, overrides: dict[str, str], *, origin: str, client_ip: str,
                    consent: str | None) -> Created | dict[str, Any]:
        """A slot if one is free and nobody waits (the usual create), else a place in line; 503 when full."""
        now = self.clock()
        attempt = Attempt(widget.id)
        try:
            await self.conversations.check_limits(widget, client_ip, True, now)
        except Problem as problem:
            log_create(attempt, "refused", reason=problem.kind)
            raise
        q = widget.queue
        local_id = new_id("l_")
        payload = json.dumps({"overrides": overrides, "origin": origin, "client_ip": client_ip, "consent": consent},
                             separators=(",", ":"))
        entry = LineEntry(queue_id=new_id("q_"), widget=widget.id, joined_at=now, seen_until=now + self.grace_s(),
                          wait_until=now + q.max_wait_s, payload=payload)
        _, lease = self.conversations.lease(widget, now)
        position = await self.store.line_enter(entry, widget.limits.max_concurrent, local_id, lease,
                                               q.max_length, now)
        if position == 0:
            try:
                return await self.conversations.create(widget, overrides, origin=origin, client_ip=client_ip,
                                                       browser=True, consent=consent, slot=local_id)
            except EngineError as err:
                if err.kind != "concurrency":
                    raise
                retry = err.retry_after
            # the engine's account is full though this widget's slots are not: in line, held until it may try
            self.conversations.refused(widget.id, "engine-concurrency")
            entry.hold_until = self.clock() + (retry or ENGINE_HOLD_S)
            position = await self.store.line_enter(entry, 0, local_id, lease, q.max_length, now)
        if position < 0:
            self.conversations.refused(widget.id, "queue-full")
            log_create(attempt, "refused", reason="queue-full")
            raise Problem(503, "The waiting line is full",
                          f"widget {widget.id} has {q.max_length} visitors waiting already", kind="queue-full",
                          retry_after=max(15, min(300, round(await self._typical(widget, now) / 2))))
        self.metrics.queue_joined.labels(widget.id).inc()
        await self.webhooks.emit_data("queue.joined", {"widget": widget.id, "queue_id": entry.queue_id,
                                                      "position": position, "origin": origin})
        log_create(attempt, "queued", reason=f"{entry.queue_id} at {position}")
        place = LinePlace("waiting", position, position, entry=entry)
        answer = await self.describe(widget, place)
        answer["ticket"] = self.signer.queue_ticket(widget.id, entry.queue_id)
        return answer

    async def join(self, widget: WidgetSettings, queue_id: str) -> Created | dict[str, Any]:
        """The page says the visitor is there: on their turn, create the conversation (a Created); the place
        (a dict) when the engine's own concurrency refusal sent them back to the head; else 409/410."""
        now = self.clock()
        place = await self.store.line_place(widget.id, queue_id, now)
        if place.state == "waiting":
            await self.advance(widget)
            place = await self.store.line_place(widget.id, queue_id, now)
        self._refuse_unless_turn(place)
        assert place.entry is not None
        local_id = new_id("l_")
        _, lease = self.conversations.lease(widget, now)
        claim_until = now + self.settings.engine.timeout_s + CLAIM_MARGIN_S
        if not await self.store.line_claim(widget.id, queue_id, local_id, lease, claim_until, now):
            self._refuse_unless_turn(await self.store.line_place(widget.id, queue_id, self.clock()))
            raise Problem(409, "Not your turn yet", "the turn passed meanwhile", kind="not-your-turn")
        data = json.loads(place.entry.payload or "{}")
        try:
            created = await self.conversations.create(
                widget, data.get("overrides") or {}, origin=data.get("origin") or "",
                client_ip=data.get("client_ip") or "", browser=True, consent=data.get("consent"), slot=local_id)
        except EngineError as err:
            if err.kind == "concurrency":  # the engine's account is full: back to the head, not the tail
                hold = self.clock() + (err.retry_after or ENGINE_HOLD_S)
                await self.store.line_requeue(widget.id, queue_id, hold, self.clock() + self.grace_s(), self.clock())
                self.conversations.refused(widget.id, "engine-concurrency")
                return await self.describe(widget, await self.store.line_place(widget.id, queue_id, self.clock()))
            await self._leave(widget, queue_id, "failed")
            raise
        except Problem:
            await self._leave(widget, queue_id, "failed")
            raise
        try:
            await self.store.line_leave(widget.id, queue_id, "served", self.clock())
            await self.drain()
        except STORE_ERRORS as exc:  # the visitor has the conversation; a lapsed claim's turn goes unconfirmed
            log.warning("line %s: %s served but not taken out of line: %s", widget.id, queue_id,
                        type(exc).__name__)
        return created

    @staticmethod
    def _refuse_unless_turn(place: LinePlace) -> None:
        if place.state == "offered":
            return
        if place.state == "left":
            raise Problem(410, "No longer in line", GONE.get(place.reason, "left the line"),
                          kind=f"queue-{place.reason.replace('_', '-')}")
        if place.state == "":
            raise Problem(404, "Unknown place in line", "no such ticket in this widget's line", kind="not-found")
        if place.state == "serving":
            raise Problem(409, "Already joining", "this visitor's conversation is being created",
                          kind="not-your-turn")
        raise Problem(409, "Not your turn yet", f"{place.position - 1} visitor(s) ahead", kind="not-your-turn")

    async def touch(self, widget: WidgetSettings, queue_id: str) -> LinePlace:
        now = self.clock()
        return await self.store.line_touch(widget.id, queue_id, now + self.grace_s(), now)

    async def leave(self, widget: WidgetSettings, queue_id: str, reason: str = "left") -> bool:
        return await self._leave(widget, queue_id, reason)

    async def _leave(self, widget: WidgetSettings, queue_id: str, reason: str) -> bool:
        left = await self.store.line_leave(widget.id, queue_id, reason, self.clock())
        if left:
            await self.advance(widget)  # a slot held for it goes on at once
            await self.drain()
        return left

    # --- moving the line ---------------------------------------------------------------------------------

    async def advance(self, widget: WidgetSettings) -> list[str]:
        """Offer the free slots to the head of the line; wakes this instance's waiting pages."""
        if not widget.queue.enabled:
            return []
        now = self.clock()
        offered = await self.store.line_advance(widget.id, widget.limits.max_concurrent,
                                                now + widget.queue.turn_window_s, now)
        self.moved(widget.id)
        if offered and self.bus is not None:
            try:
                await self.bus.publish(f"line:{widget.id}", {"offered": len(offered)})
            except Exception as exc:  # the other instances' streams see it at their next poll
                log.warning("line %s: offer not published: %s", widget.id, type(exc).__name__)
        return offered

    async def on_free(self, widget_id: str) -> None:
        """A slot of ``widget_id`` was freed (an end, a failed create): the head gets it now."""
        widget = self.settings.widgets.get(widget_id)
        if widget is None or not widget.queue.enabled:
            return
        try:
            await self.advance(widget)
        except STORE_ERRORS as exc:  # the tick moves the line when the store answers again
            log.warning("line %s not advanced after an end: %s", widget_id, type(exc).__name__)

    def moved(self, widget_id: str) -> None:
        event = self._moved.pop(widget_id, None)
        if event is not None:
            event.set()

    async def wait_moved(self, widget_id: str, timeout: float) -> None:
        """Until the widget's line moves (an offer on any instance), or ``timeout`` (what else changed is seen
        by polling)."""
        if self.bus is not None and widget_id not in self._listening:
            self._listening[widget_id] = self._noop  # taken now: one listener per widget, however many wait

            async def heard(_: dict[str, Any]) -> None:
                self.moved(widget_id)

            try:
                self._listening[widget_id] = await self.bus.listen(f"line:{widget_id}", heard)
            except Exception as exc:
                del self._listening[widget_id]
                log.warning("line %s: not listening for offers: %s", widget_id, type(exc).__name__)
        event = self._moved.setdefault(widget_id, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)

    @staticmethod
    async def _noop() -> None:
        return None

    async def aclose(self) -> None:
        stoppers, self._listening = list(self._listening.values()), {}
        for stop in stoppers:
            await stop()

    async def tick(self) -> list[tuple[str, str]]:
        """The leased job: every line moves, every departure is told (webhooks, metrics)."""
        for widget in list(self.settings.widgets.values()):
            if widget.queue.enabled:
                await self.advance(widget)
        await self.drain()
        return []

    async def drain(self) -> int:
        done = 0
        while batch := await self.store.line_departures(100):
            for departure in batch:
                await self._told(departure)
            done += len(batch)
        return done

    async def _told(self, d: Departure) -> None:
        waited = max(0.0, d.at - d.joined_at)
        data = {"widget": d.widget, "queue_id": d.queue_id, "waited_s": round(waited, 3), "at": iso(d.at)}
        self.metrics.queue_wait.labels(d.widget, "served" if d.reason == "served" else "left").observe(waited)
        if d.reason == "served":
            self.metrics.queue_served.labels(d.widget).inc()
            await self.webhooks.emit_data("queue.served", data)
        else:
            self.metrics.queue_left.labels(d.widget, d.reason).inc()
            await self.webhooks.emit_data("queue.left", {**data, "reason": d.reason})
        # the history's record of it (the report's line counts: ledger.line_summary)
        await self.conversations.recorder.audit("line", "queue.served" if d.reason == "served" else "queue.left",
                                                d.queue_id, widget=d.widget, reason=d.reason,
                                                waited_s=round(waited, 3))
        log.info("line %s %s %s after %.1f s", d.widget, d.reason, d.queue_id, waited,
                 extra={"widget": d.widget, "queue_id": d.queue_id, "reason": d.reason, "seconds": round(waited, 3)})

    # --- what the page is told ---------------------------------------------------------------------------

    async def describe(self, widget: WidgetSettings, place: LinePlace) -> dict[str, Any]:
        now = self.clock()
        out: dict[str, Any] = {"queue_id": place.entry.queue_id if place.entry else None, "state": place.state,
                               "position": place.position, "length": place.length}
        if place.state == "waiting":
            out["estimated_wait_s"] = await self.estimate(widget, place.position, now)
        elif place.state in ("offered", "serving"):
            out["estimated_wait_s"] = 0
        if place.entry is not None and place.state in ("waiting", "offered"):
            out["expires_at"] = iso(place.entry.wait_until)
            if place.state == "offered":
                out["turn_until"] = iso(place.entry.turn_until)
        if place.state == "left":
            out["reason"] = place.reason
        out["turn_window_s"] = widget.queue.turn_window_s
        return out

    async def _typical(self, widget: WidgetSettings, now: float) -> float:
        """The widget's typical conversation length: the median of its recent ones, else half the cap."""
        cached = self._lengths.get(widget.id)
        if cached is not None and now - cached[0] < ESTIMATE_CACHE_S:
            return cached[1]
        lengths = [r.seconds_live(now) for r in await self.store.records_since(now - RECENT_S)
                   if r.widget == widget.id and r.status == "ended" and r.ended_at is not None]
        typical = statistics.median(lengths[-50:]) if lengths else widget.max_call_duration / 2
        typical = max(10.0, min(float(widget.max_call_duration), typical))
        self._lengths[widget.id] = (now, typical)
        return typical

    async def estimate(self, widget: WidgetSettings, position: int, now: float) -> int:
        """Seconds until the visitor at ``position`` gets a slot: each live conversation is expected to run
        the widget's typical length (at least a tenth of it more, whatever its age), each next one as long."""
        typical = await self._typical(widget, now)
        cached = self._ages.get(widget.id)
        if cached is None or not 0 <= now - cached[0] < AGES_CACHE_S:
            cached = self._ages[widget.id] = (now, [r.created_at for r in await self.store.live_records(widget.id)])
        ages = [now - created for created in cached[1]]
        free_at = [max(typical - age, typical / 10) for age in ages][: widget.limits.max_concurrent]
        free_at += [0.0] * (widget.limits.max_concurrent - len(free_at))
        heapq.heapify(free_at)
        at = 0.0
        for _ in range(max(1, position)):
            at = heapq.heappop(free_at)
            heapq.heappush(free_at, at + typical)
        return max(1, round(at))
