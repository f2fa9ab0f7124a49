"""create_app(settings) -> the Starlette app: the one routes table.

    app = create_app(default_settings())
    uvicorn.run(app)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute

from widget_server.admin.auth import AdminAuth
from widget_server.assets import TEMPLATES_DIR, Assets
from widget_server.clock import Clock
from widget_server.context import Context
from widget_server.conversations import Conversations
from widget_server.edge import Edge
from widget_server.engines.base import Engine
from widget_server.errors import HANDLERS, ErrorTable, Problem, store_error_handler, unexpected_handler
from widget_server.health import Health
from widget_server.history import open_history
from widget_server.history.recorder import Recorder
from widget_server.hot import HotRouter
from widget_server.lifecycle import Lifecycle
from widget_server.line import TICK_S, Line
from widget_server.live.bus import open_bus
from widget_server.live.hub import LiveHub
from widget_server.metrics import Metrics
from widget_server.origins import origin_allowed
from widget_server.settings import Settings
from widget_server.store import STORE_ERRORS, Store, open_store
from widget_server.tokens import Signer
from widget_server.tracing import TracingMiddleware
from widget_server.views import admin, admin_api, api, embed, hooks, live, ops
from widget_server.views import history as history_views
from widget_server.views import line as line_views
from widget_server.webhooks import Webhooks

log = logging.getLogger("widget_server")

SANDBOX_MOUNT = "/sandbox"


Inbox = Callable[[str, dict[str, Any]], Awaitable[None]]


def build_engine(settings: Settings, inbox: Inbox) -> tuple[Engine, list[BaseRoute]]:
    """The configured engine, and any routes it needs on this server (the sandbox's rooms).

    ``inbox(ref, event)`` takes the embedded sandbox's callbacks to this very server, which
    go straight to the conversations service rather than round the network.
    """
    if settings.engine.kind == "tavus":
        from widget_server.engines.tavus import TavusEngine

        e = settings.engine
        return TavusEngine(e.base_url, e.api_key, e.timeout_s), []
    from widget_server.engines.sandbox.core import SandboxCore
    from widget_server.engines.sandbox.engine import SandboxEngine
    from widget_server.engines.sandbox.service import create_sandbox_app

    own = settings.server.public_url
    hooks = f"{own}/hooks/engine/"

    async def deliver(url: str, payload: dict[str, Any]) -> None:
        if url.startswith(hooks):
            await inbox(url.removeprefix(hooks), payload)
            return
        async with httpx.AsyncClient(timeout=3) as client:
            await client.post(url, json=payload)

    core = SandboxCore(room_base_url=f"{own}{SANDBOX_MOUNT}/rooms", deliver=deliver)
    return SandboxEngine(core), [Mount(SANDBOX_MOUNT, app=create_sandbox_app(core))]


# The routes every conversation calls: the router's exact table (widget_server.hot), and first in
# the table so that the usual routing, were it asked, would pick them the same way.
HOT_ROUTES = [
    Route("/api/widgets/{widget}/conversations", api.create_conversation, methods=["POST"]),
    Route("/api/conversations/{conversation_id}/heartbeat", api.heartbeat, methods=["POST"]),
    Route("/api/conversations/{conversation_id}/end", api.end_conversation, methods=["POST"]),
    Route("/api/widgets/{widget}/sessions", api.mint_session, methods=["POST"]),
]


# The operator's console (404 without an [admin] table): its pages, then its JSON API.
ADMIN_ROUTES = [
    Route("/admin", admin.home, methods=["GET"]),
    Route("/admin/login", admin.login_page, methods=["GET"]),
    Route("/admin/login", admin.login, methods=["POST"]),
    Route("/admin/logout", admin.logout, methods=["POST"]),
    Route("/admin/oidc/start", admin.oidc_start, methods=["GET"]),
    Route("/admin/oidc/callback", admin.oidc_callback, methods=["GET"]),
    Route("/admin/live", admin.live, methods=["GET"]),
    Route("/admin/live/{conversation_id}/end", admin.end, methods=["POST"]),
    Route("/admin/today", admin.today, methods=["GET"]),
    Route("/admin/history", admin.history, methods=["GET"]),
    Route("/admin/conversations/{conversation_id}", admin.conversation, methods=["GET"]),
    Route("/admin/webhooks", admin.webhooks, methods=["GET"]),
    Route("/admin/webhooks/{event_id}/replay", admin.replay, methods=["POST"]),
    Route("/admin/settings", admin.settings, methods=["GET"]),
    Route("/api/admin/live", admin_api.live, methods=["GET"]),
    Route("/api/admin/conversations/{conversation_id}/end", admin_api.end, methods=["POST"]),
    Route("/api/admin/today", admin_api.today, methods=["GET"]),
    Route("/api/admin/history", admin_api.history, methods=["GET"]),
    Route("/api/admin/ledger", admin_api.ledger, methods=["GET"]),
    Route("/api/admin/ledger.csv", admin_api.ledger_csv, methods=["GET"]),
    Route("/api/admin/conversations/{conversation_id}", admin_api.conversation, methods=["GET"]),
    Route("/api/admin/webhooks", admin_api.webhooks, methods=["GET"]),
    Route("/api/admin/webhooks/{event_id}/replay", admin_api.replay, methods=["POST"]),
    Route("/api/admin/settings", admin_api.settings, methods=["GET"]),
    Route("/api/admin/audit", admin_api.audit_log, methods=["GET"]),
]


def _routes(extra: list[BaseRoute], metrics_route: bool = True) -> list[BaseRoute]:
    routes = [
        *HOT_ROUTES,
        Route("/", embed.demo_page, methods=["GET"]),
        Route("/embed.js", embed.embed_js, methods=["GET"]),
        Route("/w/{widget}", embed.frame_page, methods=["GET"]),
        Route("/static/{path:path}", embed.static_file, methods=["GET"]),
        Route("/api/widgets/{widget}/challenge", api.challenge, methods=["POST"]),
        Route("/api/widgets/{widget}/queue/{queue_id}", line_views.place, methods=["GET"]),
        Route("/api/widgets/{widget}/queue/{queue_id}/heartbeat", line_views.heartbeat, methods=["POST"]),
        Route("/api/widgets/{widget}/queue/{queue_id}/join", line_views.join, methods=["POST"]),
        Route("/api/widgets/{widget}/queue/{queue_id}/leave", line_views.leave, methods=["POST"]),
        Route("/api/conversations/{conversation_id}", api.conversation_status, methods=["GET"]),
        Route("/api/conversations/{conversation_id}/rating", api.rate_conversation, methods=["POST"]),
        Route("/api/conversations/{conversation_id}/interactions", live.post_interaction, methods=["POST"]),
        Route("/api/conversations/{conversation_id}/transcript", history_views.transcript, methods=["GET"]),
        Route("/api/conversations/{conversation_id}/events", live.events, methods=["GET"]),
        WebSocketRoute("/api/conversations/{conversation_id}/events", live.events_ws),
        Route("/hooks/engine/{ref}", hooks.engine_callback, methods=["POST"]),
        Route("/healthz", ops.healthz, methods=["GET"]),
        Route("/readyz", ops.readyz, methods=["GET"]),
        Route("/metrics", ops.metrics, methods=["GET"]),
        Route("/openapi.json", ops.openapi, methods=["GET"]),
        *ADMIN_ROUTES,
        *extra,
    ]
    return [r for r in routes if metrics_route or getattr(r, "path", "") != "/metrics"]


def route_templates(routes: list[BaseRoute]) -> dict[Any, str]:
    """Endpoint (or mounted app) -> its path template: what the HTTP latency metric is labelled with."""
    found: dict[Any, str] = {}
    for route in routes:
        if isinstance(route, Mount):
            found[route.app] = route.path + "/{path}"
        elif isinstance(route, (Route, WebSocketRoute)):
            found[route.endpoint] = route.path
    return found


class WidgetApp(Starlette):
    """The Starlette app with its parts on it: ``app.ctx``, what views read through ``views.common.ctx``."""

    ctx: Context
    routes_by_endpoint: dict[Any, str]
    edge: Edge

    def build_middleware_stack(self) -> Any:
        # One outermost layer: the request id, the latency, the edge headers and the error handlers
        # (errors.ErrorTable, in place of Starlette's ServerErrorMiddleware and ExceptionMiddleware);
        # then the router. Middleware added to the app goes between, with Starlette's ExceptionMiddleware
        # inside it as Starlette arranges them, so that it sees the answers to handled errors. No debug
        # pages: the server never sends a trace.
        layers = list(self.user_middleware)
        if self.max_body_size is not None:
            layers.insert(0, Middleware(RequestBodyLimitMiddleware, max_body_size=self.max_body_size))
        app: Any = self.router
        if layers:
            handlers = {k: v for k, v in self.exception_handlers.items() if k not in (500, Exception)}
            layers.append(Middleware(ExceptionMiddleware, handlers=handlers))
        for cls, args, kwargs in reversed(layers):
            app = cls(app, *args, **kwargs)
        return TracingMiddleware(app, metrics=self.ctx.metrics, routes=self.routes_by_endpoint,
                                 draining=lambda: self.ctx.health.draining, edge=self.edge,
                                 errors=ErrorTable(self.exception_handlers, handled_inside=bool(layers)))


SHUTDOWN_STEP_S = 3.0


async def _bounded(what: str, step: Awaitable[None], seconds: float = SHUTDOWN_STEP_S) -> None:
    """Run one shutdown step for at most ``seconds``; a step that overruns is cancelled and left behind."""
    task = asyncio.ensure_future(step)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        task.cancel()
        log.warning("shutdown: %s did not finish within %g s; left behind", what, seconds)
    elif not task.cancelled() and task.exception() is not None:
        log.warning("shutdown: %s failed: %s", what, type(task.exception()).__name__)


def create_app(settings: Settings, *, clock: Clock = time.time, engine: Engine | None = None,
               store: Store | None = None, assets: Assets | None = None, metrics_route: bool = True) -> WidgetApp:
    """Build every part once, hand each what it needs (the clock included), and route to the views.

    ``metrics_route=False``: no ``/metrics`` here (``serve --metrics-port`` serves it on its own bind).
    """
    extra: list[BaseRoute] = []

    async def inbox(ref: str, event: dict[str, Any]) -> None:
        with contextlib.suppress(Problem):  # an unknown ref: what the HTTP route would answer 404 to
            await conversations.on_callback(ref, event)

    if engine is None:
        engine, extra = build_engine(settings, inbox)
    store = store or open_store(settings.server.store)
    signer = Signer(settings.server.secret_keys, clock)
    metrics = Metrics()
    history = open_history(settings.server.history_url)
    recorder = Recorder(history, store, engine, settings, metrics, clock)
    webhooks = Webhooks(settings.webhooks, store, metrics, clock, attempts=recorder.delivery)
    conversations = Conversations(settings, store, engine, signer, metrics, webhooks, clock, recorder)
    bus = open_bus(settings.server.store, clock)
    line = Line(settings, store, conversations, signer, metrics, webhooks, clock, bus)
    conversations.on_free = line.on_free
    lifecycle = Lifecycle(settings, store, engine, conversations, webhooks, signer, metrics, clock,
                          jobs=[*recorder.jobs(), ("line", TICK_S, line.tick)])
    hub = LiveHub(bus, engine, store)
    assets = assets or Assets()
    health = Health(store, engine, assets, clock)
    # one store outage, one line when it starts and one when it ends, whoever noticed it
    lifecycle.store_condition = webhooks.store_condition = health.store_condition
    templates = Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=select_autoescape(),
                            auto_reload=False)
    ctx = Context(
        settings=settings, clock=clock, store=store, engine=engine, signer=signer, metrics=metrics,
        webhooks=webhooks, conversations=conversations, lifecycle=lifecycle, line=line, live=hub, history=history,
        assets=assets, templates=templates, health=health, admin_auth=AdminAuth(clock),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await store.open()
        # the engine's credentials, checked once now (kept for /readyz, which re-checks at most once a minute)
        await health.check_engine()
        await recorder.open()  # a history database that cannot be reached is retried by the history sync
        recorder.start()
        lifecycle.start()
        try:
            yield
        finally:
            # Each step bounded: a process told to stop must stop (what is cut off here is what the
            # sweep and the reconciler of the other instances, or of the next start, are for).
            await _bounded("background jobs", lifecycle.stop())
            await _bounded("line listeners", line.aclose())
            await _bounded("live rooms", hub.aclose())
            await _bounded("engine client", engine.aclose())
            await _bounded("store", store.close())
            await _bounded("refusal counts", recorder.stop())
            await _bounded("history", history.close())

    def cors_allowed(origin: str, path: str) -> bool:
        settings = app.ctx.settings  # the current settings: a reload changes the widgets
        parts = path.split("/")
        own = settings.server.origin
        if len(parts) > 3 and parts[2] == "widgets":
            widget = settings.widgets.get(parts[3])
            return widget is not None and origin_allowed(origin, widget.allowed_origins, own)
        return any(origin_allowed(origin, w.allowed_origins, own) for w in settings.widgets.values())

    app = WidgetApp(
        exception_handlers={**HANDLERS, **dict.fromkeys(STORE_ERRORS, store_error_handler),
                            Exception: unexpected_handler},
    )
    routes = _routes(extra, metrics_route)
    app.router = HotRouter(routes, hot=HOT_ROUTES, lifespan=lifespan)
    app.routes_by_endpoint = route_templates(routes)
    app.edge = Edge(hsts=settings.server.public_url.startswith("https://"), cors_allowed=cors_allowed)
    app.ctx = app.state.ctx = ctx
    return app
