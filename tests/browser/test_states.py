"""The frame page's other states in real Chromium: denied, no device, audio only, the live region, engine-ended."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, WebSocketRoute

from tests.browser.conftest import SERVER_KEY, Host, WidgetServer, events, frame_of, wait_event

pytestmark = pytest.mark.browser

DENIED_TEXT = "Camera or microphone access is blocked. To talk, allow them for this site"
HOW_TO_FIX = 'click the camera or lock icon in the address bar, choose "Allow" for camera and microphone'
NODEVICE_TEXT = "No camera or microphone was found. Connect one, then try again."


def refuse_media(ctx: BrowserContext, name: str, message: str, delay_ms: int = 0) -> None:
    """getUserMedia rejects with DOMException ``name`` in the widget's frame (init scripts run in iframes too)."""
    ctx.add_init_script(f"""
if (location.pathname.startsWith('/w/')) {{
  window.__gum = 0;
  navigator.mediaDevices.getUserMedia = function () {{
    window.__gum++;
    return new Promise(function (_, reject) {{
      setTimeout(function () {{ reject(new DOMException({json.dumps(message)}, {json.dumps(name)})); }}, {delay_ms});
    }});
  }};
}}
""")


def core_ids(widget_server: WidgetServer) -> set[str]:
    return set(widget_server.app.state.ctx.engine.core.conversations)


def wait_all_ended(widget_server: WidgetServer, ids: set[str], timeout: float = 5.0) -> dict[str, str]:
    """The engine's status of each conversation, once all have ended (or the time is up)."""
    core = widget_server.app.state.ctx.engine.core
    deadline = time.monotonic() + timeout
    while True:
        status = {cid: core.conversations[cid].status for cid in ids}
        if all(s == "ended" for s in status.values()) or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


def state_names(page: Page) -> list[str]:
    return [e["state"] for e in events(page) if e["event"] == "state"]


def start(page: Page, widget: str) -> dict[str, Any]:
    page.evaluate(f"cvi('start', {{widget: '{widget}'}})")
    return wait_event(page, "conversation.started", widget=widget)


@pytest.mark.parametrize("delay_ms", [0, 600], ids=["before-create", "after-create"])
def test_permission_denied_explains_and_leaves_no_conversation(
        ctx: BrowserContext, open_page: Callable[..., Page], host: Host, widget_server: WidgetServer,
        delay_ms: int) -> None:
    refuse_media(ctx, "NotAllowedError", "Permission denied", delay_ms)
    before = core_ids(widget_server)
    page = open_page(host.page(f"denied-{delay_ms}", host.snippet("support")))
    wait_event(page, "ready")
    page.evaluate("cvi('start')")
    error = wait_event(page, "error")
    assert error["code"] == "permission-denied"
    wait_event(page, "state", state="error")
    frame = frame_of(page)
    assert frame.evaluate("window.__gum") == 1  # the init script did replace getUserMedia in the frame
    assert frame.locator("#app").get_attribute("data-state") == "denied"
    live = frame.locator("#screen-text")
    assert live.get_attribute("role") == "status"
    assert live.get_attribute("aria-live") == "polite"
    assert live.is_visible()
    text = live.inner_text()
    assert DENIED_TEXT in text and HOW_TO_FIX in text, text
    assert frame.get_by_role("button", name="Try again").is_visible()
    assert "in-call" not in state_names(page) and "waiting" not in state_names(page)

    if delay_ms:  # the conversation was created while the browser asked: the host heard of it first
        created = wait_event(page, "conversation.created")
        names = [e["event"] for e in events(page)]
        assert names.index("conversation.created") < names.index("error"), names
    # Whatever the frame created meanwhile is ended at the engine and in the server's store: no orphan.
    page.wait_for_timeout(300)  # a creation still in flight when the browser said no
    new = core_ids(widget_server) - before
    assert len(new) == 1, new  # the frame asks for media and creates the conversation in parallel
    if delay_ms:
        assert new == {created["conversation_id"]}
    assert wait_all_ended(widget_server, new) == dict.fromkeys(new, "ended")
    for cid in new:
        assert widget_server.wait_ended(cid)["status"] == "ended"
    # And the host is never left holding a conversation it was not told has ended.
    announced = {e["conversation_id"] for e in events(page) if e["event"] == "conversation.created"}
    ended = {e["conversation_id"] for e in events(page) if e["event"] == "conversation.ended"}
    assert announced <= ended, events(page)


def test_no_device_says_so(ctx: BrowserContext, open_page: Callable[..., Page], host: Host,
                           widget_server: WidgetServer) -> None:
    refuse_media(ctx, "NotFoundError", "Requested device not found")
    before = core_ids(widget_server)
    page = open_page(host.page("nodevice", host.snippet("support")))
    wait_event(page, "ready")
    page.evaluate("cvi('start')")
    wait_event(page, "state", state="error")
    assert wait_event(page, "error")["code"] == "no-device"
    frame = frame_of(page)
    assert frame.locator("#app").get_attribute("data-state") == "nodevice"
    assert NODEVICE_TEXT in frame.locator("#screen-text").inner_text()
    assert frame.get_by_role("button", name="Try again").is_visible()
    page.wait_for_timeout(300)
    new = core_ids(widget_server) - before
    assert wait_all_ended(widget_server, new) == dict.fromkeys(new, "ended")


def test_audio_only_widget_gets_the_audio_layout(open_page: Callable[..., Page], host: Host,
                                                 widget_server: WidgetServer) -> None:
    page = open_page(host.page("audio", host.snippet("audio")))
    wait_event(page, "ready", widget="audio")
    frame = frame_of(page, "audio")
    cid = start(page, "audio")["conversation_id"]
    assert wait_event(page, "utterance", role="replica")["text"] == "Audio only here."
    assert "audio-only" in (frame.locator("body").get_attribute("class") or "")
    frame.locator("#audio-face").wait_for(state="visible")
    for selector in ("#replica-video", "#replica-canvas", "#self-view", "#cam"):
        assert not frame.locator(selector).is_visible(), selector
    # No replica video is attached, and the visitor's camera was never asked for.
    assert frame.evaluate("document.getElementById('replica-video').srcObject") is None
    assert frame.evaluate("document.getElementById('self-view').srcObject") is None
    assert widget_server.app.state.ctx.engine.core.conversations[cid].status != "ended"
    frame.get_by_label("Type a message").fill("Can you hear me?")
    frame.get_by_label("Type a message").press("Enter")
    wait_event(page, "utterance", role="user", text="Can you hear me?")
    page.evaluate("cvi('end', {widget: 'audio'})")
    wait_event(page, "conversation.ended", widget="audio")
    assert widget_server.wait_ended(cid)["status"] == "ended"


# Every text the live region is given, in order (a MutationObserver in the frame).
LIVE_LOG = """() => {
  window.__live = [];
  const region = document.getElementById('screen-text');
  new MutationObserver(() => window.__live.push(region.textContent)).observe(region, {childList: true,
    characterData: true, subtree: true});
}"""


def test_live_region_announces_each_state(open_page: Callable[..., Page], host: Host) -> None:
    page = open_page(host.page("live", host.snippet("support")))
    wait_event(page, "ready")
    frame = frame_of(page)
    region = frame.locator("#screen-text")
    assert region.get_attribute("role") == "status"
    assert region.get_attribute("aria-live") == "polite"
    assert region.inner_text().startswith("Start a face-to-face conversation.")
    frame.evaluate(LIVE_LOG)
    start(page, "support")
    frame.get_by_role("button", name="End", exact=True).click()  # the panel stays open on the ended screen
    wait_event(page, "conversation.ended")
    frame.locator("#app[data-state=ended]").wait_for(state="attached")
    live: list[str] = frame.evaluate("window.__live")
    expected = ["Asking for your camera and microphone. Please allow them in the browser prompt.",
                "Connecting…", "Waiting for the assistant to join…", "The conversation has ended. Thank you!"]
    assert live == expected, live
    assert region.is_visible()
    assert frame.locator("#app").get_attribute("aria-busy") == "false"


def end_requests(page: Page) -> list[str]:
    urls: list[str] = []
    page.on("request", lambda r: urls.append(r.url) if r.url.endswith("/end") else None)
    return urls


def end_from_server(widget_server: WidgetServer, cid: str) -> None:
    r = httpx.post(f"{widget_server.url}/api/conversations/{cid}/end",
                   headers={"Authorization": f"Bearer {SERVER_KEY}"}, timeout=5)
    assert r.status_code == 200, r.text


def assert_ended_by_engine(page: Page, widget_server: WidgetServer, cid: str, sent: list[str]) -> None:
    ended = wait_event(page, "conversation.ended")
    assert ended["conversation_id"] == cid
    assert ended["reason"] == "ended_by_engine"
    wait_event(page, "state", state="ended")
    frame = frame_of(page)
    assert frame.locator("#app").get_attribute("data-state") == "ended"
    assert frame.locator("#screen-text").inner_text() == "The conversation has ended. Thank you!"
    assert frame.get_by_role("button", name="Start again").is_visible()
    page.wait_for_timeout(300)
    assert sent == [], sent  # the engine ended it: the page sends no end of its own
    assert widget_server.conversation(cid)["end_reason"] == "operator_ended"


def test_engine_ending_the_call_ends_the_page(open_page: Callable[..., Page], host: Host,
                                              widget_server: WidgetServer) -> None:
    page = open_page(host.page("engine-end", host.snippet("support")))
    sent = end_requests(page)
    wait_event(page, "ready")
    cid = start(page, "support")["conversation_id"]
    end_from_server(widget_server, cid)   # the sandbox room then tells the page: left-meeting
    assert_ended_by_engine(page, widget_server, cid, sent)


def test_heartbeat_410_ends_the_page_when_the_room_says_nothing(open_page: Callable[..., Page], host: Host,
                                                               widget_server: WidgetServer) -> None:
    page = open_page(host.page("engine-end-beat", host.snippet("support")))
    sent = end_requests(page)
    dropped: list[str] = []

    def mute_room(ws: WebSocketRoute) -> None:
        # Pass the room through, but swallow its left-meeting and its close: only the heartbeat can tell.
        server = ws.connect_to_server()

        def from_server(message: str | bytes) -> None:
            if '"left-meeting"' in str(message):
                dropped.append(str(message))
            else:
                ws.send(message)

        server.on_message(from_server)
        server.on_close(lambda code, reason: None)

    page.route_web_socket(re.compile(r"/ws(\?|$)"), mute_room)
    wait_event(page, "ready")
    beats: list[int] = []
    page.on("response", lambda r: beats.append(r.status) if r.url.endswith("/heartbeat") else None)
    cid = start(page, "support")["conversation_id"]
    end_from_server(widget_server, cid)
    assert_ended_by_engine(page, widget_server, cid, sent)
    assert dropped and 410 in beats, (dropped, beats)
