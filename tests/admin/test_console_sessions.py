"""Signing out revokes the session in the live store: a copy of the cookie taken before answers 401 (API) or
goes to the sign-in page after, on this instance and on another sharing the store, on SQLite and on Redis."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.admin.conftest import admin_config, page_csrf, sign_in
from tests.conftest import SERVER_KEY, AppClient, FakeClock
from widget_server.admin.auth import COOKIE
from widget_server.settings import Settings

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
async def two_instances(request: pytest.FixtureRequest, client_for: Callable[..., Any],
                        make_settings: Callable[..., Settings], clock: FakeClock) -> tuple[AppClient, AppClient]:
    """Two instances of the server on one live store (the SQLite file, or one redis-server)."""
    extra: dict[str, Any] = admin_config()
    if request.param == "redis":
        extra["server"] = {"store": request.getfixturevalue("redis_url")}
    settings = make_settings(extra)
    return await client_for(settings, clock=clock), await client_for(settings, clock=clock)


async def signed_in_at(client: AppClient) -> str:
    client.cookies.clear()
    r = await sign_in(client)
    assert r.status_code == 303 and r.headers["location"] == "/admin/live", r.text
    cookie = client.cookies.get(COOKIE)
    assert cookie
    return cookie


async def answers(client: AppClient, cookie: str) -> tuple[int, int]:
    """What a browser holding ``cookie`` gets from a page and from the API."""
    held = {"Cookie": f"{COOKIE}={cookie}"}  # this one, not the client's own
    page = await client.get("/admin/live", headers=held)
    api = await client.get("/api/admin/live", headers=held)
    if page.status_code == 303:
        assert page.headers["location"].startswith("/admin/login?next=")
    return page.status_code, api.status_code


async def test_a_cookie_copied_before_sign_out_is_refused_after_it_everywhere(
        two_instances: tuple[AppClient, AppClient]) -> None:
    one, other = two_instances
    cookie = await signed_in_at(one)
    assert await answers(other, cookie) == (200, 200)  # the copy works on another instance
    csrf = page_csrf((await one.get("/admin/live")).text)
    r = await one.post("/admin/logout", data={"csrf": csrf})
    assert r.status_code == 303 and r.headers["location"] == "/admin/login"
    assert await answers(other, cookie) == (303, 401)  # revoked in the store: on every instance
    assert await answers(one, cookie) == (303, 401)
    login = await other.get("/admin/login")  # signed out: the sign-in form, not a redirect into the console
    assert login.status_code == 200 and 'name="username"' in login.text


async def test_sign_out_everywhere_ends_every_session_of_the_operator(
        two_instances: tuple[AppClient, AppClient], clock: FakeClock) -> None:
    one, other = two_instances
    here, there = await signed_in_at(one), await signed_in_at(other)
    assert here != there
    clock.advance(5)
    settings_page = (await one.get("/admin/settings")).text
    assert "Sign out everywhere" in settings_page
    r = await one.post("/admin/logout", data={"csrf": page_csrf(settings_page), "everywhere": "1"})
    assert r.status_code == 303
    assert await answers(other, there) == (303, 401)
    assert await answers(other, here) == (303, 401)
    clock.advance(1)
    again = await signed_in_at(other)  # a session begun after it is not revoked
    assert await answers(one, again) == (200, 200)
    entries = (await one.get("/api/admin/audit", headers={"Authorization": f"Bearer {SERVER_KEY}"}))
    assert [e["action"] for e in entries.json()["entries"]][::-1] == ["login", "login", "logout_everywhere", "login"]


async def test_a_plain_sign_out_leaves_the_operators_other_sessions(
        two_instances: tuple[AppClient, AppClient]) -> None:
    one, other = two_instances
    here, there = await signed_in_at(one), await signed_in_at(other)
    csrf = page_csrf((await one.get("/admin/live")).text)
    assert (await one.post("/admin/logout", data={"csrf": csrf})).status_code == 303
    assert await answers(other, here) == (303, 401)
    assert await answers(other, there) == (200, 200)
