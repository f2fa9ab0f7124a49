"""Who may reach a console route, checked once for every one of them: ``@page`` and ``@api``.

    @page()                      # GET /admin/...: a signed-in operator, else 303 to /admin/login
    async def live(request, c, operator): ...

    @api(changes=True)           # POST /api/admin/...: a server key, or a session with X-CSRF-Token
    async def end(request, c, operator): ...

With no ``[admin]`` table every console route answers 404. A state change made with a session needs the
CSRF token (the form field ``csrf`` or the header ``X-CSRF-Token``): 403 without it.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Literal
from urllib.parse import parse_qs, quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from widget_server.admin.auth import COOKIE, Operator
from widget_server.context import Context
from widget_server.errors import Problem
from widget_server.views.common import bearer, ctx, header, is_server_key, read_body

Handler = Callable[[Request, Context, Operator], Awaitable[Response]]
CSRF_HEADER = b"x-csrf-token"


def console_on(c: Context) -> None:
    if c.settings.admin is None:
        raise Problem(404, "Not found", "the operator's console is off (no [admin] table in the config)",
                      kind="not-found")


async def form(request: Request) -> dict[str, str]:
    """An urlencoded form body: each field's first value."""
    body = await read_body(request)
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=50)
    except (UnicodeDecodeError, ValueError):
        raise Problem(400, "Malformed form", "send application/x-www-form-urlencoded", kind="bad-request") from None
    return {k: v[0] for k, v in fields.items()}


async def session_operator(request: Request, c: Context) -> Operator | None:
    """The signed-in operator of the session cookie: None when there is none, it expired, or was revoked."""
    operator = c.admin_auth.read(c.settings, request.cookies.get(COOKIE))
    if operator is None or await c.admin_auth.revoked(c.store, operator):
        return None
    return operator


def set_cookie(c: Context, response: Response, name: str, value: str, *, max_age: int, path: str,
               samesite: Literal["strict", "lax"] = "strict") -> None:
    """Every console cookie: HttpOnly, Secure when the public URL is https, SameSite Strict unless told."""
    response.set_cookie(name, value, max_age=max_age, path=path, httponly=True,
                        secure=c.settings.server.public_url.startswith("https://"), samesite=samesite)


def set_session_cookie(c: Context, response: Response, value: str) -> None:
    admin = c.settings.admin
    assert admin is not None
    set_cookie(c, response, COOKIE, value, max_age=int(admin.session_max_s), path="/")


def _refresh(c: Context, operator: Operator, response: Response) -> Response:
    renewed = c.admin_auth.refreshed(c.settings, operator)
    if renewed is not None:
        set_session_cookie(c, response, renewed)
    response.headers["Cache-Control"] = "no-store"
    return response


async def _csrf_ok(request: Request, c: Context, operator: Operator) -> bool:
    token = header(request, CSRF_HEADER)
    if token is None and (header(request, b"content-type") or "").startswith("application/x-www-form-urlencoded"):
        token = (await form(request)).get("csrf")
    return c.admin_auth.check_csrf(c.settings, operator.sid, token)


def _forbidden() -> Problem:
    return Problem(403, "CSRF token missing or wrong", "reload the page and try again", kind="csrf")


def page(*, changes: bool = False) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            c = ctx(request)
            console_on(c)
            operator = await session_operator(request, c)
            if operator is None:
                target = request.url.path if request.method == "GET" else "/admin/live"
                return RedirectResponse(f"/admin/login?next={quote(target, safe='/')}", status_code=303)
            if changes and not await _csrf_ok(request, c, operator):
                raise _forbidden()
            return _refresh(c, operator, await handler(request, c, operator))

        return endpoint

    return wrap


def api(*, changes: bool = False) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            c = ctx(request)
            console_on(c)
            if is_server_key(bearer(request), c.settings.server.server_keys):
                return await handler(request, c, Operator("server_key", "server_key"))
            operator = await session_operator(request, c)
            if operator is None:
                raise Problem(401, "Sign in or send a server key", "a console session cookie, or "
                              "Authorization: Bearer <server key>", kind="unauthorized",
                              headers={"WWW-Authenticate": "Bearer"})
            if changes and not await _csrf_ok(request, c, operator):
                raise _forbidden()
            return _refresh(c, operator, await handler(request, c, operator))

        return endpoint

    return wrap
