"""The look (issue 14): clean green-screen edges, the visitor's language, the launcher's variants and teaser.

The chroma-key test reads the replica's outline from a screenshot of the sandbox replica keyed over the
widget's background: a pixel is green-tinted when its green rises above both red and blue (the background is
red, the figure skin, hair and a blue shirt: none of them is green).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable

import pytest
from playwright.sync_api import Page

from tests.browser.conftest import GREEN_BACKGROUND, Host, frame_of, shot, wait_event

pytestmark = pytest.mark.browser

TINT = 12  # green this far above max(red, blue) is the screen's light on the figure


def decode_png(data: bytes) -> tuple[int, int, list[bytearray]]:
    """Width, height and RGB(A) rows of a PNG (8-bit RGB/RGBA, no interlace: what Chromium writes)."""
    pos, chunks = 8, b""
    width = height = color = 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, _, color = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            chunks += body
        pos += 12 + length
    n = 4 if color == 6 else 3
    raw = zlib.decompress(chunks)
    stride = width * n
    rows: list[bytearray] = []
    prev = bytearray(stride)
    i = 0
    for _ in range(height):
        f, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - n] if x >= n else 0
            b, c = prev[x], (prev[x - n] if x >= n else 0)
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line if n == 3 else bytearray(v for k, v in enumerate(line) if k % 4 != 3))
        prev = line
    return width, height, rows


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
