"""The one JSON answer every route gives: orjson, and headers built as raw bytes once.

    return JSONAnswer({"ok": True}, status_code=201, no_store=True)

Starlette's ``JSONResponse`` builds a ``json.JSONEncoder`` on every call (its non-default
options defeat the cached one) and normalises its headers through a dict; on the session
route that was a quarter of the server's own work. The bytes on the wire are the same
compact UTF-8 JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.background import BackgroundTask
from starlette.responses import Response

NO_STORE_HEADER = (b"cache-control", b"no-store")
_TYPES = {"application/json": b"application/json", "application/problem+json": b"application/problem+json"}


class JSONAnswer(Response):
    media_type = "application/json"

    def __init__(
        self,
        content: Any,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        *,
        no_store: bool = False,
        media_type: str = "application/json",
        background: BackgroundTask | None = None,
    ) -> None:
        self.status_code = status_code
        self.media_type = media_type
        self.background = background
        self.body = orjson.dumps(content)
        raw = [(b"content-length", str(len(self.body)).encode("ascii")),
               (b"content-type", _TYPES.get(media_type) or media_type.encode("latin-1"))]
        if no_store:
            raw.append(NO_STORE_HEADER)
        if headers:
            raw.extend((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items())
        self.raw_headers = raw

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
