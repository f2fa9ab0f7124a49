"""Through the app: what reaches history, with the engine's end times, and what a history outage costs.

The hosted engine cannot be reached from here: the Tavus stand-in (``tests/engines/tavus_standin.py``)
replays its documented answers at the HTTP edge, over real HTTP. The stores and history databases are real.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from tests.conftest import ENGINE_KEY, HOST_ORIGIN, SERVER_KEY, FakeClock
from tests.engines.tavus_standin import TavusStandIn, served_standin
from widget_server.app import create_app
from widget_server.clock import iso
from widget_server.history import History
from widget_server.history.migrate import head
from widget_server.settings import Settings

pytestmark = pytest.mark.anyio
OPS = {"Authorization": f"Bearer {SERVER_KEY}"}
# Long intervals: after their first pass at start the jobs wait, and the tests run the passes themselves.
QUIET = {"lifecycle": {"sweep_interval_s": 60, "reconcile_interval_s": 3600}}


@pytest.fixture(scope="module")
def standin() -> Iterator[tuple[TavusStandIn, str]]:
    with served_standin(ENGINE_KEY) as served:
        yield served


@contextlib.asynccontextmanager
async def running(settings: Settings, clock: FakeClock) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    """One instance, started and stopped here (the test stops it to play an outage)."""
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield app, client


def tavus(make_settings: Callable[..., Settings], url: str, **server: Any) -> Settings:
    return make_settings({**QUIET, "engine": {"kind": "tavus", "base_url": url, "api_key": ENGINE_KEY},
                          "server": server})


async def create(app: Starlette, client: httpx.AsyncClient, browser: bool) -> dict[str, Any]:
    headers = {"X-Widget-Session": app.state.ctx.signer.session("support", HOST_ORIGIN)} if browser else OPS
    r = await client.post("/api/widgets/support/conversations", headers=headers)
    assert r.status_code == 201, r.text
    doc: dict[str, Any] = r.json()
    return doc


@pytest.mark.parametrize("path", ["sweep", "reconcile"])
async def test_ledger_reads_the_engines_length_after_every_instance_was_down(
        standin: tuple[TavusStandIn, str], make_settings: Callable[..., Settings], path: str) -> None:
    engine, url = standin
    engine.reset()
    settings = tavus(make_settings, url)
    t0 = 1_900_000_000.0 + 3600  # an hour into a UTC day
    clock = FakeClock(t0)
    async with running(settings, clock) as (app, client):
        cid = (await create(app, client, browser=path == "sweep"))["conversation_id"]
    # Every instance is down. The engine ends it after 60 s; its callback finds nobody.
    engine.conversations[cid].update(status="ended", shutdown_reason="participant_absent_timeout reached",
                                     updated_at=iso(t0 + 60))
    clock.advance(637)
    async with running(settings, clock) as (app, client):
        lifecycle = app.state.ctx.lifecycle
        await (lifecycle.sweep() if path == "sweep" else lifecycle.reconcile())  # (or the pass at start did)
        history: History = app.state.ctx.history
        past = await history.conversation(conversation_id=cid)
        assert past is not None and past.end_reason == "participant_absent_timeout reached"
        assert past.seconds == pytest.approx(60) and past.end_source == "engine"
        assert past.ended_at == pytest.approx(t0 + 60)
        day = t0 - t0 % 86400
        # the budget counts the same figure, and so do the day totals
        assert await app.state.ctx.store.seconds_used("support", day, clock()) == pytest.approx(60)
        assert [d.seconds for d in await history.day_totals("support", day, day)] == [pytest.approx(60)]
        status = (await client.get(f"/api/conversations/{cid}", headers=OPS)).json()
        assert status["seconds_live"] == pytest.approx(60)


async def test_the_callbacks_timestamp_is_the_end(standin: tuple[TavusStandIn, str],
                                                  make_settings: Callable[..., Settings]) -> None:
    engine, url = standin
    engine.reset()
    clock = FakeClock(1_900_000_000.0)
    async with running(tavus(make_settings, url), clock) as (app, client):
        cid = (await create(app, client, browser=False))["conversation_id"]
        callback = engine.conversations[cid]["callback_url"].removeprefix("http://testserver")
        clock.advance(300)  # delivered late: the engine says when it ended
        r = await client.post(callback, json={
            "conversation_id": cid, "event_type": "system.shutdown", "message_type": "system",
            "timestamp": iso(1_900_000_042.0), "properties": {"shutdown_reason": "max_call_duration reached"}})
        assert r.status_code == 200
        past = await app.state.ctx.history.conversation(conversation_id=cid)
        assert past is not None and past.seconds == pytest.approx(42)
        # a timestamp from before the conversation, or from the future, is kept within its life here
        cid2 = (await create(app, client, browser=False))["conversation_id"]
        await client.post(engine.conversations[cid2]["callback_url"].removeprefix("http://testserver"), json={
            "conversation_id": cid2, "event_type": "system.shutdown", "timestamp": "2001-01-01T00:00:00Z",
            "properties": {"shutdown_reason": "daily_room_has_been_deleted"}})
        past2 = await app.state.ctx.history.conversation(conversation_id=cid2)
        assert past2 is not None and past2.seconds == 0


def _set_connections(admin_url: str, database: str, allowed: bool) -> None:
    import asyncio

    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {str(allowed).lower()}')
            if not allowed:
                await conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                                   database)
        finally:
            await conn.close()

    worker = threading.Thread(target=asyncio.run, args=(run(),))
    worker.start()
    worker.join()


@pytest.mark.postgres
async def test_a_history_outage_loses_no_end_and_fails_no_create(
        standin: tuple[TavusStandIn, str], make_settings: Callable[..., Settings], postgres_service: str,
        postgres_url: str) -> None:
    engine, url = standin
    engine.reset()
    clock = FakeClock()
    database = postgres_url.rsplit("/", 1)[1]
    async with running(tavus(make_settings, url, history=postgres_url), clock) as (app, client):
        ctx = app.state.ctx
        kept = await create(app, client, browser=False)
        _set_connections(postgres_service, database, allowed=False)  # the history database goes away
        try:
            during = await create(app, client, browser=False)
            clock.advance(30)
            for doc in (kept, during):
                ended = await client.post(f"/api/conversations/{doc['conversation_id']}/end", headers=OPS)
                assert ended.status_code == 200 and ended.json()["status"] == "ended"
            assert {r.conversation_id for r in await ctx.store.unarchived(10)} == {
                kept["conversation_id"], during["conversation_id"]}
            assert await client.get("/readyz") is not None
        finally:
            _set_connections(postgres_service, database, allowed=True)
        assert len(await ctx.lifecycle.jobs[0][2]()) == 2  # the history sync, once it is back
        assert await ctx.store.unarchived(10) == []
        for doc in (kept, during):
            past = await ctx.history.conversation(conversation_id=doc["conversation_id"])
            assert past is not None and past.status == "ended" and past.end_reason == "operator_ended"
            assert past.seconds == pytest.approx(30)


async def test_transcripts_are_kept_from_the_callback_or_fetched_after_the_end(
        standin: tuple[TavusStandIn, str], make_settings: Callable[..., Settings]) -> None:
    engine, url = standin
    engine.reset()
    clock = FakeClock()
    async with running(tavus(make_settings, url), clock) as (app, client):
        said = [{"role": "user", "content": "Hello?"}, {"role": "assistant", "content": "Hi there."}]
        called = (await create(app, client, browser=False))["conversation_id"]
        silent = (await create(app, client, browser=False))["conversation_id"]
        for cid in (called, silent):
            await client.post(f"/api/conversations/{cid}/end", headers=OPS)
        path = f"/api/conversations/{called}/transcript"
        assert (await client.get(path, headers=OPS)).json()["detail"] == "not received yet"
        await client.post(engine.conversations[called]["callback_url"].removeprefix("http://testserver"), json={
            "conversation_id": called, "event_type": "application.transcription_ready",
            "properties": {"transcript": said}})
        got = await client.get(path, headers=OPS)
        assert got.status_code == 200 and got.json()["transcript"] == said and got.json()["source"] == "callback"
        assert (await client.get(path)).status_code == 401
        # no callback for the other: its verbose record is asked, a minute after the end
        engine.conversations[silent]["transcript"] = said[:1]
        fetch = app.state.ctx.lifecycle.jobs[1][2]
        assert await fetch() == []
        clock.advance(61)
        assert [a for _, a in await fetch()] == ["transcript_fetched"]
        got = (await client.get(f"/api/conversations/{silent}/transcript", headers=OPS)).json()
        assert got["transcript"] == said[:1] and got["source"] == "engine_get"
        assert (await client.get("/api/conversations/nope/transcript", headers=OPS)).status_code == 404
        ready = (await client.get("/readyz")).json()
        assert ready["history"] == "ok" and ready["history_schema"] == head()
