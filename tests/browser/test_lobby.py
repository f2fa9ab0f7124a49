"""The lobby in real Chromium: a returning visitor skips it (skip_lobby), the device pickers, reduced motion."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import BrowserContext, Page

from tests.browser.conftest import RECORDER, Errors, Host, WidgetServer, assert_accessible, frame_of, wait_event

pytestmark = pytest.mark.browser


def engine_ids(widget_server: WidgetServer) -> set[str]:
    return set(widget_server.app.state.ctx.engine.core.conversations)


def states(page: Page) -> list[str]:
    return [e["state"] for e in page.evaluate("window.__events") if e["event"] == "state"]


def test_a_returning_visitor_with_permission_skips_the_lobby(open_page: Callable[..., Page], host: Host,
                                                             widget_server: WidgetServer) -> None:
    page = open_page(host.page("returning", host.snippet("returning")))
    wait_event(page, "ready")
    page.locator("[data-cvi-widget=returning] .bubble").click()   # no Join: the call starts
    cid = wait_event(page, "conversation.started")["conversation_id"]
    frame = frame_of(page, "returning")
    assert frame.locator("body").get_attribute("data-mode") == "video"
    assert not frame.get_by_role("button", name="Join with video").is_visible()
    page.evaluate("cvi('end')")
    widget_server.wait_ended(cid)


def test_skip_lobby_without_permission_opens_the_lobby_and_creates_nothing(
        refusing_browser: Callable[..., BrowserContext], errors: Errors, host: Host,
        widget_server: WidgetServer) -> None:
    before = engine_ids(widget_server)
    context = refusing_browser([])   # nothing granted: Chromium refuses
    try:
        page = errors.watch(context.new_page())
        page.add_init_script(RECORDER)
        page.goto(host.page("returning-refused", host.snippet("returning")))
        wait_event(page, "ready")
        page.locator("[data-cvi-widget=returning] .bubble").click()
        frame = frame_of(page, "returning")
        frame.locator("#lobby-status").wait_for()
        assert frame.locator(".join button.primary").inner_text() == "Type instead"
        page.wait_for_timeout(300)
        assert engine_ids(widget_server) - before == set()
        assert "starting" not in states(page)
    finally:
        context.close()


def test_device_pickers_switch_the_microphone_and_camera(open_page: Callable[..., Page], host: Host,
                                                        widget_server: WidgetServer) -> None:
    before = engine_ids(widget_server)
    page = open_page(host.page("pickers", host.snippet("support")))
    wait_event(page, "ready")
    page.locator("[data-cvi-widget=support] .bubble").click()
    frame = frame_of(page)
    frame.locator("#preview[data-media=video]").wait_for(state="attached")
    frame.get_by_text("Camera and microphone settings").click()
    mics = frame.locator("#pick-mic")
    cameras = frame.locator("#pick-camera")
    mic_ids = mics.locator("option").evaluate_all("(os) => os.map((o) => o.value)")
    camera_ids = cameras.locator("option").evaluate_all("(os) => os.map((o) => o.value)")
    assert len(mic_ids) >= 2 and len(camera_ids) >= 1, (mic_ids, camera_ids)   # Chromium's fake devices
    live = "document.getElementById('preview-video').srcObject?.getVideoTracks()[0]?.getSettings().deviceId"
    assert frame.evaluate(live) == cameras.input_value()
    # Another microphone: asked again with that one, the camera kept.
    other = next(i for i in mic_ids if i != mics.input_value())
    mics.select_option(other)
    frame.wait_for_function(f"() => document.getElementById('pick-mic').value === {other!r} && "
                            "document.getElementById('preview').dataset.media === 'video'")
    assert frame.evaluate(live) in camera_ids
    mic_now = "document.getElementById('preview-video').srcObject ? 'video' : ''"
    assert frame.evaluate(mic_now) == "video"
    assert_accessible(frame)
    # Joined with the chosen microphone.
    frame.get_by_role("button", name="Join with video").click()
    cid = wait_event(page, "conversation.started")["conversation_id"]
    assert engine_ids(widget_server) - before == {cid}
    page.evaluate("cvi('end')")
    widget_server.wait_ended(cid)


def test_reduced_motion_stops_the_animations(ctx: BrowserContext, errors: Errors, host: Host) -> None:
    page = errors.watch(ctx.new_page())
    page.add_init_script(RECORDER)
    page.goto(host.page("calm", host.snippet("support")))
    wait_event(page, "ready")
    frame = frame_of(page)
    moving = """() => [...document.querySelectorAll('*')].map((el) => getComputedStyle(el))
                  .filter((s) => s.animationName !== 'none' || parseFloat(s.transitionDuration) > 0).length"""
    frame.evaluate("document.getElementById('app').setAttribute('aria-busy', 'true')")   # as while connecting
    assert frame.evaluate(moving) > 0   # the waiting orb pulses
    page.emulate_media(reduced_motion="reduce")
    assert frame.evaluate(moving) == 0
