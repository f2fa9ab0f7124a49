"""The JSON API: create conversations, mint sessions, read and end conversations."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from widget_server import pow
from widget_server.clock import iso
from widget_server.conversations import Attempt, Created, log_create, parse_consent, parse_overrides, parse_rating
from widget_server.errors import FieldError, Problem, invalid
from widget_server.origins import origin_allowed, parse_origin
from widget_server.responses import JSONAnswer
from widget_server.settings import WidgetSettings
from widget_server.tokens import SESSION_TTL_S, BadToken
from widget_server.views.common import (
    Caller,
    bearer,
    client_ip,
    ctx,
    header,
    is_server_key,
    read_json,
    require_server_key,
)


def _check_origin(request: Request, widget: WidgetSettings) -> str | None:
    origin = header(request, b"origin")
    if origin is None:
        return None
    settings = ctx(request).settings
    if not origin_allowed(origin, widget.allowed_origins, settings.server.origin):
        raise Problem(403, "Origin not allowed", f"widget {widget.id} may not be used from this site",
                      kind="origin-not-allowed")
    return origin


def _caller(request: Request, widget: WidgetSettings) -> Caller:
    c = ctx(request)
    request_origin = _check_origin(request, widget)
    if is_server_key(bearer(request), c.settings.server.server_keys):
        return Caller("server", request_origin or "")
    token = header(request, b"x-widget-session")
    if not token:
        raise Problem(401, "Credentials required",
                      "send X-Widget-Session (from the frame page or /sessions) or a server key",
                      kind="unauthorized")
    try:
        claims = c.signer.read_session(token)
    except BadToken:
        raise Problem(401, "Invalid session", "the widget session is invalid or expired; reload the page",
                      kind="session-invalid") from None
    if claims.widget != widget.id:
        raise Problem(401, "Invalid session", "the session is for another widget", kind="session-invalid")
    own = c.settings.server.origin
    if not origin_allowed(claims.origin, widget.allowed_origins, own):
        raise Problem(403, "Origin not allowed", f"widget {widget.id} may not be used from this site",
                      kind="origin-not-allowed")
    if request_origin and parse_origin(request_origin) not in (parse_origin(own), parse_origin(claims.origin)):
        raise Problem(403, "Origin not allowed", "the session was issued for another site",
                      kind="origin-not-allowed")
    return Caller("session", claims.origin)


async def _check_proof(request: Request, widget: WidgetSettings) -> None:
    c = ctx(request)
    proof = header(request, b"x-widget-proof") or ""
    if not proof:
        raise Problem(401, "Proof of work required", "get a challenge from the challenge route and solve it",
                      kind="proof-required")
    try:
        nonce = pow.verify(c.settings.server.secret_keys, widget.id, proof, widget.proof_of_work, c.clock)
    except BadToken as err:
        raise Problem(401, "Proof of work refused", str(err), kind="proof-invalid") from None
    if await c.store.hit(f"pow:{nonce}", pow.CHALLENGE_TTL_S * 2, 1, c.clock()):
        raise Problem(401, "Proof of work refused", "this challenge was already used", kind="proof-invalid")


async def challenge(request: Request) -> Response:
    c = ctx(request)
    widget = c.widget(request.path_params["widget"])
    _caller(request, widget)
    bits = widget.proof_of_work
    return JSONAnswer({"challenge": pow.issue(c.settings.server.secret_keys, widget.id, bits, c.clock), "bits": bits,
                       "expires_in": pow.CHALLENGE_TTL_S}, no_store=True)


async def create_conversation(request: Request) -> Response:
    c = ctx(request)
    widget = c.widget(request.path_params["widget"])
    try:
        caller = _caller(request, widget)
        if caller.kind == "session" and widget.proof_of_work:
            await _check_proof(request, widget)
        body = await read_json(request)
        consent_given = body.pop("consent", None) if isinstance(body, dict) else None
        consent = parse_consent(widget, consent_given, required=caller.kind == "session")
        overrides = parse_overrides(widget, body)
    except Problem as problem:
        if problem.kind == "origin-not-allowed":  # a rule's refusal; a bad body or session is not counted
            c.conversations.refused(widget.id, problem.kind)
        log_create(Attempt(widget.id), "refused", reason=problem.kind)
        raise
    ip = client_ip(request, c.settings.server.trusted_proxies)
    if caller.kind == "session" and widget.queue.enabled:  # no free slot: a place in line (line.py)
        entered = await c.line.enter(widget, overrides, origin=caller.origin, client_ip=ip, consent=consent)
        if not isinstance(entered, Created):
            return JSONAnswer(entered, status_code=202, no_store=True)
        return await answer_created(request, widget, entered)
    created = await c.conversations.create(
        widget, overrides, origin=caller.origin, client_ip=ip, browser=caller.kind == "session", consent=consent
    )
    return await answer_created(request, widget, created)


async def answer_created(request: Request, widget: WidgetSettings, created: Created) -> Response:
    """201 with the conversation; the room handed to the live hub first (the server's own seat)."""
    c = ctx(request)
    cid = created.answer["conversation_id"]
    try:
        if created.room is not None:
            await c.live.remember(cid, created.room)  # the room and its token, for the server's own seat
            if created.room.join_at_creation or widget.record_events:
                c.live.join_early(cid)
        return JSONAnswer(created.answer, status_code=201, no_store=True)
    except BaseException:  # no visitor gets this conversation, and the engine bills it until it ends
        await c.conversations.abandon(cid, "create_answer_failed")
        raise


async def mint_session(request: Request) -> Response:
    c = ctx(request)
    require_server_key(request, c.settings.server.server_keys)
    widget = c.widget(request.path_params["widget"])
    body = await read_json(request)
    origin = c.settings.server.origin
    if body is not None:
        if not isinstance(body, dict):
            raise invalid([FieldError("body", "must be a JSON object")])
        if len(body) > ("origin" in body):  # a field besides origin
            raise invalid([FieldError(k, "unknown field; allowed: origin") for k in body if k != "origin"])
        if "origin" in body:
            value = body["origin"]
            parsed = parse_origin(value) if isinstance(value, str) else None
            if parsed is None:
                raise invalid([FieldError("origin", 'must be an origin like "https://www.example.com"')])
            if not origin_allowed(str(parsed), widget.allowed_origins, c.settings.server.origin):
                raise Problem(403, "Origin not allowed", f"{parsed} is not in widget {widget.id}'s allowed_origins",
                              kind="origin-not-allowed", errors=[FieldError("origin", "not allowed")])
            origin = str(parsed)
    session = c.signer.session(widget.id, origin, issued_by="server")
    return JSONAnswer({"session": session, "expires_at": iso(c.clock() + SESSION_TTL_S)},
                        status_code=201, no_store=True)


async def _authorise_visitor(request: Request, conversation_id: str, body: Any = None) -> None:
    c = ctx(request)
    token = bearer(request)
    if is_server_key(token, c.settings.server.server_keys):
        return
    if token is None and isinstance(body, dict) and isinstance(body.get("end_token"), str):
        token = body["end_token"]
    if not token:
        raise Problem(401, "Credentials required", "send the end token or a server key", kind="unauthorized")
    try:
        c.signer.check_end_token(token, conversation_id)
    except BadToken:
        raise Problem(401, "Invalid token", "the token is not valid for this conversation",
                      kind="token-invalid") from None


async def conversation_status(request: Request) -> Response:
    c = ctx(request)
    cid = request.path_params["conversation_id"]
    await _authorise_visitor(request, cid)
    record = await c.conversations.get(cid)
    return JSONAnswer(c.conversations.describe(record), no_store=True)


async def end_conversation(request: Request) -> Response:
    c = ctx(request)
    cid = request.path_params["conversation_id"]
    body = await read_json(request, allow_text=True)
    await _authorise_visitor(request, cid, body)
    reason = "visitor_ended"
    if is_server_key(bearer(request), c.settings.server.server_keys):
        reason = "operator_ended"
    elif isinstance(body, dict) and body.get("reason") in ("page_hidden", "panel_closed", "end_button", "cancelled",
                                                                   "switched"):
        reason = f"visitor_{body['reason']}"
    result = await c.conversations.end(cid, reason)
    return JSONAnswer(result, no_store=True)


async def heartbeat(request: Request) -> Response:
    """The visitor is still here: 204 while live, 410 once ended (stop beating)."""
    c = ctx(request)
    cid = request.path_params["conversation_id"]
    body = await read_json(request, allow_text=True)
    await _authorise_visitor(request, cid, body)
    await c.conversations.heartbeat(cid)
    return Response(status_code=204, headers={"Cache-Control": "no-store"})


async def rate_conversation(request: Request) -> Response:
    """The visitor's rating after the end (end token as bearer or in the body): 201 once, 409 after."""
    c = ctx(request)
    cid = request.path_params["conversation_id"]
    body = await read_json(request, allow_text=True)
    await _authorise_visitor(request, cid, body)
    record = await c.conversations.get(cid)
    result = await c.conversations.rate(c.widget(record.widget), cid, parse_rating(body))
    return JSONAnswer(result, status_code=201, no_store=True)
