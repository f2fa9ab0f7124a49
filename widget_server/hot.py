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

import re
from collections.abc import Sequence
from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route, Router
from starlette.types import Lifespan, Receive, Scope, Send

from widget_server.errors import handled


class HotRoutes:
    def __init__(self, routes: Sequence[Route]) -> None:
        # Per method, one regex with an alternative per route (Starlette's own syntax: a plain
        # {name} matches [^/]+, anchored with ^ and $), and what each alternative runs.
        alternatives: dict[str, list[str]] = {}
        self.targets: dict[str, dict[str, tuple[Route, tuple[tuple[str, str], ...]]]] = {}
        for k, route in enumerate(routes):
            if route.methods is None or (route.param_convertors and any(
                    c.regex != "[^/]+" for c in route.param_convertors.values())):
                raise ValueError(f"{route.path}: hot routes take plain {{name}} parameters and fixed methods")
            names: list[tuple[str, str]] = []
            parts = []
            for piece in re.split(r"(\{[^}]+\})", route.path):
                if piece.startswith("{"):
                    group = f"r{k}_{len(names)}"
                    names.append((piece[1:-1], group))
                    parts.append(f"(?P<{group}>[^/]+)")
                else:
                    parts.append(re.escape(piece))
            for method in route.methods:
                alternatives.setdefault(method, []).append(f"(?P<r{k}>{''.join(parts)})")
                self.targets.setdefault(method, {})[f"r{k}"] = (route, tuple(names))
        self.patterns = {m: re.compile(f"^(?:{'|'.join(alts)})$") for m, alts in alternatives.items()}

    def match(self, method: str, path: str) -> tuple[Route, dict[str, Any]] | None:
        pattern = self.patterns.get(method)
        found = pattern.match(path) if pattern is not None else None
        if found is None or found.lastgroup is None:
            return None
        route, names = self.targets[method][found.lastgroup]
        return route, {name: found.group(group) for name, group in names}


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
                await response(scope, receive, send)
                return
        await self.middleware_stack(scope, receive, send)
