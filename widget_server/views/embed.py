"""What browsers load: the loader, the frame page of a widget, the demo page, static files."""

from __future__ import annotations

import secrets
from dataclasses import fields
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from widget_server import i18n
from widget_server.context import Context
from widget_server.conversations import consent_hash
from widget_server.errors import Problem
from widget_server.origins import origin_allowed, parse_origin
from widget_server.settings import WidgetSettings
from widget_server.views.common import ctx


def public_config(c: Context, widget: WidgetSettings) -> dict[str, Any]:
    """What the frame page may know of a widget: nothing secret, nothing the engine does alone."""
    return {
        "id": widget.id,
        "ui": widget.ui,
        "engine": c.settings.engine.kind,
        "audio_only": widget.audio_only,
        "captions": widget.enable_closed_captions,
        "greenscreen": widget.apply_greenscreen,
        "background": widget.background,
        "recording": widget.enable_recording,
        "max_call_duration": widget.max_call_duration,
        "language": widget.language,
        "private": widget.private,
        "proof_of_work": widget.proof_of_work,
        "page_messages": list(widget.page_messages),
        "display_name": widget.display_name or widget.theme.launcher_label,
        "avatar_url": widget.avatar_url,
        "allow_voice_only": widget.allow_voice_only,
        "allow_text_only": widget.allow_text_only,
        "consent": {"text": widget.consent_text, "url": widget.consent_url,
                    "text_sha256": consent_hash(widget.consent_text)} if widget.consent_text else None,
        "skip_lobby": widget.skip_lobby,
        "collect_rating": widget.collect_rating,
        "ended_cta": {"label": widget.ended_cta.label, "url": widget.ended_cta.url} if widget.ended_cta.url else None,
        # Three beats per grace, so two can be lost before the server ends the conversation.
        "heartbeat_ms": int(max(0.2, min(10.0, c.settings.lifecycle.heartbeat_grace_s / 3)) * 1000),
        "theme": {f.name: getattr(widget.theme, f.name) for f in fields(widget.theme)},
        "teaser": {"text": widget.teaser.text, "delay_s": widget.teaser.delay_s} if widget.teaser.text else None,
        "ui_language": widget.ui_language,
        "texts": dict(widget.texts),
        "overrides": list(widget.overrides.allow),
    }


def frame_ancestors(c: Context, widget: WidgetSettings) -> str:
    return " ".join(["'self'", *(str(p) for p in widget.allowed_origins)])


def embedding_origin(request: Request, c: Context, widget: WidgetSettings) -> str | None:
    """The origin of the page that embeds the frame: the loader's ``?origin=``, else the Referer."""
    own = c.settings.server.origin
    claimed = request.query_params.get("origin") or ""
    if not claimed:
        referer = parse_origin("/".join(request.headers.get("referer", "").split("/", 3)[:3]))
        claimed = str(referer) if referer else own
    parsed = parse_origin(claimed)
    if parsed is None or not origin_allowed(str(parsed), widget.allowed_origins, own):
        return None
    return str(parsed)


def _page(c: Context, template: str, status: int = 200, headers: dict[str, str] | None = None,
          **values: Any) -> HTMLResponse:
    html = c.templates.get_template(template).render(asset=c.assets.url, **values)
    return HTMLResponse(html, status_code=status, headers=headers)


def _frame_csp(c: Context, widget: WidgetSettings, nonce: str) -> str:
    # The engine names what its rooms need (Daily's CDN and hosts, or the origin of its own rooms).
    rooms = c.engine.page_sources()

    def extra(directive: str) -> str:
        return "".join(f" {source}" for source in rooms.get(directive, ()))

    return "; ".join([
        "default-src 'self'",
        f"script-src 'self' 'nonce-{nonce}'" + extra("script-src"),
        "style-src 'self'",
        "img-src 'self' data: blob: https:" + extra("img-src"),
        "media-src 'self' blob: mediastream:" + extra("media-src"),
        "connect-src 'self'" + extra("connect-src"),
        "frame-src 'self'" + extra("frame-src"),
        "worker-src 'self' blob:",
        f"frame-ancestors {frame_ancestors(c, widget)}",
        "base-uri 'none'",
        "form-action 'none'",
    ])


async def frame_page(request: Request) -> Response:
    c = ctx(request)
    widget = c.widget(request.path_params["widget"])
    origin = embedding_origin(request, c, widget)
    nonce = secrets.token_urlsafe(16)
    headers = {
        "Content-Security-Policy": _frame_csp(c, widget, nonce),
        "Cache-Control": "no-store",
        "Referrer-Policy": "strict-origin-when-cross-origin",
        "X-Content-Type-Options": "nosniff",
        "Permissions-Policy": "camera=(self), microphone=(self), display-capture=(self), fullscreen=(self)",
    }
    if origin is None:
        code = i18n.choose(widget.ui_language, widget.language, request.headers.get("accept-language", ""))
        words = i18n.strings_for(code, dict(widget.texts))
        return _page(c, "error.html", 403, headers, title=words["refusal_page_title"],
                     message=words["refusal_page_text"], nonce=nonce, lang=code,
                     dir="rtl" if code in i18n.RTL else "ltr")
    config = public_config(c, widget)
    # English (with the widget's own texts) is rendered into the page, but for the words of rarer screens (the
    # waiting line's), fetched with their module; the other catalogs are fetched when chosen.
    strings = i18n.strings_for(i18n.REFERENCE, config["texts"])
    inline = {k: v for k, v in strings.items() if not k.startswith(i18n.DEFERRED) or k in config["texts"]}
    return _page(
        c, "frame.html", 200, headers,
        nonce=nonce,
        widget=widget,
        config=config,
        t=strings.__getitem__,
        name=config["display_name"] or strings["launcher_label"],
        catalogs={code: c.assets.url(f"i18n/{code}.json") for code in i18n.languages()},
        strings=inline,
        launcher_css=c.assets.url("launcher.css"),
        session=c.signer.session(widget.id, origin),
        embedding_origin=origin,
        daily_js=c.assets.url("vendor/daily-esm.js") if c.assets.has("vendor/daily-esm.js") else "",
    )


async def embed_js(request: Request) -> Response:
    response = ctx(request).assets.response(request, "embed.js", short_cache=True)
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


async def static_file(request: Request) -> Response:
    path = request.path_params["path"]
    response = ctx(request).assets.response(request, path)
    if path.startswith("vendor/"):
        # Custom front ends on other origins import daily-js from here as an ES module, which needs CORS.
        response.headers["Access-Control-Allow-Origin"] = "*"
    return response


async def demo_page(request: Request) -> Response:
    c = ctx(request)
    if not c.settings.demo_page:
        raise Problem(404, "Not found", "no demo page on this server",
                      kind="not-found")
    first = next(iter(c.settings.widgets))
    nonce = secrets.token_urlsafe(16)
    headers = {
        "Content-Security-Policy": f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self'; "
                                   "frame-src 'self'; img-src 'self' data:",
        "Cache-Control": "no-store",
    }
    return _page(c, "demo.html", 200, headers, nonce=nonce, widget_id=first,
                 widgets=list(c.settings.widgets), engine=c.settings.engine.kind)
