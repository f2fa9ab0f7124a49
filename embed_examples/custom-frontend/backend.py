"""Your back end: mints a short-lived widget session with the server key, which never reaches the browser.

    WIDGET_SERVER=https://widgets.example.com WIDGET_SERVER_KEY=... PUBLIC_ORIGIN=https://www.example.com \
        uvicorn backend:app --port 3000
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

HERE = Path(__file__).parent


def create_backend(server: str, server_key: str, origin: str, widget: str = "support") -> Starlette:
    async def session(request: Request) -> Response:
        # Decide here who may talk (your login, your plan checks), then ask the widget server.
        async with httpx.AsyncClient(timeout=10) as client:
            r = await client.post(f"{server}/api/widgets/{widget}/sessions", json={"origin": origin},
                                  headers={"Authorization": f"Bearer {server_key}"})
        if r.status_code != 201:
            return JSONResponse({"error": "no session"}, status_code=502)
        return JSONResponse({**r.json(), "server": server, "widget": widget})

    async def page(request: Request) -> Response:
        name = request.path_params.get("name") or "index.html"
        if name not in ("index.html", "app.js", "page.css"):
            return Response(status_code=404)
        return FileResponse(HERE / name)

    return Starlette(routes=[Route("/session", session, methods=["POST"]), Route("/", page),
                             Route("/{name}", page)])


app = None
if "WIDGET_SERVER" in os.environ:
    app = create_backend(os.environ["WIDGET_SERVER"], os.environ["WIDGET_SERVER_KEY"], os.environ["PUBLIC_ORIGIN"])
