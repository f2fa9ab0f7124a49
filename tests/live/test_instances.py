"""Two server instances on one Redis: the room seat on one, interactions and events through the other."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import httpx
import pytest
import redis.asyncio as aioredis

from tests.live.conftest import AUTH, snapshot, wait_for
from widget_server.app import create_app
from widget_server.engines.sandbox import SandboxCore
from widget_server.engines.sandbox.engine import SandboxEngine
from widget_server.settings import Settings

pytestmark = [pytest.mark.anyio, pytest.mark.redis]


@pytest.fixture
async def instances(make_settings: Callable[..., Settings], redis_url: str, setup: str) -> AsyncIterator[list[Any]]:
    settings = make_settings({"server": {"store": redis_url}})
    if setup == "embedded":  # one sandbox both instances reach, as they would reach one engine
        engine = SandboxEngine(SandboxCore(room_base_url="http://testserver/sandbox/rooms",
                                           replica_join_delay_s=0.05))
        apps = [create_app(settings, engine=engine) for _ in range(2)]
    else:
        apps = [create_app(settings) for _ in range(2)]
    spans = [app.router.lifespan_context(app) for app in apps]
    clients = []
    for app, span in zip(apps, spans, strict=True):
        await span.__aenter__()
        clients.append(httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver"))
    yield clients
    for client, span in zip(clients, spans, strict=True):
        await client.aclose()
        await span.__aexit__(None, None, None)


async def seat_holder(redis_url: str, cid: str) -> str | None:
    """The instance whose lease puts it in the room, as every instance reads it."""
    r = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        holder: str | None = await r.get(f"live:{cid}:lease")
        return holder
    finally:
        await r.aclose()


async def test_interaction_on_one_instance_reaches_the_seat_on_the_other(instances: list[Any],
                                                                         redis_url: str) -> None:
    a, b = instances
    r = await a.post("/api/widgets/support/conversations", headers=AUTH)
    cid = r.json()["conversation_id"]
    await wait_for(a, cid, lambda e: e["type"] == "replica_joined")  # instance a holds the seat
    hub_a, hub_b = (c._transport.app.state.ctx.live for c in (a, b))
    assert await seat_holder(redis_url, cid) == hub_a.instance != hub_b.instance
    r = await b.post(f"/api/conversations/{cid}/interactions", headers=AUTH,
                     json={"event_type": "conversation.overwrite_llm_context", "properties": {"context": "Via B."}})
    assert r.status_code == 202, r.text
    await b.post(f"/api/conversations/{cid}/interactions", headers=AUTH,
                 json={"event_type": "conversation.respond", "properties": {"text": "pricing?"}})
    events = await wait_for(b, cid, lambda e: e["type"] == "utterance" and "Via B." in (e["data"]["text"] or ""))
    assert "tool_call" in [e["type"] for e in events]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert await snapshot(a, cid) == await snapshot(b, cid)
    await b.post(f"/api/conversations/{cid}/end", headers=AUTH)
    ended = await wait_for(b, cid, lambda e: e["type"] == "ended")
    assert ended[-1]["data"]["reason"] == "end_conversation_endpoint_hit"
    deadline = time.monotonic() + 5  # the seat is left just after the "ended" event is written
    while await seat_holder(redis_url, cid) == hub_a.instance and time.monotonic() < deadline:
        await anyio.sleep(0.02)
    assert await seat_holder(redis_url, cid) != hub_a.instance
