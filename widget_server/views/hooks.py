"""The engine's callbacks, authenticated by the signed ref in the URL we gave it."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from widget_server.responses import JSONAnswer
from widget_server.views.common import ctx, read_json


async def engine_callback(request: Request) -> Response:
    await ctx(request).conversations.on_callback(request.path_params["ref"], await read_json(request))
    return JSONAnswer({"ok": True})
