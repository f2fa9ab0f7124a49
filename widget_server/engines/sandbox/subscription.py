"""A server-side seat in a sandbox room: every event the room sees, without a socket.

    async with core.subscribe("c123") as events:
        async for event in events:       # ends after {"action": "left-meeting", ...}
            ...
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .room import Event, Member


class Subscription:
    def __init__(self, member: Member, on_close: Callable[[Member], None]) -> None:
        self.member = member
        self._on_close = on_close
        self._done = False

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        event = None if self._done else await self.member.next()
        if event is None:
            self._done = True
            raise StopAsyncIteration
        return event

    def close(self) -> None:
        self._on_close(self.member)

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()
