"""What an operator does from the console (each one in the audit log), and the query it reads the ledger with.

    await end_conversation(c, operator, "c123")          # ended at the engine, recorded, audited
    await replay_webhook(c, operator, "evt_abc")         # the event queued again (a new id, replay_of the old)
    query = ledger_query(request.query_params)           # or Problem 422 naming the field
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from widget_server.admin.auth import Operator
from widget_server.admin.reports import parse_cursor
from widget_server.clock import iso
from widget_server.errors import EngineError, FieldError, Problem, invalid
from widget_server.history.base import DAY, LedgerQuery, Past

if TYPE_CHECKING:
    from widget_server.context import Context

REPLAYABLE = ("conversation.created", "conversation.started", "conversation.ended", "conversation.rated")
MAX_PAGE = 500


@contextlib.asynccontextmanager
async def history_or_503() -> AsyncIterator[None]:
    """The history database down, or slow to answer: 503 problem+json, never a 500."""
    try:
        yield
    except (Problem, EngineError):
        raise
    except Exception as exc:
        raise Problem(503, "History unavailable", "the history database cannot be reached now",
                      kind="history-unavailable", retry_after=30) from exc


async def find(c: Context, conversation_id: str) -> Past:
    """A conversation by the engine's id or by the server's local id."""
    async with history_or_503():
        past = await c.history.conversation(conversation_id=conversation_id)
        if past is None:
            past = await c.history.conversation(local_id=conversation_id)
    if past is None:
        raise Problem(404, "Unknown conversation", "no conversation with this id", kind="not-found")
    return past


async def end_conversation(c: Context, operator: Operator, conversation_id: str) -> dict[str, Any]:
    record = await c.store.by_conversation(conversation_id)
    if record is None:
        raise Problem(404, "Unknown conversation", "no live conversation with this id", kind="not-found")
    if record.live:
        if await c.conversations.end_record(record, "operator_ended"):
            await c.conversations.recorder.audit(operator.actor, "end_conversation", conversation_id,
                                                 widget=record.widget)
        record = await c.conversations.get(conversation_id)
    return c.conversations.describe(record)


async def replay_webhook(c: Context, operator: Operator, event_id: str) -> dict[str, Any]:
    """Queue a delivered or failed event again, rebuilt from what history holds of its conversation."""
    if not c.webhooks.enabled:
        raise Problem(409, "No webhooks", "no [webhooks] table in the config", kind="webhooks-off")
    async with history_or_503():
        found = await c.history.deliveries(0, 1, newest_first=True, event_id=event_id)
    if not found:
        raise Problem(404, "Unknown event", "no delivery of this event id in the history", kind="not-found")
    kind, conversation_id = found[0]["event_type"], found[0]["conversation_id"]
    if kind not in REPLAYABLE or not conversation_id:
        raise Problem(409, "Cannot replay", f"{kind} events are not kept whole; only {', '.join(REPLAYABLE)}",
                      kind="not-replayable")
    past = await find(c, conversation_id)
    data: dict[str, Any] = {"replay_of": event_id}
    if kind == "conversation.created":
        data |= {"created_at": iso(past.created_at), "expires_at": iso(past.expires_at), "origin": past.origin}
    elif kind == "conversation.started":
        data["started_at"] = iso(past.started_at)
    elif kind == "conversation.ended":
        data |= {"reason": past.end_reason, "ended_at": iso(past.ended_at),
                 "duration_s": round(max(0.0, (past.ended_at or past.created_at) - past.created_at), 3)}
    else:
        data["rating"] = json.loads(past.rating) if past.rating else None
    item = c.webhooks.event(kind, past, **data)
    assert item is not None
    await c.store.outbox_put(item)
    c.webhooks.wake()
    await c.conversations.recorder.audit(operator.actor, "replay_webhook", event_id, new_event=item.id, type=kind)
    return {"event_id": item.id, "replay_of": event_id, "type": kind}


def _day(text: str, field: str) -> float:
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()
    except ValueError:
        raise invalid([FieldError(field, "must be a date YYYY-MM-DD")]) from None


def ledger_query(params: Mapping[str, str], widgets: Mapping[str, Any]) -> LedgerQuery:
    """The ledger's filters from a query string: widget, reason, status, rating, from, to (dates), cursor, limit."""
    errors: list[FieldError] = []
    widget = params.get("widget") or None
    if widget is not None and widget not in widgets:
        errors.append(FieldError("widget", "is not a configured widget"))
    rating = params.get("rating") or None
    if rating is not None and rating not in ("up", "down", "none", "any"):
        errors.append(FieldError("rating", "must be up, down, none or any"))
    status = params.get("status") or None
    if status is not None and status not in ("active", "ended", "failed", "lost"):
        errors.append(FieldError("status", "must be active, ended, failed or lost"))
    reason = (params.get("reason") or "")[:200] or None
    limit = 50
    if "limit" in params:
        try:
            limit = int(params["limit"])
            if not 1 <= limit <= MAX_PAGE:
                raise ValueError
        except ValueError:
            errors.append(FieldError("limit", f"must be an integer 1..{MAX_PAGE}"))
    before = before_id = None
    if params.get("cursor"):
        try:
            before, before_id = parse_cursor(params["cursor"])
        except ValueError:
            errors.append(FieldError("cursor", "must be the next value of a previous page"))
    since = until = None
    try:
        since = _day(params["from"], "from") if params.get("from") else None
        until = _day(params["to"], "to") + DAY if params.get("to") else None
    except Problem as problem:
        errors.extend(problem.errors)
    if errors:
        raise invalid(errors, "Invalid query")
    return LedgerQuery(widget=widget, status=status, reason=reason, since=since, until=until, before=before,
                       before_id=before_id, rating=rating, limit=limit)
