"""The console's view of the waiting line: places on Live, who was served from it and who left on Today."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.admin.conftest import admin_config, sign_in
from tests.conftest import AppClient, FakeClock
from widget_server.settings import Settings

pytestmark = pytest.mark.anyio


@pytest.fixture
async def busy(client_for: Callable[..., Any], make_settings: Callable[..., Settings],
               clock: FakeClock) -> AppClient:
    """One slot, a line behind it; signed in to the console."""
    settings = make_settings({**admin_config(), "widgets": {"support": {
        "limits": {"max_concurrent": 1, "per_ip_per_hour": 100}, "queue": {"enabled": True}}}})
    client: AppClient = await client_for(settings, clock=clock)
    assert (await sign_in(client)).status_code == 303
    return client


def ticket(doc: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {doc['ticket']}"}


async def support_line(client: AppClient) -> dict[str, Any]:
    r = await client.get("/api/admin/live")
    assert r.status_code == 200, r.text
    line: dict[str, Any] = next(w for w in r.json()["widgets"] if w["widget"] == "support")["line"]
    return line


async def test_live_shows_each_place_and_today_counts_served_and_left(busy: AppClient, clock: FakeClock) -> None:
    a = (await busy.create()).json()
    b_r, c_r = await busy.create(), await busy.create()
    assert (b_r.status_code, c_r.status_code) == (202, 202)
    b, c = b_r.json(), c_r.json()
    clock.advance(10)
    beat = await busy.post(f"/api/widgets/support/queue/{c['queue_id']}/heartbeat", headers=ticket(c))
    assert beat.status_code == 200
    clock.advance(6)  # b's page has been quiet 16 s (more than half the 30 s grace), c's 6 s
    line = await support_line(busy)
    assert (line["length"], line["waiting"]) == (2, 2)
    assert [(p["position"], p["state"], p["age_s"], p["visitor"], p["last_seen_s"]) for p in line["places"]] == [
        (1, "waiting", 16.0, "heartbeat_lost", 16.0), (2, "waiting", 16.0, "present", 6.0)]
    for doc in (b, c):  # what proves a place stays the visitor's: neither its ticket nor its id is shown
        for shown in ((await busy.get("/api/admin/live")).text, (await busy.get("/admin/live")).text):
            assert doc["ticket"] not in shown and doc["queue_id"] not in shown
    page = (await busy.get("/admin/live")).text
    assert "Waiting line of support" in page and "2 in line" in page and "heartbeat lost" in page

    left = await busy.post(f"/api/widgets/support/queue/{c['queue_id']}/leave", headers=ticket(c))
    assert left.status_code == 204
    clock.advance(4)
    r = await busy.post(f"/api/conversations/{a['conversation_id']}/end",
                        headers={"Authorization": f"Bearer {a['end_token']}"})
    assert r.status_code == 200
    line = await support_line(busy)
    assert [(p["position"], p["state"], p["turn_left_s"]) for p in line["places"]] == [(0, "offered", 30.0)]
    assert "30 s left to join" in (await busy.get("/admin/live")).text
    joined = await busy.post(f"/api/widgets/support/queue/{b['queue_id']}/join", headers=ticket(b))
    assert joined.status_code == 201, joined.text
    assert len(busy.app.state.ctx.engine.core.conversations) == 2  # a, then b from the line; c cost nothing
    assert (await support_line(busy)) == {"length": 0, "waiting": 0, "places": []}
    await busy.app.state.ctx.line.tick()  # departures reach the history's audit (actor "line")

    today = (await busy.get("/api/admin/today")).json()
    support = next(w for w in today["widgets"] if w["widget"] == "support")
    assert support["line"] == {"served": 1, "left": 1, "reasons": {"left": 1}, "median_wait_s": 18.0}
    page = (await busy.get("/admin/today")).text
    assert "Served from the line" in page and "left 1" in page and "18 s" in page
    other = next(w for w in today["widgets"] if w["widget"] != "support")
    assert other["line"] == {"served": 0, "left": 0, "reasons": {}, "median_wait_s": None}
