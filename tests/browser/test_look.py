"""The look (issue 14): clean green-screen edges, the visitor's language, the launcher's variants and teaser.

The chroma-key test reads the replica's outline from a screenshot of the sandbox replica keyed over the
widget's background: a pixel is green-tinted when its green rises above both red and blue (the background is
red, the figure skin, hair and a blue shirt: none of them is green).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.browser.conftest import (
    GREEN_BACKGROUND,
    RECORDER,
    SERVER_KEY,
    Host,
    WidgetServer,
    assert_accessible,
    frame_of,
    shot,
    wait_event,
)
from tests.browser.pixels import decode_png
from tests.browser.test_visitor import core, open_lobby, store_call

pytestmark = pytest.mark.browser

TINT = 12  # green this far above max(red, blue) is the screen's light on the figure


def outline_tint(png: bytes, background: str) -> dict[str, int]:
    """Pixels on the replica's outline (within 2 px of where the background meets the figure), and how many of
    them are green-tinted; also every green-tinted pixel of the picture."""
    width, height, rows = decode_png(png)
    bg = tuple(int(background[i:i + 2], 16) for i in (1, 3, 5))

    def px(x: int, y: int) -> tuple[int, int, int]:
        r = rows[y]
        return r[3 * x], r[3 * x + 1], r[3 * x + 2]

    def is_bg(p: tuple[int, int, int]) -> bool:
        return all(abs(a - b) <= 40 for a, b in zip(p, bg, strict=True))

    def tinted(p: tuple[int, int, int]) -> bool:
        return p[1] > max(p[0], p[2]) + TINT

    back = [[is_bg(px(x, y)) for x in range(width)] for y in range(height)]
    edge = [[False] * width for _ in range(height)]
    for y in range(1, height - 1):
        for x in range(1, width - 1):
            if back[y][x] != back[y][x + 1] or back[y][x] != back[y + 1][x]:
                for dy in range(-2, 3):
                    for dx in range(-2, 3):
                        if 0 <= y + dy < height and 0 <= x + dx < width:
                            edge[y + dy][x + dx] = True
    outline = [(x, y) for y in range(height) for x in range(width) if edge[y][x]]
    return {
        "outline": len(outline),
        "outline_tinted": sum(tinted(px(x, y)) for x, y in outline),
        "tinted": sum(tinted(px(x, y)) for y in range(height) for x in range(width)),
    }


NO_WEBGL = ("HTMLCanvasElement.prototype.getContext = ((get) => function (kind, ...rest) {"
            " return kind === 'webgl' ? null : get.call(this, kind, ...rest); })"
            "(HTMLCanvasElement.prototype.getContext);")


@pytest.mark.parametrize("kind", ["webgl", "2d"])
def test_the_chroma_key_leaves_no_green_fringe_on_the_replicas_outline(
        open_page: Callable[..., Page], host: Host, kind: str) -> None:
    page = open_page(host.page("chroma", host.snippet("support")))
    if kind == "2d":
        page.add_init_script(NO_WEBGL)
        page.reload()
    wait_event(page, "ready")
    page.locator("[data-cvi-widget=support] .bubble").click()
    frame = frame_of(page)
    # Voice only: no self view (Chromium's fake camera is green too), the replica alone on the stage.
    frame.get_by_role("button", name="Voice only").click()
    wait_event(page, "conversation.started")
    frame.locator(f"#stage[data-chroma='{kind}']").wait_for(state="attached")
    frame.locator("#cc").click()  # captions off: nothing over the figure
    page.wait_for_timeout(400)
    box = frame.locator("#stage").bounding_box()
    assert box
    shot(page, f"chroma-{kind}")
    # The figure's middle, clear of the name tag and the timer: head, neck and shoulders against the background.
    clip = {"x": box["x"], "y": box["y"] + 48, "width": box["width"], "height": box["height"] - 48}
    found = outline_tint(page.screenshot(clip=clip), GREEN_BACKGROUND)
    print(f"\nchroma key ({kind}): {found}")
    assert found["outline"] > 500, found   # the figure is there, with an outline to judge
    assert found["outline_tinted"] <= found["outline"] // 200, found   # at most 0.5 % of the outline
    assert found["tinted"] <= found["outline"] // 100, found
    page.evaluate("cvi('end')")
    wait_event(page, "conversation.ended")


# --- the gallery: every state x {desktop, phone} x {light, dark}, and in Spanish and Arabic -----------------

VIEWPORTS = {"desktop": (1280, 800), "phone": (390, 844)}
RUNS = [(v, scheme, "") for v in VIEWPORTS for scheme in ("light", "dark")] + \
       [(v, "light", lang) for lang in ("es", "ar") for v in VIEWPORTS]
LANGUAGE = {"es": "spanish", "ar": "arabic"}
# What a visitor reads first, per language: the page really is in it (not only its <html lang>).
JOIN = {"": "Join with video", "es": "Entrar con vídeo", "ar": "الانضمام بالفيديو"}


@pytest.fixture(params=RUNS, ids=[f"{v}-{lang or scheme}" for v, scheme, lang in RUNS])
def gallery_ctx(request: pytest.FixtureRequest,
                browser: Browser) -> Iterator[tuple[str, str, BrowserContext, dict[str, Any]]]:
    viewport, scheme, lang = request.param
    width, height = VIEWPORTS[viewport]
    phone = viewport == "phone"
    options: dict[str, Any] = {"viewport": {"width": width, "height": height}, "is_mobile": phone,
                               "has_touch": phone, "color_scheme": scheme,
                               "locale": {"es": "es-ES", "ar": "ar-EG"}.get(lang, "en-US")}
    ctx = browser.new_context(permissions=["camera", "microphone"], **options)
    ctx.set_default_timeout(10_000)
    yield f"{viewport}-{lang or scheme}", lang, ctx, options
    ctx.close()


def test_gallery_of_every_state(gallery_ctx: tuple[str, str, BrowserContext, dict[str, Any]], host: Host,
                                widget_server: WidgetServer, refusing_browser: Callable[..., BrowserContext]) -> None:
    name, lang, ctx, options = gallery_ctx
    engine = core(widget_server)
    data = {"language": LANGUAGE[lang]} if lang else {}

    def snap(page: Page, state: str, frame: Any = None) -> None:
        page.wait_for_timeout(250)
        shot(page, f"{state}-{name}")
        if frame is not None:
            assert_accessible(frame)
            if lang:
                assert frame.locator("html").get_attribute("lang") == lang
                assert frame.locator("html").get_attribute("dir") == ("rtl" if lang == "ar" else "ltr")
        else:
            assert_accessible(page, "[data-cvi-widget]")

    def new_page(title: str, widget: str, permissions: list[str] | None = None) -> Page:
        context = ctx
        if permissions is not None:  # Chromium itself refuses what this context was not given
            context = refusing_browser(permissions, **options)
        page = context.new_page()
        page.add_init_script(RECORDER)
        page.goto(host.page(f"{title}-{name}", "<p>Welcome to the host page.</p>" + host.snippet(widget, **data)))
        wait_event(page, "ready", widget=widget)
        return page

    # The launcher, the lobby, connecting, in call, minimized, ended with transcript and rating.
    page = new_page("gallery", "lobby")
    if lang:  # the loader's words follow the frame's language once the page's override arrived
        frame_el = page.locator("[data-cvi-widget=lobby] iframe")
        for _ in range(100):
            if frame_el.get_attribute("title") != "Video conversation":
                break
            page.wait_for_timeout(50)
        assert frame_el.get_attribute("title") == {"es": "Videoconversación", "ar": "محادثة فيديو"}[lang]
    snap(page, "launcher")
    frame = open_lobby(page, "lobby")
    frame.locator("#preview[data-media=video]").wait_for(state="attached")
    assert frame.locator("#join-video").inner_text() == JOIN[lang]
    snap(page, "lobby", frame)
    frame.locator("label[for=consent]").click()   # the label is the larger target on a phone
    engine.latency_ms = 1500
    try:
        frame.locator("#join-video").click()
        frame.locator("#app[data-state=connecting]").wait_for(state="attached")
        snap(page, "connecting", frame)
    finally:
        engine.latency_ms = 0
    wait_event(page, "utterance", role="replica")
    frame.locator("#say-text").fill("What does it cost?")
    frame.locator("#say-text").press("Enter")
    wait_event(page, "utterance", role="replica", text_contains="What does it cost?")
    snap(page, "in-call", frame)
    page.locator("[data-cvi-widget=lobby] .close").click()
    wait_event(page, "state", state="minimized")
    snap(page, "minimized", frame)
    frame.locator("#expand").click()
    frame.locator("body:not(.minimized)").wait_for(state="attached")
    frame.locator("#end").click()
    frame.locator("#app[data-state=ended]").wait_for(state="attached")
    frame.locator("#thumbs-up").click()
    snap(page, "ended", frame)
    page.close()

    # The camera refused: voice only. The microphone refused: type instead.
    page = new_page("camera-denied", "support", ["microphone"])
    frame = open_lobby(page, "support")
    frame.locator("#lobby-status").wait_for()
    snap(page, "lobby-camera-denied", frame)
    frame.locator("#join-voice").click()
    wait_event(page, "utterance", role="replica")
    snap(page, "voice-only", frame)
    frame.locator("#cam").click()   # asked now, refused again by the browser
    frame.locator("#device-note").wait_for()
    snap(page, "camera-refused-in-call", frame)
    page.evaluate("cvi('end')")
    page.context.close()
    page = new_page("mic-denied", "support", ["camera"])
    frame = open_lobby(page, "support")
    frame.locator("#lobby-status").wait_for()
    frame.locator("#join-text").click()
    wait_event(page, "utterance", role="replica")
    frame.locator("#say-text").fill("Can I just type?")
    frame.locator("#say-text").press("Enter")
    wait_event(page, "utterance", role="replica", text_contains="Can I just type?")
    snap(page, "text-only", frame)
    frame.locator("#mic").click()   # typing: the microphone asked now, refused
    frame.locator("#device-note").wait_for()
    snap(page, "microphone-refused-in-call", frame)
    page.evaluate("cvi('end')")
    page.context.close()

    # Busy, rate limited, engine error.
    held = httpx.post(f"{widget_server.url}/api/widgets/busy/conversations", json={},
                      headers={"Authorization": f"Bearer {SERVER_KEY}"}).json()["conversation_id"]
    try:
        page = new_page("busy", "busy")
        page.evaluate("cvi('start')")
        wait_event(page, "error", code="busy")
        snap(page, "busy", frame_of(page, "busy"))
        page.close()
    finally:
        httpx.post(f"{widget_server.url}/api/conversations/{held}/end",
                   headers={"Authorization": f"Bearer {SERVER_KEY}"})

    async def spend(store: Any) -> None:
        await store.hit("ip:limited:127.0.0.1", 3600, 1, time.time())
        await store.hit("ip:limited:127.0.0.1", 3600, 1, time.time())

    store_call(widget_server, spend)
    page = new_page("limited", "limited")
    page.evaluate("cvi('start')")
    wait_event(page, "error", code="rate-limited")
    snap(page, "rate-limited", frame_of(page, "limited"))
    page.close()
    engine.fail_rate = 1.0
    try:
        page = new_page("engine-error", "support")
        page.evaluate("cvi('start')")
        wait_event(page, "error", code="engine-unavailable")
        snap(page, "engine-error", frame_of(page))
        page.close()
    finally:
        engine.fail_rate = 0.0

    # The operator's brand: a round launcher with the replica's face, and the teaser beside it.
    page = new_page("brand", "brand")
    page.locator("[data-cvi-widget=brand] .teaser").wait_for()
    snap(page, "launcher-round-teaser")
    page.close()

    # Origin not allowed: the frame page itself, opened for a site that is not in allowed_origins (the server's
    # page, in the widget's language: English here, whatever the visitor's page asked).
    if lang:
        return
    page = ctx.new_page()
    page.goto(f"{widget_server.url}/w/support?origin=http://127.0.0.9")
    snap(page, "origin-not-allowed", page)
    page.close()


def test_round_launcher_teaser_and_the_launcher_that_closes(open_page: Callable[..., Page], host: Host) -> None:
    page = open_page(host.page("brand", host.snippet("brand")))
    wait_event(page, "ready", widget="brand")
    root = "[data-cvi-widget=brand]"
    bubble = page.locator(f"{root} .bubble")
    # Round, with the replica's face; its name is the catalog's label (the theme sets none).
    assert "round" in (page.locator(root).get_attribute("class") or "")
    assert bubble.locator("img").is_visible()
    box = bubble.bounding_box()
    assert box and abs(box["width"] - box["height"]) < 1
    assert page.get_by_role("button", name="Talk to us").count() == 1
    teaser = page.locator(f"{root} .teaser")
    teaser.wait_for()
    assert "Ask Ada, face to face." in teaser.inner_text()
    # The teaser opens the panel and goes; the open launcher is the panel's close button.
    teaser.locator(".tt").click()
    wait_event(page, "open", widget="brand")
    assert not teaser.is_visible()
    assert bubble.get_attribute("aria-expanded") == "true"
    assert page.get_by_role("button", name="Close").count() == 2   # the header's and the launcher's
    assert page.locator(f"{root} .header span").inner_text() == "Acme support"
    bubble.click()
    wait_event(page, "close", widget="brand")
    assert not page.locator(f"{root} .panel").is_visible() and not teaser.is_visible()


@pytest.mark.parametrize(("width", "shape"), [(900, 16 / 9), (360, 9 / 16)], ids=["wide", "narrow"])
def test_inline_widget_takes_the_replicas_shape_and_never_crops_it(
        open_page: Callable[..., Page], host: Host, width: int, shape: float) -> None:
    # A container with a width and no height (set through the CSSOM: the host page's CSP refuses inline styles).
    body = ('<div id="call"></div>'
            f"<script nonce=n0nce>document.getElementById('call').style.width = '{width}px';"
            "window.cvi = window.cvi || function () { (cvi.q = cvi.q || []).push(arguments); };"
            "cvi('init', {widget: 'support', mode: 'inline', target: '#call'});</script>"
            f'<script async src="{host.server}/embed.js"></script>')
    page = open_page(host.page(f"inline-{width}", body))
    wait_event(page, "ready")
    box = page.locator("[data-cvi-widget=support] .panel").bounding_box()
    assert box and abs(box["width"] / box["height"] - shape) < 0.02, box
    frame = frame_of(page)
    frame.locator("#join-voice").click()
    wait_event(page, "conversation.started")
    page.wait_for_timeout(300)
    shot(page, f"inline-{'wide' if width > 500 else 'narrow'}")
    fit = frame.locator("#replica-canvas").evaluate("(el) => getComputedStyle(el).objectFit")
    assert fit == "contain", fit   # letterboxed both ways: the whole picture, never the face alone
    page.evaluate("cvi('end')")
    wait_event(page, "conversation.ended")
