"""Creating, reading and ending conversations under the operator's rules.

    service = Conversations(settings, store, engine, signer, metrics)
    created = await service.create(widget, overrides, origin="https://www.example.com",
                                   client_ip="203.0.113.9", browser=True)
    await service.end(created["conversation_id"], reason="visitor_ended")

Views call this; it calls the store and the engine. Every refusal is a
:class:`Problem`, every engine failure becomes one through ``engine_problem``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from widget_server.engines.base import CreateRequest, Engine
from widget_server.errors import EngineError, FieldError, Problem, engine_problem, invalid
from widget_server.metrics import Metrics
from widget_server.settings import OVERRIDABLE, Settings, WidgetSettings
from widget_server.store import ConversationRecord, Store
from widget_server.tokens import Signer, new_id
from widget_server.webhooks import Webhooks

SLOT_GRACE_S = 120
BUSY_RETRY_S = 15
# The engine may have created the conversation though we never read its answer.
AMBIGUOUS = ("timeout", "connection", "protocol")


_last_iso: tuple[int, str] = (-1, "")


def iso(ts: float | None) -> str | None:
    global _last_iso
    if ts is None:
        return None
    second = int(ts)
    if second != _last_iso[0]:  # most calls in a busy second ask for the same text
        _last_iso = (second, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second)))
    return _last_iso[1]


def parse_overrides(widget: WidgetSettings, body: Any) -> dict[str, str]:
    """The per-visitor fields a page may set; 403 for a field the widget does not allow."""
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise invalid([FieldError("body", "must be a JSON object")])
    errors: list[FieldError] = []
    refused: list[FieldError] = []
    out: dict[str, str] = {}
    for key, value in body.items():
        if key not in OVERRIDABLE:
            errors.append(FieldError(key, "unknown field; allowed: " + ", ".join(OVERRIDABLE)))
        elif key not in widget.overrides.allow:
            refused.append(FieldError(key, f"widget {widget.id} does not allow overriding {key}"))
        elif not isinstance(value, str):
            errors.append(FieldError(key, "must be a string"))
        elif len(value) > widget.overrides.max_chars:
            errors.append(FieldError(key, f"must be at most {widget.overrides.max_chars} characters"))
        elif key == "language" and not _language_ok(value):
            errors.append(FieldError(key, 'must be a lower-case language name like "english" or "multilingual"'))
        elif key == "user_name" and len(value) > 64:
            errors.append(FieldError(key, "must be at most 64 characters"))
        elif value.strip():
            out[key] = value.strip()
    if errors:
        raise invalid(errors)
    if refused:
        raise Problem(403, "Override not allowed", refused[0].message, kind="override-not-allowed",
                      errors=refused)
    return out


def _language_ok(value: str) -> bool:
    return 0 < len(value) <= 40 and value.replace(" ", "").replace("-", "").isalpha() and value.islower()


class Conversations:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        engine: Engine,
        signer: Signer,
        metrics: Metrics,
        clock: Callable[[], float] = time.time,
        webhooks: Webhooks | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.engine = engine
        self.signer = signer
        self.metrics = metrics
        self.clock = clock
        self.webhooks = webhooks or Webhooks(settings.webhooks, store, clock, metrics)

    def _engine_problem(self, err: EngineError) -> Problem:
        return engine_problem(err, self.settings.secrets())

    async def _check_limits(self, widget: WidgetSettings, client_ip: str, browser: bool, now: float) -> None:
        limits = widget.limits
        if browser and limits.per_ip_per_hour and client_ip:
            wait = await self.store.hit(f"ip:{widget.id}:{client_ip}", 3600, limits.per_ip_per_hour, now)
            if wait:
                self.metrics.refused.labels(widget.id, "rate-limited").inc()
                raise Problem(429, "Too many conversations from this address",
                              f"at most {limits.per_ip_per_hour} per hour", kind="rate-limited",
                              retry_after=wait)
        if limits.minutes_per_day:
            day_start = now - (now % 86400)
            used = await self.store.seconds_used(widget.id, day_start, now)
            if used >= limits.minutes_per_day * 60:
                self.metrics.refused.labels(widget.id, "budget-spent").inc()
                raise Problem(429, "Daily budget spent",
                              f"widget {widget.id} has used its {limits.minutes_per_day} minutes for today",
                              kind="budget-spent", retry_after=int(day_start + 86400 - now) + 1)

    async def create(
        self,
        widget: WidgetSettings,
        overrides: dict[str, str],
        *,
        origin: str,
        client_ip: str,
        browser: bool,
    ) -> dict[str, Any]:
        now = self.clock()
        await self._check_limits(widget, client_ip, browser, now)
        local_id = new_id("l_")
        expires_at = now + widget.max_call_duration
        lease = expires_at + widget.participant_absent_timeout + SLOT_GRACE_S
        if not await self.store.acquire_slot(widget.id, widget.limits.max_concurrent, local_id, lease, now):
            self.metrics.refused.labels(widget.id, "busy").inc()
            raise Problem(503, "All conversation slots are busy",
                          f"widget {widget.id} has {widget.limits.max_concurrent} conversations running",
                          kind="busy", retry_after=BUSY_RETRY_S)
        # A browser's conversation is watched from the start: the frame page must heartbeat.
        record = ConversationRecord(
            local_id=local_id, widget=widget.id, status="creating", created_at=now, expires_at=expires_at,
            origin=origin, client_ip=client_ip, last_seen=now if browser else None,
        )
        await self.store.insert(record)
        request = self.build_request(widget, overrides, local_id)
        started = time.perf_counter()
        try:
            conv = await self.engine.create(request)
        except EngineError as err:
            self.metrics.engine_errors.labels("create", err.kind).inc()
            if err.kind in AMBIGUOUS:
                await self.store.mark_lost(local_id)  # the reconciler settles it, the slot stays taken
            else:
                await self.store.finish(local_id, "failed", f"engine_{err.kind}", self.clock())
            raise self._engine_problem(err) from None
        finally:
            self.metrics.engine_seconds.labels("create").observe(time.perf_counter() - started)
        record.conversation_id = conv.conversation_id
        event = self.webhooks.event("conversation.created", record, created_at=iso(now),
                                    expires_at=iso(expires_at), origin=origin)
        if not await self.store.activate(local_id, conv.conversation_id, conv.conversation_url, event):
            # Settled meanwhile (the reconciler took this slow create for lost): it is no one's now.
            await self._end_at_engine(conv.conversation_id)
            raise self._engine_problem(EngineError("timeout", "the engine answered too late; the "
                                                              "conversation was ended"))
        self.webhooks.wake()
        self.metrics.created.labels(widget.id).inc()
        result: dict[str, Any] = {
            "conversation_id": conv.conversation_id,
            "conversation_url": conv.conversation_url,
        }
        if conv.meeting_token:
            result["meeting_token"] = conv.meeting_token
            result["join_url"] = f"{conv.conversation_url}?t={conv.meeting_token}"
        else:
            result["join_url"] = conv.conversation_url
        result.update({
            "status": conv.status,
            "expires_at": iso(expires_at),
            "end_token": self.signer.end_token(conv.conversation_id),
        })
        if "user_name" in overrides:
            result["user_name"] = overrides["user_name"]
        return result

    def build_request(self, widget: WidgetSettings, overrides: dict[str, str], local_id: str) -> CreateRequest:
        props: dict[str, Any] = {
            "max_call_duration": widget.max_call_duration,
            "participant_left_timeout": widget.participant_left_timeout,
            "participant_absent_timeout": widget.participant_absent_timeout,
            "enable_closed_captions": widget.enable_closed_captions,
            "apply_greenscreen": widget.apply_greenscreen,
            "language": overrides.get("language", widget.language),
        }
        if widget.enable_recording:
            props["enable_recording"] = True
            props["recording_s3_bucket_name"] = widget.recording.s3_bucket
            props["recording_s3_bucket_region"] = widget.recording.s3_region
            props["aws_assume_role_arn"] = widget.recording.role_arn
        return CreateRequest(
            replica_id=widget.replica_id or None,
            persona_id=widget.persona_id or None,
            conversation_name=widget.conversation_name or f"widget {widget.id}",
            conversational_context=overrides.get("conversational_context", widget.conversational_context) or None,
            custom_greeting=overrides.get("custom_greeting", widget.custom_greeting) or None,
            callback_url=f"{self.settings.server.public_url}/hooks/engine/{self.signer.callback_ref(local_id)}",
            audio_only=widget.audio_only,
            require_auth=widget.private,
            max_participants=widget.max_participants,
            properties=props,
        )

    async def get(self, conversation_id: str) -> ConversationRecord:
        record = await self.store.by_conversation(conversation_id)
        if record is None:
            raise Problem(404, "Unknown conversation", "no conversation with this id", kind="not-found")
        return record

    def describe(self, record: ConversationRecord) -> dict[str, Any]:
        now = self.clock()
        return {
            "conversation_id": record.conversation_id,
            "widget": record.widget,
            "status": "active" if record.live else "ended",
            "created_at": iso(record.created_at),
            "started_at": iso(record.started_at),
            "expires_at": iso(record.expires_at),
            "ended_at": iso(record.ended_at),
            "end_reason": record.end_reason,
            "seconds_live": round(record.seconds_live(now), 3),
        }

    async def end(self, conversation_id: str, reason: str) -> dict[str, Any]:
        record = await self.get(conversation_id)
        if record.live:
            await self.end_record(record, reason)
            record = await self.get(conversation_id)
        return self.describe(record)

    async def _end_at_engine(self, conversation_id: str) -> None:
        try:
            await self.engine.end(conversation_id)
        except EngineError as err:
            if err.kind != "not_found":
                self.metrics.engine_errors.labels("end", err.kind).inc()
                raise self._engine_problem(err) from None

    async def end_record(self, record: ConversationRecord, reason: str) -> bool:
        """End at the engine, then in the store (freeing the slot); True if this call ended it."""
        if record.conversation_id:
            await self._end_at_engine(record.conversation_id)
        return await self.close_record(record, reason)

    async def close_record(self, record: ConversationRecord, reason: str, status: str = "ended") -> bool:
        """Mark ended in the store (the engine already ended it), with its webhook, exactly once."""
        now = self.clock()
        event = None
        if status == "ended":
            event = self.webhooks.event("conversation.ended", record, reason=reason, ended_at=iso(now),
                                        duration_s=round(record.seconds_live(now), 3))
        if not await self.store.finish(record.local_id, status, reason, now, event):
            return False
        self.webhooks.wake()
        self.metrics.ended.labels(record.widget, _reason_label(reason)).inc()
        return True

    async def heartbeat(self, conversation_id: str) -> ConversationRecord:
        """The visitor is still there; raises 410 once the conversation has ended."""
        record = await self.get(conversation_id)
        if not record.live or not await self.store.touch(record.local_id, self.clock()):
            raise Problem(410, "Conversation ended", f"ended: {record.end_reason or 'ended'}",
                          kind="conversation-ended")
        return record

    async def on_engine_event(self, local_id: str, event: dict[str, Any]) -> bool:
        """Apply one engine callback; False when the ref names nothing we know."""
        record = await self.store.by_local(local_id)
        if record is None:
            return False
        kind = event.get("event_type")
        raw_props = event.get("properties")
        props: dict[str, Any] = raw_props if isinstance(raw_props, dict) else {}
        if record.conversation_id is None and isinstance(event.get("conversation_id"), str):
            record.conversation_id = event["conversation_id"]
        now = self.clock()
        if kind == "system.replica_joined":
            started = self.webhooks.event("conversation.started", record, started_at=iso(now))
            if await self.store.mark_started(local_id, now, started):
                self.webhooks.wake()
        elif kind == "system.shutdown":
            reason = str(props.get("shutdown_reason") or "engine_shutdown")[:200]
            if record.status == "lost" and record.conversation_id:
                # the answer was lost but the engine tells us about it: record it against its id
                ended = self.webhooks.event("conversation.ended", record, reason=reason, ended_at=iso(now),
                                            duration_s=round(record.seconds_live(now), 3))
                await self.store.adopt(local_id, record.conversation_id, reason, now, ended)
            else:
                await self.close_record(record, reason)
        elif kind == "application.transcription_ready":
            transcript = props.get("transcript")
            await self.webhooks.emit("transcript.ready", record,
                                     transcript=transcript if isinstance(transcript, list) else [])
        elif kind == "application.recording_ready":
            await self.webhooks.emit("recording.ready", record, **{
                k: props[k] for k in ("bucket_name", "s3_key", "duration") if k in props})
        return True


def _reason_label(reason: str) -> str:
    known = ("max_call_duration", "participant_left_timeout", "participant_absent_timeout",
             "end_conversation_endpoint_hit", "visitor_", "operator_ended", "heartbeat_timeout",
             "expired_backstop", "reconciled", "create_abandoned")
    for name in known:
        if reason.startswith(name):
            return name.rstrip("_") if name != "visitor_" else reason[:40]
    return "other"
