"""The docs name real things: every test named in docs/security.md exists; docs/config.md has every key."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from widget_server.config_registry import NO_DEFAULT, declared, default_of
from widget_server.settings import (
    AdminSettings,
    EngineSettings,
    LifecycleSettings,
    RetentionSettings,
    ServerSettings,
    WebhookSettings,
    WidgetSettings,
)

ROOT = Path(__file__).resolve().parent.parent
CONFIG_TABLES: dict[str, type] = {"server": ServerSettings, "engine": EngineSettings, "webhooks": WebhookSettings,
                                  "lifecycle": LifecycleSettings, "retention": RetentionSettings,
                                  "widgets.<id>": WidgetSettings, "admin": AdminSettings}


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


def _config_doc() -> dict[str, dict[str, str]]:
    """docs/config.md as {table: {key: row}}, from its headings and table rows."""
    tables: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in (ROOT / "docs" / "config.md").read_text().splitlines():
        heading = re.match(r"^#+ `\[([^\]]+)\]`", line)
        if heading:
            current = tables.setdefault(heading.group(1), {})
        row = re.match(r"^\| `(\w+)` \| ", line)
        if row and current is not None:
            current[row.group(1)] = line[row.end():]
    return tables


def _declared_tables() -> dict[str, type]:
    found = dict(CONFIG_TABLES)
    for path, cls in CONFIG_TABLES.items():
        for key, _, setting in declared(cls):
            if setting.table is not None:
                found[f"{path}.{key}"] = setting.table
    return found


def _shown(value: Any) -> str:
    """A default as docs/config.md writes it: TOML literals."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return "[" + ", ".join(json.dumps(v) for v in value) + "]"
    if isinstance(value, (str, int)):
        return json.dumps(value)
    return "{}"


def _bound(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def test_config_doc_documents_every_key_under_its_table_with_its_default_and_bounds() -> None:
    doc = _config_doc()
    tables = _declared_tables()
    assert set(tables) - set(doc) == set(), "tables without a section"
    assert set(doc) - set(tables) == set(), "sections that are not tables"
    for path, cls in tables.items():
        rows = doc[path]
        leaves = {key: f for key, f, setting in declared(cls) if setting.table is None}
        nested = {key for key, _, setting in declared(cls) if setting.table is not None}
        assert set(leaves) - set(rows) == set(), f"[{path}]: undocumented keys"
        assert set(rows) - set(leaves) - nested == set(), f"[{path}]: documented keys that are not its keys"
        for key, f in leaves.items():
            setting = f.metadata["setting"]
            if setting.kind in ("integer", "number"):
                bounds = f"{_bound(setting.lo)}..{_bound(setting.hi)}"
                assert bounds in rows[key], f"[{path}] {key}: bounds {bounds}"
            default = default_of(f)
            if default is NO_DEFAULT:
                continue  # required, or computed at start-up: the cell says which
            shown = "{}" if setting.kind == "texts" else _shown(default)
            written = re.match(r"`([^`]*)`", rows[key])
            assert written and written.group(1) == shown, f"[{path}] {key}: default {shown}"


def test_every_setting_has_one_line_of_help() -> None:
    for path, cls in _declared_tables().items():
        for key, _, setting in declared(cls):
            assert setting.help and "\n" not in setting.help and len(setting.help) <= 80, f"[{path}] {key}"
