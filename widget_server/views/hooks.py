"""The engine's callbacks, authenticated by the signed ref in the URL we gave it."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from widget_server.errors import FieldError, Problem, invalid
from widget_server.responses import JSONAnswer
from widget_server.tokens import BadToken
from widget_server.views.common import ctx, read_json


async def engine_callback(request: Request) -> Response:
    c = ctx(request)
    try:
        local_id = c.signer.read_callback_ref(request.path_params["ref"])
    except BadToken:
        raise Problem(404, "Unknown callback", "no such callback", kind="not-found") from None
    event = await read_json(request)
    if not isinstance(event, dict) or not isinstance(event.get("event_type"), str):
        raise invalid([FieldError("event_type", "must be a string")])
    if not await c.conversations.on_engine_event(local_id, event):
        raise Problem(404, "Unknown callback", "no such conversation", kind="not-found")
    return JSONAnswer({"ok": True})
