"""What the server sees in a room, and the events it publishes from it.

    RoomEvent("app-message", {"data": {...}, "from": "p1"})  ->  translate(...)
    [("utterance", {"role": "replica", "text": "Hello"})]

``RoomEvent`` (what a seat saw) is defined with the seats, in ``engines/rooms.py``.
Event types: ``utterance``, ``tool_call``, ``speaking``, ``replica_joined``,
``ended``, and ``protocol`` for any other interactions-protocol message (raw).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from widget_server.engines.rooms import RoomEvent

REPLICA_MARK = "tavus-replica"
_SPEAKING = {
    "conversation.started_speaking": (None, "started"),
    "conversation.stopped_speaking": (None, "stopped"),
    "conversation.replica.started_speaking": ("replica", "started"),
    "conversation.replica.stopped_speaking": ("replica", "stopped"),
    "conversation.user.started_speaking": ("user", "started"),
    "conversation.user.stopped_speaking": ("user", "stopped"),
}


@dataclass(frozen=True)
class Event:
    seq: int
    type: str
    conversation_id: str
    at: str
    data: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "type": self.type, "conversation_id": self.conversation_id,
                "at": self.at, "data": self.data}

    def dumps(self) -> str:
        return json.dumps(self.to_json(), separators=(",", ":"))


def is_replica(participant: dict[str, Any]) -> bool:
    return REPLICA_MARK in str(participant.get("user_id") or "")


def parse_arguments(raw: Any) -> Any:
    """A tool call's ``arguments`` as sent (a JSON string) made into a value; the raw text if not JSON."""
    if not isinstance(raw, str):
        return raw if raw is not None else {}
    try:
        return json.loads(raw)
    except ValueError:
        return {"_raw": raw}


def translate(event: RoomEvent) -> list[tuple[str, dict[str, Any]]]:
    """The events (type, data) a room event makes; ``left`` is handled by the hub (it needs the reason)."""
    if event.kind == "participant-joined":
        participant = event.data.get("participant")
        if isinstance(participant, dict) and is_replica(participant):
            return [("replica_joined", {"participant_id": participant.get("session_id"),
                                        "user_id": participant.get("user_id")})]
        return []
    if event.kind != "app-message":
        return []
    message = event.data.get("data")
    if not isinstance(message, dict):
        return [("protocol", {"message": message})]
    kind = message.get("event_type")
    props = message.get("properties")
    props = props if isinstance(props, dict) else {}
    if message.get("message_type") == "conversation":
        if kind == "conversation.utterance":
            return [("utterance", {"role": props.get("role"), "text": props.get("speech")})]
        if kind == "conversation.tool_call":
            return [("tool_call", {"name": props.get("name"),
                                   "arguments": parse_arguments(props.get("arguments"))})]
        if isinstance(kind, str) and kind in _SPEAKING:
            role, state = _SPEAKING[kind]
            return [("speaking", {"role": role or props.get("role"), "state": state})]
    return [("protocol", message)]
