"""How the sandbox sends its lifecycle callbacks: the upstream envelope, any transport.

    deliver = HttpDeliver(timeout_s=2)
    await deliver("https://example.com/hook", envelope("c1", "system.shutdown", url, {...}))
    await deliver.aclose()
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx

Deliver = Callable[[str, dict[str, Any]], Awaitable[None]]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def envelope(
    conversation_id: str, event_type: str, webhook_url: str, properties: dict[str, Any]
) -> dict[str, Any]:
    return {
        "conversation_id": conversation_id,
        "event_type": event_type,
        "message_type": event_type.split(".", 1)[0],
        "timestamp": now_iso(),
        "webhook_url": webhook_url,
        "properties": properties,
    }


class HttpDeliver:
    """The default transport: one POST per callback; raises on failure (the core counts it)."""

    def __init__(self, timeout_s: float = 3.0) -> None:
        self.timeout_s = timeout_s
        self._client: httpx.AsyncClient | None = None

    async def __call__(self, url: str, payload: dict[str, Any]) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout_s)
        response = await self._client.post(url, json=payload)
        response.raise_for_status()

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
