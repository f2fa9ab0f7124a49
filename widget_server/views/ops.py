"""For orchestrators and developers: health, readiness, metrics, the API description."""

from __future__ import annotations

import contextlib

from starlette.requests import Request
from starlette.responses import Response

from widget_server.errors import Problem
from widget_server.openapi import openapi_document
from widget_server.responses import JSONAnswer
from widget_server.views.common import bearer, ctx, is_server_key


async def healthz(request: Request) -> Response:
    return JSONAnswer({"status": "ok"})


async def readyz(request: Request) -> Response:
    """200 when this instance should get traffic; 503 naming why not (``store``, ``assets``, ``engine-auth``,
    ``draining``), without a secret."""
    c = ctx(request)
    ready, body = await c.health.ready()
    if c.history.opened and await c.history.ping():
        with contextlib.suppress(Exception):
            body["history_schema"] = await c.history.schema_version()
    body["history"] = "ok" if body.get("history_schema") else "unreachable"
    if ready:
        c.health.store_condition.ok()
    return JSONAnswer(body, status_code=200 if ready else 503, no_store=True)


async def metrics(request: Request) -> Response:
    c = ctx(request)
    keys = c.settings.server.metrics_keys
    if keys and not is_server_key(bearer(request), keys):
        raise Problem(401, "Metrics key required", "send Authorization: Bearer <server.metrics_key>",
                      kind="unauthorized", headers={"WWW-Authenticate": "Bearer"})
    text = await c.metrics.scrape(c.store, c.settings.widgets, c.clock())
    return Response(text, media_type="text/plain; version=0.0.4; charset=utf-8")


async def openapi(request: Request) -> Response:
    return JSONAnswer(openapi_document(ctx(request).settings.server.public_url))
