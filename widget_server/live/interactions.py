"""The interactions-protocol messages a back end may send into a room, validated by shape.

    message = validate(body, "c123")    # raises a 422 Problem naming the field
    # {"message_type": "conversation", "event_type": ..., "conversation_id": "c123", "properties": {...}}
"""

from __future__ import annotations

from typing import Any

from widget_server.errors import FieldError, invalid

MAX_TEXT = 4000
MAX_CONTEXT = 32000
SENSITIVITY = ("low", "medium", "high")
EVENT_TYPES = (
    "conversation.respond",
    "conversation.echo",
    "conversation.interrupt",
    "conversation.overwrite_llm_context",
    "conversation.append_llm_context",
    "conversation.sensitivity",
    "conversation.set_emotion",
    "conversation.tool_result",
)
# The faces' emotions as the reference lists them (and LiveKit's Tavus plugin sends them).
EMOTIONS = ("neutral", "happiness", "sadness", "anger", "fear", "surprise", "disgust", "contempt")
MAX_RESULT = 16000


def _text(props: dict[str, Any], key: str, limit: int, errors: list[FieldError]) -> None:
    value = props.get(key)
    if not isinstance(value, str) or not value.strip():
        errors.append(FieldError(f"properties.{key}", "must be a non-empty string"))
    elif len(value) > limit:
        errors.append(FieldError(f"properties.{key}", f"must be at most {limit} characters"))


def _unknown(props: dict[str, Any], allowed: tuple[str, ...], errors: list[FieldError]) -> None:
    for key in props:
        if key not in allowed:
            hint = ", ".join(allowed) if allowed else "none"
            errors.append(FieldError(f"properties.{key}", f"unknown field; allowed: {hint}"))


def _echo(props: dict[str, Any], errors: list[FieldError]) -> None:
    modality = props.get("modality", "text")
    _unknown(props, ("modality", "text", "audio", "sample_rate", "inference_id", "done"), errors)
    if modality == "text":
        _text(props, "text", MAX_TEXT, errors)
    elif modality == "audio":
        if not isinstance(props.get("audio"), str) or not props["audio"]:
            errors.append(FieldError("properties.audio", "must be base64 audio (a non-empty string)"))
        rate = props.get("sample_rate")
        if rate is not None and (not isinstance(rate, int) or isinstance(rate, bool) or rate <= 0):
            errors.append(FieldError("properties.sample_rate", "must be a positive integer"))
    else:
        errors.append(FieldError("properties.modality", 'must be "text" or "audio"'))
    if "inference_id" in props and not isinstance(props["inference_id"], str):
        errors.append(FieldError("properties.inference_id", "must be a string"))
    if "done" in props and not isinstance(props["done"], bool):
        errors.append(FieldError("properties.done", "must be a boolean"))


def _properties(event_type: str, props: dict[str, Any], errors: list[FieldError]) -> None:
    if event_type == "conversation.respond":
        _unknown(props, ("text",), errors)
        _text(props, "text", MAX_TEXT, errors)
    elif event_type == "conversation.echo":
        _echo(props, errors)
    elif event_type == "conversation.interrupt":
        _unknown(props, (), errors)
    elif event_type in ("conversation.overwrite_llm_context", "conversation.append_llm_context"):
        _unknown(props, ("context",), errors)
        _text(props, "context", MAX_CONTEXT, errors)
    elif event_type == "conversation.sensitivity":
        keys = ("participant_pause_sensitivity", "participant_interrupt_sensitivity")
        _unknown(props, keys, errors)
        if not any(k in props for k in keys):
            errors.append(FieldError("properties", "must set " + " and/or ".join(keys)))
        for key in keys:
            if key in props and props[key] not in SENSITIVITY:
                errors.append(FieldError(f"properties.{key}", "must be one of " + ", ".join(SENSITIVITY)))
    elif event_type == "conversation.set_emotion":
        _unknown(props, ("emotion",), errors)
        if props.get("emotion") not in EMOTIONS:
            errors.append(FieldError("properties.emotion", "must be one of " + ", ".join(EMOTIONS)))
    elif event_type == "conversation.tool_result":
        _tool_result(props, errors)


def _tool_result(props: dict[str, Any], errors: list[FieldError]) -> None:
    """The answer to a ``conversation.tool_call``: ``result`` (text or JSON), and what it answers."""
    _unknown(props, ("result", "name", "tool_call_id", "inference_id"), errors)
    if "result" not in props or props["result"] is None:
        errors.append(FieldError("properties.result", "must be the tool's answer (a string or JSON value)"))
    elif len(props["result"] if isinstance(props["result"], str) else repr(props["result"])) > MAX_RESULT:
        errors.append(FieldError("properties.result", f"must be at most {MAX_RESULT} characters"))
    for key in ("name", "tool_call_id", "inference_id"):
        if key in props and not isinstance(props[key], str):
            errors.append(FieldError(f"properties.{key}", "must be a string"))


def validate(body: Any, conversation_id: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise invalid([FieldError("body", "must be a JSON object {event_type, properties}")])
    errors: list[FieldError] = []
    for key in body:
        if key not in ("event_type", "properties", "message_type", "conversation_id"):
            errors.append(FieldError(key, "unknown field; allowed: event_type, properties"))
    if "message_type" in body and body["message_type"] != "conversation":
        errors.append(FieldError("message_type", 'must be "conversation" (or left out)'))
    if "conversation_id" in body and body["conversation_id"] != conversation_id:
        errors.append(FieldError("conversation_id", "must match the conversation in the URL (or be left out)"))
    event_type = body.get("event_type")
    if event_type not in EVENT_TYPES:
        errors.append(FieldError("event_type", "must be one of " + ", ".join(EVENT_TYPES)))
    props = body.get("properties", {})
    if not isinstance(props, dict):
        errors.append(FieldError("properties", "must be a JSON object"))
    elif isinstance(event_type, str) and event_type in EVENT_TYPES:
        _properties(event_type, props, errors)
    if errors:
        raise invalid(errors, "Invalid interaction")
    return {"message_type": "conversation", "event_type": event_type,
            "conversation_id": conversation_id, "properties": props}
