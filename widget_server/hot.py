"""The router, with exact dispatch first for the few routes every conversation calls.

    app = Starlette(middleware=[...], exception_handlers={...})
    app.router = HotRouter(routes, hot=routes[:4], lifespan=lifespan)

Starlette's router tries each route's regex in turn and wraps every endpoint in two layers of
exception handling; on the session route that was a third of the server's own time per
request. ``HotRoutes`` is a table built from the app's own ``Route`` objects, so a hot route
runs the same endpoint function with the same methods; anything else (another method, another
path, a path parameter Starlette would not match) is left to the usual routing, which answers
as before. ``HotRouter`` sits in the router's slot, inside every middleware; an exception from a hot
endpoint is answered by the app's handlers right there, as Starlette's routes answer theirs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.requests import Request
from starlette.routing import PARAM_REGEX, BaseRoute, Route, Router
from starlette.types import Lifespan, Receive, Scope, Send

from widget_server.errors import handled

_Shape = tuple[tuple[tuple[int, str], ...], tuple[tuple[str, int], ...]]  # (fixed words, parameters) by position


class HotRoutes:
    def __init__(self, routes: Sequence[Route]) -> None:
        # A hot path's segments are fixed words and plain {name} parameters (one whole segment each, what
        # Starlette's [^/]+ matches): a path is split once and its candidates are those of the same method,
        # length and last word, checked word by word: 0.87 us where one regular expression with an
        # alternative per route, read back through its named groups, took 1.22.
        self.shapes: dict[tuple[str, int, str], list[tuple[Route, _Shape]]] = {}
        for route in routes:
            if route.methods is None or (route.param_convertors and any(
                    c.regex != "[^/]+" for c in route.param_convertors.values())):
                raise ValueError(f"{route.path}: hot routes take plain {{name}} parameters and fixed methods")
            parts = route.path.split("/")
            fixed: list[tuple[int, str]] = []
            params: list[tuple[str, int]] = []
            for i, part in enumerate(parts):
                param = PARAM_REGEX.fullmatch(part)
                if param is not None:
                    params.append((param.group(1), i))
                elif "{" in part or "}" in part:
                    raise ValueError(f"{route.path}: a hot route's parameter is a whole segment")
                else:
                    fixed.append((i, part))
            if params and params[-1][1] == len(parts) - 1:
                raise ValueError(f"{route.path}: a hot route's path ends in a fixed word")
            shape = (tuple(fixed), tuple(params))
            for method in route.methods:
                self.shapes.setdefault((method, len(parts), parts[-1]), []).append((route, shape))

    def match(self, method: str, path: str) -> tuple[Route, dict[str, Any]] | None:
        parts = path.split("/")
        for route, (fixed, params) in self.shapes.get((method, len(parts), parts[-1]), ()):
            for i, word in fixed:
                if parts[i] != word:
                    break
            else:
                found = {}
                for name, i in params:
                    if not parts[i]:  # an empty segment is no parameter: [^/]+ wants a character
                        break
                    found[name] = parts[i]
                else:
                    return route, found
        return None


class HotRouter(Router):
    def __init__(self, routes: Sequence[BaseRoute], *, hot: Sequence[Route],
                 lifespan: Lifespan[Any] | None = None) -> None:
        if list(routes[:len(hot)]) != list(hot):
            raise ValueError("hot routes come first in the table, so that the router would choose them too")
        super().__init__(routes, lifespan=lifespan)
        self.hot = HotRoutes(hot)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The router's entry point: it takes no router-level middleware, so nothing runs before
        # the table. Mounted under a prefix (root_path), the usual routing knows how to strip it.
        if scope["type"] == "http" and not scope.get("root_path"):
            found = self.hot.match(scope["method"], scope["path"])
            if found is not None:
                route, params = found
                scope.setdefault("router", self)
                scope["route"] = route
                scope["endpoint"] = route.endpoint
                scope["path_params"] = params
                request = Request(scope, receive, send)
                try:
                    response = await route.endpoint(request)
                except Exception as exc:  # answered here, inside any middleware, as Starlette's routes do
                    response = await handled(request, exc)
                if response is not None:
                    await response(scope, receive, send)
                return
        await self.middleware_stack(scope, receive, send)
