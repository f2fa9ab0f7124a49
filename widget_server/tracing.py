"""Every request's id and latency, and an answer for a request cut off by a shutdown.

    app = TracingMiddleware(app, metrics=metrics, routes={endpoint: "/api/widgets/{widget}/conversations"},
                            draining=lambda: health.draining, edge=edge, errors=ErrorTable(handlers))

The outermost layer, the one the server has besides any middleware added to the app:

- the request id is the proxy's ``X-Request-Id`` when it sends a sane one, else made here; it is echoed in
  the answer's ``X-Request-Id`` and set in ``logs.REQUEST_ID``, so every line logged for the request has it;
- the latency is observed in ``widget_http_request_seconds`` under the route template (never the raw path,
  which holds conversation ids: one series per conversation would be unbounded);
- a request still running when the shutdown's grace ends is cancelled by the server: if nothing was sent
  yet, it gets a 503 problem+json instead of the server's plain-text 500.

It also applies ``edge.Edge`` (the security headers and CORS) in the same send wrapper, and the app's
exception handlers (``errors.ErrorTable``, what Starlette's two error layers did): one layer, not four,
on every request, so a 500 carries the id and the headers too. It costs a context variable, a clock read
and one latency count per request.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import time
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from widget_server.edge import Edge, request_header
from widget_server.errors import SCOPE_KEY as ERRORS_KEY
from widget_server.errors import ErrorTable, Problem
from widget_server.logs import REQUEST_ID
from widget_server.metrics import Metrics

HEADER = b"x-request-id"
SANE_ID = re.compile(rb"^[A-Za-z0-9._:/+=-]{1,128}$")
UNMATCHED = "unmatched"


def shutdown_problem() -> Problem:
    return Problem(503, "Shutting down", "this server instance is stopping; try again", kind="shutting-down",
                   retry_after=1)


class TracingMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: Metrics, routes: dict[Any, str],
                 draining: Callable[[], bool], edge: Edge, errors: ErrorTable) -> None:
        self.app = app
        self.errors = errors
        self.metrics = metrics
        self.routes = routes  # endpoint (or mounted app) -> the route's path template
        self.draining = draining
        self.edge = edge
        # Made ids: this process's random half, then a count (unique without a system call per request).
        self._prefix = os.urandom(4).hex()
        self._made = itertools.count()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            scope[ERRORS_KEY] = self.errors.table  # where the routes find the app's handlers
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        edge = self.edge
        extra, preflight = edge.extra(scope)
        given = request_header(scope, HEADER)
        # A made id: the process's 8 hex digits, then the count's low 32 bits as 8 more (hex() of the count
        # with a 33rd bit set, less "0x1": a format spec cost about 1 us a request here).
        rid = given.decode() if given is not None and SANE_ID.match(given) else (
            self._prefix + hex(next(self._made) & 0xFFFFFFFF | 0x100000000)[3:])
        token = REQUEST_ID.set(rid)
        started = time.perf_counter()
        status = 0  # nothing sent yet
        extra = [*extra, (HEADER, rid.encode())]

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":  # each answer's own dict: changed in place
                status = message["status"]
                message["headers"] = edge.add(message.get("headers") or [], extra)
            await send(message)

        try:
            if preflight is not None:  # a CORS preflight some widget allows: answered here
                await edge.preflight(preflight, send_with_id)
            else:
                await self.app(scope, receive, send_with_id)
        except asyncio.CancelledError:
            if status or not self.draining():
                raise
            response = shutdown_problem().response()
            await response(scope, receive, send_with_id)
        except Exception as exc:  # what no route answered itself: the error table's answer
            await self.errors.answer(exc, scope, receive, send_with_id, started=lambda: status != 0)
        finally:
            route = self.routes.get(scope.get("endpoint"), UNMATCHED)
            self.metrics.http(route, scope["method"], status or 500, time.perf_counter() - started)
            REQUEST_ID.reset(token)
