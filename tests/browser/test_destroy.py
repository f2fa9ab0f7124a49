"""cvi('destroy') in real Chromium: the widget goes (host element, shadow DOM, iframe); a live call ends first."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest
from playwright.sync_api import BrowserContext, ConsoleMessage, Page

from tests.browser.conftest import SERVER_KEY, Host, WidgetServer, events, frame_of, on_both_setups, wait_event
from tests.browser.test_embed import bubble, start_call

pytestmark = pytest.mark.browser

NO_WIDGETS = "() => !document.querySelector('[data-cvi-widget]')"


def queued(host: Host, *calls: str) -> str:
    """The host page's own script (allowed by its CSP nonce) calling the queue stub, then embed.js without a widget."""
    return f'<script nonce="n0nce">{"; ".join(calls)}</script><script async src="{host.server}/embed.js"></script>'


def widget_frames(page: Page, widget: str, expect: int) -> int:
    """How many frames the page has for the widget, once Playwright has caught up with (at most 5 s) ``expect``."""
    deadline = time.monotonic() + 5
    while True:
        n = sum(f.url.split("?")[0].endswith(f"/w/{widget}") for f in page.frames)
        if n == expect or time.monotonic() > deadline:
            return n
        page.wait_for_timeout(50)


def started(page: Page, n: int) -> str:
    """The id of the ``n``-th conversation.started the page heard."""
    page.wait_for_function(f"() => window.__events.filter((e) => e.event === 'conversation.started').length >= {n}")
    return str([e for e in events(page) if e["event"] == "conversation.started"][n - 1]["conversation_id"])


def warnings(page: Page) -> list[str]:
    found: list[str] = []

    def console(m: ConsoleMessage) -> None:
        if m.type in ("warning", "error") and m.text.startswith("cvi:"):
            found.append(m.text)

    page.on("console", console)
    return found


def count(page: Page, name: str, widget: str) -> int:
    return sum(e["event"] == name and e["widget"] == widget for e in events(page))


def test_destroy_removes_the_widget_and_a_later_init_works(open_page: Callable[..., Page], host: Host,
                                                           widget_server: WidgetServer) -> None:
    page = open_page(host.page("destroy", host.snippet("support")))
    logged = warnings(page)
    wait_event(page, "ready")
    frame_of(page)
    page.evaluate("cvi('destroy')")
    # Synchronously: no host element (with it the shadow root, the bubble, the panel) and no iframe.
    assert page.evaluate("document.querySelectorAll('[data-cvi-widget]').length") == 0
    assert widget_frames(page, "support", 0) == 0
    page.evaluate("cvi('open'); cvi('start'); cvi('end'); cvi('destroy')")  # no widget left: all no-ops
    page.wait_for_timeout(300)
    assert [e["event"] for e in events(page)] == ["ready"]

    page.evaluate("cvi('init', {widget: 'support'})")
    page.wait_for_function("() => window.__events.filter((e) => e.event === 'ready').length === 2")
    assert page.locator("[data-cvi-widget]").count() == 1
    assert widget_frames(page, "support", 1) == 1
    bubble(page).click()
    wait_event(page, "open")
    frame_of(page).get_by_role("button", name="Join with video").click()
    cid = wait_event(page, "conversation.started")["conversation_id"]
    page.evaluate("cvi('end')")
    wait_event(page, "conversation.ended", conversation_id=cid)
    assert widget_server.wait_ended(cid)["end_reason"] == "visitor_ended"
    # One listener per live widget: the destroyed one's is gone, so nothing is reported twice.
    names = ("open", "conversation.started", "conversation.ended")
    assert [count(page, name, "support") for name in names] == [1, 1, 1]
    assert logged == []


@on_both_setups
def test_destroy_during_a_call_ends_it_on_the_server(open_page: Callable[..., Page], host: Host,
                                                     widget_server: WidgetServer) -> None:
    page = open_page(host.page("destroy-live", host.snippet("support")))
    wait_event(page, "ready")
    cid = start_call(page)["conversation_id"]
    page.evaluate("cvi('destroy')")
    assert not bubble(page).is_visible()
    assert not page.locator("[data-cvi-widget] .panel").is_visible()
    # Ended as cvi('end') ends it: by the widget page, which says so before the loader removes it.
    ended = wait_event(page, "conversation.ended")
    assert (ended["conversation_id"], ended["reason"]) == (cid, "visitor_ended")
    page.wait_for_function(NO_WIDGETS)  # the widget page released it, its end on its way
    assert widget_frames(page, "support", 0) == 0
    record = widget_server.wait_ended(cid)
    assert (record["status"], record["end_reason"]) == ("ended", "visitor_ended")
    # The same widget again, fresh: a new conversation, reported once.
    page.evaluate("cvi('init', {widget: 'support'})")
    page.wait_for_function("() => window.__events.filter((e) => e.event === 'ready').length === 2")
    page.evaluate("cvi('start')")
    again = started(page, 2)
    assert again != cid
    page.evaluate("cvi('destroy', {widget: 'support'})")
    assert widget_server.wait_ended(again)["end_reason"] == "visitor_ended"
    page.wait_for_function(NO_WIDGETS, timeout=3000)
    assert count(page, "conversation.started", "support") == 2


def test_destroying_an_unknown_widget_does_nothing(open_page: Callable[..., Page], host: Host) -> None:
    page = open_page(host.page("destroy-unknown", host.snippet("support")))
    logged = warnings(page)
    wait_event(page, "ready")
    assert page.evaluate("cvi('destroy', {widget: 'nope'}) === undefined")
    assert page.evaluate("document.querySelectorAll('[data-cvi-widget=support]').length") == 1
    bubble(page).click()
    wait_event(page, "open")
    page.evaluate("cvi('destroy'); cvi('destroy'); cvi('destroy', {widget: 'support'})")  # the second is a no-op
    page.wait_for_function(NO_WIDGETS)
    assert logged == []

    # A page with no widget at all, the command queued before embed.js loads.
    empty = open_page(host.page("destroy-none", queued(host, "cvi('destroy')", "cvi('destroy', {widget: 'x'})")))
    logged = warnings(empty)
    empty.wait_for_function("() => window.cvi.v === 1")
    empty.evaluate("cvi('destroy'); cvi('destroy', {widget: 'support'})")
    assert empty.locator("[data-cvi-widget]").count() == 0
    assert logged == []


def test_queued_init_destroy_init_leaves_one_widget(open_page: Callable[..., Page], host: Host) -> None:
    # What React's StrictMode does before the loader has loaded: mount, unmount, mount.
    page = open_page(host.page("destroy-queued", queued(
        host, "cvi('init', {widget: 'support'})", "cvi('destroy', {widget: 'support'})",
        "cvi('init', {widget: 'support'})", "cvi('open')")))
    wait_event(page, "open")
    assert page.locator("[data-cvi-widget]").count() == 1
    assert widget_frames(page, "support", 1) == 1
    assert [e["event"] + e.get("state", "") for e in events(page)][:3] == ["ready", "open", "statelobby"]


def test_two_widgets_destroying_one_leaves_the_other(open_page: Callable[..., Page], host: Host,
                                                     widget_server: WidgetServer) -> None:
    page = open_page(host.page("destroy-two", queued(host, "cvi('init', {widget: 'sales'})",
                                                     "cvi('init', {widget: 'support'})")))
    wait_event(page, "ready", widget="sales")
    wait_event(page, "ready", widget="support")
    cid = start_call(page, "support")["conversation_id"]
    page.evaluate("cvi('destroy', {widget: 'sales'})")
    assert page.locator("[data-cvi-widget=sales]").count() == 0
    assert widget_frames(page, "sales", 0) == 0
    # The other widget's call goes on, and it is now the default widget.
    page.evaluate("cvi('send', {event_type: 'conversation.respond', properties: {text: 'Still there?'}})")
    wait_event(page, "utterance", widget="support", role="replica", text_contains="Still there?")
    assert widget_server.conversation(cid)["status"] == "active"
    page.evaluate("cvi('destroy')")
    assert widget_server.wait_ended(cid)["end_reason"] == "visitor_ended"
    page.wait_for_function(NO_WIDGETS, timeout=3000)
    assert not [e for e in events(page) if e["widget"] == "sales" and e["event"] != "ready"]


# A slow machine, as the widget page lives it: the loader's 'end' reaches the page's handler 2.5 s late, while
# the page goes on beating and posting its other events (the replica speaks meanwhile). Before the fix, the
# loader removed the page at its next message, before it had ended anything.
LATE_END = """
if (location.pathname.startsWith('/w/')) window.addEventListener('message', (e) => {
  if (!e.data || e.data.cmd !== 'end' || e.data.late) return;
  e.stopImmediatePropagation();
  const again = {data: {...e.data, late: true}, origin: e.origin, source: e.source};
  setTimeout(() => window.dispatchEvent(new MessageEvent('message', again)), 2500);
}, true);
"""


def test_destroy_ends_the_call_however_late_the_widget_page_answers(ctx: BrowserContext, open_page: Callable[..., Page],
                                                                     host: Host, widget_server: WidgetServer) -> None:
    ctx.add_init_script(LATE_END)  # before the page's own listener
    page = open_page(host.page("destroy-late", host.snippet("support")))
    wait_event(page, "ready")
    cid = start_call(page)["conversation_id"]
    wait_event(page, "speaking", role="replica", state="stopped")
    page.evaluate("cvi('destroy')")
    assert not bubble(page).is_visible()
    # The replica speaks while the page has not yet had the end: the page posts its events, and stays.
    r = httpx.post(f"{widget_server.url}/api/conversations/{cid}/interactions", timeout=5,
                   headers={"Authorization": f"Bearer {SERVER_KEY}"},
                   json={"message_type": "conversation", "event_type": "conversation.echo",
                         "properties": {"text": "One more thing."}})
    assert r.status_code == 202, r.text
    frame_of(page).locator("#captions", has_text="One more thing.").wait_for(state="attached")
    page.wait_for_timeout(300)
    assert page.locator("[data-cvi-widget]").count() == 1
    assert not [e for e in events(page) if e["event"] == "conversation.ended"]
    ended = wait_event(page, "conversation.ended", timeout=10)
    assert (ended["conversation_id"], ended["reason"]) == (cid, "visitor_ended")
    record = widget_server.wait_ended(cid)
    assert (record["status"], record["end_reason"]) == ("ended", "visitor_ended")
    page.wait_for_function(NO_WIDGETS)
    assert widget_frames(page, "support", 0) == 0
    assert cid not in widget_server.active_at_engine()
