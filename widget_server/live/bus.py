"""Where a conversation's events, leases and commands live: in process, or in Redis across instances.

    bus = open_bus(settings.server.store, clock)   # LocalBus for sqlite:, RedisBus for redis:
    event = await bus.append("c1", "utterance", {"role": "user", "text": "hi"})
    missed = await bus.read("c1", after=0)
    fresh = await bus.wait("c1", after=event.seq, timeout=15)   # [] when nothing came

Only the instance holding a conversation's lease (its room participant) appends;
readers may be anywhere. Commands (interactions) reach the holder through ``publish``.
The interface both buses follow is ``base.Bus``; this module has the in-process one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from widget_server.clock import Clock, iso

from .base import LIVE_TTL_S, MAX_EVENTS, Bus, CommandHandler
from .events import Event


@dataclass
class _Log:
    events: list[Event] = field(default_factory=list)
    seq: int = 0
    expires_at: float = 0.0
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class LocalBus:
    """One instance (SQLite store): everything in this process."""

    def __init__(self, clock: Clock = time.time) -> None:
        self.clock = clock
        self._logs: dict[str, _Log] = {}
        self._leases: dict[str, tuple[str, float]] = {}
        self._rooms: dict[str, tuple[dict[str, Any], float]] = {}

    def _log(self, conversation_id: str, create: bool = False) -> _Log | None:
        now = self.clock()
        log = self._logs.get(conversation_id)
        if log is not None and log.expires_at <= now:
            del self._logs[conversation_id]
            log = None
        if log is None and create:
            for cid in [c for c, lg in self._logs.items() if lg.expires_at <= now]:
                del self._logs[cid]
            log = self._logs[conversation_id] = _Log(expires_at=now + LIVE_TTL_S)
        return log

    async def append(self, conversation_id: str, type_: str, data: dict[str, Any]) -> Event:
        log = self._log(conversation_id, create=True)
        assert log is not None
        log.seq += 1
        event = Event(log.seq, type_, conversation_id, iso(self.clock(), ms=True), data)
        log.events.append(event)
        if len(log.events) > MAX_EVENTS:
            del log.events[: len(log.events) - MAX_EVENTS]
        log.changed.set()
        log.changed = asyncio.Event()
        return event

    async def read(self, conversation_id: str, after: int) -> list[Event]:
        log = self._log(conversation_id)
        if log is None:
            return []
        return [e for e in log.events if e.seq > after]

    async def wait(self, conversation_id: str, after: int, timeout: float) -> list[Event]:
        log = self._log(conversation_id, create=True)
        assert log is not None
        if log.seq <= after:
            try:
                await asyncio.wait_for(log.changed.wait(), timeout)
            except TimeoutError:
                return []
        return await self.read(conversation_id, after)

    async def last_seq(self, conversation_id: str) -> int:
        log = self._log(conversation_id)
        return log.seq if log else 0

    async def expire(self, conversation_id: str, seconds: float) -> None:
        log = self._log(conversation_id)
        if log is not None:
            log.expires_at = self.clock() + seconds

    async def take_lease(self, conversation_id: str, holder: str, ttl_s: float) -> bool:
        now = self.clock()
        current = self._leases.get(conversation_id)
        if current and current[0] != holder and current[1] > now:
            return False
        self._leases[conversation_id] = (holder, now + ttl_s)
        return True

    async def drop_lease(self, conversation_id: str, holder: str) -> None:
        current = self._leases.get(conversation_id)
        if current and current[0] == holder:
            del self._leases[conversation_id]

    async def publish(self, conversation_id: str, message: dict[str, Any]) -> bool:
        return False  # one instance: the holder is always this one

    async def listen(self, conversation_id: str, handler: CommandHandler) -> Callable[[], Awaitable[None]]:
        async def stop() -> None:
            return None

        return stop

    async def remember_room(self, conversation_id: str, room: dict[str, Any], ttl_s: float) -> None:
        now = self.clock()
        # Insertion order is expiry order (one TTL for all), so expired rooms sit at the front.
        while self._rooms:
            oldest = next(iter(self._rooms))
            if self._rooms[oldest][1] > now:
                break
            del self._rooms[oldest]
        self._rooms.pop(conversation_id, None)
        self._rooms[conversation_id] = (room, now + ttl_s)

    async def room(self, conversation_id: str) -> dict[str, Any] | None:
        found = self._rooms.get(conversation_id)
        return found[0] if found and found[1] > self.clock() else None

    async def aclose(self) -> None:
        self._logs.clear()


def open_bus(store_url: str, clock: Clock = time.time) -> Bus:
    if store_url.startswith(("redis://", "rediss://", "unix://")):
        from .redis_bus import RedisBus  # redis is imported only where a Redis store is configured

        return RedisBus(store_url, clock)
    return LocalBus(clock)
