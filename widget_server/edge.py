"""The headers every answer carries, and CORS for the routes custom front ends call.

One pure ASGI middleware (no per-request task switch, no body buffering), with the header
bytes prepared once: it sits on every request, so each layer and each header costs.

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


class EdgeMiddleware:
    def __init__(self, app: ASGIApp, *, hsts: bool, cors_allowed: Callable[[str, str], bool]) -> None:
        self.app = app
        self.allowed = cors_allowed  # (origin, path) -> bool
        self.api_headers = [NOSNIFF, *([HSTS] if hsts else [])]
        self.headers = [*self.api_headers, REFERRER]
        self.names = frozenset(name for name, _ in self.headers) | {CSP}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self.headers
        if scope["path"].startswith("/api/"):
            extra = self.api_headers
            origin = request_header(scope, b"origin")
            if origin and self.allowed(origin.decode("latin-1"), scope["path"]):
                if scope["method"] == "OPTIONS":
                    await self._preflight(origin, send)
                    return
                extra = [*extra, (b"access-control-allow-origin", origin),
                         (b"access-control-expose-headers", b"retry-after, x-request-id"), (b"vary", b"Origin")]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":  # each answer's own dict: changed in place
                message["headers"] = self._with(message.get("headers") or [], extra)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _with(self, headers: list[tuple[bytes, bytes]], extra: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        # ASGI response header names are lower case; most answers set none of ours.
        present = [name for name, _ in headers if name in self.names]
        if not present:
            return [*headers, *extra, FRAME_NONE]
        added = [(n, v) for n, v in extra if n not in present]
        if CSP not in present:
            added.append(FRAME_NONE)
        return [*headers, *added]

    async def _preflight(self, origin: bytes, send: Send) -> None:
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
