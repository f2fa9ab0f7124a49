"""Ending what nobody uses, through the app: heartbeats, the backstop, the reconciler.

The engine is the in-process sandbox (its fault knobs set per test); the store is
real SQLite, and real Redis where instances share it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import SERVER_KEY, AppClient, FakeClock
from widget_server.engines.sandbox import SandboxCore, SandboxEngine
from widget_server.lifecycle import Lifecycle
from widget_server.settings import Settings
from widget_server.store import ConversationRecord

pytestmark = pytest.mark.anyio
OPS = {"Authorization": f"Bearer {SERVER_KEY}"}
QUIET = {"lifecycle": {"heartbeat_grace_s": 0.3, "sweep_interval_s": 3600, "reconcile_interval_s": 3600,
                       "expiry_grace_s": 0}}


async def start(client_for: Callable[..., Any], settings: Settings, clock: FakeClock | None = None,
                **core_options: Any) -> AppClient:
    """The app on a sandbox core with ``core_options`` whose callbacks go to the app over ASGI."""

    async def deliver(url: str, payload: dict[str, Any]) -> None:
        transport = httpx.ASGITransport(app=client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            await c.post(url.removeprefix("http://testserver"), json=payload)

    core_options.setdefault("replica_join_delay_s", 0.05)
    core = SandboxCore(room_base_url="http://testserver/sandbox/rooms", deliver=deliver, **core_options)
    options: dict[str, Any] = {"engine": SandboxEngine(core)}
    if clock is not None:
        options["clock"] = clock
    client: AppClient = await client_for(settings, **options)
    return client


def parts(client: AppClient) -> tuple[Lifecycle, SandboxCore]:
    ctx = client.app.state.ctx
    return ctx.lifecycle, ctx.engine.core


async def record_of(client: AppClient, cid: str) -> ConversationRecord:
    rec = await client.app.state.ctx.store.by_conversation(cid)
    assert rec is not None
    return rec


async def test_heartbeat_answers_204_then_410(client: AppClient) -> None:
    doc = (await client.create()).json()
    cid, token = doc["conversation_id"], doc["end_token"]
    beat = f"/api/conversations/{cid}/heartbeat"
    r = await client.post(beat, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 204 and r.headers["cache-control"] == "no-store"
    assert (await client.post(beat, headers=OPS)).status_code == 204
    assert (await client.post(beat)).status_code == 401
    assert (await client.post(beat, headers={"Authorization": "Bearer forged"})).status_code == 401
    await client.post(f"/api/conversations/{cid}/end", headers={"Authorization": f"Bearer {token}"})
    gone = await client.post(beat, headers={"Authorization": f"Bearer {token}"})
    assert gone.status_code == 410 and gone.json()["type"].endswith("/conversation-ended")


async def test_silent_visitor_is_ended_after_grace(client_for: Callable[..., Any],
                                                   make_settings: Callable[..., Settings], clock: FakeClock) -> None:
    client = await start(client_for, make_settings(QUIET), clock)
    lifecycle, core = parts(client)
    silent = (await client.create()).json()
    beating = (await client.create()).json()
    operator = (await client.post("/api/widgets/public/conversations", headers=OPS)).json()
    for _ in range(3):
        clock.advance(0.15)
        await client.post(f"/api/conversations/{beating['conversation_id']}/heartbeat",
                          headers={"Authorization": f"Bearer {beating['end_token']}"})
    done = await lifecycle.sweep()
    assert [a for _, a in done] == ["heartbeat_timeout"]
    assert core.conversations[silent["conversation_id"]].status == "ended"
    assert core.conversations[beating["conversation_id"]].status == "active"
    # a back end that never heartbeats is not watched
    assert core.conversations[operator["conversation_id"]].status == "active"
    rec = await record_of(client, silent["conversation_id"])
    assert rec.end_reason == "heartbeat_timeout"
    assert await client.app.state.ctx.store.live_slots("support", clock()) == 1
    assert await lifecycle.sweep() == []  # idempotent


async def test_backstop_ends_what_outlives_expiry(client_for: Callable[..., Any],
                                                  make_settings: Callable[..., Settings], clock: FakeClock) -> None:
    client = await start(client_for, make_settings(QUIET), clock, drop_callback_rate=1.0)
    lifecycle, core = parts(client)
    doc = (await client.post("/api/widgets/support/conversations", headers=OPS)).json()
    clock.advance(601)
    assert [a for _, a in await lifecycle.sweep()] == ["expired_backstop"]
    assert core.conversations[doc["conversation_id"]].status == "ended"


async def test_lost_answer_is_found_and_ended(client_for: Callable[..., Any],
                                              make_settings: Callable[..., Settings]) -> None:
    client = await start(client_for, make_settings(QUIET), lose_rate=1.0)
    lifecycle, core = parts(client)
    r = await client.create()
    assert r.status_code == 502
    store = client.app.state.ctx.store
    assert core.active_count() == 1
    assert await store.live_slots("support", time.time()) == 1  # held until settled: the cap holds
    done = await lifecycle.reconcile()
    assert [a for _, a in done] == ["reconciled_lost_answer"]
    assert core.active_count() == 0
    assert await store.live_slots("support", time.time()) == 0
    (rec,) = await store.records_since(0)
    assert rec.status == "ended" and rec.conversation_id in core.conversations
    assert await lifecycle.reconcile() == []


async def test_engine_callback_settles_a_lost_answer(client_for: Callable[..., Any],
                                                     make_settings: Callable[..., Settings]) -> None:
    client = await start(client_for, make_settings(QUIET), lose_rate=1.0)
    _, core = parts(client)
    assert (await client.create()).status_code == 502
    (cid,) = list(core.conversations)
    await core.end(cid)  # its shutdown callback names the conversation the answer never told us
    store = client.app.state.ctx.store
    deadline = time.monotonic() + 5
    while (await store.by_conversation(cid)) is None and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    rec = await record_of(client, cid)
    assert rec.status == "ended" and rec.end_reason == "end_conversation_endpoint_hit"
    assert await store.live_slots("support", time.time()) == 0


async def test_reconciler_never_touches_other_deployments(client_for: Callable[..., Any],
                                                          make_settings: Callable[..., Settings]) -> None:
    client = await start(client_for, make_settings(QUIET))
    lifecycle, core = parts(client)
    ours = (await client.create()).json()["conversation_id"]
    foreign = [
        {"replica_id": "r1", "callback_url": "https://other.example.com/hooks/engine/abc"},
        {"replica_id": "r1", "callback_url": "http://testserver/hooks/engine/forged.ref"},
        {"replica_id": "r1"},
    ]
    ids = [(await core.create(body)).doc["conversation_id"] for body in foreign]
    assert await lifecycle.reconcile() == []
    assert all(core.conversations[c].status == "active" for c in [ours, *ids])


async def test_dropped_shutdown_callback_is_noticed(client_for: Callable[..., Any],
                                                    make_settings: Callable[..., Settings], clock: FakeClock) -> None:
    client = await start(client_for, make_settings(QUIET), clock, drop_callback_rate=1.0)
    lifecycle, core = parts(client)
    cid = (await client.post("/api/widgets/support/conversations", headers=OPS)).json()["conversation_id"]
    await core.end(cid)
    clock.advance(5)  # the record is older than the engine's list
    assert [a for _, a in await lifecycle.reconcile()] == ["end_conversation_endpoint_hit"]
    assert (await record_of(client, cid)).status == "ended"


async def test_crash_between_engine_create_and_store_write(client_for: Callable[..., Any],
                                                           make_settings: Callable[..., Settings]) -> None:
    settings = make_settings({**QUIET, "engine": {"kind": "sandbox", "timeout_s": 1}})
    client = await start(client_for, settings)
    lifecycle, core = parts(client)
    store = client.app.state.ctx.store
    # what an instance killed mid-create leaves: a creating record and a conversation at the engine
    now = time.time()
    await store.insert(ConversationRecord("l_crashed", "support", "creating", now - 10, now + 590))
    await store.acquire_slot("support", 2, "l_crashed", now + 900, now)
    request = client.app.state.ctx.conversations.build_request(settings.widgets["support"], {}, "l_crashed")
    cid = (await core.create(request.to_payload())).doc["conversation_id"]
    assert await lifecycle.sweep() == [("l_crashed", "marked_lost")]
    assert await lifecycle.reconcile() == [("l_crashed", "reconciled_lost_answer")]
    assert core.conversations[cid].status == "ended"
    assert await store.live_slots("support", time.time()) == 0


async def test_background_jobs_end_a_silent_visitor(client_for: Callable[..., Any],
                                                    make_settings: Callable[..., Settings]) -> None:
    client = await start(client_for, make_settings({"lifecycle": {"heartbeat_grace_s": 0.2,
                                                                  "sweep_interval_s": 0.05}}))
    _, core = parts(client)
    cid = (await client.create()).json()["conversation_id"]
    deadline = time.monotonic() + 5
    while core.conversations[cid].status == "active" and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert core.conversations[cid].status == "ended"


@pytest.mark.redis
async def test_two_instances_on_one_redis_hold_the_caps(client_for: Callable[..., Any],
                                                        make_settings: Callable[..., Settings],
                                                        redis_url: str) -> None:
    settings = make_settings({**QUIET, "server": {"store": redis_url},
                              "widgets": {"support": {"limits": {"max_concurrent": 3, "per_ip_per_hour": 100},
                                                      "queue": {"enabled": False}},
                                          "public": {"limits": {"max_concurrent": 50, "per_ip_per_hour": 4}}}})
    a, b = await start(client_for, settings), await start(client_for, settings)
    answers = await asyncio.gather(*((a if i % 2 else b).create() for i in range(12)))
    assert sorted(r.status_code for r in answers) == [201] * 3 + [503] * 9
    first = next(r.json() for r in answers if r.status_code == 201)
    # ended on one instance, freed for both
    await b.post(f"/api/conversations/{first['conversation_id']}/end",
                 headers={"Authorization": f"Bearer {first['end_token']}"})
    assert (await a.create()).status_code == 201
    per_ip = await asyncio.gather(*((a if i % 2 else b).create("public") for i in range(9)))
    assert sorted(r.status_code for r in per_ip) == [201] * 4 + [429] * 5
    assert all(r.json()["type"].endswith("/rate-limited") for r in per_ip if r.status_code == 429)
