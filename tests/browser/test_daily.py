"""The Daily path with the real daily-js module (served by the widget server from node_modules), up to the
network edge. A real join needs Daily's servers, which cannot be reached here: the hosted engine is replaced
by the stand-in of tests/engines/tavus_standin.py, and every request to *.daily.co is answered by a stub page
that records what daily-js asked it for.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, Route

from tests.browser.conftest import RECORDER, Errors, Host, _host_app, frame_of, shot, wait_event
from tests.engines.tavus_standin import TavusStandIn
from tests.servers import free_port, serve_app
from widget_server.app import create_app
from widget_server.settings import parse_settings

pytestmark = pytest.mark.browser

THEME = {"accent": "#0f766e", "accent_text": "#fefefe", "background": "#101820", "base_text": "#e5e7eb"}
STUB = "<!doctype html><title>Daily stand-in</title><p>Daily Prebuilt would load here.</p>"


@pytest.fixture(scope="module")
def daily_setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Host, TavusStandIn]]:
    standin = TavusStandIn(api_key="standin-key")
    host = Host(url="", server="")
    with serve_app(standin.app) as engine_url:
        port = free_port()
        host_port = free_port("127.0.0.2")
        raw = {
            "server": {"public_url": f"http://127.0.0.1:{port}", "secret_key": "s" * 32,
                       "store": f"sqlite:///{tmp_path_factory.mktemp('daily') / 'state.db'}"},
            "engine": {"kind": "tavus", "base_url": engine_url, "api_key": "standin-key"},
            "widgets": {"prebuilt": {"allowed_origins": [f"http://127.0.0.2:{host_port}"], "replica_id": "r1",
                                     "ui": "prebuilt", "language": "french", "enable_recording": True,
                                     "theme": THEME}},
        }
        app = create_app(parse_settings(copy.deepcopy(raw), {}))
        with serve_app(app, port=port) as url:
            host.server = url
            with serve_app(_host_app(host), host="127.0.0.2", port=host_port) as hurl:
                host.url = hurl
                yield url, host, standin


def test_prebuilt_frame_gets_theme_language_and_token(browser: Browser, daily_setup: Any) -> None:
    _, host, standin = daily_setup
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    daily_requests: list[str] = []

    def daily(route: Route) -> None:
        daily_requests.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body=STUB)

    ctx.route("https://*.daily.co/**", daily)
    errors = Errors()
    try:
        page = errors.watch(ctx.new_page())
        page.add_init_script(RECORDER)
        page.goto(host.page("prebuilt", host.snippet("prebuilt")))
        wait_event(page, "ready")
        with page.expect_response(lambda r: r.url.endswith("/api/widgets/prebuilt/conversations")) as answer:
            page.evaluate("cvi('start')")
        meeting_token = answer.value.json()["meeting_token"]
        created = wait_event(page, "conversation.created")
        frame = frame_of(page, "prebuilt")
        daily_frame = frame.locator("#prebuilt iframe")
        daily_frame.wait_for(state="attached")
        allow = daily_frame.get_attribute("allow") or ""
        assert "camera" in allow and "microphone" in allow and "autoplay" in allow
        deadline = time.monotonic() + 10
        while not daily_requests and time.monotonic() < deadline:
            page.wait_for_timeout(50)
        conversation = standin.conversations[created["conversation_id"]]
        # daily-js points its iframe at the conversation's room: the network edge, answered by the stub.
        room = [r for r in daily_requests if r.startswith(conversation["conversation_url"] + "?")]
        assert room, daily_requests
        # The private room's meeting token, given to join(), travels to Daily with the room URL.
        token = parse_qs(urlsplit(room[0]).query)["t"][0]
        assert token == meeting_token
        props = frame.evaluate("""async () => {
            const {frameOptions, dailyLang} = await import('cvi/daily-room.js');
            return {options: frameOptions(JSON.parse(document.getElementById('cvi-boot').textContent).config),
                    lang: dailyLang('french')};
        }""")
        assert props["lang"] == "fr"
        # The widget's language is French and ui_language "auto": the page is French, and Prebuilt is told so.
        assert frame.locator("html").get_attribute("lang") == "fr"
        assert frame.locator("#end").get_attribute("aria-label") == "Terminer"
        assert frame.evaluate("import('cvi/i18n.js').then((m) => m.dailyLang())") == "fr"
        assert props["options"]["theme"]["colors"]["accent"] == THEME["accent"]
        assert props["options"]["theme"]["colors"]["accentText"] == THEME["accent_text"]
        assert props["options"]["showLeaveButton"] and props["options"]["showFullscreenButton"]
        assert frame.locator("#record").is_visible()
        shot(page, "call-prebuilt")
        page.evaluate("cvi('end')")
        wait_event(page, "conversation.ended")
        deadline = time.monotonic() + 5
        while conversation["status"] != "ended" and time.monotonic() < deadline:
            page.wait_for_timeout(50)
        assert conversation["status"] == "ended"
    finally:
        ctx.close()
    assert errors.items == [], errors.items

