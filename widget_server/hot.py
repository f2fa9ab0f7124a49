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

import re
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
        # Per method, one regex with an alternative per route (Starlette's own syntax: a plain
        # {name} matches [^/]+, anchored with ^ and $), and what each alternative runs.
        alternatives: dict[str, list[str]] = {}
        self.targets: dict[str, dict[str, tuple[Endpoint, tuple[tuple[str, str], ...]]]] = {}
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
                self.targets.setdefault(method, {})[f"r{k}"] = (route.endpoint, tuple(names))
        self.patterns = {m: re.compile(f"^(?:{'|'.join(alts)})$") for m, alts in alternatives.items()}

    def match(self, method: str, path: str) -> tuple[Endpoint, dict[str, Any]] | None:
        pattern = self.patterns.get(method)
        found = pattern.match(path) if pattern is not None else None
        if found is None or found.lastgroup is None:
            return None
        endpoint, names = self.targets[method][found.lastgroup]
        return endpoint, {name: found.group(group) for name, group in names}

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
