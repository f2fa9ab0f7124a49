"""Static files, read once into memory and served with content-hashed URLs.

    assets = Assets()                       # static/ and daily-js: the checkout's, or the installed package's
    assets.url("frame.js")                  # "/static/frame.js?v=3f2a9c1b0d"
    assets.response(request, "frame.js")    # cached a year when ?v= is the hash, 60 s when not; 304 on ETag
    assets.missing()                        # [] when every file a page needs is there

``embed.js`` is answered with ``short_cache`` (5 minutes): host pages load it by a URL without a hash.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

from widget_server.errors import Problem

PACKAGE = Path(__file__).resolve().parent
ROOT = PACKAGE.parent
# Two layouts: a checkout serves its own static/, templates/ and node_modules/ (edits show at once); an installed
# package serves the copy its build step (setup.py) put in widget_server/_assets/.
CHECKOUT = (ROOT / "static" / "loader").is_dir() and (ROOT / "templates").is_dir()
if CHECKOUT:
    STATIC_DIR, TEMPLATES_DIR = ROOT / "static", ROOT / "templates"
    DAILY_DIST = ROOT / "node_modules" / "@daily-co" / "daily-js" / "dist"
    UPLOT_DIST = ROOT / "node_modules" / "uplot" / "dist"
else:
    STATIC_DIR, TEMPLATES_DIR = PACKAGE / "_assets" / "static", PACKAGE / "_assets" / "templates"
    DAILY_DIST = PACKAGE / "_assets" / "vendor" / "daily-js"
    UPLOT_DIST = PACKAGE / "_assets" / "vendor" / "uplot"
VENDOR = {"vendor/daily-esm.js": DAILY_DIST / "daily-esm.js",
          # the console's charts (uPlot, MIT)
          "vendor/uPlot.esm.js": UPLOT_DIST / "uPlot.esm.js", "vendor/uPlot.min.css": UPLOT_DIST / "uPlot.min.css"}
# What no page works without, and how a checkout makes what is missing.
REQUIRED = {
    "embed.js": "the built loader; in a checkout run `make install` (esbuild builds it from static/loader/embed.js)",
    "frame.js": "the call page's script",
    "vendor/daily-esm.js": "daily-js; in a checkout run `make install` (npm ci)",
}
REQUIRED_TEMPLATES = ("frame.html", "error.html", "demo.html")
SOURCES = ("loader/",)

CSS_COMMENT = re.compile(rb"/\*.*?\*/\n?", re.S)

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
        if name.endswith(".css"):
            # The stylesheets' comments are for the people who read the source, not for every visitor's download.
            body = CSS_COMMENT.sub(b"", body)
        self.files[name] = path
        self.bodies[name] = body
        self.hashes[name] = hashlib.sha256(body).hexdigest()[:10]

    def missing(self, templates_dir: Path = TEMPLATES_DIR) -> list[str]:
        """What the server cannot serve without and cannot find, each with where it comes from (empty: all there)."""
        found = [f"{name} ({why})" for name, why in REQUIRED.items() if name not in self.files]
        found += [f"templates/{name}" for name in REQUIRED_TEMPLATES if not (templates_dir / name).is_file()]
        return found

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
