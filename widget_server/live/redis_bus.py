"""The bus in Redis, for several server instances sharing a ``redis://`` store.

Keys (prefix ``live:{conversation_id}:``): ``seq`` (counter), ``events`` (a stream whose
entry ids are ``{seq}-0``, so ``after=N`` is an XRANGE/XREAD from ``N-0``), ``lease``
(holder, with a TTL), ``room`` (url and meeting token). Commands go to the holder over
pub/sub channel ``live:{conversation_id}:cmd``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis

from widget_server.clock import Clock, iso

from .base import LIVE_TTL_S, MAX_EVENTS, CommandHandler
from .events import Event

_APPEND = """
local seq = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], seq .. '-0', 'type', ARGV[1], 'at', ARGV[2], 'data', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[5])
return seq
"""
_RENEW = """
local current = redis.call('GET', KEYS[1])
if current == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1
elseif current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1
end
return 0
"""
_DROP = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _key(conversation_id: str, part: str) -> str:
    return f"live:{conversation_id}:{part}"


class RedisBus:
    def __init__(self, url: str, clock: Clock = time.time) -> None:
        self.redis: Any = aioredis.Redis.from_url(url, decode_responses=True, max_connections=256)
        self.clock = clock

    def _event(self, conversation_id: str, entry_id: str, fields: dict[str, Any]) -> Event:
        return Event(int(entry_id.split("-")[0]), fields["type"], conversation_id, fields["at"],
                     json.loads(fields["data"]))

    async def append(self, conversation_id: str, type_: str, data: dict[str, Any]) -> Event:
        at = iso(self.clock(), ms=True)
        seq = await self.redis.eval(
            _APPEND, 2, _key(conversation_id, "seq"), _key(conversation_id, "events"),
            type_, at, json.dumps(data), MAX_EVENTS, LIVE_TTL_S)
        return Event(int(seq), type_, conversation_id, at, data)

    async def read(self, conversation_id: str, after: int) -> list[Event]:
        entries = await self.redis.xrange(_key(conversation_id, "events"), min=f"{after}-1", max="+")
        return [self._event(conversation_id, eid, fields) for eid, fields in entries]

    async def wait(self, conversation_id: str, after: int, timeout: float) -> list[Event]:
        found = await self.read(conversation_id, after)
        if found:
            return found
        key = _key(conversation_id, "events")
        reply = await self.redis.xread({key: f"{after}-0"}, block=max(1, int(timeout * 1000)))
        events: list[Event] = []
        for _stream, entries in reply or []:
            events.extend(self._event(conversation_id, eid, fields) for eid, fields in entries)
        return events

    async def last_seq(self, conversation_id: str) -> int:
        value = await self.redis.get(_key(conversation_id, "seq"))
        return int(value) if value else 0

    async def expire(self, conversation_id: str, seconds: float) -> None:
        for part in ("seq", "events"):
            await self.redis.expire(_key(conversation_id, part), max(1, int(seconds)))

    async def take_lease(self, conversation_id: str, holder: str, ttl_s: float) -> bool:
        done = await self.redis.eval(
            _RENEW, 1, _key(conversation_id, "lease"), holder, int(ttl_s * 1000))
        return bool(done)

    async def drop_lease(self, conversation_id: str, holder: str) -> None:
        await self.redis.eval(_DROP, 1, _key(conversation_id, "lease"), holder)

    async def publish(self, conversation_id: str, message: dict[str, Any]) -> bool:
        receivers = await self.redis.publish(_key(conversation_id, "cmd"), json.dumps(message))
        return int(receivers) > 0

    async def listen(self, conversation_id: str, handler: CommandHandler) -> Callable[[], Awaitable[None]]:
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(_key(conversation_id, "cmd"))

        async def pump() -> None:
            async for item in pubsub.listen():
                if item.get("type") == "message":
                    with contextlib.suppress(ValueError):
                        await handler(json.loads(item["data"]))

        task = asyncio.create_task(pump())

        async def stop() -> None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            await pubsub.aclose()

        return stop

    async def remember_room(self, conversation_id: str, room: dict[str, Any], ttl_s: float) -> None:
        await self.redis.set(_key(conversation_id, "room"), json.dumps(room), ex=max(1, int(ttl_s)))

    async def room(self, conversation_id: str) -> dict[str, Any] | None:
        raw = await self.redis.get(_key(conversation_id, "room"))
        found = json.loads(raw) if raw else None
        return found if isinstance(found, dict) else None

    async def aclose(self) -> None:
        await self.redis.aclose()
