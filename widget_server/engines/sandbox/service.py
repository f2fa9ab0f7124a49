"""The sandbox as an HTTP service speaking the upstream ``/v2`` API, plus its rooms.

    core = SandboxCore(room_base_url="http://127.0.0.1:8790/rooms")
    uvicorn.run(create_sandbox_app(core, api_key="dev-key"), port=8790)

``lose_rate`` needs this app to be the outermost ASGI app under uvicorn: a lost answer is
made by returning a non-None value to the server, which uvicorn (every HTTP protocol it
has) answers by closing the connection without writing a byte. Mounted inside another
app, a lost answer degrades to uvicorn's bare 500.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from .core import APP_MESSAGE_MAX_BYTES, SandboxCore
from .rooms import room_routes
from .stock import COLLECTIONS
from .validation import SandboxError

_LOSE_KEY = "sandbox.lose_answer"


class _LostAnswer:
    def __repr__(self) -> str:
        return "sandbox: answer lost on purpose"


class _QuietLostAnswers(logging.Filter):
    """uvicorn logs an error for the non-None return; for a lost answer that is the intent."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        return not (isinstance(args, tuple) and args and isinstance(args[0], _LostAnswer))


class _NoAnswer(Response):
    def __init__(self) -> None:
        super().__init__(status_code=500)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        return None


class SandboxApp(Starlette):
    api_key: str | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> Any:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return None
        if self.api_key is not None and scope["path"].startswith("/v2"):
            # The key is checked before routing, as upstream does: a wrong key never learns which routes exist.
            given = dict(scope["headers"]).get(b"x-api-key", b"")
            if not hmac.compare_digest(given, self.api_key.encode()):
                await JSONResponse({"message": "Invalid access token"}, status_code=401)(scope, receive, send)
                return None
        lose: list[bool] = []
        await super().__call__({**scope, _LOSE_KEY: lose}, receive, send)
        return _LostAnswer() if lose else None


def create_sandbox_app(core: SandboxCore, api_key: str | None = None) -> Starlette:
    error_logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietLostAnswers) for f in error_logger.filters):
        error_logger.addFilter(_QuietLostAnswers())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await core.aclose()

    app = SandboxApp(
        routes=[*api_routes(core, api_key), *room_routes(core, api_key)],
        exception_handlers={SandboxError: _sandbox_error, HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.api_key = api_key
    return app


def api_routes(core: SandboxCore, api_key: str | None = None) -> list[BaseRoute]:
    def check_key(request: Request) -> None:
        given = request.headers.get("x-api-key", "")
        if api_key is not None and not hmac.compare_digest(given.encode(), api_key.encode()):
            raise SandboxError(401, {"message": "Invalid access token"})

    async def conversations(request: Request) -> Response:
        check_key(request)
        if request.method == "GET":
            q = request.query_params
            page = await core.list(limit=q.get("limit", "10"), page=q.get("page", "1"), status=q.get("status"))
            return JSONResponse(page)
        try:
            body = json.loads(await request.body())
        except ValueError:
            raise SandboxError(400, {"error": "Invalid JSON body"}) from None
        created = await core.create(body)
        if created.lost:
            request.scope[_LOSE_KEY].append(True)
            return _NoAnswer()
        return JSONResponse(created.doc)

    async def conversation(request: Request) -> Response:
        check_key(request)
        cid = request.path_params["id"]
        if request.method == "DELETE":
            await core.delete(cid, hard=_flag(request.query_params.get("hard")))
            return Response(status_code=204)
        return JSONResponse(await core.get(cid, verbose=_flag(request.query_params.get("verbose"))))

    async def end(request: Request) -> Response:
        check_key(request)
        return JSONResponse(await core.end(request.path_params["id"]))

    async def app_message(request: Request) -> Response:
        check_key(request)
        raw = await request.body()
        if len(raw) > APP_MESSAGE_MAX_BYTES:
            raise SandboxError(413, {"error": f"The body must be at most {APP_MESSAGE_MAX_BYTES} bytes"})
        try:
            body = json.loads(raw)
        except ValueError:
            raise SandboxError(400, {"error": "Invalid JSON body"}) from None
        return JSONResponse(core.send_app_message(request.path_params["id"], body))

    def reads(kind: str) -> list[BaseRoute]:
        entries, key = COLLECTIONS[kind]

        async def collection(request: Request) -> Response:
            check_key(request)
            return JSONResponse({"data": entries, "total_count": len(entries)})

        async def entry(request: Request) -> Response:
            check_key(request)
            wanted = request.path_params["id"]
            for found in entries:
                if found[key] == wanted:
                    return JSONResponse(found)
            raise SandboxError(404, {"error": f"No {kind[:-1]} with this id"})

        return [Route(f"/v2/{kind}", collection, methods=["GET"]),
                Route(f"/v2/{kind}/{{id}}", entry, methods=["GET"])]

    return [
        *(route for kind in COLLECTIONS for route in reads(kind)),
        Route("/v2/conversations", conversations, methods=["GET", "POST"]),
        Route("/v2/conversations/{id}", conversation, methods=["GET", "DELETE"]),
        Route("/v2/conversations/{id}/end", end, methods=["POST"]),
        Route("/v2/conversations/{id}/send-app-message", app_message, methods=["POST"]),
    ]


def _flag(value: str | None) -> bool:
    return (value or "").lower() in ("true", "1", "yes")


async def _sandbox_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SandboxError)
    return JSONResponse(exc.body, status_code=exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown routes and methods answer JSON too, in the upstream's ``{"error": ...}`` form."""
    assert isinstance(exc, HTTPException)
    message = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, str(exc.detail))
    return JSONResponse({"error": message}, status_code=exc.status_code, headers=exc.headers)


def run_sandbox(
    *,
    host: str,
    port: int,
    api_key: str | None,
    max_concurrent: int = 10,
    latency_ms: float = 0,
    fail_rate: float = 0.0,
    lose_rate: float = 0.0,
    drop_callback_rate: float = 0.0,
) -> None:
    """``widget-server sandbox``: the engine alone, as an HTTP service."""
    import uvicorn

    core = SandboxCore(room_base_url=f"http://{host}:{port}/rooms", max_concurrent=max_concurrent,
                       latency_ms=latency_ms, fail_rate=fail_rate, lose_rate=lose_rate,
                       drop_callback_rate=drop_callback_rate)
    print(f"sandbox engine on http://{host}:{port}/v2 (rooms at /rooms)", flush=True)
    uvicorn.run(create_sandbox_app(core, api_key), host=host, port=port, log_level="warning",
                server_header=False)
