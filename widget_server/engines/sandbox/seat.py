"""The server's seat in a sandbox room: in process (the embedded sandbox) or over the room's WebSocket.

    seat = InProcessSeat(core, "c123", sink)                              # no socket at all
    seat = SocketSeat("ws://127.0.0.1:8790/rooms/c123/ws", token, api_key, sink)
    await seat.join()        # RoomGone if the conversation has ended
    await seat.close()

Either way the seat is hidden: it hears everything, does not count as a visitor (no
``max_participants`` place, no absent or left timer), and sends nothing (interactions go
through ``send-app-message``, which needs no seat).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from ..rooms import RoomEvent, RoomGone, SeatError, Sink
from .core import SandboxCore
from .room import RoomError
from .subscription import Subscription
from .validation import SandboxError

# The close code the room socket uses for a refused join (rooms.ERROR_CLOSE_CODE).
_REFUSED = 4000
_GONE = ("no-room", "exp-token")


def _events(raw: dict[str, Any], own: str | None, sink: Sink) -> bool:
    """Hand one room message to ``sink``; False once the seat has left."""
    action = raw.get("action")
    if action == "joined":
        for p in raw.get("participants") or []:
            sink(RoomEvent("participant-joined", {"participant": p}))
    elif action == "participant-joined":
        sink(RoomEvent("participant-joined", {"participant": raw.get("participant") or {}}))
    elif action == "app-message" and raw.get("fromId") not in (own, "server"):
        sink(RoomEvent("app-message", {"data": raw.get("data"), "from": raw.get("fromId")}))
    elif action == "left-meeting":
        sink(RoomEvent("left", {"reason": raw.get("reason") or "left"}))
        return False
    return True


class InProcessSeat:
    """A hidden member of a room of this very process (``SandboxCore.subscribe``)."""

    def __init__(self, core: SandboxCore, conversation_id: str, sink: Sink) -> None:
        self.core = core
        self.conversation_id = conversation_id
        self.sink = sink
        self._sub: Subscription | None = None
        self._task: asyncio.Task[None] | None = None

    async def join(self) -> None:
        try:
            self._sub = self.core.subscribe(self.conversation_id)
        except (RoomError, SandboxError) as exc:
            raise RoomGone(str(exc)) from None
        self._task = asyncio.create_task(self._pump(self._sub))

    async def _pump(self, sub: Subscription) -> None:
        async for raw in sub:
            if not _events(raw, sub.member.id, self.sink):
                return

    async def send(self, message: dict[str, Any]) -> None:
        raise SeatError("this seat only listens: send interactions with send-app-message")

    async def close(self) -> None:
        if self._sub is not None:
            self._sub.close()
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class SocketSeat:
    """A hidden member over the room's WebSocket (``presence=false``), authorised by the engine's API key."""

    def __init__(self, socket_url: str, token: str | None, api_key: str, sink: Sink, *,
                 join_timeout_s: float = 10.0) -> None:
        self.socket_url = socket_url
        self.token = token
        self.api_key = api_key
        self.sink = sink
        self.join_timeout_s = join_timeout_s
        self._ws: Any = None
        self._task: asyncio.Task[None] | None = None
        self._own: str | None = None
        self._closing = False

    def _url(self) -> str:
        parts = urlsplit(self.socket_url)
        query = {"presence": "false", "name": "widget-server"}
        if self.token:
            query["t"] = self.token
        extra = urlencode(query)
        return urlunsplit(parts._replace(query=f"{parts.query}&{extra}" if parts.query else extra))

    async def join(self) -> None:
        import websockets

        try:
            async with asyncio.timeout(self.join_timeout_s):
                self._ws = await websockets.connect(self._url(), additional_headers={"x-api-key": self.api_key},
                                                    max_queue=None, open_timeout=self.join_timeout_s)
                first = json.loads(await self._ws.recv())
        except TimeoutError:
            await self.close()
            raise SeatError(f"no answer from the room socket within {self.join_timeout_s:g} s") from None
        except websockets.InvalidStatus as exc:
            await self.close()
            raise SeatError(f"the room socket refused the seat: HTTP {exc.response.status_code}") from None
        except websockets.ConnectionClosed as exc:
            await self.close()
            if exc.rcvd is not None and exc.rcvd.code == _REFUSED:
                raise RoomGone("the room is closed") from None
            raise SeatError("the room socket closed before the join") from None
        except (OSError, ValueError, websockets.InvalidHandshake) as exc:
            await self.close()
            raise SeatError(f"could not reach the room socket: {type(exc).__name__}") from None
        if not isinstance(first, dict) or first.get("action") != "joined":
            await self.close()
            kind = first.get("errorMsg") if isinstance(first, dict) else None
            if kind in _GONE:
                raise RoomGone(str(first.get("detail") or kind)) from None
            raise SeatError(f"the room refused the seat: {kind or 'unexpected answer'}")
        self._own = str(first.get("participant_id") or "")
        _events(first, self._own, self.sink)
        self._task = asyncio.create_task(self._pump())

    async def _pump(self) -> None:
        import websockets

        left = False
        try:
            async for raw in self._ws:
                with contextlib.suppress(ValueError):
                    message = json.loads(raw)
                    if isinstance(message, dict) and not _events(message, self._own, self.sink):
                        left = True
                        return
        except websockets.ConnectionClosed:
            pass
        finally:
            if not left and not self._closing:
                self.sink(RoomEvent("left", {"reason": "connection-closed"}))

    async def send(self, message: dict[str, Any]) -> None:
        raise SeatError("this seat only listens: send interactions with send-app-message")

    async def close(self) -> None:
        self._closing = True
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        ws, self._ws = self._ws, None
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
