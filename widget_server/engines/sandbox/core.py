"""The sandbox engine's state: upstream-shaped answers, rooms, timers, callbacks, faults.

    core = SandboxCore(room_base_url="http://127.0.0.1:8790/rooms", max_concurrent=2)
    created = await core.create({"replica_id": "r1", "require_auth": True})
    created.doc["meeting_token"]          # Daily-format JWT for the room
    await core.end(created.doc["conversation_id"])
    await core.aclose()

Every API method raises :class:`SandboxError` (status + JSON body) exactly where the
upstream answers with an error; the HTTP service and the in-process engine share them.
"""

from __future__ import annotations

import asyncio
import random
import re
import secrets
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from ...tokens import BadToken, meeting_token, verify_meeting_token
from .callbacks import Deliver, HttpDeliver, envelope
from .conversation import (
    REASON_ABSENT,
    REASON_DELETED,
    REASON_ENDPOINT,
    REASON_MAX_DURATION,
    Conversation,
)
from .replica import ACTED_ON
from .room import Member, RoomError
from .subscription import Subscription
from .validation import SandboxError, bad, validate_create

CONCURRENCY_MESSAGE = "User has reached maximum concurrent conversations"
APP_MESSAGE_LIMIT = 120  # send-app-message: requests per window, per conversation
APP_MESSAGE_WINDOW_S = 60.0
APP_MESSAGE_MAX_BYTES = 65_536
_ID = re.compile(r"^c[0-9a-f]{4,64}$")


@dataclass(frozen=True)
class Created:
    doc: dict[str, Any]
    lost: bool = False  # the conversation exists but its answer must not reach the caller


class SandboxCore:
    """In-memory stand-in for the upstream engine; all methods run on one event loop."""

    def __init__(
        self,
        *,
        room_base_url: str = "http://127.0.0.1:8790/rooms",
        max_concurrent: int = 10,
        latency_ms: float = 0,
        fail_rate: float = 0.0,
        lose_rate: float = 0.0,
        drop_callback_rate: float = 0.0,
        replica_join_delay_s: float = 0.3,
        speech_s: float = 0.0,
        secret: str | None = None,
        domain_id: str = "sandbox",
        rng: random.Random | None = None,
        deliver: Deliver | None = None,
    ) -> None:
        for name, rate in (("fail_rate", fail_rate), ("lose_rate", lose_rate),
                           ("drop_callback_rate", drop_callback_rate)):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be 0..1, got {rate}")
        self.room_base_url = room_base_url.rstrip("/")
        self.max_concurrent = max_concurrent
        self.latency_ms = latency_ms
        self.fail_rate = fail_rate
        self.lose_rate = lose_rate
        self.drop_callback_rate = drop_callback_rate
        self.replica_join_delay_s = replica_join_delay_s
        self.speech_s = speech_s
        self.secret = secret or secrets.token_urlsafe(32)
        self.domain_id = domain_id
        self.rng = rng or random.Random()
        own = HttpDeliver()
        self._own_deliver = own if deliver is None else None
        self.deliver: Deliver = deliver or own
        self.conversations: dict[str, Conversation] = {}
        # The active ones, oldest first: the concurrency check is O(1), listing the active O(active).
        self._live: dict[str, Conversation] = {}
        self.callbacks_sent = 0
        self.callbacks_dropped = 0
        self.callbacks_failed = 0
        self._tasks: set[asyncio.Task[None]] = set()

    # --- the /v2 API --------------------------------------------------------------------------
    async def create(self, body: Any) -> Created:
        await self._lag()
        spec = validate_create(body)
        if self.rng.random() < self.fail_rate:
            raise SandboxError(500, {"message": "Internal server error (sandbox: injected failure)"})
        if not spec.test_mode and self.active_count() >= self.max_concurrent:
            raise SandboxError(400, {"message": CONCURRENCY_MESSAGE})
        cid = "c" + secrets.token_hex(7)
        conv = Conversation(cid, f"{self.room_base_url}/{cid}", spec,
                            on_timeout=self._finish, speech_s=self.speech_s)
        self.conversations[cid] = conv
        if conv.active:
            self._live[cid] = conv
        doc = conv.doc()
        if spec.require_auth:
            conv.meeting_token = meeting_token(
                self.secret, room=cid, domain_id=self.domain_id,
                exp=time.time() + spec.participant_absent_timeout, eject_at_token_exp=False,
            )
            doc["meeting_token"] = conv.meeting_token
        # Beside the upstream fields: what the room is, so a client need not ask it (GET conversation_url).
        doc["room_descriptor"] = self.room_descriptor(cid)
        if not spec.test_mode:
            conv.arm("max_call_duration", spec.max_call_duration, REASON_MAX_DURATION)
            conv.arm("participant_absent_timeout", spec.participant_absent_timeout, REASON_ABSENT)
            self._spawn(self._replica_joins(conv))
        return Created(doc, lost=self.rng.random() < self.lose_rate)

    async def get(self, conversation_id: str, *, verbose: bool = False) -> dict[str, Any]:
        await self._lag()
        return self._find(conversation_id).doc(verbose=verbose)

    async def list(self, *, limit: Any = 10, page: Any = 1, status: str | None = None) -> dict[str, Any]:
        await self._lag()
        limit, page = _positive(limit, "limit"), _positive(page, "page")
        if status not in (None, "", "active", "ended"):
            raise bad("status must be 'active' or 'ended'")
        pool = self._live.values() if status == "active" else self.conversations.values()
        found = [c for c in pool if not c.deleted and (not status or c.status == status)]
        found.reverse()  # newest first
        chunk = found[(page - 1) * limit : page * limit]
        return {"data": [c.doc() for c in chunk], "total_count": len(found)}

    async def end(self, conversation_id: str) -> dict[str, Any]:
        await self._lag()
        conv = self._find(conversation_id)
        self._finish(conv, REASON_ENDPOINT)
        return {"conversation_id": conv.id, "status": conv.status}

    async def delete(self, conversation_id: str, *, hard: bool = False) -> None:
        await self._lag()
        conv = self._find(conversation_id)
        self._finish(conv, REASON_DELETED)
        conv.deleted = True
        if hard:
            del self.conversations[conv.id]

    def active_count(self) -> int:
        return len(self._live)

    # --- rooms ----------------------------------------------------------------------------------
    def join_room(self, conversation_id: str, *, token: str | None = None, user_name: str = "",
                  hidden: bool = False) -> Member:
        """Join as a visitor (or as a hidden seat); raises RoomError with daily-js's fatal error kinds."""
        conv = self.conversations.get(conversation_id)
        if conv is None or conv.deleted or not conv.active:
            raise RoomError("no-room", "This meeting does not exist or has ended")
        claims: dict[str, Any] = {}
        if token or conv.spec.require_auth:
            if not token:
                raise RoomError("not-allowed", "This room is private: a meeting token is required")
            try:
                claims = verify_meeting_token(token, self.secret, room=conv.id,
                                              domain_id=self.domain_id, now=0.0)
            except BadToken as exc:
                raise RoomError("not-allowed", str(exc)) from exc
            if claims["exp"] <= time.time():
                raise RoomError("exp-token", "The meeting token has expired")
        name = user_name or str(claims.get("u") or "")
        member = conv.room.join(user_name=name, user_id=_opt_str(claims.get("ud")), hidden=hidden)
        conv.joined(member)
        if claims.get("ejt"):
            delay = max(0.0, float(claims["exp"]) - time.time())
            asyncio.get_running_loop().call_later(delay, self._eject, conv, member, "token expired")
        return member

    def leave_room(self, conversation_id: str, member: Member, reason: str = "left") -> None:
        conv = self.conversations.get(conversation_id)
        if conv is not None:
            self._eject(conv, member, reason)

    def room_message(self, conversation_id: str, member: Member, message: dict[str, Any]) -> None:
        conv = self.conversations.get(conversation_id)
        if conv is not None and conv.active and member in conv.room.members:
            conv.client_message(member, message)

    def subscribe(self, conversation_id: str) -> Subscription:
        """Watch a live room from the server side, as a hidden participant."""
        conv = self._find(conversation_id)
        return Subscription(self.hidden_seat(conversation_id), lambda m: conv.room.leave(m))

    def hidden_seat(self, conversation_id: str) -> Member:
        """A member that hears the room and counts for nothing (the owner's seat: no token asked)."""
        conv = self.conversations.get(conversation_id)
        if conv is None or conv.deleted or not conv.active:
            raise RoomError("no-room", "This meeting does not exist or has ended")
        return conv.room.join(hidden=True)

    def room_descriptor(self, conversation_id: str) -> dict[str, Any] | None:
        """What a room says of itself to a JSON client (``GET <conversation_url>``); None if unknown."""
        conv = self.conversations.get(conversation_id)
        if conv is None or conv.deleted:
            return None
        socket = conv.url.replace("http", "ws", 1) + "/ws"
        origin = conv.url.split("/", 3)[:3]
        return {
            "room": conv.id,
            "status": conv.status,
            "private": conv.spec.require_auth,
            "participants": len(conv.room.participants),
            # how a client joins: the page's adapter (static/call/sandbox-room.js) and the server's seat
            "client": "sandbox",
            "prebuilt": False,
            "seat": "socket",
            # A socket seat holds a connection per conversation: taken for followers, as on Daily.
            "seat_is_free": False,
            "socket": socket,
            "ws": socket,
            "csp": {"connect-src": ["/".join(origin), "/".join(origin).replace("http", "ws", 1)]},
        }

    def send_app_message(self, conversation_id: str, message: Any) -> dict[str, Any]:
        """``POST /v2/conversations/{id}/send-app-message``: to the replica, or relayed into the room.

        What the replica acts on goes to it alone, in order (waiting for it to join); any other
        event is relayed to the room's participants. Raises SandboxError as upstream answers.
        """
        conv = self._find(conversation_id)
        if not isinstance(message, dict):
            raise bad("The body must be a JSON object")
        if message.get("message_type") != "conversation":
            raise bad("message_type must be 'conversation'")
        event_type = message.get("event_type")
        if not isinstance(event_type, str) or not event_type.startswith("conversation."):
            raise bad("event_type must be a conversation.* event")
        if "properties" in message and not isinstance(message["properties"], dict):
            raise bad("properties must be an object")
        if conv.room.closed and conv.active:
            raise SandboxError(400, {"error": "The conversation's room is no longer available."})
        if not conv.active:
            raise SandboxError(400, {"error": "App messages can only be sent to active conversations."})
        now = time.monotonic()
        window = conv.app_messages
        while window and window[0] <= now - APP_MESSAGE_WINDOW_S:
            window.popleft()
        if len(window) >= APP_MESSAGE_LIMIT:
            raise SandboxError(429, {"error": "Too many requests"})
        window.append(now)
        message = {**message, "conversation_id": conv.id}
        if event_type in ACTED_ON:
            conv.replica.handle(message, "server")
        else:
            conv.room.broadcast({"action": "app-message", "data": message, "fromId": "server"})
        return {"status": "accepted"}

    async def aclose(self) -> None:
        for conv in self.conversations.values():
            if conv.active:
                conv.finish("sandbox_shut_down")
        self._live.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._own_deliver is not None:
            await self._own_deliver.aclose()

    # --- inside -------------------------------------------------------------------------------
    def _find(self, conversation_id: str) -> Conversation:
        if not _ID.match(conversation_id):
            raise bad("Invalid conversation_id")
        conv = self.conversations.get(conversation_id)
        if conv is None or conv.deleted:
            raise SandboxError(404, {"error": "Conversation not found"})
        return conv

    def _eject(self, conv: Conversation, member: Member, reason: str) -> None:
        if member in conv.room.members:
            conv.room.leave(member, reason)
            conv.left(member)

    def _finish(self, conv: Conversation, reason: str) -> None:
        if not conv.active:
            return
        conv.finish(reason)
        self._live.pop(conv.id, None)
        self._spawn(self._after_shutdown(conv, reason))

    async def _replica_joins(self, conv: Conversation) -> None:
        await asyncio.sleep(self.replica_join_delay_s)
        if conv.active:
            conv.replica.join()
            await self._callback(conv, "system.replica_joined", {"replica_id": conv.spec.replica_id})

    async def _after_shutdown(self, conv: Conversation, reason: str) -> None:
        replica_id = conv.spec.replica_id
        await self._callback(conv, "system.shutdown", {"replica_id": replica_id, "shutdown_reason": reason})
        # the callback keeps the documented [{role, content}]; the verbose GET has the full entries
        transcript = [{"role": e["role"], "content": e["content"]} for e in conv.transcript]
        await self._callback(conv, "application.transcription_ready",
                             {"replica_id": replica_id, "transcript": transcript})
        bucket = conv.spec.properties.get("recording_s3_bucket_name") or "sandbox-recordings"
        storage = conv.spec.recording_storage
        for rec in conv.recordings:
            key = f"{conv.id}/{rec['recording_id']}.mp4"
            props: dict[str, Any] = {"bucket_name": bucket, "s3_key": key, "duration": rec["duration"]}
            if storage is not None:
                props["storage_provider"] = storage["storage_provider"]
                props["storage_uri"] = f"{storage['storage_uri'].rstrip('/')}/{key}"
            await self._callback(conv, "application.recording_ready", props)

    async def _callback(self, conv: Conversation, event_type: str, properties: dict[str, Any]) -> None:
        url = conv.spec.callback_url
        payload = envelope(conv.id, event_type, url or "", properties)
        conv.events.append(payload)
        if not url:
            return
        if self.rng.random() < self.drop_callback_rate:
            self.callbacks_dropped += 1
            return
        try:
            await self.deliver(url, payload)
            self.callbacks_sent += 1
        except Exception:  # a receiver's failure must never reach the engine
            self.callbacks_failed += 1

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _lag(self) -> None:
        if self.latency_ms > 0:
            await asyncio.sleep(self.latency_ms / 1000)


def _positive(value: Any, name: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise bad(f"{name} must be a positive integer") from None
    if number < 1:
        raise bad(f"{name} must be a positive integer")
    return number


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
