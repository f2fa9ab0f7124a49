"""The sandbox behind the Engine interface, in process: no HTTP, same failures as over HTTP.

    core = SandboxCore(room_base_url="http://127.0.0.1:8000/sandbox/rooms")
    engine = SandboxEngine(core)
    conv = await engine.create(CreateRequest(replica_id="r1"))
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ...errors import EngineError
from ..base import ConversationPage, CreateRequest, EngineConversation
from ..rooms import Room, Seat, SeatError, Sink, described_room, merge_csp, origin_sources
from .core import CONCURRENCY_MESSAGE, SandboxCore
from .seat import InProcessSeat
from .validation import SandboxError

_ENDED = ("App messages can only be sent to active conversations.",
          "The conversation's room is no longer available.")


class SandboxEngine:
    kind = "sandbox"

    def __init__(self, core: SandboxCore) -> None:
        self.core = core

    async def create(self, request: CreateRequest) -> EngineConversation:
        try:
            created = await self.core.create(request.to_payload())
        except SandboxError as exc:
            raise engine_error(exc) from None
        if created.lost:
            raise EngineError("connection", "The engine closed the connection without answering")
        conv = EngineConversation.from_json(created.doc)
        if conv.status != "active":
            return conv
        return conv.with_room(self._room(conv.conversation_id, conv.meeting_token))

    def _room(self, conversation_id: str, token: str | None) -> Room:
        conv = self.core.conversations.get(conversation_id)
        described = described_room(conv.url if conv else "", token, self.core.room_descriptor(conversation_id))
        if described is None:
            raise EngineError("not_found", "no room for this conversation")
        # In this process the seat needs no socket, so it costs nothing: taken at creation.
        return replace(described, seat="in-process", join_at_creation=True)

    def page_sources(self) -> dict[str, tuple[str, ...]]:
        return merge_csp(origin_sources(self.core.room_base_url))

    async def room(self, conversation_id: str) -> Room:
        conv = self.core.conversations.get(conversation_id)
        return self._room(conversation_id, conv.meeting_token if conv else None)

    def seat(self, conversation_id: str, room: Room, sink: Sink) -> Seat:
        if room.seat != "in-process":
            raise SeatError(f"the embedded sandbox seats in process, not by {room.seat}")
        return InProcessSeat(self.core, conversation_id, sink)

    async def send_app_message(self, conversation_id: str, message: dict[str, Any]) -> None:
        try:
            self.core.send_app_message(conversation_id, message)
        except SandboxError as exc:
            err = engine_error(exc)
            if err.message in _ENDED:
                raise EngineError("ended", err.message, upstream_status=exc.status) from None
            raise err from None

    async def get(self, conversation_id: str) -> EngineConversation:
        try:
            return EngineConversation.from_json(await self.core.get(conversation_id, verbose=True))
        except SandboxError as exc:
            raise engine_error(exc) from None

    async def end(self, conversation_id: str) -> None:
        try:
            await self.core.end(conversation_id)
        except SandboxError as exc:
            raise engine_error(exc) from None

    async def list(self, *, status: str | None = None, limit: int = 100, page: int = 1) -> ConversationPage:
        try:
            doc = await self.core.list(limit=limit, page=page, status=status)
        except SandboxError as exc:
            raise engine_error(exc) from None
        return ConversationPage(
            data=[EngineConversation.from_json(d) for d in doc["data"]], total_count=doc["total_count"]
        )

    async def aclose(self) -> None:
        await self.core.aclose()


def engine_error(exc: SandboxError) -> EngineError:
    """What an HTTP client of the upstream makes of this answer."""
    body: dict[str, Any] = exc.body
    message = str(body.get("error") or body.get("message") or f"HTTP {exc.status}")
    status = exc.status
    if status == 400 and message == CONCURRENCY_MESSAGE:
        kind = "concurrency"
    elif status == 401:
        kind = "auth"
    elif status == 402:
        kind = "credits"
    elif status == 404:
        kind = "not_found"
    elif status == 429:
        kind = "concurrency"
    elif status >= 500:
        kind = "unavailable"
    else:
        kind = "rejected"
    return EngineError(kind, message, upstream_status=status)
