"""check-config warns on weak secrets and plain-HTTP public URLs, without failing the config."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import base_config, deep_merge
from widget_server.audit import audit
from widget_server.settings import parse_settings

STRONG = "Zq3v9Lk2Xw8Rt5Yp1Nm7Bc4Hd6Fg0Js2Qa"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"server": {"secret_key": "changeme-changeme-changeme"}}, "server.secret_key: looks like a placeholder"),
        ({"server": {"secret_key": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}}, "server.secret_key: has fewer than 8"),
        ({"server": {"server_keys": ["k9P2m4Q7r1T3v5X8"]}}, "server.server_keys[0]: is 16 characters"),
        ({"server": {"public_url": "http://widgets.example.com"}}, "server.public_url: plain http"),
        ({"webhooks": {"url": "https://ops.example.com/h", "secret": "secret-secret-secret"}}, "webhooks.secret"),
    ],
)
def test_weak_settings_warn(tmp_path: Path, extra: dict[str, object], expected: str) -> None:
    raw = deep_merge(base_config(tmp_path), {"server": {"secret_key": STRONG, "server_keys": [STRONG + "x"],
                                                        "public_url": "https://w.example.com"}})
    found = audit(parse_settings(deep_merge(raw, extra), {}))
    assert any(w.startswith(expected) for w in found), found


def test_strong_config_has_no_warnings(tmp_path: Path) -> None:
    raw = deep_merge(base_config(tmp_path), {"server": {"secret_key": STRONG, "server_keys": [STRONG + "x"],
                                                        "public_url": "https://w.example.com"}})
    assert audit(parse_settings(raw, {})) == []


@pytest.mark.parametrize(
    ("theme", "expected"),
    [
        ({"base_text": "#777777", "background": "#888888"},
         "widgets.support.theme: base_text #777777 on background #888888 has a contrast of 1.26:1"),
        ({"accent": "#fde047"},
         "widgets.support.theme: accent_text #ffffff on accent #fde047 has a contrast of 1.32:1"),
        # An empty text colour is each scheme's: a pale background fails under the dark scheme's pale text.
        ({"background": "#f3f4f6", "scheme": "auto"}, "base_text #f9fafb on background #f3f4f6"),
    ],
)
def test_low_contrast_theme_colours_warn_naming_the_pair(tmp_path: Path, theme: dict[str, str],
                                                         expected: str) -> None:
    raw = deep_merge(base_config(tmp_path), {"server": {"secret_key": STRONG, "server_keys": [STRONG + "x"],
                                                        "public_url": "https://w.example.com"},
                                             "widgets": {"support": {"theme": theme}}})
    found = audit(parse_settings(raw, {}))
    assert any(expected in w and "below WCAG AA 4.5:1" in w for w in found), found


@pytest.mark.parametrize("theme", [{}, {"scheme": "light"}, {"scheme": "dark", "accent": "#0f766e"},
                                   {"background": "#0b1020", "base_text": "#e5e7eb"}])
def test_readable_themes_do_not_warn(tmp_path: Path, theme: dict[str, str]) -> None:
    raw = deep_merge(base_config(tmp_path), {"server": {"secret_key": STRONG, "server_keys": [STRONG + "x"],
                                                        "public_url": "https://w.example.com"},
                                             "widgets": {"support": {"theme": theme}}})
    assert [w for w in audit(parse_settings(raw, {})) if "contrast" in w] == []
