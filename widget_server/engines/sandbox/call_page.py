"""The sandbox's stand-in for Daily Prebuilt: ``conversation_url`` opened by a browser is a call page.

    GET http://127.0.0.1:8790/rooms/c123            Accept: text/html  -> the call page
    GET http://127.0.0.1:8790/rooms/c123?t=<token>  (a navigation, e.g. an iframe's src) -> the same
    GET http://127.0.0.1:8790/rooms/c123            Accept: application/json -> the room descriptor

Tavus's docs embed ``conversation_url`` in an iframe; with the sandbox that page is this one: the
replica's video, a self view, captions, a text box (the sandbox hears no speech) and Leave. It joins
the room with the same adapter as the widget's frame page (``static/call/sandbox-room.js``), served
from here under ``/rooms/_call/`` with no CDN.
"""

from __future__ import annotations

import html
import json
import secrets
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from ...assets import STATIC_DIR

# What the page loads, all from the widget's own static/call/ (the installed package has a copy).
FILES = ("sandbox-call.js", "sandbox-call.css", "sandbox-room.js", "replica-face.js")
PREFIX = "_call"


def wants_page(request: Request) -> bool:
    """A browser navigating (or asking for HTML first) gets the page; an API client asking for JSON, the descriptor."""
    if request.headers.get("sec-fetch-mode") == "navigate":
        return True
    accept = request.headers.get("accept", "")
    return "text/html" in accept and accept.find("text/html") < _json_at(accept)


def _json_at(accept: str) -> int:
    at = accept.find("application/json")
    return len(accept) + 1 if at < 0 else at


class CallFiles:
    """The page's scripts and style, read once."""

    def __init__(self, static_dir: Path = STATIC_DIR) -> None:
        self.bodies = {name: (static_dir / "call" / name).read_bytes() for name in FILES}

    def response(self, name: str) -> Response:
        body = self.bodies.get(name)
        if body is None:
            return Response("Not found", status_code=404, media_type="text/plain")
        media = "text/css" if name.endswith(".css") else "text/javascript"
        return Response(body, media_type=media, headers={"Cache-Control": "no-cache",
                                                         "X-Content-Type-Options": "nosniff"})


def call_page(request: Request, room: str, *, greenscreen: bool, audio_only: bool, found: bool) -> Response:
    nonce = secrets.token_urlsafe(16)
    socket = ("wss" if request.url.scheme == "https" else "ws") + "://" + request.url.netloc
    imports = {"imports": {"cvi/replica-face.js": f"./{PREFIX}/replica-face.js",
                           "cvi/sandbox-room.js": f"./{PREFIX}/sandbox-room.js"}}
    config = {"room": room, "greenscreen": greenscreen, "audio_only": audio_only, "found": found}
    body = PAGE.format(
        room=html.escape(room),
        nonce=nonce,
        prefix=PREFIX,
        imports=_script_json(imports),
        config=_script_json(config),
    )
    csp = ("default-src 'none'; "
           f"script-src 'self' 'nonce-{nonce}'; style-src 'self'; img-src 'self' data:; "
           f"media-src 'self' blob: mediastream:; connect-src 'self' {socket}; "
           # No frame-ancestors: Tavus's docs embed conversation_url in any site's iframe, so may this stand-in be.
           "base-uri 'none'; form-action 'none'")
    headers = {"Content-Security-Policy": csp, "Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
               "X-Content-Type-Options": "nosniff"}
    return HTMLResponse(body, status_code=200 if found else 404, headers=headers)


def _script_json(value: object) -> str:
    return json.dumps(value).replace("<", "\\u003c")


PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>Conversation {room} (sandbox)</title>
<link rel="stylesheet" href="{prefix}/sandbox-call.css">
<script type="importmap" nonce="{nonce}">{imports}</script>
<script type="application/json" id="room-config">{config}</script>
<script type="module" src="{prefix}/sandbox-call.js"></script>
</head>
<body>
<main class="app">
<div class="call" id="call">
  <h1 class="visually-hidden">Conversation {room}</h1>
  <p class="status" id="status" role="status">Joining the conversation&hellip;</p>
  <div class="stage">
    <video id="replica" class="replica" autoplay playsinline muted aria-label="The replica"></video>
    <video id="self" class="self" autoplay playsinline muted aria-label="Your camera" hidden></video>
    <p id="captions" class="captions" aria-live="polite" hidden></p>
  </div>
  <div class="bar">
    <form id="say" class="say" hidden>
      <label for="say-text" class="visually-hidden">Type to the replica</label>
      <input id="say-text" type="text" autocomplete="off" placeholder="Type to the replica" maxlength="500">
      <button type="submit">Send</button>
    </form>
    <button type="button" id="mic" aria-pressed="false" hidden>Mute</button>
    <button type="button" id="leave" class="leave">Leave</button>
  </div>
</div>
<section class="over" id="over" aria-labelledby="over-title" hidden>
  <h1 id="over-title">You left the call</h1>
  <p id="over-text">The conversation ends when everyone has left.</p>
</section>
</main>
<footer class="badge">Sandbox room: a local stand-in for the hosted call page</footer>
</body>
</html>
"""
