"""The loader and the frame page in real headless Chromium, on the sandbox engine (no network needed).

The host pages are on http://127.0.0.2 (another origin than the widget server) under a strict CSP.
The tests marked ``on_both_setups`` also run with the ``tavus`` engine -> ``widget-server sandbox``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page

from tests.browser.conftest import (
    GREEN_BACKGROUND,
    SERVER_KEY,
    Host,
    WidgetServer,
    _host_app,
    events,
    frame_of,
    on_both_setups,
    shot,
    wait_event,
)
from tests.browser.pixels import decode_png
from tests.servers import serve_app

pytestmark = pytest.mark.browser

ALLOW = "camera; microphone; autoplay; display-capture; fullscreen"


def bubble(page: Page, widget: str = "support") -> Any:
    return page.locator(f"[data-cvi-widget={widget}] .bubble")


def start_call(page: Page, widget: str = "support") -> dict[str, Any]:
    page.evaluate(f"cvi('start', {{widget: '{widget}'}})")
    return wait_event(page, "conversation.started", widget=widget)


def hex_rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


@on_both_setups
def test_launcher_call_events_pixels_and_end(open_page: Callable[..., Page], host: Host,
                                            widget_server: WidgetServer) -> None:
    page = open_page(host.page("launcher", host.snippet("support", context="On the pricing page")))
    wait_event(page, "ready")
    button = bubble(page)
    assert button.inner_text() == "Ask us"
    assert page.locator("[data-cvi-widget=support] iframe").get_attribute("allow") == ALLOW
    # Closed: the panel takes no room, so nothing invisible sits over the host page.
    assert not page.locator("[data-cvi-widget=support] .panel").is_visible()
    shot(page, "launcher")

    button.click()
    wait_event(page, "open")
    frame = frame_of(page)
    frame.get_by_role("button", name="Join with video").click()
    started = wait_event(page, "conversation.started")
    greeting = wait_event(page, "utterance", role="replica")
    assert greeting["text"] == "Hello from the browser test!"
    frame.locator("#captions").get_by_text("Hello from the browser test!").wait_for()

    frame.get_by_label("Type a message").fill("What does the pricing look like?")
    frame.get_by_label("Type a message").press("Enter")
    wait_event(page, "utterance", role="user", text="What does the pricing look like?")
    tool = wait_event(page, "tool_call")
    assert tool["name"] == "open_page"
    assert tool["arguments"] == {"page": "pricing"}  # parsed from the protocol's JSON string
    answer = [e for e in events(page) if e["event"] == "utterance" and e["role"] == "replica"]
    wait_event(page, "utterance", role="replica", text=answer[-1]["text"])
    assert "Context: On the pricing page" in (answer[-1]["text"] if len(answer) > 1 else
                                               wait_answer(page)["text"])

    # The replica's green is replaced by the widget's background: read it from the screenshot's pixels.
    page.wait_for_timeout(300)
    path = shot(page, "call-custom")
    assert frame.locator("#stage").get_attribute("data-chroma") in ("webgl", "2d")  # 2d: no WebGL here
    counts = stage_colours(page, path)
    assert counts["background"] > 0.15, counts
    assert counts["green"] < 0.01, counts

    names = [e["event"] + (":" + e["state"] if e["event"] == "state" else "") for e in events(page)]
    assert names[:9] == ["ready", "open", "state:lobby", "state:starting", "conversation.created", "state:waiting",
                         "state:in-call", "conversation.started", "speaking"], names
    cid = started["conversation_id"]
    created = wait_event(page, "conversation.created")
    assert created["conversation_id"] == cid

    page.evaluate("cvi('end')")
    ended = wait_event(page, "conversation.ended")
    assert ended["conversation_id"] == cid
    wait_event(page, "close")
    record = widget_server.wait_ended(cid)
    assert record["status"] == "ended"
    assert record["end_reason"] == "visitor_ended"


def wait_answer(page: Page) -> dict[str, Any]:
    page.wait_for_timeout(200)
    return [e for e in events(page) if e["event"] == "utterance" and e["role"] == "replica"][-1]


def stage_colours(page: Page, path: Any) -> dict[str, float]:
    """Share of the replica stage's pixels that are the widget background, and that are the key green."""
    box = frame_of(page).locator("#stage").bounding_box()  # in the page's coordinates already
    assert box
    png = page.screenshot(clip=box)
    width, _, rows = decode_png(png)
    pixels = [(row[x], row[x + 1], row[x + 2]) for row in rows for x in range(0, width * 3, 12)]  # every 4th
    bg = hex_rgb(GREEN_BACKGROUND)

    def near(p: tuple[int, int, int], q: tuple[int, int, int], tol: int) -> bool:
        return all(abs(a - b) <= tol for a, b in zip(p, q, strict=True))

    total = len(pixels)
    return {
        "background": sum(near(p, bg, 24) for p in pixels) / total,
        "green": sum(near(p, (0, 255, 155), 40) for p in pixels) / total,
    }


@on_both_setups
def test_closing_the_tab_mid_call_ends_the_conversation(open_page: Callable[..., Page], host: Host,
                                                        widget_server: WidgetServer) -> None:
    page = open_page(host.page("tab-close", host.snippet("support")))
    wait_event(page, "ready")
    cid = start_call(page)["conversation_id"]
    assert cid in widget_server.active_at_engine()
    closed = time.monotonic()
    page.close(run_before_unload=True)
    # Money: the engine bills until the conversation ends there, so count it at the engine itself.
    while cid in widget_server.active_at_engine():
        assert time.monotonic() - closed < 5, "the engine still holds the conversation 5 s after the tab closed"
        time.sleep(0.05)
    print(f"\nend-on-leave ({widget_server.setup}): ended at the engine {time.monotonic() - closed:.2f} s "
          "after the tab closed")
    record = widget_server.wait_ended(cid)
    assert record["status"] == "ended"
    assert record["end_reason"] == "visitor_page_hidden"


def test_closing_the_panel_minimizes_the_call(open_page: Callable[..., Page], host: Host,
                                              widget_server: WidgetServer) -> None:
    page = open_page(host.page("panel-close", host.snippet("support")))
    wait_event(page, "ready")
    cid = start_call(page)["conversation_id"]
    page.locator("[data-cvi-widget=support] .close").click()
    wait_event(page, "state", state="minimized")
    assert widget_server.conversation(cid)["status"] == "active"
    frame_of(page).get_by_role("button", name="End", exact=True).click()  # the bubble's End
    wait_event(page, "conversation.ended")
    assert widget_server.wait_ended(cid)["end_reason"] == "visitor_end_button"


def test_an_origin_that_is_not_allowed_gets_no_conversation(open_page: Callable[..., Page], host: Host,
                                                            widget_server: WidgetServer, errors: Any) -> None:
    other = Host(url="", server=host.server, pages=host.pages)
    core = widget_server.app.state.ctx.engine.core
    before = len(core.conversations)
    with serve_app(_host_app(other), host="127.0.0.3") as url:
        other.url = url
        page = open_page(other.page("stranger", other.snippet("support")))
        page.evaluate("cvi('start')")
        page.wait_for_timeout(2500)
        # The frame is refused (frame-ancestors): no launcher, no ready, no conversation; the host is told.
        assert [(e["event"], e.get("code")) for e in events(page)] == [("error", "origin-not-allowed")]
        assert not bubble(page).is_visible()
        assert all("/w/support" not in f.url or f.url == "about:blank" for f in page.frames[1:]) or \
            frame_has_no_start(page)
        # And the API itself refuses a browser on that origin.
        r = httpx.post(f"{host.server}/api/widgets/support/conversations", json={},
                       headers={"Origin": url, "X-Widget-Session": "x"})
        assert r.status_code == 403
    assert len(core.conversations) == before
    refused = [e for e in errors.items if "frame-ancestors" in e]
    assert refused, errors.items  # the browser itself refused to frame the widget page here
    errors.items[:] = [e for e in errors.items if e not in refused]


def frame_has_no_start(page: Page) -> bool:
    return all(not f.locator("#start").count() for f in page.frames[1:])


def test_mobile_viewport_full_screen_panel(browser: Any, host: Host, errors: Any) -> None:
    ctx = browser.new_context(viewport={"width": 375, "height": 667}, is_mobile=True, has_touch=True)
    try:
        page = errors.watch(ctx.new_page())
        from tests.browser.conftest import RECORDER

        page.add_init_script(RECORDER)
        page.goto(host.page("mobile", '<button id="under">Host button</button>' + host.snippet("support")))
        wait_event(page, "ready")
        # Closed: a tap on the host page's own button reaches it.
        page.locator("#under").tap()
        bubble(page).tap()
        wait_event(page, "open")
        panel = page.locator("[data-cvi-widget=support] .panel").bounding_box()
        assert panel == {"x": 0, "y": 0, "width": 375, "height": 667}
        frame = frame_of(page)
        frame.get_by_role("button", name="Join with video").tap()
        wait_event(page, "conversation.started")
        wait_event(page, "utterance", role="replica")
        page.wait_for_timeout(300)
        shot(page, "mobile")
        page.locator("[data-cvi-widget=support] .close").tap()   # minimizes
        wait_event(page, "state", state="minimized")
        # The bubble slides in (launcher.css cvi-in): a tap aimed while it moves can land beside End.
        page.locator("[data-cvi-widget=support] .panel").evaluate(
            "(panel) => Promise.all(panel.getAnimations().map((a) => a.finished))")
        frame.get_by_role("button", name="End", exact=True).tap()
        wait_event(page, "conversation.ended")
        page.evaluate("cvi('close')")
        wait_event(page, "close")
        page.wait_for_timeout(200)
        assert not page.locator("[data-cvi-widget=support] .panel").is_visible()
        hit = page.evaluate("document.elementFromPoint(187, 333).tagName")
        assert hit != "DIV" or page.evaluate("document.elementFromPoint(187, 333).dataset.cviWidget") is None
    finally:
        ctx.close()


def test_keyboard_only(open_page: Callable[..., Page], host: Host, widget_server: WidgetServer) -> None:
    page = open_page(host.page("keyboard", '<a href="#top">Skip</a>' + host.snippet("support")))
    wait_event(page, "ready")
    page.keyboard.press("Tab")   # the host's link
    page.keyboard.press("Tab")   # the launcher
    assert page.evaluate("document.activeElement.dataset.cviWidget") == "support"
    page.keyboard.press("Enter")
    wait_event(page, "open")
    frame = frame_of(page)
    frame.locator("#join-video:focus").wait_for()
    page.keyboard.press("Enter")
    started = wait_event(page, "conversation.started")
    frame.locator("#say-text:focus").wait_for()
    page.keyboard.type("Hello by keyboard")
    page.keyboard.press("Enter")
    wait_event(page, "utterance", role="user", text="Hello by keyboard")
    # Tab through the controls to End.
    for _ in range(10):
        page.keyboard.press("Tab")
        if frame.evaluate("document.activeElement.id") == "end":
            break
    assert frame.evaluate("document.activeElement.id") == "end"
    page.keyboard.press("Enter")
    wait_event(page, "conversation.ended")
    assert widget_server.wait_ended(started["conversation_id"])["end_reason"] == "visitor_end_button"
    frame.locator("#ended-title:focus").wait_for()
    page.keyboard.press("Escape")
    wait_event(page, "close")
    assert page.evaluate("document.activeElement.dataset.cviWidget") == "support"


def test_busy_shows_retry_after(open_page: Callable[..., Page], host: Host, widget_server: WidgetServer) -> None:
    # The widget allows one live conversation; an operator's back end holds it.
    held = httpx.post(f"{widget_server.url}/api/widgets/busy/conversations", json={},
                      headers={"Authorization": f"Bearer {SERVER_KEY}"})
    assert held.status_code == 201, held.text
    try:
        page = open_page(host.page("busy", host.snippet("busy")))
        wait_event(page, "ready")
        page.evaluate("cvi('start')")
        wait_event(page, "state", state="busy")
        error = wait_event(page, "error")
        assert error["code"] == "busy" and error["retry_after"] > 0
        frame = frame_of(page, "busy")
        assert "We will try again for you" in frame.locator("#screen-text").inner_text()
        assert frame.locator("#screen-count").inner_text().startswith("Trying again in")
        assert frame.locator("#screen-count").get_attribute("aria-hidden") == "true"  # not read out every second
    finally:
        httpx.post(f"{widget_server.url}/api/conversations/{held.json()['conversation_id']}/end",
                   headers={"Authorization": f"Bearer {SERVER_KEY}"})


@on_both_setups
def test_two_widgets_recording_and_time_warning(open_page: Callable[..., Page], host: Host,
                                                widget_server: WidgetServer) -> None:
    page = open_page(host.page("two", '<div id="call"></div>' + host.snippet("support", mode="inline",
                                                                             target="#call")
                               + host.snippet("sales")))
    wait_event(page, "ready", widget="support")
    wait_event(page, "ready", widget="sales")
    assert not bubble(page, "support").is_visible()   # inline: no launcher
    assert bubble(page, "sales").inner_text() == "Sales"
    assert bubble(page, "sales").bounding_box()["x"] < 100  # type: ignore[index]  # bottom-left
    sales = frame_of(page, "sales")
    bubble(page, "sales").click()
    assert sales.get_by_text("This conversation may be recorded.").is_visible()
    cid = start_call(page, "sales")["conversation_id"]
    sales.get_by_role("button", name="Record").click()
    sales.locator("#rec-indicator").wait_for(state="visible")
    sales.locator("#time-warning").wait_for(state="visible", timeout=5000)
    assert "end in" in sales.locator("#time-warning").inner_text()
    assert sales.locator("#timer").inner_text() in ("1:00", "0:59", "0:58", "0:57")
    page.evaluate("cvi('end', {widget: 'sales'})")
    wait_event(page, "conversation.ended", widget="sales")
    assert widget_server.wait_ended(cid)["status"] == "ended"
    # The inline widget is untouched and still startable.
    start_call(page, "support")
    page.evaluate("cvi('end', {widget: 'support'})")
    wait_event(page, "conversation.ended", widget="support")


def test_proof_of_work_widget_solves_before_creating(open_page: Callable[..., Page], host: Host,
                                                     widget_server: WidgetServer) -> None:
    page = open_page(host.page("pow", host.snippet("pow")))
    wait_event(page, "ready")
    cid = start_call(page, "pow")["conversation_id"]
    page.evaluate("cvi('end')")
    assert widget_server.wait_ended(cid)["status"] == "ended"


def test_host_page_sends_only_what_the_widget_allows(open_page: Callable[..., Page], host: Host) -> None:
    page = open_page(host.page("send", host.snippet("support")))
    wait_event(page, "ready")
    start_call(page)
    page.evaluate("cvi('send', {event_type: 'conversation.respond', properties: {text: 'Do you ship abroad?'}})")
    answer = wait_event(page, "utterance", role="replica", text_contains="Do you ship abroad?")
    assert answer["text"]
    # conversation.echo is not in this widget's page_messages: refused in the frame, never sent.
    page.evaluate("cvi('send', {event_type: 'conversation.echo', properties: {text: 'I was never here'}})")
    refused = wait_event(page, "error", code="send-refused")
    assert "conversation.echo" in refused["message"]
    page.wait_for_timeout(300)
    assert not any("I was never here" in str(e.get("text")) for e in events(page))
    page.evaluate("cvi('end')")
    wait_event(page, "conversation.ended")


def test_frame_sends_heartbeats_while_in_call(open_page: Callable[..., Page], host: Host,
                                              widget_server: WidgetServer) -> None:
    page = open_page(host.page("beat", host.snippet("support")))
    wait_event(page, "ready")
    beats: list[str] = []
    page.on("request", lambda r: beats.append(r.url) if r.url.endswith("/heartbeat") else None)
    cid = start_call(page)["conversation_id"]
    interval = widget_server.app.state.ctx.settings.lifecycle.heartbeat_grace_s / 3
    page.wait_for_timeout(int(interval * 2500))
    assert len(beats) >= 2 and all(f"/api/conversations/{cid}/heartbeat" in b for b in beats)
    assert widget_server.conversation(cid)["status"] == "active"
    page.evaluate("cvi('end')")
    wait_event(page, "conversation.ended")
    count = len(beats)
    page.wait_for_timeout(int(interval * 1500))
    assert len(beats) == count  # no beats after the end
