"""The server as a participant in a conversation's room, behind one small interface.

    seat = SandboxParticipant(core, "c123", sink)     # or DailyParticipant(url, token, sink)
    await seat.join()                                 # RoomGone if the conversation has ended
    await seat.send({"message_type": "conversation", "event_type": "conversation.echo", ...})
    await seat.close()

``sink(RoomEvent)`` is called on the event loop for everything the seat sees; a
``left`` RoomEvent comes last.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, Protocol

from widget_server.engines.sandbox.core import SandboxCore
from widget_server.engines.sandbox.room import RoomError
from widget_server.engines.sandbox.subscription import Subscription
from widget_server.engines.sandbox.validation import SandboxError

from .events import RoomEvent

Sink = Callable[[RoomEvent], None]


class ParticipantError(Exception):
    """The server could not get into (or talk in) the room."""


class RoomGone(ParticipantError):
    """The room is closed: the conversation has ended."""


class Participant(Protocol):
    async def join(self) -> None: ...

    async def send(self, message: dict[str, Any]) -> None: ...

    async def close(self) -> None: ...


class SandboxParticipant:
    """A hidden seat in an in-process sandbox room (``SandboxCore.subscribe``)."""

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
        own = sub.member.id
        async for raw in sub:
            action = raw.get("action")
            if action == "joined":
                for p in raw.get("participants") or []:
                    self.sink(RoomEvent("participant-joined", {"participant": p}))
            elif action == "participant-joined":
                self.sink(RoomEvent("participant-joined", {"participant": raw.get("participant") or {}}))
            elif action == "app-message" and raw.get("fromId") not in (own, "server"):
                self.sink(RoomEvent("app-message", {"data": raw.get("data"), "from": raw.get("fromId")}))
            elif action == "left-meeting":
                self.sink(RoomEvent("left", {"reason": raw.get("reason") or "left"}))
                return

    async def send(self, message: dict[str, Any]) -> None:
        try:
            self.core.send_app_message(self.conversation_id, message)
        except (RoomError, SandboxError) as exc:
            raise RoomGone(str(exc)) from None

    async def close(self) -> None:
        if self._sub is not None:
            self._sub.close()
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def shutdown_reason(self) -> str | None:
        conv = self.core.conversations.get(self.conversation_id)
        return conv.shutdown_reason if conv is not None else None
