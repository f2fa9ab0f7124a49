"""Console fixtures: an app with an ``[admin]`` table, and a client signed in through the real login form."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import AppClient, FakeClock
from widget_server.admin.auth import hash_password
from widget_server.settings import Settings

OPERATOR = "ada"
PASSWORD = "correct horse battery staple"
HASH = hash_password(PASSWORD)  # once per run: argon2id is slow on purpose


def admin_config(**extra: Any) -> dict[str, Any]:
    return {"admin": {"users": [{"name": OPERATOR, "password_hash": HASH}], **extra}}


async def sign_in(client: AppClient, name: str = OPERATOR, password: str = PASSWORD,
                  **headers: str) -> Any:
    """The login form as a browser fills it: GET (nonce cookie, CSRF field), then POST."""
    form = await client.get("/admin/login")
    assert form.status_code == 200, form.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None
    return await client.post("/admin/login", data={"username": name, "password": password, "csrf": csrf.group(1),
                                                   "next": "/admin/live"}, headers=headers)


def page_csrf(html: str) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert found is not None, html[:500]
    return found.group(1)


@pytest.fixture
def admin_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(admin_config())


@pytest.fixture
async def console(client_for: Callable[..., Any], admin_settings: Settings, clock: FakeClock) -> AppClient:
    client: AppClient = await client_for(admin_settings, clock=clock)
    return client


@pytest.fixture
async def signed_in(console: AppClient) -> AppClient:
    r = await sign_in(console)
    assert r.status_code == 303 and r.headers["location"] == "/admin/live", r.text
    return console
