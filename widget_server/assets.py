"""Static files, read once into memory and served with content-hashed URLs.

    assets = Assets()                       # static/ (less the loader's source) and vendor/daily-esm.js
    assets.url("frame.js")                  # "/static/frame.js?v=3f2a9c1b0d"
    assets.response(request, "frame.js")    # cached a year when ?v= is the hash, 60 s when not; 304 on ETag

``embed.js`` is answered with ``short_cache`` (5 minutes): host pages load it by a URL without a hash.
"""

from __future__ import annotations

import hashlib
import mimetypes
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

from widget_server.errors import Problem

ROOT = Path(__file__).resolve().parent.parent
STATIC_DIR = ROOT / "static"
TEMPLATES_DIR = ROOT / "templates"
DAILY_DIST = ROOT / "node_modules" / "@daily-co" / "daily-js" / "dist"
VENDOR = {"vendor/daily-esm.js": DAILY_DIST / "daily-esm.js"}
# Readable sources of built files (static/loader/embed.js -> static/embed.js): only the built file is served,
# so the loader has one URL and nobody embeds a copy that is neither minified nor short-cached.
SOURCES = ("loader/",)

mimetypes.add_type("text/javascript", ".js")
mimetypes.add_type("text/javascript", ".mjs")


class Assets:
    def __init__(self, static_dir: Path = STATIC_DIR, vendor: dict[str, Path] | None = None) -> None:
        self.files: dict[str, Path] = {}
        self.hashes: dict[str, str] = {}
        self.bodies: dict[str, bytes] = {}
        for path in sorted(static_dir.rglob("*")) if static_dir.is_dir() else []:
            name = path.relative_to(static_dir).as_posix()
            if path.is_file() and not name.startswith(SOURCES):
                self._add(name, path)
        for name, path in (VENDOR if vendor is None else vendor).items():
            if path.is_file():
                self._add(name, path)

    def _add(self, name: str, path: Path) -> None:
        body = path.read_bytes()
        self.files[name] = path
        self.bodies[name] = body
        self.hashes[name] = hashlib.sha256(body).hexdigest()[:10]

    def has(self, name: str) -> bool:
        return name in self.files

    def url(self, name: str) -> str:
        return f"/static/{name}?v={self.hashes[name]}" if name in self.hashes else f"/static/{name}"

    def response(self, request: Request, name: str, short_cache: bool = False) -> Response:
        if name not in self.bodies:
            raise Problem(404, "Not found", "no such static file", kind="not-found")
        etag = f'"{self.hashes[name]}"'
        if short_cache:
            cache = "public, max-age=300"
        elif request.query_params.get("v") == self.hashes[name]:
            cache = "public, max-age=31536000, immutable"
        else:
            cache = "public, max-age=60"
        headers = {"Cache-Control": cache, "ETag": etag, "X-Content-Type-Options": "nosniff"}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        media = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return Response(self.bodies[name], media_type=media, headers=headers)
