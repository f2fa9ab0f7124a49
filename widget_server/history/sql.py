"""History on SQLAlchemy Core 2.x (async): SQLite through aiosqlite, PostgreSQL through asyncpg.

    history = SqlHistory("postgresql://ws:pw@db.internal/widgets")
    await history.open()              # migrates to the head revision unless migrate=False

Every write is idempotent: an end is one conditional UPDATE (or an INSERT that does nothing when the row
exists) and books the day totals only when it changed the row, so a retry, or two instances recording the
same end, book it once.
"""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

from sqlalchemy import Select, and_, delete, event, false, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from widget_server.history import migrate as migrations
from widget_server.history.base import DAY, DayTotal, Event, LedgerQuery, Past, Retention, Transcript, day_parts
from widget_server.history.schema import audit, conversations, days, deliveries, events, transcripts
from widget_server.store import ConversationRecord

_LIVE_FIELDS = tuple(f.name for f in fields(ConversationRecord))
PURGE_BATCH = 5000


def async_url(url: str) -> str:
    """The driver-qualified URL: ``sqlite:///f`` -> ``sqlite+aiosqlite:///f``, ``postgresql://`` -> asyncpg."""
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url.removeprefix("sqlite:///")
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url.removeprefix(prefix)
    return url


def _sqlite_pragmas(dbapi: Any, _record: Any) -> None:
    cur = dbapi.cursor()
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _time(row_value: Any) -> float | None:
    return None if row_value is None else float(row_value)


class SqlHistory:
    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: AsyncEngine | None = None

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            raise RuntimeError("history is not open")
        return self._engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def open(self, *, migrate: bool = True) -> None:
        if self._engine is not None:
            return
        target = make_url(async_url(self.url))
        if target.get_backend_name() == "sqlite":
            if target.database and target.database != ":memory:":
                from pathlib import Path

                Path(target.database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_async_engine(target, connect_args={"timeout": 10})
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        else:
            engine = create_async_engine(target, pool_size=5, max_overflow=10, pool_pre_ping=True,
                                         pool_recycle=1800)
        self._engine = engine
        try:
            if migrate:
                await migrations.upgrade(engine)
            else:
                await migrations.require_head(engine)
        except BaseException:
            self._engine = None
            await engine.dispose()
            raise

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except (SQLAlchemyError, OSError, RuntimeError):
            return False

    async def schema_version(self) -> str | None:
        async with self.engine.connect() as conn:
            return await conn.run_sync(migrations.current)

    # --- writes -------------------------------------------------------------------------------------------
    def _insert(self, table: Any) -> Any:
        return (postgresql.insert(table) if self.dialect == "postgresql" else sqlite.insert(table))

    @staticmethod
    def _row(record: ConversationRecord, now: float, ip_hash: str) -> dict[str, Any]:
        row = {name: getattr(record, name) for name in _LIVE_FIELDS}
        row["status"] = "active" if record.live and record.status != "lost" else record.status
        row["updated_at"] = now
        row["origin"] = (record.origin or "")[:300]
        row["client_ip"] = (record.client_ip or "")[:64]
        if ip_hash:
            row["client_ip_hash"] = ip_hash
        if record.end_reason is not None:
            row["end_reason"] = record.end_reason[:200]
        if record.ended_at is not None:
            row["seconds"] = 0.0 if record.status == "failed" else max(0.0, record.ended_at - record.created_at)
        return row

    async def _event(self, conn: AsyncConnection, local_id: str, at: float, kind: str, **data: Any) -> None:
        await conn.execute(insert(events).values(local_id=local_id, at=at, kind=kind,
                                                 data=json.dumps(data, separators=(",", ":"))))

    async def record_created(self, record: ConversationRecord, ip_hash: str = "") -> bool:
        row = self._row(record, record.created_at, ip_hash)
        async with self.engine.begin() as conn:
            done = await conn.execute(self._insert(conversations).values(**row)
                                      .on_conflict_do_nothing(index_elements=["local_id"]))
            if done.rowcount != 1:
                return False
            await self._event(conn, record.local_id, record.created_at, "created", origin=row["origin"])
        return True

    async def record_started(self, local_id: str, at: float) -> bool:
        async with self.engine.begin() as conn:
            done = await conn.execute(update(conversations)
                                      .where(conversations.c.local_id == local_id, conversations.c.started_at.is_(None))
                                      .values(started_at=at, updated_at=at))
            if done.rowcount != 1:
                return False
            await self._event(conn, local_id, at, "started")
        return True

    async def record_end(self, record: ConversationRecord, *, source: str, ip_hash: str = "") -> bool:
        if record.ended_at is None:
            raise ValueError("record_end needs an ended record")
        row = {**self._row(record, record.ended_at, ip_hash), "end_source": source}
        async with self.engine.begin() as conn:
            # what the record does not know (a start the live store never saw) is left as history has it
            changes = {k: v for k, v in row.items() if k != "local_id" and v is not None}
            done = await conn.execute(update(conversations)
                                      .where(conversations.c.local_id == record.local_id,
                                             conversations.c.ended_at.is_(None))
                                      .values(**changes))
            if done.rowcount != 1:
                done = await conn.execute(self._insert(conversations).values(**row)
                                          .on_conflict_do_nothing(index_elements=["local_id"]))
                if done.rowcount != 1:
                    return False  # ended already: recorded by an earlier call
            await self._book(conn, record)
            await self._event(conn, record.local_id, record.ended_at, "ended", reason=record.end_reason,
                              status=record.status, source=source, seconds=round(row["seconds"], 3))
        return True

    async def _book(self, conn: AsyncConnection, record: ConversationRecord) -> None:
        assert record.ended_at is not None
        totals: dict[int, dict[str, Any]] = {}

        def at(day: int) -> dict[str, Any]:
            return totals.setdefault(day, {"widget": record.widget, "day": day, "conversations": 0, "failed": 0,
                                           "seconds": 0.0})

        created_day = int(record.created_at // DAY) * DAY
        if record.status == "failed":
            at(created_day)["failed"] += 1
        else:
            at(created_day)["conversations"] += 1
            for day, part in day_parts(record.created_at, record.ended_at):
                at(day)["seconds"] += part
        stmt = self._insert(days).values(list(totals.values()))
        await conn.execute(stmt.on_conflict_do_update(
            index_elements=["widget", "day"],
            set_={"conversations": days.c.conversations + stmt.excluded.conversations,
                  "failed": days.c.failed + stmt.excluded.failed,
                  "seconds": days.c.seconds + stmt.excluded.seconds}))

    async def record_transcript(self, local_id: str, entries: list[dict[str, Any]], *, source: str,
                                at: float) -> bool:
        body = json.dumps(entries, separators=(",", ":"), ensure_ascii=False)
        async with self.engine.begin() as conn:
            stmt = self._insert(transcripts).values(local_id=local_id, source=source, received_at=at, body=body)
            if source == "callback":
                stmt = stmt.on_conflict_do_update(index_elements=["local_id"],
                                                  set_={"source": source, "received_at": at, "body": body})
            else:
                stmt = stmt.on_conflict_do_nothing(index_elements=["local_id"])
            done = await conn.execute(stmt)
            if done.rowcount != 1:
                return False
            await conn.execute(update(conversations).where(conversations.c.local_id == local_id)
                               .values(transcript="kept", updated_at=at))
            await self._event(conn, local_id, at, "transcript", source=source, entries=len(entries))
        return True

    async def mark_no_transcript(self, local_id: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(update(conversations)
                               .where(conversations.c.local_id == local_id, conversations.c.transcript == "")
                               .values(transcript="none"))

    async def record_recording(self, local_id: str, ref: dict[str, Any], at: float) -> None:
        async with self.engine.begin() as conn:
            found = (await conn.execute(select(conversations.c.recording)
                                        .where(conversations.c.local_id == local_id))).first()
            if found is not None:
                refs = json.loads(found[0]) if found[0] else []
                if ref not in refs:
                    refs.append(ref)
                await conn.execute(update(conversations).where(conversations.c.local_id == local_id)
                                   .values(recording=json.dumps(refs), updated_at=at))
            await self._event(conn, local_id, at, "recording", **ref)

    async def record_delivery(self, event_id: str, event_type: str, conversation_id: str | None, at: float,
                              attempt: int, outcome: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(insert(deliveries).values(event_id=event_id, event_type=event_type[:40],
                                                         conversation_id=conversation_id, at=at,
                                                         attempt=attempt, outcome=outcome[:16]))

    async def record_audit(self, at: float, actor: str, action: str, target: str = "",
                           detail: dict[str, Any] | None = None) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(insert(audit).values(at=at, actor=actor[:64], action=action[:64], target=target[:128],
                                                    detail=json.dumps(detail or {}, separators=(",", ":"))))

    # --- reads --------------------------------------------------------------------------------------------
    @staticmethod
    def _past(row: Any) -> Past:
        m = row._mapping
        values: dict[str, Any] = {name: m[name] for name in _LIVE_FIELDS}
        for name in ("origin", "client_ip", "conversation_url"):
            values[name] = values[name] or ""
        return Past(**values, seconds=float(m["seconds"]), end_source=m["end_source"],
                    client_ip_hash=m["client_ip_hash"], consent=m["consent"], rating=m["rating"],
                    transcript=m["transcript"], recording=json.loads(m["recording"]) if m["recording"] else [])

    async def conversation(self, *, conversation_id: str | None = None,
                           local_id: str | None = None) -> Past | None:
        if (conversation_id is None) == (local_id is None):
            raise ValueError("give conversation_id or local_id")
        key = conversations.c.conversation_id == conversation_id if local_id is None else \
            conversations.c.local_id == local_id
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(conversations).where(key))).first()
        return None if row is None else self._past(row)

    @staticmethod
    def _query(q: LedgerQuery) -> Select[Any]:
        c = conversations.c
        conds = []
        if q.widget is not None:
            conds.append(c.widget == q.widget)
        if q.status is not None:
            conds.append(c.status == q.status)
        if q.reason is not None:
            if q.reason.endswith("*"):
                prefix = q.reason[:-1].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                conds.append(c.end_reason.like(prefix + "%", escape="\\"))
            else:
                conds.append(c.end_reason == q.reason)
        if q.since is not None:
            conds.append(c.created_at >= q.since)
        if q.until is not None:
            conds.append(c.created_at < q.until)
        if q.before is not None:
            conds.append(c.created_at < q.before)
        stmt = select(conversations).where(and_(True, *conds))
        stmt = stmt.order_by(c.created_at.desc() if q.order == "desc" else c.created_at.asc())
        return stmt if q.limit is None else stmt.limit(q.limit)

    async def page(self, query: LedgerQuery) -> list[Past]:
        async with self.engine.connect() as conn:
            return [self._past(r) for r in await conn.execute(self._query(query))]

    async def day_totals(self, widget: str | None, first_day: float, last_day: float) -> list[DayTotal]:
        stmt = select(days).where(days.c.day >= int(first_day), days.c.day <= int(last_day))
        if widget is not None:
            stmt = stmt.where(days.c.widget == widget)
        async with self.engine.connect() as conn:
            rows = await conn.execute(stmt.order_by(days.c.day, days.c.widget))
            return [DayTotal(r.widget, int(r.day), int(r.conversations), int(r.failed), float(r.seconds))
                    for r in rows]

    async def timeline(self, local_id: str) -> list[Event]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(events).where(events.c.local_id == local_id)
                                      .order_by(events.c.at, events.c.id))
            return [Event(float(r.at), r.kind, json.loads(r.data)) for r in rows]

    async def transcript(self, local_id: str) -> Transcript | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(
                select(transcripts, conversations.c.conversation_id)
                .join(conversations, conversations.c.local_id == transcripts.c.local_id, isouter=True)
                .where(transcripts.c.local_id == local_id))).first()
        if row is None:
            return None
        return Transcript(row.local_id, row.conversation_id, row.source, float(row.received_at), json.loads(row.body))

    async def awaiting_transcript(self, ended_after: float, ended_before: float, limit: int) -> list[Past]:
        c = conversations.c
        stmt = (select(conversations)
                .where(c.transcript == "", c.ended_at >= ended_after, c.ended_at < ended_before,
                       c.status == "ended", c.conversation_id.is_not(None))
                .order_by(c.ended_at).limit(limit))
        async with self.engine.connect() as conn:
            return [self._past(r) for r in await conn.execute(stmt)]

    async def audit_log(self, since: float, limit: int = 100) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(audit).where(audit.c.at >= since).order_by(audit.c.at).limit(limit))
            return [{**r._asdict(), "detail": json.loads(r.detail)} for r in rows]

    async def deliveries(self, since: float, limit: int = 100) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(deliveries).where(deliveries.c.at >= since)
                                      .order_by(deliveries.c.at, deliveries.c.id).limit(limit))
            return [r._asdict() for r in rows]

    # --- retention ----------------------------------------------------------------------------------------
    async def purge(self, retention: Retention, now: float, *, dry_run: bool = False) -> dict[str, int]:
        c = conversations.c
        counts = dict.fromkeys(("conversations", "transcripts", "client_ips", "deliveries", "audit"), 0)
        gone: Any = false()  # the conversations removed whole: not counted again below
        if retention.conversations_days:
            cut = now - retention.conversations_days * DAY
            gone = and_(c.created_at < cut, c.ended_at.is_not(None))
            counts["conversations"] = await self._purge(gone, dry_run)
            async with self.engine.begin() as conn:
                for name, table in (("deliveries", deliveries), ("audit", audit)):
                    old = table.c.at < cut
                    counts[name] = await _count(conn, select(func.count()).select_from(table).where(old)) \
                        if dry_run else (await conn.execute(delete(table).where(old))).rowcount
        if retention.transcripts_days:
            cut = now - retention.transcripts_days * DAY
            old_t = select(transcripts.c.local_id).where(
                transcripts.c.received_at < cut, transcripts.c.local_id.not_in(select(c.local_id).where(gone)))
            async with self.engine.begin() as conn:
                if dry_run:
                    counts["transcripts"] = await _count(conn, select(func.count()).select_from(old_t.subquery()))
                else:
                    await conn.execute(update(conversations).where(c.local_id.in_(old_t)).values(transcript="purged"))
                    counts["transcripts"] = (await conn.execute(
                        delete(transcripts).where(transcripts.c.received_at < cut))).rowcount
        if retention.client_ip_days:
            cut = now - retention.client_ip_days * DAY
            with_ip = and_(c.created_at < cut, c.client_ip != "", c.ended_at.is_not(None), ~gone)
            async with self.engine.begin() as conn:
                counts["client_ips"] = await _count(conn, select(func.count()).where(with_ip)) if dry_run else \
                    (await conn.execute(update(conversations).where(with_ip).values(client_ip=""))).rowcount
        return counts

    async def _purge(self, old: Any, dry_run: bool) -> int:
        """Ended conversations matching ``old``, with their events and transcripts, a batch per transaction."""
        if dry_run:
            async with self.engine.connect() as conn:
                return await _count(conn, select(func.count()).select_from(conversations).where(old))
        removed = 0
        while True:
            async with self.engine.begin() as conn:
                batch = [r[0] for r in await conn.execute(
                    select(conversations.c.local_id).where(old).limit(PURGE_BATCH))]
                for table in (events, transcripts):
                    await conn.execute(delete(table).where(table.c.local_id.in_(batch)))
                await conn.execute(delete(conversations).where(conversations.c.local_id.in_(batch)))
            removed += len(batch)
            if len(batch) < PURGE_BATCH:
                return removed


async def _count(conn: AsyncConnection, stmt: Any) -> int:
    return int((await conn.execute(stmt)).scalar_one())


