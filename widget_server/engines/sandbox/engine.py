"""The sandbox behind the Engine interface, in process: no HTTP, same failures as over HTTP.

    core = SandboxCore(room_base_url="http://127.0.0.1:8000/sandbox/rooms")
    engine = SandboxEngine(core)
    conv = await engine.create(CreateRequest(replica_id="r1"))
"""

from __future__ import annotations

from typing import Any

from ...errors import EngineError
from ..base import ConversationPage, CreateRequest, EngineConversation
from .core import CONCURRENCY_MESSAGE, SandboxCore
from .validation import SandboxError


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
        return EngineConversation.from_json(created.doc)

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
    elif status >= 500:
        kind = "unavailable"
    else:
        kind = "rejected"
    return EngineError(kind, message, upstream_status=status)
