"""For orchestrators and developers: health, readiness, metrics, the API description."""

from __future__ import annotations

import contextlib

from starlette.requests import Request
from starlette.responses import Response

from widget_server.openapi import openapi_document
from widget_server.responses import JSONAnswer
from widget_server.views.common import ctx


async def healthz(request: Request) -> Response:
    return JSONAnswer({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Ready when the live store answers. The history database is reported, not required: while it is down
    ends wait in the live store (and are written once it is back), so an instance can still serve."""
    c = ctx(request)
    ok = await c.store.ping()
    schema = None
    if c.history.opened and await c.history.ping():
        with contextlib.suppress(Exception):
            schema = await c.history.schema_version()
    return JSONAnswer({"status": "ready" if ok else "store unreachable",
                       "history": "ok" if schema else "unreachable", "history_schema": schema},
                      status_code=200 if ok else 503)


async def metrics(request: Request) -> Response:
    return Response(ctx(request).metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")


async def openapi(request: Request) -> Response:
    return JSONAnswer(openapi_document(ctx(request).settings.server.public_url))
