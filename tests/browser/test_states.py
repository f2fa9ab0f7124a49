"""The frame page's other states in real Chromium: audio only, the live region, engine-ended (the lobby's refusals
are in test_visitor.py)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, WebSocketRoute

from tests.browser.conftest import SERVER_KEY, Host, WidgetServer, events, frame_of, on_both_setups, wait_event

pytestmark = pytest.mark.browser


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


@on_both_setups
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
    assert cid in widget_server.active_at_engine()
    frame.get_by_label("Type a message").fill("Can you hear me?")
    frame.get_by_label("Type a message").press("Enter")
    wait_event(page, "utterance", role="user", text="Can you hear me?")
    page.evaluate("cvi('end', {widget: 'audio'})")
    wait_event(page, "conversation.ended", widget="audio")
    assert widget_server.wait_ended(cid)["status"] == "ended"


# Every text the live region is given, in order (a MutationObserver in the frame).
LIVE_LOG = """() => {
  window.__live = [];
  const region = document.getElementById('announce');
  new MutationObserver(() => region.textContent && window.__live.push(region.textContent)).observe(region,
    {childList: true, characterData: true, subtree: true});
}"""


def test_live_region_announces_connected_and_ended_once(open_page: Callable[..., Page], host: Host) -> None:
    page = open_page(host.page("live", host.snippet("support")))
    wait_event(page, "ready")
    frame = frame_of(page)
    region = frame.locator("#announce")
    assert region.get_attribute("role") == "status"
    assert region.get_attribute("aria-live") == "polite"
    frame.evaluate(LIVE_LOG)
    start(page, "support")
    wait_event(page, "utterance", role="replica")
    frame.get_by_label("Type a message").fill("Hello")
    frame.get_by_label("Type a message").press("Enter")
    wait_event(page, "utterance", role="user", text="Hello")
    page.wait_for_timeout(300)
    frame.get_by_role("button", name="End", exact=True).click()  # the panel stays open on the ended screen
    wait_event(page, "conversation.ended")
    frame.locator("#app[data-state=ended]").wait_for(state="attached")
    page.wait_for_timeout(200)
    live: list[str] = frame.evaluate("window.__live")
    # No chatter: not the captions, not the visitor's own words, not a countdown.
    assert live == ["Connected. You are talking with Ask us.",
                    "The conversation has ended. You ended the conversation."], live
    assert frame.locator("#captions").get_attribute("aria-hidden") == "true"
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
    assert frame.locator("#ended-why").inner_text() == "Ask us ended the conversation."
    assert frame.get_by_role("button", name="Start again").is_visible()
    page.wait_for_timeout(300)
    assert sent == [], sent  # the engine ended it: the page sends no end of its own
    assert widget_server.conversation(cid)["end_reason"] == "operator_ended"


@on_both_setups
def test_engine_ending_the_call_ends_the_page(open_page: Callable[..., Page], host: Host,
                                              widget_server: WidgetServer) -> None:
    page = open_page(host.page("engine-end", host.snippet("support")))
    sent = end_requests(page)
    wait_event(page, "ready")
    cid = start(page, "support")["conversation_id"]
    end_from_server(widget_server, cid)   # the sandbox room then tells the page: left-meeting
    assert_ended_by_engine(page, widget_server, cid, sent)


@on_both_setups
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
