"""The operator's console in real Chromium: sign in, a live conversation appears and is ended from the console
(and at the engine), charts drawn with data, the CSV export, every page on a phone, axe-core on every page,
sign out. Screenshots of each page go to docs/screenshots/console-*.png (docs/gallery.md)."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import dataclasses
import io
import json
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.admin.conftest import HASH, OPERATOR, PASSWORD
from tests.browser.conftest import SERVER_KEY, Errors, WidgetServer, assert_accessible, browser_settings, shot
from tests.oidc_provider import OpenIdProvider
from tests.servers import free_port, serve_app
from widget_server.app import create_app
from widget_server.history.base import DAY, RefusalCount
from widget_server.history.sql import SqlHistory
from widget_server.settings import AdminSettings, AdminUser, OidcSettings
from widget_server.store import ConversationRecord

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PAGES = ("live", "today", "history", "webhooks", "settings")
HOST_ORIGIN = "http://127.0.0.2:9"
REASONS = ("visitor_end_button", "visitor_page_hidden", "heartbeat_timeout", "max_call_duration reached")


async def _seed(url: str, now: float) -> None:
    """Three weeks of past conversations, written through the history module as the recorder writes them."""
    history = SqlHistory(url)
    await history.open()
    rng = random.Random(17)
    try:
        for day in range(21, 0, -1):
            for n in range(rng.randrange(3, 12)):
                created = now - day * DAY + n * 1800
                widget = ("support", "sales")[n % 2]
                failed = n % 9 == 8
                seconds = 0.0 if failed else rng.uniform(20, 240)
                record = ConversationRecord(
                    local_id=f"l_seed{day:02d}{n:02d}", widget=widget, status="failed" if failed else "ended",
                    created_at=created, expires_at=created + 600,
                    conversation_id=None if failed else f"c_seed{day:02d}{n:02d}", started_at=created + 2,
                    ended_at=created + max(seconds, 1.0),
                    end_reason="engine_http_502" if failed else REASONS[n % len(REASONS)],
                    origin="https://www.example.com",
                    rating=json.dumps({"thumbs": "up" if n % 3 else "down", "comment": "", "at": ""})
                    if n % 4 == 0 and not failed else None)
                await history.record_created(dataclasses.replace(record, status="active", ended_at=None,
                                                                 end_reason=None))
                await history.record_end(record, source="server")
        # refused creates, as each instance adds its counts (today's too, for the Today page)
        await history.record_refusals([
            RefusalCount(now - day * DAY + (hour * 3600 if day else 0), rule, rng.randrange(1, 6), widget)
            for day in range(21, -1, -1) for widget in ("support", "sales")
            for rule, hour in (("rate-limited", rng.randrange(-2, 0)), ("busy", -1))
            if rule == "rate-limited" or day % 3 == 0])
    finally:
        await history.close()


@pytest.fixture(scope="module")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WidgetServer]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    state = tmp_path_factory.mktemp("console") / "state.db"
    settings = browser_settings(url, HOST_ORIGIN, f"sqlite:///{state}")
    idp = OpenIdProvider("console", "oidc_client_secret_0123456789", f"{url}/admin/oidc/callback")
    oidc = OidcSettings(issuer="", client_id="console", client_secret=idp.client_secret,
                        allowed_emails=("grace@example.com",), label="Sign in with Test IdP")
    # in a thread of its own: Playwright's sync API runs an event loop in this one
    seeding = threading.Thread(target=asyncio.run, args=(_seed(f"sqlite:///{state}", time.time()),))
    seeding.start()
    seeding.join()
    with serve_app(idp.app()) as issuer:
        idp.issuer, idp.email = issuer, "grace@example.com"
        admin = AdminSettings(users=(AdminUser(OPERATOR, HASH),), oidc=dataclasses.replace(oidc, issuer=issuer))
        app = create_app(dataclasses.replace(settings, admin=admin))
        with serve_app(app, port=port) as served:
            yield WidgetServer(served, app)


@pytest.fixture
def console_ctx(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    context.set_default_timeout(15_000)
    yield context
    context.close()


def sign_in(page: Page, server: WidgetServer) -> None:
    page.goto(f"{server.url}/admin")
    assert "/admin/login" in page.url
    page.get_by_label("Name").fill(OPERATOR)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url("**/admin/live")


def create(server: WidgetServer, widget: str = "support") -> str:
    """A conversation created through the real API (server key) against the sandbox engine."""
    r = httpx.post(f"{server.url}/api/widgets/{widget}/conversations", headers={"Authorization":
                                                                               f"Bearer {SERVER_KEY}"}, timeout=10)
    assert r.status_code == 201, r.text
    cid: str = r.json()["conversation_id"]
    return cid


@contextlib.contextmanager
def waiting_line(server: WidgetServer, visitors: int = 2) -> Iterator[list[dict[str, Any]]]:
    """The ``line`` widget's one slot taken, and visitors in line behind it whose pages keep beating; on the way
    out they leave and the slot's conversation is ended (nothing left billing)."""
    held = create(server, "line")
    session = str(server.app.state.ctx.signer.session("line", HOST_ORIGIN))
    places = []
    for _ in range(visitors):
        r = httpx.post(f"{server.url}/api/widgets/line/conversations", headers={"X-Widget-Session": session},
                       timeout=10)
        assert r.status_code == 202, r.text
        places.append(r.json())
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(0.5):
            for p in places:
                httpx.post(f"{server.url}/api/widgets/line/queue/{p['queue_id']}/heartbeat",
                           headers={"Authorization": f"Bearer {p['ticket']}"}, timeout=5)

    beating = threading.Thread(target=beat, daemon=True)
    beating.start()
    try:
        yield places
    finally:
        stop.set()
        beating.join()
        for p in places:
            httpx.post(f"{server.url}/api/widgets/line/queue/{p['queue_id']}/leave",
                       headers={"Authorization": f"Bearer {p['ticket']}"}, timeout=5)
        r = httpx.post(f"{server.url}/api/admin/conversations/{held}/end",
                       headers={"Authorization": f"Bearer {SERVER_KEY}"}, timeout=10)
        assert r.status_code == 200 and held not in server.active_at_engine()


def test_console_end_to_end(console_ctx: BrowserContext, console_server: WidgetServer, errors: Errors) -> None:
    page = errors.watch(console_ctx.new_page())
    sign_in(page, console_server)
    assert_accessible(page)

    # a conversation created now appears by itself (live.js), and is ended from the console
    cid = create(console_server)
    assert cid in console_server.active_at_engine()
    row = page.locator(f'tr[data-conversation="{cid}"]')
    row.wait_for(timeout=10_000)
    assert "replica joined" in row.inner_text() or "active" in row.inner_text()
    other = create(console_server, "sales")
    page.reload()
    page.locator(f'tr[data-conversation="{other}"]').wait_for()
    with waiting_line(console_server) as places:
        page.reload()
        section = page.locator('section[data-widget="line"]')
        assert section.locator("tr[data-place]").count() == 2  # rendered by the server
        # then by live.js: rows it did not draw are marked, and a refresh replaces them
        page.evaluate("document.querySelectorAll('tr[data-place]').forEach((r) => r.dataset.old = '1')")
        section.locator("tr[data-place]:not([data-old])").first.wait_for(timeout=10_000)
        text = section.inner_text()
        assert "2 waiting, 2 in line" in text and text.count("present") == 2, text
        assert all(p["ticket"] not in page.content() and p["queue_id"] not in page.content() for p in places)
        shot(page, "console-live-desktop")
        assert_accessible(page)
    row.get_by_role("button", name=f"End {cid}").click()
    page.wait_for_url("**/admin/live?notice=*")
    assert f"Ended {cid}" in page.locator("#notice").inner_text()
    assert cid not in console_server.active_at_engine()  # ended at the engine, not only here
    assert other in console_server.active_at_engine()
    assert console_server.conversation(cid)["end_reason"] == "operator_ended"
    assert page.locator(f'tr[data-conversation="{cid}"]').count() == 0

    page.goto(f"{console_server.url}/admin/today")
    assert page.locator(".card").count() >= 2
    assert "rate-limited: " in page.locator("main").inner_text()  # from history (seeded), not this process
    shot(page, "console-today-desktop")
    assert_accessible(page)

    # charts drawn with data (the seeded weeks), and the CSV export of the filtered ledger
    page.goto(f"{console_server.url}/admin/history")
    page.locator("body[data-charts='drawn']").wait_for(state="attached")
    for chart in ("conversations", "minutes", "reasons", "failures", "refusals"):
        node = page.locator(f"#chart-{chart}")
        assert int(node.get_attribute("data-drawn") or 0) >= 1, chart
        assert node.locator("canvas").count() == 1
    painted = page.evaluate("""() => {
        const c = document.querySelector('#chart-conversations canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }""")
    assert painted > 500
    assert page.locator("table.ledger tbody tr").count() == 50  # a full first page, "Older" behind a cursor
    shot(page, "console-history-desktop")
    assert_accessible(page)
    page.locator("#chart-refusals").scroll_into_view_if_needed()
    shot(page, "console-history-refusals-desktop")
    page.evaluate("window.scrollTo(0, 0)")
    page.get_by_label("Widget", exact=True).nth(1).select_option("support")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**widget=support**")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    text = Path(download.value.path()).read_text()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows and {r["widget"] for r in rows} == {"support"}
    assert cid in {r["conversation_id"] for r in rows}
    older = page.get_by_role("link", name="Older")
    if older.count():
        older.click()
        assert page.locator("table.ledger tbody tr").count() >= 1

    page.goto(f"{console_server.url}/admin/conversations/{cid}")
    assert "operator_ended" in page.locator("main").inner_text()
    shot(page, "console-conversation-desktop")
    assert_accessible(page)
    for name in ("webhooks", "settings"):
        page.goto(f"{console_server.url}/admin/{name}")
        shot(page, f"console-{name}-desktop")
        assert_accessible(page)
    assert SERVER_KEY not in page.content()

    page.get_by_role("button", name="Sign out", exact=True).click()
    page.wait_for_url("**/admin/login")
    page.goto(f"{console_server.url}/admin/live")
    assert "/admin/login" in page.url
    r = httpx.post(f"{console_server.url}/api/admin/conversations/{other}/end",
                   headers={"Authorization": f"Bearer {SERVER_KEY}"}, timeout=10)
    assert r.status_code == 200


def test_console_on_a_phone(browser: Browser, console_server: WidgetServer, errors: Errors) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    context.set_default_timeout(15_000)
    try:
        page = errors.watch(context.new_page())
        sign_in(page, console_server)
        cid = create(console_server)
        for name in PAGES:
            with contextlib.ExitStack() as stack:
                if name == "live":
                    stack.enter_context(waiting_line(console_server, visitors=1))
                page.goto(f"{console_server.url}/admin/{name}")
                if name == "history":
                    page.locator("body[data-charts='drawn']").wait_for(state="attached")
                if name == "live":
                    page.locator(f'tr[data-conversation="{cid}"]').wait_for()
                    page.locator('section[data-widget="line"] tr[data-place]').wait_for()
                # nothing wider than the screen but the tables, which scroll inside their own box
                width = page.evaluate("document.documentElement.scrollWidth")
                assert width <= 390, (name, width)
                shot(page, f"console-{name}-phone")
                assert_accessible(page)
                if name == "history":
                    page.locator("#chart-refusals").scroll_into_view_if_needed()
                    shot(page, "console-history-refusals-phone")
                if name == "settings":  # signing out everywhere is at its foot
                    page.get_by_role("button", name="Sign out everywhere").scroll_into_view_if_needed()
                    shot(page, "console-settings-sessions-phone")
        page.goto(f"{console_server.url}/admin/conversations/{cid}")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        shot(page, "console-conversation-phone")
        r = httpx.post(f"{console_server.url}/api/admin/conversations/{cid}/end",
                       headers={"Authorization": f"Bearer {SERVER_KEY}"}, timeout=10)
        assert r.status_code == 200 and cid not in console_server.active_at_engine()
    finally:
        context.close()


def test_single_sign_on_at_a_local_openid_provider(console_ctx: BrowserContext, console_server: WidgetServer,
                                                    errors: Errors) -> None:
    page = errors.watch(console_ctx.new_page())
    page.goto(f"{console_server.url}/admin/history")
    assert "/admin/login" in page.url
    shot(page, "console-login-desktop")
    assert_accessible(page)
    page.get_by_role("link", name="Sign in with Test IdP").click()  # to the provider and back (PKCE)
    page.wait_for_url("**/admin/history")
    assert "grace@example.com" in page.locator("header").inner_text()
    page.locator("body[data-charts='drawn']").wait_for(state="attached")
    page.get_by_role("button", name="Sign out", exact=True).click()
    page.wait_for_url("**/admin/login")
