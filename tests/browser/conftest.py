"""Browser fixtures: the widget server on 127.0.0.1, host pages on 127.0.0.2 (another origin), one Chromium.

    def test_x(browser_ctx, widget_server, host):
        page = browser_ctx.new_page()
        page.goto(host.page("x", host.snippet("support")))

    @on_both_setups                      # also with the tavus engine -> `widget-server sandbox` over HTTP
    def test_y(open_page, host, widget_server): ...
"""

from __future__ import annotations

import contextlib
import copy
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Error,
    Frame,
    Page,
    Playwright,
    sync_playwright,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route

from tests.conftest import SECRET_KEY, SETUPS, StandaloneSandbox, engine_for
from tests.servers import free_port, serve_app
from widget_server.app import create_app
from widget_server.settings import Settings, parse_settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "embed_examples"
SCREENSHOTS = ROOT / "docs" / "screenshots"
HOST_IP = "127.0.0.2"
SERVER_KEY = "sk_browser_0123456789abcdef"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]
GREEN_BACKGROUND = "#c03020"  # the custom UI's replacement for the replica's green: easy to find in pixels


def widget_config(host_origin: str) -> dict[str, Any]:
    common = {"allowed_origins": [host_origin], "replica_id": "r_browser", "persona_id": "p_browser"}
    return {
        "support": {
            **common,
            "ui": "custom",
            "apply_greenscreen": True,
            "background": GREEN_BACKGROUND,
            "custom_greeting": "Hello from the browser test!",
            "overrides": {"allow": ["conversational_context", "custom_greeting", "user_name", "language"]},
            "page_messages": ["conversation.respond"],
            "limits": {"max_concurrent": 20, "per_ip_per_hour": 1000},
            "theme": {"accent": "#0f766e", "launcher_label": "Ask us"},
        },
        "sales": {
            **common,
            "ui": "custom",
            "enable_recording": True,
            "max_call_duration": 62,
            "custom_greeting": "Sales here.",
            "limits": {"max_concurrent": 20, "per_ip_per_hour": 1000},
            "theme": {"accent": "#b45309", "launcher_label": "Sales", "launcher_position": "bottom-left"},
        },
        "pow": {**common, "ui": "custom", "proof_of_work": 16,
                "limits": {"max_concurrent": 20, "per_ip_per_hour": 1000}},
        "busy": {**common, "ui": "custom", "limits": {"max_concurrent": 1, "per_ip_per_hour": 1000},
                 "overrides": {"allow": ["language"]}, "queue": {"enabled": False}},
        # The waiting line (issue 15): one slot, and a line behind it.
        "line": {**common, "ui": "custom", "display_name": "Ada", "limits": {"max_concurrent": 1,
                                                                             "per_ip_per_hour": 1000},
                 "overrides": {"allow": ["language"]}},
        "audio": {**common, "ui": "custom", "audio_only": True, "custom_greeting": "Audio only here.",
                  "limits": {"max_concurrent": 20, "per_ip_per_hour": 1000}},
        # The visitor's call (issue 13): a name and picture, consent, a rating, a next step.
        "lobby": {**common, "ui": "custom", "display_name": "Ada from Support",
                  "avatar_url": "{server}/static/avatar.svg", "custom_greeting": "Hi, I am Ada. How can I help?",
                  "consent_text": "I agree that this conversation is processed to answer my questions.",
                  "consent_url": "https://www.example.com/privacy", "collect_rating": True,
                  "ended_cta": {"label": "Book a demo", "url": "https://www.example.com/demo"},
                  "limits": {"max_concurrent": 20, "per_ip_per_hour": 1000},
                  "overrides": {"allow": ["language"]},
                  "theme": {"accent": "#0f766e", "launcher_label": "Talk to Ada"}},
        # The operator's brand (issue 14): a round launcher with the replica's face, a teaser, a font and radius.
        "brand": {**common, "ui": "custom", "display_name": "Ada", "avatar_url": "{server}/static/avatar.svg",
                  "teaser": {"text": "Questions about pricing? Ask Ada, face to face.", "delay_s": 0},
                  "limits": {"max_concurrent": 20, "per_ip_per_hour": 1000},
                  "theme": {"accent": "#6d28d9", "launcher_style": "round", "launcher_icon": "avatar",
                            "radius": 24, "header_title": "Acme support"}},
        "limited": {**common, "ui": "custom", "limits": {"max_concurrent": 20, "per_ip_per_hour": 1},
                    "overrides": {"allow": ["language"]}},
        # ui left at its default ("prebuilt"): on a room that is not Daily's, the kit's own UI (issue 12).
        "plain": {**common, "custom_greeting": "Plain widget here.",
                  "limits": {"max_concurrent": 20, "per_ip_per_hour": 1000}},
        "short": {**common, "ui": "custom", "max_call_duration": 6, "custom_greeting": "Quick one.",
                  "limits": {"max_concurrent": 20, "per_ip_per_hour": 1000}},
        "returning": {**common, "ui": "custom", "skip_lobby": True, "custom_greeting": "Welcome back.",
                      "limits": {"max_concurrent": 20, "per_ip_per_hour": 1000}},
        "budget": {**common, "ui": "custom", "limits": {"max_concurrent": 20, "per_ip_per_hour": 1000,
                                                        "minutes_per_day": 1}},
    }


def browser_settings(public_url: str, host_origin: str, store: str, **engine: Any) -> Settings:
    widgets = json.loads(json.dumps(widget_config(host_origin)).replace("{server}", public_url))
    raw = {
        "server": {"public_url": public_url, "store": store, "server_keys": [SERVER_KEY],
                   "secret_key": SECRET_KEY},
        "engine": {"kind": "sandbox", **engine},
        # A short grace, so the frame's heartbeats (a third of it) are seen within a test.
        "lifecycle": {"heartbeat_grace_s": 3},
        "widgets": widgets,
    }
    return parse_settings(copy.deepcopy(raw), {})


@dataclass
class WidgetServer:
    url: str
    app: Any
    setup: str = "embedded"
    sandbox: StandaloneSandbox | None = None

    def active_at_engine(self) -> set[str]:
        """The conversations the engine holds live (and bills for), asked of the engine itself."""
        if self.sandbox is not None:
            return self.sandbox.active()
        return {c.id for c in self.app.state.ctx.engine.core.conversations.values() if c.active}

    def conversation(self, conversation_id: str) -> dict[str, Any]:
        """The server's own record (GET /api/conversations/{id} with the server key)."""
        import httpx

        r = httpx.get(f"{self.url}/api/conversations/{conversation_id}",
                      headers={"Authorization": f"Bearer {SERVER_KEY}"}, timeout=5)
        r.raise_for_status()
        result: dict[str, Any] = r.json()
        return result

    def wait_ended(self, conversation_id: str, timeout: float = 5.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            record = self.conversation(conversation_id)
            if record["status"] == "ended" or time.monotonic() > deadline:
                return record
            time.sleep(0.05)


@dataclass
class Host:
    """Pages on another origin. ``page(name, body)`` serves HTML under a strict CSP and returns its URL."""

    url: str
    server: str
    pages: dict[str, tuple[str, str]] = field(default_factory=dict)
    backend: Any = None  # an ASGI app served under /custom (the custom front end example's back end)
    headers: dict[str, dict[str, str]] = field(default_factory=dict)  # a page's own headers beside its CSP

    def snippet(self, widget: str = "support", **data: str) -> str:
        attrs = "".join(f' data-{k.replace("_", "-")}="{v}"' for k, v in data.items())
        return f'<script async src="{self.server}/embed.js" data-widget="{widget}"{attrs}></script>'

    def csp(self, nonce: str = "") -> str:
        extra = f" 'nonce-{nonce}'" if nonce else ""
        return (f"default-src 'self'; script-src 'self' {self.server}{extra}; style-src 'self'; "
                f"frame-src {self.server}; connect-src 'self'; img-src 'self' data: {self.server}")

    def page(self, name: str, body: str, *, head: str = "", nonce: str = "n0nce") -> str:
        html = (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{name}</title>"
                f"<meta name=viewport content='width=device-width, initial-scale=1'>{head}</head>"
                f"<body><h1>Host page {name}</h1>{body}</body></html>")
        self.pages[name] = (html, self.csp(nonce))
        return f"{self.url}/p/{name}"

    def example(self, path: str) -> str:
        return f"{self.url}/examples/{path}"


def _host_app(host: Host) -> Starlette:
    async def page(request: Request) -> Response:
        name = request.path_params["name"]
        html, csp = host.pages[name]
        return HTMLResponse(html, headers={"Content-Security-Policy": csp, **host.headers.get(name, {})})

    async def example(request: Request) -> Response:
        path = (EXAMPLES / request.path_params["path"]).resolve()
        if EXAMPLES not in path.parents or not path.is_file():
            return Response(status_code=404)
        # Examples are written for https://widgets.example.com; here the server is on loopback.
        body = path.read_text().replace("https://widgets.example.com", host.server)
        media = {".js": "text/javascript", ".jsx": "text/javascript", ".mjs": "text/javascript",
                 ".css": "text/css"}.get(path.suffix, "text/html")
        return Response(body, media_type=media)

    async def backend(scope: Any, receive: Any, send: Any) -> None:
        await host.backend(scope, receive, send)

    return Starlette(routes=[Route("/p/{name}", page), Route("/examples/{path:path}", example),
                             Mount("/custom", app=backend)])


@pytest.fixture(scope="package")
def _ports() -> tuple[int, int]:
    return free_port(), free_port(HOST_IP)


# The tests whose subject depends on the room (joining, the replica's greeting, captions, the chroma
# key, ending on leave, the events a page sees) run on both setups; the rest (the loader, states
# before a room exists, origins, proof of work, the examples' wiring) are the same code on either.
on_both_setups = pytest.mark.parametrize("widget_server", SETUPS, indirect=True)


@pytest.fixture(scope="package")
def widget_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                  _ports: tuple[int, int]) -> Iterator[WidgetServer]:
    setup = getattr(request, "param", "embedded")
    port, host_port = _ports
    url = f"http://127.0.0.1:{port}"
    store = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'state.db'}"
    engine = engine_for(setup, request)
    settings = browser_settings(url, f"http://{HOST_IP}:{host_port}", store, **engine)
    sandbox = request.getfixturevalue("standalone_sandbox") if setup != "embedded" else None
    app = create_app(settings)
    with serve_app(app, port=port) as served:
        yield WidgetServer(served, app, setup, sandbox)


@pytest.fixture(scope="package")
def host(widget_server: WidgetServer, _ports: tuple[int, int]) -> Iterator[Host]:
    h = Host(url="", server=widget_server.url)
    with serve_app(_host_app(h), host=HOST_IP, port=_ports[1]) as url:
        h.url = url
        yield h


@pytest.fixture(scope="package")
def _playwright() -> Iterator[Playwright]:
    # Package scope: the sync API runs its own event loop, which must be gone before async tests run.
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="package")
def browser(_playwright: Playwright) -> Iterator[Browser]:
    b = _playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
    yield b
    b.close()


@pytest.fixture(scope="package")
def refusing_browser(_playwright: Playwright) -> Iterator[Callable[..., BrowserContext]]:
    """``new_context(permissions, devices=True)``: a context of a Chromium that asks like a visitor's does.

    Without ``--use-fake-ui-for-media-stream`` nothing grants what the context was not given, so Chromium itself
    refuses it (NotAllowedError, as when the visitor answers Block, and ``permissions.query`` says "denied");
    ``devices=False`` drops the fake devices too: a machine with no camera or microphone (NotFoundError)."""
    launched: dict[bool, Browser] = {}

    def new_context(permissions: list[str], devices: bool = True, **options: Any) -> BrowserContext:
        if devices not in launched:
            args = [a for a in CHROMIUM_ARGS if a != "--use-fake-ui-for-media-stream"
                    and (devices or a != "--use-fake-device-for-media-stream")]
            launched[devices] = _playwright.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        options.setdefault("viewport", {"width": 1280, "height": 800})
        context = launched[devices].new_context(permissions=permissions, **options)
        context.set_default_timeout(10_000)
        return context

    yield new_context
    for b in launched.values():
        b.close()


@dataclass
class Errors:
    """Uncaught errors of a page and its frames, and console errors worth failing on."""

    items: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> Page:
        page.on("pageerror", lambda e: self.items.append(f"pageerror: {e}"))

        def console(m: ConsoleMessage) -> None:
            # Resource 404s (favicon) and the GPU's performance chatter are not the page's errors.
            if m.type == "error" and "Failed to load resource" not in m.text:
                self.items.append(f"console: {m.text}")

        page.on("console", console)
        return page


@pytest.fixture
def errors() -> Iterator[Errors]:
    found = Errors()
    yield found
    assert found.items == [], found.items


@pytest.fixture
def ctx(browser: Browser) -> Iterator[BrowserContext]:
    # A returning visitor: camera and microphone granted (what cvi('start') joins at once with).
    context = browser.new_context(viewport={"width": 1280, "height": 800}, permissions=["camera", "microphone"])
    context.set_default_timeout(10_000)
    yield context
    with contextlib.suppress(Error):
        context.close()


@pytest.fixture
def open_page(ctx: BrowserContext, errors: Errors) -> Callable[..., Page]:
    def open_(url: str, events: bool = True) -> Page:
        page = errors.watch(ctx.new_page())
        if events:
            page.add_init_script(RECORDER)
        page.goto(url)
        return page

    return open_


# Records every loader event, in order, as window.__events (installed before the page's own scripts).
RECORDER = """
if (window.top === window) {
window.__events = [];
window.cvi = window.cvi || function () { (cvi.q = cvi.q || []).push(arguments) };
['ready','open','close','state','conversation.created','conversation.started','conversation.ended',
 'utterance','tool_call','speaking','protocol','error'].forEach(function (name) {
  cvi('on', name, function (e) { window.__events.push(Object.assign({event: name}, e)); });
});
}
"""


def events(page: Page) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = page.evaluate("window.__events")
    return result


def _matches(event: dict[str, Any], key: str, value: Any) -> bool:
    if key.endswith("_contains"):
        return str(value) in str(event.get(key.removesuffix("_contains"), ""))
    return bool(event.get(key) == value)


def wait_event(page: Page, name: str, timeout: float = 10.0, nth: int = 1, **match: Any) -> dict[str, Any]:
    """The ``nth`` event called ``name`` whose fields match, waited for."""
    deadline = time.monotonic() + timeout
    while True:
        found = [e for e in events(page) if e["event"] == name and all(_matches(e, k, v) for k, v in match.items())]
        if len(found) >= nth:
            return found[nth - 1]
        if time.monotonic() > deadline:
            raise AssertionError(f"no {name} {match} event; got {json.dumps(events(page))[:2000]}")
        page.wait_for_timeout(50)


def frame_of(page: Page, widget: str = "support") -> Any:
    """The widget's iframe (inside the loader's closed shadow root, found through Playwright's frames)."""
    deadline = time.monotonic() + 10
    while True:
        for f in page.frames:
            if f.url.split("?")[0].endswith(f"/w/{widget}"):
                return f
        if time.monotonic() > deadline:
            raise AssertionError(f"no frame for {widget}: {[f.url for f in page.frames]}")
        page.wait_for_timeout(50)


def shot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"


def axe_violations(target: Page | Frame, include: str | None = None) -> list[dict[str, Any]]:
    """axe-core's violations in a page or frame (its file evaluated through the debugger, so no CSP change)."""
    if not target.evaluate("typeof window.axe === 'object'"):
        target.evaluate(AXE.read_text() + "\n;0")
    found: list[dict[str, Any]] = target.evaluate(
        """async (include) => {
          const result = await axe.run(include ? {include: [include]} : document,
                                       {resultTypes: ['violations']});
          return result.violations.map((v) => ({
            id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map((n) => n.target.join(' ') + ': ' + n.failureSummary)}));
        }""", include)
    return found


def assert_accessible(target: Page | Frame, include: str | None = None) -> None:
    found = axe_violations(target, include)
    assert found == [], json.dumps(found, indent=1)[:4000]
