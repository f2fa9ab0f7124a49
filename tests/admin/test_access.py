"""Every console route, enumerated from the app (a new one cannot be forgotten): closed without a session or a
server key, no state change without the CSRF token, off without [admin], and no secret on any page."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from starlette.routing import Route

from tests.admin.conftest import admin_config, page_csrf, sign_in
from tests.conftest import SERVER_KEY, AppClient
from widget_server.admin.auth import COOKIE
from widget_server.settings import Settings

pytestmark = pytest.mark.anyio
# The ways in: the sign-in form (its CSRF: below) and single sign-on (tests/admin/test_oidc.py)
PUBLIC = {("/admin/login", "GET"), ("/admin/login", "POST"), ("/admin/oidc/start", "GET"),
          ("/admin/oidc/callback", "GET")}


def console_routes(app: Any) -> list[tuple[str, str]]:
    found = sorted({(r.path, m) for r in app.routes if isinstance(r, Route)
                    and (r.path == "/admin" or r.path.startswith(("/admin/", "/api/admin/")))
                    for m in (r.methods or set()) - {"HEAD"}})
    assert len(found) >= 20, found
    return found


def concrete(path: str, **values: str) -> str:
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: values.get(m.group(1), "c_unknown0"), path)


async def call(client: AppClient, method: str, path: str, **kwargs: Any) -> Any:
    return await client.request(method, path, **kwargs)


async def test_every_console_route_is_closed_to_strangers(console: AppClient) -> None:
    for path, method in console_routes(console.app):
        if (path, method) in PUBLIC:
            continue
        r = await call(console, method, concrete(path))
        if path.startswith("/api/"):
            assert r.status_code == 401, (method, path, r.status_code)
            assert r.headers["content-type"] == "application/problem+json"
        else:
            assert r.status_code == 303, (method, path, r.status_code)
            assert r.headers["location"].startswith("/admin/login"), (method, path)
        # a forged or foreign cookie is no session either
        r = await call(console, method, concrete(path), headers={"Cookie": f"{COOKIE}=eyJ1IjoiYWRhIn0.AAAA.forged"})
        assert r.status_code in (401, 303), (method, path, r.status_code)
        # nor is another key than a server key
        r = await call(console, method, concrete(path), headers={"Authorization": "Bearer not-a-server-key-at-all"})
        assert r.status_code in (401, 303), (method, path, r.status_code)


async def test_no_state_change_without_the_csrf_token(signed_in: AppClient) -> None:
    cid = (await signed_in.create()).json()["conversation_id"]
    engine = signed_in.app.state.ctx.engine
    posts = [(p, m) for p, m in console_routes(signed_in.app) if m != "GET"]
    assert {p for p, _ in posts} >= {"/admin/logout", "/api/admin/conversations/{conversation_id}/end"}
    for path, method in posts:
        if (path, method) in PUBLIC:
            continue
        url = concrete(path, conversation_id=cid)
        for attempt in ({}, {"data": {"csrf": "0" * 32}}, {"headers": {"X-CSRF-Token": "forged"}}):
            r = await call(signed_in, method, url, **attempt)
            assert r.status_code == 403, (method, path, attempt, r.status_code)
    assert engine.core.conversations[cid].active  # nothing was ended
    assert (await signed_in.get("/api/admin/live")).status_code == 200  # nor was anyone signed out


async def test_the_sign_in_form_needs_its_own_token(console: AppClient) -> None:
    r = await console.post("/admin/login", data={"username": "ada", "password": "x"})
    assert r.status_code == 403
    assert COOKIE not in console.cookies


async def test_every_console_route_is_404_without_an_admin_table(client: AppClient) -> None:
    for path, method in console_routes(client.app):
        r = await call(client, method, concrete(path), headers={"Authorization": f"Bearer {SERVER_KEY}"})
        assert r.status_code == 404, (method, path, r.status_code)


async def test_no_secret_on_any_page_or_answer(client_for: Callable[..., Any],
                                               make_settings: Callable[..., Settings]) -> None:
    settings = make_settings({**admin_config(), "webhooks": {"url": "http://127.0.0.1:9/in",
                                                             "secret": "whsec_test_0123456789abcdef"},
                              "engine": {"kind": "sandbox"}})
    client = await client_for(settings)
    assert (await sign_in(client)).status_code == 303
    cid = (await client.create()).json()["conversation_id"]
    await client.app.state.ctx.conversations.recorder.sync()
    secrets = settings.secrets()
    assert len(secrets) >= 4  # signing key, server key, webhook secret, the operator's password hash
    seen = 0
    for path, method in console_routes(client.app):
        if method != "GET":
            continue
        r = await client.get(concrete(path, conversation_id=cid))
        assert r.status_code in (200, 303) or path.startswith("/admin/oidc/"), (path, r.status_code)
        text = r.text + "\n".join(f"{k}: {v}" for k, v in r.headers.items())
        for secret in secrets:
            assert secret not in text, (path, "leaks a secret")
        seen += 1
    assert seen >= 15
    # the session works from the page's token too
    csrf = page_csrf((await client.get("/admin/live")).text)
    r = await client.post(f"/api/admin/conversations/{cid}/end", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200 and r.json()["status"] == "ended"
