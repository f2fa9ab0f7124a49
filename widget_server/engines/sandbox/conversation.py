"""One sandbox conversation: its upstream record, its room, its replica and its timers.

    conv = Conversation("c1", "http://127.0.0.1:8790/rooms/c1", spec, on_timeout=core_end)
    conv.arm("participant_absent_timeout", 300, "participant_absent_timeout reached")
    conv.doc(verbose=True)             # the upstream JSON
"""

from __future__ import annotations

import asyncio
import collections
import time
import uuid
from collections.abc import Callable
from typing import Any

from .callbacks import now_iso
from .replica import Replica
from .room import Member, Room
from .validation import CreateSpec

REASON_MAX_DURATION = "max_call_duration reached"
REASON_ABSENT = "participant_absent_timeout reached"
REASON_LEFT = "participant_left_timeout reached"
REASON_ENDPOINT = "end_conversation_endpoint_hit"
REASON_DELETED = "daily_room_has_been_deleted"
# What a verbose GET never echoes back from the create body: credentials and identities.
_SECRET_PARTS = ("token", "arn", "secret", "key", "credential", "password", "identity")


def public(value: Any) -> Any:
    """``value`` without the fields that name credentials (at any depth)."""
    if isinstance(value, dict):
        return {k: public(v) for k, v in value.items()
                if not any(part in k.lower() for part in _SECRET_PARTS) or k.endswith("_id")}
    if isinstance(value, list):
        return [public(v) for v in value]
    return value


class Conversation:
    def __init__(
        self,
        conversation_id: str,
        conversation_url: str,
        spec: CreateSpec,
        *,
        on_timeout: Callable[[Conversation, str], None],
        speech_s: float = 0.0,
    ) -> None:
        self.id = conversation_id
        self.url = conversation_url
        self.spec = spec
        self.status = "ended" if spec.test_mode else "active"
        self.created_at = now_iso()
        self.updated_at = self.created_at
        self.shutdown_reason: str | None = None
        self.meeting_token: str | None = None
        self.deleted = False
        self.events: list[dict[str, Any]] = []
        self.transcript: list[dict[str, Any]] = []
        self.room = Room(conversation_id, spec.max_participants)
        self.room.reserved = 1  # the replica counts against max_participants
        if spec.test_mode:
            self.room.closed = True
        self.replica = Replica(
            self.room,
            conversation_id,
            spec.replica_id,
            transcript=self.transcript,
            context=spec.conversational_context,
            greeting=spec.custom_greeting,
            dynamic_greeting=spec.enable_dynamic_greeting,
            captions=spec.enable_closed_captions,
            speech_s=speech_s,
            audio_only=spec.audio_only,
        )
        if spec.conversational_context:
            self.replica.note("system", spec.conversational_context)
        self.app_messages: collections.deque[float] = collections.deque()  # send-app-message times
        self.recordings: list[dict[str, Any]] = []
        self._recording: tuple[str, float] | None = None
        self._on_timeout = on_timeout
        self._timers: dict[str, asyncio.Task[None]] = {}

    @property
    def active(self) -> bool:
        return self.status == "active"

    def doc(self, *, verbose: bool = False) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "conversation_id": self.id,
            "conversation_name": self.spec.conversation_name or f"Conversation {self.id}",
            "conversation_url": self.url,
            # the page for trying and sharing (not for embedding): the same room, opened by a browser
            "room_url": self.url,
            "status": self.status,
            "callback_url": self.spec.callback_url or "",
            "replica_id": self.spec.replica_id,
            "face_id": self.spec.replica_id,
            "persona_id": self.spec.persona_id,
            "pal_id": self.spec.persona_id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }
        if verbose:
            doc["shutdown_reason"] = self.shutdown_reason
            doc["transcript"] = list(self.transcript)
            doc["events"] = list(self.events)
            doc["properties"] = public(dict(self.spec.properties))
            doc.update({k: public(v) for k, v in self.spec.fields.items()
                        if k not in doc and k not in ("meeting_token",)})
        return doc

    # --- timers -----------------------------------------------------------------------------
    def arm(self, name: str, seconds: float, reason: str) -> None:
        self.disarm(name)
        self._timers[name] = asyncio.create_task(self._fire(seconds, reason))

    def disarm(self, name: str) -> None:
        task = self._timers.pop(name, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _fire(self, seconds: float, reason: str) -> None:
        await asyncio.sleep(seconds)
        if self.active:
            self._on_timeout(self, reason)

    # --- room life --------------------------------------------------------------------------
    def joined(self, member: Member) -> None:
        if member.participant is None:
            return
        self.disarm("participant_absent_timeout")
        self.disarm("participant_left_timeout")
        self.replica.greet()

    def left(self, member: Member) -> None:
        if member.participant is not None and self.active and not self.room.visitors:
            self.arm("participant_left_timeout", self.spec.participant_left_timeout, REASON_LEFT)

    def client_message(self, member: Member, message: dict[str, Any]) -> None:
        """A message from a room client (the socket protocol's client->server actions)."""
        action = message.get("action")
        if action == "app-message":
            data = message.get("data")
            self.room.broadcast({"action": "app-message", "data": data, "fromId": member.id}, skip=member)
            self.replica.handle(data, member.id)
        elif action == "say" and isinstance(message.get("text"), str):
            self.replica.hear(message["text"], from_id=member.id)
        elif action == "update-participant":
            audio, video = message.get("audio"), message.get("video")
            self.room.update(
                member,
                audio=audio if isinstance(audio, bool) else None,
                video=video if isinstance(video, bool) else None,
            )
        elif action in ("start-recording", "stop-recording"):
            self._record(member, start=action == "start-recording")
        elif action == "ping":   # the page measures its connection (daily-js measures its own)
            member.push({"action": "pong", "id": message.get("id")})
        else:
            member.push({"action": "nonfatal-error", "type": "unknown-action",
                         "errorMsg": f"unknown action: {action!r}"})

    def _record(self, member: Member, *, start: bool) -> None:
        if not self.spec.enable_recording:
            member.push({"action": "nonfatal-error", "type": "recording-not-allowed",
                         "errorMsg": "Recording is not enabled for this conversation"})
        elif start and self._recording is None:
            recording_id = str(uuid.uuid4())
            self._recording = (recording_id, time.monotonic())
            self.room.broadcast({"action": "recording-started", "recordingId": recording_id,
                                 "startedBy": member.id, "type": "cloud"})
        elif not start and self._recording is not None:
            self.stop_recording()

    def stop_recording(self) -> None:
        if self._recording is None:
            return
        recording_id, started = self._recording
        self._recording = None
        duration = max(1, round(time.monotonic() - started))
        self.recordings.append({"recording_id": recording_id, "duration": duration})
        self.room.broadcast({"action": "recording-stopped", "recordingId": recording_id})

    def finish(self, reason: str) -> None:
        """Mark ended and empty the room; callbacks are the core's business."""
        self.status = "ended"
        self.shutdown_reason = reason
        self.updated_at = now_iso()
        for name in list(self._timers):
            self.disarm(name)
        self.replica.stop()
        self.stop_recording()
        self.room.close("ejected" if reason == REASON_DELETED else "ended")
