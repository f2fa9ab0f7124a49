"""The hot routes' own dispatch: the same choice as Starlette's router, inside the same middleware."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tests.conftest import HOST_ORIGIN, SERVER_KEY, AppClient
from widget_server.app import HOT_ROUTES, create_app
from widget_server.edge import EdgeMiddleware
from widget_server.errors import Problem, problem_handler
from widget_server.hot import HotRouter, HotRoutes
from widget_server.settings import Settings

SEGMENTS = ["", "api", "widgets", "conversations", "support", "sessions", "heartbeat", "end", "events",
            "interactions", "challenge", "c_123", "x y", "é", "w", "static", "embed.js", "sandbox", "v2"]
METHODS = ["GET", "POST", "HEAD", "OPTIONS", "PUT", "DELETE"]


def _router_choice(app: Starlette, method: str, path: str) -> tuple[Any, dict[str, Any]] | None:
    """What Starlette's router runs for this request: the first route that matches fully."""
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}
    for route in app.router.routes:
        match, child = route.matches(scope)
        if match == Match.FULL:
            return child.get("endpoint"), child.get("path_params", {})
    return None


def test_hot_routes_choose_what_the_router_would(make_settings: Callable[..., Settings]) -> None:
    app = create_app(make_settings())  # the whole routes table, sandbox mount included
    assert isinstance(app.router, HotRouter)
    hot = app.router.hot
    hot_endpoints = {r.endpoint for r in HOT_ROUTES}
    # Every route's template, the hot ones thrice, so that many cases land near them.
    templates = [getattr(r, "path", "/") for r in app.router.routes] + [r.path for r in HOT_ROUTES] * 2
    param = st.sampled_from(["support", "c_123", "", "a/b", "x y", "sessions", "é"])
    from_template = st.builds(
        lambda t, values, tail: "/".join(values.pop() if seg.startswith("{") else seg for seg in t.split("/"))
        + tail,
        st.sampled_from(templates), st.lists(param, min_size=4, max_size=4), st.sampled_from(["", "", "", "/", "/x"]))
    from_parts = st.lists(st.sampled_from(SEGMENTS), max_size=6).map(lambda parts: "/" + "/".join(parts))
    hits = []

    @settings(max_examples=600, deadline=None, derandomize=True)
    @given(method=st.sampled_from(["POST", "POST", *METHODS]), path=st.one_of(from_template, from_parts))
    def check(method: str, path: str) -> None:
        ours = hot.match(method, path)
        theirs = _router_choice(app, method, path)
        if theirs is not None and theirs[0] in hot_endpoints:
            assert ours is not None and (ours[0].endpoint, ours[1]) == theirs
            hits.append(path)
        else:
            assert ours is None

    check()
    assert len(set(hits)) >= 5  # the generator did reach the hot routes, with several parameters


def test_every_hot_path_is_recognised() -> None:
    hot = HotRoutes(HOT_ROUTES)
    for route in HOT_ROUTES:
        path = route.path.replace("{widget}", "support").replace("{conversation_id}", "c_1")
        found = hot.match("POST", path)
        assert found is not None and found[0] is route
        assert hot.match("GET", path) is None  # other methods: the router answers (405)
        assert hot.match("POST", path + "/") is None


def _once(r: httpx.Response, name: str) -> str:
    values = r.headers.get_list(name)
    assert len(values) == 1, f"{name}: {values}"
    return values[0]


pytestmark = pytest.mark.anyio


async def test_hot_answers_carry_the_edge_headers(client: AppClient) -> None:
    auth = {"Authorization": f"Bearer {SERVER_KEY}"}
    r = await client.post("/api/widgets/support/sessions", json={"origin": HOST_ORIGIN}, headers=auth)
    assert r.status_code == 201
    assert _once(r, "cache-control") == "no-store"
    assert _once(r, "x-content-type-options") == "nosniff"
    assert "referrer-policy" not in r.headers  # a page's header: no browser reads it on JSON
    assert _once(r, "content-security-policy") == "frame-ancestors 'none'"
    assert "access-control-allow-origin" not in r.headers  # no Origin sent

    # From a site a widget allows: CORS headers too, on the answer and on problems.
    r = await client.post("/api/widgets/support/sessions", headers={**auth, "Origin": HOST_ORIGIN})
    assert _once(r, "access-control-allow-origin") == HOST_ORIGIN
    r = await client.post("/api/widgets/support/sessions", headers={"Origin": HOST_ORIGIN})
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"].endswith("/unauthorized") and _once(r, "www-authenticate") == "Bearer"
    assert _once(r, "cache-control") == "no-store" and _once(r, "access-control-allow-origin") == HOST_ORIGIN
    assert _once(r, "content-security-policy") == "frame-ancestors 'none'"


async def test_other_methods_and_shapes_go_to_the_router(client: AppClient) -> None:
    r = await client.get("/api/widgets/support/sessions")
    assert r.status_code == 405 and r.headers["content-type"] == "application/problem+json"
    assert _once(r, "x-content-type-options") == "nosniff"
    r = await client.post("/api/widgets/support/sessions/")
    assert r.status_code in (307, 404)
    r = await client.post("/api/widgets//sessions", headers={"Authorization": f"Bearer {SERVER_KEY}"})
    assert r.status_code == 404


async def test_an_unexpected_error_in_a_hot_route_is_a_500_problem() -> None:
    async def boom(request: Request) -> Response:
        raise RuntimeError("the endpoint broke")

    async def refused(request: Request) -> Response:
        raise Problem(409, "Conflict", "already there", kind="conflict")

    async def unexpected(request: Request, exc: Exception) -> Response:
        return Problem(500, "Internal error", "the server failed", kind="internal-error").response()

    routes = [Route("/boom/{x}/now", boom, methods=["POST"]), Route("/refused/{x}/now", refused, methods=["POST"])]
    app = Starlette(exception_handlers={Problem: problem_handler, Exception: unexpected},
                    middleware=[Middleware(EdgeMiddleware, hsts=False, cors_allowed=lambda o, p: False)])
    app.router = HotRouter(routes, hot=routes)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        r = await client.post("/boom/1/now")
        assert r.status_code == 500 and r.json()["type"].endswith("/internal-error")
        assert "broke" not in r.text
        r = await client.post("/refused/1/now")
        assert r.status_code == 409 and r.json()["detail"] == "already there"
        assert _once(r, "content-security-policy") == "frame-ancestors 'none'"


class Stamp:
    """A middleware a later change might add: it marks every answer it sees."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"x-stamp", b"seen")]}
            await send(message)

        await self.app(scope, receive, stamped)


async def test_middleware_and_handlers_added_to_the_app_wrap_the_hot_routes(client: AppClient) -> None:
    async def teapot(request: Request, exc: Exception) -> Response:
        return Response("refused here", status_code=418)

    # Innermost of the app's own middleware, next to the router; and a handler registered late.
    client.app.user_middleware.append(Middleware(Stamp))
    client.app.add_exception_handler(Problem, teapot)
    auth = {"Authorization": f"Bearer {SERVER_KEY}"}
    r = await client.post("/api/widgets/support/sessions", json={"origin": HOST_ORIGIN}, headers=auth)
    assert r.status_code == 201 and _once(r, "x-stamp") == "seen"
    assert _once(r, "x-content-type-options") == "nosniff"
    r = await client.post("/api/widgets/support/sessions")  # no key: a Problem, now the late handler's
    assert r.status_code == 418 and r.text == "refused here" and _once(r, "x-stamp") == "seen"
    r = await client.get("/healthz")  # and the usual routing, as before
    assert r.status_code == 200 and _once(r, "x-stamp") == "seen"
    # The router's own refusals are answers by the time they pass the middleware, as in Starlette.
    r = await client.get("/no/such/page")
    assert r.status_code == 404 and _once(r, "x-stamp") == "seen"
    r = await client.delete("/healthz")
    assert r.status_code == 405 and _once(r, "x-stamp") == "seen"


async def test_mounted_under_a_prefix_the_usual_routing_answers(client: AppClient) -> None:
    outer = Starlette(routes=[Mount("/prefix", app=client.app)])
    auth = {"Authorization": f"Bearer {SERVER_KEY}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=outer), base_url="http://testserver") as c:
        r = await c.post("/prefix/api/widgets/support/sessions", json={"origin": HOST_ORIGIN}, headers=auth)
        assert r.status_code == 201 and "session" in r.json()
        r = await c.post("/prefix/api/widgets/support/sessions")
        assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
    assert client.app.url_path_for("mint_session", widget="support") == "/api/widgets/support/sessions"


def test_hot_routes_come_first_in_the_table_and_end_in_a_word() -> None:
    with pytest.raises(ValueError, match="first"):
        HotRouter([*HOT_ROUTES[1:], HOT_ROUTES[0]], hot=HOT_ROUTES)
    for path in ("/api/{x}", "/api/x{y}/end", "/api/{x:path}/end", "/api/{a}{b}/end", "/api/{1a}/end"):
        with pytest.raises(ValueError):
            HotRoutes([Route(path, HOT_ROUTES[0].endpoint, methods=["POST"])])
