"""Schemathesis over the admin API as /openapi.json describes it, with a console session (and its CSRF token):
no 5xx but the documented engine and history errors, every refusal problem+json, every 2xx as described."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import ignored_auth
from starlette.applications import Starlette

from tests.admin.conftest import admin_config
from tests.conftest import base_config, deep_merge
from widget_server.admin.auth import COOKIE
from widget_server.app import create_app
from widget_server.settings import parse_settings

pytestmark = pytest.mark.slow
_TMP = Path(tempfile.mkdtemp(prefix="fuzz-admin-"))


def _app() -> Starlette:
    app = create_app(parse_settings(deep_merge(base_config(_TMP), admin_config()), {}))

    async def open_parts() -> None:
        await app.state.ctx.store.open()
        await app.state.ctx.history.open()

    anyio.run(open_parts)
    return app


APP = _app()
_SETTINGS = APP.state.ctx.settings
_TOKEN = APP.state.ctx.admin_auth.issue(_SETTINGS, "ada")
_OPERATOR = APP.state.ctx.admin_auth.read(_SETTINGS, _TOKEN)
assert _OPERATOR is not None
SESSION = {"Cookie": f"{COOKIE}={_TOKEN}", "X-CSRF-Token": APP.state.ctx.admin_auth.csrf(_SETTINGS, _OPERATOR.sid)}
schema = schemathesis.openapi.from_asgi("/openapi.json", APP).include(path_regex="^/api/admin/")


@pytest.fixture(scope="module", autouse=True)
def _close() -> Iterator[None]:
    yield

    async def close_parts() -> None:
        await APP.state.ctx.engine.aclose()
        await APP.state.ctx.history.close()
        await APP.state.ctx.store.close()

    anyio.run(close_parts)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_admin_api_with_a_session(case: schemathesis.Case) -> None:
    response = case.call(headers=SESSION)
    assert response.status_code < 500 or response.status_code in (502, 503, 504), response.text
    assert response.status_code != 401, (case.path, "the session was refused")
    if response.status_code >= 400:
        assert response.headers["content-type"][0].startswith("application/problem+json"), case.path
    if response.status_code < 300 and case.path != "/api/admin/ledger.csv":
        # the session cookie authenticates whatever Authorization the fuzzer makes up: either credential is
        # enough by design (the unauthenticated answers are tests/admin/test_access.py's)
        case.validate_response(response, excluded_checks=[ignored_auth])
