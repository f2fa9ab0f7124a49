"""The error table the server's outermost layer applies (errors.ErrorTable), where Starlette had two layers."""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
import pytest
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send

from tests.conftest import AppClient
from widget_server.app import create_app
from widget_server.errors import Problem
from widget_server.settings import Settings

pytestmark = pytest.mark.anyio


def _raising_client(client: AppClient) -> httpx.AsyncClient:
    """The same app, with the server's view of an error raised again left out (what uvicorn would log)."""
    transport = httpx.ASGITransport(app=client.app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_an_unexpected_error_is_a_logged_500_problem_that_keeps_the_request_id(
        client: AppClient, caplog: pytest.LogCaptureFixture) -> None:
    async def boom(request: Request) -> Response:
        raise RuntimeError("a detail only the log may hold")

    client.app.router.routes.append(Route("/boom", boom, methods=["GET"]))
    with caplog.at_level(logging.ERROR, logger="widget_server"):
        async with _raising_client(client) as c:
            r = await c.get("/boom", headers={"X-Request-Id": "req-boom-1"})
    assert r.status_code == 500 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"].endswith("/internal-error") and "a detail" not in r.text
    assert r.headers["x-request-id"] == "req-boom-1" and r.headers["x-content-type-options"] == "nosniff"
    assert "unexpected error on GET /boom: RuntimeError" in caplog.text
    # Raised again after the answer, as Starlette's layer does, so that the server logs it too.
    with pytest.raises(RuntimeError, match="only the log"):
        await client.get("/boom")
    metrics = (await client.get("/metrics")).text
    # counted as 5xx (under "unmatched": the route was added after the app learned its templates)
    assert 'widget_http_request_seconds_count{method="GET",route="unmatched",status="5xx"} 2.0' in metrics


async def test_handled_errors_outside_the_routes_and_after_the_answer_began(client: AppClient) -> None:
    # mounted apps: no route answers their errors
    async def refusing_app(scope: Scope, receive: Receive, send: Send) -> None:
        raise Problem(409, "Conflict", "already there", kind="conflict")

    async def half_answer(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        raise Problem(409, "Conflict", "too late to say so")

    client.app.router.routes.extend([Mount("/refusing", app=refusing_app), Mount("/half", app=half_answer)])
    r = await client.get("/refusing/x")
    assert r.status_code == 409 and r.json()["detail"] == "already there"
    assert r.headers["content-security-policy"] == "frame-ancestors 'none'"
    with pytest.raises(RuntimeError, match="response already started"):
        await client.get("/half/x")
    r = await client.get("/no/such/page")  # the router's own 404, through the HTTPException handler
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"


async def test_handlers_by_status_code_and_a_last_resort_by_500(make_settings: Callable[..., Settings]) -> None:
    app = create_app(make_settings())

    def teapot(request: Request, exc: Exception) -> Response:  # a plain function: run in the thread pool
        return Response("short and stout", status_code=418)

    async def last(request: Request, exc: Exception) -> Response:
        return Response("the last resort", status_code=500)

    async def missing(request: Request) -> Response:
        raise HTTPException(410)

    async def broken(request: Request) -> Response:
        raise ValueError("broken")

    app.add_exception_handler(410, teapot)
    app.add_exception_handler(500, last)
    app.router.routes.extend([Route("/gone", missing), Route("/broken", broken)])
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport,
                                                                    base_url="http://testserver") as c:
        r = await c.get("/gone")
        assert r.status_code == 418 and r.text == "short and stout"
        r = await c.get("/broken")
        assert r.status_code == 500 and r.text == "the last resort"
        assert "x-request-id" in r.headers


async def test_a_handler_that_fails_gets_the_last_resort(client: AppClient,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    async def failing(request: Request, exc: Exception) -> Response:
        raise KeyError("the handler broke")

    client.app.add_exception_handler(HTTPException, failing)
    client.app.middleware_stack = None  # built again with the new handler, as before a first request
    with caplog.at_level(logging.ERROR, logger="widget_server"):
        async with _raising_client(client) as c:
            r = await c.get("/no/such/page", headers={"X-Request-Id": "req-fail-1"})
    assert r.status_code == 500 and r.json()["type"].endswith("/internal-error")
    assert r.headers["x-request-id"] == "req-fail-1" and "broke" not in r.text
    assert "unexpected error on GET /no/such/page: KeyError" in caplog.text
