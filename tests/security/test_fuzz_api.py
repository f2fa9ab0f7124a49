"""Schemathesis over the server's own /openapi.json: no 5xx but the documented engine errors.

Bounded examples per operation, so the run stays short. Half the calls carry a
server key, so the fuzzer gets past authentication and into the bodies.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from starlette.applications import Starlette

from tests.conftest import SERVER_KEY, base_config
from widget_server.app import create_app
from widget_server.settings import parse_settings

pytestmark = pytest.mark.slow
TRIED: list[int] = []


def _app(tmp: Path) -> Starlette:
    app = create_app(parse_settings(base_config(tmp), {}))
    anyio.run(app.state.ctx.store.open)
    return app


_TMP = Path(__import__("tempfile").mkdtemp(prefix="fuzz-"))
APP = _app(_TMP)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def _close() -> Iterator[None]:
    yield
    anyio.run(APP.state.ctx.engine.aclose)
    anyio.run(APP.state.ctx.store.close)


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_undocumented_server_errors(case: schemathesis.Case) -> None:
    headers = {"Authorization": f"Bearer {SERVER_KEY}"} if len(TRIED) % 2 else {}
    response = case.call(headers=headers)
    TRIED.append(response.status_code)
    assert response.status_code < 500 or response.status_code in (502, 503, 504), response.text
    if response.status_code >= 400 and case.path not in ("/w/{widget}", "/readyz"):
        assert response.headers["content-type"][0].startswith("application/problem+json"), case.path
