"""The sandbox rooms over HTTP: a small info page and the room WebSocket (see docs/sandbox.md).

    ws://127.0.0.1:8790/rooms/c123/ws?t=<meeting token>&name=Ada
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from .core import SandboxCore
from .room import Member, RoomError

ERROR_CLOSE_CODE = 4000


def room_routes(core: SandboxCore) -> list[BaseRoute]:
    async def info(request: Request) -> Response:
        conv = core.conversations.get(request.path_params["id"])
        if conv is None or conv.deleted:
            return JSONResponse({"error": "no-room"}, status_code=404)
        return JSONResponse({
            "room": conv.id,
            "status": conv.status,
            "private": conv.spec.require_auth,
            "participants": len(conv.room.participants),
            "ws": conv.url.replace("http", "ws", 1) + "/ws",
        })

    async def socket(ws: WebSocket) -> None:
        await ws.accept()
        cid = ws.path_params["id"]
        try:
            member = core.join_room(cid, token=ws.query_params.get("t"), user_name=ws.query_params.get("name", ""))
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

    return [Route("/rooms/{id}", info), WebSocketRoute("/rooms/{id}/ws", socket)]


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
