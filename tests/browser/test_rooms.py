"""The page loads the room adapter the server names, whatever the widget's ``ui`` asks for.

A widget left at ``ui = "prebuilt"`` (the default) whose engine answers a room that is not Daily's (the
sandbox's, embedded or over HTTP) gets the kit's own call UI: the room says ``prebuilt: false``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page

from tests.browser.conftest import Host, WidgetServer, assert_accessible, frame_of, on_both_setups, wait_event

pytestmark = pytest.mark.browser


@on_both_setups
def test_a_prebuilt_widget_on_a_sandbox_room_gets_the_kits_ui(open_page: Callable[..., Page], host: Host,
                                                             widget_server: WidgetServer) -> None:
    before = widget_server.active_at_engine()
    page = open_page(host.page(f"plain-{widget_server.setup}", host.snippet("plain")))
    wait_event(page, "ready", widget="plain")
    page.locator("[data-cvi-widget=plain] .bubble").click()
    frame = frame_of(page, "plain")
    frame.get_by_role("button", name="Join with video").click()
    cid = wait_event(page, "conversation.started", widget="plain")["conversation_id"]
    assert wait_event(page, "utterance", role="replica")["text"] == "Plain widget here."
    assert "ui-custom" in (frame.locator("body").get_attribute("class") or "")
    frame.locator("#captions").get_by_text("Plain widget here.").wait_for()
    assert widget_server.active_at_engine() - before == {cid}
    assert_accessible(frame)
    page.evaluate("cvi('end', {widget: 'plain'})")
    assert widget_server.wait_ended(cid)["status"] == "ended"
    assert cid not in widget_server.active_at_engine()
