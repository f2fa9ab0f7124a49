"""The small interface every conversation engine implements.

    engine = TavusEngine(base_url="https://tavusapi.com", api_key=key, timeout_s=20)
    conv = await engine.create(CreateRequest(replica_id="r1", require_auth=True))
    await engine.end(conv.conversation_id)

Engines raise :class:`widget_server.errors.EngineError` and nothing else on
failure. They know nothing of widgets, views or the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from .rooms import Room, Seat, Sink


@dataclass(frozen=True)
class CreateRequest:
    """One ``POST /v2/conversations`` body, typed."""

    replica_id: str | None = None
    persona_id: str | None = None
    conversation_name: str | None = None
    conversational_context: str | None = None
    custom_greeting: str | None = None
    callback_url: str | None = None
    audio_only: bool = False
    require_auth: bool = True
    max_participants: int | None = None
    test_mode: bool = False
    enable_dynamic_greeting: bool = False
    # ``{storage_provider, storage_uri, <that provider's identity>}``: S3, GCS or Azure (settings/recording.py)
    recording_storage: dict[str, str] | None = None
    # upstream ``properties``: max_call_duration, participant_left_timeout,
    # participant_absent_timeout, enable_recording, recording_s3_bucket_name,
    # recording_s3_bucket_region, aws_assume_role_arn, enable_closed_captions,
    # apply_greenscreen, language
    properties: dict[str, Any] = field(default_factory=dict)

    def to_payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {}
        for key in (
            "replica_id",
            "persona_id",
            "conversation_name",
            "conversational_context",
            "custom_greeting",
            "callback_url",
            "max_participants",
        ):
            value = getattr(self, key)
            if value is not None and value != "":
                body[key] = value
        if self.audio_only:
            body["audio_only"] = True
        if self.test_mode:
            body["test_mode"] = True
        if self.enable_dynamic_greeting:
            body["enable_dynamic_greeting"] = True
        if self.recording_storage:
            body["recording_storage"] = dict(self.recording_storage)
        body["require_auth"] = self.require_auth
        props = {k: v for k, v in self.properties.items() if v is not None and v != ""}
        if props:
            body["properties"] = props
        return body


@dataclass(frozen=True)
class EngineConversation:
    conversation_id: str
    conversation_url: str
    status: str  # "active" | "ended"
    meeting_token: str | None = None
    conversation_name: str | None = None
    callback_url: str | None = None
    created_at: str | None = None
    shutdown_reason: str | None = None
    # From the verbose record: when the engine ended it (its shutdown event, else updated_at once ended),
    # and the transcript it kept.
    ended_at: float | None = None
    transcript: tuple[dict[str, Any], ...] | None = None

    room: Room | None = None  # what the room is (set by create; None for a test_mode conversation)

    def with_room(self, room: Room | None) -> EngineConversation:
        return replace(self, room=room)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> EngineConversation:
        """Read an upstream conversation object; raises KeyError/TypeError on a bad shape."""
        cid = doc["conversation_id"]
        url = doc.get("conversation_url") or ""
        status = doc.get("status") or "active"
        if not isinstance(cid, str) or not isinstance(url, str) or not isinstance(status, str):
            raise TypeError("conversation fields have the wrong types")
        token = doc.get("meeting_token")
        return cls(
            conversation_id=cid,
            conversation_url=url,
            status=status,
            meeting_token=token if isinstance(token, str) and token else None,
            conversation_name=_opt_str(doc.get("conversation_name")),
            callback_url=_opt_str(doc.get("callback_url")),
            created_at=_opt_str(doc.get("created_at")),
            shutdown_reason=_opt_str(doc.get("shutdown_reason")),
            ended_at=_ended_at(doc, status),
            transcript=_transcript(doc.get("transcript")),
        )


def parse_time(value: Any) -> float | None:
    """Unix seconds of an engine timestamp (ISO 8601, "Z" or an offset; naive means UTC), else None."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _ended_at(doc: dict[str, Any], status: str) -> float | None:
    events = doc.get("events")
    if isinstance(events, list):
        for item in events:
            if isinstance(item, dict) and item.get("event_type") == "system.shutdown":
                found = parse_time(item.get("timestamp"))
                if found is not None:
                    return found
    return parse_time(doc.get("updated_at")) if status == "ended" else None


def _transcript(value: Any) -> tuple[dict[str, Any], ...] | None:
    if not isinstance(value, list):
        return None
    return tuple(item for item in value if isinstance(item, dict))


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class ConversationPage:
    data: list[EngineConversation]
    total_count: int


class Engine(Protocol):
    """What the server needs from an engine, rooms included: views and live/ ask only this."""

    kind: str

    def page_sources(self) -> dict[str, tuple[str, ...]]:
        """The CSP sources (directive -> sources) a frame page needs for any room of this engine."""
        ...

    async def room(self, conversation_id: str) -> Room:
        """What a live conversation's room is, asked again (its meeting token is not known then)."""
        ...

    def seat(self, conversation_id: str, room: Room, sink: Sink) -> Seat:
        """The server's seat in ``room``, not yet joined; raises SeatError if it cannot sit there."""
        ...

    async def send_app_message(self, conversation_id: str, message: dict[str, Any]) -> None:
        """An interactions-protocol message to the replica, from the server, with no seat in the room.

        An ended conversation is ``EngineError("ended")``.
        """
        ...

    async def create(self, request: CreateRequest) -> EngineConversation: ...

    async def get(self, conversation_id: str) -> EngineConversation: ...

    async def end(self, conversation_id: str) -> None:
        """End a conversation; ending an ended one is not an error."""
        ...

    async def list(
        self, *, status: str | None = None, limit: int = 100, page: int = 1
    ) -> ConversationPage: ...

    async def aclose(self) -> None: ...
