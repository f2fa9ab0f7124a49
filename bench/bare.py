"""The baselines: bare Starlette JSON endpoints and bare Starlette proxies to the engine (httpx, aiohttp).

Run as ``uvicorn bench.bare:app`` with BENCH_ENGINE_URL, BENCH_ENGINE_KEY and BENCH_CALLBACK_URL set.
The proxy sends the engine the same body widget-server sends (callback URL included, so that the engine
does the same work for both) and answers 201 with the engine's JSON; nothing else. ``/create`` is the budget's
baseline (httpx); ``/create-aiohttp`` uses widget-server's own engine client library, so the ratio against it is
the cost of widget-server's own work alone. Likewise ``/json`` is the session route's budget baseline, and
``/json-full`` also reads the body and sends the API answers' headers.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

import aiohttp
import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

ENGINE = os.environ.get("BENCH_ENGINE_URL", "http://127.0.0.1:8790")
KEY = os.environ.get("BENCH_ENGINE_KEY", "")
CALLBACK = os.environ.get("BENCH_CALLBACK_URL", "http://127.0.0.1:1")
BODY = {
    "replica_id": "r_bench", "conversation_name": "widget bench",
    "callback_url": CALLBACK + "/hooks/engine/ImxfMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3Ig.awT_Hw.Pwq_X1_br07xh27UN-u2QVKh",
    "max_participants": 2, "require_auth": True,
    "properties": {"max_call_duration": 3600, "participant_left_timeout": 10, "participant_absent_timeout": 3600,
                   "enable_closed_captions": True, "apply_greenscreen": False, "language": "english"},
}
SESSION = {"session": "x" * 120, "expires_at": "2026-11-24T10:10:00Z"}   # the size of a session route's answer
client: httpx.AsyncClient | None = None
session: aiohttp.ClientSession | None = None


async def json_endpoint(request: Request) -> Response:
    return JSONResponse(SESSION, status_code=201)


# What the session route must do besides its own work: read the request body, and send the headers every API
# answer carries (no-store, nosniff, a request id, frame-ancestors; widget_server/edge.py).
API_HEADERS = {"cache-control": "no-store", "x-content-type-options": "nosniff", "x-request-id": "0123456789abcdef",
               "content-security-policy": "frame-ancestors 'none'"}


async def json_endpoint_full(request: Request) -> Response:
    await request.body()
    return JSONResponse(SESSION, status_code=201, headers=API_HEADERS)


async def proxy_create(request: Request) -> Response:
    assert client is not None
    upstream = await client.post("/v2/conversations", json=BODY)
    return JSONResponse(upstream.json(), status_code=201)


async def proxy_create_aiohttp(request: Request) -> Response:
    assert session is not None
    async with session.post(ENGINE + "/v2/conversations", data=orjson.dumps(BODY),
                            headers={"x-api-key": KEY, "content-type": "application/json"}) as upstream:
        doc = orjson.loads(await upstream.read())
    return JSONResponse(doc, status_code=201)


async def healthz(request: Request) -> Response:
    return Response("ok")


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    global client, session
    client = httpx.AsyncClient(base_url=ENGINE, headers={"x-api-key": KEY}, timeout=20)
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20))
    yield
    await client.aclose()
    await session.close()


app = Starlette(routes=[Route("/json", json_endpoint, methods=["POST"]),
                        Route("/json-full", json_endpoint_full, methods=["POST"]),
                        Route("/create", proxy_create, methods=["POST"]),
                        Route("/create-aiohttp", proxy_create_aiohttp, methods=["POST"]),
                        Route("/healthz", healthz)], lifespan=lifespan)
