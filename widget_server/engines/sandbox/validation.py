"""The upstream create body, checked as the upstream checks it.

    spec = validate_create({"replica_id": "r1", "properties": {"language": "english"}})
    validate_create({"max_participants": 1})   # raises SandboxError(400, {"error": ...})
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

LANGUAGES = frozenset({
    "arabic", "bulgarian", "chinese", "croatian", "czech", "danish", "dutch", "english", "filipino",
    "finnish", "french", "german", "greek", "hindi", "hungarian", "indonesian", "italian", "japanese",
    "korean", "malay", "norwegian", "polish", "portuguese", "romanian", "russian", "slovak", "spanish",
    "swedish", "tamil", "turkish", "ukrainian", "vietnamese", "multilingual",
    # the rest of the 42 of the language-support page (read 2026-12)
    "tagalog", "bengali", "thai", "hebrew", "georgian", "telugu", "gujarati", "kannada", "malayalam",
    "marathi", "punjabi",
})
RETRIEVAL_STRATEGIES = ("speed", "quality", "balanced")
STORAGE_PROVIDERS = ("s3", "gcs", "azure")
# Fields that would send the replica somewhere else than the sandbox's own rooms.
ELSEWHERE = ("meeting_url",)
ELSEWHERE_PROPS = ("daily_room", "livekit_ws_url", "livekit_room_token", "livekit_url")

_STR_FIELDS = ("conversation_name", "conversational_context", "custom_greeting", "callback_url")
_BOOL_FIELDS = ("audio_only", "test_mode", "require_auth", "enable_dynamic_greeting")
_LIST_FIELDS = ("memory_stores", "document_ids", "document_tags")
_PROP_BOOLS = ("enable_recording", "enable_closed_captions", "apply_greenscreen")
_PROP_STRS = ("recording_s3_bucket_name", "recording_s3_bucket_region", "aws_assume_role_arn")
# name -> (minimum, maximum, default)
_PROP_INTS: dict[str, tuple[int, int, int]] = {
    "max_call_duration": (1, 3600, 3600),
    "participant_left_timeout": (0, 3600, 0),
    "participant_absent_timeout": (1, 3600, 300),
}


class SandboxError(Exception):
    """An answer the upstream gives instead of a result: HTTP status and JSON body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"{status} {body}")
        self.status = status
        self.body = body


def bad(message: str) -> SandboxError:
    return SandboxError(400, {"error": message})


@dataclass(frozen=True)
class CreateSpec:
    replica_id: str
    persona_id: str | None = None
    conversation_name: str | None = None
    conversational_context: str | None = None
    custom_greeting: str | None = None
    callback_url: str | None = None
    audio_only: bool = False
    test_mode: bool = False
    require_auth: bool = False
    max_participants: int | None = None
    max_call_duration: int = 3600
    participant_left_timeout: int = 0
    participant_absent_timeout: int = 300
    enable_recording: bool = False
    enable_closed_captions: bool = False
    language: str = "english"
    enable_dynamic_greeting: bool = False
    recording_storage: dict[str, str] | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)


def validate_create(body: Any) -> CreateSpec:
    if not isinstance(body, dict):
        raise bad("Request body must be a JSON object")
    body = dict(body)
    for key in ELSEWHERE:
        if body.get(key) is not None:
            raise bad(f"{key} is not supported by the sandbox: its replica joins only the sandbox's own rooms")
    # newer names for the same things
    for new, old in (("face_id", "replica_id"), ("pal_id", "persona_id")):
        if new in body and body.get(old) is None:
            body[old] = body.pop(new)
        elif new in body and body[new] != body[old]:
            raise bad(f"{new} and {old} name the same thing; send one of them")
        else:
            body.pop(new, None)
    for key in ("replica_id", "persona_id", *_STR_FIELDS):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise bad(f"{key} must be a string")
    for key in _BOOL_FIELDS:
        if body.get(key) is not None and not isinstance(body[key], bool):
            raise bad(f"{key} must be a boolean")
    for key in _LIST_FIELDS:
        value = body.get(key)
        if value is not None and (
            not isinstance(value, list) or not all(isinstance(v, str) for v in value)
        ):
            raise bad(f"{key} must be an array of strings")
    strategy = body.get("document_retrieval_strategy")
    if strategy is not None and strategy not in RETRIEVAL_STRATEGIES:
        raise bad("document_retrieval_strategy must be one of: speed, quality, balanced")
    replica_id, persona_id = body.get("replica_id") or None, body.get("persona_id") or None
    if replica_id is None and persona_id is None:
        raise bad("replica_id is required when no persona_id with a default replica is given")
    max_participants = body.get("max_participants")
    if max_participants is not None and (not _is_int(max_participants) or max_participants < 2):
        raise bad("max_participants must be an integer >= 2")
    callback_url = body.get("callback_url") or None
    if callback_url is not None:
        parts = urlsplit(callback_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise bad("callback_url must be a valid http(s) URL")
    props = _properties(body.get("properties"))
    storage = _storage(body.get("recording_storage"))
    return CreateSpec(
        replica_id=replica_id or f"r{(persona_id or '')[:12]}default",
        persona_id=persona_id,
        conversation_name=body.get("conversation_name") or None,
        conversational_context=body.get("conversational_context") or None,
        custom_greeting=body.get("custom_greeting") or None,
        callback_url=callback_url,
        audio_only=bool(body.get("audio_only")),
        test_mode=bool(body.get("test_mode")),
        require_auth=bool(body.get("require_auth")),
        max_participants=max_participants,
        max_call_duration=props["max_call_duration"],
        participant_left_timeout=props["participant_left_timeout"],
        participant_absent_timeout=props["participant_absent_timeout"],
        enable_recording=bool(props.get("enable_recording")),
        enable_closed_captions=bool(props.get("enable_closed_captions")),
        language=props.get("language") or "english",
        enable_dynamic_greeting=bool(body.get("enable_dynamic_greeting")),
        recording_storage=storage,
        fields={k: v for k, v in body.items() if k != "properties"},
        properties=props,
    )


def _properties(raw: Any) -> dict[str, Any]:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise bad("properties must be an object")
    props = dict(raw)
    for key in ELSEWHERE_PROPS:
        if props.get(key) is not None:
            raise bad(f"properties.{key} is not supported by the sandbox: "
                      "its replica joins only the sandbox's own rooms")
    for key, (low, high, default) in _PROP_INTS.items():
        value = props.get(key)
        if value is None:
            props[key] = default
        elif not _is_int(value) or not low <= value <= high:
            raise bad(f"properties.{key} must be an integer between {low} and {high}")
    for key in _PROP_BOOLS:
        if props.get(key) is not None and not isinstance(props[key], bool):
            raise bad(f"properties.{key} must be a boolean")
    for key in _PROP_STRS:
        if props.get(key) is not None and not isinstance(props[key], str):
            raise bad(f"properties.{key} must be a string")
    language = props.get("language")
    # Full names, in any case ("english", "English"); kept lower-case. Codes ("en") are refused.
    if language is not None and (not isinstance(language, str) or language.lower() not in LANGUAGES):
        raise bad("properties.language must be a full language name (e.g. 'english') or 'multilingual'")
    if isinstance(language, str):
        props["language"] = language.lower()
    return props


def _storage(raw: Any) -> dict[str, str] | None:
    """``recording_storage``: where recordings go (S3, GCS or Azure through federated identity)."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise bad("recording_storage must be an object")
    provider = raw.get("storage_provider")
    if provider not in STORAGE_PROVIDERS:
        raise bad("recording_storage.storage_provider must be one of: " + ", ".join(STORAGE_PROVIDERS))
    uri = raw.get("storage_uri")
    if not isinstance(uri, str) or "://" not in uri:
        raise bad("recording_storage.storage_uri must be a URI like s3://bucket/prefix")
    for key, value in raw.items():
        if not isinstance(value, str):
            raise bad(f"recording_storage.{key} must be a string")
    return {k: str(v) for k, v in raw.items()}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
