"""The hosted engine: Tavus's conversation API (and anything speaking it).

    engine = TavusEngine("https://tavusapi.com", api_key=key, timeout_s=20)
    try:
        conv = await engine.create(CreateRequest(replica_id="r1"))
        await engine.end(conv.conversation_id)
    finally:
        await engine.aclose()

Every failure, whatever the engine answered or did not answer, becomes an
:class:`~widget_server.errors.EngineError` whose message never holds the key.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import re
import time
from dataclasses import dataclass
from datetime import UTC
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
import orjson
from multidict import CIMultiDictProxy

from widget_server.engines.base import ConversationPage, CreateRequest, EngineConversation
from widget_server.engines.rooms import (
    DAILY_CSP,
    Room,
    Seat,
    SeatError,
    Sink,
    daily_room,
    described_room,
    is_daily_room,
    merge_csp,
    origin_sources,
)
from widget_server.errors import EngineError, redact
from widget_server.outbound import LazySession, proxy_for

# Upstream ids look like "c123456"; anything else could walk the path
# ("../x", "a/end") and is refused before a request is made.
_SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
# The docs give "Invalid conversation_id" as the 400 of id routes: an unknown id.
_UNKNOWN_ID = re.compile(r"invalid conversation_?id|not found|does not exist", re.IGNORECASE)
_MESSAGE_CHARS = 300
# send-app-message answers for a conversation that is over (documented texts).
_ENDED = re.compile(r"only be sent to active conversations|no longer available", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class _Answer:
    """One engine answer, read whole (the engine's answers are small JSON documents)."""

    status_code: int
    headers: CIMultiDictProxy[str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class TavusEngine:
    """Talks to ``{base_url}/v2/conversations`` with one pooled client session (``outbound``)."""

    kind: str = "tavus"

    def __init__(
        self,
        base_url: str,
        api_key: str,
        timeout_s: float,
        *,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"engine base_url must be an http(s) URL, got {base_url!r}")
        if timeout_s <= 0:
            raise ValueError(f"engine timeout_s must be positive, got {timeout_s!r}")
        self._base = base_url.rstrip("/")
        self._key = api_key
        self._timeout_s = timeout_s
        self._http = LazySession(timeout_s, session)

    def use_api_key(self, api_key: str) -> None:
        """Call with this key from now on (a reloaded config's ``engine.api_key``)."""
        self._key = api_key

    async def create(self, request: CreateRequest) -> EngineConversation:
        doc = await self._json_object("POST", "/v2/conversations", json_body=request.to_payload())
        conv = self._conversation(doc)
        if request.require_auth and not request.test_mode and conv.meeting_token is None:
            # A private room without its token cannot be joined by anyone.
            raise EngineError("protocol", "engine created a private room but sent no meeting_token")
        if conv.status != "active":
            return conv
        try:
            url = conv.conversation_url
            room = None if is_daily_room(url) else described_room(url, conv.meeting_token, doc.get("room_descriptor"))
            return conv.with_room(room or await self._describe(conv.conversation_url, conv.meeting_token))
        except EngineError:
            # Nobody can join a room we cannot name, and the engine bills from creation.
            with contextlib.suppress(EngineError):
                await self.end(conv.conversation_id)
            raise

    def page_sources(self) -> dict[str, tuple[str, ...]]:
        # Daily rooms, or rooms the engine serves itself (the sandbox's, on its own origin).
        return merge_csp(DAILY_CSP, origin_sources(self._base))

    async def room(self, conversation_id: str) -> Room:
        conv = await self.get(conversation_id)
        return await self._describe(conv.conversation_url, None)

    def seat(self, conversation_id: str, room: Room, sink: Sink) -> Seat:
        if room.seat == "daily":
            from widget_server.engines.daily import DailyParticipant

            return DailyParticipant(room.url, room.token, sink)
        if room.seat == "socket" and room.socket:
            # The key goes only where the API lives: a room socket on another origin gets none.
            if _origin(room.socket, secure_as="wss") != _origin(self._base, secure_as="https"):
                raise SeatError(f"the room socket {room.socket} is not on the engine's origin")
            from widget_server.engines.sandbox.seat import SocketSeat

            return SocketSeat(room.socket, room.token, self._key, sink)
        raise SeatError(f"no way to take a seat by {room.seat!r} in {room.url}")

    async def send_app_message(self, conversation_id: str, message: dict[str, Any]) -> None:
        path = _conversation_path(conversation_id, "/send-app-message")
        try:
            await self._send("POST", path, json_body=message)
        except EngineError as err:
            if err.kind == "rejected" and _ENDED.search(err.message):
                raise EngineError("ended", err.message, upstream_status=err.upstream_status) from None
            raise

    async def _describe(self, url: str, token: str | None) -> Room:
        """A Daily room by its URL; any other room by what it says of itself (``GET`` as JSON, no key)."""
        if is_daily_room(url):
            return daily_room(url, token)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise EngineError("protocol", "conversation_url is not an http(s) URL")
        try:
            async with asyncio.timeout(self._timeout_s):
                response = await self._request("GET", url, headers={"accept": "application/json"})
            descriptor = response.json() if response.status_code == 200 else None
        except (TimeoutError, aiohttp.ClientError, ValueError):
            descriptor = None
        room = described_room(url, token, descriptor)
        if room is None:
            raise EngineError("protocol", self._clean(
                f"the room {url} is neither a Daily room nor one that describes itself"))
        return room

    async def get(self, conversation_id: str) -> EngineConversation:
        path = _conversation_path(conversation_id)
        try:
            # verbose: the shutdown_reason, which the reconciler records for a missed callback
            doc = await self._json_object("GET", path, params={"verbose": "true"})
        except EngineError as err:
            raise _unknown_id(err) from None
        return self._conversation(doc)

    async def end(self, conversation_id: str) -> None:
        path = _conversation_path(conversation_id, "/end")
        try:
            await self._send("POST", path)
        except EngineError as err:
            if err.kind not in ("rejected", "not_found"):
                raise
            # How upstream answers for an already ended conversation is not
            # documented, so ask for its status instead of guessing from the text.
            if (await self.get(conversation_id)).status != "ended":
                raise err from None

    async def list(self, *, status: str | None = None, limit: int = 100, page: int = 1) -> ConversationPage:
        params: dict[str, str | int] = {"limit": limit, "page": page}
        if status:
            params["status"] = status
        doc = await self._json_object("GET", "/v2/conversations", params=params)
        items = doc.get("data")
        if not isinstance(items, list):
            raise EngineError("protocol", "conversation list without a data array")
        data = [self._conversation(item) for item in items]
        total = doc.get("total_count")
        if not isinstance(total, int) or isinstance(total, bool):
            total = len(data)
        return ConversationPage(data=data, total_count=total)

    async def aclose(self) -> None:
        await self._http.aclose()

    def _conversation(self, doc: Any) -> EngineConversation:
        if not isinstance(doc, dict):
            raise EngineError("protocol", "conversation is not a JSON object")
        try:
            conv = EngineConversation.from_json(doc)
        except (KeyError, TypeError, ValueError):
            raise EngineError("protocol", "conversation without a usable conversation_id") from None
        if not _SAFE_ID.fullmatch(conv.conversation_id):
            raise EngineError("protocol", "conversation_id the server could not address again")
        return conv

    async def _json_object(
        self,
        method: str,
        path: str,
        *,
        json_body: dict[str, Any] | None = None,
        params: dict[str, str | int] | None = None,
    ) -> dict[str, Any]:
        response = await self._send(method, path, json_body=json_body, params=params)
        try:
            doc = response.json()
        except ValueError:
            raise EngineError(
                "protocol",
                self._clean(f"{response.status_code} answer is not JSON: {response.text}"),
                upstream_status=response.status_code,
            ) from None
        if not isinstance(doc, dict):
            raise EngineError("protocol", "answer is not a JSON object", upstream_status=response.status_code)
        return doc

    async def _send(
        self,
        method: str,
        path: str,
        *,
        json_body: dict[str, Any] | None = None,
        params: dict[str, str | int] | None = None,
    ) -> _Answer:
        headers = {"x-api-key": self._key, "accept": "application/json"}
        body = None
        if json_body is not None:
            body = orjson.dumps(json_body)
            headers["content-type"] = "application/json"
        try:
            async with asyncio.timeout(self._timeout_s):
                response = await self._request(method, self._base + path, headers=headers, body=body, params=params)
        except TimeoutError:
            raise EngineError(
                "timeout", f"no answer within {self._timeout_s:g} s to {method} {path}"
            ) from None
        except aiohttp.ClientError as exc:
            detail = self._clean(f"{type(exc).__name__}: {exc}")
            raise EngineError("connection", f"{method} {path} failed: {detail}") from None
        if 200 <= response.status_code < 300:
            return response
        raise self._status_error(response)

    async def _request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        body: bytes | None = None,
        params: dict[str, str | int] | None = None,
    ) -> _Answer:
        async with self._http.get().request(
            method, url, data=body, params=params, headers=headers, allow_redirects=False, proxy=proxy_for(url)
        ) as response:
            return _Answer(response.status, response.headers, await response.read())

    def _status_error(self, response: _Answer) -> EngineError:
        status = response.status_code
        text = self._upstream_message(response)
        if status in (401, 403):
            return EngineError("auth", text, upstream_status=status)
        if status == 402:
            return EngineError("credits", text, upstream_status=status)
        if status == 404:
            return EngineError("not_found", text, upstream_status=status)
        if status == 429:
            # Too many requests is a capacity limit like the concurrency one:
            # the server answers 503 + Retry-After and the caller waits.
            retry = _retry_after(response.headers.get("retry-after"))
            return EngineError("concurrency", text, upstream_status=status, retry_after=retry)
        if 400 <= status < 500:
            kind = "concurrency" if "concurrent" in text.lower() else "rejected"
            return EngineError(kind, text, upstream_status=status)
        if 500 <= status < 600:
            return EngineError("unavailable", text, upstream_status=status)
        return EngineError("protocol", f"unexpected status {status}: {text}", upstream_status=status)

    def _upstream_message(self, response: _Answer) -> str:
        try:
            doc = response.json()
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            for key in ("error", "message", "detail"):
                value = doc.get(key)
                if isinstance(value, str) and value.strip():
                    return self._clean(value)
        body = response.text.strip()
        return self._clean(f"HTTP {response.status_code}" + (f": {body}" if body else ""))

    def _clean(self, text: str) -> str:
        # Redact before cutting, so that no prefix of the key survives the cut.
        cleaned = redact(text, (self._key,))
        if len(cleaned) > _MESSAGE_CHARS:
            cleaned = cleaned[: _MESSAGE_CHARS - 3] + "..."
        return cleaned


def _origin(url: str, *, secure_as: str) -> tuple[bool, str]:
    parts = urlsplit(url)
    return parts.scheme == secure_as, parts.netloc


def _conversation_path(conversation_id: str, suffix: str = "") -> str:
    if not isinstance(conversation_id, str) or not _SAFE_ID.fullmatch(conversation_id):
        raise EngineError("not_found", "no conversation has this id")
    return "/v2/conversations/" + quote(conversation_id, safe="") + suffix


def _unknown_id(err: EngineError) -> EngineError:
    if err.kind == "rejected" and _UNKNOWN_ID.search(err.message):
        return EngineError("not_found", err.message, upstream_status=err.upstream_status)
    return err


def _retry_after(value: str | None) -> int | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return max(1, min(int(value), 86_400))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(1, min(int(when.timestamp() - time.time()), 86_400))
