"""The sandbox rooms over HTTP: the room descriptor, the call page and the room WebSocket (see docs/sandbox.md).

    GET http://127.0.0.1:8790/rooms/c123                    # JSON: what the room is, how to join it
    GET http://127.0.0.1:8790/rooms/c123?t=<meeting token>  # a browser: the call page (call_page.py)
    ws://127.0.0.1:8790/rooms/c123/ws?t=<meeting token>&name=Ada
    ws://127.0.0.1:8790/rooms/c123/ws?presence=false        # + x-api-key: the server's hidden seat
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from .call_page import PREFIX, CallFiles, call_page, wants_page
from .core import SandboxCore
from .room import Member, RoomError

ERROR_CLOSE_CODE = 4000


def room_routes(core: SandboxCore, api_key: str | None = None) -> list[BaseRoute]:
    """``api_key``: a hidden seat (``presence=false``) needs it in ``x-api-key``; without one, the token rules."""

    files = CallFiles()

    async def info(request: Request) -> Response:
        cid = request.path_params["id"]
        doc = core.room_descriptor(cid)
        if wants_page(request):
            conv = core.conversations.get(cid) if doc is not None else None
            props = conv.spec.properties if conv is not None else {}
            return call_page(request, cid, greenscreen=bool(props.get("apply_greenscreen")),
                             audio_only=conv is not None and conv.spec.audio_only, found=doc is not None)
        if doc is None:
            return JSONResponse({"error": "no-room"}, status_code=404)
        return JSONResponse(doc)

    async def asset(request: Request) -> Response:
        return files.response(request.path_params["name"])

    def join(ws: WebSocket, cid: str) -> Member:
        token, name = ws.query_params.get("t"), ws.query_params.get("name", "")
        if ws.query_params.get("presence") != "false":
            return core.join_room(cid, token=token, user_name=name)
        if api_key is None:
            return core.join_room(cid, token=token, user_name=name, hidden=True)
        given = ws.headers.get("x-api-key", "")
        if not hmac.compare_digest(given.encode(), api_key.encode()):
            raise RoomError("not-allowed", "a hidden seat needs the API key in x-api-key")
        return core.hidden_seat(cid)

    async def socket(ws: WebSocket) -> None:
        await ws.accept()
        cid = ws.path_params["id"]
        try:
            member = join(ws, cid)
        except RoomError as exc:
            await ws.send_json({"action": "error", "errorMsg": exc.error_msg, "detail": exc.detail})
            await ws.close(ERROR_CLOSE_CODE)
            return
        pump = asyncio.create_task(_pump(ws, member))
        try:
            while not member.closed:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                data = _parse(message.get("text") or message.get("bytes"))
                if data is None:
                    member.push({"action": "nonfatal-error", "type": "bad-message",
                                 "errorMsg": "messages must be JSON objects with an action"})
                elif data.get("action") == "leave":
                    break
                else:
                    core.room_message(cid, member, data)
        finally:
            core.leave_room(cid, member)
            await pump

    return [Route(f"/rooms/{PREFIX}/{{name}}", asset), Route("/rooms/{id}", info),
            WebSocketRoute("/rooms/{id}/ws", socket)]


async def _pump(ws: WebSocket, member: Member) -> None:
    with contextlib.suppress(Exception):  # the visitor may be gone already
        while (event := await member.next()) is not None:
            await ws.send_json(event)
        await ws.close()


def _parse(raw: str | bytes | None) -> dict[str, object] | None:
    try:
        data = json.loads(raw or "")
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
