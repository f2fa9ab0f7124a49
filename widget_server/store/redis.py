"""Redis store: any number of instances on one Redis behave as one server.

    store = RedisStore("redis://127.0.0.1:6379/0")   # or rediss:// (TLS), redis+sentinel:// (see store.urls)
    await store.open()

Every step that must be atomic (a slot, a rate counter, a state change with its
webhook) is one Lua script. Records are hashes ``ws:conv:<local_id>``; ``ws:live``
indexes the live ones, ``ws:created[:<widget>]`` orders them by creation.

Nothing is kept forever. A record's keys expire ``LIVE_KEEP_S`` after its ``expires_at`` while it is live
(the backstop ends it long before), ``UNARCHIVED_KEEP_S`` after its end until the history database holds
it (``ws:unarchived``, drained by the history sync), then ``archived(..., keep_s)`` after that.

The daily budget does not read history: the script that ends a conversation adds
its seconds (unless it failed) to ``ws:used:<widget>:<day>``, one float per UTC
day it overlaps (each day only its own part), which expire after a few days;
``ws:open:<widget>`` holds the widget's conversations that have no ``ended_at``
yet, which ``seconds_used`` counts up to now.
"""

from __future__ import annotations

import math
import time
from typing import Any, cast

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError

from widget_server.store.base import (
    DAY,
    KEEP_DAYS,
    LIVE,
    SPAN_DAYS,
    ConversationRecord,
    OutboxItem,
    booked_day,
    day_parts,
    day_start,
    fixed_window,
    require_open,
)
from widget_server.store.redis_line import LINE_LUA, LINE_SCRIPTS, RedisLine
from widget_server.store.urls import parse_store_url

P = "ws:"
CONNECT_TIMEOUT_S = 2.0
SOCKET_TIMEOUT_S = 5.0
_FLOATS = {"created_at", "expires_at", "started_at", "ended_at", "last_seen"}
_LIVE_LUA = " or ".join(f"st == '{s}'" for s in LIVE)

# A day's total expires a day more than KEEP_DAYS after it was last written.
_USED_TTL = (KEEP_DAYS + 1) * DAY
_BUDGET_MARK = f"{P}budget:v1"   # set once the per-day totals and open sets of an older database are built
# A live record's keys outlive its expires_at by this much: the sweep's backstop ends it a minute after
# expires_at, so only a deployment with no instance running for a day loses a live record this way.
LIVE_KEEP_S = DAY
# An ended record waits this long for the history database (which may be down) before it expires.
UNARCHIVED_KEEP_S = 7 * DAY
_HISTORY_MARK = f"{P}history:v1"  # set once the records of an older version carry TTLs and wait for history

# book(widget, created_at, ended_at, status, sign): adds (sign 1) or takes back (sign -1) a record's
# seconds to the days it overlaps, as base.day_parts computes them; a record without ended_at, or failed,
# has none.
_BOOK = f"""
local function book(widget, created, ended, status, sign)
  if not widget or not created or not ended or status == 'failed' then return end
  created, ended = tonumber(created), tonumber(ended)
  local last = math.floor(ended / {DAY})
  for k = 0, {SPAN_DAYS - 1} do
    local day = (last - k) * {DAY}
    local part = math.min(ended, day + {DAY}) - math.max(created, day)
    if part > 0 then
      local key = '{P}used:' .. widget .. ':' .. string.format('%d', day)
      redis.call('INCRBYFLOAT', key, string.format('%.17g', sign * part))
      redis.call('EXPIRE', key, {_USED_TTL})
    end
  end
end
"""

# Queues ARGV[1..4] (id, body, due_at, attempts) as a webhook unless id is "".
_QUEUE = f"""
local function queue()
  if ARGV[1] ~= '' and redis.call('EXISTS', '{P}ob:' .. ARGV[1]) == 0 then
    redis.call('HSET', '{P}ob:' .. ARGV[1], 'body', ARGV[2], 'attempts', ARGV[4])
    redis.call('ZADD', '{P}outbox', ARGV[3], ARGV[1])
  end
end
"""

# A newcomer never takes a slot while anyone waits in the widget's line (ARGV[5]).
_ACQUIRE = LINE_LUA + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if not redis.call('ZSCORE', KEYS[1], ARGV[3]) and waiting(prune(ARGV[5], tonumber(ARGV[1]), ARGV[1])) > 0 then
  return 0
end
if not redis.call('ZSCORE', KEYS[1], ARGV[3]) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
return 1
"""

_ACTIVATE = _QUEUE + f"""
if redis.call('HGET', KEYS[1], 'status') ~= 'creating' then return 0 end
redis.call('HSET', KEYS[1], 'status', 'active', 'conversation_id', ARGV[5], 'conversation_url', ARGV[6])
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then
  redis.call('SET', '{P}cid:' .. ARGV[5], ARGV[7], 'PX', ttl)
else
  redis.call('SET', '{P}cid:' .. ARGV[5], ARGV[7])
end
queue()
return 1
"""

_STARTED = _QUEUE + """
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('HEXISTS', KEYS[1], 'started_at') == 1 then return 0 end
redis.call('HSET', KEYS[1], 'started_at', ARGV[5])
queue()
return 1
"""

_RATE = _QUEUE + """
if redis.call('HGET', KEYS[1], 'status') ~= 'ended' or redis.call('HEXISTS', KEYS[1], 'rating') == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'rating', ARGV[5])
queue()
return 1
"""

# Sets status ARGV[5] and ended_at ARGV[7], moving the record's seconds from "open" to its days.
_END = _BOOK + f"""
local function finish_record(widget, st)
  local row = redis.call('HMGET', KEYS[1], 'created_at', 'ended_at')
  book(widget, row[1], row[2], st, -1)
  redis.call('HSET', KEYS[1], 'status', ARGV[5], 'end_reason', ARGV[6], 'ended_at', ARGV[7])
  book(widget, row[1], ARGV[7], ARGV[5], 1)
  redis.call('SREM', '{P}live', ARGV[8])
  if widget then redis.call('SREM', '{P}open:' .. widget, ARGV[8]) end
  redis.call('ZADD', '{P}unarchived', ARGV[7], ARGV[8])
  redis.call('EXPIRE', KEYS[1], {UNARCHIVED_KEEP_S})
  local cid = redis.call('HGET', KEYS[1], 'conversation_id')
  if cid then redis.call('EXPIRE', '{P}cid:' .. cid, {UNARCHIVED_KEEP_S}) end
end
"""

_FINISH = _QUEUE + _END + f"""
local st = redis.call('HGET', KEYS[1], 'status')
local widget = redis.call('HGET', KEYS[1], 'widget')
if widget then redis.call('ZREM', '{P}slots:' .. widget, ARGV[8]) end
if not ({_LIVE_LUA}) then return 0 end
finish_record(widget, st)
queue()
return 1
"""

_ADOPT = _QUEUE + _END + f"""
local st = redis.call('HGET', KEYS[1], 'status')
local widget = redis.call('HGET', KEYS[1], 'widget')
if widget then redis.call('ZREM', '{P}slots:' .. widget, ARGV[8]) end
if st ~= 'creating' and st ~= 'lost' and st ~= 'failed' then return 0 end
if not redis.call('HGET', KEYS[1], 'conversation_id') then
  redis.call('HSET', KEYS[1], 'conversation_id', ARGV[9])
  redis.call('SET', '{P}cid:' .. ARGV[9], ARGV[8])
end
finish_record(widget, st)
queue()
return 1
"""

_LOST = """
if redis.call('HGET', KEYS[1], 'status') ~= 'creating' then return 0 end
redis.call('HSET', KEYS[1], 'status', 'lost')
return 1
"""

_TOUCH = f"""
local st = redis.call('HGET', KEYS[1], 'status')
if not ({_LIVE_LUA}) then return 0 end
local seen = tonumber(redis.call('HGET', KEYS[1], 'last_seen') or '0')
if seen < tonumber(ARGV[1]) then redis.call('HSET', KEYS[1], 'last_seen', ARGV[1]) end
return 1
"""

_HIT = """
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count >= tonumber(ARGV[1]) then return tonumber(ARGV[2]) end
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 0
"""

# KEYS[1] = ws:open:<widget>, KEYS[2..] = the widget's day totals from ``since`` on; ARGV = since, now.
# Reads the widget's open records only. One that has an ended_at was ended by an older version of this
# server, which did not book it: it is booked now.
_USED = _BOOK + f"""
local since, now = tonumber(ARGV[1]), tonumber(ARGV[2])
local total = 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local row = redis.call('HMGET', '{P}conv:' .. id, 'created_at', 'ended_at', 'status', 'widget')
  if not row[1] then
    redis.call('SREM', KEYS[1], id)
  elseif row[2] then
    book(row[4], row[1], row[2], row[3], 1)
    redis.call('SREM', KEYS[1], id)
  elseif row[3] ~= 'failed' then
    local start = math.max(tonumber(row[1]), since)
    if now > start then total = total + (now - start) end
  end
end
for i = 2, #KEYS do total = total + tonumber(redis.call('GET', KEYS[i]) or '0') end
return string.format('%.17g', total)
"""

# Any other ``since``: what the budget read before the day totals. Conversations last at most an hour
# (plus grace), so a day's look-back finds every one that overlaps.
_USED_SCAN = f"""
local since, now = tonumber(ARGV[1]), tonumber(ARGV[2])
local total = 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], since - {DAY}, '+inf')) do
  local row = redis.call('HMGET', '{P}conv:' .. id, 'created_at', 'ended_at', 'status')
  if row[1] and row[3] ~= 'failed' then
    local stop = tonumber(row[2] or now)
    local start = math.max(tonumber(row[1]), since)
    if stop > start then total = total + (stop - start) end
  end
end
return tostring(total)
"""

# Once per database (KEYS[1], the mark): book the records an older version of this server ended and
# index its open ones. ARGV[1]: the oldest creation to look at (the old budget read back two days).
_BACKFILL = _BOOK + f"""
if not redis.call('SET', KEYS[1], '1', 'NX') then return 0 end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', '{P}created', ARGV[1], '+inf')) do
  local row = redis.call('HMGET', '{P}conv:' .. id, 'widget', 'created_at', 'ended_at', 'status')
  if row[1] and row[2] then
    if row[3] then book(row[1], row[2], row[3], row[4], 1) else redis.call('SADD', '{P}open:' .. row[1], id) end
  end
end
for _, id in ipairs(redis.call('SMEMBERS', '{P}live')) do
  local row = redis.call('HMGET', '{P}conv:' .. id, 'widget', 'ended_at')
  if row[1] and not row[2] then redis.call('SADD', '{P}open:' .. row[1], id) end
end
return 1
"""

# ARGV[1]: seconds to keep; ARGV[2..]: records the history database holds now.
_ARCHIVED = f"""
for i = 2, #ARGV do
  local key = '{P}conv:' .. ARGV[i]
  local row = redis.call('HMGET', key, 'widget', 'conversation_id')
  if redis.call('EXISTS', key) == 1 then redis.call('EXPIRE', key, ARGV[1]) end
  if row[2] then redis.call('EXPIRE', '{P}cid:' .. row[2], ARGV[1]) end
  if row[1] then redis.call('ZREM', '{P}created:' .. row[1], ARGV[i]) end
  redis.call('ZREM', '{P}created', ARGV[i])
  redis.call('ZREM', '{P}unarchived', ARGV[i])
end
return 1
"""

# Once per database, a page of ``ws:created`` at a time (ARGV[1]: now): records an older version wrote
# without TTLs get theirs, and its ended ones wait for the history database.
_GIVE_TTLS = f"""
local now = tonumber(ARGV[1])
for i = 2, #ARGV do
  local key = '{P}conv:' .. ARGV[i]
  local row = redis.call('HMGET', key, 'status', 'expires_at', 'ended_at', 'conversation_id')
  if row[1] and redis.call('TTL', key) == -1 then
    local ttl
    if row[3] then
      redis.call('ZADD', '{P}unarchived', row[3], ARGV[i])
      ttl = {UNARCHIVED_KEEP_S}
    else
      ttl = math.max(60, math.floor(tonumber(row[2] or now) - now) + {LIVE_KEEP_S})
    end
    redis.call('EXPIRE', key, ttl)
    if row[4] then redis.call('EXPIRE', '{P}cid:' .. row[4], ttl) end
  end
end
return 1
"""

# The lease is "holder|until" judged by the caller's clock (``now``), as the SQLite store does;
# Redis' own expiry only clears leases nobody renews, well after they lapsed.
_LOCK = """
local holder, till = string.match(redis.call('GET', KEYS[1]) or '', '^(.*)|([^|]*)$')
if holder and holder ~= ARGV[1] and tonumber(till) > tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[3], 'PX', ARGV[4])
return 1
"""
LOCK_CLEANUP_MS = 60_000

_CLAIM = f"""
local out = {{}}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])) do
  redis.call('ZADD', KEYS[1], ARGV[3], id)
  local row = redis.call('HMGET', '{P}ob:' .. id, 'body', 'attempts')
  if row[1] then
    table.insert(out, id); table.insert(out, row[1]); table.insert(out, row[2] or '0')
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
"""


def _conv(local_id: str) -> str:
    return f"{P}conv:{local_id}"


def _queue_args(item: OutboxItem | None) -> list[str]:
    if item is None:
        return ["", "", "0", "0"]
    return [item.id, item.body, repr(item.due_at), str(item.attempts)]


def _record(row: dict[str, str]) -> ConversationRecord | None:
    if not row.get("local_id"):
        return None
    values: dict[str, Any] = {}
    for name in ConversationRecord.__dataclass_fields__:
        raw = row.get(name)
        values[name] = None if raw is None else (float(raw) if name in _FLOATS else raw)
    for name in ("origin", "client_ip", "conversation_url"):
        values[name] = values[name] or ""
    return ConversationRecord(**values)


def connect(url: str) -> tuple[aioredis.Redis, list[aioredis.Redis]]:
    """A client for the store URL (direct, TLS or through Sentinel), and the sentinel clients to close with it."""
    target = parse_store_url(url)
    # One quick retry, not redis-py's default three with seconds of back-off: a Redis that is down should be
    # a prompt 503 (with Retry-After), not a create held for seconds; a URL's own timeouts win.
    pool: dict[str, Any] = {"decode_responses": True, "max_connections": 64, "health_check_interval": 30,
                            "retry": Retry(ExponentialBackoff(cap=0.2, base=0.05), 1)}
    target.connection.setdefault("socket_connect_timeout", CONNECT_TIMEOUT_S)
    target.connection.setdefault("socket_timeout", SOCKET_TIMEOUT_S)
    if not target.sentinels:
        return aioredis.Redis(**target.connection, **pool), []
    # The sentinels get the same TLS and socket options as the master, and their own credentials.
    shared = {k: v for k, v in target.connection.items() if k.startswith(("ssl", "socket_"))}
    sentinel = Sentinel(list(target.sentinels), sentinel_kwargs={**shared, **target.sentinel_auth},  # type: ignore[no-untyped-call, unused-ignore]
                        **target.connection)
    master: aioredis.Redis = sentinel.master_for(target.service, **pool)
    return master, list(sentinel.sentinels)


class RedisStore(RedisLine):
    def __init__(self, url: str) -> None:
        self.url = url
        self._r: aioredis.Redis | None = None
        self._sentinels: list[aioredis.Redis] = []
        self._scripts: dict[str, Any] = {}

    @property
    def r(self) -> aioredis.Redis:
        return require_open(self._r)

    async def open(self) -> None:
        if self._r is not None:
            return
        self._r, self._sentinels = connect(self.url)
        for name, src in (("acquire", _ACQUIRE), ("activate", _ACTIVATE), ("started", _STARTED),
                          ("finish", _FINISH), ("adopt", _ADOPT), ("lost", _LOST), ("touch", _TOUCH),
                          ("hit", _HIT), ("used", _USED), ("used_scan", _USED_SCAN), ("backfill", _BACKFILL),
                          ("lock", _LOCK), ("claim", _CLAIM), ("archived", _ARCHIVED), ("ttls", _GIVE_TTLS),
                          ("rate", _RATE)):
            self._scripts[name] = self._r.register_script(src)
        for name, src in LINE_SCRIPTS.items():
            self._scripts[name] = self._r.register_script(src)
        if not await self._r.exists(_BUDGET_MARK):
            since = day_start(time.time()) - 2 * DAY
            await self._run("backfill", [_BUDGET_MARK], [since])
        if not await self._r.exists(_HISTORY_MARK):
            await self._give_ttls()

    async def _give_ttls(self, page: int = 1000) -> None:
        """Upgrade an older database (records kept forever) a page at a time, so Redis is never blocked long."""
        start = 0
        while True:
            ids = await self.r.zrange(f"{P}created", start, start + page - 1)
            if ids:
                await self._run("ttls", [], [repr(time.time()), *ids])
            if len(ids) < page:
                break
            start += page
        await self.r.set(_HISTORY_MARK, "1")

    async def close(self) -> None:
        if self._r is not None:
            await self._r.aclose()
            self._r = None
        for sentinel in self._sentinels:
            await sentinel.aclose()
        self._sentinels = []

    async def ping(self) -> bool:
        try:
            return bool(await self.r.ping())
        except (RedisError, OSError, RuntimeError):
            return False

    async def _run(self, name: str, keys: list[str], args: list[Any]) -> Any:
        self.r  # noqa: B018  (fails clearly when closed)
        return await self._scripts[name](keys=keys, args=args)

    async def acquire_slot(self, widget: str, limit: int, holder: str, lease_until: float, now: float,
                           record: ConversationRecord | None = None) -> bool:
        args = [repr(now), limit, holder, repr(lease_until), widget]
        got = bool(await self._run("acquire", [f"{P}slots:{widget}"], args))
        if got and record is not None:
            await self.insert(record)
        return got

    async def _hash(self, queue_id: str) -> dict[str, str]:
        return cast(dict[str, str], await self.r.hgetall(f"{P}q:{queue_id}"))

    async def live_slots(self, widget: str, now: float) -> int:
        return int(await self.r.zcount(f"{P}slots:{widget}", f"({now!r}", "+inf"))

    async def insert(self, record: ConversationRecord) -> None:
        row = {k: (repr(v) if isinstance(v, float) else str(v)) for k, v in record.to_row().items() if v is not None}
        if record.ended_at is None:
            ttl = max(60, math.ceil(record.expires_at - record.created_at) + LIVE_KEEP_S)
        else:
            ttl = UNARCHIVED_KEEP_S
        async with self.r.pipeline(transaction=True) as pipe:
            pipe.hset(_conv(record.local_id), mapping=cast(Any, row))
            pipe.expire(_conv(record.local_id), ttl)
            if record.ended_at is not None:
                pipe.zadd(f"{P}unarchived", {record.local_id: record.ended_at})
            if record.live:
                pipe.sadd(f"{P}live", record.local_id)
            if record.ended_at is None:
                pipe.sadd(f"{P}open:{record.widget}", record.local_id)
            elif record.status != "failed":
                for day, part in day_parts(record.created_at, record.ended_at):
                    pipe.incrbyfloat(f"{P}used:{record.widget}:{day}", part)
                    pipe.expire(f"{P}used:{record.widget}:{day}", _USED_TTL)
            pipe.zadd(f"{P}created", {record.local_id: record.created_at})
            pipe.zadd(f"{P}created:{record.widget}", {record.local_id: record.created_at})
            if record.conversation_id:
                pipe.set(f"{P}cid:{record.conversation_id}", record.local_id, ex=ttl)
            await pipe.execute()

    async def activate(self, local_id: str, conversation_id: str, conversation_url: str,
                       outbox: OutboxItem | None = None) -> bool:
        args = [*_queue_args(outbox), conversation_id, conversation_url, local_id]
        return bool(await self._run("activate", [_conv(local_id)], args))

    async def mark_lost(self, local_id: str) -> bool:
        return bool(await self._run("lost", [_conv(local_id)], []))

    async def by_conversation(self, conversation_id: str) -> ConversationRecord | None:
        local_id = await self.r.get(f"{P}cid:{conversation_id}")
        return await self.by_local(str(local_id)) if local_id else None

    async def by_local(self, local_id: str) -> ConversationRecord | None:
        return _record(cast(dict[str, str], await self.r.hgetall(_conv(local_id))))

    async def mark_started(self, local_id: str, at: float, outbox: OutboxItem | None = None) -> bool:
        return bool(await self._run("started", [_conv(local_id)], [*_queue_args(outbox), repr(at)]))

    async def rate(self, local_id: str, rating: str, outbox: OutboxItem | None = None) -> bool:
        return bool(await self._run("rate", [_conv(local_id)], [*_queue_args(outbox), rating]))

    async def touch(self, local_id: str, at: float) -> bool:
        return bool(await self._run("touch", [_conv(local_id)], [repr(at)]))

    async def finish(self, local_id: str, status: str, reason: str, at: float,
                     outbox: OutboxItem | None = None) -> bool:
        args = [*_queue_args(outbox), status, reason, repr(at), local_id]
        return bool(await self._run("finish", [_conv(local_id)], args))

    async def adopt(self, local_id: str, conversation_id: str, reason: str, at: float,
                    outbox: OutboxItem | None = None) -> bool:
        args = [*_queue_args(outbox), "ended", reason, repr(at), local_id, conversation_id]
        return bool(await self._run("adopt", [_conv(local_id)], args))

    async def _records(self, ids: list[str]) -> list[ConversationRecord]:
        async with self.r.pipeline(transaction=False) as pipe:
            for local_id in ids:
                pipe.hgetall(_conv(local_id))
            rows = await pipe.execute()
        return [rec for rec in map(_record, rows) if rec is not None]

    async def live_records(self, widget: str | None = None) -> list[ConversationRecord]:
        found = await self._records(sorted(str(m) for m in await self.r.smembers(f"{P}live")))
        return [r for r in found if r.live and (widget is None or r.widget == widget)]

    async def unarchived(self, limit: int) -> list[ConversationRecord]:
        ids = [str(i) for i in await self.r.zrange(f"{P}unarchived", 0, limit - 1)]
        found = await self._records(ids)
        gone = set(ids) - {r.local_id for r in found}
        if gone:  # expired before history could take it (history was down for UNARCHIVED_KEEP_S)
            await self.r.zrem(f"{P}unarchived", *gone)
        return found

    async def archived(self, local_ids: list[str], keep_s: float) -> None:
        if local_ids:
            await self._run("archived", [], [max(1, math.ceil(keep_s)), *local_ids])

    async def records_since(self, since: float) -> list[ConversationRecord]:
        ids = await self.r.zrangebyscore(f"{P}created", repr(since), "+inf")
        return await self._records([str(i) for i in ids])

    async def hit(self, key: str, window_s: int, limit: int, now: float) -> int:
        start, wait = fixed_window(now, window_s)
        got = await self._run("hit", [f"{P}rate:{key}:{int(start)}"], [limit, wait, window_s + 60])
        return int(got)

    async def seconds_used(self, widget: str, since: float, now: float) -> float:
        if booked_day(since, now):  # today's or yesterday's: the day totals
            days = [f"{P}used:{widget}:{int(since) + k * DAY}" for k in range(SPAN_DAYS)]
            return float(await self._run("used", [f"{P}open:{widget}", *days], [repr(since), repr(now)]))
        return float(await self._run("used_scan", [f"{P}created:{widget}"], [repr(since), repr(now)]))

    async def try_lock(self, name: str, holder: str, ttl_s: float, now: float) -> bool:
        args = [holder, repr(now), repr(now + ttl_s), int(ttl_s * 1000) + LOCK_CLEANUP_MS]
        return bool(await self._run("lock", [f"{P}lock:{name}"], args))

    async def revoke(self, key: str, at: float, until: float, now: float) -> None:
        # "at until": the caller's clock decides (as for the leases); the key's own TTL only cleans up
        await self.r.set(f"{P}revoked:{key}", f"{at!r} {until!r}", px=max(1, math.ceil((until - now) * 1000)))

    async def revocations(self, keys: list[str], now: float) -> dict[str, float]:
        if not keys:
            return {}
        found: dict[str, float] = {}
        for key, value in zip(keys, await self.r.mget([f"{P}revoked:{k}" for k in keys]), strict=True):
            if value is not None:
                at, until = (float(x) for x in str(value).split())
                if until > now:
                    found[key] = at
        return found

    async def outbox_put(self, item: OutboxItem) -> None:
        async with self.r.pipeline(transaction=True) as pipe:
            pipe.hsetnx(f"{P}ob:{item.id}", "body", item.body)
            pipe.hsetnx(f"{P}ob:{item.id}", "attempts", str(item.attempts))
            pipe.zadd(f"{P}outbox", {item.id: item.due_at}, nx=True)
            await pipe.execute()

    async def outbox_claim(self, now: float, limit: int, lease_until: float) -> list[OutboxItem]:
        flat = await self._run("claim", [f"{P}outbox"], [repr(now), limit, repr(lease_until)])
        return [OutboxItem(flat[i], flat[i + 1], lease_until, int(flat[i + 2])) for i in range(0, len(flat), 3)]

    async def outbox_done(self, item_id: str) -> None:
        async with self.r.pipeline(transaction=True) as pipe:
            pipe.zrem(f"{P}outbox", item_id)
            pipe.delete(f"{P}ob:{item_id}")
            await pipe.execute()

    async def outbox_retry(self, item_id: str, due_at: float, attempts: int) -> None:
        async with self.r.pipeline(transaction=True) as pipe:
            pipe.zadd(f"{P}outbox", {item_id: due_at}, xx=True)
            pipe.hset(f"{P}ob:{item_id}", "attempts", str(attempts))
            await pipe.execute()

    async def outbox_size(self) -> int:
        return int(await self.r.zcard(f"{P}outbox"))
