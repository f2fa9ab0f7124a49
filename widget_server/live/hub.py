"""The server's seats in live rooms: taken to follow events, one instance per conversation (a lease).

    hub = LiveHub(bus, engine, store)
    await hub.send(record, message)              # to the replica through the engine: no seat needed
    await hub.open(record)                       # a seat (or find the holder) before streaming
    async for event in hub.follow(record, after=3):
        ...                                      # ends after the "ended" event

The engine says what each room is and gives the seat (``engine.seat``): this module never
asks which engine it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from widget_server.engines.base import Engine
from widget_server.engines.rooms import Room, RoomEvent, RoomGone, Seat, SeatError, Sink
from widget_server.errors import EngineError, Problem
from widget_server.store import ConversationRecord, Store

from .base import LIVE_TTL_S, Bus
from .events import Event, translate

log = logging.getLogger("widget_server.live")

LEASE_TTL_S = 15.0
GRACE_S = 600.0  # events are kept this long after the conversation ended
SeatFactory = Callable[[str, Room, Sink], Seat]


@dataclass
class _Seat:
    participant: Seat
    queue: asyncio.Queue[RoomEvent] = field(default_factory=asyncio.Queue)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    replica_seen: bool = False


def ended_problem(record: ConversationRecord) -> Problem:
    return Problem(409, "Conversation ended", f"ended: {record.end_reason or 'ended'}", kind="conversation-ended")


def room_problem(exc: SeatError | EngineError) -> Problem:
    return Problem(502, "Room unreachable", f"the server could not be in the room: {exc}"[:500],
                   kind="room-unreachable")


class LiveHub:
    def __init__(self, bus: Bus, engine: Engine, store: Store, *, lease_ttl_s: float = LEASE_TTL_S,
                 grace_s: float = GRACE_S, seat_factory: SeatFactory | None = None) -> None:
        self.bus = bus
        self.engine = engine
        self.store = store
        self.lease_ttl_s = lease_ttl_s
        self.grace_s = grace_s
        self.instance = "i-" + secrets.token_hex(6)
        self.seat_factory = seat_factory or engine.seat
        self._seats: dict[str, _Seat] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._early: set[asyncio.Task[None]] = set()

    # --- what views call ---------------------------------------------------------------------
    async def remember(self, conversation_id: str, room: Room) -> None:
        """Keep what the room of a conversation just created is (its meeting token too), for the seat."""
        await self.bus.remember_room(conversation_id, room.to_json(), LIVE_TTL_S)

    def join_early(self, conversation_id: str) -> None:
        """Be in the room from the start, so the event log is complete for late followers.

        Done where the room says a seat costs nothing (``join_at_creation``) and for widgets
        with ``record_events``; otherwise the server sits in on the first follower.
        """
        task = asyncio.create_task(self._join_early(conversation_id))
        self._early.add(task)
        task.add_done_callback(self._early.discard)

    async def _join_early(self, conversation_id: str) -> None:
        record = await self.store.by_conversation(conversation_id)
        if record is None or not record.live:
            return
        try:
            await self._ensure(record)
        except Problem as exc:
            log.warning("room %s: could not join early: %s", conversation_id, exc.detail)

    async def send(self, record: ConversationRecord, message: dict[str, Any]) -> None:
        """To the replica through the engine (``send-app-message``): no seat is taken for this."""
        if not record.live:
            raise ended_problem(record)
        try:
            await self.engine.send_app_message(self._cid(record), message)
        except EngineError as err:
            if err.kind == "ended":
                raise ended_problem(record) from None
            raise

    async def open(self, record: ConversationRecord) -> None:
        """Before streaming: be in the room (or know another instance is), or record the end."""
        cid = self._cid(record)
        if not record.live:
            if await self.bus.last_seq(cid) == 0:
                await self._append_end(cid, record.end_reason or "ended")
            return
        try:
            await self._ensure(record)
        except Problem as exc:
            if exc.status != 409:  # ended meanwhile: the log now says so
                raise

    async def follow(self, record: ConversationRecord, after: int = 0) -> AsyncIterator[Event | None]:
        """Events after ``after``, as they come; ``None`` after each quiet lease period (a keep-alive tick)."""
        cid = self._cid(record)
        while True:
            events = await self.bus.wait(cid, after, self.lease_ttl_s)
            for event in events:
                yield event
                after = event.seq
                if event.type == "ended":
                    return
            if not events:
                yield None
                await self._check_holder(cid)

    async def aclose(self) -> None:
        early = list(self._early)
        if early:
            # A join in flight is let finish (its seat is then left below): one cut off mid-handshake
            # could leave its connection behind.
            await asyncio.wait(early, timeout=2)
        for task in early:
            task.cancel()
        await asyncio.gather(*early, return_exceptions=True)
        for cid in list(self._seats):
            await self._release(cid)
        await self.bus.aclose()

    # --- seats ---------------------------------------------------------------------------------
    def _cid(self, record: ConversationRecord) -> str:
        if not record.conversation_id:
            raise Problem(409, "Conversation not started", "the engine has not created it yet",
                          kind="conversation-not-started")
        return record.conversation_id

    async def _room(self, cid: str) -> Room:
        """The room as remembered at creation (with its token), else as the engine describes it now."""
        remembered = await self.bus.room(cid)
        if remembered is not None:
            with contextlib.suppress(ValueError):
                return Room.from_json(remembered)
        return await self.engine.room(cid)

    async def _ensure(self, record: ConversationRecord) -> bool:
        """True when this instance is in the room; False when another instance holds it."""
        cid = self._cid(record)
        if cid in self._seats:
            return True
        lock = self._locks.setdefault(cid, asyncio.Lock())
        async with lock:
            if cid in self._seats:
                return True
            if not await self.bus.take_lease(cid, self.instance, self.lease_ttl_s):
                return False
            seat: _Seat | None = None
            try:
                queue: asyncio.Queue[RoomEvent] = asyncio.Queue()
                participant = self.seat_factory(cid, await self._room(cid), queue.put_nowait)
                seat = _Seat(participant, queue)
                await participant.join()
            except RoomGone:
                await self.bus.drop_lease(cid, self.instance)
                await self._append_end(cid, await self._reason(cid))
                raise ended_problem(record) from None
            except (SeatError, EngineError) as exc:
                await self.bus.drop_lease(cid, self.instance)
                raise room_problem(exc) from None
            self._seats[cid] = seat
            seat.tasks.append(asyncio.create_task(self._pump(cid, seat)))
            seat.tasks.append(asyncio.create_task(self._renew(cid)))
            return True

    async def _pump(self, cid: str, seat: _Seat) -> None:
        while True:
            event = await seat.queue.get()
            if event.kind == "left":
                await self._append_end(cid, await self._reason(cid))
                await self._release(cid)
                return
            if event.kind == "error":
                log.warning("room %s: %s", cid, str(event.data.get("message"))[:200])
            for type_, data in translate(event):
                if type_ == "replica_joined":
                    if seat.replica_seen:
                        continue
                    seat.replica_seen = True
                await self.bus.append(cid, type_, data)

    async def _renew(self, cid: str) -> None:
        while True:
            await asyncio.sleep(self.lease_ttl_s / 3)
            if not await self.bus.take_lease(cid, self.instance, self.lease_ttl_s):
                log.warning("room %s: lease lost; leaving", cid)
                await self._release(cid)
                return

    async def _release(self, cid: str) -> None:
        seat = self._seats.pop(cid, None)
        self._locks.pop(cid, None)
        if seat is None:
            return
        current = asyncio.current_task()
        others = [task for task in seat.tasks if task is not current]
        for task in others:
            task.cancel()
        # Wait for them: a task cut off mid-command must not outlive the connections it uses.
        await asyncio.gather(*others, return_exceptions=True)
        with contextlib.suppress(Exception):
            await seat.participant.close()
        await self.bus.drop_lease(cid, self.instance)

    async def _append_end(self, cid: str, reason: str) -> None:
        await self.bus.append(cid, "ended", {"reason": reason})
        await self.bus.expire(cid, self.grace_s)

    async def _reason(self, cid: str) -> str:
        with contextlib.suppress(EngineError, TimeoutError):
            conv = await asyncio.wait_for(self.engine.get(cid), 3)
            if conv.shutdown_reason:
                return conv.shutdown_reason
        record = await self.store.by_conversation(cid)
        return (record.end_reason if record else None) or "ended"

    async def _check_holder(self, cid: str) -> None:
        """No news for a lease period: take the room over if its holder is gone."""
        if cid in self._seats:
            return
        record = await self.store.by_conversation(cid)
        if record is None:
            return
        if record.live:
            with contextlib.suppress(Problem):
                await self._ensure(record)
        elif await self.bus.take_lease(cid, self.instance, self.lease_ttl_s):
            await self._append_end(cid, record.end_reason or "ended")
            await self.bus.drop_lease(cid, self.instance)
