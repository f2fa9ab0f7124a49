"""Operator back ends in a live conversation: interactions in, events out (SSE or WebSocket)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response, StreamingResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from widget_server.errors import FieldError, Problem, invalid
from widget_server.live.interactions import validate
from widget_server.responses import JSONAnswer
from widget_server.store import ConversationRecord
from widget_server.views.common import ctx, is_server_key, read_json, require_server_key

if TYPE_CHECKING:
    from widget_server.live.hub import LiveHub

NO_STORE = {"Cache-Control": "no-store"}


def hub(conn: HTTPConnection) -> LiveHub:
    found: LiveHub = ctx(conn).live
    return found


def _server_key(conn: HTTPConnection) -> None:
    """Bearer server key; ``?key=`` only for WebSocket clients, which cannot set headers."""
    keys = ctx(conn).settings.server.server_keys
    token = bearer_of(conn)
    if token is None and isinstance(conn, WebSocket):
        token = conn.query_params.get("key")
    if not is_server_key(token, keys):
        raise Problem(401, "Server key required", "send Authorization: Bearer <server key>",
                      kind="unauthorized", headers={"WWW-Authenticate": "Bearer"})


def bearer_of(conn: HTTPConnection) -> str | None:
    scheme, _, value = conn.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _after(conn: HTTPConnection) -> int:
    raw = conn.headers.get("last-event-id") or conn.query_params.get("after") or "0"
    field = "Last-Event-ID" if conn.headers.get("last-event-id") else "after"
    if not raw.isdigit() or len(raw) > 18:
        raise invalid([FieldError(field, "must be a non-negative integer (a seq already seen)")],
                      "Invalid query")
    return int(raw)


async def _record(conn: HTTPConnection) -> ConversationRecord:
    record: ConversationRecord = await ctx(conn).conversations.get(conn.path_params["conversation_id"])
    return record


async def post_interaction(request: Request) -> Response:
    require_server_key(request)
    body = await read_json(request)
    record = await _record(request)
    message = validate(body, request.path_params["conversation_id"])
    await hub(request).send(record, message)
    return JSONAnswer({"accepted": True, "event_type": message["event_type"]}, status_code=202,
                      no_store=True)


async def events(request: Request) -> Response:
    _server_key(request)
    after = _after(request)
    record = await _record(request)
    live = hub(request)
    await live.open(record)
    if "application/json" in request.headers.get("accept", "") and "text/event-stream" not in request.headers.get(
            "accept", ""):
        found = await live.bus.read(record.conversation_id or "", after)
        return JSONAnswer({"events": [e.to_json() for e in found],
                           "ended": any(e.type == "ended" for e in found)}, no_store=True)

    async def stream() -> AsyncIterator[str]:
        yield "retry: 2000\n\n"
        async for event in live.follow(record, after):
            if event is None:
                yield ": keep-alive\n\n"
            else:
                yield f"id: {event.seq}\nevent: {event.type}\ndata: {event.dumps()}\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={**NO_STORE, "X-Accel-Buffering": "no"})


async def events_ws(websocket: WebSocket) -> None:
    try:
        _server_key(websocket)
        after = _after(websocket)
        record = await _record(websocket)
        live = hub(websocket)
        await live.open(record)
    except Problem as problem:
        if "websocket.http.response" in websocket.scope.get("extensions", {}):
            await websocket.send_denial_response(problem.response())
        else:
            await websocket.close(code=4000 + problem.status, reason=problem.title)
        return
    await websocket.accept()

    async def pump() -> None:
        async for event in live.follow(record, after):
            if event is not None:
                await websocket.send_text(event.dumps())

    async def drain() -> None:
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                await websocket.receive_text()  # clients need not send; this notices them going

    tasks = [asyncio.create_task(pump()), asyncio.create_task(drain())]
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    with contextlib.suppress(Exception):
        await websocket.close(code=1000, reason="conversation ended" if tasks[0] in done else "")
