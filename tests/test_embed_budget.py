"""The loader's size is a budget: 3 KB gzipped, built (style habit 7)."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest

from tests.conftest import AppClient

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "static" / "loader" / "embed.js"
LOADER = ROOT / "static" / "embed.js"
BUDGET_GZIP = 3 * 1024
BUILD = "`make install` (or `npm run build`)"


def built_loader() -> bytes:
    if not LOADER.is_file():
        pytest.fail(f"static/embed.js is missing: it is built from static/loader/embed.js by {BUILD}")
    if LOADER.stat().st_mtime < SOURCE.stat().st_mtime:
        pytest.fail(f"static/embed.js is older than static/loader/embed.js: rebuild it with {BUILD}")
    return LOADER.read_bytes()


def test_embed_js_stays_within_3_kb_gzipped() -> None:
    raw = built_loader()
    size = len(gzip.compress(raw, compresslevel=9, mtime=0))
    assert size <= BUDGET_GZIP, f"embed.js is {size} bytes gzipped (raw {len(raw)}), budget {BUDGET_GZIP}"


@pytest.mark.parametrize("built", [False, True], ids=["source", "built"])
def test_embed_js_needs_nothing_a_strict_csp_forbids(built: bool) -> None:
    text = built_loader().decode() if built else SOURCE.read_text()
    text = text.replace('"', "'")  # the minifier may change the quotes
    for forbidden in ("eval(", "new Function", "setAttribute('style'", ".style.cssText", "<style", "import("):
        assert forbidden not in text, forbidden


def test_built_loader_is_one_classic_script_scope() -> None:
    code = re.sub(r"^/\*.*?\*/\s*", "", built_loader().decode(), flags=re.S).rstrip()
    assert code.startswith("(function(){") and code.endswith("})();"), code[:40] + " ... " + code[-40:]


@pytest.mark.anyio
async def test_only_the_built_loader_is_served(client: AppClient) -> None:
    loader = built_loader()
    r = await client.get("/embed.js")
    assert r.status_code == 200 and r.content == loader
    assert (await client.get("/static/loader/embed.js")).status_code == 404


FRAME_BUDGET_GZIP = 30 * 1024
STATIC_IMPORT = re.compile(r"^import\s[^;]*?from\s+'cvi/([\w-]+\.js)';", re.M)


@pytest.mark.anyio
async def test_frame_page_before_the_call_library_stays_within_30_kb_gzipped(client: AppClient) -> None:
    """The page, frame.css, frame.js and every module it imports statically (the lobby's), the English
    catalog in the page, and the launcher's CSS the loader is sent: what a visitor loads before Join."""
    page = (await client.get("/w/support")).content
    names = ["frame.css", "launcher.css"]
    todo = ["frame.js"]
    while todo:
        name = todo.pop()
        names.append(name)
        source = (ROOT / "static" / name).read_text()
        todo += [f"call/{m}" for m in STATIC_IMPORT.findall(source) if f"call/{m}" not in names + todo]
    sizes = {"page": len(gzip.compress(page, 9))}
    for name in names:
        body = (await client.get(f"/static/{name}")).content
        sizes[name] = len(gzip.compress(body, 9))
    assert {"call/lobby.js", "call/i18n.js", "call/refusals.js"} <= set(sizes)
    assert "call/daily-room.js" not in sizes and "call/custom-ui.js" not in sizes  # the call's, loaded later
    total = sum(sizes.values())
    print(f"\nframe page before the call library: {total} B gzip of {FRAME_BUDGET_GZIP}")
    assert total <= FRAME_BUDGET_GZIP, f"frame page before the call library: {total} bytes gzipped {sizes}"
