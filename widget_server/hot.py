"""Exact dispatch for the few routes every conversation calls, ahead of Starlette's router.

    hot = HotRoutes(routes[:4], handlers={Problem: problem_handler})
    response = await hot.answer(scope, receive, send)   # None: not one of them, go on as usual
    if response is not None:
        await response(scope, receive, send)

Starlette's router tries each route's regex in turn and wraps every endpoint in two layers of
exception handling; on the session route that was a third of the server's own time per
request. This table is built from the app's own ``Route`` objects, so a hot route runs the
same endpoint function with the same methods; anything else (another method, another path,
a path parameter Starlette would not match) is left to the router, which answers as before.
Exceptions the handlers know become their answers, exactly as ``ExceptionMiddleware`` does;
any other exception propagates to ``ServerErrorMiddleware``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

Endpoint = Callable[[Request], Awaitable[Response]]
Handler = Callable[[Request, Exception], Awaitable[Response]]


class HotRoutes:
    def __init__(self, routes: Sequence[Route], handlers: Mapping[type[Exception], Handler]) -> None:
        self.handlers = dict(handlers)
        # One table per shape (the positions of the parameters in the path's segments).
        self.tables: dict[tuple[int, ...], dict[tuple[str, ...], tuple[Endpoint, tuple[str, ...]]]] = {}
        for route in routes:
            segments = route.path.split("/")
            positions = tuple(i for i, s in enumerate(segments) if s.startswith("{"))
            names = tuple(segments[i][1:-1] for i in positions)
            if any(":" in name for name in names) or route.methods is None:
                raise ValueError(f"{route.path}: hot routes take plain {{name}} parameters and fixed methods")
            for method in route.methods:
                key = (method, *("" if i in positions else s for i, s in enumerate(segments)))
                self.tables.setdefault(positions, {})[key] = (route.endpoint, names)

    def match(self, method: str, path: str) -> tuple[Endpoint, dict[str, Any]] | None:
        segments = path.split("/")
        for positions, table in self.tables.items():
            masked = list(segments)
            for i in positions:
                if i >= len(masked) or not masked[i]:
                    break
                masked[i] = ""
            else:
                found = table.get((method, *masked))
                if found is not None:
                    endpoint, names = found
                    return endpoint, {name: segments[i] for name, i in zip(names, positions, strict=True)}
        return None

    async def answer(self, scope: Scope, receive: Receive, send: Send) -> Response | None:
        """The hot route's answer, not yet sent; None when the request is not for a hot route."""
        if scope.get("root_path"):
            return None  # mounted under a prefix: the router knows how to strip it
        found = self.match(scope["method"], scope["path"])
        if found is None:
            return None
        endpoint, params = found
        scope["endpoint"] = endpoint
        scope["path_params"] = params
        request = Request(scope, receive, send)
        try:
            return await endpoint(request)
        except Exception as exc:
            handler = self._handler(exc)
            if handler is None:
                raise
            exc.__traceback__ = None
            return await handler(request, exc)

    def _handler(self, exc: Exception) -> Handler | None:
        for cls in type(exc).__mro__:
            if cls in self.handlers:
                return self.handlers[cls]
        return None
