"""A stand-in for the hosted engine (tavusapi.com), which cannot be reached from here.

It replays, at the HTTP edge, the answers documented in
``shared/spec/upstream-tavus.md`` (their shapes kept in ``upstream_contract.py``): create,
get, list, end, delete and send-app-message (``pal_id``/``face_id`` accepted beside
``persona_id``/``replica_id`` and answered under both names; ``room_url`` beside the
``conversation_url`` unless the replica goes to an outside meeting), the 401
``{"message": "Invalid access token"}`` for a wrong ``x-api-key``, the 400
``{"error": "Invalid conversation_id"}`` for an unknown id, and the 400
``{"message": "User has reached maximum concurrent conversations"}`` when
``max_concurrent`` live conversations exist. It records every request it
receives, and a test can script the next answers::

    with served_standin(api_key="k") as (standin, url):
        standin.answer_next(429, {"message": "slow down"}, headers={"Retry-After": "7"})
        standin.answer_next(delay_s=1.0)          # answers normally, but late
        standin.answer_next(close=True)           # drops the connection mid-answer

Where the docs are silent (ending an already ended conversation), the answer
is a setting, ``ended_answer``, so tests can try each plausible one.
"""

from __future__ import annotations

import collections
import itertools
import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from tests.engines.upstream_contract import (
    CONCURRENCY,
    INVALID_ID,
    INVALID_TOKEN,
    NEW_NAMES,
    NOT_ACTIVE,
    OUTSIDE_MEETING_FIELDS,
    OUTSIDE_MEETING_PROPERTIES,
)
from tests.servers import serve_app

__all__ = ["CONCURRENCY", "INVALID_ID", "INVALID_TOKEN", "TavusStandIn", "served_standin"]


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any


@dataclass(frozen=True)
class Scripted:
    status: int | None = None
    body: Any = None  # dict/list -> JSON, str/bytes -> sent as is
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    close: bool = False


class TavusStandIn:
    """The engine's documented behaviour, in memory, as an ASGI app (``.app``)."""

    def __init__(self, api_key: str = "standin-key", *, max_concurrent: int | None = None) -> None:
        self.api_key = api_key
        self.max_concurrent = max_concurrent
        self.ended_answer: tuple[int, Any] = (400, {"error": "Conversation has already ended"})
        self.conversations: dict[str, dict[str, Any]] = {}
        self.requests: list[Recorded] = []
        self._script: collections.deque[Scripted] = collections.deque()
        self._ids = itertools.count(1)
        self._generation = 0
        self.app = Starlette(
            routes=[
                Route("/v2/conversations", self._create, methods=["POST"]),
                Route("/v2/conversations", self._list, methods=["GET"]),
                Route("/v2/conversations/{cid}", self._get, methods=["GET"]),
                Route("/v2/conversations/{cid}", self._delete, methods=["DELETE"]),
                Route("/v2/conversations/{cid}/end", self._end, methods=["POST"]),
                Route("/v2/conversations/{cid}/send-app-message", self._app_message, methods=["POST"]),
            ]
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    def answer_next(
        self,
        status: int | None = None,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        delay_s: float = 0.0,
        close: bool = False,
    ) -> None:
        """Script the next request's answer; ``status=None`` means the normal one."""
        self._script.append(Scripted(status, body, dict(headers or {}), delay_s, close))

    def reset(self) -> None:
        self._generation += 1
        self.conversations.clear()
        self.requests.clear()
        self._script.clear()
        self.max_concurrent = None
        self.ended_answer = (400, {"error": "Conversation has already ended"})

    def add(self, status: str = "active", **fields: Any) -> str:
        """Put a conversation in place, as if created earlier; returns its id."""
        cid = f"c{next(self._ids):06d}{secrets.token_hex(3)}"
        self.conversations[cid] = {**self._conversation(cid, {}), "status": status, **fields}
        return cid

    async def _intercept(self, request: Request) -> tuple[Response | None, Any]:
        """Record the request; answer it from the script or refuse a bad key."""
        raw = await request.body()
        try:
            doc = json.loads(raw) if raw else None
        except ValueError:
            doc = raw.decode("utf-8", "replace")
        self.requests.append(
            Recorded(
                method=request.method,
                path=request.url.path,
                query=dict(request.query_params),
                headers={k.lower(): v for k, v in request.headers.items()},
                json=doc,
            )
        )
        step = self._script.popleft() if self._script else Scripted()
        if step.delay_s:
            generation = self._generation
            await anyio.sleep(step.delay_s)
            if generation != self._generation:  # a later test began meanwhile: leave its state alone
                return JSONResponse({"error": "stale request"}, status_code=500), doc
        if step.close:
            return _Dropped(), doc
        if step.status is not None:
            return _answer(step.status, step.body, step.headers), doc
        if request.headers.get("x-api-key") != self.api_key:
            return JSONResponse(INVALID_TOKEN, status_code=401), doc
        return None, doc

    async def _create(self, request: Request) -> Response:
        early, body = await self._intercept(request)
        if early is not None:
            return early
        if not isinstance(body, dict):
            return JSONResponse({"error": "Invalid request body"}, status_code=400)
        for old, new in NEW_NAMES.items():  # the newer names (PALs, Faces) for the same ids
            if body.get(new) is not None and body.get(old) is None:
                body = {**body, old: body[new]}
        if not body.get("replica_id") and not body.get("persona_id"):
            return JSONResponse({"error": "replica_id is required"}, status_code=400)
        max_participants = body.get("max_participants")
        if max_participants is not None and (not isinstance(max_participants, int) or max_participants < 2):
            return JSONResponse({"error": "max_participants must be at least 2"}, status_code=400)
        test_mode = body.get("test_mode") is True
        live = sum(1 for c in self.conversations.values() if c["status"] == "active")
        if not test_mode and self.max_concurrent is not None and live >= self.max_concurrent:
            return JSONResponse(CONCURRENCY, status_code=400)
        cid = f"c{next(self._ids):06d}{secrets.token_hex(3)}"
        conv = self._conversation(cid, body)
        self.conversations[cid] = conv
        answer = dict(conv)
        if body.get("require_auth") is True:
            answer["meeting_token"] = "eyJ" + secrets.token_urlsafe(24)
        return JSONResponse(answer)

    async def _known(self, request: Request) -> tuple[Response | None, Any, dict[str, Any]]:
        """``_intercept``, then the conversation the path names; an unknown id is answered 400 here."""
        early, body = await self._intercept(request)
        if early is not None:
            return early, body, {}
        conv = self.conversations.get(request.path_params["cid"])
        if conv is None:
            return JSONResponse(INVALID_ID, status_code=400), body, {}
        return None, body, conv

    async def _get(self, request: Request) -> Response:
        early, _, conv = await self._known(request)
        return early if early is not None else JSONResponse(conv)

    async def _list(self, request: Request) -> Response:
        early, _ = await self._intercept(request)
        if early is not None:
            return early
        try:
            limit = int(request.query_params.get("limit", "10"))
            page = int(request.query_params.get("page", "1"))
        except ValueError:
            return JSONResponse({"error": "Invalid query parameters"}, status_code=400)
        status = request.query_params.get("status")
        rows = [c for c in self.conversations.values() if status in (None, c["status"])]
        start = (page - 1) * limit
        return JSONResponse({"data": rows[start : start + limit], "total_count": len(rows)})

    async def _end(self, request: Request) -> Response:
        early, _, conv = await self._known(request)
        if early is not None:
            return early
        if conv["status"] == "ended":
            status, body = self.ended_answer
            return _answer(status, body, {})
        conv["status"] = "ended"
        conv["shutdown_reason"] = "end_conversation_endpoint_hit"
        return Response(status_code=200)

    async def _app_message(self, request: Request) -> Response:
        early, body, conv = await self._known(request)
        if early is not None:
            return early
        if conv["status"] != "active":
            return JSONResponse(NOT_ACTIVE, status_code=400)
        if not isinstance(body, dict) or body.get("message_type") != "conversation":
            return JSONResponse({"error": "Invalid app message"}, status_code=400)
        return JSONResponse({})  # 200: accepted (the body is not documented)

    async def _delete(self, request: Request) -> Response:
        early, _ = await self._intercept(request)
        if early is not None:
            return early
        if self.conversations.pop(request.path_params["cid"], None) is None:
            return JSONResponse(INVALID_ID, status_code=400)
        return Response(status_code=204)

    @staticmethod
    def _conversation(cid: str, body: dict[str, Any]) -> dict[str, Any]:
        doc = {
            "conversation_id": cid,
            "conversation_name": body.get("conversation_name") or "New Conversation",
            "conversation_url": f"https://tavus.daily.co/{cid}",
            "status": "ended" if body.get("test_mode") is True else "active",
            "callback_url": body.get("callback_url"),
            "replica_id": body.get("replica_id"),
            "face_id": body.get("replica_id"),
            "persona_id": body.get("persona_id"),
            "pal_id": body.get("persona_id"),
            "created_at": datetime.now(UTC).isoformat(),
        }
        props = body.get("properties") if isinstance(body.get("properties"), dict) else {}
        outside = any(body.get(k) for k in OUTSIDE_MEETING_FIELDS) or any(
            props.get(k) for k in OUTSIDE_MEETING_PROPERTIES)
        if not outside:
            # Tavus's hosted page for trying and sharing a conversation (not for embedding).
            doc["room_url"] = f"https://tavus.video/{cid}"
        return doc


@contextmanager
def served_standin(api_key: str = "standin-key", **options: Any) -> Iterator[tuple[TavusStandIn, str]]:
    """A stand-in served on loopback for the block; yields it and its base URL."""
    standin = TavusStandIn(api_key, **options)
    with serve_app(standin.app) as url:
        yield standin, url


def _answer(status: int, body: Any, headers: dict[str, str]) -> Response:
    if isinstance(body, dict | list):
        return JSONResponse(body, status_code=status, headers=headers)
    content = body if isinstance(body, str | bytes) else b""
    return Response(content, status_code=status, headers=headers)


class _Dropped(Response):
    """Sends a status line that promises a body, then drops the connection.

    An ASGI app has no way to close the socket itself; a response left
    incomplete makes the server close it, which the client sees as the peer
    hanging up mid-answer.
    """

    def __init__(self) -> None:
        super().__init__(status_code=200, headers={"content-length": "64"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
