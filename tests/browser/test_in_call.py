"""In the call, in real Chromium: speaking indicators and the muted nudge, captions and the transcript panel, the
network hint, a connection that does not come back, the time limit, keyboard only, one live call across the tabs
of a site, and pages whose policy keeps the devices from the frame.

The visitor speaking is a voice-like sound the fake microphone plays (``--use-file-for-fake-audio-capture``):
Chromium's own fake microphone only beeps for a moment each second, which is not speech."""

from __future__ import annotations

import math
import re
import struct
import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, Playwright

from tests.browser.conftest import (
    CHROMIUM_ARGS,
    RECORDER,
    Errors,
    Host,
    WidgetServer,
    assert_accessible,
    frame_of,
    wait_event,
)

pytestmark = pytest.mark.browser

# Every text the live region is given, and every class the stage had (MutationObservers in the frame).
OBSERVE = """() => {
  window.__live = [];
  window.__stage = new Set();
  const region = document.getElementById('announce');
  new MutationObserver(() => region.textContent && window.__live.push(region.textContent)).observe(region,
    {childList: true, characterData: true, subtree: true});
  const stage = document.getElementById('stage');
  new MutationObserver(() => stage.classList.forEach((c) => window.__stage.add(c)))
    .observe(stage, {attributes: true, attributeFilter: ['class']});
}"""


def engine_ids(widget_server: WidgetServer) -> set[str]:
    return set(widget_server.app.state.ctx.engine.core.conversations)


def voice(path: Path, seconds: float = 20.0, rate: int = 16000) -> Path:
    """Something like a voice, 16-bit mono: a gliding pitch with harmonics, four syllables a second. (A steady
    tone is not: the microphone's noise suppression takes it for noise and fades it out.)"""
    frames = bytearray()
    phase = 0.0
    for i in range(int(seconds * rate)):
        t = i / rate
        phase += 2 * math.pi * (170 + 50 * math.sin(2 * math.pi * 0.7 * t)) / rate
        syllables = 0.55 + 0.45 * math.sin(2 * math.pi * 4 * t)
        frames += struct.pack("<h", int(8700 * syllables * sum(math.sin(k * phase) / k for k in range(1, 6))))
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes(bytes(frames))
    return path


@pytest.fixture
def talking_page(_playwright: Playwright, tmp_path: Path, errors: Errors) -> Iterator[Callable[[str], Page]]:
    args = [*CHROMIUM_ARGS, f"--use-file-for-fake-audio-capture={voice(tmp_path / 'voice.wav')}"]
    browser = _playwright.chromium.launch(executable_path="/usr/bin/chromium", args=args)
    context = browser.new_context(viewport={"width": 1280, "height": 800}, permissions=["camera", "microphone"])
    context.set_default_timeout(10_000)

    def open_(url: str) -> Page:
        page = errors.watch(context.new_page())
        page.add_init_script(RECORDER)
        page.goto(url)
        return page

    yield open_
    browser.close()


def start(page: Page) -> str:
    """The host page's ``cvi('start')`` once the loader is ready: the new conversation's id."""
    wait_event(page, "ready")
    page.evaluate("cvi('start')")
    return str(wait_event(page, "conversation.started")["conversation_id"])


def test_speaking_indicators_and_the_muted_nudge(talking_page: Callable[[str], Page], host: Host,
                                                 widget_server: WidgetServer) -> None:
    page = talking_page(host.page("speaking", host.snippet("support")))
    wait_event(page, "ready")
    frame = frame_of(page)
    frame.evaluate(OBSERVE)
    # Joined with a click in the frame, as a visitor does: the page may then start its audio (autoplay rules).
    page.locator("[data-cvi-widget=support] .bubble").click()
    frame.get_by_role("button", name="Join with video").click()
    cid = wait_event(page, "conversation.started")["conversation_id"]
    # The replica's greeting lights its indicator, and it goes out when the replica stops.
    wait_event(page, "speaking", role="replica", state="stopped")
    assert "replica-speaking" in frame.evaluate("[...window.__stage]")
    frame.locator("#stage:not(.replica-speaking)").wait_for(state="attached")
    # The visitor talks: theirs lights.
    frame.locator("#stage.user-speaking").wait_for(state="attached")
    nudge = frame.locator("#nudge")
    assert nudge.is_hidden()
    # Muted and still talking: the nudge, announced once however long the visitor goes on.
    mic = frame.get_by_role("button", name="Mute")
    mic.click()
    assert mic.get_attribute("aria-pressed") == "true"
    nudge.wait_for()
    assert nudge.inner_text() == "You are muted. Press the microphone button to talk."
    frame.locator("#stage:not(.user-speaking)").wait_for(state="attached")   # muted: not shown as speaking
    assert_accessible(frame)
    page.wait_for_timeout(1500)
    live: list[str] = frame.evaluate("window.__live")
    assert live.count(nudge.inner_text()) == 1, live
    mic.click()
    assert nudge.is_hidden()
    frame.locator("#stage.user-speaking").wait_for(state="attached")
    page.evaluate("cvi('end')")
    widget_server.wait_ended(cid)


def test_captions_on_and_off_and_the_transcript_panel(open_page: Callable[..., Page], host: Host,
                                                      widget_server: WidgetServer) -> None:
    page = open_page(host.page("captions", host.snippet("support")))
    cid = start(page)
    frame = frame_of(page)
    wait_event(page, "utterance", role="replica")
    captions = frame.locator("#captions")
    cc = frame.get_by_role("button", name="Captions")
    assert cc.get_attribute("aria-pressed") == "true"
    captions.get_by_text("Hello from the browser test!").wait_for()
    cc.click()
    assert cc.get_attribute("aria-pressed") == "false" and captions.is_hidden()
    # Said while captions are off: not shown, but kept for the transcript.
    for n in range(12):
        frame.get_by_label("Type a message").fill(f"Question {n}?")
        frame.get_by_label("Type a message").press("Enter")
        wait_event(page, "utterance", role="replica", text_contains=f"Question {n}?")
    assert captions.is_hidden()
    transcript = frame.get_by_role("button", name="Transcript")
    assert transcript.get_attribute("aria-pressed") == "false"
    transcript.click()
    assert transcript.get_attribute("aria-pressed") == "true"
    lines = frame.locator("#lines")
    lines.get_by_text("Question 11?").first.wait_for()
    assert lines.locator("li").count() >= 25   # the greeting, then a question and its answer, twelve times
    # Scrollable, and reachable with the keyboard (a focusable list).
    assert frame.evaluate("(() => { const l = document.getElementById('lines');"
                          " return l.scrollHeight > l.clientHeight; })()")
    assert lines.get_attribute("tabindex") == "0"
    assert_accessible(frame)
    transcript.click()
    assert frame.locator("#transcript").is_hidden()
    cc.click()
    assert cc.get_attribute("aria-pressed") == "true"
    captions.get_by_text("Question 11?").first.wait_for()
    page.evaluate("cvi('end')")
    widget_server.wait_ended(cid)


def test_a_weak_connection_shows_a_hint(open_page: Callable[..., Page], host: Host,
                                        widget_server: WidgetServer) -> None:
    # The sandbox room's adapter pings the room every 2 s; here the room's answers stop getting through (the
    # socket is passed through, its pongs dropped for a while), as on a link that loses packets.
    page = open_page(host.page("weak", host.snippet("support")))
    dropping = [False]

    def through(ws: Any) -> None:
        server = ws.connect_to_server()

        def to_page(message: str | bytes) -> None:
            if not (dropping[0] and '"pong"' in str(message)):
                ws.send(message)

        server.on_message(to_page)

    page.route_web_socket(re.compile(r"/ws(\?|$)"), through)
    cid = start(page)
    frame = frame_of(page)
    net = frame.locator("#net")
    page.wait_for_timeout(4500)   # two pings answered: no hint
    assert net.is_hidden()
    dropping[0] = True
    net.wait_for(timeout=15_000)
    assert net.inner_text() == "Weak connection"
    assert_accessible(frame)
    dropping[0] = False
    net.wait_for(state="hidden", timeout=15_000)
    assert frame.locator("#app").get_attribute("data-state") == "in-call"
    assert widget_server.conversation(cid)["status"] == "active"
    page.evaluate("cvi('end')")
    widget_server.wait_ended(cid)


def test_one_live_call_across_the_tabs_of_a_site(open_page: Callable[..., Page], host: Host,
                                                 widget_server: WidgetServer) -> None:
    before = engine_ids(widget_server)
    first = open_page(host.page("tab-one", host.snippet("support")))
    second = open_page(host.page("tab-two", host.snippet("support")))
    wait_event(first, "ready")
    wait_event(second, "ready")
    first.evaluate("cvi('start')")
    one = wait_event(first, "conversation.started")["conversation_id"]
    # The other tab's Start offers to switch; nothing is created, the first call goes on.
    second.evaluate("cvi('start')")
    frame = frame_of(second)
    frame.get_by_role("button", name="Switch here").wait_for()
    second.wait_for_timeout(300)
    assert engine_ids(widget_server) - before == {one}
    assert widget_server.conversation(one)["status"] == "active"
    frame.get_by_role("button", name="Switch here").click()
    ended = wait_event(first, "conversation.ended")
    assert (ended["conversation_id"], ended["reason"]) == (one, "switched")
    two = wait_event(second, "conversation.started")["conversation_id"]
    assert widget_server.wait_ended(one)["end_reason"] == "visitor_switched"
    assert engine_ids(widget_server) - before == {one, two}
    second.evaluate("cvi('end')")
    widget_server.wait_ended(two)


def cvi_warnings(page: Page) -> list[str]:
    found: list[str] = []

    def console(m: ConsoleMessage) -> None:
        if m.type == "warning" and m.text.startswith("cvi:"):
            found.append(m.text)

    page.on("console", console)
    return found


def test_a_page_whose_permissions_policy_keeps_the_devices_is_told_at_once(
        ctx: BrowserContext, errors: Errors, host: Host, widget_server: WidgetServer) -> None:
    before = engine_ids(widget_server)
    url = host.page("policy", host.snippet("support"))
    host.headers["policy"] = {"Permissions-Policy": "camera=(), microphone=()"}
    page = errors.watch(ctx.new_page())
    page.add_init_script(RECORDER)
    warned = cvi_warnings(page)
    page.goto(url)
    error = wait_event(page, "error", timeout=5)
    assert error["code"] == "frame-not-allowed"
    assert [w for w in warned if 'allow="camera; microphone' in w and "Permissions-Policy" in w], warned
    # The visitor is told what stands in the way, and nothing is created.
    page.evaluate("cvi('start')")
    frame = frame_of(page)
    status = frame.locator("#lobby-status")
    status.wait_for()
    assert "This website does not let the conversation use your microphone." in status.inner_text()
    page.wait_for_timeout(300)
    assert engine_ids(widget_server) - before == set()
    assert len(warned) == 1, warned


def test_an_iframe_without_allow_camera_microphone_is_told_at_once(
        ctx: BrowserContext, errors: Errors, host: Host, widget_server: WidgetServer) -> None:
    url = host.page("bare-iframe", f'<iframe title="Talk to us" src="{host.server}/w/support?origin={{origin}}">'
                                   "</iframe>")
    html, csp = host.pages["bare-iframe"]
    host.pages["bare-iframe"] = (html.replace("{origin}", host.url), csp)
    page = errors.watch(ctx.new_page())
    warned = cvi_warnings(page)
    page.goto(url)
    frame = frame_of(page)
    frame.locator("#app").wait_for(state="attached")
    page.wait_for_timeout(300)
    assert len(warned) == 1 and 'allow="camera; microphone' in warned[0], warned


def test_a_connection_that_does_not_come_back_ends_the_call_and_says_why(
        open_page: Callable[..., Page], host: Host, widget_server: WidgetServer) -> None:
    before = engine_ids(widget_server)
    page = open_page(host.page("lost", host.snippet("support")))
    sockets: list[Any] = []

    def first_only(ws: Any) -> None:
        if sockets:   # the network is gone: every new connection fails
            ws.close()
            return
        ws.connect_to_server()
        sockets.append(ws)

    page.route_web_socket(re.compile(r"/ws(\?|$)"), first_only)
    cid = start(page)
    sockets[0].close()
    wait_event(page, "state", state="reconnecting")
    ended = wait_event(page, "conversation.ended", timeout=15)
    assert (ended["conversation_id"], ended["reason"]) == (cid, "connection_lost")
    frame = frame_of(page)
    frame.locator("#app[data-state=ended]").wait_for(state="attached")
    assert frame.locator("#ended-why").inner_text() == "The connection was lost."
    assert frame.get_by_role("button", name="Start again").is_visible()
    # Ended at the server by the page itself (billing stops now, not at the heartbeat grace); nothing new.
    record = widget_server.wait_ended(cid)
    assert (record["status"], record["end_reason"]) == ("ended", "visitor_ended")
    assert engine_ids(widget_server) - before == {cid}
    assert_accessible(frame)


def tab_to(page: Page, frame: Any, target: str, limit: int = 15) -> None:
    for _ in range(limit):
        if frame.evaluate("document.hasFocus() && document.activeElement.id") == target:
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached #{target}")


def test_keyboard_only_through_every_control_minimize_and_back(open_page: Callable[..., Page], host: Host,
                                                                widget_server: WidgetServer) -> None:
    page = open_page(host.page("keys", host.snippet("support")))
    wait_event(page, "ready")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    frame = frame_of(page)
    frame.locator("#join-video:focus").wait_for()
    page.keyboard.press("Enter")
    cid = wait_event(page, "conversation.started")["conversation_id"]
    frame.locator("#say-text:focus").wait_for()
    focused = "document.activeElement.id"
    # Every control is reached with Tab and works with the keyboard.
    reached: list[str] = []
    for _ in range(12):
        page.keyboard.press("Tab")
        current = frame.evaluate(f"document.hasFocus() ? {focused} : ''")
        if current in reached:
            break
        reached.append(current)
    assert {"mic", "cam", "cc", "show-transcript", "end"} <= set(reached), reached
    tab_to(page, frame, "mic")
    page.keyboard.press("Space")
    assert frame.locator("#mic").get_attribute("aria-pressed") == "true"
    page.keyboard.press("Space")
    assert frame.locator("#mic").get_attribute("aria-pressed") == "false"
    # Escape minimizes: no longer modal, Tab goes on into the host page and comes back to the bubble's
    # controls (Expand first); Expand brings the panel back.
    page.keyboard.press("Escape")
    wait_event(page, "state", state="minimized")
    assert widget_server.conversation(cid)["status"] == "active"
    tab_to(page, frame, "expand")
    page.keyboard.press("Enter")
    wait_event(page, "open")
    tab_to(page, frame, "end")
    page.keyboard.press("Enter")
    wait_event(page, "conversation.ended")
    assert widget_server.wait_ended(cid)["end_reason"] == "visitor_end_button"


def test_the_time_limit_ends_the_call_and_says_so(open_page: Callable[..., Page], host: Host,
                                                  widget_server: WidgetServer) -> None:
    page = open_page(host.page("short", host.snippet("short")))
    cid = start(page)
    frame = frame_of(page, "short")
    warning = frame.locator("#time-warning")
    warning.wait_for()
    assert re.fullmatch(r"The call will end in \d seconds\.", warning.inner_text()), warning.inner_text()
    ended = wait_event(page, "conversation.ended", timeout=15)
    assert (ended["conversation_id"], ended["reason"]) == (cid, "ended_by_engine")
    frame.locator("#app[data-state=ended]").wait_for(state="attached")
    assert frame.locator("#ended-why").inner_text() == "The time for this conversation is up."
    record = widget_server.wait_ended(cid)
    assert (record["status"], record["end_reason"]) == ("ended", "max_call_duration reached")
    assert_accessible(frame)
