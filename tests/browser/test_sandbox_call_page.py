"""``conversation_url`` opened by a browser, as Tavus's docs embed it: the sandbox's own call page in an iframe.

No widget server here: a host page on another origin frames the URL the engine answered, the way an
integration written against the public docs does, and `widget-server sandbox` (a process of its own)
serves the page, its scripts and the room.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Frame, Page, expect
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from tests.browser.conftest import HOST_IP, Errors, assert_accessible, shot
from tests.conftest import SANDBOX_KEY, StandaloneSandbox
from tests.servers import serve_app

pytestmark = pytest.mark.browser
H = {"x-api-key": SANDBOX_KEY}
GREETING = "Hello! I am the sandbox's replica in its own call page."


@pytest.fixture(scope="module")
def tavus_host(standalone_sandbox: StandaloneSandbox) -> Iterator[str]:
    """A site on another origin that embeds ``/p?src=<conversation_url>`` in a plain iframe, as the docs show."""

    async def page(request: Request) -> Response:
        src = request.query_params["src"]
        html = ("<!doctype html><html lang=en><head><meta charset=utf-8><title>Our site</title>"
                "<meta name=viewport content='width=device-width, initial-scale=1'></head>"
                "<body style='margin:0;font-family:sans-serif'><h1 style='margin:8px 12px;font-size:20px'>Our site"
                "</h1><iframe title='Video call' allow='camera; microphone; fullscreen; display-capture' "
                f"src='{src}' style='border:0;width:100%;height:calc(100vh - 48px)'></iframe></body></html>")
        csp = f"default-src 'none'; style-src 'unsafe-inline'; frame-src {standalone_sandbox.url}"
        return HTMLResponse(html, headers={"Content-Security-Policy": csp})

    with serve_app(Starlette(routes=[Route("/p", page)]), host=HOST_IP) as url:
        yield url


@pytest.fixture(params=[("desktop", 1280, 800), ("phone", 390, 844)], ids=["desktop", "phone"])
def viewport(request: pytest.FixtureRequest, browser: Browser) -> Iterator[tuple[str, BrowserContext]]:
    name, width, height = request.param
    phone = name == "phone"
    context = browser.new_context(viewport={"width": width, "height": height}, is_mobile=phone, has_touch=phone,
                                  permissions=["camera", "microphone"])
    context.set_default_timeout(10_000)
    yield name, context
    context.close()


def _create(sb: StandaloneSandbox, **fields: Any) -> dict[str, Any]:
    body = {"replica_id": "r_call_page", "custom_greeting": GREETING, "require_auth": True,
            "properties": {"enable_closed_captions": True, "participant_left_timeout": 0}, **fields}
    r = httpx.post(f"{sb.url}/v2/conversations", json=body, headers=H, timeout=5)
    r.raise_for_status()
    doc: dict[str, Any] = r.json()
    return doc


def _frame(page: Page, conversation_url: str) -> Frame:
    deadline = time.monotonic() + 10
    while True:
        for f in page.frames:
            if f.url.split("?")[0] == conversation_url:
                return f
        if time.monotonic() > deadline:
            raise AssertionError(f"no frame for {conversation_url}: {[f.url for f in page.frames]}")
        page.wait_for_timeout(50)


def _at_engine(sb: StandaloneSandbox, cid: str) -> dict[str, Any]:
    r = httpx.get(f"{sb.url}/v2/conversations/{cid}", headers=H, params={"verbose": "true"}, timeout=5)
    r.raise_for_status()
    doc: dict[str, Any] = r.json()
    return doc


def test_conversation_url_in_an_iframe_greets_captions_and_ends_on_leave(
        viewport: tuple[str, BrowserContext], tavus_host: str, standalone_sandbox: StandaloneSandbox,
        errors: Errors) -> None:
    name, context = viewport
    sb = standalone_sandbox
    before = sb.active()
    doc = _create(sb)
    cid = doc["conversation_id"]
    page = errors.watch(context.new_page())
    page.goto(f"{tavus_host}/p?src={doc['conversation_url']}?t={doc['meeting_token']}")
    frame = _frame(page, doc["conversation_url"])

    # The replica joins, greets; captions show what it says; its video plays beside the self view.
    expect(frame.locator("#captions")).to_contain_text(GREETING, timeout=15_000)
    frame.wait_for_function("document.getElementById('replica').videoWidth > 0")
    frame.wait_for_function("document.getElementById('self').videoWidth > 0")
    assert sb.active() - before == {cid}   # the page joined the one conversation; it creates none
    frame.get_by_label("Type to the replica").fill("What does it cost?")
    frame.get_by_role("button", name="Send").click()
    expect(frame.locator("#captions")).to_contain_text('You said: "What does it cost?"')
    page.wait_for_timeout(300)
    shot(page, f"sandbox-call-page-{name}")
    assert_accessible(frame)

    # Leave: the visitor was the last one, participant_left_timeout is 0, so the sandbox ends it at once.
    frame.get_by_role("button", name="Leave").click()
    expect(frame.get_by_role("heading", name="You left the call")).to_be_visible()
    deadline = time.monotonic() + 5
    while (engine := _at_engine(sb, cid))["status"] != "ended" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert engine["status"] == "ended"
    assert engine["shutdown_reason"] == "participant_left_timeout reached"
    assert cid not in sb.active()
    shot(page, f"sandbox-call-page-left-{name}")
    assert_accessible(frame)
    page.close()


def test_a_private_room_without_its_token_says_so_and_json_clients_get_the_descriptor(
        ctx: BrowserContext, tavus_host: str, standalone_sandbox: StandaloneSandbox, errors: Errors) -> None:
    sb = standalone_sandbox
    doc = _create(sb)
    cid = doc["conversation_id"]
    try:
        page = errors.watch(ctx.new_page())
        page.goto(f"{tavus_host}/p?src={doc['conversation_url']}")
        frame = _frame(page, doc["conversation_url"])
        expect(frame.get_by_role("heading", name="This room is private")).to_be_visible()
        assert_accessible(frame)
        described = httpx.get(doc["conversation_url"], headers={"accept": "application/json"}, timeout=5).json()
        assert (described["client"], described["status"]) == ("sandbox", "active")
        assert _at_engine(sb, cid)["status"] == "active"   # a refused join costs nothing more: it still waits
    finally:
        httpx.post(f"{sb.url}/v2/conversations/{cid}/end", headers=H, timeout=5)
    assert cid not in sb.active()
