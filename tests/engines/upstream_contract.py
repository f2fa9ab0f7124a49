"""The upstream conversation API as documented (shared/spec/upstream-tavus.md), as test data: the one place.

Both sides are checked against it: the Tavus stand-in (tests/engines/tavus_standin.py) answers with
these shapes and the Tavus client is tested against it; the sandbox (``widget-server sandbox``) is
tested against the same shapes over HTTP (tests/engines/test_fidelity.py).
"""

from __future__ import annotations

from typing import Any

# --- errors, exactly as documented -----------------------------------------------------------------
INVALID_TOKEN = {"message": "Invalid access token"}  # 401, for a missing or wrong x-api-key
INVALID_ID = {"error": "Invalid conversation_id"}  # 400, an id the engine does not know
CONCURRENCY = {"message": "User has reached maximum concurrent conversations"}  # 400
NOT_ACTIVE = {"error": "App messages can only be sent to active conversations."}  # send-app-message
ROOM_GONE = {"error": "The conversation's room is no longer available."}
TOO_MANY = {"error": "Too many requests"}  # 429: 120 send-app-message requests per 60 s
APP_MESSAGE_MAX_BYTES = 65_536
APP_MESSAGE_LIMIT = (120, 60)

# --- create ----------------------------------------------------------------------------------------
CREATE_REQUEST: dict[str, Any] = {
    "replica_id": "r79e1c033f",
    "persona_id": "p5317866",
    "conversation_name": "Website support",
    "conversational_context": "The visitor is on our pricing page.",
    "custom_greeting": "Hello! How can I help?",
    "callback_url": "https://widgets.example.com/hooks/engine/ref",
    "require_auth": True,
    "max_participants": 2,
    "properties": {
        "max_call_duration": 600,
        "participant_left_timeout": 10,
        "participant_absent_timeout": 120,
        "enable_closed_captions": True,
        "apply_greenscreen": True,
        "language": "english",
    },
}
# Always in the create answer; ``meeting_token`` only when require_auth; ``room_url`` beside the
# conversation_url unless the replica goes to an outside meeting (meeting_url, LiveKit).
CREATE_ANSWER_KEYS = {"conversation_id", "conversation_name", "conversation_url", "status", "callback_url",
                      "created_at"}
PRIVATE_ANSWER_KEYS = {"meeting_token"}
HOSTED_PAGE_KEYS = {"room_url"}
# ``room_url`` is absent when the replica joins somewhere else: these fields send it there.
OUTSIDE_MEETING_FIELDS = ("meeting_url",)
OUTSIDE_MEETING_PROPERTIES = ("daily_room", "livekit_ws_url", "livekit_room_token")
# The new names (PALs and Faces) beside the old ones, in requests and answers.
NEW_NAMES = {"persona_id": "pal_id", "replica_id": "face_id"}
# Fields that send the replica somewhere else: a stand-in that cannot go there must say so (400).
ELSEWHERE = [
    ({"meeting_url": "https://meet.example.com/abc"}, "meeting_url"),
    ({"properties": {"daily_room": {"url": "https://x.daily.co/r"}}}, "properties.daily_room"),
    ({"properties": {"livekit_ws_url": "wss://lk.example.com"}}, "properties.livekit_ws_url"),
    ({"properties": {"livekit_room_token": "tok"}}, "properties.livekit_room_token"),
]

# --- read --------------------------------------------------------------------------------------
LIST_KEYS = {"data", "total_count"}
VERBOSE_KEYS = {"shutdown_reason", "transcript", "events"}
TRANSCRIPT_ENTRY_KEYS = {"role", "content", "timestamp", "seconds_from_start", "duration"}
TRANSCRIPT_ROLES = {"system", "user", "assistant", "tool"}
READ_ENDPOINTS = ["/v2/pals", "/v2/personas", "/v2/faces", "/v2/replicas"]

# --- server-side interactions --------------------------------------------------------------------
APP_MESSAGE = {"message_type": "conversation", "event_type": "conversation.respond",
               "properties": {"text": "What are your prices?"}}
ACTED_ON = ("conversation.respond", "conversation.echo", "conversation.interrupt",
            "conversation.overwrite_llm_context", "conversation.append_llm_context",
            "conversation.sensitivity", "conversation.set_emotion", "conversation.tool_result")

# --- callbacks ---------------------------------------------------------------------------------
CALLBACK_KEYS = {"conversation_id", "event_type", "message_type", "timestamp", "webhook_url", "properties"}
RECORDING_READY_KEYS = {"bucket_name", "s3_key", "duration"}
RECORDING_STORAGE_KEYS = {"storage_provider", "storage_uri"}
