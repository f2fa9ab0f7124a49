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
