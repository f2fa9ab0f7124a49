"""Benchmarks on loopback: ``python -m bench [--quick] [--full]``.

Starts what it measures (the sandbox engine service, widget-server with the
``tavus`` engine pointed at it, and bare Starlette baselines), pins servers to
core 0 and the load generator (wrk) to core 1 where there are two cores,
repeats each figure and prints medians with min/max and same-run ratios.
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
SERVER_KEY = "bench-server-key-0123456789"
ENGINE_KEY = "bench-engine-key-0123456789"
TWO_CORES = (os.cpu_count() or 1) >= 2


def pin(core: int) -> list[str]:
    return ["taskset", "-c", str(core)] if TWO_CORES and shutil.which("taskset") else []


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def process(args: list[str], ready_url: str, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(args, cwd=ROOT, env={**os.environ, **(env or {})},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"{args[0:4]} exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            httpx.get(ready_url, timeout=1)
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                proc.kill()
                raise SystemExit(f"{args} did not start") from None
            time.sleep(0.1)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wrk(url: str, seconds: int, auth: str = "", connections: int = 16) -> float:
    if not shutil.which("wrk"):
        return float("nan")
    out = subprocess.run([*pin(1), "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s",
                          str(ROOT / "bench" / "post.lua"), url],
                         capture_output=True, text=True, env={**os.environ, "BENCH_AUTH": auth}, check=True).stdout
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    raise SystemExit("wrk printed no Requests/sec:\n" + out)


def latencies(url: str, n: int, auth: str = "") -> list[float]:
    headers = {"Authorization": f"Bearer {auth}"} if auth else {}
    out = []
    with httpx.Client(headers=headers, timeout=30) as client:
        for i in range(n + 20):
            t = time.perf_counter()
            r = client.post(url, json={})
            dt = (time.perf_counter() - t) * 1000
            if r.status_code != 201:
                raise SystemExit(f"{url}: {r.status_code} {r.text[:200]}")
            if i >= 20:
                out.append(dt)
    return out


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def row(name: str, values: list[float], unit: str) -> str:
    return f"| {name} | {statistics.median(values):.2f} | {min(values):.2f} | {max(values):.2f} | {unit} |"


def config(path: Path, engine_url: str, store: str) -> None:
    path.write_text(f"""
[server]
public_url = "http://127.0.0.1:1"
secret_key = "bench-secret-key-0123456789"
server_keys = ["{SERVER_KEY}"]
store = "{store}"
[engine]
kind = "tavus"
base_url = "{engine_url}"
api_key = "{ENGINE_KEY}"
[widgets.bench]
replica_id = "r_bench"
[widgets.bench.limits]
max_concurrent = 10000
per_ip_per_hour = 0
minutes_per_day = 0
""")


def sizes() -> list[str]:
    lines = []
    for name in ("static/embed.js",):
        path = ROOT / name
        if not path.exists():
            continue
        raw = path.read_bytes()
        br = "n/a"
        try:
            import brotli  # type: ignore[import-not-found]

            br = str(len(brotli.compress(raw, quality=11)))
        except ImportError:
            if shutil.which("brotli"):
                br = str(len(subprocess.run(["brotli", "-c", "-q", "11", str(path)], capture_output=True,
                                            check=True).stdout))
        lines.append(f"| {name} bytes raw / gzip / brotli | {len(raw)} / {len(gzip.compress(raw, 9))} / {br} | | | bytes |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="short runs (smoke)")
    ap.add_argument("--full", action="store_true", help="10,000 conversations for the memory figure")
    args = ap.parse_args()
    seconds = 2 if args.quick else 5
    repeats = 1 if args.quick else 3
    n_lat = 100 if args.quick else 400
    n_mem = 10_000 if args.full else (500 if args.quick else 2000)
    table = ["| figure | median | min | max | unit |", "|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        sp, wp, bp = free_port(), free_port(), free_port()
        engine_url = f"http://127.0.0.1:{sp}"
        cfg = Path(tmp) / "bench.toml"
        config(cfg, engine_url, f"sqlite:///{tmp}/state.db")
        sandbox = [*pin(0), PY, "-m", "widget_server.cli", "sandbox", "--port", str(sp), "--api-key", ENGINE_KEY,
                   "--max-concurrent", "1000000"]
        server = [*pin(0), PY, "-m", "widget_server.cli", "serve", "--config", str(cfg), "--port", str(wp)]
        bare = [*pin(0), PY, "-m", "uvicorn", "bench.bare:app", "--port", str(bp), "--log-level", "warning"]
        benv = {"BENCH_ENGINE_URL": engine_url, "BENCH_ENGINE_KEY": ENGINE_KEY}
        with process(sandbox, f"{engine_url}/v2/conversations?limit=1", {"PYTHONUNBUFFERED": "1"}), \
             process(server, f"http://127.0.0.1:{wp}/healthz") as srv, \
             process(bare, f"http://127.0.0.1:{bp}/docs-none", benv):
            create = f"http://127.0.0.1:{wp}/api/widgets/bench/conversations"
            mint = f"http://127.0.0.1:{wp}/api/widgets/bench/sessions"
            direct = f"{engine_url}/v2/conversations"
            idle = rss_mb(srv.pid)
            # latency: sequential, one connection
            ours = [statistics.median(latencies(create, n_lat, SERVER_KEY)) for _ in range(repeats)]
            base = [statistics.median(latencies(f"http://127.0.0.1:{bp}/create", n_lat)) for _ in range(repeats)]
            raw_engine = []
            for _ in range(repeats):
                with httpx.Client(headers={"x-api-key": ENGINE_KEY}) as c:
                    samples = []
                    for _ in range(n_lat):
                        t = time.perf_counter()
                        c.post(direct, json={"replica_id": "r_bench"})
                        samples.append((time.perf_counter() - t) * 1000)
                raw_engine.append(statistics.median(samples))
            table.append(row("create p50 latency, through widget-server", ours, "ms"))
            table.append(row("create p50 latency, bare Starlette+httpx proxy", base, "ms"))
            table.append(row("create p50 latency, straight to the engine", raw_engine, "ms"))
            table.append(row("added p50 latency vs bare proxy", [a - b for a, b in zip(ours, base, strict=True)],
                             "ms"))
            # throughput with wrk
            if shutil.which("wrk"):
                t_mint = [wrk(mint, seconds, SERVER_KEY) for _ in range(repeats)]
                t_json = [wrk(f"http://127.0.0.1:{bp}/json", seconds) for _ in range(repeats)]
                t_create = [wrk(create, seconds, SERVER_KEY) for _ in range(repeats)]
                t_proxy = [wrk(f"http://127.0.0.1:{bp}/create", seconds) for _ in range(repeats)]
                table.append(row("session mint throughput", t_mint, "req/s"))
                table.append(row("bare JSON endpoint throughput", t_json, "req/s"))
                table.append(row("ratio mint / bare", [a / b for a, b in zip(t_mint, t_json, strict=True)], "x"))
                table.append(row("create throughput", t_create, "req/s"))
                table.append(row("bare proxy create throughput", t_proxy, "req/s"))
                table.append(row("ratio create / bare proxy",
                                 [a / b for a, b in zip(t_create, t_proxy, strict=True)], "x"))
            else:
                table.append("| throughput | (install wrk: `apt-get install wrk`) | | | |")
            # memory after many conversations created and ended
            with httpx.Client(headers={"Authorization": f"Bearer {SERVER_KEY}"}, timeout=30) as c:
                for _ in range(n_mem):
                    doc = c.post(create, json={}).json()
                    c.post(f"http://127.0.0.1:{wp}/api/conversations/{doc['conversation_id']}/end")
            table.append(row("server RSS idle", [idle], "MB"))
            table.append(row(f"server RSS after {n_mem} more created+ended (plus the runs above)",
                             [rss_mb(srv.pid)], "MB"))
    table.extend(sizes())
    print(f"\nwidget-server benchmark ({os.cpu_count()} cores, Python {sys.version.split()[0]}, "
          f"{'pinned' if TWO_CORES else 'unpinned'})\n")
    print("\n".join(table))


if __name__ == "__main__":
    main()
