"""Health, readiness, metrics, and an API description that matches the routes table."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from starlette.routing import Mount, Route

from tests.conftest import ENGINE_KEY, SECRET_KEY, SERVER_KEY, AppClient
from widget_server.logs import RedactSecrets
from widget_server.store.base import OutboxItem

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]


def _starlette_to_openapi(path: str) -> str:
    return re.sub(r"\{(\w+)(:\w+)?\}", r"{\1}", path)


async def test_health_and_readiness(client: AppClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    r = await client.get("/readyz")
    assert r.status_code == 200 and r.json()["status"] == "ready"
    await client.app.state.ctx.store.close()
    assert (await client.get("/readyz")).status_code == 503
    await client.app.state.ctx.store.open()


async def test_metrics_count_creates_and_refusals(client: AppClient) -> None:
    await client.create()
    await client.create(Origin="https://evil.test")
    text = (await client.get("/metrics")).text
    assert 'widget_conversations_created_total{widget="support"} 1.0' in text
    assert "widget_engine_seconds_bucket" in text


async def test_metrics_read_slots_and_webhook_backlog_from_the_store(client: AppClient) -> None:
    store = client.app.state.ctx.store  # no webhook URL here: nothing delivers what is queued
    text = (await client.get("/metrics")).text
    assert "widget_webhook_backlog 0.0" in text
    assert 'widget_slots_taken{widget="support"} 0.0' in text and 'widget_slots_taken{widget="public"} 0.0' in text
    assert (await client.create()).status_code == 201
    for n in range(3):
        await store.outbox_put(OutboxItem(f"evt_{n}", "{}", 0.0))
    text = (await client.get("/metrics")).text
    assert "widget_webhook_backlog 3.0" in text
    assert 'widget_slots_taken{widget="support"} 1.0' in text and 'widget_slots_taken{widget="public"} 0.0' in text
    await store.close()
    r = await client.get("/metrics")  # the counters still answer; what the store would say is unknown
    assert r.status_code == 200 and "widget_webhook_backlog NaN" in r.text
    assert 'widget_conversations_created_total{widget="support"} 1.0' in r.text
    await store.open()


async def test_openapi_describes_every_route(client: AppClient) -> None:
    doc = (await client.get("/openapi.json")).json()
    assert doc["openapi"].startswith("3.1")
    routes = {
        (_starlette_to_openapi(r.path), m.lower())
        for r in client.app.routes if isinstance(r, Route)
        for m in (r.methods or set()) - {"HEAD"}
    }
    described = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert routes == described
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op["responses"], (path, method)
    # every contract route appears in the README
    readme = re.sub(r"\{[^}]+\}", "{}", (ROOT / "README.md").read_text())
    for path, _ in routes:
        if path.startswith(("/api/", "/hooks/", "/w/", "/embed.js", "/healthz", "/metrics", "/openapi")):
            assert re.sub(r"\{[^}]+\}", "{}", path) in readme, path
    assert any(isinstance(r, Mount) for r in client.app.routes)  # the sandbox's rooms


async def test_unknown_route_and_method_are_problems(client: AppClient) -> None:
    r = await client.get("/nope")
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    r = await client.get("/api/widgets/support/conversations")
    assert r.status_code == 405 and r.headers["content-type"] == "application/problem+json"


def test_log_filter_redacts_secrets(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("widget_server.test")
    logger.addFilter(RedactSecrets((ENGINE_KEY, SECRET_KEY, SERVER_KEY)))
    with caplog.at_level(logging.INFO, logger="widget_server.test"):
        logger.info("engine said %s and key %s", ENGINE_KEY, SERVER_KEY)
    logger.filters.clear()
    assert ENGINE_KEY not in caplog.text and SERVER_KEY not in caplog.text
    assert "[redacted]" in caplog.text
