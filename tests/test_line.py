"""The waiting line through the HTTP API, on the app with the sandbox engine and a clock moved by hand."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import SERVER_KEY, AppClient, FakeClock
from widget_server.settings import Settings

pytestmark = pytest.mark.anyio


def line_config(**queue: Any) -> dict[str, Any]:
    return {"widgets": {"support": {"limits": {"max_concurrent": 1, "per_ip_per_hour": 100},
                                    "queue": queue}},
            "webhooks": {"url": "http://127.0.0.1:9/hooks", "secret": "whsec_test_0123456789abcdef"}}


@pytest.fixture
async def line(client_for: Callable[..., Any], make_settings: Callable[..., Settings],
               clock: FakeClock) -> AppClient:
    client: AppClient = await client_for(make_settings(line_config(max_length=3)), clock=clock)
    return client


def at_engine(client: AppClient) -> int:
    """Conversations the sandbox engine was asked to create (what would be billed)."""
    return len(client.app.state.ctx.engine.core.conversations)


def ticket(doc: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {doc['ticket']}"}


async def place(client: AppClient, doc: dict[str, Any]) -> dict[str, Any]:
    r = await client.post(f"/api/widgets/support/queue/{doc['queue_id']}/heartbeat", headers=ticket(doc))
    assert r.status_code in (200, 410), r.text
    out: dict[str, Any] = r.json()
    return out


async def end(client: AppClient, conv: dict[str, Any]) -> None:
    r = await client.post(f"/api/conversations/{conv['conversation_id']}/end",
                          headers={"Authorization": f"Bearer {conv['end_token']}"})
    assert r.status_code == 200


def webhook_types(client: AppClient) -> list[tuple[str, dict[str, Any]]]:
    rows = client.app.state.ctx.store.db.execute("SELECT body FROM outbox").fetchall()
    docs = sorted((json.loads(row[0]) for row in rows), key=lambda d: d["created_at"])
    return [(d["type"], d["data"]) for d in docs if d["type"].startswith("queue.")]


async def test_busy_visitors_line_up_and_are_served_in_order(line: AppClient, clock: FakeClock) -> None:
    a = (await line.create()).json()
    b_r, c_r = await line.create(), await line.create()
    assert (b_r.status_code, c_r.status_code) == (202, 202)
    b, c = b_r.json(), c_r.json()
    assert {"queue_id", "position", "estimated_wait_s", "ticket"} <= set(b)
    assert (b["position"], c["position"]) == (1, 2) and 0 < b["estimated_wait_s"] < c["estimated_wait_s"]
    assert at_engine(line) == 1  # nobody in line is billed
    # the operator's own create keeps the old refusal, and takes no slot from the line
    r = await line.post("/api/widgets/support/conversations", headers={"Authorization": f"Bearer {SERVER_KEY}"})
    assert r.status_code == 503 and r.json()["type"].endswith("/busy")
    early = await line.post(f"/api/widgets/support/queue/{b['queue_id']}/join", headers=ticket(b))
    assert early.status_code == 409 and early.json()["type"].endswith("not-your-turn")
    assert (await line.get(f"/api/widgets/support/queue/{b['queue_id']}?ticket={b['ticket']}")).json()[
        "position"] == 1
    clock.advance(20)
    await end(line, a)  # the freed slot goes to the head at once
    assert (await place(line, b))["state"] == "offered" and (await place(line, c))["position"] == 1
    joined = await line.post(f"/api/widgets/support/queue/{b['queue_id']}/join", json={"ticket": b["ticket"]})
    assert joined.status_code == 201, joined.text
    assert {"conversation_id", "join_url", "end_token"} <= set(joined.json())
    assert at_engine(line) == 2
    gone = await place(line, b)
    assert gone["type"].endswith("queue-served")
    assert (await place(line, c))["position"] == 1
    metrics = (await line.get("/metrics")).text
    assert 'widget_queue_length{widget="support"} 1.0' in metrics
    assert 'widget_queue_served_total{widget="support"} 1.0' in metrics
    assert 'widget_queue_wait_seconds_count{outcome="served",widget="support"} 1.0' in metrics
    kinds = webhook_types(line)
    assert [k for k, _ in kinds] == ["queue.joined", "queue.joined", "queue.served"]
    assert kinds[2][1]["queue_id"] == b["queue_id"] and kinds[2][1]["waited_s"] == 20
    # the history counts who was served from the line (the report's line summary)
    audit = await line.app.state.ctx.history.audit_log(0, 100)
    assert [(e["action"], e["target"], e["detail"]["reason"]) for e in audit if e["actor"] == "line"] == [
        ("queue.served", b["queue_id"], "served")]


async def test_a_full_line_refuses_with_queue_full(line: AppClient) -> None:
    await line.create()
    for _ in range(3):
        assert (await line.create()).status_code == 202
    full = await line.create()
    assert full.status_code == 503 and full.json()["type"].endswith("/queue-full")
    assert int(full.headers["retry-after"]) > 0


async def test_leaving_moves_everyone_up_and_creates_nothing(line: AppClient) -> None:
    await line.create()
    b, c = (await line.create()).json(), (await line.create()).json()
    left = await line.post(f"/api/widgets/support/queue/{b['queue_id']}/leave",
                           content=json.dumps({"ticket": b["ticket"]}), headers={"Content-Type": "text/plain"})
    assert left.status_code == 204
    assert (await place(line, c))["position"] == 1
    again = await line.post(f"/api/widgets/support/queue/{b['queue_id']}/join", headers=ticket(b))
    assert again.status_code == 410 and again.json()["type"].endswith("/queue-left")
    assert at_engine(line) == 1
    assert ("queue.left", "left") in [(k, d.get("reason")) for k, d in webhook_types(line)]
    # another widget's ticket, or none, is no ticket
    assert (await line.post(f"/api/widgets/support/queue/{c['queue_id']}/leave")).status_code == 401
    assert (await line.post(f"/api/widgets/support/queue/{c['queue_id']}/leave",
                            headers=ticket(b))).status_code == 401


async def test_a_missed_turn_passes_to_the_next_visitor(line: AppClient, clock: FakeClock) -> None:
    a = (await line.create()).json()
    b, c = (await line.create()).json(), (await line.create()).json()
    await end(line, a)
    assert (await place(line, b))["state"] == "offered"
    for _ in range(4):  # c stays; b's page never confirms
        clock.advance(9)
        await place(line, c)
    await line.app.state.ctx.line.tick()
    assert (await place(line, c))["state"] == "offered"
    missed = await line.post(f"/api/widgets/support/queue/{b['queue_id']}/join", headers=ticket(b))
    assert missed.status_code == 410 and missed.json()["type"].endswith("/queue-turn-missed")
    assert at_engine(line) == 1  # nothing created for b


async def test_wait_and_presence_run_out(client_for: Callable[..., Any], make_settings: Callable[..., Settings],
                                         clock: FakeClock) -> None:
    client = await client_for(make_settings(line_config(max_wait_s=60)), clock=clock)
    await client.create()
    b, c = (await client.create()).json(), (await client.create()).json()
    assert b["expires_at"]
    clock.advance(25)
    await place(client, b)  # c's page went quiet: past the grace (30 s) it is out
    clock.advance(10)
    gone = await place(client, c)
    assert gone["type"].endswith("/queue-gone")
    assert (await place(client, b))["position"] == 1
    clock.advance(25)
    expired = await place(client, b)
    assert expired["type"].endswith("/queue-expired") and "max_wait_s" in expired["detail"]
    assert at_engine(client) == 1
    await client.app.state.ctx.line.drain()  # what the leased job does twice a second
    reasons = sorted(d["reason"] for k, d in webhook_types(client) if k == "queue.left")
    assert reasons == ["expired", "gone"]


async def test_engine_concurrency_keeps_the_visitor_at_the_head(
        client_for: Callable[..., Any], make_settings: Callable[..., Settings], clock: FakeClock) -> None:
    cfg = line_config()
    cfg["widgets"]["support"]["limits"]["max_concurrent"] = 2
    client = await client_for(make_settings(cfg), clock=clock)
    client.app.state.ctx.engine.core.max_concurrent = 1  # the engine account's cap is lower than the widget's
    a = (await client.create()).json()
    b_r = await client.create()  # a free widget slot, but the engine is full: a place, not an error
    assert b_r.status_code == 202, b_r.text
    b = b_r.json()
    c = (await client.create()).json()  # a newcomer lines up behind b, though a widget slot is free
    assert (b["position"], c["position"]) == (1, 2)
    ctx = client.app.state.ctx
    clock.advance(16)
    await place(client, c)
    await ctx.line.tick()
    assert (await place(client, b))["state"] == "offered"
    again = await client.post(f"/api/widgets/support/queue/{b['queue_id']}/join", headers=ticket(b))
    assert again.status_code == 202 and again.json()["position"] == 1  # back at the head, not the tail
    assert (await place(client, c))["position"] == 2
    await end(client, a)
    clock.advance(16)
    await place(client, c)
    await ctx.line.tick()
    joined = await client.post(f"/api/widgets/support/queue/{b['queue_id']}/join", headers=ticket(b))
    assert joined.status_code == 201, joined.text
    assert at_engine(client) == 2  # a and b
    # c has the widget's second slot, but the engine's one is b's: c goes back to the head, uncharged
    assert (await place(client, c))["state"] == "offered"
    held = await client.post(f"/api/widgets/support/queue/{c['queue_id']}/join", headers=ticket(c))
    assert held.status_code == 202 and held.json()["position"] == 1
    assert at_engine(client) == 2


async def test_line_disabled_keeps_the_busy_refusal(client_for: Callable[..., Any],
                                                    make_settings: Callable[..., Settings]) -> None:
    client = await client_for(make_settings(line_config(enabled=False)))
    await client.create()
    busy = await client.create()
    assert busy.status_code == 503 and busy.json()["type"].endswith("/busy")


async def test_the_estimate_comes_from_recent_lengths_and_live_ages(line: AppClient, clock: FakeClock) -> None:
    first = (await line.create()).json()
    clock.advance(120)
    await end(line, first)  # the widget's recent conversations last 120 s
    await line.create()     # the one now talking
    clock.advance(30)
    b = (await line.create()).json()
    assert b["estimated_wait_s"] == 90  # 120 s typical, 30 s of it gone
    for _ in range(5):      # past the typical length (b's page beating): expected to end soon, not at once
        clock.advance(20)
        await place(line, b)
    c = (await line.create()).json()
    assert (await place(line, b))["estimated_wait_s"] == 12  # a tenth of the typical length
    assert c["estimated_wait_s"] == 12 + 120  # then one more conversation of the typical length
