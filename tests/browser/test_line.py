"""The waiting line in real Chromium (issue 15): visitor B waits at position 1 while A talks and is connected
without a click when A ends; a hidden tab gets a "your turn" prompt; Leave gives the place up at once.

Each visitor is its own browser context (one browser allows one live call: static/call/one-call.js). The widget
``line`` has one slot. Conversations are counted at the sandbox engine itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.browser.conftest import (
    RECORDER,
    Host,
    WidgetServer,
    assert_accessible,
    events,
    frame_of,
    shot,
    wait_event,
)

pytestmark = pytest.mark.browser

# The frame's tab may be told hidden (window.__hide()) and visible again (window.__show()).
VISIBILITY = """
if (window.top !== window) {
  let hidden = false;
  Object.defineProperty(document, 'visibilityState', {get: () => (hidden ? 'hidden' : 'visible')});
  Object.defineProperty(document, 'hidden', {get: () => hidden});
  window.__hide = () => { hidden = true; document.dispatchEvent(new Event('visibilitychange')); };
  window.__show = () => { hidden = false; document.dispatchEvent(new Event('visibilitychange')); };
}
"""

# The frame's heartbeat answers arrive late (a loaded machine, a slow network): one read before the visitor's
# turn comes after the stream told it. The server answers as ever; only its delivery to the page is delayed.
LATE_BEATS = """
if (window.top !== window) {
  const fetch = window.fetch.bind(window);
  window.fetch = async (url, ...rest) => {
    const res = await fetch(url, ...rest);
    if (String(url).endsWith('/heartbeat')) await new Promise((done) => setTimeout(done, 1500));
    return res;
  };
}
"""


@pytest.fixture(params=[("desktop", 1280, 800), ("phone", 390, 844)], ids=["desktop", "phone"])
def visitors(request: pytest.FixtureRequest, browser: Browser) -> Iterator[tuple[str, Callable[[], BrowserContext]]]:
    name, width, height = request.param
    phone = name == "phone"
    made: list[BrowserContext] = []

    def new() -> BrowserContext:
        ctx = browser.new_context(viewport={"width": width, "height": height}, is_mobile=phone, has_touch=phone,
                                  permissions=["camera", "microphone"])
        ctx.set_default_timeout(15_000)
        made.append(ctx)
        return ctx

    yield name, new
    for ctx in made:
        ctx.close()


def left_line(widget_server: WidgetServer, reason: str) -> float:
    """``widget_queue_left_total`` of the line widget for ``reason`` (0 before the first)."""
    want = f'widget_queue_left_total{{reason="{reason}",widget="line"}} '
    alt = f'widget_queue_left_total{{widget="line",reason="{reason}"}} '
    for line in httpx.get(f"{widget_server.url}/metrics").text.splitlines():
        if line.startswith((want, alt)):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def engine_ids(widget_server: WidgetServer) -> set[str]:
    return set(widget_server.app.state.ctx.engine.core.conversations)


def visit(ctx: BrowserContext, host: Host, title: str, script: str = "", **data: str) -> Page:
    page = ctx.new_page()
    page.add_init_script(RECORDER)
    if script:
        page.add_init_script(script)
    page.goto(host.page(title, "<p>Welcome to the host page.</p>" + host.snippet("line", **data)))
    wait_event(page, "ready", widget="line")
    page.evaluate("cvi('start', {widget: 'line'})")
    return page


def wait_text(frame: Any, text: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while text not in (frame.locator("#screen-text").text_content() or ""):
        assert time.monotonic() < deadline, frame.locator("#screen-text").text_content()
        time.sleep(0.05)


def test_b_waits_at_position_1_and_is_connected_without_a_click(
        visitors: tuple[str, Callable[[], BrowserContext]], host: Host, widget_server: WidgetServer) -> None:
    name, new = visitors
    before = engine_ids(widget_server)
    a = visit(new(), host, f"line-a-{name}")
    a_id = wait_event(a, "conversation.started", timeout=20)["conversation_id"]
    b = visit(new(), host, f"line-b-{name}")
    state = wait_event(b, "state", state="queued")
    assert state["position"] == 1 and state["estimated_wait_s"] > 0
    frame = frame_of(b, "line")
    wait_text(frame, "You are next in line.")
    text = frame.locator("#screen-text").text_content() or ""
    assert "Estimated wait: about" in text or "less than a minute" in text
    assert not any(ch.isdigit() and f"{ch} s" in text for ch in "0123456789")  # never raw seconds
    assert frame.get_by_role("button", name="Leave the line").is_visible()
    b.wait_for_timeout(300)
    shot(b, f"line-waiting-{name}")
    assert_accessible(frame)
    assert engine_ids(widget_server) - before == {a_id}  # B is not billed while waiting
    a.evaluate("cvi('end', {widget: 'line'})")
    b_id = wait_event(b, "conversation.started", timeout=20)["conversation_id"]  # no click on B's page
    order = [e["event"] if e["event"] != "state" else f"state:{e['state']}" for e in events(b)]
    first = order.index("state:queued")
    assert order.index("state:starting", first) < order.index("conversation.created") < order.index(
        "conversation.started")
    assert engine_ids(widget_server) - before == {a_id, b_id}
    widget_server.wait_ended(a_id)
    b.evaluate("cvi('end', {widget: 'line'})")
    assert widget_server.wait_ended(b_id)["status"] == "ended"


def test_a_hidden_tab_is_prompted_and_leave_gives_the_place_up(
        visitors: tuple[str, Callable[[], BrowserContext]], host: Host, widget_server: WidgetServer) -> None:
    name, new = visitors
    before = engine_ids(widget_server)
    a = visit(new(), host, f"line-a2-{name}")
    a_id = wait_event(a, "conversation.started", timeout=20)["conversation_id"]
    b = visit(new(), host, f"line-b2-{name}", VISIBILITY)
    c = visit(new(), host, f"line-c2-{name}")
    wait_event(b, "state", state="queued", position=1)
    wait_event(c, "state", state="queued", position=2)
    b_frame = frame_of(b, "line")
    b_frame.evaluate("window.__hide()")
    a.evaluate("cvi('end', {widget: 'line'})")
    wait_text(b_frame, "It is your turn!")
    join = b_frame.get_by_role("button", name="Join now")
    assert join.is_visible()
    assert engine_ids(widget_server) - before == {a_id}  # nothing created before the visitor is there
    b.wait_for_timeout(300)
    shot(b, f"line-turn-{name}")
    assert_accessible(b_frame)
    join.click()
    b_id = wait_event(b, "conversation.started", timeout=20)["conversation_id"]
    # C, now at the head, leaves: out of the line at once, and nothing is ever created for C
    wait_event(c, "state", state="queued", position=1)
    frame_of(c, "line").get_by_role("button", name="Leave the line").click()
    wait_event(c, "state", state="lobby")
    metrics = httpx.get(f"{widget_server.url}/metrics", timeout=5).text
    assert 'widget_queue_length{widget="line"} 0.0' in metrics
    b.evaluate("cvi('end', {widget: 'line'})")
    widget_server.wait_ended(b_id)
    assert engine_ids(widget_server) - before == {a_id, b_id}


def test_closing_the_tab_gives_the_place_up_at_once(
        visitors: tuple[str, Callable[[], BrowserContext]], host: Host, widget_server: WidgetServer) -> None:
    name, new = visitors
    before = engine_ids(widget_server)
    a = visit(new(), host, f"line-a3-{name}")
    a_id = wait_event(a, "conversation.started", timeout=20)["conversation_id"]
    b = visit(new(), host, f"line-b3-{name}")
    wait_event(b, "state", state="queued", position=1)
    left, gone = left_line(widget_server, "left"), left_line(widget_server, "gone")
    b.close(run_before_unload=True)  # pagehide: the page's beacon leaves the line
    # The departure's reason tells the beacon's Leave ("left") from the heartbeat's silence ("gone"),
    # whatever the machine's load (a deadline shorter than the grace did, and failed on a slow /metrics).
    deadline = time.monotonic() + 20
    while left_line(widget_server, "left") == left:
        assert time.monotonic() < deadline, "the closed tab's place was not given up"
        time.sleep(0.05)
    assert left_line(widget_server, "gone") == gone, "the place went by silence, not by the closed tab's Leave"
    assert 'widget_queue_length{widget="line"} 0.0' in httpx.get(f"{widget_server.url}/metrics").text
    a.evaluate("cvi('end', {widget: 'line'})")
    widget_server.wait_ended(a_id)
    assert engine_ids(widget_server) - before == {a_id}


def test_the_line_speaks_the_visitors_language(
        visitors: tuple[str, Callable[[], BrowserContext]], host: Host, widget_server: WidgetServer) -> None:
    """Arabic, right to left: the place, the wait in words (Intl's plural minutes) and Leave, from the catalog."""
    name, new = visitors
    before = engine_ids(widget_server)
    a = visit(new(), host, f"line-a4-{name}")
    a_id = wait_event(a, "conversation.started", timeout=20)["conversation_id"]
    b = visit(new(), host, f"line-b4-{name}", language="arabic")
    wait_event(b, "state", state="queued", position=1)
    frame = frame_of(b, "line")
    wait_text(frame, "أنت التالي في الدور.")
    text = frame.locator("#screen-text").text_content() or ""
    assert "\u2068Ada\u2069" in text and "مدة الانتظار المتوقعة:" in text and "minute" not in text
    assert frame.evaluate("document.documentElement.dir") == "rtl"
    b.wait_for_timeout(300)
    shot(b, f"line-waiting-ar-{name}")
    assert_accessible(frame)
    # Closing the panel asks first, in Arabic too; staying keeps the place.
    b.evaluate("cvi('close', {widget: 'line'})")
    frame.get_by_role("alertdialog", name="مغادرة الدور؟").wait_for()
    assert frame.locator("#confirm-text").text_content() == "إغلاق هذه اللوحة يُفقدك مكانك في الدور."
    b.wait_for_timeout(200)
    shot(b, f"line-confirm-ar-{name}")
    frame.get_by_role("button", name="البقاء في الدور").click()
    assert frame.locator("#confirm").is_hidden()
    assert "أنت التالي" in (frame.locator("#screen-text").text_content() or "")
    frame.get_by_role("button", name="مغادرة الدور").click()
    wait_event(b, "state", state="lobby")
    a.evaluate("cvi('end', {widget: 'line'})")
    widget_server.wait_ended(a_id)
    assert engine_ids(widget_server) - before == {a_id}  # the visitor who left the line was never billed


def test_a_late_heartbeat_answer_does_not_take_the_turn_back(
        visitors: tuple[str, Callable[[], BrowserContext]], host: Host, widget_server: WidgetServer) -> None:
    """The flake of a loaded CI machine, made certain: B's hidden tab is offered its turn by the stream while a
    heartbeat answer read before the offer is still on its way. The prompt stays (it used to turn back into "You
    are next in line" for good, and the turn was missed), and Join now creates B's conversation. Last in the file:
    its short conversations would change the estimates in the screenshots of the tests above."""
    name, new = visitors
    before = engine_ids(widget_server)
    a = visit(new(), host, f"line-a5-{name}")
    a_id = wait_event(a, "conversation.started", timeout=20)["conversation_id"]
    b = visit(new(), host, f"line-b5-{name}", VISIBILITY + LATE_BEATS)
    wait_event(b, "state", state="queued", position=1)
    b_frame = frame_of(b, "line")
    b_frame.evaluate("window.__hide()")
    b.wait_for_timeout(2000)  # the heartbeats' late answers are in flight when the turn comes
    a.evaluate("cvi('end', {widget: 'line'})")
    wait_text(b_frame, "It is your turn!")
    b.wait_for_timeout(3000)  # every answer read before the offer has arrived by now, and newer ones too
    assert "It is your turn!" in (b_frame.locator("#screen-text").text_content() or "")
    prompts = [e for e in events(b) if e["event"] == "state" and e["state"] == "queued" and e["position"] == 0]
    assert len(prompts) == 1  # prompted once: no chime nor notification twice
    assert engine_ids(widget_server) - before == {a_id}
    b_frame.get_by_role("button", name="Join now").click()
    b_id = wait_event(b, "conversation.started", timeout=20)["conversation_id"]
    b.evaluate("cvi('end', {widget: 'line'})")
    widget_server.wait_ended(b_id)
    widget_server.wait_ended(a_id)
    assert engine_ids(widget_server) - before == {a_id, b_id}
