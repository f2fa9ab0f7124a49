"""Serves embed_examples/ on http://127.0.0.1:8080 (another origin than the server, as your site would be), with
https://widgets.example.com read as the local server: the examples run as they are, no hand edits.

    make run CONFIG=embed_examples/local.toml     # terminal 1: the widget server on http://127.0.0.1:8000
    make examples                                 # terminal 2: this, then open http://127.0.0.1:8080/

Only the standard library. WIDGET_SERVER (default http://127.0.0.1:8000) and PORT (8080) change the two.
"""

from __future__ import annotations

import io
import os
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
PLACEHOLDER = b"https://widgets.example.com"
SERVER = os.environ.get("WIDGET_SERVER", "http://127.0.0.1:8000").rstrip("/").encode()
TEXT = (".html", ".js", ".jsx", ".css")


class Examples(SimpleHTTPRequestHandler):
    def send_head(self):  # type: ignore[no-untyped-def]
        path = Path(self.translate_path(self.path))
        if path.is_dir():
            path = path / "index.html"
        if not path.is_file() or path.suffix not in TEXT or HERE not in path.resolve().parents:
            return super().send_head()
        body = path.read_bytes().replace(PLACEHOLDER, SERVER)
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        return io.BytesIO(body)


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8080"))
    server = ThreadingHTTPServer(("127.0.0.1", port), partial(Examples, directory=str(HERE)))
    print(f"examples on http://127.0.0.1:{port}/ (the widget server: {SERVER.decode()})")
    server.serve_forever()
