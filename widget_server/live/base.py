"""What every bus is: the interface the hub uses, and the limits both buses keep.

    bus: Bus = open_bus(settings.server.store, clock)     # bus.py: LocalBus or redis_bus.RedisBus
    await bus.take_lease("c1", "i-1", ttl_s=15)            # only the lease holder appends
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from .events import Event

MAX_EVENTS = 10_000
LIVE_TTL_S = 3 * 3600  # kept at most this long while the conversation runs

CommandHandler = Callable[[dict[str, Any]], Awaitable[None]]


class Bus(Protocol):
    async def append(self, conversation_id: str, type_: str, data: dict[str, Any]) -> Event: ...

    async def read(self, conversation_id: str, after: int) -> list[Event]: ...

    async def wait(self, conversation_id: str, after: int, timeout: float) -> list[Event]: ...

    async def last_seq(self, conversation_id: str) -> int: ...

    async def expire(self, conversation_id: str, seconds: float) -> None:
        """Forget this conversation's events ``seconds`` from now."""
        ...

    async def take_lease(self, conversation_id: str, holder: str, ttl_s: float) -> bool:
        """Take, or renew when already ``holder``'s, the right to be in the room."""
        ...

    async def drop_lease(self, conversation_id: str, holder: str) -> None: ...

    async def publish(self, conversation_id: str, message: dict[str, Any]) -> bool:
        """Hand a command to the lease holder on another instance; False if nobody listened."""
        ...

    async def listen(self, conversation_id: str, handler: CommandHandler) -> Callable[[], Awaitable[None]]:
        """Run ``handler`` for every command published for this conversation; returns a stopper."""
        ...

    async def remember_room(self, conversation_id: str, room: dict[str, Any], ttl_s: float) -> None: ...

    async def room(self, conversation_id: str) -> dict[str, Any] | None: ...

    async def aclose(self) -> None: ...
