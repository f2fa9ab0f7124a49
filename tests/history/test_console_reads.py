"""What the console reads of history, on SQLite and PostgreSQL: reasons per day (kept as each conversation
ends, equal to counting the ledger), reasons per hour, the rating filter, keyset pages, the migration's fill."""

from __future__ import annotations

import dataclasses
import json

import pytest
import sqlalchemy as sa

from tests.history.test_contract import D, ended, rec
from widget_server.history import History, LedgerQuery, open_history
from widget_server.history.base import DAY, RefusalCount
from widget_server.ledger import without_visitor
from widget_server.store import ConversationRecord

pytestmark = pytest.mark.anyio


def by_reason(rows: list) -> dict[tuple[int, str, str], tuple[int, float]]:  # type: ignore[type-arg]
    return {(r.bucket, r.status, r.reason): (r.conversations, round(r.seconds, 3)) for r in rows}


async def test_reasons_per_day_are_booked_as_conversations_end(history: History) -> None:
    await history.record_end(ended("a", D + 10, 60, "visitor_end_button"), source="server")
    await history.record_end(ended("b", D + 20, 30, "visitor_end_button"), source="server")
    await history.record_end(ended("c", D + DAY + 5, 40, "heartbeat_timeout", widget="x"), source="server")
    await history.record_end(ended("c", D + DAY + 5, 40, "heartbeat_timeout", widget="x"), source="server")  # again
    await history.record_end(rec("d", D + 30, status="failed", ended=D + 31, reason="engine_http_500"),
                             source="server")
    # a failure the reconciler found alive at the engine and ended: no longer counted as a failure
    await history.record_end(rec("e", D + 40, status="failed", ended=D + 41, reason="engine_timeout"),
                             source="server")
    await history.record_end(ended("e", D + 40, 90, "reconciled_orphan", cid="ce"), source="server")
    await history.record_created(rec("f", D + 50, cid="cf"))  # live: not a reason yet
    per_day = by_reason(await history.reason_counts(None, D, D + 2 * DAY, DAY))
    assert per_day == {
        (D, "ended", "visitor_end_button"): (2, 90.0), (D, "failed", "engine_http_500"): (1, 0.0),
        (D, "ended", "reconciled_orphan"): (1, 90.0), (D + DAY, "ended", "heartbeat_timeout"): (1, 40.0)}
    # the same as counting the ledger (what hour buckets do), but for the live one
    from_ledger = by_reason(await history.reason_counts(None, D, D + 2 * DAY - 1, DAY))
    assert {k: v for k, v in from_ledger.items() if k[1] != "active"} == per_day
    assert by_reason(await history.reason_counts("x", D, D + 2 * DAY, DAY)) == {
        (D + DAY, "ended", "heartbeat_timeout"): (1, 40.0)}
    split = {(r.widget, r.bucket, r.status, r.reason): r.conversations
             for r in await history.reason_counts(None, D, D + 2 * DAY, DAY, by_widget=True)}
    assert split[("x", D + DAY, "ended", "heartbeat_timeout")] == 1
    assert split[("w", D, "failed", "engine_http_500")] == 1
    assert sum(split.values()) == 5
    summed = await history.day_totals(None, D, D + DAY, all_widgets=True)
    assert [(t.widget, t.day, t.conversations, t.failed) for t in summed] == [("", D, 3, 1), ("", D + DAY, 1, 0)]
    assert sum(t.seconds for t in summed) == pytest.approx(60 + 30 + 90 + 40)
    hours = by_reason(await history.reason_counts("w", D, D + DAY, 3600))
    assert hours[(D, "ended", "visitor_end_button")] == (2, 90.0) and hours[(D, "active", "")] == (1, 0.0)


async def test_rating_filter_and_keyset_pages_with_equal_times(history: History) -> None:
    for i in range(5):
        done = ended(f"l{i}", D + 100, 10, cid=f"c{i}")  # five created in the same instant
        done.rating = json.dumps({"thumbs": "up" if i % 2 else "down", "comment": "", "at": ""},
                                 separators=(",", ":") if i < 2 else (", ", ": ")) if i < 4 else None
        await history.record_end(done, source="server")
    assert [p.local_id for p in await history.page(LedgerQuery(rating="up"))] == ["l3", "l1"]
    assert [p.local_id for p in await history.page(LedgerQuery(rating="down"))] == ["l2", "l0"]
    assert [p.local_id for p in await history.page(LedgerQuery(rating="none"))] == ["l4"]
    assert len(await history.page(LedgerQuery(rating="any"))) == 4
    seen: list[str] = []
    query = LedgerQuery(limit=2)
    while True:
        page = await history.page(query)
        seen += [p.local_id for p in page]
        if len(page) < 2:
            break
        query = LedgerQuery(limit=2, before=page[-1].created_at, before_id=page[-1].local_id)
    assert seen == ["l4", "l3", "l2", "l1", "l0"]  # none skipped, none twice


async def test_migration_fills_the_reasons_of_conversations_kept_before(history_url: str) -> None:
    from alembic import command

    from widget_server.history import migrate
    from widget_server.history.sql import SqlHistory

    h = open_history(history_url)
    assert isinstance(h, SqlHistory)
    await h.open()
    await h.record_end(ended("a", D + 10, 60, "visitor_end_button"), source="server")
    await h.record_end(rec("b", D + 30, status="failed", ended=D + 31, reason="engine_http_500"), source="server")

    def back_and_forth(conn: sa.Connection) -> None:
        command.downgrade(migrate.config(conn), "0001")
        command.upgrade(migrate.config(conn), "head")

    await h._run(back_and_forth)
    # 0002 fills the per-widget reasons from the ledger, 0004 the all-widget totals from the per-widget ones
    assert by_reason(await h.reason_counts(None, D, D + DAY, DAY)) == {
        (D, "ended", "visitor_end_button"): (1, 60.0), (D, "failed", "engine_http_500"): (1, 0.0)}
    assert [(t.day, t.conversations, t.failed) for t in await h.day_totals(None, D, D, all_widgets=True)] == [
        (D, 1, 1)]

    await h.record_refusals([RefusalCount(D + 60, "busy", 2, "w"), RefusalCount(D + 60, "busy", 1, "x")])

    def down_to_0003(conn: sa.Connection) -> None:
        command.downgrade(migrate.config(conn), "0003")
        command.upgrade(migrate.config(conn), "head")

    await h._run(down_to_0003)
    assert [(n.rule, n.refusals) for n in await h.refusal_counts(None, D, D + DAY)] == [("busy", 3)]
    await h.close()


async def test_seconds_cut_by_the_servers_early_ends(history: History) -> None:
    await history.record_end(ended("a", D + 10, 60, "visitor_end_button"), source="server")  # 540 s before expiry
    await history.record_end(ended("b", D + 20, 100, "heartbeat_timeout", widget="x"), source="server")  # 500
    await history.record_end(ended("c", D + 30, 50, "participant_left_timeout reached"), source="engine")
    await history.record_end(rec("d", D + 40, status="failed", ended=D + 41, reason="engine_http_500"),
                             source="server")
    assert await history.seconds_cut(D, D + DAY) == {"w": pytest.approx(540), "x": pytest.approx(500)}
    assert await history.seconds_cut(D + DAY, D + 2 * DAY) == {}


async def test_idle_seconds_are_the_ledgers_without_visitor(history: History) -> None:
    """The SQL sum equals ``ledger.without_visitor`` record by record, for every kind of end."""
    def seen(record: ConversationRecord, last_seen: float | None) -> ConversationRecord:
        return dataclasses.replace(record, last_seen=last_seen)

    records = [
        seen(ended("a", D + 10, 60, "visitor_end_button"), D + 65),               # the visitor's own end: 0
        seen(ended("b", D + 20, 100, "heartbeat_timeout"), D + 80),               # silent for 40 s
        seen(ended("c", D + 30, 50, "participant_left_timeout reached"), D + 90),  # seen after its end: 0
        ended("d", D + 40, 70, "reconciled_orphan"),                              # an orphan: its whole life
        ended("e", D + 50, 30, "heartbeat_timeout"),                              # nobody watched: not counted
        seen(rec("f", D + 60, status="failed", ended=D + 61, reason="engine_http_500"), D + 60),
        seen(ended("g", D + 70, 90, "operator_ended", widget="x"), D + 100),       # 60 s
        seen(ended("h", D + DAY + 5, 90, "heartbeat_timeout"), D + DAY + 10),     # another day
    ]
    for record in records:
        await history.record_end(record, source="server")
    expected: dict[str, float] = {}
    for r in records[:-1]:
        if (idle := without_visitor(r, D + DAY)) is not None:
            expected[r.widget] = expected.get(r.widget, 0.0) + idle
    assert expected == {"w": 110.0, "x": 60.0}
    assert await history.idle_seconds(D, D + DAY) == pytest.approx(expected)
    assert await history.idle_seconds(D + DAY, D + 2 * DAY) == {"w": pytest.approx(85.0)}


async def test_refusals_per_day_and_hour_add_up(history: History) -> None:
    # two instances' flushes of the same hour add up; a day is the sum of its hours
    await history.record_refusals([RefusalCount(D + 60, "busy", 2, "w"), RefusalCount(D + 3700, "busy", 1, "w"),
                                   RefusalCount(D + 3700, "rate-limited", 4, "x")])
    await history.record_refusals([RefusalCount(D + 120, "busy", 3, "w"), RefusalCount(D + DAY + 5, "busy", 1, "x")])
    await history.record_refusals([])

    def table(rows: list[RefusalCount]) -> dict[tuple[str, int, str], int]:
        return {(n.widget, n.bucket, n.rule): n.refusals for n in rows}

    assert table(await history.refusal_counts(None, D, D + 2 * DAY)) == {
        ("", D, "busy"): 6, ("", D, "rate-limited"): 4, ("", D + DAY, "busy"): 1}
    assert table(await history.refusal_counts(None, D, D + 2 * DAY, by_widget=True)) == {
        ("w", D, "busy"): 6, ("x", D, "rate-limited"): 4, ("x", D + DAY, "busy"): 1}
    assert table(await history.refusal_counts("x", D, D + DAY)) == {("", D, "rate-limited"): 4}
    assert table(await history.refusal_counts("w", D, D + DAY, 3600)) == {("", D, "busy"): 5, ("", D + 3600, "busy"): 1}
    with pytest.raises(ValueError):
        await history.refusal_counts(None, D, D + DAY, 900)
