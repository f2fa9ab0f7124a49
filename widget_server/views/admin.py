"""The operator's console (``/admin/...``): server-rendered pages, small ES modules in ``static/admin/``.

Every page but the login form needs a signed-in operator (else 303 to ``/admin/login``); every form
that changes something carries the CSRF token. With no ``[admin]`` table: 404 everywhere.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from widget_server.admin import reports
from widget_server.admin.access import console_on, form, page, session_operator, set_cookie, set_session_cookie
from widget_server.admin.actions import end_conversation, find, history_or_503, ledger_query, replay_webhook
from widget_server.admin.auth import COOKIE, LOGIN_COOKIE, Operator, login_limit_keys
from widget_server.admin.oidc import COOKIE as OIDC_COOKIE
from widget_server.admin.oidc import OidcError
from widget_server.clock import iso
from widget_server.context import Context
from widget_server.errors import Problem
from widget_server.views.common import client_ip, ctx

NAV = (("live", "Live"), ("today", "Today"), ("history", "History"), ("webhooks", "Webhooks"),
       ("settings", "Settings"))
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'")


def render(c: Context, template: str, status: int = 200, *, operator: Operator | None = None,
           **values: Any) -> HTMLResponse:
    csrf = c.admin_auth.csrf(c.settings, operator.sid) if operator is not None else ""
    html = c.templates.get_template(f"admin/{template}").render(
        asset=c.assets.url, nav=NAV, operator=operator, csrf=csrf, when=iso, **values)
    return HTMLResponse(html, status_code=status, headers={"Content-Security-Policy": CSP,
                                                           "Cache-Control": "no-store"})


@page()
async def home(request: Request, c: Context, operator: Operator) -> Response:
    return RedirectResponse("/admin/live", status_code=303)


def _safe_next(target: str | None) -> str:
    """Only a console path of this server (never ``//evil.test`` or a scheme)."""
    if target and target.startswith("/admin/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/admin/live"


def _login_form(c: Context, request: Request, status: int = 200, message: str = "") -> Response:
    nonce = secrets.token_urlsafe(16)
    admin = c.settings.admin
    assert admin is not None
    response = render(c, "login.html", status, login_csrf=c.admin_auth.csrf(c.settings, "login:" + nonce),
                      next=_safe_next(request.query_params.get("next")), message=message, title="Sign in",
                      oidc=admin.oidc if admin.oidc.enabled else None, passwords=bool(admin.users))
    set_cookie(c, response, LOGIN_COOKIE, nonce, max_age=3600, path="/admin/login")
    return response


async def login_page(request: Request) -> Response:
    c = ctx(request)
    console_on(c)
    if await session_operator(request, c) is not None:
        return RedirectResponse(_safe_next(request.query_params.get("next")), status_code=303)
    return _login_form(c, request)


async def login(request: Request) -> Response:
    c = ctx(request)
    console_on(c)
    admin = c.settings.admin
    assert admin is not None
    fields = await form(request)
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    if not nonce or not c.admin_auth.check_csrf(c.settings, "login:" + nonce, fields.get("csrf")):
        raise Problem(403, "CSRF token missing or wrong", "reload the sign-in page and try again", kind="csrf")
    name, password = fields.get("username", "")[:64], fields.get("password", "")[:1024]
    ip = client_ip(request, c.settings.server.trusted_proxies)
    recorder = c.conversations.recorder
    now = c.clock()
    by_ip, by_user = login_limit_keys(ip, name)
    wait = max(await c.store.hit(by_ip, admin.login_window_s, admin.login_per_ip, now),
               await c.store.hit(by_user, admin.login_window_s, admin.login_per_user, now))
    if wait:
        await recorder.audit(f"admin:{name}" if name else "admin:?", "login_limited", ip)
        raise Problem(429, "Too many sign-in attempts", f"try again in {wait} s", kind="rate-limited",
                      retry_after=wait)
    if not name or not await c.admin_auth.verify(admin, name, password):
        await recorder.audit(f"admin:{name}" if name else "admin:?", "login_failed", ip)
        return _login_form(c, request, 401, "Wrong name or password.")
    await recorder.audit(f"admin:{name}", "login", ip)
    response = RedirectResponse(_safe_next(fields.get("next")), status_code=303)
    set_session_cookie(c, response, c.admin_auth.issue(c.settings, name))
    response.delete_cookie(LOGIN_COOKIE, path="/admin/login")
    return response


def _oidc_on(c: Context) -> None:
    console_on(c)
    assert c.settings.admin is not None
    if not c.settings.admin.oidc.enabled:
        raise Problem(404, "Not found", "no OpenID Connect sign-in ([admin.oidc] issuer)", kind="not-found")


async def oidc_start(request: Request) -> Response:
    """To the OpenID provider, with state, nonce and a PKCE challenge remembered in a signed cookie."""
    c = ctx(request)
    _oidc_on(c)
    try:
        url, flow = await c.admin_auth.oidc.start(c.settings, _safe_next(request.query_params.get("next")))
    except OidcError as err:
        return _login_form(c, request, 502, f"Single sign-on is unavailable: {err}")
    response = RedirectResponse(url, status_code=303)
    # Lax, not Strict: the provider's redirect back is a navigation from another site
    set_cookie(c, response, OIDC_COOKIE, flow, max_age=600, path="/admin/oidc", samesite="lax")
    return response


async def oidc_callback(request: Request) -> Response:
    c = ctx(request)
    _oidc_on(c)
    params = request.query_params
    recorder = c.conversations.recorder
    ip = client_ip(request, c.settings.server.trusted_proxies)
    try:
        if params.get("error"):
            raise OidcError(f"the provider said {params['error'][:100]}")
        email, target = await c.admin_auth.oidc.finish(c.settings, request.cookies.get(OIDC_COOKIE),
                                                       params.get("code", ""), params.get("state", ""))
    except OidcError as err:
        await recorder.audit("admin:?", "login_failed", ip, method="oidc", why=str(err)[:200])
        response = _login_form(c, request, 403, f"Single sign-on failed: {err}")
        response.delete_cookie(OIDC_COOKIE, path="/admin/oidc")
        return response
    await recorder.audit(f"admin:{email}", "login", ip, method="oidc")
    # A page, not a redirect: a chain of redirects begun by another site would not carry a Strict cookie
    response = render(c, "signed_in.html", title="Signed in", target=_safe_next(target))
    set_session_cookie(c, response, c.admin_auth.issue(c.settings, email, method="oidc"))
    response.delete_cookie(OIDC_COOKIE, path="/admin/oidc")
    return response


@page(changes=True)
async def logout(request: Request, c: Context, operator: Operator) -> Response:
    """Sign out: this session, or (form field ``everywhere``) every session of this operator, on every instance."""
    everywhere = bool((await form(request)).get("everywhere"))
    await c.admin_auth.revoke(c.store, c.settings, operator, everywhere=everywhere)
    await c.conversations.recorder.audit(operator.actor, "logout_everywhere" if everywhere else "logout", "")
    response = RedirectResponse("/admin/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@page()
async def live(request: Request, c: Context, operator: Operator) -> Response:
    return render(c, "live.html", operator=operator, page="live", title="Live",
                  widgets=await reports.live_now(c), notice=request.query_params.get("notice", "")[:200])


@page(changes=True)
async def end(request: Request, c: Context, operator: Operator) -> Response:
    cid = request.path_params["conversation_id"]
    result = await end_conversation(c, operator, cid)
    notice = f"Ended {cid} ({result['end_reason']})."
    return RedirectResponse("/admin/live?" + urlencode({"notice": notice}), status_code=303)


@page()
async def today(request: Request, c: Context, operator: Operator) -> Response:
    async with history_or_503():
        data = await reports.today(c)
    return render(c, "today.html", operator=operator, page="today", title="Today", today=data)


@page()
async def history(request: Request, c: Context, operator: Operator) -> Response:
    params = dict(request.query_params)
    query = ledger_query(params, c.settings.widgets)
    async with history_or_503():
        ledger = await reports.ledger_page(c, query)
    filters = {k: params.get(k, "") for k in ("widget", "reason", "status", "rating", "from", "to")}
    shown = {k: v for k, v in filters.items() if v}
    return render(c, "history.html", operator=operator, page="history", title="History", ledger=ledger,
                  filters=filters, widgets=sorted(c.settings.widgets), query=urlencode(shown),
                  next_query=urlencode({**shown, "cursor": ledger["next"]}) if ledger["next"] else "")


@page()
async def conversation(request: Request, c: Context, operator: Operator) -> Response:
    past = await find(c, request.path_params["conversation_id"])
    async with history_or_503():
        detail = await reports.conversation_detail(c, past)
    return render(c, "conversation.html", operator=operator, page="history", title="Conversation", conv=detail)


@page()
async def webhooks(request: Request, c: Context, operator: Operator) -> Response:
    async with history_or_503():
        recent = await c.history.deliveries(0, 100, newest_first=True)
        failures = await c.history.deliveries(0, 50, newest_first=True, failed_only=True)
    return render(c, "webhooks.html", operator=operator, page="webhooks", title="Webhooks",
                  enabled=c.webhooks.enabled, backlog=await c.store.outbox_size(), recent=recent,
                  failures=failures, notice=request.query_params.get("notice", "")[:200])


@page(changes=True)
async def replay(request: Request, c: Context, operator: Operator) -> Response:
    result = await replay_webhook(c, operator, request.path_params["event_id"])
    notice = f"Queued {result['type']} again as {result['event_id']}."
    return RedirectResponse("/admin/webhooks?" + urlencode({"notice": notice}), status_code=303)


@page()
async def settings(request: Request, c: Context, operator: Operator) -> Response:
    return render(c, "settings.html", operator=operator, page="settings", title="Settings",
                  view=reports.settings_view(c))
