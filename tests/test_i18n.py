"""The visitor's language: every catalog has exactly the English keys and placeholders; `[widgets.X.texts]` and
`ui_language` are checked at start-up; the frame page starts in English with the widget's own texts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import AppClient, base_config, deep_merge
from widget_server import i18n
from widget_server.settings import ConfigError, parse_settings

ROOT = Path(__file__).resolve().parent.parent
CATALOGS = sorted((ROOT / "static" / "i18n").glob("*.json"))
REQUIRED = {"en", "es", "fr", "de", "pt", "it", "ja", "ar"}


def test_the_required_languages_are_shipped() -> None:
    assert {p.stem for p in CATALOGS} >= REQUIRED
    assert i18n.languages()[0] == "en" and set(i18n.languages()) == {p.stem for p in CATALOGS}


@pytest.mark.parametrize("path", CATALOGS, ids=[p.stem for p in CATALOGS])
def test_a_catalog_has_every_key_no_extra_one_and_the_same_placeholders(path: Path) -> None:
    english = json.loads((ROOT / "static" / "i18n" / "en.json").read_text())
    catalog = json.loads(path.read_text())
    assert set(english) - set(catalog) == set(), f"{path.name} misses keys"
    assert set(catalog) - set(english) == set(), f"{path.name} has keys English does not"
    for key, text in catalog.items():
        assert isinstance(text, str) and text.strip(), f"{path.name}: {key} is empty"
        assert i18n.placeholders(text) == i18n.placeholders(english[key]), f"{path.name}: {key} placeholders"


def test_every_string_the_page_and_scripts_name_is_in_the_catalog() -> None:
    keys = set(i18n.keys())
    template = (ROOT / "templates" / "frame.html").read_text()
    named = set(re.findall(r"""\bt\(["'](\w+)["']""", template)) | set(re.findall(r'data-t(?:-\w+)?="(\w+)"', template))
    for script in [ROOT / "static" / "frame.js", *(ROOT / "static" / "call").glob("*.js")]:
        named |= set(re.findall(r"""\bt\(['"](\w+)['"]""", script.read_text()))
    named -= {"sub", "jv"}  # template variables holding a key
    assert named and named - keys == set()


def _settings(tmp_path: Path, widget: dict[str, object]) -> object:
    return parse_settings(deep_merge(base_config(tmp_path), {"widgets": {"support": widget}}), {})


def test_texts_override_known_keys_and_refuse_unknown_ones(tmp_path: Path) -> None:
    s = _settings(tmp_path, {"texts": {"join_video": "Start the demo", "waiting": "One moment, {name}…"}})
    assert dict(s.widgets["support"].texts) == {"join_video": "Start the demo", "waiting": "One moment, {name}…"}
    with pytest.raises(ConfigError) as bad:
        _settings(tmp_path, {"texts": {"join_vidoe": "x", "waiting": "Wait for {who}", "cancel": 3}})
    problems = "\n".join(bad.value.problems)
    assert 'widgets.support.texts.join_vidoe: unknown key (did you mean "join_video"?)' in problems
    assert "widgets.support.texts.waiting: unknown placeholder {who}" in problems
    assert "widgets.support.texts.cancel: must be a string of 1..2000 characters, got 3" in problems


def test_the_waiting_lines_words_may_be_reworded_with_their_own_placeholders(tmp_path: Path) -> None:
    turn = "Ada can see you now: join within {n} s, {name}."
    s = _settings(tmp_path, {"texts": {"line_turn": turn, "line_stay": "Keep my place"}})
    assert dict(s.widgets["support"].texts) == {"line_turn": turn, "line_stay": "Keep my place"}
    with pytest.raises(ConfigError) as bad:
        _settings(tmp_path, {"texts": {"line_wait": "About {seconds} seconds", "line_next": "First: {n}"}})
    problems = "\n".join(bad.value.problems)
    assert "widgets.support.texts.line_wait: unknown placeholder {seconds}" in problems
    assert "widgets.support.texts.line_next: unknown placeholder {n}" in problems


def test_ui_language_is_a_shipped_catalog_or_auto(tmp_path: Path) -> None:
    assert _settings(tmp_path, {}).widgets["support"].ui_language == "auto"
    assert _settings(tmp_path, {"ui_language": "ar"}).widgets["support"].ui_language == "ar"
    with pytest.raises(ConfigError, match=r"widgets.support.ui_language: must be one of .*got \"klingon\""):
        _settings(tmp_path, {"ui_language": "klingon"})


@pytest.mark.anyio
async def test_frame_page_renders_english_with_the_widgets_texts_and_links_the_catalogs(client: AppClient) -> None:
    page = (await client.get("/w/support")).text
    boot = json.loads(re.search(r'<script type="application/json" id="cvi-boot">(.*?)</script>', page, re.S)[1])
    assert set(boot["catalogs"]) == {p.stem for p in CATALOGS}
    assert all(url.startswith("/static/i18n/") and "?v=" in url for url in boot["catalogs"].values())
    assert boot["strings"]["join_video"] in page and boot["config"]["ui_language"] == "auto"
    assert (await client.get(boot["catalogs"]["ar"])).json()["join_video"] == "الانضمام بالفيديو"
