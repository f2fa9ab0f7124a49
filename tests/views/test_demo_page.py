"""The demo page at ``/``: served with the sandbox engine or ``server.demo = true``, else a 404 problem+json."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import ENGINE_KEY
from widget_server.settings import Settings

# A hosted-engine config whose engine is a closed loopback port: the page must not depend on the engine.
TAVUS = {"kind": "tavus", "api_key": ENGINE_KEY, "base_url": "http://127.0.0.1:9", "timeout_s": 1}


@pytest.mark.anyio
@pytest.mark.parametrize(("extra", "served"), [
    ({}, True),
    ({"server": {"demo": True}}, True),
    ({"engine": TAVUS}, False),
    ({"engine": TAVUS, "server": {"demo": True}}, True),
    ({"engine": TAVUS, "server": {"demo": False}}, False),
])
async def test_demo_page_only_where_asked(client_for: Callable[[Settings], Any],
                                          make_settings: Callable[..., Settings],
                                          extra: dict[str, Any], served: bool) -> None:
    client = await client_for(make_settings(extra))
    r = await client.get("/")
    if served:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert 'data-widget="support"' in r.text
    else:
        assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
        assert r.json()["type"].endswith("not-found")
        assert (await client.get("/embed.js")).status_code == 200


def test_demo_must_be_a_boolean(make_settings: Callable[..., Settings]) -> None:
    from widget_server.settings import ConfigError

    with pytest.raises(ConfigError, match=r'server.demo: must be true or false, got "yes"'):
        make_settings({"server": {"demo": "yes"}})
