"""The baselines: a bare Starlette JSON endpoint and a bare Starlette + httpx proxy to the engine.

Run as ``uvicorn bench.bare:app`` with BENCH_ENGINE_URL and BENCH_ENGINE_KEY set.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

ENGINE = os.environ.get("BENCH_ENGINE_URL", "http://127.0.0.1:8790")
KEY = os.environ.get("BENCH_ENGINE_KEY", "")
client: httpx.AsyncClient | None = None


async def json_endpoint(request: Request) -> Response:
    return JSONResponse({"session": "x" * 120, "expires_at": "2026-11-24T10:10:00Z"}, status_code=201)


async def proxy_create(request: Request) -> Response:
    assert client is not None
    upstream = await client.post("/v2/conversations", json={"replica_id": "r_bench", "require_auth": True,
                                                             "properties": {"max_call_duration": 600}})
    return JSONResponse(upstream.json(), status_code=201)


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    global client
    client = httpx.AsyncClient(base_url=ENGINE, headers={"x-api-key": KEY}, timeout=20)
    yield
    await client.aclose()


app = Starlette(routes=[Route("/json", json_endpoint, methods=["POST"]),
                        Route("/create", proxy_create, methods=["POST"])], lifespan=lifespan)
