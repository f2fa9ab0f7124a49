"""create_app(settings) -> the Starlette app: the one routes table.

    app = create_app(default_settings())
    uvicorn.run(app)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import httpx
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute

from widget_server.assets import TEMPLATES_DIR, Assets
from widget_server.context import Context
from widget_server.conversations import Conversations
from widget_server.edge import EdgeMiddleware
from widget_server.engines.base import Engine
from widget_server.errors import Problem, problem_handler
from widget_server.hot import HotRouter
from widget_server.lifecycle import Lifecycle
from widget_server.live.bus import open_bus
from widget_server.live.hub import LiveHub
from widget_server.metrics import Metrics
from widget_server.origins import origin_allowed
from widget_server.settings import Settings
from widget_server.store import Store, open_store
from widget_server.tokens import Signer
from widget_server.views import api, embed, hooks, live, ops

log = logging.getLogger("widget_server")

SANDBOX_MOUNT = "/sandbox"


def build_engine(settings: Settings, app_ref: list[Any]) -> tuple[Engine, list[BaseRoute]]:
    """The configured engine, and any routes it needs on this server (the sandbox's rooms)."""
    if settings.engine.kind == "tavus":
        from widget_server.engines.tavus import TavusEngine

        e = settings.engine
        return TavusEngine(e.base_url, e.api_key, e.timeout_s), []
    from widget_server.engines.sandbox.core import SandboxCore
    from widget_server.engines.sandbox.engine import SandboxEngine
    from widget_server.engines.sandbox.service import create_sandbox_app

    own = settings.server.public_url

    async def deliver(url: str, payload: dict[str, Any]) -> None:
        # Callbacks to this very server go straight into the app, not round the network.
        if url.startswith(own + "/") and app_ref:
            transport = httpx.ASGITransport(app=app_ref[0])
            async with httpx.AsyncClient(transport=transport, base_url=own) as client:
                await client.post(url.removeprefix(own), json=payload)
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


def _routes(extra: list[BaseRoute]) -> list[BaseRoute]:
    return [
        *HOT_ROUTES,
        Route("/", embed.demo_page, methods=["GET"]),
        Route("/embed.js", embed.embed_js, methods=["GET"]),
        Route("/w/{widget}", embed.frame_page, methods=["GET"]),
        Route("/static/{path:path}", embed.static_file, methods=["GET"]),
        Route("/api/widgets/{widget}/challenge", api.challenge, methods=["POST"]),
        Route("/api/conversations/{conversation_id}", api.conversation_status, methods=["GET"]),
        Route("/api/conversations/{conversation_id}/interactions", live.post_interaction, methods=["POST"]),
        Route("/api/conversations/{conversation_id}/events", live.events, methods=["GET"]),
        WebSocketRoute("/api/conversations/{conversation_id}/events", live.events_ws),
        Route("/hooks/engine/{ref}", hooks.engine_callback, methods=["POST"]),
        Route("/healthz", ops.healthz, methods=["GET"]),
        Route("/readyz", ops.readyz, methods=["GET"]),
        Route("/metrics", ops.metrics, methods=["GET"]),
        Route("/openapi.json", ops.openapi, methods=["GET"]),
        *extra,
    ]


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    titles = {404: "Not found", 405: "Method not allowed"}
    return Problem(exc.status_code, titles.get(exc.status_code, "Error"), str(exc.detail)).response()


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("unexpected error on %s %s: %s", request.method, request.url.path, type(exc).__name__)
    return Problem(500, "Internal error", "the server failed; the error was logged",
                   kind="internal-error").response()


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


def create_app(settings: Settings, *, engine: Engine | None = None, store: Store | None = None,
               assets: Assets | None = None) -> Starlette:
    app_ref: list[Any] = []
    extra: list[BaseRoute] = []
    if engine is None:
        engine, extra = build_engine(settings, app_ref)
    store = store or open_store(settings.server.store)
    signer = Signer(settings.server.secret_keys)
    metrics = Metrics()
    templates = Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=select_autoescape(),
                            auto_reload=False)
    ctx = Context(
        settings=settings, store=store, engine=engine, signer=signer, metrics=metrics,
        conversations=Conversations(settings, store, engine, signer, metrics),
        assets=assets or Assets(), templates=templates,
    )
    ctx.extras["live"] = LiveHub(open_bus(settings.server.store), engine, store)

    lifecycle = Lifecycle(settings, store, engine, ctx.conversations, signer)
    ctx.lifecycle = lifecycle

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await ctx.store.open()
        lifecycle.start()
        try:
            yield
        finally:
            # Each step bounded: a process told to stop must stop (what is cut off here is what the
            # sweep and the reconciler of the other instances, or of the next start, are for).
            await _bounded("background jobs", lifecycle.stop())
            await _bounded("live rooms", ctx.extras["live"].aclose())
            await _bounded("engine client", ctx.engine.aclose())
            await _bounded("store", ctx.store.close())

    def cors_allowed(origin: str, path: str) -> bool:
        parts = path.split("/")
        own = settings.server.origin
        if len(parts) > 3 and parts[2] == "widgets":
            widget = settings.widgets.get(parts[3])
            return widget is not None and origin_allowed(origin, widget.allowed_origins, own)
        return any(origin_allowed(origin, w.allowed_origins, own) for w in settings.widgets.values())

    app = Starlette(
        middleware=[
            Middleware(EdgeMiddleware, hsts=settings.server.public_url.startswith("https://"),
                       cors_allowed=cors_allowed),
        ],
        exception_handlers={Problem: problem_handler, HTTPException: _http_error, Exception: _unexpected},
    )
    app.router = HotRouter(_routes(extra), hot=HOT_ROUTES, lifespan=lifespan)
    app.state.ctx = ctx
    app_ref.append(app)
    return app
