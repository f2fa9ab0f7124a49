"""The console over ASGI: signing in and out, the pages and the admin API, what the operator does, the audit log."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Callable
from typing import Any

import pytest

from tests.admin.conftest import OPERATOR, PASSWORD, admin_config, page_csrf, sign_in
from tests.conftest import SERVER_KEY, AppClient, FakeClock
from widget_server.admin.auth import COOKIE
from widget_server.settings import Settings

pytestmark = pytest.mark.anyio
KEY = {"Authorization": f"Bearer {SERVER_KEY}"}


async def audit(client: AppClient) -> list[dict[str, Any]]:
    """The audit log, oldest first (the API answers newest first)."""
    entries: list[dict[str, Any]] = (await client.get("/api/admin/audit", headers=KEY)).json()["entries"]
    return entries[::-1]


async def test_no_admin_table_means_no_console(client: AppClient) -> None:
    for path in ("/admin", "/admin/login", "/admin/live", "/api/admin/live"):
        r = await client.get(path, headers=KEY)
        assert r.status_code == 404, path


async def test_sign_in_sets_a_strict_httponly_cookie_and_audits(signed_in: AppClient) -> None:
    cookie = next(v for k, v in signed_in.cookies.items() if k == COOKIE)
    assert cookie
    r = await signed_in.get("/admin/live")
    assert r.status_code == 200 and "Live now" in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]
    entries = await audit(signed_in)
    assert [(e["actor"], e["action"]) for e in entries] == [(f"admin:{OPERATOR}", "login")]


async def test_set_cookie_attributes(console: AppClient) -> None:
    r = await sign_in(console)
    header = r.headers["set-cookie"]
    assert f"{COOKIE}=" in header and "HttpOnly" in header and "SameSite=strict" in header
    assert "Secure" not in header  # http://testserver; https public URLs get Secure (below)


async def test_cookie_is_secure_on_https(client_for: Callable[..., Any],
                                         make_settings: Callable[..., Settings]) -> None:
    client = await client_for(make_settings({**admin_config(), "server": {"public_url": "https://testserver"}}))
    client.base_url = "https://testserver"
    r = await sign_in(client)
    assert "Secure" in r.headers["set-cookie"]


async def test_wrong_password_is_401_and_audited(console: AppClient) -> None:
    r = await sign_in(console, password="nope")
    assert r.status_code == 401 and "Wrong name or password" in r.text
    r = await sign_in(console, name="nobody")
    assert r.status_code == 401
    assert COOKIE not in console.cookies
    assert (await console.get("/api/admin/live")).status_code == 401
    entries = await audit(console)
    assert [(e["actor"], e["action"]) for e in entries] == [("admin:ada", "login_failed"),
                                                             ("admin:nobody", "login_failed")]


async def test_login_limit_per_account_holds_even_with_the_right_password(
        client_for: Callable[..., Any], make_settings: Callable[..., Settings], clock: FakeClock) -> None:
    settings = make_settings(admin_config(login_per_user=3, login_per_ip=100))
    client = await client_for(settings, clock=clock)
    for _ in range(3):
        assert (await sign_in(client, password="wrong")).status_code == 401
    r = await sign_in(client)
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    other = await client_for(settings, clock=clock, peer="198.51.100.9")  # another address: same account
    assert (await sign_in(other)).status_code == 429
    clock.advance(settings.admin.login_window_s if settings.admin else 0)
    assert (await sign_in(client)).status_code == 303


async def test_login_limit_per_address_holds_across_accounts(
        client_for: Callable[..., Any], make_settings: Callable[..., Settings], clock: FakeClock) -> None:
    client = await client_for(make_settings(admin_config(login_per_ip=4, login_per_user=100)), clock=clock)
    for n in range(4):
        assert (await sign_in(client, name=f"guess{n}", password="x")).status_code == 401
    assert (await sign_in(client)).status_code == 429
    entries = await audit(client)
    assert entries[-1]["action"] == "login_limited"


async def test_login_without_its_csrf_nonce_is_403(console: AppClient) -> None:
    r = await console.post("/admin/login", data={"username": OPERATOR, "password": PASSWORD})
    assert r.status_code == 403
    await console.get("/admin/login")
    r = await console.post("/admin/login", data={"username": OPERATOR, "password": PASSWORD, "csrf": "forged"})
    assert r.status_code == 403


async def test_next_never_leaves_the_console(console: AppClient) -> None:
    form = await console.get("/admin/login?next=//evil.test/x")
    assert "//evil.test" not in form.text
    csrf = page_csrf_login(form.text)
    r = await console.post("/admin/login", data={"username": OPERATOR, "password": PASSWORD, "csrf": csrf,
                                                  "next": "https://evil.test/"})
    assert r.status_code == 303 and r.headers["location"] == "/admin/live"


def page_csrf_login(html: str) -> str:
    import re

    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


async def test_idle_and_absolute_expiry(client_for: Callable[..., Any], make_settings: Callable[..., Settings],
                                        clock: FakeClock) -> None:
    client = await client_for(make_settings(admin_config(idle_timeout_s=600, session_max_s=1800)), clock=clock)
    assert (await sign_in(client)).status_code == 303
    for _ in range(5):  # active every 5 minutes: the idle clock restarts, the absolute one does not
        clock.advance(300)
        assert (await client.get("/api/admin/live")).status_code == 200
    clock.advance(301)
    assert (await client.get("/api/admin/live")).status_code == 401  # 1801 s after sign-in
    assert (await sign_in(client)).status_code == 303
    clock.advance(601)
    r = await client.get("/admin/live")
    assert r.status_code == 303 and r.headers["location"].startswith("/admin/login")


async def test_logout_needs_csrf_ends_the_session_and_is_audited(signed_in: AppClient) -> None:
    assert (await signed_in.post("/admin/logout")).status_code == 403
    csrf = page_csrf((await signed_in.get("/admin/live")).text)
    r = await signed_in.post("/admin/logout", data={"csrf": csrf})
    assert r.status_code == 303 and r.headers["location"] == "/admin/login"
    assert (await signed_in.get("/api/admin/live")).status_code == 401
    actions = [e["action"] for e in await audit(signed_in)]
    assert actions == ["login", "logout"]


async def test_end_from_the_console_ends_at_the_engine_and_is_audited(signed_in: AppClient) -> None:
    created = await signed_in.create()
    assert created.status_code == 201
    cid = created.json()["conversation_id"]
    engine = signed_in.app.state.ctx.engine
    assert engine.core.conversations[cid].active
    live = (await signed_in.get("/api/admin/live")).json()["widgets"]
    rows = next(w for w in live if w["widget"] == "support")["conversations"]
    assert [r["conversation_id"] for r in rows] == [cid] and rows[0]["visitor"] in ("present", "unwatched")
    assert cid in (await signed_in.get("/admin/live")).text
    # the API with a session: the header token, or 403
    assert (await signed_in.post(f"/api/admin/conversations/{cid}/end")).status_code == 403
    assert engine.core.conversations[cid].active
    csrf = page_csrf((await signed_in.get("/admin/live")).text)
    r = await signed_in.post(f"/admin/live/{cid}/end", data={"csrf": csrf})
    assert r.status_code == 303 and "notice=" in r.headers["location"]
    assert not engine.core.conversations[cid].active
    status = (await signed_in.get(f"/api/conversations/{cid}", headers=KEY)).json()
    assert status["status"] == "ended" and status["end_reason"] == "operator_ended"
    entries = await audit(signed_in)
    assert (f"admin:{OPERATOR}", "end_conversation", cid) in [(e["actor"], e["action"], e["target"]) for e in entries]


async def test_server_key_scripts_the_api_without_csrf(console: AppClient) -> None:
    cid = (await console.create()).json()["conversation_id"]
    r = await console.post(f"/api/admin/conversations/{cid}/end", headers=KEY)
    assert r.status_code == 200 and r.json()["end_reason"] == "operator_ended"
    entries = await audit(console)
    assert [(e["actor"], e["action"]) for e in entries] == [("server_key", "end_conversation")]


async def test_today_history_ledger_and_csv(signed_in: AppClient, clock: FakeClock) -> None:
    ids = []
    for _ in range(2):
        cid = (await signed_in.create()).json()["conversation_id"]
        clock.advance(90)
        await signed_in.post(f"/api/admin/conversations/{cid}/end", headers=KEY)
        ids.append(cid)
    await signed_in.app.state.ctx.conversations.recorder.sync()
    today = (await signed_in.get("/api/admin/today")).json()
    support = next(w for w in today["widgets"] if w["widget"] == "support")
    assert support["creates"] == 2 and support["ends_by_reason"] == {"operator_ended": 2}
    assert support["minutes_used"] == pytest.approx(3.0, abs=0.1) and support["minutes_per_day"] == 600
    assert support["seconds_cut_by_early_ends"] == pytest.approx(2 * (600 - 90), abs=1)  # max_call_duration 600
    series = (await signed_in.get("/api/admin/history?days=7")).json()
    assert sum(series["conversations"]) == 2 and series["end_reasons"]["operator_ended"][-1] == 2
    assert sum(series["minutes"]) == pytest.approx(3.0, abs=0.1)
    hourly = (await signed_in.get("/api/admin/history?days=1&bucket=hour&widget=support")).json()
    assert len(hourly["buckets"]) == 24 and sum(hourly["conversations"]) == 2
    page = (await signed_in.get("/api/admin/ledger?limit=1")).json()
    assert [i["conversation_id"] for i in page["items"]] == [ids[1]] and page["next"]
    page2 = (await signed_in.get("/api/admin/ledger", params={"limit": 1, "cursor": page["next"]})).json()
    assert [i["conversation_id"] for i in page2["items"]] == [ids[0]] and page2["next"] is None
    assert (await signed_in.get("/api/admin/ledger?widget=public")).json()["items"] == []
    assert (await signed_in.get("/api/admin/ledger?rating=up")).json()["items"] == []
    bad = await signed_in.get("/api/admin/ledger?rating=meh&limit=0&from=yesterday")
    assert bad.status_code == 422 and {e["field"] for e in bad.json()["errors"]} == {"rating", "limit", "from"}
    r = await signed_in.get("/api/admin/ledger.csv?widget=support")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["conversation_id"] for row in table] == ids[::-1]
    assert {row["end_reason"] for row in table} == {"operator_ended"}
    html = (await signed_in.get("/admin/history")).text
    assert ids[0] in html and "Export CSV" in html
    detail = await signed_in.get(f"/admin/conversations/{ids[0]}")
    assert detail.status_code == 200 and "operator_ended" in detail.text
    api_detail = (await signed_in.get(f"/api/admin/conversations/{ids[0]}")).json()
    assert [e["kind"] for e in api_detail["timeline"]][:1] == ["created"]
    assert "ended" in [e["kind"] for e in api_detail["timeline"]]
    assert (await signed_in.get("/admin/today")).status_code == 200


async def test_settings_show_secrets_as_set_or_unset(signed_in: AppClient) -> None:
    view = (await signed_in.get("/api/admin/settings")).json()
    assert view["server"]["server_keys"] == "set" and view["engine"]["api_key"] == "unset"
    assert [w["id"] for w in view["widgets"]] == ["public", "support"]
    html = (await signed_in.get("/admin/settings")).text
    assert "server_keys" in html and SERVER_KEY not in html
    settings: Settings = signed_in.app.state.ctx.settings
    for secret in settings.secrets():
        assert secret not in html and secret not in str(view)


async def test_webhooks_page_and_replay(client_for: Callable[..., Any], make_settings: Callable[..., Settings],
                                        clock: FakeClock) -> None:
    settings = make_settings({**admin_config(), "webhooks": {"url": "http://127.0.0.1:9/hook",
                                                             "secret": "whsec_0123456789abcdef0123"}})
    client = await client_for(settings, clock=clock)
    assert (await sign_in(client)).status_code == 303
    cid = (await client.create()).json()["conversation_id"]
    ctx = client.app.state.ctx
    await ctx.conversations.recorder.sync()
    await ctx.webhooks.deliver_due()  # port 9: nobody answers, a failure recorded (here or by the delivery job)
    for _ in range(100):
        hooks = (await client.get("/api/admin/webhooks")).json()
        if hooks["failures"]:
            break
        await asyncio.sleep(0.05)
    assert hooks["enabled"] and hooks["failures"] and hooks["failures"][0]["outcome"] == "no_answer"
    event_id = hooks["failures"][0]["event_id"]
    html = (await client.get("/admin/webhooks")).text
    assert event_id in html
    assert (await client.post(f"/admin/webhooks/{event_id}/replay")).status_code == 403
    r = await client.post(f"/admin/webhooks/{event_id}/replay", data={"csrf": page_csrf(html)})
    assert r.status_code == 303
    assert await ctx.store.outbox_size() >= 1
    entries = await audit(client)
    assert ("replay_webhook", event_id) in [(e["action"], e["target"]) for e in entries]
    assert cid
