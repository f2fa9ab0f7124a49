"""Every example in embed_examples/ that a browser can run here, served from the host origin (127.0.0.2).

The React example has its own test (test_react.py): it is bundled with esbuild first.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.browser.conftest import EXAMPLES, SERVER_KEY, Host, WidgetServer, frame_of, wait_event
from tests.servers import free_port
from widget_server.audit import audit
from widget_server.settings import load_settings

pytestmark = pytest.mark.browser


def test_snippet_example(open_page: Callable[..., Page], host: Host, widget_server: WidgetServer) -> None:
    page = open_page(host.example("snippet/index.html"))
    wait_event(page, "ready")
    page.get_by_role("button", name="Talk to us now").click()
    started = wait_event(page, "conversation.started")
    wait_event(page, "utterance", role="replica")
    page.locator("#log li", has_text="conversation.started").wait_for()
    page.evaluate("cvi('end')")
    wait_event(page, "conversation.ended")
    assert widget_server.wait_ended(started["conversation_id"])["status"] == "ended"


def test_iframe_example(open_page: Callable[..., Page], host: Host) -> None:
    page = open_page(host.example("iframe/index.html"), events=False)
    frame = frame_of(page)
    frame.get_by_role("button", name="Join with video").click()
    frame.locator("#app[data-state=in-call]").wait_for()
    frame.locator("#captions p").first.wait_for()
    frame.get_by_role("button", name="End", exact=True).click()
    frame.locator("#app[data-state=ended]").wait_for()


def test_two_widgets_example(open_page: Callable[..., Page], host: Host) -> None:
    page = open_page(host.example("two-widgets/index.html"))
    wait_event(page, "ready", widget="support")
    wait_event(page, "ready", widget="sales")
    page.get_by_role("button", name="Talk to sales").click()
    wait_event(page, "conversation.started", widget="sales")
    assert page.title() == "In a call with sales"
    assert page.locator("#support-call [data-cvi-widget=support] iframe").is_visible()
    page.evaluate("cvi('end', {widget: 'sales'})")
    wait_event(page, "conversation.ended", widget="sales")


def test_custom_frontend_example(ctx: BrowserContext, errors: Any, host: Host, widget_server: WidgetServer) -> None:
    spec = importlib.util.spec_from_file_location("custom_backend", EXAMPLES / "custom-frontend" / "backend.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    host.backend = module.create_backend(widget_server.url, SERVER_KEY, host.url)
    # A real join needs Daily's servers; here daily-js's requests to Daily stop at the network edge.
    ctx.route("https://*.daily.co/**", lambda route: route.abort())
    page = ctx.new_page()
    page.on("pageerror", lambda e: errors.items.append(f"pageerror: {e}"))
    page.goto(f"{host.url}/custom/")
    page.get_by_role("button", name="Start").click()
    page.wait_for_function("() => window.__cviCustom && window.__cviCustom.conversation_id")
    cid = page.evaluate("window.__cviCustom.conversation_id")
    # The sandbox room is not a Daily room: the join fails and the page ends what it created.
    page.locator("#status", has_text="Ended.").wait_for(timeout=30_000)
    record = widget_server.wait_ended(cid)
    assert record["status"] == "ended"


@pytest.mark.parametrize("example", ["snippet/index.html", "iframe/index.html", "two-widgets/index.html",
                                     "custom-frontend/index.html"])
def test_examples_fit_a_phone(browser: Browser, host: Host, example: str) -> None:
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                              permissions=["camera", "microphone"])
    try:
        page = ctx.new_page()
        page.goto(host.example(example))
        page.wait_for_load_state("load")
        page.wait_for_timeout(500)
        # Nothing wider than the phone: no sideways scrolling, the widget's frames inside the screen.
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        for box in [f.bounding_box() for f in page.locator("iframe:visible").all()]:
            assert box is None or (box["x"] >= 0 and box["x"] + box["width"] <= 390), box
    finally:
        ctx.close()


def test_the_local_recipe_runs_the_examples_as_they_are(tmp_path: Any) -> None:
    """`make run CONFIG=embed_examples/local.toml` and `make examples`: a valid config without warnings, and the
    examples served with the placeholder server read as the local one."""
    settings = load_settings(EXAMPLES / "local.toml", {})
    assert {"support", "sales"} <= set(settings.widgets)
    # Its server key is committed, so check-config rightly calls it a placeholder; nothing else is wrong.
    assert [w for w in audit(settings) if not w.startswith("server.server_keys[0]: looks like a placeholder")] == []
    assert "http://127.0.0.1:8080" in [str(o) for o in settings.widgets["support"].allowed_origins]
    port = free_port()
    env = {**os.environ, "PORT": str(port), "WIDGET_SERVER": "http://127.0.0.1:8000"}
    proc = subprocess.Popen([sys.executable, str(EXAMPLES / "serve.py")], env=env, stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/snippet/")
                break
            except httpx.TransportError:
                time.sleep(0.05)
        assert page.status_code == 200 and 'src="http://127.0.0.1:8000/embed.js"' in page.text
        assert "widgets.example.com" not in httpx.get(f"http://127.0.0.1:{port}/two-widgets/index.html").text
        assert httpx.get(f"http://127.0.0.1:{port}/../pyproject.toml").status_code == 404
    finally:
        proc.terminate()
        proc.wait(10)
