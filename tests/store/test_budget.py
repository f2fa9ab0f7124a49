"""The daily budget read from per-day totals: the same answers as the scan it replaced, at a cost
that does not grow with history, on both stores and on databases made before the totals."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis as sync_redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.store.stores import opened
from widget_server.store import ConversationRecord, Store, open_store
from widget_server.store.base import LIVE
from widget_server.store.redis import RedisStore
from widget_server.store.sqlite import SqliteStore

DAY = 86400
T0 = 1_800_000_000.0
D = T0 - T0 % DAY   # "today"
STORES = ["sqlite", pytest.param("redis", marks=pytest.mark.redis)]


# --- the definition: the scans seconds_used ran before the day totals ------------------------------

def scan(records: list[ConversationRecord], widget: str, since: float, now: float,
         look_back: float | None = None) -> float:
    """The old SQLite query, row by row:

        SUM(MAX(0, COALESCE(ended_at, now) - MAX(created_at, since)))
        WHERE widget = ? AND status != 'failed' AND COALESCE(ended_at, now) > since

    ``look_back``: the old Redis script also only read records created at or after since - look_back.
    """
    total = 0.0
    for r in records:
        if r.widget != widget or r.status == "failed":
            continue
        if look_back is not None and r.created_at < since - look_back:
            continue
        stop = r.ended_at if r.ended_at is not None else now
        if stop > since:
            total += max(0.0, stop - max(r.created_at, since))
    return total


def rec(local_id: str, widget: str, created: float, status: str = "creating",
        ended: float | None = None) -> ConversationRecord:
    return ConversationRecord(local_id=local_id, widget=widget, status=status, created_at=created,
                              expires_at=created + 600, ended_at=ended)


# --- random histories ---------------------------------------------------------------------------

FATES = ("creating", "active", "lost", "ended", "expired", "failed", "failed_adopted", "lost_adopted",
         "creating_adopted", "finished_twice", "inserted_ended", "inserted_failed")


@dataclass(frozen=True)
class Conv:
    widget: str
    created: float
    fate: str
    duration: float
    later: float


offsets = st.one_of(
    st.floats(-2 * DAY, DAY, allow_nan=False),
    st.sampled_from([-DAY, -DAY + 0.5, -1.0, 0.0, 0.25, DAY - 1, -2 * DAY]),  # at and around midnight
)
durations = st.one_of(
    st.floats(0, 3600, allow_nan=False),
    st.floats(0, 2 * DAY, allow_nan=False),
    st.floats(-600, 0, allow_nan=False),                                        # a skewed clock
    st.sampled_from([0.0, DAY, 1.0]),
)
convs = st.builds(Conv, widget=st.sampled_from(["w", "w", "v"]), created=offsets.map(lambda o: D + o),
                  fate=st.sampled_from(FATES), duration=durations,
                  later=st.one_of(st.just(0.0), st.floats(0, DAY, allow_nan=False)))
nows = st.lists(st.one_of(st.floats(0, DAY - 1e-3, allow_nan=False), st.sampled_from([0.0, 1.0, DAY / 2])),
                min_size=1, max_size=3)


async def play(store: Store, history: list[Conv]) -> list[ConversationRecord]:
    for i, c in enumerate(history):
        lid, cid, end = f"l{i}", f"c{i}", c.created + c.duration
        if c.fate == "inserted_ended":
            await store.insert(rec(lid, c.widget, c.created, "ended", end))
            continue
        if c.fate == "inserted_failed":
            await store.insert(rec(lid, c.widget, c.created, "failed"))
            continue
        await store.insert(rec(lid, c.widget, c.created))
        if c.fate in ("active", "ended", "expired", "finished_twice"):
            await store.activate(lid, cid, f"https://room/{cid}")
        if c.fate in ("lost", "lost_adopted"):
            assert await store.mark_lost(lid)
        if c.fate in ("ended", "expired", "finished_twice"):
            assert await store.finish(lid, "ended" if c.fate != "expired" else "expired", "r", end)
        if c.fate == "finished_twice":
            assert not await store.finish(lid, "ended", "again", end + c.later)
        if c.fate in ("failed", "failed_adopted"):
            assert await store.finish(lid, "failed", "engine_rejected", end)
        if c.fate == "failed_adopted":
            assert await store.adopt(lid, cid, "reconciled_orphan", end + c.later)
        if c.fate in ("lost_adopted", "creating_adopted"):
            assert await store.adopt(lid, cid, "reconciled_lost_answer", end)
    records = [await store.by_local(f"l{i}") for i in range(len(history))]
    assert all(r is not None for r in records)
    return [r for r in records if r is not None]


def fresh_url(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / f'{uuid.uuid4().hex}.db'}"
    from widget_server.testing.procs import flush

    url: str = request.getfixturevalue("redis_service")
    flush(url)
    return url


@pytest.mark.parametrize("kind", STORES)
@settings(max_examples=80, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(history=st.lists(convs, max_size=25), now_offsets=nows)
def test_seconds_used_equals_the_old_scan(kind: str, request: pytest.FixtureRequest, tmp_path: Path,
                                          history: list[Conv], now_offsets: list[float]) -> None:
    url = fresh_url(kind, request, tmp_path)

    async def check() -> None:
        async with opened(open_store(url)) as store:
            records = await play(store, history)
            for widget in ("w", "v", "unknown"):
                for off in now_offsets:
                    now = D + off
                    for since in (D, D - DAY):   # today and yesterday: the day totals
                        got = await store.seconds_used(widget, since, now)
                        assert got == pytest.approx(scan(records, widget, since, now), rel=1e-9, abs=1e-5)
                    # any other since: the scan itself (on Redis, with its look-back, as before)
                    look_back = DAY if kind == "redis" else None
                    for since in (D + 1234.5, D - 3 * DAY, now + 1):
                        got = await store.seconds_used(widget, since, now)
                        assert got == pytest.approx(scan(records, widget, since, now, look_back), abs=1e-5)

    asyncio.run(check())


@pytest.mark.anyio
@pytest.mark.parametrize("kind", STORES)
async def test_ending_across_midnight_and_adopting_a_failed_one(kind: str, request: pytest.FixtureRequest,
                                                               tmp_path: Path) -> None:
    async with opened(open_store(fresh_url(kind, request, tmp_path))) as store:
        await store.insert(rec("a", "w", D - 3600))            # yesterday 1 h, today 0.5 h
        await store.finish("a", "ended", "x", D + 1800)
        await store.insert(rec("b", "w", D + 100))
        await store.finish("b", "failed", "engine_rejected", D + 110)
        assert await store.seconds_used("w", D, D + 5000) == pytest.approx(1800)
        assert await store.seconds_used("w", D - DAY, D + 5000) == pytest.approx(5400)
        await store.adopt("b", "cb", "reconciled_orphan", D + 400)   # failed -> ended: now it counts
        assert await store.seconds_used("w", D, D + 5000) == pytest.approx(1800 + 300)
        await store.insert(rec("c", "w", D + 4000))                   # live: up to now
        await store.insert(rec("d", "w", D + 4000))
        assert await store.mark_lost("d")                             # lost: still counts, as before
        assert await store.seconds_used("w", D, D + 5000) == pytest.approx(1800 + 300 + 2 * 1000)
        assert await store.seconds_used("v", D, D + 5000) == 0


# --- databases made by the previous version --------------------------------------------------------

OLD_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    local_id TEXT PRIMARY KEY,
    widget TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    origin TEXT NOT NULL DEFAULT '',
    client_ip TEXT NOT NULL DEFAULT '',
    conversation_id TEXT UNIQUE,
    conversation_url TEXT NOT NULL DEFAULT '',
    started_at REAL,
    ended_at REAL,
    end_reason TEXT,
    last_seen REAL
);
CREATE INDEX IF NOT EXISTS conversations_live ON conversations (status, widget);
CREATE INDEX IF NOT EXISTS conversations_created ON conversations (widget, created_at);
CREATE TABLE IF NOT EXISTS slots (
    widget TEXT NOT NULL,
    holder TEXT NOT NULL,
    lease_until REAL NOT NULL,
    PRIMARY KEY (widget, holder)
);
CREATE TABLE IF NOT EXISTS counters (
    key TEXT PRIMARY KEY,
    window_start REAL NOT NULL,
    count INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS locks (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    due_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (due_at);
"""
OLD_SQLITE_USED = ("SELECT COALESCE(SUM(MAX(0, COALESCE(ended_at, ?) - MAX(created_at, ?))), 0) "
                   "FROM conversations WHERE widget = ? AND status != 'failed' AND COALESCE(ended_at, ?) > ?")
OLD_ROWS = [  # local_id, widget, status, created_at, ended_at
    ("o1", "w", "ended", D - 7200, D + 600),       # across midnight: 600 s today
    ("o2", "w", "ended", D + 1000, D + 1300),
    ("o3", "w", "expired", D + 2000, D + 2600),
    ("o4", "w", "failed", D + 3000, D + 3001),
    ("o5", "w", "active", D + 4000, None),
    ("o6", "w", "lost", D + 4100, None),
    ("o7", "v", "ended", D + 100, D + 200),
    ("o8", "w", "ended", D - 3 * DAY, D - 3 * DAY + 60),
    ("o9", "w", "ended", D - DAY + 10, D - DAY + 70),   # yesterday
]


def old_sqlite_used(path: Path, widget: str, since: float, now: float) -> float:
    db = sqlite3.connect(path)
    try:
        return float(db.execute(OLD_SQLITE_USED, (now, since, widget, now, since)).fetchone()[0])
    finally:
        db.close()


@pytest.mark.anyio
async def test_an_old_sqlite_database_reports_the_same_use(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(OLD_SQLITE_SCHEMA)
    db.executemany("INSERT INTO conversations (local_id, widget, status, created_at, expires_at, ended_at) "
                   "VALUES (?, ?, ?, ?, ?, ?)", [(*r[:4], r[3] + 600, r[4]) for r in OLD_ROWS])
    db.close()
    queries = [(w, since, D + 5000) for w in ("w", "v") for since in (D, D - DAY)]
    before = [old_sqlite_used(path, *q) for q in queries]
    assert before[0] == pytest.approx(600 + 300 + 600 + 1000 + 900)

    async with opened(SqliteStore(str(path))) as store:
        assert [await store.seconds_used(*q) for q in queries] == pytest.approx(before)
        # an instance still on the old version ends one on the same file: the triggers book it
        old = sqlite3.connect(path, isolation_level=None)
        old.execute("UPDATE conversations SET status = 'ended', end_reason = 'x', ended_at = ? "
                    f"WHERE local_id = 'o5' AND status IN {LIVE!r}", (D + 4500,))
        old.close()
        await store.finish("o6", "ended", "x", D + 4700)
        after = [old_sqlite_used(path, *q) for q in queries]
        assert after[0] == pytest.approx(before[0] - 1000 + 500 - 900 + 600)
        assert [await store.seconds_used(*q) for q in queries] == pytest.approx(after)
    async with opened(SqliteStore(str(path))) as reopened:  # the totals are built once, not again at every open
        assert [await reopened.seconds_used(*q) for q in queries] == pytest.approx(after)


def old_redis_write(r: sync_redis.Redis, local_id: str, widget: str, status: str, created: float,
                    ended: float | None) -> None:
    """What the previous version's insert and finish left in Redis: no open set, no day totals."""
    row = {"local_id": local_id, "widget": widget, "status": status, "created_at": repr(created),
           "expires_at": repr(created + 600)}
    if ended is not None:
        row["ended_at"] = repr(ended)
    r.hset(f"ws:conv:{local_id}", mapping=row)
    if status in LIVE:
        r.sadd("ws:live", local_id)
    r.zadd("ws:created", {local_id: created})
    r.zadd(f"ws:created:{widget}", {local_id: created})


@pytest.mark.anyio
@pytest.mark.redis
async def test_an_old_redis_database_reports_the_same_use(redis_url: str) -> None:
    with sync_redis.Redis.from_url(redis_url, decode_responses=True) as r:
        for local_id, widget, status, created, ended in OLD_ROWS:
            old_redis_write(r, local_id, widget, status, created, ended)
        async with opened(RedisStore(redis_url)) as store:
            records = [x for x in [await store.by_local(row[0]) for row in OLD_ROWS] if x is not None]
            for widget in ("w", "v"):
                for since in (D, D - DAY):
                    expected = scan(records, widget, since, D + 5000)
                    assert await store.seconds_used(widget, since, D + 5000) == pytest.approx(expected)
            # one created by this version and ended by an instance still on the old one
            await store.insert(rec("n1", "w", D + 4200))
            r.hset("ws:conv:n1", mapping={"status": "ended", "end_reason": "x", "ended_at": repr(D + 4300)})
            r.srem("ws:live", "n1")
            records.append(rec("n1", "w", D + 4200, "ended", D + 4300))
            for _ in range(2):  # the first read books it and drops it from the open set
                assert await store.seconds_used("w", D, D + 5000) == pytest.approx(scan(records, "w", D, D + 5000))
            assert not r.sismember("ws:open:w", "n1")


# --- the cost does not grow with history -------------------------------------------------------------

async def build(store: Store, past: int) -> None:
    """``past`` finished conversations yesterday and today (some across midnight, some failed), 3 live."""
    for i in range(past):
        created = D - DAY / 2 + i * (DAY / past)
        await store.insert(rec(f"p{i}", "w", created))
        await store.finish(f"p{i}", "failed" if i % 7 == 0 else "ended", "x", created + 900)
        await store.insert(rec(f"q{i}", "other", created))
        await store.finish(f"q{i}", "ended", "x", created + 900)
    for i in range(3):
        await store.insert(rec(f"live{i}", "w", D + DAY / 2 + i))
    await store.insert(rec("ending", "w", D + DAY / 2 + 10))


class VmSteps:
    """Counts the SQLite virtual machine instructions (and statements) a call executes."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db, self.steps = db, 0
        self.statements: list[str] = []

    def _step(self) -> int:
        self.steps += 1
        return 0

    async def __call__(self, call: Callable[[], Any]) -> int:
        self.steps = 0
        self.statements.clear()
        self.db.set_progress_handler(self._step, 1)
        self.db.set_trace_callback(self.statements.append)
        try:
            await call()
        finally:
            self.db.set_progress_handler(None, 1)
            self.db.set_trace_callback(None)
        return self.steps


@pytest.mark.anyio
async def test_sqlite_work_per_create_does_not_grow_with_history(tmp_path: Path) -> None:
    now = D + DAY / 2 + 100
    costs = []
    for past in (20, 400):
        store = SqliteStore(str(tmp_path / f"h{past}.db"))
        await store.open()
        await build(store, past)
        assert await store.seconds_used("w", D, now) == pytest.approx(
            scan(await store.records_since(0), "w", D, now))
        vm = VmSteps(store.db)
        used = await vm(lambda s=store: s.seconds_used("w", D, now))
        for sql in vm.statements:   # each statement it ran, with its values: no scan of conversations
            plan = " | ".join(row[3] for row in store.db.execute(f"EXPLAIN QUERY PLAN {sql}"))
            assert "SCAN conversations" not in plan and "conversations_open" in plan, plan
        slot = await vm(lambda s=store: s.acquire_slot("w", 10, "live0", now + 900, now))
        for sql in vm.statements:
            if "slots" in sql and "FROM slots" in sql:
                plan = " | ".join(row[3] for row in store.db.execute(f"EXPLAIN QUERY PLAN {sql}"))
                assert "SCAN slots" not in plan, plan
        end = await vm(lambda s=store: s.finish("ending", "ended", "x", now))
        scanned = await vm(lambda s=store: s.seconds_used("w", D + 1, now))  # not a day start: the scan
        costs.append((used, slot, end, scanned))
        await store.close()
    (used_s, slot_s, end_s, scan_s), (used_l, slot_l, end_l, scan_l) = costs
    assert (used_s, slot_s, end_s) == (used_l, slot_l, end_l)
    assert scan_l > 5 * scan_s   # the measure does see history where it is read


@pytest.mark.anyio
@pytest.mark.redis
async def test_redis_budget_reads_only_the_live_records(redis_url: str) -> None:
    r = sync_redis.Redis.from_url(redis_url, decode_responses=True)
    now = D + DAY / 2 + 100
    calls = []
    try:
        for past in (20, 400):
            r.flushall()
            store = RedisStore(redis_url)
            await store.open()
            await build(store, past)
            await store.finish("ending", "ended", "x", now)
            records = [x for x in [await store.by_local(i) for i in map(str, r.zrange("ws:created", 0, -1))] if x]
            r.config_resetstat()
            assert await store.seconds_used("w", D, now) == pytest.approx(scan(records, "w", D, now))
            stats = r.info("commandstats")
            await store.close()
            # the commands the script ran (EVALSHA itself, loading the script, and the INFO aside)
            ran = {k.removeprefix("cmdstat_"): v["calls"] for k, v in stats.items()
                   if k not in ("cmdstat_evalsha", "cmdstat_eval", "cmdstat_config", "cmdstat_info")
                   and not k.startswith("cmdstat_script")}
            assert ran.get("hmget") == 3, ran          # the three live records, nothing else
            assert "zrangebyscore" not in ran and "hgetall" not in ran, ran
            calls.append(ran)
        assert calls[0] == calls[1]
    finally:
        r.close()


@pytest.mark.anyio
async def test_old_sqlite_day_totals_are_deleted(tmp_path: Path) -> None:
    async with opened(SqliteStore(str(tmp_path / "p.db"))) as store:
        for day in range(8):
            await store.insert(rec(f"d{day}", "w", D + day * DAY + 10))
            await store.finish(f"d{day}", "ended", "x", D + day * DAY + 70)
        await store.insert(rec("v", "v", D + 10))
        await store.finish("v", "ended", "x", D + 70)
        days = [row[0] for row in store.db.execute("SELECT day FROM budget_days WHERE widget = 'w' ORDER BY day")]
        assert days == [int(D) + k * DAY for k in range(3, 8)]       # the last day and the 4 before it
        assert await store.seconds_used("w", D + 7 * DAY, D + 7 * DAY + 100) == pytest.approx(60)
        assert store.db.execute("SELECT COUNT(*) FROM budget_days WHERE widget = 'v'").fetchone()[0] == 1


@pytest.mark.anyio
@pytest.mark.redis
async def test_redis_day_totals_expire(redis_url: str) -> None:
    async with opened(RedisStore(redis_url)) as store:
        with sync_redis.Redis.from_url(redis_url, decode_responses=True) as r:
            await store.insert(rec("a", "w", D - 60))
            await store.finish("a", "ended", "x", D + 60)
            await store.insert(rec("b", "w", D - 60, "ended", D + 30))
            keys = sorted(r.scan_iter("ws:used:*"))
            assert keys == [f"ws:used:w:{int(D) - DAY}", f"ws:used:w:{int(D)}"]
            assert all(0 < r.ttl(k) <= 5 * DAY for k in keys)
            assert float(r.get(f"ws:used:w:{int(D)}") or 0) == pytest.approx(90)
