"""The waiting line on Redis: every step one Lua script, so instances on one Redis see one line.

``ws:line:<widget>`` orders the entries (score: ``seq``, from ``ws:line:seq``), each a hash ``ws:q:<id>``;
an offered entry's slot is a member of ``ws:slots:<widget>`` named by its queue id, so every slot count
sees it. Departures wait in ``ws:line:gone`` until an instance drains them (webhooks, metrics).
"""

from __future__ import annotations

from typing import Any

from widget_server.store.base import LINE_KEEP_S, Departure, LineEntry, LinePlace

P = "ws:"
LAPSED_CLAIM_GRACE_S = 30  # as sqlite_line: presence given back to an entry whose claim lapsed

# prune(widget, now, nows): drops what ran out (see sqlite_line.prune_line); waiting(widget): how many wait.
LINE_LUA = f"""
local function depart(widget, id, reason, nows)
  local key = '{P}q:' .. id
  redis.call('ZREM', '{P}line:' .. widget, id)
  redis.call('ZREM', '{P}slots:' .. widget, id)
  local joined = redis.call('HGET', key, 'joined_at') or nows
  redis.call('HSET', key, 'state', 'left', 'reason', reason)
  redis.call('HDEL', key, 'payload')
  redis.call('EXPIRE', key, {LINE_KEEP_S})
  redis.call('RPUSH', '{P}line:gone', id .. '|' .. widget .. '|' .. reason .. '|' .. joined .. '|' .. nows)
end
local function prune(widget, now, nows)
  local line = '{P}line:' .. widget
  local ids = redis.call('ZRANGE', line, 0, -1)
  for _, id in ipairs(ids) do
    local key = '{P}q:' .. id
    local e = redis.call('HMGET', key, 'state', 'seen_until', 'turn_until', 'wait_until')
    if not e[1] or e[1] == 'left' then
      redis.call('ZREM', line, id)
    elseif e[1] == 'serving' then
      if tonumber(e[3]) <= now then
        local seen = math.max(tonumber(e[2]), now + {LAPSED_CLAIM_GRACE_S})
        redis.call('HSET', key, 'state', 'waiting', 'holder', '', 'turn_until', '0',
                   'seen_until', string.format('%.17g', seen))
      end
    else
      local reason = nil
      if e[1] == 'offered' and tonumber(e[3]) <= now then reason = 'turn_missed'
      elseif tonumber(e[2]) <= now then reason = 'gone'
      elseif e[1] == 'waiting' and tonumber(e[4]) <= now then reason = 'expired' end
      if reason then depart(widget, id, reason, nows) end
    end
  end
  return redis.call('ZRANGE', line, 0, -1)
end
local function waiting(ids)
  local n = 0
  for _, id in ipairs(ids) do
    if redis.call('HGET', '{P}q:' .. id, 'state') == 'waiting' then n = n + 1 end
  end
  return n
end
local function free(widget, limit, nows)
  local slots = '{P}slots:' .. widget
  redis.call('ZREMRANGEBYSCORE', slots, '-inf', nows)
  return limit - redis.call('ZCARD', slots)
end
local function place(widget, id, now, nows)
  local ids = prune(widget, now, nows)
  local pos = 0
  for _, other in ipairs(ids) do
    local st = redis.call('HGET', '{P}q:' .. other, 'state')
    if st == 'waiting' then pos = pos + 1 end
    if other == id then
      if st ~= 'waiting' then pos = 0 end
      return {{st, pos, #ids, ''}}
    end
  end
  local e = redis.call('HMGET', '{P}q:' .. id, 'state', 'reason', 'widget')
  if e[1] == 'left' and e[3] == widget then return {{'left', 0, #ids, e[2]}} end
  return {{'', 0, #ids, ''}}
end
"""

# ARGV: widget, now, limit, holder, lease_until, max_length, then the entry's fields as name, value pairs.
_ENTER = LINE_LUA + f"""
local widget, nows = ARGV[1], ARGV[2]
local now = tonumber(nows)
local ids = prune(widget, now, nows)
local n = waiting(ids)
if n == 0 and free(widget, tonumber(ARGV[3]), nows) > 0 then
  redis.call('ZADD', '{P}slots:' .. widget, ARGV[5], ARGV[4])
  return 0
end
if #ids >= tonumber(ARGV[6]) then return -1 end
local seq = redis.call('INCR', '{P}line:seq')
local fields = {{}}
local id
for i = 7, #ARGV, 2 do
  if ARGV[i] == 'queue_id' then id = ARGV[i + 1] end
  table.insert(fields, ARGV[i]); table.insert(fields, ARGV[i + 1])
end
local key = '{P}q:' .. id
redis.call('HSET', key, 'seq', seq, 'state', 'waiting', unpack(fields))
local wait_until = tonumber(redis.call('HGET', key, 'wait_until'))
redis.call('EXPIRE', key, math.max(60, math.ceil(wait_until - now)) + {LINE_KEEP_S})
redis.call('ZADD', '{P}line:' .. widget, seq, id)
return n + 1
"""

# ARGV: widget, now, limit, turn_until
_ADVANCE = LINE_LUA + f"""
local widget, nows = ARGV[1], ARGV[2]
local now = tonumber(nows)
local ids = prune(widget, now, nows)
local out = {{}}
if waiting(ids) == 0 then return out end
local left = free(widget, tonumber(ARGV[3]), nows)
for _, id in ipairs(ids) do
  local key = '{P}q:' .. id
  local e = redis.call('HMGET', key, 'state', 'hold_until', 'holder')
  if e[1] == 'serving' and not redis.call('ZSCORE', '{P}slots:' .. widget, e[3]) then break end
  if e[1] == 'waiting' then
    if left <= 0 or tonumber(e[2] or '0') > now then break end
    redis.call('HSET', key, 'state', 'offered', 'turn_until', ARGV[4])
    redis.call('ZADD', '{P}slots:' .. widget, ARGV[4], id)
    table.insert(out, id)
    left = left - 1
  end
end
return out
"""

# ARGV: widget, now, queue_id, holder, lease_until, claim_until
_CLAIM = LINE_LUA + f"""
local widget, nows = ARGV[1], ARGV[2]
prune(widget, tonumber(nows), nows)
local key = '{P}q:' .. ARGV[3]
if redis.call('HGET', key, 'state') ~= 'offered' or redis.call('HGET', key, 'widget') ~= widget then return 0 end
redis.call('ZREM', '{P}slots:' .. widget, ARGV[3])
redis.call('ZADD', '{P}slots:' .. widget, ARGV[5], ARGV[4])
redis.call('HSET', key, 'state', 'serving', 'holder', ARGV[4], 'turn_until', ARGV[6])
return 1
"""

# ARGV: widget, now, queue_id, hold_until, seen_until
_REQUEUE = f"""
local key = '{P}q:' .. ARGV[3]
if redis.call('HGET', key, 'state') ~= 'serving' or redis.call('HGET', key, 'widget') ~= ARGV[1] then return 0 end
local seen = math.max(tonumber(redis.call('HGET', key, 'seen_until')), tonumber(ARGV[5]))
redis.call('HSET', key, 'state', 'waiting', 'holder', '', 'turn_until', '0', 'hold_until', ARGV[4],
           'seen_until', string.format('%.17g', seen))
return 1
"""

# ARGV: widget, now, queue_id, reason
_LEAVE = LINE_LUA + """
local widget, nows = ARGV[1], ARGV[2]
prune(widget, tonumber(nows), nows)
local st = redis.call('HMGET', '""" + P + """q:' .. ARGV[3], 'state', 'widget')
if not st[1] or st[1] == 'left' or st[2] ~= widget then return 0 end
depart(widget, ARGV[3], ARGV[4], nows)
return 1
"""

# ARGV: widget, now, queue_id, seen_until ('' to only read)
_TOUCH = LINE_LUA + f"""
local widget, nows = ARGV[1], ARGV[2]
local now = tonumber(nows)
local key = '{P}q:' .. ARGV[3]
if ARGV[4] ~= '' and redis.call('HGET', key, 'widget') == widget then
  local e = redis.call('HMGET', key, 'state', 'seen_until')
  if (e[1] == 'waiting' or e[1] == 'offered') and tonumber(e[2]) > now and tonumber(e[2]) < tonumber(ARGV[4]) then
    redis.call('HSET', key, 'seen_until', ARGV[4])
  end
end
return place(widget, ARGV[3], now, nows)
"""

# ARGV: widget, now
_LENGTH = LINE_LUA + """
return #prune(ARGV[1], tonumber(ARGV[2]), ARGV[2])
"""

# ARGV: widget, now, then the fields to read of each entry
_ENTRIES = LINE_LUA + f"""
local out = {{}}
for _, id in ipairs(prune(ARGV[1], tonumber(ARGV[2]), ARGV[2])) do
  table.insert(out, redis.call('HMGET', '{P}q:' .. id, unpack(ARGV, 3)))
end
return out
"""

# ARGV: limit
_GONE = f"""
local out = redis.call('LRANGE', '{P}line:gone', 0, tonumber(ARGV[1]) - 1)
redis.call('LTRIM', '{P}line:gone', #out, -1)
return out
"""

LINE_SCRIPTS = {"line_enter": _ENTER, "line_advance": _ADVANCE, "line_claim": _CLAIM, "line_requeue": _REQUEUE,
                "line_leave": _LEAVE, "line_touch": _TOUCH, "line_length": _LENGTH, "line_entries": _ENTRIES,
                "line_gone": _GONE}
_FLOATS = {"joined_at", "seen_until", "wait_until", "turn_until", "hold_until"}
_SHOWN = tuple(name for name in LineEntry.__dataclass_fields__ if name != "payload")


def _entry(row: dict[str, str]) -> LineEntry | None:
    if not row.get("queue_id"):
        return None
    values: dict[str, Any] = {}
    for name in LineEntry.__dataclass_fields__:
        raw = row.get(name)
        if raw is not None:
            values[name] = float(raw) if name in _FLOATS else int(raw) if name == "seq" else raw
    return LineEntry(**values)


class RedisLine:
    """The line's half of :class:`~widget_server.store.redis.RedisStore` (which provides ``_run`` and ``r``)."""

    async def _run(self, name: str, keys: list[str], args: list[Any]) -> Any:
        raise NotImplementedError

    async def _hash(self, queue_id: str) -> dict[str, str]:
        raise NotImplementedError

    async def line_enter(self, entry: LineEntry, limit: int, holder: str, lease_until: float, max_length: int,
                         now: float) -> int:
        fields: list[Any] = []
        for name in LineEntry.__dataclass_fields__:
            if name not in ("seq", "state"):
                value = getattr(entry, name)
                fields += [name, repr(value) if isinstance(value, float) else str(value)]
        args = [entry.widget, repr(now), limit, holder, repr(lease_until), max_length, *fields]
        return int(await self._run("line_enter", [], args))

    async def line_advance(self, widget: str, limit: int, turn_until: float, now: float) -> list[str]:
        return [str(i) for i in await self._run("line_advance", [], [widget, repr(now), limit, repr(turn_until)])]

    async def line_claim(self, widget: str, queue_id: str, holder: str, lease_until: float, claim_until: float,
                         now: float) -> bool:
        args = [widget, repr(now), queue_id, holder, repr(lease_until), repr(claim_until)]
        return bool(await self._run("line_claim", [], args))

    async def line_requeue(self, widget: str, queue_id: str, hold_until: float, seen_until: float,
                           now: float) -> bool:
        args = [widget, repr(now), queue_id, repr(hold_until), repr(seen_until)]
        return bool(await self._run("line_requeue", [], args))

    async def line_leave(self, widget: str, queue_id: str, reason: str, now: float) -> bool:
        return bool(await self._run("line_leave", [], [widget, repr(now), queue_id, reason]))

    async def _place(self, widget: str, queue_id: str, seen: str, now: float) -> LinePlace:
        state, position, length, reason = await self._run("line_touch", [], [widget, repr(now), queue_id, seen])
        entry = _entry(await self._hash(queue_id)) if state else None
        return LinePlace(str(state), int(position), int(length), str(reason), entry)

    async def line_touch(self, widget: str, queue_id: str, seen_until: float, now: float) -> LinePlace:
        return await self._place(widget, queue_id, repr(seen_until), now)

    async def line_place(self, widget: str, queue_id: str, now: float) -> LinePlace:
        return await self._place(widget, queue_id, "", now)

    async def line_length(self, widget: str, now: float) -> int:
        return int(await self._run("line_length", [], [widget, repr(now)]))

    async def line_entries(self, widget: str, now: float) -> list[LineEntry]:
        out = []
        for values in await self._run("line_entries", [], [widget, repr(now), *_SHOWN]):
            found = _entry({k: v for k, v in zip(_SHOWN, values, strict=True) if v is not None})
            if found is not None:
                out.append(found)
        return out

    async def line_departures(self, limit: int) -> list[Departure]:
        out = []
        for raw in await self._run("line_gone", [], [limit]):
            queue_id, widget, reason, joined, at = str(raw).rsplit("|", 4)
            out.append(Departure(queue_id, widget, reason, float(joined), float(at)))
        return out
