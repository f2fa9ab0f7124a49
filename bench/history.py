"""History figures: ``python -m bench.history [--rows N] [--skip sqlite,postgres,redis]``.

Builds a history of N conversations (default 1,000,000) over a year and 20 widgets, bulk-inserted (one
multi-row INSERT per 10,000 rows; the day totals computed while generating, as the recorder keeps them
when each conversation ends), on SQLite and on a private PostgreSQL cluster, then times what the console
asks most: a widget's day totals for 30 days, and a filtered ledger page (one widget, one end reason,
newest 50, and the next page behind a cursor). Then Redis: memory idle, after 100,000 conversations
created and ended through the store with history taking them, and once their keys have expired.
Prints a table; docs/performance.md has the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from bench.procs import print_figures
from widget_server.history import LedgerQuery, open_history
from widget_server.history.base import DAY, day_parts
from widget_server.history.schema import conversations, days
from widget_server.history.sql import SqlHistory

WIDGETS = [f"w{i:02d}" for i in range(20)]
REASONS = ["visitor_page_hidden", "visitor_end_button", "visitor_panel_closed", "heartbeat_timeout",
           "participant_left_timeout reached", "max_call_duration reached", "participant_absent_timeout reached",
           "reconciled_lost_answer"]
BATCH = 10_000
END = 1_900_000_000.0 - 1_900_000_000.0 % DAY


def rows(n: int, seed: int = 16) -> Iterator[tuple[list[dict[str, Any]], dict[tuple[str, int], dict[str, Any]]]]:
    rng = random.Random(seed)
    start = END - 365 * DAY
    step = 365 * DAY / n
    batch: list[dict[str, Any]] = []
    totals: dict[tuple[str, int], dict[str, Any]] = {}
    for i in range(n):
        widget = WIDGETS[rng.randrange(len(WIDGETS))]
        created = start + i * step + rng.random() * step
        failed = rng.random() < 0.03
        seconds = 0.0 if failed else rng.uniform(5, 600)
        ended = created + (1.0 if failed else seconds)
        batch.append({
            "local_id": f"l_{i:012d}", "conversation_id": None if failed else f"c{i:013d}", "conversation_url": "",
            "widget": widget, "status": "failed" if failed else "ended", "created_at": created,
            "expires_at": created + 600, "started_at": None if failed else created + 2, "ended_at": ended,
            "end_reason": "engine_http_500" if failed else REASONS[rng.randrange(len(REASONS))],
            "end_source": "server", "seconds": seconds, "last_seen": None, "origin": "https://www.example.com",
            "client_ip": f"203.0.113.{i % 250}", "client_ip_hash": "", "transcript": "none", "updated_at": ended,
        })
        day = int(created // DAY) * DAY
        t = totals.setdefault((widget, day), {"widget": widget, "day": day, "conversations": 0, "failed": 0,
                                              "seconds": 0.0})
        t["failed" if failed else "conversations"] += 1
        if not failed:
            for d, part in day_parts(created, ended):
                totals.setdefault((widget, d), {"widget": widget, "day": d, "conversations": 0, "failed": 0,
                                                "seconds": 0.0})["seconds"] += part
        if len(batch) == BATCH:
            yield batch, {}
            batch = []
    yield batch, totals


COLUMNS = [c.name for c in conversations.columns if c.name not in ("consent", "rating", "recording")]
DAY_COLUMNS = ["widget", "day", "conversations", "failed", "seconds"]


async def fill(history: SqlHistory, n: int) -> float:
    """Bulk load through each driver's fastest path: COPY on PostgreSQL, executemany on SQLite."""
    began = time.perf_counter()
    if history.dialect == "postgresql":
        assert history._async is not None
        async with history._async.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None
            for batch, totals in rows(n):
                await raw.copy_records_to_table(conversations.name, columns=COLUMNS,
                                                records=[tuple(r[c] for c in COLUMNS) for r in batch])
                if totals:
                    await raw.copy_records_to_table(days.name, columns=DAY_COLUMNS, records=[
                        tuple(t[c] for c in DAY_COLUMNS) for t in totals.values()])
            await raw.execute(DAY_REASONS.format(day="CAST(floor(created_at / 86400) * 86400 AS BIGINT)"))
            for statement in ALL_WIDGETS:
                await raw.execute(statement)
        return time.perf_counter() - began

    def load(conn: Any) -> None:
        cur = conn.connection.dbapi_connection
        marks = ", ".join("?" for _ in COLUMNS)
        for batch, totals in rows(n):
            cur.executemany(f"INSERT INTO {conversations.name} ({', '.join(COLUMNS)}) VALUES ({marks})",
                            [tuple(r[c] for c in COLUMNS) for r in batch])
            if totals:
                cur.executemany(f"INSERT INTO {days.name} VALUES (?, ?, ?, ?, ?)",
                                [tuple(t[c] for c in DAY_COLUMNS) for t in totals.values()])

    await history._run(load)
    await history._run(lambda conn: conn.exec_driver_sql(DAY_REASONS.format(day="CAST(created_at / 86400 AS INTEGER) "
                                                                                  "* 86400")))
    for statement in ALL_WIDGETS:
        await history._run(lambda conn, statement=statement: conn.exec_driver_sql(statement))
    return time.perf_counter() - began


# The per-day reason totals the recorder keeps as each conversation ends, computed once after the bulk load.
DAY_REASONS = """INSERT INTO history_day_reasons (widget, day, status, reason, conversations, seconds)
    SELECT widget, {day}, status, COALESCE(end_reason, ''), COUNT(*), SUM(seconds) FROM history_conversations
    GROUP BY widget, {day}, status, COALESCE(end_reason, '')"""


# The same over all widgets (kept beside them as each conversation ends).
ALL_WIDGETS = [
    """INSERT INTO history_days_all (day, conversations, failed, seconds)
       SELECT day, SUM(conversations), SUM(failed), SUM(seconds) FROM history_days GROUP BY day""",
    """INSERT INTO history_day_reasons_all (day, status, reason, conversations, seconds)
       SELECT day, status, reason, SUM(conversations), SUM(seconds) FROM history_day_reasons
       GROUP BY day, status, reason""",
]


async def timed(call: Callable[[], Awaitable[Any]], repeat: int) -> tuple[float, float]:
    await call()
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


async def measure(url: str, n: int, label: str, out: list[tuple[str, str, str]]) -> None:
    history = open_history(url)
    assert isinstance(history, SqlHistory)
    await history.open()
    try:
        took = await fill(history, n)
        await history._run(lambda conn: conn.exec_driver_sql("ANALYZE"))
        out.append((f"{label}: bulk insert of {n:,} conversations", f"{took:.1f}", "s"))
        w = WIDGETS[3]
        first = END - 30 * DAY
        p50, p95 = await timed(lambda: history.day_totals(w, first, END), 200)
        out.append((f"{label}: one widget's day totals, 30 days, p50 (p95)", f"{p50:.2f} ({p95:.2f})", "ms"))
        query = LedgerQuery(widget=w, reason="heartbeat_timeout", limit=50)
        p50, p95 = await timed(lambda: history.page(query), 200)
        out.append((f"{label}: ledger page (widget + reason, newest 50), p50 (p95)", f"{p50:.2f} ({p95:.2f})", "ms"))
        mid = LedgerQuery(widget=w, reason="heartbeat_timeout", limit=50, before=END - 180 * DAY)
        p50, p95 = await timed(lambda: history.page(mid), 200)
        out.append((f"{label}: ledger page half a year back (cursor), p50 (p95)", f"{p50:.2f} ({p95:.2f})", "ms"))
        all_days = await history.day_totals(None, first, END)
        out.append((f"{label}: check: day totals of all widgets over 30 days", str(len(all_days)), "rows"))
    finally:
        await history.close()


async def redis_memory(tmp: Path, n: int, out: list[tuple[str, str, str]]) -> None:
    from bench.procs import redis_server
    from widget_server.store import ConversationRecord
    from widget_server.store.redis import RedisStore

    with redis_server(tmp, core=None) as url:
        store = RedisStore(url)
        await store.open()
        history = open_history(f"sqlite:///{tmp / 'redis-history.db'}")
        await history.open()
        try:
            r = store.r
            idle = int((await r.info("memory"))["used_memory"])
            keys_idle = int(await r.dbsize())
            now = time.time()
            for start in range(0, n, 500):
                ids = [f"l_{i:09d}" for i in range(start, min(n, start + 500))]
                for lid in ids:
                    await store.insert(ConversationRecord(lid, "w", "creating", now, now + 600,
                                                          client_ip="203.0.113.9"))
                    await store.activate(lid, "c" + lid, "https://tavus.daily.co/c")
                    await store.finish(lid, "ended", "visitor_ended", now + 30)
                for rec in await store.unarchived(500):
                    await history.record_end(rec, source="server")
                await store.archived(ids, 2)
            full = int((await r.info("memory"))["used_memory"])
            keys_full = int(await r.dbsize())
            began = time.monotonic()
            while int(await r.dbsize()) > keys_idle + 8 and time.monotonic() - began < 120:
                await asyncio.sleep(0.5)
            after = int((await r.info("memory"))["used_memory"])
            keys_after = int(await r.dbsize())
            out.append(("redis: used_memory idle", f"{idle / 1e6:.2f} ({keys_idle} keys)", "MB"))
            out.append((f"redis: after {n:,} created and ended, history holding them (keys expiring)",
                        f"{full / 1e6:.2f} ({keys_full} keys)", "MB"))
            out.append((f"redis: once expired ({time.monotonic() - began:.0f} s later)",
                        f"{after / 1e6:.2f} ({keys_after} keys)", "MB"))
        finally:
            await history.close()
            await store.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.history")
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--redis-rows", type=int, default=100_000)
    p.add_argument("--skip", default="", help="comma-separated: sqlite, postgres, redis")
    args = p.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    out: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="ws-bench-history-") as tmp_name:
        tmp = Path(tmp_name)
        if "sqlite" not in skip:
            asyncio.run(measure(f"sqlite:///{tmp / 'history.db'}", args.rows, "sqlite", out))
        if "postgres" not in skip:
            from widget_server.testing.postgres import postgres_server

            with postgres_server() as url:
                asyncio.run(measure(url, args.rows, "postgresql", out))
        if "redis" not in skip:
            asyncio.run(redis_memory(tmp, args.redis_rows, out))
    print_figures(out, 22)
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
