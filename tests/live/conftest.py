"""The live tests' setups and helpers: each test runs on both setups (``tests.conftest.SETUPS``).

``client`` and ``make_settings`` here give the app with the embedded sandbox, or with the
``tavus`` engine over HTTP to a ``widget-server sandbox`` process.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from tests.conftest import SERVER_KEY, SETUPS, AppClient, base_config, deep_merge, engine_for
from widget_server.settings import Settings, parse_settings

AUTH = {"Authorization": f"Bearer {SERVER_KEY}"}


@pytest.fixture(params=SETUPS)
def setup(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def make_settings(tmp_path: Path, setup: str, request: pytest.FixtureRequest) -> Callable[..., Settings]:
    engine = engine_for(setup, request)

    def make(extra: dict[str, Any] | None = None, env: dict[str, str] | None = None) -> Settings:
        raw = deep_merge(base_config(tmp_path), {"engine": engine})
        return parse_settings(deep_merge(raw, extra or {}), env or {})

    return make


@pytest.fixture
async def client(client_for: Callable[[Settings], Any], make_settings: Callable[..., Settings]) -> AppClient:
    result: AppClient = await client_for(make_settings())
    return result


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
