"""Every example in embed_examples/ that a browser can run here, served from the host origin (127.0.0.2).

The React example has its own test (test_react.py): it is bundled with esbuild first.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page

from tests.browser.conftest import EXAMPLES, SERVER_KEY, Host, WidgetServer, frame_of, wait_event

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
