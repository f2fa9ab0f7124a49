"""Processes the benchmark starts and the load generator it drives.

    with Stack(tmp, store="sqlite") as s:          # sandbox engine + widget-server (+ bare baselines)
        run = wrk(s.url("/api/widgets/bench/sessions"), seconds=5, auth=SERVER_KEY)
        run.rps, run.p50_ms, run.p99_ms, run.errors
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from widget_server.testing.config import server_config
from widget_server.testing.procs import StartError, answers_http, free_port, running
from widget_server.testing.procs import redis_server as _redis_server

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PY = sys.executable
SERVER_KEY = "bench-server-key-0123456789"
ENGINE_KEY = "bench-engine-key-0123456789"
SECRET = "bench-secret-key-0123456789"
# Where callbacks go, for our server and the bare proxy alike: a closed port, so the engine does the same
# (failing) delivery for both and neither server spends time on callbacks during throughput runs.
NOWHERE = "http://127.0.0.1:1"
TWO_CORES = (os.cpu_count() or 1) >= 2
SERVER_CORE, LOAD_CORE = 0, 1


def pin(core: int | None) -> list[str]:
    if core is None or not TWO_CORES or not shutil.which("taskset"):
        return []
    return ["taskset", "-c", str(core)]


@contextmanager
def process(args: list[str], ready_url: str | None, log: Path, env: dict[str, str] | None = None,
            what: str = "") -> Iterator[subprocess.Popen[bytes]]:
    """``args`` run from the repository, output to ``log``, ready once ``ready_url`` answers (30 s at most)."""
    ready = (lambda: answers_http(ready_url, timeout=1)) if ready_url else None
    with ExitStack() as stack:
        try:
            proc = stack.enter_context(running(args, ready, timeout=30, interval=0.1, what=what, log=log, env=env,
                                               cwd=ROOT))
        except StartError as exc:
            raise SystemExit(str(exc)) from None
        yield proc


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def write_config(path: Path, engine_url: str, store: str, public_url: str = NOWHERE) -> None:
    path.write_text(server_config(public_url=public_url, secret_key=SECRET, server_key=SERVER_KEY, store=store,
                                  engine_url=engine_url, engine_key=ENGINE_KEY) + """
[widgets.bench]
replica_id = "r_bench"
allowed_origins = ["https://*.example.com"]  # the mint with a new site each request names one of these
# The longest timers, so that the engine does not end thousands of conversations at once mid-run.
max_call_duration = 3600
participant_absent_timeout = 3600
[widgets.bench.limits]
max_concurrent = 10000
per_ip_per_hour = 0
minutes_per_day = 0
""")


@contextmanager
def redis_server(tmp: Path, core: int | None = SERVER_CORE) -> Iterator[str]:
    """A private redis-server on a free loopback port (no persistence), pinned to ``core``; yields its URL."""
    with ExitStack() as stack:
        try:
            url = stack.enter_context(_redis_server(tmp, prefix=pin(core), interval=0.05, ping_timeout=0.5))
        except StartError as exc:
            raise SystemExit(str(exc)) from None
        yield url


@dataclass
class Stack:
    """The sandbox engine service, N widget-server processes on one store, and optionally the baselines."""

    tmp: Path
    store: str = "sqlite"            # "sqlite" | "redis"
    servers: int = 1
    bare: bool = True
    server_cores: list[int | None] = field(default_factory=lambda: [SERVER_CORE])
    engine_latency_ms: int = 0
    ports: list[int] = field(default_factory=list)
    pids: list[int] = field(default_factory=list)
    bare_port: int = 0
    bare_pid: int = 0
    engine_url: str = ""
    bare_engine_url: str = ""
    _stack: ExitStack = field(default_factory=ExitStack)

    def url(self, path: str, i: int = 0) -> str:
        return f"http://127.0.0.1:{self.ports[i]}{path}"

    def bare_url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.bare_port}{path}"

    def __enter__(self) -> Stack:
        s = self._stack
        self.engine_url = self._engine()
        if self.store == "redis":
            store_url = s.enter_context(redis_server(self.tmp))
        else:
            store_url = f"sqlite:///{self.tmp}/state-{free_port()}.db"
        cfg = self.tmp / f"bench-{free_port()}.toml"
        write_config(cfg, self.engine_url, store_url)
        for i in range(self.servers):
            port = free_port()
            core = self.server_cores[i % len(self.server_cores)]
            cmd = [*pin(core), PY, "-m", "widget_server.cli", "serve", "--config", str(cfg), "--port", str(port)]
            proc = s.enter_context(process(cmd, f"http://127.0.0.1:{port}/healthz", self.tmp / f"serve-{port}.log",
                                           what="widget-server serve"))
            self.ports.append(port)
            self.pids.append(proc.pid)
        if self.bare:
            # The baselines get an engine of their own (the same settings): otherwise widget-server's
            # reconciler would page through their conversations too on every pass.
            self.bare_engine_url = self._engine()
            self.bare_port = free_port()
            cmd = [*pin(SERVER_CORE), PY, "-m", "uvicorn", "bench.bare:app", "--port", str(self.bare_port),
                   "--log-level", "warning", "--no-server-header", "--no-proxy-headers"]
            self.bare_pid = s.enter_context(process(cmd, self.bare_url("/healthz"),
                                    self.tmp / f"bare-{self.bare_port}.log",
                                    {"BENCH_ENGINE_URL": self.bare_engine_url, "BENCH_ENGINE_KEY": ENGINE_KEY,
                                     "BENCH_CALLBACK_URL": NOWHERE}, "bare baseline")).pid
        return self

    def _engine(self) -> str:
        """Starts a sandbox engine service on core 0; returns its URL."""
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        cmd = [*pin(SERVER_CORE), PY, "-m", "widget_server.cli", "sandbox", "--port", str(port),
               "--api-key", ENGINE_KEY, "--max-concurrent", "1000000", "--latency-ms", str(self.engine_latency_ms),
               # The servers' public URL is unreachable on purpose: callbacks to it would only fail,
               # and thousands of failing deliveries a second take the servers' core from them.
               "--drop-callback-rate", "1"]
        self._stack.enter_context(process(cmd, f"{url}/v2/conversations?limit=1", self.tmp / f"sandbox-{port}.log",
                                          {"PYTHONUNBUFFERED": "1"}, "sandbox engine"))
        return url

    def __exit__(self, *exc: object) -> None:
        self._stack.close()


# --- wrk -------------------------------------------------------------------------------------

@dataclass
class WrkRun:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int          # non-2xx/3xx answers plus socket errors
    out: str = ""


_UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not m:
        return float("nan")
    return float(m.group(1)) * _UNIT[m.group(2)]


def parse_wrk(out: str) -> WrkRun:
    rps = p50 = p99 = float("nan")
    requests = errors = 0
    for line in out.splitlines():
        words = line.split()
        if line.startswith("Requests/sec:"):
            rps = float(words[1])
        elif len(words) == 2 and words[0] == "50%":
            p50 = _ms(words[1])
        elif len(words) == 2 and words[0] == "99%":
            p99 = _ms(words[1])
        elif "requests in" in line:
            requests = int(words[0])
        elif line.strip().startswith("Non-2xx or 3xx responses:"):
            errors += int(words[-1])
        elif line.strip().startswith("Socket errors:"):
            errors += sum(int(n) for n in re.findall(r"\d+", line))
    if rps != rps:
        raise SystemExit("wrk printed no Requests/sec:\n" + out)
    return WrkRun(rps, p50, p99, requests, errors, out)


def wrk_cmd(url: str, seconds: float, *, connections: int = 16, script: str = "post.lua",
            core: int | None = LOAD_CORE) -> list[str]:
    if not shutil.which("wrk"):
        raise SystemExit("wrk not found: apt-get install wrk")
    return [*pin(core), "wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", "--timeout", "10s",
            "-s", str(BENCH / script), url]


def wrk(url: str, seconds: float, auth: str = "", *, connections: int = 16, script: str = "post.lua",
        core: int | None = LOAD_CORE, env: dict[str, str] | None = None) -> WrkRun:
    out = subprocess.run(wrk_cmd(url, seconds, connections=connections, script=script, core=core),
                         capture_output=True, text=True, check=True,
                         env={**os.environ, "BENCH_AUTH": auth, **(env or {})}).stdout
    return parse_wrk(out)


def wrk_many(urls: list[str], seconds: float, auth: str = "", *, connections: int = 16,
             core: int | None = None) -> WrkRun:
    """One wrk per URL at once (wrk drives a single host); the sum of their rates."""
    procs = [subprocess.Popen(wrk_cmd(u, seconds, connections=connections, core=core), stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, env={**os.environ, "BENCH_AUTH": auth})
             for u in urls]
    runs = [parse_wrk(p.communicate()[0]) for p in procs]
    return WrkRun(sum(r.rps for r in runs), max(r.p50_ms for r in runs), max(r.p99_ms for r in runs),
                  sum(r.requests for r in runs), sum(r.errors for r in runs))


def print_figures(out: Sequence[tuple[str, object, str]], value_width: int = 16) -> None:
    """``figure  value unit`` lines, the figures' names aligned (the history and console benches)."""
    width = max(len(f) for f, _, _ in out)
    for figure, value, unit in out:
        print(f"{figure:{width}}  {value!s:>{value_width}} {unit}")
