"""What the console shows, as plain dicts: the pages render them, the admin API answers them as JSON.

    live = await live_now(c)                       # per widget: its live conversations and its waiting line
    today = await today(c)                         # per widget: minutes used, creates, ends, served from the line
    charts = await history_series(c, since, until, widget=None, bucket_s=DAY)

Everything history holds is read from the history module (per-day totals, reason and refusal counts, the
ledger; refusals this instance counted in the last few seconds and has not written yet are added to Today);
what only the running process knows (seconds without a visitor) from its metrics, and said so: that counter
starts again at each start and counts this instance only.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from widget_server.audit import audit
from widget_server.clock import iso
from widget_server.config_registry import declared
from widget_server.history.base import DAY, LedgerQuery, Past
from widget_server.ledger import line_summary
from widget_server.settings import Limits, WidgetSettings
from widget_server.store import ConversationRecord
from widget_server.store.base import LineEntry, day_start

if TYPE_CHECKING:
    from widget_server.context import Context


def visitor_state(record: ConversationRecord, now: float, grace_s: float) -> str:
    """present (a heartbeat within half the grace), heartbeat_lost, or unwatched (no heartbeat expected)."""
    if record.last_seen is None:
        return "unwatched"
    return "present" if now - record.last_seen <= grace_s / 2 else "heartbeat_lost"


def line_view(entries: list[LineEntry], now: float, grace_s: float) -> dict[str, Any]:
    """A widget's waiting line for the operator: each place's position (1-based among those waiting, 0 once
    offered or serving), age and presence; no queue id or ticket (a ticket is the visitor's alone)."""
    places = []
    position = 0
    for e in entries:
        if e.state == "waiting":
            position += 1
        last_seen = e.seen_until - grace_s  # each heartbeat (or the open stream) sets seen_until = now + grace
        places.append({
            "position": position if e.state == "waiting" else 0, "state": e.state,
            "joined_at": iso(e.joined_at), "age_s": round(now - e.joined_at, 1),
            "visitor": "present" if now - last_seen <= grace_s / 2 else "heartbeat_lost",
            "last_seen_s": round(max(0.0, now - last_seen), 1),
            "turn_left_s": round(e.turn_until - now, 1) if e.state == "offered" else None,
        })
    return {"length": len(places), "waiting": position, "places": places}


async def live_now(c: Context) -> list[dict[str, Any]]:
    now = c.clock()
    grace = c.settings.lifecycle.heartbeat_grace_s
    records = await c.store.live_records()
    by_widget: dict[str, list[ConversationRecord]] = defaultdict(list)
    for record in records:
        by_widget[record.widget].append(record)
    out = []
    for wid in sorted(set(c.settings.widgets) | set(by_widget)):
        widget = c.settings.widgets.get(wid)
        rows = sorted(by_widget.get(wid, []), key=lambda r: r.created_at)
        entries = await c.store.line_entries(wid, now) if widget else []
        out.append({
            "widget": wid,
            "max_concurrent": widget.limits.max_concurrent if widget else None,
            "line": line_view(entries, now, grace),
            "conversations": [{
                "conversation_id": r.conversation_id, "local_id": r.local_id, "status": r.status,
                "created_at": iso(r.created_at), "age_s": round(now - r.created_at, 1),
                "started": r.started_at is not None, "visitor": visitor_state(r, now, grace),
                "last_seen_s": None if r.last_seen is None else round(now - r.last_seen, 1),
                "origin": r.origin,
            } for r in rows],
        })
    return out


async def today(c: Context) -> dict[str, Any]:
    now = c.clock()
    start = day_start(now)
    refused = c.conversations.recorder.pending_refusals(start)
    for n in await c.history.refusal_counts(None, start, start + DAY, DAY, by_widget=True):
        refused[(n.widget, n.rule)] += n.refusals
    live_today: dict[str, int] = defaultdict(int)
    for record in await c.store.live_records():
        if record.created_at >= start:
            live_today[record.widget] += 1
    ends: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    failed: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in await c.history.reason_counts(None, start, start + DAY, DAY, by_widget=True):
        (failed if row.status == "failed" else ends)[row.widget][row.reason or "unknown"] += row.conversations
    cut = await c.history.seconds_cut(start, start + DAY)
    unseen = await c.history.idle_seconds(start, start + DAY)
    # the waiting line's departures, as `widget-server report` reads them (the history's audit, actor "line")
    line = line_summary(await c.history.audit_log(start, limit=1_000_000))
    widgets = []
    for wid, widget in sorted(c.settings.widgets.items()):
        used = await c.store.seconds_used(wid, start, now)
        widgets.append({
            "widget": wid,
            "minutes_used": round(used / 60, 1),
            "minutes_per_day": widget.limits.minutes_per_day,
            "creates": sum(ends[wid].values()) + sum(failed[wid].values()) + live_today[wid],
            "live": live_today[wid],
            "ends_by_reason": dict(sorted(ends[wid].items())),
            "failed_by_reason": dict(sorted(failed[wid].items())),
            "refusals_by_rule": {rule: int(n) for (w, rule), n in sorted(refused.items()) if w == wid and n},
            "seconds_without_visitor": round(unseen.get(wid, 0.0), 1),
            "seconds_cut_by_early_ends": round(cut.get(wid, 0.0), 1),
            "line": line.get(wid, {"served": 0, "left": 0, "reasons": {}, "median_wait_s": None}),
        })
    return {"day": iso(start), "now": iso(now), "widgets": widgets}


async def history_series(c: Context, since: float, until: float, *, widget: str | None = None,
                         bucket_s: int = DAY) -> dict[str, Any]:
    """Per bucket (an hour or a day): conversations, minutes, and counts by end reason, by failure and by
    refusal rule."""
    buckets = list(range(int(since), int(until), bucket_s))
    index = {b: i for i, b in enumerate(buckets)}
    conversations = [0] * len(buckets)
    minutes = [0.0] * len(buckets)
    failed = [0] * len(buckets)
    reasons: dict[str, list[int]] = {}
    failures: dict[str, list[int]] = {}
    if bucket_s == DAY:  # the per-day totals: kept as conversations end, never summed at read time
        for t in await c.history.day_totals(widget, since, until - 1, all_widgets=True):
            if t.day in index:
                conversations[index[t.day]] += t.conversations
                failed[index[t.day]] += t.failed
                minutes[index[t.day]] += t.seconds / 60
    for row in await c.history.reason_counts(widget, since, until, bucket_s):
        i = index.get(row.bucket)
        if i is None:
            continue
        if row.status == "failed":
            failures.setdefault(row.reason or "unknown", [0] * len(buckets))[i] += row.conversations
        elif row.status == "ended":
            reasons.setdefault(row.reason or "unknown", [0] * len(buckets))[i] += row.conversations
        if bucket_s != DAY:
            if row.status == "failed":
                failed[i] += row.conversations
            elif row.status == "ended":
                conversations[i] += row.conversations
                minutes[i] += row.seconds / 60
    refusals: dict[str, list[int]] = {}
    for n in await c.history.refusal_counts(widget, since, until, bucket_s):
        i = index.get(n.bucket)
        if i is not None:
            refusals.setdefault(n.rule, [0] * len(buckets))[i] += n.refusals
    return {"bucket_s": bucket_s, "buckets": buckets, "conversations": conversations, "failed": failed,
            "minutes": [round(m, 2) for m in minutes], "end_reasons": dict(sorted(reasons.items())),
            "failure_reasons": dict(sorted(failures.items())), "refusals": dict(sorted(refusals.items()))}


def ledger_row(p: Past) -> dict[str, Any]:
    rating = json.loads(p.rating) if p.rating else None
    return {
        "local_id": p.local_id, "conversation_id": p.conversation_id, "widget": p.widget, "status": p.status,
        "created_at": iso(p.created_at), "ended_at": iso(p.ended_at), "end_reason": p.end_reason,
        "end_source": p.end_source, "seconds": round(p.seconds, 1),
        "rating": rating.get("thumbs") if isinstance(rating, dict) else None, "transcript": p.transcript,
    }


def cursor_of(p: Past) -> str:
    return f"{p.created_at!r}~{p.local_id}"


def parse_cursor(text: str) -> tuple[float, str]:
    """``created_at~local_id`` of the last row of the page before; ValueError when it is not."""
    at, sep, local_id = text.partition("~")
    if not sep or not local_id:
        raise ValueError("not a cursor")
    return float(at), local_id


async def ledger_page(c: Context, query: LedgerQuery) -> dict[str, Any]:
    limit = query.limit or 50
    rows = await c.history.page(LedgerQuery(**{**query.__dict__, "limit": limit + 1}))
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": [ledger_row(p) for p in rows], "next": cursor_of(rows[-1]) if more and rows else None}


async def conversation_detail(c: Context, past: Past) -> dict[str, Any]:
    timeline = await c.history.timeline(past.local_id)
    kept = await c.history.transcript(past.local_id)
    live = await c.store.by_local(past.local_id)
    record = live if live is not None and live.live else past
    return {
        **ledger_row(past),
        "status": record.status, "origin": past.origin,
        "started_at": iso(record.started_at), "expires_at": iso(record.expires_at),
        "consent": json.loads(record.consent) if record.consent else None,
        "rating": json.loads(record.rating) if record.rating else None,
        "recording": past.recording,
        "timeline": [{"at": iso(e.at, ms=True), "kind": e.kind, "data": e.data} for e in timeline],
        "transcript": kept.entries if kept else [],
        "transcript_state": past.transcript,
    }


def _secret_state(value: Any) -> str:
    return "set" if value else "unset"


def widget_view(widget: WidgetSettings) -> dict[str, Any]:
    """A widget's settings as loaded: every declared key, origins as written, limits as a table."""
    out: dict[str, Any] = {"id": widget.id}
    for key, f, setting in declared(type(widget)):
        value = getattr(widget, f.name)
        if setting.secret:
            out[key] = _secret_state(value)
        elif setting.table is not None:
            out[key] = {k: _plain(getattr(value, sf.name)) for k, sf, _ in declared(setting.table)}
        else:
            out[key] = _plain(value)
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def settings_view(c: Context) -> dict[str, Any]:
    s = c.settings
    return {
        "server": {"public_url": s.server.public_url, "store": s.server.store.split("://", 1)[0],
                   "history": s.server.history_url.split("://", 1)[0],
                   "secret_key": "generated" if s.server.generated_secret else _secret_state(s.server.secret_keys),
                   "server_keys": _secret_state(s.server.server_keys),
                   "metrics_key": _secret_state(s.server.metrics_keys)},
        "engine": {"kind": s.engine.kind, "base_url": s.engine.base_url, "api_key": _secret_state(s.engine.api_keys),
                   "timeout_s": s.engine.timeout_s},
        "webhooks": None if s.webhooks is None else {"url": s.webhooks.url.split("?", 1)[0],
                                                     "secret": _secret_state(s.webhooks.secrets)},
        "lifecycle": {k: getattr(s.lifecycle, f.name) for k, f, _ in declared(type(s.lifecycle))},
        "limits_keys": [k for k, _, _ in declared(Limits)],
        "widgets": [widget_view(w) for _, w in sorted(s.widgets.items())],
        "admin_users": [u.name for u in s.admin.users] if s.admin else [],
        "warnings": audit(s),
    }
