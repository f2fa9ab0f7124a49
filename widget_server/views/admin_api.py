"""The admin JSON API (``/api/admin/...``): what the console's pages show, for scripts too.

A console session (with ``X-CSRF-Token`` on a POST) or a server key as bearer; 404 with no ``[admin]``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from widget_server.admin import reports
from widget_server.admin.access import api
from widget_server.admin.actions import end_conversation, find, history_or_503, ledger_query, replay_webhook
from widget_server.admin.auth import Operator
from widget_server.clock import iso
from widget_server.context import Context
from widget_server.errors import FieldError, invalid
from widget_server.history.base import DAY, LedgerQuery
from widget_server.responses import JSONAnswer
from widget_server.store.base import day_start

CSV_COLUMNS = ("created_at", "ended_at", "widget", "conversation_id", "local_id", "status", "end_reason",
               "end_source", "seconds", "rating", "transcript")
CSV_MAX_ROWS = 100_000
MAX_RANGE_DAYS = 400
MAX_HOURS = 24 * 3  # per hour the ledger is read (per day, the day totals): 3 days


def _answer(body: object) -> Response:
    return JSONAnswer(body, no_store=True)


@api()
async def live(request: Request, c: Context, operator: Operator) -> Response:
    return _answer({"widgets": await reports.live_now(c)})


@api(changes=True)
async def end(request: Request, c: Context, operator: Operator) -> Response:
    return _answer(await end_conversation(c, operator, request.path_params["conversation_id"]))


@api()
async def today(request: Request, c: Context, operator: Operator) -> Response:
    async with history_or_503():
        return _answer(await reports.today(c))


def series_range(request: Request, c: Context) -> tuple[float, float, str | None, int]:
    """``days`` back from today (default 30) or ``from``/``to`` dates; ``bucket`` day or hour; ``widget``."""
    params = request.query_params
    errors: list[FieldError] = []
    bucket = params.get("bucket", "day")
    if bucket not in ("day", "hour"):
        errors.append(FieldError("bucket", "must be day or hour"))
    widget = params.get("widget") or None
    if widget is not None and widget not in c.settings.widgets:
        errors.append(FieldError("widget", "is not a configured widget"))
    days = 30
    if "days" in params:
        try:
            days = int(params["days"])
            if not 1 <= days <= MAX_RANGE_DAYS:
                raise ValueError
        except ValueError:
            errors.append(FieldError("days", f"must be an integer 1..{MAX_RANGE_DAYS}"))
    step = DAY if bucket == "day" else 3600
    if bucket == "hour" and days * 24 > MAX_HOURS:
        errors.append(FieldError("days", f"at most {MAX_HOURS // 24} with bucket=hour"))
    if errors:
        raise invalid(errors, "Invalid query")
    until = day_start(c.clock()) + DAY
    return until - days * DAY, until, widget, step


@api()
async def history(request: Request, c: Context, operator: Operator) -> Response:
    since, until, widget, step = series_range(request, c)
    async with history_or_503():
        return _answer(await reports.history_series(c, since, until, widget=widget, bucket_s=step))


@api()
async def ledger(request: Request, c: Context, operator: Operator) -> Response:
    query = ledger_query(request.query_params, c.settings.widgets)
    async with history_or_503():
        return _answer(await reports.ledger_page(c, query))


@api()
async def ledger_csv(request: Request, c: Context, operator: Operator) -> Response:
    """The filtered ledger as CSV, newest first, read page by page behind the keyset cursor."""
    query = ledger_query({k: v for k, v in request.query_params.items() if k not in ("limit", "cursor")},
                         c.settings.widgets)

    async def rows() -> AsyncIterator[str]:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        page = LedgerQuery(**{**query.__dict__, "limit": 1000})
        sent = 0
        while sent < CSV_MAX_ROWS:
            found = await c.history.page(page)
            for p in found:
                row = reports.ledger_row(p)
                writer.writerow([_cell(row[k]) for k in CSV_COLUMNS])
            sent += len(found)
            yield out.getvalue()
            out.seek(0)
            out.truncate()
            if len(found) < 1000:
                break
            page = LedgerQuery(**{**page.__dict__, "before": found[-1].created_at, "before_id": found[-1].local_id})

    async with history_or_503():
        await c.history.page(LedgerQuery(limit=1))  # fail with a 503 now rather than halfway through a download
    return StreamingResponse(rows(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": 'attachment; filename="ledger.csv"', "Cache-Control": "no-store"})


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    # a spreadsheet runs a cell starting with = + - @ as a formula: such text is quoted
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not _number(text) else text


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@api()
async def conversation(request: Request, c: Context, operator: Operator) -> Response:
    past = await find(c, request.path_params["conversation_id"])
    async with history_or_503():
        return _answer(await reports.conversation_detail(c, past))


@api()
async def webhooks(request: Request, c: Context, operator: Operator) -> Response:
    async with history_or_503():
        recent = await c.history.deliveries(0, 100, newest_first=True)
        failures = await c.history.deliveries(0, 100, newest_first=True, failed_only=True)
    return _answer({"enabled": c.webhooks.enabled, "backlog": await c.store.outbox_size(),
                    "deliveries": [_delivery(d) for d in recent], "failures": [_delivery(d) for d in failures]})


def _delivery(d: dict[str, object]) -> dict[str, object]:
    at = d.get("at")
    return {"event_id": d["event_id"], "type": d["event_type"], "conversation_id": d["conversation_id"],
            "at": iso(float(at)) if isinstance(at, (int, float)) else None,
            "attempt": d["attempt"], "outcome": d["outcome"]}


@api(changes=True)
async def replay(request: Request, c: Context, operator: Operator) -> Response:
    return JSONAnswer(await replay_webhook(c, operator, request.path_params["event_id"]), status_code=202,
                      no_store=True)


@api()
async def settings(request: Request, c: Context, operator: Operator) -> Response:
    return _answer(reports.settings_view(c))


@api()
async def audit_log(request: Request, c: Context, operator: Operator) -> Response:
    async with history_or_503():
        entries = await c.history.audit_log(c.clock() - 7 * DAY, 500)
    return _answer({"entries": [{**{str(k): v for k, v in e.items()}, "at": iso(float(e["at"]))}
                                for e in reversed(entries)]})
