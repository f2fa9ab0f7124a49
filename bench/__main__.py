"""Benchmarks on loopback: ``python -m bench [--quick] [--full] [--soak S] [--skip browser,scale,...]``.

Starts what it measures: the sandbox engine service, widget-server with the ``tavus`` engine pointed at
it (SQLite, then Redis on a private redis-server), the bare Starlette baselines (bench/bare.py), and for
the browser figures a server with the in-process sandbox (bench/browser.py) and Chromium. Servers are
pinned to core 0 and wrk to core 1 where there are two cores. Each figure is repeated; the table shows
the median with min/max, and every ratio is taken between runs of the same repeat.
See docs/performance.md for what each figure means.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.bare import BODY
from bench.procs import (
    ENGINE_KEY,
    LOAD_CORE,
    ROOT,
    SERVER_KEY,
    TWO_CORES,
    Stack,
    WrkRun,
    parse_wrk,
    rss_mb,
    wrk,
    wrk_cmd,
    wrk_many,
)

LOADER = ROOT / "static" / "embed.js"  # the built loader (from static/loader/embed.js): what host pages load

CREATE = "/api/widgets/bench/conversations"
MINT = "/api/widgets/bench/sessions"
ENGINE_LATENCY_MS = 1000
JOIN_DELAY_S = 0.3  # the sandbox's fixed replica join delay (SandboxCore's default)
SECTIONS = ("latency", "throughput", "memory", "scale", "browser", "line", "sizes")


def ratio(a: WrkRun, b: WrkRun) -> float:
    return a.rps / b.rps if b.rps else float("nan")


class Table:
    def __init__(self) -> None:
        self.rows = ["| figure | median | min | max | unit | budget |", "|---|---|---|---|---|---|"]
        self.verdicts: list[str] = []

    def add(self, name: str, values: list[float], unit: str, budget: str = "",
            ok: Callable[[float], bool] | None = None) -> None:
        med = statistics.median(values)
        verdict = ""
        if ok is not None:
            verdict = " met" if ok(med) else " **not met**"
            self.verdicts.append(f"{name}: {med:.2f} {unit}, budget {budget}:{verdict}")
        lo, hi = (f"{min(values):.2f}", f"{max(values):.2f}") if len(values) > 1 else ("", "")
        self.rows.append(f"| {name} | {med:.2f} | {lo} | {hi} | {unit} | {budget}{verdict} |")

    def text(self, name: str, value: str, unit: str = "", budget: str = "") -> None:
        self.rows.append(f"| {name} | {value} | | | {unit} | {budget} |")


def sizes(path: Path) -> tuple[int, int, int]:
    raw = path.read_bytes()
    try:
        import brotli  # type: ignore[import-not-found,import-untyped,unused-ignore]

        br = len(brotli.compress(raw, quality=11))
    except ImportError:
        br = -1
    return len(raw), len(gzip.compress(raw, 9)), br


def section_latency(t: Table, stack: Stack, seconds: float, repeats: int, errors: list[int]) -> None:
    """One connection, one request at a time: latency without queueing (wrk -c1)."""
    ours: list[WrkRun] = []
    bare: list[WrkRun] = []
    direct: list[WrkRun] = []
    for _ in range(repeats):
        ours.append(wrk(stack.url(CREATE), seconds, SERVER_KEY, connections=1))
        bare.append(wrk(stack.bare_url("/create"), seconds, connections=1))
        direct.append(wrk(f"{stack.bare_engine_url}/v2/conversations", seconds, connections=1,
                          env={"BENCH_API_KEY": ENGINE_KEY, "BENCH_BODY": json.dumps(BODY)}))
    errors.extend(r.errors for r in ours + bare + direct)
    t.add("create p50, one connection: widget-server", [r.p50_ms for r in ours], "ms")
    t.add("create p50, one connection: bare Starlette+httpx proxy", [r.p50_ms for r in bare], "ms")
    t.add("create p50, one connection: straight to the engine", [r.p50_ms for r in direct], "ms")
    t.add("create p99, one connection: widget-server", [r.p99_ms for r in ours], "ms")
    t.add("create p99, one connection: bare proxy", [r.p99_ms for r in bare], "ms")
    pairs = list(zip(ours, bare, strict=True))
    t.add("added p50 latency (widget-server - bare proxy)", [a.p50_ms - b.p50_ms for a, b in pairs],
          "ms", "<= 2 ms", lambda v: v <= 2)
    t.add("added p99 latency (widget-server - bare proxy)", [a.p99_ms - b.p99_ms for a, b in pairs], "ms")


def section_throughput(t: Table, stack: Stack, seconds: float, repeats: int, errors: list[int]) -> None:
    """16 connections from wrk on the other core: requests per second at saturation."""
    mint, mint_sites, json_, json_full, create, proxy, proxy_aio = [], [], [], [], [], [], []
    for _ in range(repeats):
        mint.append(wrk(stack.url(MINT), seconds, SERVER_KEY))
        mint_sites.append(wrk(stack.url(MINT), seconds, SERVER_KEY, script="mint_sites.lua"))
        json_.append(wrk(stack.bare_url("/json"), seconds))
        json_full.append(wrk(stack.bare_url("/json-full"), seconds))
        create.append(wrk(stack.url(CREATE), seconds, SERVER_KEY))
        proxy.append(wrk(stack.bare_url("/create"), seconds))
        proxy_aio.append(wrk(stack.bare_url("/create-aiohttp"), seconds))
    errors.extend(r.errors for r in mint + mint_sites + json_ + json_full + create + proxy + proxy_aio)
    t.add("session mint throughput", [r.rps for r in mint], "req/s")
    t.add("bare Starlette JSON endpoint throughput", [r.rps for r in json_], "req/s")
    t.add("ratio mint / bare JSON", [ratio(a, b) for a, b in zip(mint, json_, strict=True)], "x", ">= 0.8",
          lambda v: v >= 0.8)
    # The same endpoint reading its body and sending the API answers' headers: what the route's own code costs.
    t.add("bare JSON endpoint, body read and API headers, throughput", [r.rps for r in json_full], "req/s")
    t.add("ratio mint / bare JSON with body and headers", [ratio(a, b) for a, b in zip(mint, json_full, strict=True)],
          "x")
    # A new site named in every request: no token the signer keeps for its second is used again.
    t.add("session mint throughput, a new site each request", [r.rps for r in mint_sites], "req/s")
    t.add("ratio mint (a new site each request) / bare JSON",
          [ratio(a, b) for a, b in zip(mint_sites, json_, strict=True)], "x")
    t.add("create throughput", [r.rps for r in create], "req/s")
    t.add("bare proxy create throughput", [r.rps for r in proxy], "req/s")
    t.add("ratio create / bare proxy", [ratio(a, b) for a, b in zip(create, proxy, strict=True)], "x", ">= 0.7",
          lambda v: v >= 0.7)
    # The same proxy on widget-server's engine client library: what widget-server's own work costs.
    t.add("bare aiohttp proxy create throughput", [r.rps for r in proxy_aio], "req/s")
    t.add("ratio create / bare aiohttp proxy", [ratio(a, b) for a, b in zip(create, proxy_aio, strict=True)], "x")
    t.add("create p50 / p99 under load: widget-server", [r.p50_ms for r in create], "ms",
          f"p99 {statistics.median(r.p99_ms for r in create):.1f} ms")
    t.add("create p50 / p99 under load: bare proxy", [r.p50_ms for r in proxy], "ms",
          f"p99 {statistics.median(r.p99_ms for r in proxy):.1f} ms")


def create_end(stack: Stack, seconds: float, sample: Callable[[], None] | None = None,
               connections: int = 8) -> tuple[WrkRun, dict[str, int]]:
    """Creates and ends (bench/create_end.lua) for ``seconds``."""
    env = {**os.environ, "BENCH_AUTH": SERVER_KEY}
    proc = subprocess.Popen(wrk_cmd(stack.url(CREATE), seconds, connections=connections, script="create_end.lua",
                                    core=LOAD_CORE), stdout=subprocess.PIPE, text=True, env=env)
    while proc.poll() is None:
        if sample:
            sample()
        time.sleep(1)
    out = proc.communicate()[0]
    counts = {"created": 0, "ended": 0, "bad": 0}
    for line in out.splitlines():
        words = line.split()
        if words[:1] == ["created"]:
            counts = {words[0]: int(words[1]), words[2]: int(words[3]), words[4]: int(words[5])}
    return parse_wrk(out), counts


def section_memory(t: Table, tmp: Path, store: str, n: int, soak_s: float) -> None:
    with Stack(tmp, store=store, bare=False) as stack:
        pid = stack.pids[0]
        time.sleep(1)
        idle = rss_mb(pid)
        done, rate = 0, []
        while done < n:  # in chunks: wrk stops on time only
            run, counts = create_end(stack, seconds=5 if n - done > 800 else 2)
            done += counts["ended"]
            rate.append(run.rps / 2)
        after = rss_mb(pid)
        t.add(f"[{store}] server RSS idle", [idle], "MB")
        t.add(f"[{store}] server RSS after {done} created+ended", [after], "MB", "<= 150 MB",
              lambda v: v <= 150)
        t.add(f"[{store}] create+end pairs per second while filling", rate, "pairs/s")
        samples: list[float] = []
        run, counts = create_end(stack, seconds=soak_s, sample=lambda: samples.append(rss_mb(pid)))
        samples.append(rss_mb(pid))
        bad = counts["bad"] + run.errors
        t.add(f"[{store}] load held {soak_s:g} s: creates+ends per second", [run.rps], "req/s")
        t.text(f"[{store}] load held: errors / requests", f"{bad} / {run.requests}", "",
               "0 errors" + (" met" if bad == 0 else " **not met**"))
        t.text(f"[{store}] load held: RSS start / end / max", f"{samples[0]:.1f} / {samples[-1]:.1f} / "
               f"{max(samples):.1f}", "MB", f"growth {samples[-1] - samples[0]:+.1f} MB")
        t.verdicts.append(f"[{store}] load held {soak_s:g} s: {bad} errors in {run.requests} requests, RSS "
                          f"{samples[0]:.1f} -> {samples[-1]:.1f} MB")


def section_scale(t: Table, tmp: Path, seconds: float, repeats: int) -> None:
    """1 vs 2 widget-server processes on one Redis store; nothing pinned (two cores for everything)."""
    with Stack(tmp, store="redis", servers=2, server_cores=[None], bare=False) as stack:
        for name, path in (("mint", MINT), ("create", CREATE)):
            one, two = [], []
            for _ in range(repeats):
                one.append(wrk_many([stack.url(path, 0)], seconds, SERVER_KEY, connections=16))
                two.append(wrk_many([stack.url(path, 0), stack.url(path, 1)], seconds, SERVER_KEY, connections=8))
            t.add(f"[redis, unpinned] {name} throughput, 1 process", [r.rps for r in one], "req/s")
            t.add(f"[redis, unpinned] {name} throughput, 2 processes", [r.rps for r in two], "req/s")
            t.add(f"[redis, unpinned] {name} scaling 2 / 1 processes",
                  [ratio(b, a) for a, b in zip(one, two, strict=True)], "x")


def section_browser(t: Table, tmp: Path, runs: int) -> None:
    from bench.browser import Weight, measure

    weight, ttc = measure(ENGINE_LATENCY_MS, JOIN_DELAY_S, runs, tmp)
    raw, gz = Weight.total(weight.files)
    names = ", ".join(f[0].rsplit("/", 1)[-1] for f in weight.files)
    t.text("frame page before the call library, raw / gzip", f"{raw} / {gz}", "bytes", "<= 30 KB gzip" +
           (" met" if gz <= 30 * 1024 else " **not met**"))
    t.text("  (files)", names)
    araw, agz = Weight.total(weight.after)
    t.text("call modules loaded on Join (sandbox), raw / gzip", f"{araw} / {agz}", "bytes")
    t.verdicts.append(f"frame page before the call library: {gz} bytes gzip, budget <= 30 KB")
    t.add("launcher click -> lobby interactive (cold cache)", ttc.lobby_ms, "ms", "<= 300 ms", lambda v: v <= 300)
    t.add(f"Join -> conversation.created, raw (engine latency {ENGINE_LATENCY_MS} ms)", ttc.created_ms, "ms")
    t.add(f"Join -> conversation.started, raw (+ replica join {JOIN_DELAY_S * 1000:g} ms)", ttc.started_ms, "ms")
    t.add("Join -> created, minus engine latency", [v - ENGINE_LATENCY_MS for v in ttc.created_ms], "ms",
          "<= 150 ms", lambda v: v <= 150)
    t.add("Join -> started, minus engine latency and join delay",
          [v - ENGINE_LATENCY_MS - JOIN_DELAY_S * 1000 for v in ttc.started_ms], "ms", "<= 150 ms",
          lambda v: v <= 150)


def section_line(t: Table, tmp: Path, rounds: int) -> None:
    from bench.line import measure

    started, created = measure(tmp / "line", rounds)
    t.add("freed slot -> next visitor's create started (two instances, Redis)", started, "ms", "<= 500 ms",
          lambda v: v <= 500)
    t.add("freed slot -> next visitor's 201 (engine 20 ms)", created, "ms")


def section_sizes(t: Table) -> None:
    raw, gz, br = sizes(LOADER)
    t.text("embed.js raw / gzip / brotli", f"{raw} / {gz} / {br}", "bytes",
           "<= 3 KB gzip (goal 2 KB)" + (" met" if gz <= 3 * 1024 else " **not met**"))
    t.verdicts.append(f"embed.js: {gz} bytes gzip, budget <= 3072")
    daily = ROOT / "node_modules" / "@daily-co" / "daily-js" / "dist" / "daily-esm.js"
    if daily.exists():
        raw, gz, br = sizes(daily)
        t.text("daily-js (daily-esm.js, reference) raw / gzip / brotli", f"{raw} / {gz} / {br}", "bytes")


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench")
    ap.add_argument("--quick", action="store_true", help="short runs, one repeat (about 2 minutes)")
    ap.add_argument("--full", action="store_true", help="10,000 conversations for the memory figure")
    ap.add_argument("--soak", type=float, default=None, help="seconds of held load (default 60; 10 with --quick)")
    ap.add_argument("--skip", default="", help=f"comma-separated sections to leave out: {','.join(SECTIONS)}")
    args = ap.parse_args()
    skip = {s for s in args.skip.split(",") if s}
    if skip - set(SECTIONS):
        ap.error(f"unknown sections: {', '.join(sorted(skip - set(SECTIONS)))}")
    if not LOADER.is_file():  # the browser and sizes sections need it; say so before minutes of other runs
        ap.error("static/embed.js is missing: build it with `make install` (or `npm run build`)")
    seconds = 2 if args.quick else 5
    repeats = 1 if args.quick else 3
    n_mem = 10_000 if args.full else (500 if args.quick else 2000)
    soak = args.soak if args.soak is not None else (10 if args.quick else 60)
    runs = 3 if args.quick else 7
    if TWO_CORES:
        os.sched_setaffinity(0, {LOAD_CORE})  # the harness itself stays off the servers' core
    began = time.monotonic()
    load_before = os.getloadavg()[0]
    t = Table()
    errors: list[int] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        # A fresh stack for each: the creates of one section (never ended) would otherwise fill the
        # bench widget's slots (max_concurrent, at most 10,000) and the store for the next.
        if "latency" not in skip:
            with Stack(tmp) as stack:
                section_latency(t, stack, seconds, repeats, errors)
        if "throughput" not in skip:
            with Stack(tmp) as stack:
                section_throughput(t, stack, seconds, repeats, errors)
        if not {"latency", "throughput"} <= skip:
            t.text("non-2xx answers and socket errors in the runs above", str(sum(errors)))
        if "memory" not in skip:
            for store in ("sqlite", "redis"):
                section_memory(t, tmp, store, n_mem, soak)
        if "scale" not in skip:
            section_scale(t, tmp, seconds, repeats)
        if "browser" not in skip:
            section_browser(t, tmp, runs)
        if "line" not in skip:
            (tmp / "line").mkdir()
            section_line(t, tmp, 5 if args.quick else 20)
    if "sizes" not in skip:
        section_sizes(t)
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    print(f"\nwidget-server benchmark: {os.cpu_count()} cores ({cpu}), Python {sys.version.split()[0]}, "
          f"{'servers on core 0, wrk on core 1' if TWO_CORES else 'unpinned'}; "
          f"{'quick' if args.quick else 'full' if args.full else 'default'} run, {repeats} repeat(s) of "
          f"{seconds} s, {time.monotonic() - began:.0f} s in all; load average {load_before:.2f} before, "
          f"{os.getloadavg()[0]:.2f} after (the harness's own load is about 1-2; more means other work on "
          "the machine, and the figures are not clean)\n")
    print("\n".join(t.rows))
    print("\nbudgets:\n" + "\n".join(f"- {v}" for v in t.verdicts))


if __name__ == "__main__":
    main()
