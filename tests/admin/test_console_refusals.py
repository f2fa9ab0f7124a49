"""Refusals by rule on Today and in the History charts: counted in memory on the create path, added to history
by each instance, read from history by a fresh instance (so they survive a restart and add up across
instances), on SQLite and on PostgreSQL."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.admin.conftest import admin_config, sign_in
from tests.conftest import HOST_ORIGIN, SERVER_KEY, AppClient, FakeClock
from widget_server.app import create_app
from widget_server.history.base import DAY, HOUR
from widget_server.settings import Settings

pytestmark = pytest.mark.anyio
KEY = {"Authorization": f"Bearer {SERVER_KEY}"}
WIDGET = {"allowed_origins": [HOST_ORIGIN], "replica_id": "r_test"}
# what each widget's rules refuse below, and how often
EXPECTED = {
    "support": {"rate-limited": 1, "origin-not-allowed": 1},
    "public": {"busy": 1},
    "budget": {"budget-spent": 1},
    "line": {"engine-concurrency": 1, "queue-full": 1},
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, make_settings: Callable[..., Settings], tmp_path: Path) -> Settings:
    history = f"sqlite:///{tmp_path / 'history.db'}" if request.param == "sqlite" else \
        request.getfixturevalue("postgres_url")
    return make_settings({**admin_config(), "server": {"history": history}, "widgets": {
        "support": {"limits": {"per_ip_per_hour": 1}},
        "public": {"limits": {"max_concurrent": 1}, "queue": {"enabled": False}},
        "budget": {**WIDGET, "limits": {"minutes_per_day": 1}},
        "line": {**WIDGET, "limits": {"max_concurrent": 3, "per_ip_per_hour": 100}, "queue": {"max_length": 1}},
    }})


@contextlib.asynccontextmanager
async def running(settings: Settings, clock: FakeClock) -> AsyncIterator[AppClient]:
    """One instance of the server, started and stopped as a process would be (its lifespan)."""
    app = create_app(settings, clock=clock)
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    try:
        async with AppClient(transport=httpx.ASGITransport(app=app, client=("203.0.113.7", 5000)),
                             base_url="http://testserver") as client:
            client.app = app
            yield client
    finally:
        await lifespan.__aexit__(None, None, None)


def kind(r: httpx.Response) -> str:
    """The problem's kind (the last part of its type URL)."""
    assert r.headers["content-type"].startswith("application/problem+json"), r.text
    return str(r.json()["type"]).rsplit("/", 1)[-1]


async def refuse_once_by_each_rule(client: AppClient, clock: FakeClock) -> int:
    """Each rule refuses a create once; returns the conversations that were created (at the engine)."""
    assert (await client.create()).status_code == 201
    assert kind(await client.create()) == "rate-limited"
    assert kind(await client.create(origin="https://evil.example")) == "origin-not-allowed"
    server = "/api/widgets/{}/conversations"
    assert (await client.post(server.format("public"), headers=KEY)).status_code == 201
    assert kind(await client.post(server.format("public"), headers=KEY)) == "busy"
    assert (await client.post(server.format("budget"), headers=KEY)).status_code == 201
    clock.advance(61)  # a minute and a second of the budget's one minute
    assert kind(await client.post(server.format("budget"), headers=KEY)) == "budget-spent"
    engine = client.app.state.ctx.engine.core
    engine.max_concurrent = engine.active_count()  # the engine account is full, though the widget is not
    assert (await client.create("line")).status_code == 202  # engine-concurrency: at the head of the line
    assert kind(await client.create("line")) == "queue-full"
    engine.max_concurrent = 100
    return len(engine.conversations)


async def refusals(client: AppClient) -> dict[str, dict[str, int]]:
    today = (await client.get("/api/admin/today")).json()
    return {w["widget"]: w["refusals_by_rule"] for w in today["widgets"] if w["refusals_by_rule"]}


async def test_refusals_by_rule_come_from_history_after_a_restart(settings: Settings) -> None:
    clock = FakeClock((int(FakeClock().now // DAY) * DAY) + 10 * HOUR + 60)
    async with running(settings, clock) as first:
        recorder = first.app.state.ctx.conversations.recorder
        await recorder.stop()  # no writes every few seconds here: what is counted stays in memory until shutdown
        assert await refuse_once_by_each_rule(first, clock) == 3  # the refusals cost nothing at the engine
        history = first.app.state.ctx.history
        # counted in memory on the create path; history has none of them yet
        assert sum(recorder.pending_refusals(0).values()) == 6
        assert await history.refusal_counts(None, clock() - DAY, clock() + DAY) == []
        assert (await sign_in(first)).status_code == 303
        assert await refusals(first) == EXPECTED  # this instance's unwritten counts are on Today already
    async with running(settings, clock) as second:  # a fresh instance: the first wrote its counts as it stopped
        assert second.app.state.ctx.conversations.recorder.pending_refusals(0) == {}
        assert (await sign_in(second)).status_code == 303
        assert await refusals(second) == EXPECTED
        page = (await second.get("/admin/today")).text
        assert "queue-full: 1" in page and "origin-not-allowed: 1" in page
        every = {rule: n for per_widget in EXPECTED.values() for rule, n in per_widget.items()}
        daily = (await second.get("/api/admin/history?days=7")).json()
        assert {rule: counts[-1] for rule, counts in daily["refusals"].items()} == every
        assert all(sum(counts) == counts[-1] for counts in daily["refusals"].values())  # all of them today
        hourly = (await second.get("/api/admin/history?days=1&bucket=hour")).json()
        at = hourly["buckets"].index(int(clock() // HOUR) * HOUR)
        assert {rule: counts[at] for rule, counts in hourly["refusals"].items()} == every
        one = (await second.get("/api/admin/history?days=7&widget=line")).json()
        assert {rule: counts[-1] for rule, counts in one["refusals"].items()} == EXPECTED["line"]
        # a second instance's counts add to the first's
        second.app.state.ctx.conversations.recorder.refused("public", "busy")
        await second.app.state.ctx.conversations.recorder.flush_refusals()
        assert (await refusals(second))["public"] == {"busy": 2}


async def test_refusals_wait_in_memory_while_history_refuses_them(client_for: Callable[..., Any],
                                                                    make_settings: Callable[..., Settings],
                                                                    clock: FakeClock) -> None:
    client: AppClient = await client_for(make_settings(admin_config()), clock=clock)
    recorder = client.app.state.ctx.conversations.recorder
    history = client.app.state.ctx.history

    def rename(old: str, new: str) -> Callable[[Any], Any]:
        return lambda conn: conn.exec_driver_sql(f"ALTER TABLE {old} RENAME TO {new}")

    recorder.refused("support", "busy")
    await history._run(rename("history_refusal_hours", "away"))  # the write fails: the count is kept
    await recorder.flush_refusals()
    assert recorder.pending_refusals(0) == {("support", "busy"): 1}
    failures = client.app.state.ctx.metrics.history_failures.labels("refusals")._value.get()
    assert failures == 1
    await history._run(rename("away", "history_refusal_hours"))
    recorder.refused("support", "busy")
    await recorder.flush_refusals()
    assert recorder.pending_refusals(0) == {}
    assert [(n.rule, n.refusals) for n in await history.refusal_counts("support", clock() - DAY, clock() + DAY)] \
        == [("busy", 2)]
