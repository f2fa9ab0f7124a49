"""The console at size: ``python -m bench.admin [--rows N] [--postgres]``.

Builds the history of ``bench.history`` (default 1,000,000 conversations over a year, 20 widgets) in a SQLite
file (or PostgreSQL), adds a year of refused creates through the history module as the recorder writes them
(``fill_refusals``: a few hours a day per widget, five rules, the hourly rows past a week purged), starts the
app on it with an ``[admin]`` table (the clock set to the history's last day), signs in through the login
form, and times each admin API answer and each page through the ASGI app (no network), p50 and p95 of 30
calls. docs/performance.md has the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import re
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.history import END, WIDGETS, fill, timed
from bench.procs import print_figures
from widget_server.admin.auth import hash_password
from widget_server.app import create_app
from widget_server.history.base import DAY, HOUR, RefusalCount, Retention
from widget_server.history.sql import SqlHistory
from widget_server.settings import parse_settings

KEY = "sk_bench_0123456789abcdef0123"
PASSWORD = "bench password 0123"


# rule -> (hours a day in which a widget refuses by it, refusals in such an hour at most)
REFUSALS = {"rate-limited": (6, 20), "busy": (3, 8), "queue-full": (1, 5), "budget-spent": (1, 30),
            "origin-not-allowed": (2, 3)}


async def fill_refusals(history: SqlHistory, seed: int = 17) -> int:
    """A year of refusals, one flush per day (as instances add their counts), then the purge of old hours."""
    rng = random.Random(seed)
    total = 0
    for day in range(int(END - 365 * DAY), int(END), DAY):
        counts = []
        for widget in WIDGETS:
            for rule, (hours, most) in REFUSALS.items():
                for hour in rng.sample(range(24), hours):
                    counts.append(RefusalCount(day + hour * HOUR, rule, rng.randint(1, most), widget))
        total += sum(c.refusals for c in counts)
        await history.record_refusals(counts)
    await history.purge(Retention(), END)
    return total


async def run(tmp: Path, n: int, repeat: int, url: str = "") -> list[tuple[str, str, str]]:
    url = url or f"sqlite:///{tmp / 'history.db'}"
    history = SqlHistory(url)
    await history.open()
    took = await fill(history, n)
    began = time.perf_counter()
    refused = await fill_refusals(history)
    took_refusals = time.perf_counter() - began
    await history._run(lambda conn: conn.exec_driver_sql("ANALYZE"))
    dialect = history.dialect
    await history.close()
    out = [(f"bulk insert of {n:,} conversations ({dialect})", f"{took:.1f}", "s"),
           (f"{refused:,} refusals over the year, one flush a day", f"{took_refusals:.1f}", "s")]
    settings = parse_settings({
        "server": {"public_url": "http://bench", "secret_key": "bench_secret_0123456789abcdef", "server_keys": [KEY],
                   "store": f"sqlite:///{tmp / 'state.db'}", "history": url},
        "engine": {"kind": "sandbox"},
        "admin": {"users": [{"name": "ops", "password_hash": hash_password(PASSWORD)}]},
        "widgets": {w: {"replica_id": "r_bench"} for w in WIDGETS},
    }, {})
    app = create_app(settings, clock=lambda: END - 3600.0)
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
            form = await client.get("/admin/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
            assert csrf is not None
            signed = await client.post("/admin/login", data={"username": "ops", "password": PASSWORD,
                                                             "csrf": csrf.group(1)})
            assert signed.status_code == 303, signed.text
            first = (await client.get("/api/admin/ledger?widget=w03&reason=heartbeat_timeout")).json()
            deep, pages = first, 1
            while pages < 20 and deep["next"]:  # 20 pages back through the keyset cursor
                deep = (await client.get("/api/admin/ledger", params={
                    "widget": "w03", "reason": "heartbeat_timeout", "cursor": deep["next"]})).json()
                pages += 1
            cursor = deep["next"] or first["next"]
            one = first["items"][0]["conversation_id"]
            calls = {
                "GET /api/admin/live": "/api/admin/live",
                "GET /api/admin/today": "/api/admin/today",
                "GET /api/admin/history (30 days, per day)": "/api/admin/history?days=30",
                "GET /api/admin/history (3 days, per hour)": "/api/admin/history?days=3&bucket=hour",
                "GET /api/admin/history (365 days, per day)": "/api/admin/history?days=365",
                "GET /api/admin/history (30 days, one widget)": "/api/admin/history?days=30&widget=w03",
                "GET /api/admin/ledger (newest 50)": "/api/admin/ledger",
                "GET /api/admin/ledger (widget + reason, newest 50)":
                    "/api/admin/ledger?widget=w03&reason=heartbeat_timeout",
                f"GET /api/admin/ledger (page {pages + 1}, cursor)":
                    f"/api/admin/ledger?widget=w03&reason=heartbeat_timeout&cursor={cursor}",
                "GET /api/admin/ledger (rating=up)": "/api/admin/ledger?rating=up",
                "GET /api/admin/conversations/{id}": f"/api/admin/conversations/{one}",
                "GET /api/admin/webhooks": "/api/admin/webhooks",
                "GET /api/admin/settings": "/api/admin/settings",
                "GET /admin/live (page)": "/admin/live",
                "GET /admin/today (page)": "/admin/today",
                "GET /admin/history (page: the ledger's first 50)": "/admin/history",
                "GET /admin/conversations/{id} (page)": f"/admin/conversations/{one}",
                "GET /admin/settings (page)": "/admin/settings",
            }
            for label, path in calls.items():
                async def call(path: str = path) -> None:
                    r = await client.get(path)
                    assert r.status_code == 200, (path, r.status_code, r.text[:200])

                p50, p95 = await timed(call, repeat)
                out.append((label, f"{p50:.1f} ({p95:.1f})", "ms p50 (p95)"))
            began = time.perf_counter()
            r = await client.get("/api/admin/ledger.csv?widget=w03&from=2030-03-01&to=2030-03-31")
            out.append((f"GET /api/admin/ledger.csv (one widget, 30 days: {r.text.count(chr(10)) - 1:,} rows)",
                        f"{(time.perf_counter() - began) * 1000:.0f}", "ms"))
    finally:
        await lifespan.__aexit__(None, None, None)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.admin")
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=30)
    p.add_argument("--postgres", action="store_true", help="the history on a private PostgreSQL cluster")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ws-bench-admin-") as tmp:
        if args.postgres:
            from widget_server.testing.postgres import postgres_server

            with postgres_server() as url:
                out = asyncio.run(run(Path(tmp), args.rows, args.repeat, url))
        else:
            out = asyncio.run(run(Path(tmp), args.rows, args.repeat))
    print_figures(out)
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
