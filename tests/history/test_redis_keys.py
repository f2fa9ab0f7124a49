"""Redis holds nothing forever: every key of a conversation carries a TTL, and history lets them go."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from tests.conftest import SERVER_KEY, AppClient
from widget_server.history.recorder import ARCHIVED_KEEP_S
from widget_server.settings import Settings
from widget_server.store import ConversationRecord
from widget_server.store.redis import LIVE_KEEP_S, UNARCHIVED_KEEP_S, RedisStore

pytestmark = [pytest.mark.anyio, pytest.mark.redis]
OPS = {"Authorization": f"Bearer {SERVER_KEY}"}


async def ttls(r: aioredis.Redis) -> dict[str, int]:
    return {str(k): int(await r.ttl(k)) for k in await r.keys("*")}


async def test_live_keys_expire_with_max_call_duration_and_ended_ones_once_archived(
        client_for: Callable[..., Any], make_settings: Callable[..., Settings], redis_url: str,
        tmp_path: Path) -> None:
    settings = make_settings({"server": {"store": redis_url, "history": f"sqlite:///{tmp_path / 'history.db'}"}})
    client: AppClient = await client_for(settings)
    r = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        doc = (await client.post("/api/widgets/support/conversations", headers=OPS)).json()
        cid = doc["conversation_id"]
        live = await ttls(r)
        conv_keys = [k for k in live if k.startswith(("ws:conv:", "ws:cid:"))]
        assert len(conv_keys) == 2
        for key in conv_keys:  # max_call_duration 600 s + a day
            assert 600 + LIVE_KEEP_S - 5 <= live[key] <= 600 + LIVE_KEEP_S
        assert (await client.post(f"/api/conversations/{cid}/end", headers=OPS)).status_code == 200
        # the engine's shutdown callback may be the one that ended it, archiving in its own task: settle it
        await client.app.state.ctx.lifecycle.jobs[0][2]()
        after = await ttls(r)
        for key in conv_keys:  # history has it: gone in minutes
            assert 0 < after[key] <= ARCHIVED_KEEP_S
        assert not await r.zrange("ws:unarchived", 0, -1) and not await r.zrange("ws:created", 0, -1)
        forever = {k for k, t in after.items() if t == -1}
        # what is left without a TTL is per deployment or per widget, never per conversation
        assert forever <= {"ws:budget:v1", "ws:history:v1", "ws:outbox", "ws:live"} | {
            k for k in forever if k.startswith(("ws:slots:", "ws:open:", "ws:created:"))}
        await r.delete(*conv_keys)  # as Redis will: the status is history's answer then
        status = await client.get(f"/api/conversations/{cid}", headers=OPS)
        assert status.status_code == 200 and status.json()["status"] == "ended"
        beat = await client.post(f"/api/conversations/{cid}/heartbeat", headers=OPS)
        assert beat.status_code == 410
    finally:
        await r.aclose()


async def test_an_older_database_gets_ttls_and_its_ended_records_wait_for_history(redis_url: str) -> None:
    store = RedisStore(redis_url)
    await store.open()
    now = time.time()
    await store.insert(ConversationRecord("l1", "w", "creating", now, now + 600))
    await store.activate("l1", "c1", "u")
    await store.insert(ConversationRecord("l2", "w", "creating", now, now + 600))
    await store.finish("l2", "ended", "visitor_ended", now + 10)
    r = store.r
    await r.persist("ws:conv:l1")
    await r.persist("ws:cid:c1")
    await r.persist("ws:conv:l2")
    await r.zrem("ws:unarchived", "l2")
    await r.delete("ws:history:v1")  # as an older version left it: no TTLs, nothing waiting
    await store.close()
    await store.open()
    r = store.r
    assert 600 + LIVE_KEEP_S - 5 <= await r.ttl("ws:conv:l1") <= 600 + LIVE_KEEP_S
    assert 600 + LIVE_KEEP_S - 5 <= await r.ttl("ws:cid:c1") <= 600 + LIVE_KEEP_S
    assert UNARCHIVED_KEEP_S - 5 <= await r.ttl("ws:conv:l2") <= UNARCHIVED_KEEP_S
    assert [rec.local_id for rec in await store.unarchived(10)] == ["l2"]
    await store.archived(["l2"], 30)
    assert 0 < await r.ttl("ws:conv:l2") <= 30 and await store.unarchived(10) == []
    await store.close()
