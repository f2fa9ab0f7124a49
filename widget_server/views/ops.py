"""For orchestrators and developers: health, readiness, metrics, the API description."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from widget_server.openapi import openapi_document
from widget_server.responses import JSONAnswer
from widget_server.views.common import ctx


async def healthz(request: Request) -> Response:
    return JSONAnswer({"status": "ok"})


async def readyz(request: Request) -> Response:
    ok = await ctx(request).store.ping()
    return JSONAnswer({"status": "ready" if ok else "store unreachable"}, status_code=200 if ok else 503)


async def metrics(request: Request) -> Response:
    c = ctx(request)
    text = await c.metrics.scrape(c.store, c.settings.widgets, c.clock())
    return Response(text, media_type="text/plain; version=0.0.4; charset=utf-8")


async def openapi(request: Request) -> Response:
    return JSONAnswer(openapi_document(ctx(request).settings.server.public_url))
