"""One contract, two stores: SQLite on a temp file and a real redis-server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from widget_server.store import ConversationRecord, Store, open_store
from widget_server.store.base import OutboxItem
from widget_server.store.redis import connect

pytestmark = pytest.mark.anyio
T0 = 1_800_000_000.0


@pytest.fixture(params=["sqlite", *(pytest.param(kind, marks=pytest.mark.redis)
                                     for kind in ("redis", "redis-sentinel", "redis-tls"))])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """The same store contract on SQLite, Redis, Redis reached through a real Sentinel, and Redis over TLS."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 's.db'}"
    else:
        url = request.getfixturevalue({"redis": "redis_url", "redis-sentinel": "sentinel_service",
                                       "redis-tls": "redis_tls_service"}[request.param])
        client, sentinels = connect(url)
        await client.flushall()
        for c in (client, *sentinels):
            await c.aclose()
    s = open_store(url)
    await s.open()
    yield s
    await s.close()


def rec(local_id: str, widget: str = "w", created: float = T0, status: str = "creating") -> ConversationRecord:
    return ConversationRecord(local_id=local_id, widget=widget, status=status, created_at=created,
                              expires_at=created + 600, origin="https://a.test", client_ip="203.0.113.1")


def item(n: int, due: float = T0) -> OutboxItem:
    return OutboxItem(f"evt_{n}", f'{{"n": {n}}}', due)


async def test_record_round_trip_and_lookups(store: Store) -> None:
    assert await store.ping()
    await store.insert(rec("l1"))
    got = await store.by_local("l1")
    assert got == rec("l1")
    assert await store.activate("l1", "c1", "https://room/c1", item(1))
    assert not await store.activate("l1", "c2", "https://room/c2", item(2))
    got = await store.by_conversation("c1")
    assert got is not None and got.status == "active" and got.conversation_url == "https://room/c1"
    assert await store.by_local("nope") is None and await store.by_conversation("nope") is None
    assert [i.id for i in await store.outbox_claim(T0, 10, T0 + 30)] == ["evt_1"]


async def test_slots_are_atomic_and_leased(store: Store) -> None:
    results = await asyncio.gather(*(store.acquire_slot("w", 3, f"h{i}", T0 + 100, T0) for i in range(20)))
    assert sum(results) == 3
    assert await store.live_slots("w", T0) == 3
    assert await store.acquire_slot("w", 3, "h0", T0 + 200, T0) == results[0]  # a holder renews its own
    assert await store.live_slots("other", T0) == 0
    # past every lease, the slots are free again: a crashed holder cannot keep one
    await store.insert(rec("late", created=T0 + 300))
    assert await store.acquire_slot("w", 3, "late", T0 + 500, T0 + 300)
    assert await store.live_slots("w", T0 + 300) == 1
    await store.finish("late", "ended", "done", T0 + 301)  # what frees a slot before its lease ends
    assert await store.live_slots("w", T0 + 300) == 0


async def test_finish_frees_slot_once_and_queues_its_event(store: Store) -> None:
    await store.insert(rec("l1"))
    assert await store.acquire_slot("w", 1, "l1", T0 + 900, T0)
    await store.activate("l1", "c1", "u")
    results = await asyncio.gather(*(store.finish("l1", "ended", f"r{i}", T0 + 5, item(i)) for i in range(5)))
    assert sorted(results) == [False] * 4 + [True]
    assert await store.live_slots("w", T0) == 0
    assert await store.outbox_size() == 1
    got = await store.by_local("l1")
    assert got is not None and got.status == "ended" and got.ended_at == T0 + 5 and not got.live
    assert await store.live_records() == []


async def test_started_touch_lost_and_adopt(store: Store) -> None:
    await store.insert(rec("l1"))
    await store.activate("l1", "c1", "u")
    assert await store.mark_started("l1", T0 + 1, item(1))
    assert not await store.mark_started("l1", T0 + 2, item(2))
    assert await store.touch("l1", T0 + 3)
    assert await store.touch("l1", T0 + 2)  # an older beat never moves last_seen back
    got = await store.by_local("l1")
    assert got is not None and got.started_at == T0 + 1 and got.last_seen == T0 + 3
    await store.insert(rec("l2"))
    assert await store.acquire_slot("w", 5, "l2", T0 + 900, T0)
    assert await store.mark_lost("l2")
    assert not await store.mark_lost("l1")
    assert {r.local_id for r in await store.live_records("w")} == {"l1", "l2"}
    assert await store.live_slots("w", T0) == 1  # a lost answer keeps its slot
    assert await store.adopt("l2", "c2", "reconciled_lost_answer", T0 + 9, item(3))
    assert not await store.adopt("l2", "c2", "again", T0 + 10, item(4))
    assert not await store.adopt("l1", "c1", "active ones are not orphans", T0 + 9)
    got = await store.by_conversation("c2")
    assert got is not None and got.status == "ended" and got.end_reason == "reconciled_lost_answer"
    assert await store.live_slots("w", T0) == 0
    assert not await store.touch("l2", T0 + 11)
    assert {i.id for i in await store.outbox_claim(T0, 10, T0 + 30)} == {"evt_1", "evt_3"}


async def test_failed_record_can_be_adopted(store: Store) -> None:
    await store.insert(rec("l1"))
    assert await store.finish("l1", "failed", "engine_timeout", T0 + 1)
    assert await store.adopt("l1", "c9", "reconciled_orphan", T0 + 4)
    got = await store.by_local("l1")
    assert got is not None and got.conversation_id == "c9" and got.seconds_live(T0 + 100) == 4


async def test_rate_counter_window(store: Store) -> None:
    hits = await asyncio.gather(*(store.hit("ip:w:1.2.3.4", 3600, 5, T0 + 10) for _ in range(12)))
    assert hits.count(0) == 5
    assert all(0 < h <= 3600 for h in hits if h)
    assert await store.hit("ip:w:5.6.7.8", 3600, 5, T0 + 10) == 0
    next_window = T0 - (T0 % 3600) + 3600
    assert await store.hit("ip:w:1.2.3.4", 3600, 5, next_window) == 0


async def test_seconds_used_counts_live_up_to_now_and_skips_failed(store: Store) -> None:
    day = T0 - (T0 % 86400)
    await store.insert(rec("old", created=day - 100))   # spans midnight: 50 s count today
    await store.finish("old", "ended", "x", day + 50)
    await store.insert(rec("done", created=day + 1000))
    await store.finish("done", "ended", "x", day + 1060)
    await store.insert(rec("live", created=day + 2000))
    await store.insert(rec("fail", created=day + 2000))
    await store.finish("fail", "failed", "engine_rejected", day + 2001)
    await store.insert(rec("other", widget="v", created=day + 2000))
    assert await store.seconds_used("w", day, day + 2030) == pytest.approx(50 + 60 + 30)


async def test_records_since_in_order(store: Store) -> None:
    for i, t in enumerate((T0 + 5, T0 + 1, T0 + 3)):
        await store.insert(rec(f"l{i}", created=t))
    assert [r.local_id for r in await store.records_since(T0 + 2)] == ["l2", "l0"]


async def test_lock_is_exclusive_until_it_expires(store: Store) -> None:
    assert await store.try_lock("sweep", "a", 0.3, T0)
    assert await store.try_lock("sweep", "a", 0.3, T0)   # renew
    assert not await store.try_lock("sweep", "b", 0.3, T0)
    assert await store.try_lock("other", "b", 0.3, T0)
    assert not await store.try_lock("sweep", "b", 0.3, T0 + 0.29)  # time is the caller's clock
    assert await store.try_lock("sweep", "b", 0.3, T0 + 0.35)


async def test_revocations_are_shared_until_they_are_forgotten(store: Store) -> None:
    assert await store.revocations([], T0) == {}
    await store.revoke("admin-session:s1", T0, T0 + 100, T0)
    await store.revoke("admin-operator:ada", T0 + 5, T0 + 200, T0 + 5)
    keys = ["admin-session:s1", "admin-session:s2", "admin-operator:ada"]
    assert await store.revocations(keys, T0 + 10) == {"admin-session:s1": T0, "admin-operator:ada": T0 + 5}
    await store.revoke("admin-operator:ada", T0 + 50, T0 + 250, T0 + 50)  # the later one replaces it
    assert await store.revocations(keys, T0 + 99) == {"admin-session:s1": T0, "admin-operator:ada": T0 + 50}
    assert await store.revocations(keys, T0 + 100) == {"admin-operator:ada": T0 + 50}  # time is the caller's
    assert await store.revocations(keys, T0 + 250) == {}


async def test_outbox_claims_are_exclusive_and_retry_later(store: Store) -> None:
    for n in range(5):
        await store.outbox_put(item(n, due=T0 + n))
    await store.outbox_put(item(0, due=T0))  # the same event twice is one
    assert await store.outbox_size() == 5
    first, second = await asyncio.gather(store.outbox_claim(T0 + 10, 3, T0 + 40),
                                         store.outbox_claim(T0 + 10, 3, T0 + 40))
    assert len(first) + len(second) == 5
    assert not {i.id for i in first} & {i.id for i in second}
    assert await store.outbox_claim(T0 + 20, 10, T0 + 50) == []
    await store.outbox_done("evt_0")
    await store.outbox_retry("evt_1", T0 + 60, 1)
    again = await store.outbox_claim(T0 + 61, 10, T0 + 90)
    assert {i.id for i in again} == {"evt_1", "evt_2", "evt_3", "evt_4"}
    assert next(i for i in again if i.id == "evt_1").attempts == 1
    assert next(i for i in again if i.id == "evt_1").body == '{"n": 1}'
    assert await store.outbox_size() == 4


async def test_consent_is_kept_and_a_rating_is_stored_once_after_the_end(store: Store) -> None:
    r = rec("l_rate")
    r.consent = '{"at":"2027-01-15T08:00:00Z","text_sha256":"ab"}'
    await store.insert(r)
    await store.activate("l_rate", "c_rate", "https://room/c_rate")
    assert not await store.rate("l_rate", '{"thumbs":"up"}', item(1))   # still live: no rating yet
    await store.finish("l_rate", "ended", "visitor_ended", T0 + 60)
    assert await store.rate("l_rate", '{"thumbs":"up"}', item(2))
    assert not await store.rate("l_rate", '{"thumbs":"down"}', item(3))  # once
    got = await store.by_local("l_rate")
    assert got is not None and got.consent == r.consent and got.rating == '{"thumbs":"up"}'
    assert [i.id for i in await store.outbox_claim(T0 + 60, 10, T0 + 90)] == ["evt_2"]
