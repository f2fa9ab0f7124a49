"""The waiting line's routes: where a ticket stands (JSON or a live stream), presence, join, leave.

Each is authorised by the ticket of the 202 that gave the place (``Authorization: Bearer <ticket>``, the
body's ``ticket``, or ``?ticket=`` for an ``EventSource``, which cannot set headers).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from widget_server.conversations import Created
from widget_server.errors import Problem
from widget_server.line import GONE
from widget_server.responses import JSONAnswer
from widget_server.settings import WidgetSettings
from widget_server.store import STORE_ERRORS
from widget_server.tokens import BadToken
from widget_server.views.api import answer_created
from widget_server.views.common import bearer, ctx, read_json

POLL_S = 0.25        # a stream reads its place this often (at once when this instance moves the line)
KEEP_ALIVE_S = 15.0
TICKET_SLACK_S = 3600  # a ticket outlives the longest wait by this much (its 410 still says why)


def _ticket(request: Request, body: Any = None) -> tuple[WidgetSettings, str]:
    c = ctx(request)
    widget = c.widget(request.path_params["widget"])
    queue_id = request.path_params["queue_id"]
    token = bearer(request)
    if token is None and isinstance(body, dict) and isinstance(body.get("ticket"), str):
        token = body["ticket"]
    if token is None and request.method == "GET":
        token = request.query_params.get("ticket")
    if not token:
        raise Problem(401, "Ticket required", "send the ticket of your place in line", kind="unauthorized")
    try:
        c.signer.check_queue_ticket(token, widget.id, queue_id, widget.queue.max_wait_s + TICKET_SLACK_S)
    except BadToken:
        raise Problem(401, "Invalid ticket", "the ticket is not valid for this place in line",
                      kind="token-invalid") from None
    return widget, queue_id


def _gone(doc: dict[str, Any]) -> Problem:
    reason = str(doc.get("reason") or "left")
    return Problem(410, "No longer in line", GONE.get(reason, "left the line"),
                   kind=f"queue-{reason.replace('_', '-')}")


async def place(request: Request) -> Response:
    """Where the ticket stands: JSON, or with ``Accept: text/event-stream`` a ``place`` event on each change
    (the open stream is the visitor's presence; it closes once the ticket left the line)."""
    widget, queue_id = _ticket(request)
    line = ctx(request).line
    if "text/event-stream" not in request.headers.get("accept", ""):
        doc = await line.describe(widget, await line.touch(widget, queue_id))
        if doc["state"] == "":
            raise Problem(404, "Unknown place in line", "no such ticket in this widget's line", kind="not-found")
        return JSONAnswer(doc, no_store=True)

    async def stream() -> AsyncIterator[str]:
        yield "retry: 1000\n\n"
        last: tuple[Any, ...] = ()
        said = time.monotonic()
        while True:
            try:
                doc = await line.describe(widget, await line.touch(widget, queue_id))
            except STORE_ERRORS:
                return  # the page reconnects (retry), to this instance or another
            # the estimate moves with every poll: a change of a quarter minute is news, less is not
            key = (doc["state"], doc["position"], doc["length"], int(doc.get("estimated_wait_s", 0) // 15))
            if key != last:
                last, said = key, time.monotonic()
                yield f"event: place\ndata: {json.dumps(doc, separators=(',', ':'))}\n\n"
            elif time.monotonic() - said > KEEP_ALIVE_S:
                said = time.monotonic()
                yield ": keep-alive\n\n"
            if doc["state"] in ("left", ""):
                return
            await line.wait_moved(widget.id, POLL_S)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def heartbeat(request: Request) -> Response:
    """The visitor is still there: 200 with the place; 410 once the ticket left the line (and why)."""
    body = await read_json(request, allow_text=True)
    widget, queue_id = _ticket(request, body)
    line = ctx(request).line
    doc = await line.describe(widget, await line.touch(widget, queue_id))
    if doc["state"] == "left":
        raise _gone(doc)
    if doc["state"] == "":
        raise Problem(404, "Unknown place in line", "no such ticket in this widget's line", kind="not-found")
    return JSONAnswer(doc, no_store=True)


async def join(request: Request) -> Response:
    """The visitor is there and it is their turn: 201 with the conversation (as the create answers); 202 with
    the place when the engine's concurrency refusal put them back at the head; 409 before their turn."""
    body = await read_json(request, allow_text=True)
    widget, queue_id = _ticket(request, body)
    joined = await ctx(request).line.join(widget, queue_id)
    if isinstance(joined, Created):
        return await answer_created(request, widget, joined)
    return JSONAnswer(joined, status_code=202, no_store=True)


async def leave(request: Request) -> Response:
    """Out of the line at once (Leave, or the tab closing: ``sendBeacon`` with ``{"ticket": ...}``); 204."""
    body = await read_json(request, allow_text=True)
    widget, queue_id = _ticket(request, body)
    await ctx(request).line.leave(widget, queue_id)
    return Response(status_code=204, headers={"Cache-Control": "no-store"})
