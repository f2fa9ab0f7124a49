"""The ledger: what was created, when it ended and why, and what ran with nobody there.

    rows = ledger(await store.records_since(time.time() - 86400), now=time.time())
    print(render(rows))

``seconds_without_visitor`` is how long a conversation was live at the engine
after its visitor was last known to be there: the heartbeat's silence before a
``heartbeat_timeout``, the whole life of an orphan the reconciler ended, nothing
for a visitor's own end. ``None`` where nobody watched (a back end that never
heartbeats).
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass
from typing import Any

from widget_server.clock import iso
from widget_server.store import ConversationRecord


@dataclass(frozen=True)
class LedgerRow:
    created_at: str | None
    conversation_id: str | None
    widget: str
    status: str
    reason: str
    seconds_live: float
    seconds_without_visitor: float | None
    rating: str = ""   # the visitor's thumbs ("up" / "down") when the widget collects ratings

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def without_visitor(record: ConversationRecord, now: float) -> float | None:
    reason = record.end_reason or ""
    if record.status == "failed":
        return 0.0
    if reason.startswith("reconciled"):
        return record.seconds_live(now)
    if reason.startswith("visitor_"):
        return 0.0
    if record.last_seen is None:
        return None
    end = record.ended_at if record.ended_at is not None else now
    return max(0.0, end - record.last_seen)


def _thumbs(record: ConversationRecord) -> str:
    try:
        value = json.loads(record.rating or "{}").get("thumbs", "")
    except (ValueError, AttributeError):
        return ""
    return value if isinstance(value, str) else ""


def ledger(records: list[ConversationRecord], now: float) -> list[LedgerRow]:
    return [
        LedgerRow(
            created_at=iso(r.created_at), conversation_id=r.conversation_id, widget=r.widget,
            status="active" if r.live else r.status, reason=r.end_reason or "",
            seconds_live=0.0 if r.status == "failed" else round(r.seconds_live(now), 3),
            seconds_without_visitor=None if (w := without_visitor(r, now)) is None else round(w, 3),
            rating=_thumbs(r),
        )
        for r in records
    ]


def summary(rows: list[LedgerRow]) -> dict[str, dict[str, float]]:
    """Per end reason: count, seconds live, median and worst seconds without a visitor."""
    out: dict[str, dict[str, float]] = {}
    for reason in sorted({r.reason or r.status for r in rows}):
        group = [r for r in rows if (r.reason or r.status) == reason]
        idle = [r.seconds_without_visitor for r in group if r.seconds_without_visitor is not None]
        out[reason] = {
            "count": len(group),
            "seconds_live": round(sum(r.seconds_live for r in group), 3),
            "median_without_visitor": round(statistics.median(idle), 3) if idle else 0.0,
            "worst_without_visitor": round(max(idle), 3) if idle else 0.0,
        }
    return out


def render(rows: list[LedgerRow]) -> str:
    head = (f"{'created':20} {'conversation':16} {'widget':12} {'status':7} {'live s':>9} {'no-visitor s':>12} "
            f"{'rating':6}  reason")
    lines = [head]
    for r in rows:
        idle = "-" if r.seconds_without_visitor is None else f"{r.seconds_without_visitor:.1f}"
        lines.append(f"{r.created_at or '':20} {r.conversation_id or '-':16} {r.widget[:12]:12} {r.status:7} "
                     f"{r.seconds_live:9.1f} {idle:>12} {r.rating or '-':6}  {r.reason}")
    total = sum(r.seconds_live for r in rows)
    idle_total = sum(r.seconds_without_visitor or 0.0 for r in rows)
    lines.append(f"{len(rows)} conversation(s), {total:.1f} s live, {idle_total:.1f} s of them without a visitor")
    lines.append("")
    lines.append(f"{'reason':40} {'count':>5} {'live s':>9} {'median no-visitor s':>20} {'worst':>8}")
    for reason, s in summary(rows).items():
        lines.append(f"{reason[:40]:40} {int(s['count']):5} {s['seconds_live']:9.1f} "
                     f"{s['median_without_visitor']:20.1f} {s['worst_without_visitor']:8.1f}")
    return "\n".join(lines)


def line_summary(audit: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per widget, the visitors of its waiting line (from the history's audit: actor "line"): how many were
    served from it, how many left it and why, and their median wait."""
    out: dict[str, dict[str, Any]] = {}
    for entry in audit:
        if entry.get("actor") != "line":
            continue
        detail = entry.get("detail") or {}
        widget = str(detail.get("widget", ""))
        row = out.setdefault(widget, {"served": 0, "left": 0, "reasons": {}, "waits": []})
        reason = str(detail.get("reason", ""))
        if reason == "served":
            row["served"] += 1
        else:
            row["left"] += 1
            row["reasons"][reason] = row["reasons"].get(reason, 0) + 1
        row["waits"].append(float(detail.get("waited_s") or 0.0))
    for row in out.values():
        waits = row.pop("waits")
        row["median_wait_s"] = round(statistics.median(waits), 3) if waits else 0.0
    return out


def render_line(summary_: dict[str, dict[str, Any]]) -> str:
    lines = [f"{'waiting line':20} {'served':>6} {'left':>5} {'median wait s':>13}  why they left"]
    for widget, row in sorted(summary_.items()):
        why = ", ".join(f"{k} {v}" for k, v in sorted(row["reasons"].items())) or "-"
        lines.append(f"{widget[:20]:20} {row['served']:6} {row['left']:5} {row['median_wait_s']:13.1f}  {why}")
    return "\n".join(lines)
