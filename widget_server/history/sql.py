"""History on SQLAlchemy Core 2.x: PostgreSQL through asyncpg (async), SQLite through a worker thread.

    history = SqlHistory("postgresql://ws:pw@db.internal/widgets")
    await history.open()              # migrates to the head revision unless migrate=False

Each operation is one transaction, written once as a function of a (sync) Connection: on PostgreSQL it
runs on the async engine (``AsyncConnection.run_sync``), on SQLite whole in a worker thread. The thread is
not a detail: by default the history shares its SQLite file with the live store, whose calls hold the
file's lock on the event loop thread; a transaction that went back to the loop between its statements
(as an aiosqlite one does) would wait for the loop while the loop waits for its lock.

Every write is idempotent: an end is one conditional UPDATE (or an INSERT that does nothing when the row
exists) and books the day totals only when it changed the row, so a retry, or two instances recording the
same end, book it once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    Engine,
    Integer,
    Select,
    and_,
    case,
    cast,
    create_engine,
    delete,
    event,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from widget_server.history import migrate as migrations
from widget_server.history.base import (
    DAY,
    HOUR,
    REFUSAL_HOURS_KEEP_S,
    DayTotal,
    Event,
    LedgerQuery,
    Past,
    ReasonCount,
    RefusalCount,
    Retention,
    Transcript,
    day_parts,
)
from widget_server.history.schema import (
    audit,
    conversations,
    day_reasons,
    day_reasons_all,
    days,
    days_all,
    deliveries,
    events,
    refusal_days,
    refusal_days_all,
    refusal_hours,
    transcripts,
)
from widget_server.store import ConversationRecord

T = TypeVar("T")
_LIVE_FIELDS = tuple(f.name for f in fields(ConversationRecord))
PURGE_BATCH = 5000
CREATED_DELAY_S = 0.2    # how long a new conversation's row may wait to be written with others
CREATED_BATCH = 500


def driver_url(url: str) -> str:
    """``postgresql://`` -> the asyncpg driver; ``sqlite:///`` stays the standard library's."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url.removeprefix(prefix)
    return url


def _sqlite_pragmas(dbapi: Any, _record: Any) -> None:
    dbapi.isolation_level = None  # the driver's own BEGIN skips DDL: SQLAlchemy says BEGIN (below) instead
    cur = dbapi.cursor()
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _event(conn: Connection, local_id: str, at: float, kind: str, **data: Any) -> None:
    conn.execute(insert(events).values(local_id=local_id, at=at, kind=kind, data=_json(data)))


def _count(conn: Connection, stmt: Any) -> int:
    return int(conn.execute(stmt).scalar_one())


class SqlHistory:
    def __init__(self, url: str, *, created_delay_s: float = CREATED_DELAY_S) -> None:
        self.url = url
        self._async: AsyncEngine | None = None
        self._sync: Engine | None = None
        self._created: list[tuple[ConversationRecord, str]] = []
        self._created_delay_s = created_delay_s
        self._created_writer: asyncio.Task[None] | None = None
        self._created_now = asyncio.Event()
        self.created_failed: Callable[[Exception], None] = lambda exc: None

    @property
    def opened(self) -> bool:
        return self._async is not None or self._sync is not None

    @property
    def dialect(self) -> str:
        return "postgresql" if self._async is not None else "sqlite"

    async def _run(self, fn: Callable[[Connection], T], *, write: bool = True, flush: bool = True) -> T:
        """``fn`` in one transaction (committed unless it raises), after the queued creates (read your writes)."""
        if flush and self._created_writer is not None:
            await self.flush_created()
        if self._async is not None:
            engine = self._async
            async with (engine.begin() if write else engine.connect()) as conn:
                return await conn.run_sync(fn)
        if self._sync is None:
            raise RuntimeError("history is not open")
        sync = self._sync

        def whole() -> T:
            with sync.connect() as conn:
                conn.info["immediate"] = write  # a writer takes the lock first: no upgrade to fail halfway
                with conn.begin():
                    return fn(conn)

        return await asyncio.to_thread(whole)

    async def open(self, *, migrate: bool = True) -> None:
        if self.opened:
            return
        target = make_url(driver_url(self.url))
        if target.get_backend_name() == "sqlite":
            if target.database and target.database != ":memory:":
                Path(target.database).parent.mkdir(parents=True, exist_ok=True)
            self._sync = create_engine(target, connect_args={"timeout": 10, "check_same_thread": False})
            event.listen(self._sync, "connect", _sqlite_pragmas)
            event.listen(self._sync, "begin", lambda conn: conn.exec_driver_sql(
                "BEGIN IMMEDIATE" if conn.info.get("immediate") else "BEGIN"))
        else:
            self._async = create_async_engine(target, pool_size=5, max_overflow=10, pool_pre_ping=True,
                                              pool_recycle=1800)
        try:
            if self._async is not None:
                await migrations.upgrade_async(self._async) if migrate else await migrations.require_head_async(
                    self._async)
            elif migrate:
                try:
                    await self._run(migrations.upgrade)
                except OperationalError:  # another process on this machine migrated it a moment ago: look again
                    await self._run(migrations.upgrade)
            else:
                await self._run(migrations.require_head)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self._created_writer is not None and self.opened:
            with contextlib.suppress(Exception):  # what is lost is only a live row: the end writes it whole
                await self.flush_created()
        if self._async is not None:
            await self._async.dispose()
            self._async = None
        if self._sync is not None:
            self._sync.dispose()
            self._sync = None

    async def ping(self) -> bool:
        try:
            await self._run(lambda conn: conn.execute(text("SELECT 1")).scalar_one(), write=False)
            return True
        except (SQLAlchemyError, OSError, RuntimeError):
            return False

    async def schema_version(self) -> str | None:
        return await self._run(migrations.current, write=False)

    # --- writes -------------------------------------------------------------------------------------------
    def _insert(self, table: Any) -> Any:
        return postgresql.insert(table) if self.dialect == "postgresql" else sqlite.insert(table)

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

    async def record_created(self, record: ConversationRecord, ip_hash: str = "") -> bool:
        return record.local_id in await self.record_created_many([(record, ip_hash)])

    def queue_created(self, record: ConversationRecord, ip_hash: str = "") -> None:
        """``record_created`` within ``created_delay_s``, batched with the other creates meanwhile.

        A create need not wait for history, and on a busy server one transaction per create, not the
        rows, is what costs (one row: 0.6 ms of CPU; 16 in one batch: 0.08 ms each). Every read or
        write here waits for the queue first, so nothing reads around a queued row. A failed batch goes
        to ``created_failed`` (a live row only: its end writes the whole row again).
        """
        self._created.append((record, ip_hash))
        if self._created_writer is None:
            self._created_now.clear()
            self._created_writer = asyncio.create_task(self._write_created())

    async def flush_created(self) -> None:
        """Write the queued creates now (and wait for them)."""
        writer = self._created_writer
        if writer is not None:
            self._created_now.set()
            await asyncio.shield(writer)

    async def _write_created(self) -> None:
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._created_now.wait(), self._created_delay_s)
            while self._created:
                batch, self._created = self._created[:CREATED_BATCH], self._created[CREATED_BATCH:]
                try:
                    await self.record_created_many(batch, flush=False)
                except Exception as exc:
                    self.created_failed(exc)
        finally:
            self._created_writer = None

    async def record_created_many(self, items: Sequence[tuple[ConversationRecord, str]], *,
                                  flush: bool = True) -> set[str]:
        """Rows for new conversations (record, ip hash), in one transaction; the local ids that were new.

        A retry changes nothing. One statement per table for the whole batch.
        """
        rows = [self._row(record, record.created_at, ip_hash) for record, ip_hash in items]
        by_keys: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for row in rows:  # one executemany per shape (an ip hash, an end reason are not always there)
            by_keys.setdefault(tuple(row), []).append(row)
        c = conversations.c
        stmt = self._insert(conversations).on_conflict_do_nothing(index_elements=["local_id"]).returning(c.local_id)

        def write(conn: Connection) -> set[str]:
            new: set[str] = set()
            for same in by_keys.values():
                new.update(conn.execute(stmt, same).scalars())
            created = [{"local_id": row["local_id"], "at": row["created_at"], "kind": "created",
                        "data": _json({"origin": row["origin"]})} for row in rows if row["local_id"] in new]
            if created:
                conn.execute(insert(events), created)
            return new

        return await self._run(write, flush=flush)

    async def record_started(self, local_id: str, at: float) -> bool:
        c = conversations.c

        def write(conn: Connection) -> bool:
            done = conn.execute(update(conversations).where(c.local_id == local_id, c.started_at.is_(None))
                                .values(started_at=at, updated_at=at))
            if done.rowcount != 1:
                return False
            _event(conn, local_id, at, "started")
            return True

        return await self._run(write)

    async def record_end(self, record: ConversationRecord, *, source: str, ip_hash: str = "") -> bool:
        if record.ended_at is None:
            raise ValueError("record_end needs an ended record")
        row = {**self._row(record, record.ended_at, ip_hash), "end_source": source}
        # what the record does not know (a start the live store never saw) is left as history has it
        changes = {k: v for k, v in row.items() if k != "local_id" and v is not None}
        c = conversations.c
        # an open row; or a failed create the reconciler found alive at the engine (and ended)
        open_or_adopted = c.ended_at.is_(None) if record.status == "failed" else \
            or_(c.ended_at.is_(None), c.status == "failed")
        insert_new = self._insert(conversations).values(**row).on_conflict_do_nothing(index_elements=["local_id"])

        def write(conn: Connection) -> bool:
            was = conn.execute(select(c.status, c.end_reason)
                               .where(c.local_id == record.local_id, open_or_adopted)).first()
            if was is not None:
                done = conn.execute(update(conversations)
                                    .where(c.local_id == record.local_id, open_or_adopted).values(**changes))
            else:
                done = conn.execute(insert_new)
            if done.rowcount != 1:
                return False  # ended already: recorded by an earlier call
            self._book(conn, record, was_failed=was is not None and was[0] == "failed")
            self._book_reason(conn, record, float(row["seconds"]),
                              failed_reason=was[1] or "" if was is not None and was[0] == "failed" else None)
            _event(conn, record.local_id, record.ended_at or 0.0, "ended", reason=record.end_reason,
                   status=record.status, source=source, seconds=round(row["seconds"], 3))
            return True

        return await self._run(write)

    def _book(self, conn: Connection, record: ConversationRecord, *, was_failed: bool) -> None:
        assert record.ended_at is not None
        totals: dict[int, dict[str, Any]] = {}

        def on(day: int) -> dict[str, Any]:
            return totals.setdefault(day, {"widget": record.widget, "day": day, "conversations": 0, "failed": 0,
                                           "seconds": 0.0})

        created_day = int(record.created_at // DAY) * DAY
        if record.status == "failed":
            on(created_day)["failed"] += 1
        else:
            on(created_day)["conversations"] += 1
            on(created_day)["failed"] -= 1 if was_failed else 0
            for day, part in day_parts(record.created_at, record.ended_at):
                on(day)["seconds"] += part
        for table, keys, rows in ((days, ["widget", "day"], list(totals.values())),
                                  (days_all, ["day"], [{k: v for k, v in t.items() if k != "widget"}
                                                       for t in totals.values()])):
            stmt = self._insert(table).values(rows)
            conn.execute(stmt.on_conflict_do_update(
                index_elements=keys,
                set_={"conversations": table.c.conversations + stmt.excluded.conversations,
                      "failed": table.c.failed + stmt.excluded.failed,
                      "seconds": table.c.seconds + stmt.excluded.seconds}))

    def _book_reason(self, conn: Connection, record: ConversationRecord, seconds: float, *,
                     failed_reason: str | None) -> None:
        """Count the end under its reason on its creation day; an adopted failure leaves its old reason."""
        day = int(record.created_at // DAY) * DAY
        rows = [{"widget": record.widget, "day": day, "status": record.status, "reason": record.end_reason or "",
                 "conversations": 1, "seconds": seconds}]
        if failed_reason is not None:
            rows.append({"widget": record.widget, "day": day, "status": "failed", "reason": failed_reason,
                         "conversations": -1, "seconds": 0.0})
        for values in rows:  # one row each: a multi-row upsert may not name the same key twice
            for table, keys, row in ((day_reasons, ["widget", "day", "status", "reason"], values),
                                     (day_reasons_all, ["day", "status", "reason"],
                                      {k: v for k, v in values.items() if k != "widget"})):
                stmt = self._insert(table).values(row)
                conn.execute(stmt.on_conflict_do_update(
                    index_elements=keys,
                    set_={"conversations": table.c.conversations + stmt.excluded.conversations,
                          "seconds": table.c.seconds + stmt.excluded.seconds}))

    async def record_transcript(self, local_id: str, entries: list[dict[str, Any]], *, source: str,
                                at: float) -> bool:
        body = _json(entries)
        stmt = self._insert(transcripts).values(local_id=local_id, source=source, received_at=at, body=body)
        if source == "callback":
            stmt = stmt.on_conflict_do_update(index_elements=["local_id"],
                                              set_={"source": source, "received_at": at, "body": body})
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=["local_id"])

        def write(conn: Connection) -> bool:
            if conn.execute(stmt).rowcount != 1:
                return False
            conn.execute(update(conversations).where(conversations.c.local_id == local_id)
                         .values(transcript="kept", updated_at=at))
            _event(conn, local_id, at, "transcript", source=source, entries=len(entries))
            return True

        return await self._run(write)

    async def mark_no_transcript(self, local_id: str) -> None:
        c = conversations.c
        stmt = update(conversations).where(c.local_id == local_id, c.transcript == "").values(transcript="none")
        await self._run(lambda conn: conn.execute(stmt))

    async def record_recording(self, local_id: str, ref: dict[str, Any], at: float) -> None:
        c = conversations.c

        def write(conn: Connection) -> None:
            found = conn.execute(select(c.recording).where(c.local_id == local_id)).first()
            if found is not None:
                refs = json.loads(found[0]) if found[0] else []
                if ref not in refs:
                    refs.append(ref)
                conn.execute(update(conversations).where(c.local_id == local_id)
                             .values(recording=_json(refs), updated_at=at))
            _event(conn, local_id, at, "recording", **ref)

        await self._run(write)

    async def record_delivery(self, event_id: str, event_type: str, conversation_id: str | None, at: float,
                              attempt: int, outcome: str) -> None:
        stmt = insert(deliveries).values(event_id=event_id, event_type=event_type[:40], conversation_id=conversation_id,
                                         at=at, attempt=attempt, outcome=outcome[:16])
        await self._run(lambda conn: conn.execute(stmt))

    async def record_audit(self, at: float, actor: str, action: str, target: str = "",
                           detail: dict[str, Any] | None = None) -> None:
        stmt = insert(audit).values(at=at, actor=actor[:64], action=action[:64], target=target[:128],
                                    detail=_json(detail or {}))
        await self._run(lambda conn: conn.execute(stmt))

    async def record_refusals(self, counts: list[RefusalCount]) -> None:
        per_day: dict[tuple[str, int, str], int] = {}
        for n in counts:
            key = (n.widget, int(n.bucket // DAY) * DAY, n.rule)
            per_day[key] = per_day.get(key, 0) + n.refusals
        hours = [{"widget": n.widget, "hour": int(n.bucket // HOUR) * HOUR, "rule": n.rule[:40],
                  "refusals": n.refusals} for n in counts if n.refusals]
        day_rows = [{"widget": w, "day": d, "rule": r[:40], "refusals": k} for (w, d, r), k in per_day.items() if k]
        if not hours:
            return

        all_rows: dict[tuple[int, str], int] = {}
        for (_, day, rule), k in per_day.items():
            all_rows[(day, rule[:40])] = all_rows.get((day, rule[:40]), 0) + k

        def add(table: Any, keys: list[str], rows: list[dict[str, Any]]) -> Any:
            stmt = self._insert(table).values(rows)
            return stmt.on_conflict_do_update(index_elements=keys,
                                              set_={"refusals": table.c.refusals + stmt.excluded.refusals})

        def write(conn: Connection) -> None:
            conn.execute(add(refusal_hours, ["widget", "hour", "rule"], hours))
            conn.execute(add(refusal_days, ["widget", "day", "rule"], day_rows))
            conn.execute(add(refusal_days_all, ["day", "rule"],
                             [{"day": d, "rule": r, "refusals": n} for (d, r), n in all_rows.items() if n]))

        await self._run(write)

    # --- reads --------------------------------------------------------------------------------------------
    @staticmethod
    def _past(row: Any) -> Past:
        m = row._mapping
        values: dict[str, Any] = {name: m[name] for name in _LIVE_FIELDS}
        for name in ("origin", "client_ip", "conversation_url"):
            values[name] = values[name] or ""
        return Past(**values, seconds=float(m["seconds"]), end_source=m["end_source"],
                    client_ip_hash=m["client_ip_hash"],
                    transcript=m["transcript"], recording=json.loads(m["recording"]) if m["recording"] else [])

    async def _pasts(self, stmt: Any) -> list[Past]:
        return await self._run(lambda conn: [self._past(r) for r in conn.execute(stmt)], write=False)

    async def conversation(self, *, conversation_id: str | None = None,
                           local_id: str | None = None) -> Past | None:
        if (conversation_id is None) == (local_id is None):
            raise ValueError("give conversation_id or local_id")
        c = conversations.c
        key = c.conversation_id == conversation_id if local_id is None else c.local_id == local_id
        found = await self._pasts(select(conversations).where(key))
        return found[0] if found else None

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
        if q.before is not None and q.before_id is not None:
            # the first condition is the index's range (what makes a deep page cost what the first does)
            conds.extend([c.created_at <= q.before,
                          or_(c.created_at < q.before, and_(c.created_at == q.before, c.local_id < q.before_id))])
        elif q.before is not None:
            conds.append(c.created_at < q.before)
        if q.rating in ("up", "down"):  # "rating IS NOT NULL" said: the partial index of rated ones serves it
            conds.extend([c.rating.is_not(None), or_(c.rating.like(f'%"thumbs":"{q.rating}"%'),
                                                     c.rating.like(f'%"thumbs": "{q.rating}"%'))])
        elif q.rating == "none":
            conds.append(c.rating.is_(None))
        elif q.rating == "any":
            conds.append(c.rating.is_not(None))
        stmt = select(conversations).where(and_(True, *conds))
        stmt = stmt.order_by(*((c.created_at.desc(), c.local_id.desc()) if q.order == "desc"
                               else (c.created_at.asc(), c.local_id.asc())))
        return stmt if q.limit is None else stmt.limit(q.limit)

    async def page(self, query: LedgerQuery) -> list[Past]:
        return await self._pasts(self._query(query))

    async def day_totals(self, widget: str | None, first_day: float, last_day: float, *,
                         all_widgets: bool = False) -> list[DayTotal]:
        if all_widgets and widget is None:  # kept summed over the widgets as conversations end
            a = days_all.c
            every = (select(a.day, a.conversations, a.failed, a.seconds)
                     .where(a.day >= int(first_day), a.day <= int(last_day)).order_by(a.day))
            return await self._run(lambda conn: [
                DayTotal("", int(day), int(n), int(failed), float(secs))
                for day, n, failed, secs in conn.execute(every)], write=False)
        stmt = select(days).where(days.c.day >= int(first_day), days.c.day <= int(last_day))
        if widget is not None:
            stmt = stmt.where(days.c.widget == widget)
        stmt = stmt.order_by(days.c.day, days.c.widget)
        return await self._run(lambda conn: [
            DayTotal(r.widget, int(r.day), int(r.conversations), int(r.failed), float(r.seconds))
            for r in conn.execute(stmt)], write=False)

    async def reason_counts(self, widget: str | None, since: float, until: float,
                            bucket_s: int = DAY, *, by_widget: bool = False) -> list[ReasonCount]:
        if by_widget and not (bucket_s == DAY and since % DAY == 0):
            raise ValueError("by_widget is for whole days")
        if bucket_s == DAY and since % DAY == 0:  # whole days: the per-day reason totals, never the ledger
            if widget is None and not by_widget:  # all widgets: their own totals, one row each, nothing to sum
                a = day_reasons_all.c
                stmt = (select(a.day, a.status, a.reason, a.conversations, a.seconds, literal(""))
                        .where(a.day >= int(since), a.day < math.ceil(until)).order_by(a.day))
            else:
                r = day_reasons.c
                keys = [r.day, r.status, r.reason]
                stmt = (select(*keys, func.sum(r.conversations), func.sum(r.seconds),
                               r.widget if by_widget else literal(""))
                        .where(r.day >= int(since), r.day < math.ceil(until)))
                if widget is not None:
                    stmt = stmt.where(r.widget == widget)
                stmt = stmt.group_by(*keys, *([r.widget] if by_widget else [])).order_by(r.day)
            # unpacked by position: a year of every reason is thousands of rows, named access costs per row
            return await self._run(lambda conn: [
                ReasonCount(int(day), status, reason, int(n), float(secs or 0.0), w)
                for day, status, reason, n, secs, w in conn.execute(stmt) if n], write=False)
        c = conversations.c
        # SQLite's floor() exists only where it was compiled in; a cast truncates, as floor does for times
        whole = func.floor(c.created_at / bucket_s) if self.dialect == "postgresql" else \
            cast(c.created_at / bucket_s, Integer)
        bucket = (whole * bucket_s).label("bucket")
        reason = func.coalesce(c.end_reason, "").label("reason")
        stmt = (select(bucket, c.status, reason, func.count().label("n"), func.sum(c.seconds).label("s"))
                .where(c.created_at >= since, c.created_at < until))
        if widget is not None:
            stmt = stmt.where(c.widget == widget)
        stmt = stmt.group_by(bucket, c.status, reason).order_by(bucket)
        return await self._run(lambda conn: [
            ReasonCount(int(r.bucket), r.status, r.reason, int(r.n), float(r.s or 0.0))
            for r in conn.execute(stmt)], write=False)

    async def refusal_counts(self, widget: str | None, since: float, until: float, bucket_s: int = DAY, *,
                             by_widget: bool = False) -> list[RefusalCount]:
        if bucket_s not in (DAY, HOUR):
            raise ValueError("refusals are kept per day and per hour")
        if bucket_s == DAY and widget is None and not by_widget:  # all widgets' own day totals: one row each
            a = refusal_days_all.c
            stmt = (select(a.day, a.rule, a.refusals, literal(""))
                    .where(a.day >= int(since), a.day < math.ceil(until)).order_by(a.day))
        else:
            t = (refusal_days if bucket_s == DAY else refusal_hours).c
            col = t.day if bucket_s == DAY else t.hour
            stmt = (select(col, t.rule, func.sum(t.refusals), t.widget if by_widget else literal(""))
                    .where(col >= int(since), col < math.ceil(until)))
            if widget is not None:
                stmt = stmt.where(t.widget == widget)
            stmt = stmt.group_by(col, t.rule, *([t.widget] if by_widget else [])).order_by(col)
        return await self._run(lambda conn: [
            RefusalCount(int(bucket), rule, int(n), w) for bucket, rule, n, w in conn.execute(stmt) if n],
            write=False)

    async def seconds_cut(self, since: float, until: float) -> dict[str, float]:
        c = conversations.c
        stmt = (select(c.widget, func.sum(c.expires_at - c.ended_at).label("cut"))
                .where(c.created_at >= since, c.created_at < until, c.end_source == "server", c.status == "ended",
                       c.expires_at > c.ended_at)
                .group_by(c.widget))
        return await self._run(lambda conn: {r.widget: float(r.cut or 0.0) for r in conn.execute(stmt)},
                               write=False)

    async def idle_seconds(self, since: float, until: float) -> dict[str, float]:
        c = conversations.c
        # ledger.without_visitor, in SQL: a failed create or a visitor's own end ran no time unwatched,
        # an orphan the reconciler ended ran its whole life so, a conversation nobody watched is not counted.
        idle = case(
            (c.status == "failed", 0.0),
            (c.end_reason.like("reconciled%"), c.ended_at - c.created_at),
            (c.end_reason.like("visitor!_%", escape="!"), 0.0),
            (c.last_seen.is_(None), None),
            (c.ended_at > c.last_seen, c.ended_at - c.last_seen),
            else_=0.0,
        )
        stmt = (select(c.widget, func.sum(idle).label("idle"))
                .where(c.created_at >= since, c.created_at < until, c.ended_at.is_not(None))
                .group_by(c.widget))
        return await self._run(lambda conn: {r.widget: float(r.idle or 0.0) for r in conn.execute(stmt)},
                               write=False)

    async def timeline(self, local_id: str) -> list[Event]:
        stmt = select(events).where(events.c.local_id == local_id).order_by(events.c.at, events.c.id)
        return await self._run(lambda conn: [Event(float(r.at), r.kind, json.loads(r.data))
                                             for r in conn.execute(stmt)], write=False)

    async def transcript(self, local_id: str) -> Transcript | None:
        stmt = (select(transcripts, conversations.c.conversation_id)
                .join(conversations, conversations.c.local_id == transcripts.c.local_id, isouter=True)
                .where(transcripts.c.local_id == local_id))
        row = await self._run(lambda conn: conn.execute(stmt).first(), write=False)
        if row is None:
            return None
        return Transcript(row.local_id, row.conversation_id, row.source, float(row.received_at), json.loads(row.body))

    async def awaiting_transcript(self, ended_after: float, ended_before: float, limit: int) -> list[Past]:
        c = conversations.c
        return await self._pasts(
            select(conversations).where(c.transcript == "", c.ended_at >= ended_after, c.ended_at < ended_before,
                                        c.status == "ended", c.conversation_id.is_not(None))
            .order_by(c.ended_at).limit(limit))

    async def audit_log(self, since: float, limit: int = 100) -> list[dict[str, Any]]:
        stmt = select(audit).where(audit.c.at >= since).order_by(audit.c.at, audit.c.id).limit(limit)
        return await self._run(lambda conn: [{**r._asdict(), "detail": json.loads(r.detail)}
                                             for r in conn.execute(stmt)], write=False)

    async def deliveries(self, since: float, limit: int = 100, *, newest_first: bool = False,
                         failed_only: bool = False, event_id: str | None = None) -> list[dict[str, Any]]:
        d = deliveries.c
        stmt = select(deliveries).where(d.at >= since)
        if failed_only:
            stmt = stmt.where(d.outcome != "delivered")
        if event_id is not None:
            stmt = stmt.where(d.event_id == event_id)
        stmt = stmt.order_by(*((d.at.desc(), d.id.desc()) if newest_first else (d.at, d.id)))
        return await self._run(lambda conn: [r._asdict() for r in conn.execute(stmt.limit(limit))], write=False)

    # --- retention ----------------------------------------------------------------------------------------
    async def purge(self, retention: Retention, now: float, *, dry_run: bool = False) -> dict[str, int]:
        c = conversations.c
        counts = dict.fromkeys(("conversations", "transcripts", "client_ips", "deliveries", "audit"), 0)
        gone: Any = false()  # the conversations removed whole: not counted again below
        old_hours = refusal_hours.c.hour < now - REFUSAL_HOURS_KEEP_S  # whatever the retention: the days stay
        counts["refusal_hours"] = await self._run(
            lambda conn: _count(conn, select(func.count()).select_from(refusal_hours).where(old_hours)) if dry_run
            else int(conn.execute(delete(refusal_hours).where(old_hours)).rowcount))
        if retention.conversations_days:
            cut = now - retention.conversations_days * DAY
            gone = and_(c.created_at < cut, c.ended_at.is_not(None))
            counts["conversations"] = await self._purge(gone, dry_run)
            for name, table in (("deliveries", deliveries), ("audit", audit)):
                counts[name] = await self._run(self._drop_older(table, cut, dry_run))
        if retention.transcripts_days:
            cut = now - retention.transcripts_days * DAY
            old_t = select(transcripts.c.local_id).where(
                transcripts.c.received_at < cut, transcripts.c.local_id.not_in(select(c.local_id).where(gone)))

            def drop_transcripts(conn: Connection) -> int:
                if dry_run:
                    return _count(conn, select(func.count()).select_from(old_t.subquery()))
                conn.execute(update(conversations).where(c.local_id.in_(old_t)).values(transcript="purged"))
                return int(conn.execute(delete(transcripts).where(transcripts.c.received_at < cut)).rowcount)

            counts["transcripts"] = await self._run(drop_transcripts)
        if retention.client_ip_days:
            cut = now - retention.client_ip_days * DAY
            with_ip = and_(c.created_at < cut, c.client_ip != "", c.ended_at.is_not(None), ~gone)
            counts["client_ips"] = await self._run(
                lambda conn: _count(conn, select(func.count()).where(with_ip)) if dry_run
                else conn.execute(update(conversations).where(with_ip).values(client_ip="")).rowcount)
        return counts

    @staticmethod
    def _drop_older(table: Any, cut: float, dry_run: bool) -> Callable[[Connection], int]:
        def drop(conn: Connection) -> int:
            old = table.c.at < cut
            if dry_run:
                return _count(conn, select(func.count()).select_from(table).where(old))
            return int(conn.execute(delete(table).where(old)).rowcount)

        return drop

    async def _purge(self, old: Any, dry_run: bool) -> int:
        """Ended conversations matching ``old``, with their events and transcripts, a batch per transaction."""
        if dry_run:
            return await self._run(lambda conn: _count(conn, select(func.count()).select_from(conversations)
                                                       .where(old)), write=False)

        def batch(conn: Connection) -> int:
            ids = [r[0] for r in conn.execute(select(conversations.c.local_id).where(old).limit(PURGE_BATCH))]
            for table in (events, transcripts):
                conn.execute(delete(table).where(table.c.local_id.in_(ids)))
            conn.execute(delete(conversations).where(conversations.c.local_id.in_(ids)))
            return len(ids)

        removed = 0
        while True:
            n = await self._run(batch)
            removed += n
            if n < PURGE_BATCH:
                return removed
