"""The docs name real things: every test named in docs/security.md exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_security_doc_names_existing_tests() -> None:
    doc = (ROOT / "docs" / "security.md").read_text()
    current = ""
    named = 0
    for match in re.finditer(r"`(tests/[\w/]+\.py)?(::\w+)?`", doc):
        path, name = match.group(1), match.group(2)
        if path:
            current = path
            assert (ROOT / path).is_file(), path
        if name:
            assert current, name
            source = (ROOT / current).read_text()
            assert re.search(rf"def {name[2:]}\b", source), f"{current}{name}"
            named += 1
    assert named >= 20
