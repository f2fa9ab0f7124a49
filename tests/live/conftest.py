"""Helpers for the live tests: polling the events snapshot, a visitor in a sandbox room."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import anyio
import httpx

from tests.conftest import SERVER_KEY

AUTH = {"Authorization": f"Bearer {SERVER_KEY}"}


async def snapshot(client: httpx.AsyncClient, cid: str, after: int = 0) -> list[dict[str, Any]]:
    r = await client.get(f"/api/conversations/{cid}/events", params={"after": after},
                         headers={**AUTH, "Accept": "application/json"})
    assert r.status_code == 200, r.text
    events: list[dict[str, Any]] = r.json()["events"]
    return events


async def wait_for(client: httpx.AsyncClient, cid: str, match: Callable[[dict[str, Any]], bool],
                   timeout: float = 5.0) -> list[dict[str, Any]]:
    """All events up to and including the first that ``match``es."""
    deadline = time.monotonic() + timeout
    while True:
        events = await snapshot(client, cid)
        for i, event in enumerate(events):
            if match(event):
                return events[: i + 1]
        if time.monotonic() > deadline:
            raise AssertionError(f"no matching event; got {[e['type'] for e in events]}")
        await anyio.sleep(0.02)
