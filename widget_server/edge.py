"""The headers every answer carries, and CORS for the routes custom front ends call.

``Edge`` prepares the header bytes once; the server applies it in its one outermost layer
(``tracing.TracingMiddleware``, beside the request id: one send wrapper for both, since every
layer costs on every request); ``EdgeMiddleware`` is the same as a middleware of its own.

- Security headers on every answer: ``X-Content-Type-Options``, HSTS when the public URL is https,
  and ``Content-Security-Policy: frame-ancestors 'none'`` unless the route set its own CSP (the
  frame page does: it may be framed by the widget's sites); ``Referrer-Policy`` on every answer
  but the JSON API's (``/api/``), where no browser reads it: the set OWASP's REST guidance gives
  for API answers, with ``Cache-Control: no-store`` from the routes that hand out tokens.
- CORS on ``/api/`` answers, only for an origin some widget allows (``allowed(origin, path)``);
  preflights for such origins are answered here.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

ALLOW_HEADERS = b"authorization, content-type, x-widget-session"
ALLOW_METHODS = b"GET, POST, OPTIONS"
CSP = b"content-security-policy"
FRAME_NONE = (CSP, b"frame-ancestors 'none'")
NOSNIFF = (b"x-content-type-options", b"nosniff")
REFERRER = (b"referrer-policy", b"strict-origin-when-cross-origin")
HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")


def request_header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of a request header (``name`` in lower case, as ASGI servers give them)."""
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


class Edge:
    """What every answer gets: ``extra(scope)`` once per request, ``add(headers, extra)`` on its start."""

    def __init__(self, *, hsts: bool, cors_allowed: Callable[[str, str], bool]) -> None:
        self.allowed = cors_allowed  # (origin, path) -> bool
        self.api_headers = [NOSNIFF, *([HSTS] if hsts else [])]
        self.headers = [*self.api_headers, REFERRER]
        self.names = frozenset(name for name, _ in self.headers) | {CSP}

    def extra(self, scope: Scope) -> tuple[list[tuple[bytes, bytes]], bytes | None]:
        """The headers to add to this request's answer, and the origin of a CORS preflight to answer here."""
        if not scope["path"].startswith("/api/"):
            return self.headers, None
        origin = request_header(scope, b"origin")
        if not origin or not self.allowed(origin.decode("latin-1"), scope["path"]):
            return self.api_headers, None
        if scope["method"] == "OPTIONS":
            return self.api_headers, origin
        return [*self.api_headers, (b"access-control-allow-origin", origin),
                (b"access-control-expose-headers", b"retry-after, x-request-id"), (b"vary", b"Origin")], None

    def add(self, headers: list[tuple[bytes, bytes]], extra: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        # ASGI response header names are lower case; most answers set none of ours.
        present = [name for name, _ in headers if name in self.names]
        if not present:
            return [*headers, *extra, FRAME_NONE]
        added = [(n, v) for n, v in extra if n not in present]
        if CSP not in present:
            added.append(FRAME_NONE)
        return [*headers, *added]

    async def preflight(self, origin: bytes, send: Send) -> None:
        headers = [
            (b"access-control-allow-origin", origin),
            (b"access-control-allow-methods", ALLOW_METHODS),
            (b"access-control-allow-headers", ALLOW_HEADERS),
            (b"access-control-max-age", b"600"),
            (b"vary", b"Origin"),
            (b"content-length", b"0"),
            *self.api_headers,
            FRAME_NONE,
        ]
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})


class EdgeMiddleware:
    """``Edge`` as a middleware of its own (the server applies it in its outermost layer, ``tracing.py``)."""

    def __init__(self, app: ASGIApp, *, hsts: bool, cors_allowed: Callable[[str, str], bool]) -> None:
        self.app = app
        self.edge = Edge(hsts=hsts, cors_allowed=cors_allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra, preflight = self.edge.extra(scope)
        if preflight is not None:
            await self.edge.preflight(preflight, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":  # each answer's own dict: changed in place
                message["headers"] = self.edge.add(message.get("headers") or [], extra)
            await send(message)

        await self.app(scope, receive, send_with_headers)
