"""What a refused create costs: ``python -m bench.refusals [--calls N]``.

Starts the app (SQLite store and history, the sandbox engine) with a widget of one slot and no waiting line,
takes the slot with a server-key create, then times N more creates through the ASGI app (no network), each
refused ``503 busy``: the path that counts the refusal (the metric and the history's in-memory count, added to
history every few seconds off the request). Prints p50 and p95; docs/performance.md has the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from widget_server.app import create_app
from widget_server.settings import parse_settings

KEY = "sk_bench_0123456789abcdef0123"


async def run(tmp: Path, calls: int) -> tuple[float, float]:
    settings = parse_settings({
        "server": {"public_url": "http://bench", "secret_key": "bench_secret_0123456789abcdef",
                   "server_keys": [KEY], "store": f"sqlite:///{tmp / 'state.db'}"},
        "engine": {"kind": "sandbox"},
        "widgets": {"w": {"replica_id": "r_bench", "limits": {"max_concurrent": 1}, "queue": {"enabled": False}}},
    }, {})
    app = create_app(settings)
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
            auth = {"Authorization": f"Bearer {KEY}"}
            held = await client.post("/api/widgets/w/conversations", headers=auth)
            assert held.status_code == 201, held.text
            samples = []
            for _ in range(calls):
                began = time.perf_counter()
                r = await client.post("/api/widgets/w/conversations", headers=auth)
                samples.append((time.perf_counter() - began) * 1000)
                assert r.status_code == 503, r.text
            ended = await client.post(f"/api/conversations/{held.json()['conversation_id']}/end", headers=auth)
            assert ended.status_code == 200, ended.text
    finally:
        await lifespan.__aexit__(None, None, None)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.refusals")
    p.add_argument("--calls", type=int, default=3000)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ws-bench-refusals-") as tmp:
        p50, p95 = asyncio.run(run(Path(tmp), args.calls))
    print(f"refused create (503 busy), {args.calls:,} calls  {p50:.3f} ({p95:.3f}) ms p50 (p95)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
