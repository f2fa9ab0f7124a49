"""Creating, reading and ending conversations under the operator's rules.

    service = Conversations(settings, store, engine, signer, metrics, webhooks, clock, recorder)
    created = await service.create(widget, overrides, origin="https://www.example.com",
                                   client_ip="203.0.113.9", browser=True)
    created.answer["room"]       # {"client": "daily", "prebuilt": True}: the page's room adapter
    await service.end(created.answer["conversation_id"], reason="visitor_ended")

Views call this; it calls the store and the engine. Every refusal is a :class:`Problem`;
an engine failure is raised as the :class:`EngineError` it is (the app's handler answers
502/503/504). Every end, whoever noticed it, is recorded by :meth:`Conversations.note_ended`:
the store row, the ``conversation.ended`` webhook and the metric, once.

Then the history database (through the recorder, which never fails a create or an end: see
history/recorder.py). The end time is the engine's when it tells one (its callback's timestamp, its
record's), else the moment it was noticed.

One log line per create (``create created|refused|failed``, the widget, the engine's milliseconds and the
public conversation id, the engine's, that the report and the webhooks use) and one per end.
A create whose engine call succeeded but whose store write or answer failed is ended at the engine at
once (:meth:`Conversations.abandon`) and recorded when the store answers again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from widget_server.clock import Clock, iso
from widget_server.engines.base import CreateRequest, Engine, parse_time
from widget_server.engines.rooms import Room
from widget_server.errors import EngineError, FieldError, Problem, invalid
from widget_server.health import describe
from widget_server.history.recorder import Recorder
from widget_server.ledger import without_visitor
from widget_server.metrics import Metrics
from widget_server.settings import OVERRIDABLE, Settings, WidgetSettings
from widget_server.store import STORE_ERRORS, ConversationRecord, Store
from widget_server.tokens import BadToken, Signer, new_id
from widget_server.webhooks import Webhooks

SLOT_GRACE_S = 120
BUSY_RETRY_S = 15
# The engine may have created the conversation though we never read its answer.
AMBIGUOUS = ("timeout", "connection", "protocol")

log = logging.getLogger("widget_server.conversations")


@dataclass
class Attempt:
    """What one create got to: filled in as it goes, logged once at its end."""

    widget: str
    engine_ms: float | None = None
    conversation_id: str | None = None


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


def consent_hash(text: str) -> str:
    """What the frame shows is what it hashes: the widget's consent_text, UTF-8, SHA-256 in hex."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def parse_consent(widget: WidgetSettings, value: Any, *, required: bool) -> str | None:
    """The hash of the consent text the visitor ticked; 422 naming ``consent`` when it is missing or stale."""
    if value is None:
        if required and widget.consent_text:
            raise invalid([FieldError("consent", "required: the visitor must accept the widget's consent_text "
                                                 'first; send {"text_sha256": "<hex SHA-256 of the text shown>"}')])
        return None
    if not widget.consent_text:
        raise invalid([FieldError("consent", f"widget {widget.id} asks for no consent")])
    digest = value.get("text_sha256") if isinstance(value, dict) else None
    if not isinstance(digest, str):
        raise invalid([FieldError("consent.text_sha256", "must be the hex SHA-256 of the consent text shown")])
    if digest != consent_hash(widget.consent_text):
        raise invalid([FieldError("consent.text_sha256", "does not match the widget's consent text "
                                                         "(it changed since the page loaded: reload it)")])
    return digest


def parse_rating(value: Any) -> dict[str, Any]:
    """``{"thumbs": "up" | "down", "comment": "..."}``; 422 naming each bad field."""
    if not isinstance(value, dict):
        raise invalid([FieldError("body", 'must be a JSON object like {"thumbs": "up", "comment": "..."}')])
    errors: list[FieldError] = []
    thumbs = value.get("thumbs")
    comment = value.get("comment", "")
    if thumbs not in ("up", "down"):
        errors.append(FieldError("thumbs", 'must be "up" or "down"'))
    if not isinstance(comment, str) or len(comment) > 2000:
        errors.append(FieldError("comment", "must be a string of at most 2000 characters"))
    unknown = [k for k in value if k not in ("thumbs", "comment", "end_token")]
    errors.extend(FieldError(k, "unknown field; allowed: thumbs, comment") for k in unknown)
    if errors:
        raise invalid(errors)
    return {"thumbs": thumbs, "comment": comment.strip()}


def _language_ok(value: str) -> bool:
    return 0 < len(value) <= 40 and value.replace(" ", "").replace("-", "").isalpha() and value.islower()


@dataclass(frozen=True)
class Created:
    """A conversation just created: the caller's answer, and what its room is (for the server's seat)."""

    answer: dict[str, Any]
    room: Room | None


@dataclass(eq=False)
class Conversations:
    settings: Settings
    store: Store
    engine: Engine
    signer: Signer
    metrics: Metrics
    webhooks: Webhooks
    clock: Clock
    recorder: Recorder
    # (local id, engine id, reason) of creates ended at the engine that the store did not take yet
    unrecorded: list[tuple[str, str, str]] = field(default_factory=list)
    _ending: set[str] = field(default_factory=set)  # conversation ids being ended by end_record
    # told the widget's id whenever a slot is freed (the waiting line offers it to its head: line.py)
    on_free: Callable[[str], Awaitable[None]] | None = None

    def lease(self, widget: WidgetSettings, now: float) -> tuple[float, float]:
        """A conversation created now: when it expires, and how long its slot is held at most."""
        expires_at = now + widget.max_call_duration
        return expires_at, expires_at + widget.participant_absent_timeout + SLOT_GRACE_S

    async def _freed(self, widget_id: str) -> None:
        if self.on_free is not None:
            await self.on_free(widget_id)

    def refused(self, widget_id: str, rule: str) -> None:
        """A create refused by ``rule``: the metric, and the history's refusal totals (counted in memory)."""
        self.metrics.refused.labels(widget_id, rule).inc()
        self.recorder.refused(widget_id, rule)

    async def check_limits(self, widget: WidgetSettings, client_ip: str, browser: bool, now: float) -> None:
        limits = widget.limits
        if browser and limits.per_ip_per_hour and client_ip:
            wait = await self.store.hit(f"ip:{widget.id}:{client_ip}", 3600, limits.per_ip_per_hour, now)
            if wait:
                self.refused(widget.id, "rate-limited")
                raise Problem(429, "Too many conversations from this address",
                              f"at most {limits.per_ip_per_hour} per hour", kind="rate-limited",
                              retry_after=wait)
        if limits.minutes_per_day:
            day_start = now - (now % 86400)
            used = await self.store.seconds_used(widget.id, day_start, now)
            if used >= limits.minutes_per_day * 60:
                self.refused(widget.id, "budget-spent")
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
        consent: str | None = None,
        slot: str | None = None,
    ) -> Created:
        """``consent``: the hash of the consent text the visitor accepted (see :func:`parse_consent`).

        ``slot``: the local id a slot is already held for (the waiting line took it, after the limits).
        """
        attempt = Attempt(widget.id)
        try:
            result = await self._create(widget, overrides, attempt, origin=origin, client_ip=client_ip,
                                        browser=browser, consent=consent, slot=slot)
        except Problem as problem:
            log_create(attempt, "refused", reason=problem.kind)
            raise
        except EngineError as err:
            log_create(attempt, "failed", reason=f"engine-{err.kind}".replace("_", "-"))
            raise
        except STORE_ERRORS:
            log_create(attempt, "failed", reason="store-unavailable")
            raise
        log_create(attempt, "created")
        return result

    async def _create(self, widget: WidgetSettings, overrides: dict[str, str], attempt: Attempt, *, origin: str,
                      client_ip: str, browser: bool, consent: str | None = None, slot: str | None = None) -> Created:
        now = self.clock()
        expires_at, lease = self.lease(widget, now)
        if slot is not None:
            local_id = slot
        else:
            await self.check_limits(widget, client_ip, browser, now)
            local_id = new_id("l_")
        # A browser's conversation is watched from the start: the frame page must heartbeat.
        record = ConversationRecord(
            local_id=local_id, widget=widget.id, status="creating", created_at=now, expires_at=expires_at,
            origin=origin, client_ip=client_ip, last_seen=now if browser else None,
        )
        accepted = {"at": iso(now), "text_sha256": consent} if consent else None
        if accepted:
            record.consent = json.dumps(accepted, separators=(",", ":"))
        if slot is not None:
            await self.store.insert(record)
        elif not await self.store.acquire_slot(widget.id, widget.limits.max_concurrent, local_id, lease, now,
                                               record=record):
            self.refused(widget.id, "busy")
            raise Problem(503, "All conversation slots are busy",
                          f"widget {widget.id} has {widget.limits.max_concurrent} conversations running",
                          kind="busy", retry_after=BUSY_RETRY_S)
        request = self.build_request(widget, overrides, local_id)
        started = time.perf_counter()
        try:
            conv = await self.engine.create(request)
        except EngineError as err:
            self.metrics.engine_errors.labels("create", err.kind).inc()
            if err.kind in AMBIGUOUS:
                await self.store.mark_lost(local_id)  # the reconciler settles it, the slot stays taken
            else:
                await self.fail(local_id, f"engine_{err.kind}")
            raise
        finally:
            seconds = time.perf_counter() - started
            attempt.engine_ms = round(seconds * 1000, 1)
            self.metrics.engine_seconds.labels("create").observe(seconds)
        attempt.conversation_id = record.conversation_id = conv.conversation_id
        event = self.webhooks.event("conversation.created", record, created_at=iso(now),
                                    expires_at=iso(expires_at), origin=origin, consent=accepted)
        try:
            activated = await self.store.activate(local_id, conv.conversation_id, conv.conversation_url, event)
        except BaseException:  # the store failed, or this request was cancelled: the engine bills until ended
            await self.abandon(conv.conversation_id, "create_abandoned_store", local_id=local_id)
            raise
        if not activated:
            # Settled meanwhile (the reconciler took this slow create for lost): it is no one's now.
            await self._end_at_engine(conv.conversation_id)
            raise EngineError("timeout", "the engine answered too late; the conversation was ended")
        self.webhooks.wake()
        record.status, record.conversation_url = "active", conv.conversation_url
        self.recorder.created(record)
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
        if conv.room is not None:
            result["room"] = conv.room.page()
        if "user_name" in overrides:
            result["user_name"] = overrides["user_name"]
        return Created(result, conv.room)

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
            enable_dynamic_greeting=widget.enable_dynamic_greeting,
            recording_storage=widget.recording_storage.payload() or None,
            properties=props,
        )

    async def get(self, conversation_id: str) -> ConversationRecord:
        record = await self.store.by_conversation(conversation_id)
        if record is None:  # ended and archived: the live store let it go, history has it
            record = await self.recorder.past(conversation_id)
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
            "consent": _json_or_none(record.consent),
            "rating": _json_or_none(record.rating),
        }

    async def end(self, conversation_id: str, reason: str) -> dict[str, Any]:
        record = await self.get(conversation_id)
        if record.live:
            if await self.end_record(record, reason) and reason == "operator_ended":
                await self.recorder.audit("server_key", "end_conversation", conversation_id, reason=reason)
            record = await self.get(conversation_id)
        return self.describe(record)

    async def abandon(self, conversation_id: str, reason: str, *, local_id: str | None = None) -> None:
        """End at the engine a conversation no visitor will get (its create failed after the engine's
        answer), then record it; what the store cannot take now is recorded by the next sweep."""
        try:
            await self._end_at_engine(conversation_id)
        except EngineError as err:  # the reconciler ends it when it lists the engine's conversations
            log.error("abandoned create %s not ended at the engine: %s", conversation_id, err,
                      extra={"conversation_id": conversation_id})
        else:
            log.warning("abandoned create %s ended at the engine (%s)", conversation_id, reason,
                        extra={"conversation_id": conversation_id, "reason": reason})
        try:
            if local_id is None:
                record = await self.store.by_conversation(conversation_id)
                local_id = record.local_id if record is not None else None
            if local_id is not None:
                self.unrecorded.append((local_id, conversation_id, reason))
            await self.record_abandoned()
        except STORE_ERRORS as exc:
            log.warning("abandoned create %s not recorded yet (the store: %s); the sweep records it",
                        conversation_id, describe(exc), extra={"conversation_id": conversation_id})

    async def record_abandoned(self) -> int:
        """Record the abandoned creates the store could not take when they were ended; how many were.

        Each item is taken off the list before its store calls, so concurrent callers never share one;
        an item the store fails on goes back for the next caller (the sweep).
        """
        done = 0
        while self.unrecorded:
            item = self.unrecorded.pop(0)
            local_id, conversation_id, reason = item
            try:
                record = await self.store.by_local(local_id)
                if record is not None and record.live:
                    if record.status == "active":
                        await self.note_ended(record, reason)
                    else:
                        await self.note_ended(record, reason, found=conversation_id)
                    done += 1
            except BaseException:
                self.unrecorded.append(item)
                raise
        return done

    async def rate(self, widget: WidgetSettings, conversation_id: str, rating: dict[str, Any]) -> dict[str, Any]:
        """The visitor's rating of an ended conversation, once: stored, then the ``conversation.rated`` webhook."""
        record = await self.get(conversation_id)
        if record.widget != widget.id or not widget.collect_rating:
            raise Problem(409, "Rating not collected", f"widget {record.widget} does not collect ratings",
                          kind="rating-not-collected")
        if record.live:
            raise Problem(409, "Conversation still live", "rate a conversation once it has ended",
                          kind="conversation-live")
        stored = {**rating, "at": iso(self.clock())}
        event = self.webhooks.event("conversation.rated", record, rating=stored)
        if not await self.store.rate(record.local_id, json.dumps(stored, separators=(",", ":")), event):
            raise Problem(409, "Already rated", "this conversation has a rating", kind="already-rated")
        self.webhooks.wake()
        return {"conversation_id": conversation_id, "rating": stored}

    async def _end_at_engine(self, conversation_id: str) -> None:
        try:
            await self.metrics.engine("end", self.engine.end(conversation_id))
        except EngineError as err:
            if err.kind != "not_found":
                self.metrics.engine_errors.labels("end", err.kind).inc()
                raise

    async def end_record(self, record: ConversationRecord, reason: str) -> bool:
        """End at the engine, then record it (freeing the slot); True if this call ended it."""
        cid = record.conversation_id
        if cid:
            # The engine's shutdown callback for this very end can arrive before the engine's answer
            # (over HTTP it does): the end is recorded here, with the reason we know.
            self._ending.add(cid)
            try:
                await self._end_at_engine(cid)
                return await self.note_ended(record, reason)
            finally:
                self._ending.discard(cid)
        return await self.note_ended(record, reason)

    async def note_ended(self, record: ConversationRecord, reason: str, *, found: str | None = None,
                         ended_at: float | None = None) -> bool:
        """Record an end the engine already knows of: the store row, the webhook and the metric, exactly once.

        ``found``: the engine's id of a conversation whose create never reached the store
        (its answer was lost, or its instance died); the record adopts it as it ends.
        ``ended_at``: when the engine says it ended (kept within the conversation's life as seen here).
        """
        now = self.clock()
        if ended_at is not None:
            now = min(now, max(record.created_at, ended_at))
        if found is not None:
            record.conversation_id = record.conversation_id or found
        # from its creation to now, whatever the record says (a failed create found alive has an end)
        event = self.webhooks.event("conversation.ended", record, reason=reason, ended_at=iso(now),
                                    duration_s=round(max(0.0, now - record.created_at), 3))
        if found is None:
            done = await self.store.finish(record.local_id, "ended", reason, now, event)
        else:
            done = await self.store.adopt(record.local_id, found, reason, now, event)
        if done:
            self.webhooks.wake()
            label = _reason_label(reason)
            self.metrics.ended.labels(record.widget, label).inc()
            ended = dataclasses.replace(record, status="ended", end_reason=reason, ended_at=now)
            seconds = ended.seconds_live(now)
            idle = without_visitor(ended, now)
            self.metrics.seconds_live.labels(record.widget).inc(seconds)
            if idle:
                self.metrics.seconds_without_visitor.labels(record.widget, label).inc(idle)
            log.info("end %s %s after %.1f s", record.widget, reason, seconds, extra={
                "widget": record.widget, "conversation_id": record.conversation_id, "reason": reason,
                "seconds": round(seconds, 3), "seconds_without_visitor": None if idle is None else round(idle, 3)})
            await self.recorder.ended(record.local_id)
            await self._freed(record.widget)
        return done

    async def fail(self, local_id: str, reason: str) -> bool:
        """A create that never became a conversation: no engine time, no webhook; the slot is freed."""
        done = await self.store.finish(local_id, "failed", reason, self.clock())
        if done:
            await self.recorder.ended(local_id)
            try:
                record = await self.store.by_local(local_id)
            except STORE_ERRORS:  # the line's job offers the slot when the store answers again
                record = None
            if record is not None:
                await self._freed(record.widget)
        return done

    async def heartbeat(self, conversation_id: str) -> ConversationRecord:
        """The visitor is still there; raises 410 once the conversation has ended."""
        record = await self.get(conversation_id)
        if not record.live or not await self.store.touch(record.local_id, self.clock()):
            raise Problem(410, "Conversation ended", f"ended: {record.end_reason or 'ended'}",
                          kind="conversation-ended")
        return record

    async def on_callback(self, ref: str, event: Any) -> None:
        """One engine callback on its signed ref; 404 for a ref we never gave, 422 for a body that is no event."""
        try:
            local_id = self.signer.read_callback_ref(ref)
        except BadToken:
            raise Problem(404, "Unknown callback", "no such callback", kind="not-found") from None
        if not isinstance(event, dict) or not isinstance(event.get("event_type"), str):
            raise invalid([FieldError("event_type", "must be a string")])
        if not await self.on_engine_event(local_id, event):
            raise Problem(404, "Unknown callback", "no such conversation", kind="not-found")

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
                await self.recorder.started(local_id, now)
        elif kind == "system.shutdown" and record.conversation_id not in self._ending:
            reason = str(props.get("shutdown_reason") or "engine_shutdown")[:200]
            # a lost answer the engine tells us about is recorded against the id it names
            lost = record.conversation_id if record.status == "lost" else None
            await self.note_ended(record, reason, found=lost, ended_at=parse_time(event.get("timestamp")))
        elif kind == "application.transcription_ready":
            raw = props.get("transcript")
            transcript = [e for e in raw if isinstance(e, dict)] if isinstance(raw, list) else []
            await self.webhooks.emit("transcript.ready", record, transcript=transcript)
            await self.recorder.transcript(local_id, transcript)
        elif kind == "application.recording_ready":
            keys = ("bucket_name", "s3_key", "duration", "storage_provider", "storage_uri")
            ref: dict[str, Any] = {k: props[k] for k in keys if k in props}
            await self.webhooks.emit("recording.ready", record, **ref)
            await self.recorder.recording(local_id, ref)
        return True


def _json_or_none(text: str | None) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def _reason_label(reason: str) -> str:
    known = ("max_call_duration", "participant_left_timeout", "participant_absent_timeout",
             "end_conversation_endpoint_hit", "visitor_", "operator_ended", "heartbeat_timeout",
             "expired_backstop", "reconciled", "create_abandoned", "create_answer_failed")
    for name in known:
        if reason.startswith(name):
            return name.rstrip("_") if name != "visitor_" else reason[:40]
    return "other"


def log_create(attempt: Attempt, outcome: str, *, reason: str | None = None) -> None:
    """The one line per create: ``create created support c_123 (812 ms)``, ``create refused support busy``."""
    fields: dict[str, Any] = {"widget": attempt.widget, "outcome": outcome, "engine_ms": attempt.engine_ms,
                              "conversation_id": attempt.conversation_id}
    if reason:
        fields["reason"] = reason
    level = logging.WARNING if outcome == "failed" else logging.INFO
    what = attempt.conversation_id or reason or ""
    ms = f" ({attempt.engine_ms:.0f} ms)" if attempt.engine_ms is not None else ""
    log.log(level, "create %s %s %s%s", outcome, attempt.widget, what, ms, extra=fields)
