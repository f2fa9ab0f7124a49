"""The API described (OpenAPI 3.1), written by hand and checked against the routes by a test."""

from __future__ import annotations

from typing import Any

PROBLEM = {"$ref": "#/components/schemas/Problem"}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/problem+json": {"schema": PROBLEM}}}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ENGINE_ERRORS = {
    "502": _problem("The engine answered with an error, or could not be reached"),
    "503": _problem("The widget's max_concurrent or the engine's concurrency is exhausted (Retry-After)"),
    "504": _problem("The engine did not answer within timeout_s"),
}
BAD_BODY = {
    "400": _problem("Malformed request"),
    "413": _problem("Body too large"),
    "415": _problem("Unsupported media type"),
    "422": _problem("Invalid body; errors[] names each field"),
}
UNAUTHORISED = {"401": _problem("Missing or bad credentials")}
NOT_FOUND = {"404": _problem("Unknown widget or conversation")}

ID_PARAM = {"name": "conversation_id", "in": "path", "required": True, "schema": {"type": "string"}}
WIDGET_PARAM = {"name": "widget", "in": "path", "required": True,
                "schema": {"type": "string", "pattern": "^[a-z0-9-]{1,64}$"}}

SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
            "detail": {"type": "string"}, "retry_after": {"type": "integer"},
            "errors": {"type": "array", "items": {"type": "object", "required": ["field", "message"],
                       "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}},
        },
    },
    "CreateBody": {
        "type": "object", "additionalProperties": False,
        "description": "Per-visitor overrides, each only if the widget's overrides.allow lists it; and the "
                       "visitor's consent, required from a browser when the widget has consent_text.",
        "properties": {
            "conversational_context": {"type": "string"}, "custom_greeting": {"type": "string"},
            "language": {"type": "string"}, "user_name": {"type": "string", "maxLength": 64},
            "consent": {"type": "object", "required": ["text_sha256"],
                        "properties": {"text_sha256": {"type": "string",
                                                       "description": "hex SHA-256 of the consent_text shown"}}},
        },
    },
    "Created": {
        "type": "object",
        "required": ["conversation_id", "conversation_url", "join_url", "status", "expires_at", "end_token"],
        "properties": {
            "conversation_id": {"type": "string"}, "conversation_url": {"type": "string"},
            "meeting_token": {"type": "string", "description": "present for private widgets"},
            "join_url": {"type": "string"}, "status": {"type": "string", "enum": ["active", "ended"]},
            "expires_at": {"type": "string", "format": "date-time"}, "end_token": {"type": "string"},
            "user_name": {"type": "string"},
            "room": {"type": "object", "description": "what the room is, for the page: its room adapter "
                     "(static/call/{client}-room.js) and whether Daily Prebuilt exists",
                     "properties": {"client": {"type": "string", "examples": ["daily", "sandbox"]},
                                    "prebuilt": {"type": "boolean"}}},
        },
    },
    "Conversation": {
        "type": "object",
        "properties": {
            "conversation_id": {"type": "string"}, "widget": {"type": "string"},
            "status": {"type": "string", "enum": ["active", "ended"]},
            "created_at": {"type": "string"}, "started_at": {"type": ["string", "null"]},
            "expires_at": {"type": "string"}, "ended_at": {"type": ["string", "null"]},
            "end_reason": {"type": ["string", "null"]}, "seconds_live": {"type": "number"},
            "consent": {"type": ["object", "null"], "description": "{at, text_sha256}: accepted before Join"},
            "rating": {"type": ["object", "null"], "description": "{thumbs, comment, at}: given after the end"},
        },
    },
    "Session": {
        "type": "object", "required": ["session", "expires_at"],
        "properties": {"session": {"type": "string"}, "expires_at": {"type": "string", "format": "date-time"}},
    },
    "Interaction": {
        "type": "object", "required": ["event_type"],
        "properties": {
            "event_type": {"type": "string", "enum": [
                "conversation.respond", "conversation.echo", "conversation.interrupt",
                "conversation.overwrite_llm_context", "conversation.append_llm_context",
                "conversation.sensitivity"]},
            "properties": {"type": "object", "description":
                           "respond {text}; echo {modality: text|audio, text | audio, sample_rate, inference_id, "
                           "done}; interrupt {}; overwrite/append_llm_context {context}; sensitivity "
                           "{participant_pause_sensitivity, participant_interrupt_sensitivity: low|medium|high}"},
            "message_type": {"type": "string", "const": "conversation"},
            "conversation_id": {"type": "string", "description": "if given, must match the path"},
        },
    },
    "LiveEvent": {
        "type": "object", "required": ["seq", "type", "conversation_id", "at", "data"],
        "properties": {
            "seq": {"type": "integer", "minimum": 1}, "conversation_id": {"type": "string"},
            "type": {"type": "string", "enum": ["utterance", "tool_call", "speaking", "replica_joined", "ended",
                                                "protocol"]},
            "at": {"type": "string", "format": "date-time"},
            "data": {"type": "object", "description":
                     "utterance {role, text}; tool_call {name, arguments (parsed)}; speaking {role, state: "
                     "started|stopped}; replica_joined {participant_id, user_id}; ended {reason}; protocol: "
                     "the raw interactions-protocol message"},
        },
    },
    "EngineEvent": {
        "type": "object", "required": ["event_type"],
        "properties": {"conversation_id": {"type": "string"}, "event_type": {"type": "string"},
                       "message_type": {"type": "string"}, "timestamp": {"type": "string"},
                       "properties": {"type": "object"}},
    },
}


SCHEMAS["Place"] = {
    "type": "object", "required": ["queue_id", "state", "position"],
    "properties": {
        "queue_id": {"type": "string"},
        "state": {"type": "string", "enum": ["waiting", "offered", "serving", "left"],
                  "description": "offered: the visitor's turn (join before turn_until); serving: being created"},
        "position": {"type": "integer", "description": "1 for the head of the line; 0 once offered"},
        "length": {"type": "integer"},
        "estimated_wait_s": {"type": "integer", "description": "an estimate; pages round it, never show it raw"},
        "ticket": {"type": "string", "description": "only in the 202 of the create: what proves the place"},
        "expires_at": {"type": "string", "description": "max_wait_s after joining"},
        "turn_until": {"type": "string"}, "turn_window_s": {"type": "integer"},
        "reason": {"type": "string", "description": "state left: served, left, gone, expired, turn_missed, failed"},
    },
}
QUEUE_PARAMS = [WIDGET_PARAM, {"name": "queue_id", "in": "path", "required": True, "schema": {"type": "string"}}]
TICKET_BODY = {"required": False, "content": {
    "application/json": {"schema": {"type": "object", "properties": {"ticket": {"type": "string"}}}},
    "text/plain": {"schema": {"type": "string"}}}}
PLACE = {"$ref": "#/components/schemas/Place"}
LEFT = {"410": _problem("No longer in line: type queue-<reason> (served, left, gone, expired, turn-missed, "
                        "failed), the reason in words in detail")}


def line_paths() -> dict[str, Any]:
    """The waiting line's routes (views/line.py), each authorised by the place's ticket."""
    base = "/api/widgets/{widget}/queue/{queue_id}"
    return {
        base: {"get": {
            "summary": "Where a place in line stands; with Accept: text/event-stream, a `place` event on each change",
            "description": "The open stream is the visitor's presence (as heartbeats are). EventSource cannot set "
                           "headers: the ticket may be passed as ?ticket=.",
            "parameters": [*QUEUE_PARAMS, {"name": "ticket", "in": "query", "required": False,
                                           "schema": {"type": "string"}}],
            "security": [{"ticket": []}],
            "responses": {"200": {"description": "The place", "content": {
                "application/json": {"schema": PLACE}, "text/event-stream": {"schema": {"type": "string"}}}},
                **UNAUTHORISED, **NOT_FOUND}}},
        f"{base}/heartbeat": {"post": {
            "summary": "The visitor is still waiting (presence for lifecycle.heartbeat_grace_s)",
            "parameters": QUEUE_PARAMS, "security": [{"ticket": []}], "requestBody": TICKET_BODY,
            "responses": {"200": _json("The place", PLACE), **LEFT, **BAD_BODY, **UNAUTHORISED, **NOT_FOUND}}},
        f"{base}/join": {"post": {
            "summary": "The visitor is there and it is their turn: create the conversation",
            "description": "Answers like the create (201). The engine's own concurrency refusal puts the place "
                           "back at the head of the line: 202 with the place.",
            "parameters": QUEUE_PARAMS, "security": [{"ticket": []}], "requestBody": TICKET_BODY,
            "responses": {"201": _json("Created", {"$ref": "#/components/schemas/Created"}),
                          "202": _json("Back at the head of the line", PLACE),
                          "409": _problem("Not this visitor's turn yet (type not-your-turn)"), **LEFT,
                          **BAD_BODY, **UNAUTHORISED, **NOT_FOUND, **ENGINE_ERRORS}}},
        f"{base}/leave": {"post": {
            "summary": "Leave the line at once (sendBeacon may post {\"ticket\"} as text/plain)",
            "parameters": QUEUE_PARAMS, "security": [{"ticket": []}], "requestBody": TICKET_BODY,
            "responses": {"204": {"description": "Out of the line; everyone behind moved up"},
                          **BAD_BODY, **UNAUTHORISED, **NOT_FOUND}}},
    }


CONSOLE: list[dict[str, list[str]]] = [{"serverKey": []}, {"adminSession": []}]
ADMIN_ERRORS = {"401": _problem("No console session and no server key"),
                "404": _problem("The console is off (no [admin] table), or no such thing")}
CHANGE_ERRORS = {**ADMIN_ERRORS, "403": _problem("A session without X-CSRF-Token (server keys need none)")}
HISTORY_DOWN = {"503": _problem("The history database cannot be reached")}
EVENT_PARAM = {"name": "event_id", "in": "path", "required": True, "schema": {"type": "string"}}
LEDGER_PARAMS = [  # each may be empty (a form's unset field): no filter
    {"name": name, "in": "query", "required": False,
     "schema": {"anyOf": [schema, {"type": "string", "maxLength": 0}]}, "description": text}
    for name, schema, text in (
        ("widget", {"type": "string"}, "one widget"),
        ("reason", {"type": "string"}, "an end reason, or a prefix with a trailing * (visitor_*)"),
        ("status", {"type": "string", "enum": ["active", "ended", "failed", "lost"]}, "the record's status"),
        ("rating", {"type": "string", "enum": ["up", "down", "any", "none"]}, "the visitor's rating"),
        ("from", {"type": "string", "format": "date"}, "created on or after this UTC day"),
        ("to", {"type": "string", "format": "date"}, "created on or before this UTC day"),
    )]
PAGE_PARAMS = [{"name": "limit", "in": "query", "required": False,
                "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
               {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"},
                "description": "the next value of the page before (keyset paging, newest first)"}]
HTML_OR_LOGIN = {"200": {"description": "HTML page", "content": {"text/html": {"schema": {"type": "string"}}}},
                 "303": {"description": "Not signed in: to /admin/login"},
                 "404": _problem("The console is off (no [admin] table)")}
FORM_POST = {"303": {"description": "Done: back to the page, with a notice"},
             "403": _problem("CSRF token missing or wrong"), "404": _problem("Console off, or no such thing")}


def _admin_get(summary: str, schema: dict[str, Any], params: list[dict[str, Any]] | None = None,
               history: bool = True) -> dict[str, Any]:
    return {"get": {"summary": summary, "security": list(CONSOLE), "parameters": params or [],
                    "responses": {"200": _json("OK", schema), **ADMIN_ERRORS, **(HISTORY_DOWN if history else {})}}}


def admin_paths() -> dict[str, Any]:
    """The operator's console: its pages (HTML, session only) and its JSON API (session or server key)."""
    obj = {"type": "object"}
    pages = {f"/admin/{name}": {"get": {"summary": f"Console page: {name}", "responses": HTML_OR_LOGIN}}
             for name in ("live", "today", "history", "webhooks", "settings")}
    return {
        "/admin": {"get": {"summary": "The console (to /admin/live)",
                           "responses": {"303": {"description": "To /admin/live"}, "404": ADMIN_ERRORS["404"]}}},
        "/admin/login": {
            "get": {"summary": "The sign-in form", "responses": {"200": HTML_OR_LOGIN["200"],
                                                                 "404": ADMIN_ERRORS["404"]}},
            "post": {"summary": "Sign in (form: username, password, csrf, next)",
                     "description": "Limited per client address and per account name ([admin] login_per_ip, "
                                    "login_per_user in login_window_s); each attempt is in the audit log.",
                     "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {
                         "schema": {"type": "object", "required": ["username", "password", "csrf"], "properties": {
                             "username": {"type": "string"}, "password": {"type": "string"},
                             "csrf": {"type": "string"}, "next": {"type": "string"}}}}}},
                     "responses": {"303": {"description": "Signed in: the session cookie, to next"},
                                   "401": {"description": "Wrong name or password (the form again)"},
                                   "403": _problem("CSRF token missing or wrong"),
                                   "429": _problem("Too many attempts (Retry-After)"),
                                   "404": ADMIN_ERRORS["404"]}}},
        "/admin/logout": {"post": {"summary": "Sign out, revoking the session (form: csrf; everywhere=1: every "
                                              "session of the operator)", "responses": FORM_POST}},
        "/admin/oidc/start": {"get": {
            "summary": "Single sign-on: to the OpenID provider (authorization code with PKCE)",
            "parameters": [{"name": "next", "in": "query", "required": False, "schema": {"type": "string"}}],
            "responses": {"303": {"description": "To the provider's authorization endpoint"},
                          "502": {"description": "The provider cannot be read (the sign-in form, with why)"},
                          "404": _problem("The console or [admin.oidc] is off")}}},
        "/admin/oidc/callback": {"get": {
            "summary": "Single sign-on: the provider's redirect back (code, state)",
            "parameters": [{"name": n, "in": "query", "required": False, "schema": {"type": "string"}}
                           for n in ("code", "state", "error")],
            "responses": {"200": {"description": "Signed in: the session cookie, a page going on to next"},
                          "403": {"description": "Not signed in (the sign-in form, with why)"},
                          "404": _problem("The console or [admin.oidc] is off")}}},
        **pages,
        "/admin/live/{conversation_id}/end": {"post": {"summary": "End a live conversation (form: csrf)",
                                                       "parameters": [ID_PARAM], "responses": FORM_POST}},
        "/admin/conversations/{conversation_id}": {"get": {
            "summary": "Console page: one conversation (engine id or local id)", "parameters": [ID_PARAM],
            "responses": HTML_OR_LOGIN}},
        "/admin/webhooks/{event_id}/replay": {"post": {"summary": "Queue a webhook event again (form: csrf)",
                                                       "parameters": [EVENT_PARAM], "responses": FORM_POST}},
        "/api/admin/live": _admin_get(
            "Per widget: live conversations (age, visitor state) and the waiting line's places", obj, history=False),
        "/api/admin/conversations/{conversation_id}/end": {"post": {
            "summary": "End a live conversation at the engine (operator_ended, audited)",
            "parameters": [ID_PARAM], "security": list(CONSOLE),
            "responses": {"200": _json("Its status", {"$ref": "#/components/schemas/Conversation"}),
                          **CHANGE_ERRORS, **ENGINE_ERRORS}}},
        "/api/admin/today": _admin_get("Today per widget: minutes against minutes_per_day, creates, ends, refusals "
                                       "by rule (every instance's), served from and left the waiting line", obj),
        "/api/admin/history": _admin_get("Per day or hour: conversations, minutes, end and failure reasons, refusals "
                                         "by rule", obj, [
            {"name": "days", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1,
                                                                          "maximum": 400}},
            {"name": "bucket", "in": "query", "required": False, "schema": {"type": "string",
                                                                            "enum": ["day", "hour"]}},
            {"name": "widget", "in": "query", "required": False, "schema": {"type": "string"}}]),
        "/api/admin/ledger": _admin_get("The ledger, newest first, filtered, keyset-paged", {
            "type": "object", "required": ["items", "next"],
            "properties": {"items": {"type": "array", "items": obj}, "next": {"type": ["string", "null"]}}},
            [*LEDGER_PARAMS, *PAGE_PARAMS]),
        "/api/admin/ledger.csv": {"get": {"summary": "The filtered ledger as CSV (at most 100,000 rows)",
                                          "security": list(CONSOLE), "parameters": LEDGER_PARAMS,
                                          "responses": {"200": {"description": "CSV", "content": {
                                              "text/csv": {"schema": {"type": "string"}}}},
                                                        **ADMIN_ERRORS, **HISTORY_DOWN}}},
        "/api/admin/conversations/{conversation_id}": _admin_get(
            "One conversation: timeline, transcript, recording, rating, consent", obj, [ID_PARAM]),
        "/api/admin/webhooks": _admin_get("Webhook deliveries and failures, the backlog", obj),
        "/api/admin/webhooks/{event_id}/replay": {"post": {
            "summary": "Queue a conversation.* event again (a new id; data.replay_of names the old one)",
            "parameters": [EVENT_PARAM], "security": list(CONSOLE),
            "responses": {"202": _json("Queued", obj), **CHANGE_ERRORS,
                          "409": _problem("No webhooks configured, or an event that cannot be rebuilt"),
                          **HISTORY_DOWN}}},
        "/api/admin/settings": _admin_get("Widgets and rules as loaded (secrets as set/unset), config warnings", obj,
                                          history=False),
        "/api/admin/audit": _admin_get("The audit log of the last 7 days, newest first", obj),
    }


def openapi_document(public_url: str) -> dict[str, Any]:
    html = {"description": "HTML page", "content": {"text/html": {"schema": {"type": "string"}}}}
    paths: dict[str, Any] = {
        "/": {"get": {"summary": "Demo page with the first widget (sandbox engine, or server.demo = true)",
                      "responses": {"200": html, "404": _problem("No demo page on this server")}}},
        "/embed.js": {"get": {"summary": "The loader script", "responses": {
            "200": {"description": "JavaScript", "content": {"text/javascript": {"schema": {"type": "string"}}}}}}},
        "/w/{widget}": {"get": {
            "summary": "The conversation page of a widget, for iframes",
            "parameters": [WIDGET_PARAM,
                           {"name": "origin", "in": "query", "required": False, "schema": {"type": "string"},
                            "description": "origin of the embedding page (set by embed.js)"}],
            "responses": {"200": html, "403": {"description": "Not allowed on this site",
                                               "content": {"text/html": {"schema": {"type": "string"}}}},
                          **NOT_FOUND}}},
        "/static/{path}": {"get": {
            "summary": "Static files (content-hashed URLs)",
            "parameters": [{"name": "path", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "The file"}, "304": {"description": "Not modified"},
                          **NOT_FOUND}}},
        "/api/widgets/{widget}/conversations": {"post": {
            "summary": "Create a conversation",
            "description": "Authorised by X-Widget-Session (frame page or /sessions) or a server key.",
            "parameters": [WIDGET_PARAM,
                           {"name": "X-Widget-Session", "in": "header", "required": False,
                            "schema": {"type": "string"}},
                           {"name": "X-Widget-Proof", "in": "header", "required": False,
                            "schema": {"type": "string"}, "description": "challenge:n, when proof_of_work > 0"}],
            "security": [{}, {"serverKey": []}],
            "requestBody": {"required": False, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/CreateBody"}}}},
            "responses": {"201": _json("Created", {"$ref": "#/components/schemas/Created"}),
                          "202": _json("No free slot: a place in the widget's waiting line (browser creates "
                                       "with queue.enabled; docs/queue.md)", {"$ref": "#/components/schemas/Place"}),
                          **BAD_BODY, **UNAUTHORISED,
                          "403": _problem("Origin not allowed, or override not allowed"),
                          **NOT_FOUND, "429": _problem("Rate limit or daily budget spent (Retry-After)"),
                          **ENGINE_ERRORS,
                          "503": _problem("Every slot busy (server-key creates, queue.enabled = false: type busy), "
                                          "the line full (type queue-full), or the engine's concurrency "
                                          "(Retry-After)")}}},
        **line_paths(),
        "/api/widgets/{widget}/sessions": {"post": {
            "summary": "Mint a short-lived session for a custom front end",
            "parameters": [WIDGET_PARAM], "security": [{"serverKey": []}],
            "requestBody": {"required": False, "content": {"application/json": {"schema": {
                "type": "object", "additionalProperties": False,
                "properties": {"origin": {"type": "string",
                                          "description": "the front end's origin (one of allowed_origins)"}}}}}},
            "responses": {"201": _json("Session", {"$ref": "#/components/schemas/Session"}),
                          **BAD_BODY, **UNAUTHORISED, "403": _problem("Origin not allowed"), **NOT_FOUND}}},
        "/api/widgets/{widget}/challenge": {"post": {
            "summary": "A proof-of-work challenge for a browser-path create (widgets with proof_of_work > 0)",
            "description": "Find n so that sha256(challenge + ':' + n) starts with `bits` zero bits, then send "
                           "X-Widget-Proof: challenge:n with the create. Single use, valid 120 s.",
            "parameters": [WIDGET_PARAM, {"name": "X-Widget-Session", "in": "header", "required": False,
                                          "schema": {"type": "string"}}],
            "responses": {"200": _json("Challenge", {"type": "object", "required": ["challenge", "bits"],
                                                     "properties": {"challenge": {"type": "string"},
                                                                    "bits": {"type": "integer"},
                                                                    "expires_in": {"type": "integer"}}}),
                          **UNAUTHORISED, "403": _problem("Origin not allowed"), **NOT_FOUND}}},
        "/api/conversations/{conversation_id}": {"get": {
            "summary": "Conversation status (end token or server key as bearer)",
            "parameters": [ID_PARAM], "security": [{"endToken": []}, {"serverKey": []}],
            "responses": {"200": _json("Status", {"$ref": "#/components/schemas/Conversation"}),
                          **UNAUTHORISED, **NOT_FOUND}}},
        "/api/conversations/{conversation_id}/end": {"post": {
            "summary": "End a conversation (idempotent)",
            "description": "The end token as bearer, or {\"end_token\"} in a JSON or text/plain body "
                           "(sendBeacon), or a server key.",
            "parameters": [ID_PARAM], "security": [{}, {"endToken": []}, {"serverKey": []}],
            "requestBody": {"required": False, "content": {
                "application/json": {"schema": {"type": "object", "properties": {
                    "end_token": {"type": "string"},
                    "reason": {"type": "string", "enum": ["page_hidden", "panel_closed", "end_button",
                                                          "cancelled", "switched"]}}}},
                "text/plain": {"schema": {"type": "string"}}}},
            "responses": {"200": _json("Status", {"$ref": "#/components/schemas/Conversation"}),
                          **BAD_BODY, **UNAUTHORISED, **NOT_FOUND, **ENGINE_ERRORS}}},
        "/api/conversations/{conversation_id}/rating": {"post": {
            "summary": "The visitor's rating of an ended conversation (widgets with collect_rating)",
            "description": "The end token as bearer (or {\"end_token\"} in the body). Stored with the "
                           "conversation once, shown in the ledger, sent as the conversation.rated webhook.",
            "parameters": [ID_PARAM], "security": [{"endToken": []}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["thumbs"], "properties": {
                    "thumbs": {"type": "string", "enum": ["up", "down"]},
                    "comment": {"type": "string", "maxLength": 2000}, "end_token": {"type": "string"}}}}}},
            "responses": {"201": _json("Stored", {"type": "object"}), **BAD_BODY, **UNAUTHORISED, **NOT_FOUND,
                          "409": _problem("Not collected, still live, or already rated")}}},
        "/api/conversations/{conversation_id}/heartbeat": {"post": {
            "summary": "The visitor is still here (every 10 s while the call is up)",
            "description": "The end token as bearer (or {\"end_token\"} in a JSON or text/plain body), or a "
                           "server key. A conversation whose heartbeats stop for lifecycle.heartbeat_grace_s "
                           "(default 30) is ended by the server with reason heartbeat_timeout.",
            "parameters": [ID_PARAM], "security": [{"endToken": []}, {"serverKey": []}],
            "responses": {"204": {"description": "Noted; keep beating"},
                          "410": _problem("The conversation has ended (its reason in detail): stop beating"),
                          **BAD_BODY, **UNAUTHORISED, **NOT_FOUND}}},
        "/api/conversations/{conversation_id}/interactions": {"post": {
            "summary": "One interactions-protocol message into the live room",
            "description": "The server joins the room on first need (a hidden participant) and sends the "
                           "message as a Daily app message; message_type and conversation_id are filled in.",
            "parameters": [ID_PARAM], "security": [{"serverKey": []}],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Interaction"}}}},
            "responses": {"202": _json("Delivered into the room", {"type": "object", "properties": {
                              "accepted": {"type": "boolean"}, "event_type": {"type": "string"}}}),
                          **BAD_BODY, **UNAUTHORISED, **NOT_FOUND,
                          "409": _problem("The conversation has ended"),
                          "502": _problem("The server could not get into the room"),
                          "503": _problem("The instance in the room did not answer (Retry-After)")}}},
        "/api/conversations/{conversation_id}/events": {"get": {
            "summary": "The conversation's events as they happen (WebSocket or Server-Sent Events)",
            "description": "Server key as bearer; WebSocket clients that cannot set headers may pass "
                           "?key=<server key> (the header is preferred: URLs end up in logs). "
                           "Accept: text/event-stream (or no Accept) gives SSE with id = seq, honouring "
                           "Last-Event-ID; an Upgrade gives a WebSocket with one JSON event per message; "
                           "Accept: application/json gives what is kept so far, at once. Every stream "
                           "closes after the ended event. Events are kept for the conversation's lifetime "
                           "plus 10 minutes.",
            "parameters": [ID_PARAM,
                           {"name": "after", "in": "query", "required": False,
                            "schema": {"type": "integer", "minimum": 0}, "description": "replay from after+1"},
                           {"name": "Last-Event-ID", "in": "header", "required": False,
                            "schema": {"type": "string"}, "description": "SSE reconnects; wins over after"},
                           {"name": "key", "in": "query", "required": False, "schema": {"type": "string"},
                            "description": "server key, WebSocket only"}],
            "security": [{"serverKey": []}],
            "responses": {"200": {"description": "The events", "content": {
                              "text/event-stream": {"schema": {"type": "string"}},
                              "application/json": {"schema": {"type": "object", "properties": {
                                  "events": {"type": "array", "items": {"$ref": "#/components/schemas/LiveEvent"}},
                                  "ended": {"type": "boolean"}}}}}},
                          "101": {"description": "WebSocket: one LiveEvent JSON object per text message"},
                          "422": _problem("after or Last-Event-ID is not a non-negative integer"),
                          **UNAUTHORISED, **NOT_FOUND,
                          "502": _problem("The server could not get into the room")}}},
        "/hooks/engine/{ref}": {"post": {
            "summary": "The engine's lifecycle callbacks (signed, unguessable ref)",
            "parameters": [{"name": "ref", "in": "path", "required": True, "schema": {"type": "string"}}],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/EngineEvent"}}}},
            "responses": {"200": _json("Accepted", {"type": "object"}), **BAD_BODY, **NOT_FOUND}}},
        "/healthz": {"get": {"summary": "Liveness", "responses": {"200": _json("Alive", {"type": "object"})}}},
        "/api/conversations/{conversation_id}/transcript": {"get": {
            "summary": "The conversation's transcript, from the history database (server key)",
            "description": "Kept from the engine's application.transcription_ready callback, or else fetched "
                           "from its verbose record a minute after the end; removed after "
                           "retention.transcripts_days.",
            "parameters": [ID_PARAM], "security": [{"serverKey": []}],
            "responses": {"200": _json("Transcript", {"type": "object", "required": ["conversation_id", "transcript"],
                                                      "properties": {
                                                          "conversation_id": {"type": "string"},
                                                          "widget": {"type": "string"},
                                                          "source": {"type": "string",
                                                                     "enum": ["callback", "engine_get"]},
                                                          "received_at": {"type": "string"},
                                                          "transcript": {"type": "array", "items": {
                                                              "type": "object"}}}}),
                          **UNAUTHORISED, "404": _problem("Unknown conversation, or no transcript (yet)"),
                          "503": _problem("The history database cannot be reached")}}},
        "/readyz": {"get": {"summary": "Readiness (store reachable; history database and its schema reported)",
                            "responses": {
            "200": _json("Ready", {"type": "object"}), "503": _json("Not ready", {"type": "object"})}}},
        "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {
            "200": {"description": "Text exposition", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
        "/openapi.json": {"get": {"summary": "This document",
                                  "responses": {"200": _json("OpenAPI", {"type": "object"})}}},
        **admin_paths(),
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "widget-server", "version": "0.1.0",
                 "description": "Face-to-face AI conversations on any website."},
        "servers": [{"url": public_url}],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "serverKey": {"type": "http", "scheme": "bearer", "description": "an entry of server.server_keys"},
                "endToken": {"type": "http", "scheme": "bearer", "description": "the end_token of a create"},
                "ticket": {"type": "http", "scheme": "bearer", "description": "the ticket of a place in line"},
                "adminSession": {"type": "apiKey", "in": "cookie", "name": "ws_admin",
                                 "description": "a console session (POST /admin/login); state changes also "
                                                "need the X-CSRF-Token header (the page's csrf-token meta)"},
            },
        },
    }
