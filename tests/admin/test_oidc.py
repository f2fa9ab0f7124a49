"""OpenID Connect sign-in against a small OpenID provider on loopback (tests/oidc_provider.py): the whole
authorization code flow with PKCE over real HTTP, the ID token checked, only allowed addresses let in."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.admin.conftest import admin_config
from tests.conftest import SERVER_KEY, AppClient
from tests.oidc_provider import OpenIdProvider
from tests.servers import serve_app
from widget_server.admin.auth import COOKIE
from widget_server.settings import ConfigError, Settings

pytestmark = pytest.mark.anyio
SECRET = "oidc_client_secret_0123456789"


@pytest.fixture(scope="module")
def provider() -> Iterator[OpenIdProvider]:
    idp = OpenIdProvider("console", SECRET, "http://testserver/admin/oidc/callback")
    with serve_app(idp.app()) as url:
        idp.issuer = url
        yield idp


def oidc_config(provider: OpenIdProvider, **extra: Any) -> dict[str, Any]:
    config = admin_config()
    config["admin"]["oidc"] = {"issuer": provider.issuer, "client_id": "console", "client_secret": SECRET,
                               "allowed_emails": ["Ada@Example.com"], "label": "Sign in with Test IdP", **extra}
    return config


async def sso(client: AppClient, next_path: str = "/admin/today") -> httpx.Response:
    """The browser's part: start here, follow the provider's redirect (real HTTP), come back with the code."""
    start = await client.get(f"/admin/oidc/start?next={next_path}")
    assert start.status_code == 303, start.text
    assert start.headers["location"].startswith(client.app.state.ctx.settings.admin.oidc.issuer)
    query = parse_qs(urlsplit(start.headers["location"]).query)
    assert query["code_challenge_method"] == ["S256"] and query["scope"] == ["openid email"]
    async with httpx.AsyncClient() as browser:
        at_idp = await browser.get(start.headers["location"])
    assert at_idp.status_code == 302, at_idp.text
    back = urlsplit(at_idp.headers["location"])
    return await client.get(f"{back.path}?{back.query}")


async def test_sign_in_with_openid_connect(client_for: Callable[..., Any], make_settings: Callable[..., Settings],
                                           provider: OpenIdProvider) -> None:
    client = await client_for(make_settings(oidc_config(provider)))
    form = await client.get("/admin/login")
    assert "Sign in with Test IdP" in form.text and 'name="password"' in form.text
    provider.email = "ada@example.com"
    done = await sso(client)
    assert done.status_code == 200 and 'content="0;url=/admin/today"' in done.text, done.text
    assert COOKIE in client.cookies
    r = await client.get("/admin/today")
    assert r.status_code == 200 and "ada@example.com" in r.text
    entries = (await client.get("/api/admin/audit", headers={"Authorization": f"Bearer {SERVER_KEY}"})).json()
    assert (entries["entries"][0]["actor"], entries["entries"][0]["action"]) == ("admin:ada@example.com", "login")
    assert SECRET not in done.text + form.text


async def test_an_address_not_allowed_or_a_replayed_state_gets_no_session(
        client_for: Callable[..., Any], make_settings: Callable[..., Settings], provider: OpenIdProvider) -> None:
    client = await client_for(make_settings(oidc_config(provider)))
    provider.email = "mallory@example.com"
    r = await sso(client)
    assert r.status_code == 403 and "not in admin.oidc.allowed_emails" in r.text
    assert COOKIE not in client.cookies
    provider.email = "ada@example.com"
    provider.email_verified = False
    try:
        r = await sso(client)
        assert r.status_code == 403 and "no verified e-mail" in r.text
    finally:
        provider.email_verified = True
    # a code and state from another browser's attempt (no flow cookie here)
    start = await client.get("/admin/oidc/start")
    async with httpx.AsyncClient() as browser:
        at_idp = await browser.get(start.headers["location"])
    back = urlsplit(at_idp.headers["location"])
    client.cookies.clear()
    r = await client.get(f"{back.path}?{back.query}")
    assert r.status_code == 403 and COOKIE not in client.cookies
    r = await client.get("/admin/oidc/callback?code=x&state=y")
    assert r.status_code == 403
    actions = [e["action"] for e in (await client.get("/api/admin/audit", headers={
        "Authorization": f"Bearer {SERVER_KEY}"})).json()["entries"]]
    assert actions.count("login_failed") == 4


async def test_removing_an_address_ends_its_sessions(client_for: Callable[..., Any],
                                                     make_settings: Callable[..., Settings],
                                                     provider: OpenIdProvider) -> None:
    from widget_server.reload import apply_settings

    client = await client_for(make_settings(oidc_config(provider)))
    provider.email = "ada@example.com"
    assert (await sso(client)).status_code == 200
    assert (await client.get("/api/admin/live")).status_code == 200
    apply_settings(client.app, make_settings(oidc_config(provider, allowed_emails=["grace@example.com"])))
    assert (await client.get("/api/admin/live")).status_code == 401


async def test_oidc_config_is_checked(make_settings: Callable[..., Settings], provider: OpenIdProvider) -> None:
    config = oidc_config(provider, client_secret="", allowed_emails=[])
    config["admin"]["users"] = []
    with pytest.raises(ConfigError) as err:
        make_settings(config)
    assert {p.split(":")[0] for p in err.value.problems} == {"admin.oidc.client_secret", "admin.oidc.allowed_emails"}
    only_sso = oidc_config(provider)
    only_sso["admin"]["users"] = []
    settings = make_settings(only_sso)  # single sign-on alone is enough
    assert settings.admin is not None and settings.admin.users == ()
    assert SECRET in settings.secrets()


async def test_no_oidc_table_means_no_oidc_routes(console: AppClient) -> None:
    assert (await console.get("/admin/oidc/start")).status_code == 404
    assert (await console.get("/admin/oidc/callback?code=x&state=y")).status_code == 404
    assert "Sign in with" not in (await console.get("/admin/login")).text
