"""The loader's size is a budget: 3 KB gzipped (style habit 7)."""

from __future__ import annotations

import gzip
from pathlib import Path

LOADER = Path(__file__).resolve().parent.parent / "static" / "embed.js"
BUDGET_GZIP = 3 * 1024


def test_embed_js_stays_within_3_kb_gzipped() -> None:
    raw = LOADER.read_bytes()
    size = len(gzip.compress(raw, compresslevel=9, mtime=0))
    assert size <= BUDGET_GZIP, f"embed.js is {size} bytes gzipped (raw {len(raw)}), budget {BUDGET_GZIP}"


def test_embed_js_needs_nothing_a_strict_csp_forbids() -> None:
    source = LOADER.read_text()
    for forbidden in ("eval(", "new Function", "setAttribute('style'", ".style.cssText", "<style", "import("):
        assert forbidden not in source, forbidden
