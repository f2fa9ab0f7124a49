"""One contract for the history interface, on real SQLite and a real PostgreSQL server."""

from __future__ import annotations

import asyncio

import pytest

from widget_server.history import History, LedgerQuery, Retention
from widget_server.history.base import DAY, RefusalCount
from widget_server.history.migrate import head
from widget_server.store import ConversationRecord

pytestmark = pytest.mark.anyio
D = 20_000 * DAY  # a UTC day start


def rec(local_id: str, created: float, *, widget: str = "w", status: str = "active", ended: float | None = None,
        reason: str | None = None, cid: str | None = None, ip: str = "203.0.113.9") -> ConversationRecord:
    return ConversationRecord(local_id=local_id, widget=widget, status=status, created_at=created,
                              expires_at=created + 600, origin="https://www.example.com", client_ip=ip,
                              conversation_id=cid, ended_at=ended, end_reason=reason)


def ended(local_id: str, created: float, seconds: float, reason: str = "visitor_ended", *, widget: str = "w",
          cid: str | None = None) -> ConversationRecord:
    return rec(local_id, created, status="ended", ended=created + seconds, reason=reason, widget=widget, cid=cid)


async def test_schema_is_at_head(history: History) -> None:
    assert await history.schema_version() == head()
    assert await history.ping()


async def test_an_end_is_recorded_once_and_booked_once(history: History) -> None:
    live = rec("l1", D + 100, cid="c1")
    assert await history.record_created(live, ip_hash="h1")
    assert not await history.record_created(live)  # a retry changes nothing
    assert await history.record_started("l1", D + 103)
    assert not await history.record_started("l1", D + 109)
    done = ended("l1", D + 100, 60, reason="participant_absent_timeout reached", cid="c1")
    assert await history.record_end(done, source="engine", ip_hash="h1")
    assert not await history.record_end(done, source="engine")
    past = await history.conversation(conversation_id="c1")
    assert past is not None and past.status == "ended" and past.seconds == pytest.approx(60)
    assert past.end_source == "engine" and past.started_at == D + 103 and past.client_ip_hash == "h1"
    assert past == await history.conversation(local_id="l1")
    (day,) = await history.day_totals("w", D, D)
    assert (day.conversations, day.failed, day.seconds) == (1, 0, pytest.approx(60))
    assert [e.kind for e in await history.timeline("l1")] == ["created", "started", "ended"]


async def test_an_end_without_its_create_is_written_whole(history: History) -> None:
    assert await history.record_end(ended("l2", D + 10, 30, cid="c2"), source="server")
    assert not await history.record_created(rec("l2", D + 10, cid="c2"))  # late: the end stands
    past = await history.conversation(local_id="l2")
    assert past is not None and past.status == "ended" and past.seconds == 30


async def test_concurrent_ends_book_once(history: History) -> None:
    await history.record_created(rec("l3", D + 10))
    results = await asyncio.gather(*(history.record_end(ended("l3", D + 10, 40), source="server")
                                     for _ in range(5)))
    assert sorted(results) == [False] * 4 + [True]
    assert [d.seconds for d in await history.day_totals("w", D, D)] == [pytest.approx(40)]


async def test_failed_creates_count_no_seconds(history: History) -> None:
    failed = rec("l4", D + 5, status="failed", ended=D + 6, reason="engine_http_500")
    assert await history.record_end(failed, source="server")
    (day,) = await history.day_totals("w", D, D)
    assert (day.conversations, day.failed, day.seconds) == (0, 1, 0)
    past = await history.conversation(local_id="l4")
    assert past is not None and past.seconds == 0


async def test_midnight_is_split_between_days(history: History) -> None:
    await history.record_end(ended("l5", D + DAY - 100, 300), source="engine")
    totals = await history.day_totals(None, D, D + DAY)
    assert [(t.day, t.conversations, t.seconds) for t in totals] == [
        (D, 1, pytest.approx(100)), (D + DAY, 0, pytest.approx(200))]


async def test_ledger_pages_filter_and_order(history: History) -> None:
    for i in range(6):
        reason = "heartbeat_timeout" if i % 2 else "visitor_page_hidden"
        await history.record_end(ended(f"p{i}", D + i, 10, reason=reason, widget="a" if i < 4 else "b"),
                                 source="server")
    await history.record_created(rec("live", D + 10, widget="a"))
    newest = await history.page(LedgerQuery(limit=3))
    assert [p.local_id for p in newest] == ["live", "p5", "p4"]
    after = await history.page(LedgerQuery(limit=3, before=newest[-1].created_at))
    assert [p.local_id for p in after] == ["p3", "p2", "p1"]
    assert [p.local_id for p in await history.page(LedgerQuery(widget="a", reason="heartbeat_timeout"))] == ["p3", "p1"]
    assert [p.local_id for p in await history.page(LedgerQuery(reason="visitor_*", order="asc"))] == ["p0", "p2", "p4"]
    assert [p.local_id for p in await history.page(LedgerQuery(status="active"))] == ["live"]
    assert [p.local_id for p in await history.page(LedgerQuery(since=D + 2, until=D + 4, order="asc"))] == ["p2", "p3"]
    assert await history.page(LedgerQuery(reason="visitor%")) == []  # a literal, not a pattern


async def test_transcripts_callback_wins_over_a_fetch(history: History) -> None:
    await history.record_end(ended("t1", D, 20, cid="ct1"), source="engine")
    assert [p.local_id for p in await history.awaiting_transcript(D, D + 100, 10)] == ["t1"]
    fetched = [{"role": "user", "content": "hello"}]
    said = [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "hi"}]
    assert await history.record_transcript("t1", fetched, source="engine_get", at=D + 30)
    assert await history.record_transcript("t1", said, source="callback", at=D + 31)
    assert not await history.record_transcript("t1", fetched, source="engine_get", at=D + 32)
    got = await history.transcript("t1")
    assert got is not None and got.entries == said and got.source == "callback" and got.conversation_id == "ct1"
    assert await history.awaiting_transcript(D, D + 100, 10) == []
    await history.record_end(ended("t2", D, 20, cid="ct2"), source="engine")
    await history.mark_no_transcript("t2")
    past = await history.conversation(local_id="t2")
    assert past is not None and past.transcript == "none" and await history.transcript("t2") is None


async def test_recordings_deliveries_and_audit(history: History) -> None:
    await history.record_end(ended("r1", D, 20), source="engine")
    ref = {"bucket_name": "b", "s3_key": "c/1.mp4", "duration": 19}
    await history.record_recording("r1", ref, D + 40)
    await history.record_recording("r1", ref, D + 41)
    past = await history.conversation(local_id="r1")
    assert past is not None and past.recording == [ref]
    await history.record_delivery("evt_1", "conversation.ended", "c1", D + 50, 1, "http_500")
    await history.record_delivery("evt_1", "conversation.ended", "c1", D + 52, 2, "delivered")
    assert [d["outcome"] for d in await history.deliveries(D)] == ["http_500", "delivered"]
    await history.record_audit(D + 60, "server_key", "end", "c1", {"reason": "operator_ended"})
    (entry,) = await history.audit_log(D)
    assert entry["action"] == "end" and entry["detail"] == {"reason": "operator_ended"}


async def test_purge_keeps_what_retention_keeps(history: History) -> None:
    now = D + 100 * DAY
    await history.record_end(ended("old", D, 20, cid="c-old"), source="engine")            # 100 days ago
    await history.record_end(ended("mid", now - 20 * DAY, 20, cid="c-mid"), source="engine")
    await history.record_end(ended("new", now - DAY, 20, cid="c-new"), source="engine")
    await history.record_created(rec("live", D))                                            # never purged live
    for lid in ("old", "mid", "new"):
        await history.record_transcript(lid, [{"role": "user", "content": lid}], source="callback",
                                        at=(await history.conversation(local_id=lid)).ended_at)  # type: ignore[union-attr]
    await history.record_audit(D, "cli", "purge")
    await history.record_refusals([RefusalCount(now - 8 * DAY, "busy", 2, "w"),
                                   RefusalCount(now - DAY, "busy", 1, "w")])
    policy = Retention(conversations_days=90, transcripts_days=10, client_ip_days=2)
    counts = await history.purge(policy, now, dry_run=True)
    assert counts == {"conversations": 1, "transcripts": 1, "client_ips": 1, "deliveries": 0, "audit": 1,
                      "refusal_hours": 1}
    assert await history.conversation(local_id="old") is not None  # a dry run removes nothing
    assert await history.purge(policy, now) == counts
    assert await history.conversation(local_id="old") is None and await history.timeline("old") == []
    mid = await history.conversation(local_id="mid")
    assert mid is not None and mid.transcript == "purged" and mid.client_ip == ""
    assert await history.transcript("mid") is None
    new = await history.conversation(local_id="new")
    assert new is not None and new.client_ip == "203.0.113.9" and await history.transcript("new") is not None
    assert await history.conversation(local_id="live") is not None
    assert await history.purge(policy, now) == dict.fromkeys(counts, 0)
    # the day totals are aggregates without personal data: they stay (refusals per hour go after a week)
    assert [t.seconds for t in await history.day_totals("w", D, D)] == [pytest.approx(20)]
    assert [n.refusals for n in await history.refusal_counts("w", now - 9 * DAY, now, 3600)] == [1]
    assert [n.refusals for n in await history.refusal_counts("w", D, now + DAY)] == [2, 1]
