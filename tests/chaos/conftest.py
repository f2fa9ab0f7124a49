"""Real processes for the chaos suite: redis-server, a `widget-server sandbox`, two `widget-server serve`
instances behind a small failover proxy (the load balancer), and a webhook receiver.
"""

from __future__ import annotations

import contextlib
import json
import random
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.servers import free_port, serve_app
from widget_server.testing import procs
from widget_server.testing.config import Value, server_config, table
from widget_server.testing.postgres import postgres_server
from widget_server.testing.procs import redis_server
from widget_server.webhooks import verify

SECRET = "chaos_secret_0123456789abcdef"
HOOK_SECRET = "chaos_hook_secret_0123456789"
SERVER_KEY = "sk_chaos_0123456789abcdef"
GRACE_S = 3.0  # heartbeats every 0.3 s: ten may be lost on a loaded 2-core CI machine


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    procs.wait_ready(proc, lambda: procs.answers_http(url), timeout=20, log=log)


def spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    """``widget-server ARGS``, unbuffered, its output appended to ``log``."""
    return procs.spawn([sys.executable, "-m", "widget_server.cli", *args], log=log, env={"PYTHONUNBUFFERED": "1"})


@dataclass
class Balancer:
    """Sends each request to a live backend (round robin, failing over); can drop engine callbacks."""

    backends: list[str] = field(default_factory=list)
    drop_hooks: bool = False
    dropped: int = 0
    turn: int = 0

    async def handle(self, request: Request) -> Response:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if self.drop_hooks and path.startswith("/hooks/"):
            self.dropped += 1
            return Response(status_code=200)
        body = await request.body()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        self.turn += 1
        order = self.backends[self.turn % len(self.backends):] + self.backends[:self.turn % len(self.backends)]
        async with httpx.AsyncClient(timeout=10) as client:
            for backend in order:
                try:
                    r = await client.request(request.method, backend + path, content=body, headers=headers)
                except httpx.TransportError:
                    continue
                return Response(r.content, status_code=r.status_code, headers={
                    k: v for k, v in r.headers.items() if k.lower() in ("content-type", "retry-after")})
        return Response(status_code=502)


@dataclass
class Receiver:
    seen: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    rng: random.Random = field(default_factory=lambda: random.Random(7))

    async def handle(self, request: Request) -> Response:
        raw = await request.body()
        if not verify(HOOK_SECRET, request.headers.get("widget-signature", ""), raw):
            return Response(status_code=401)
        with self.lock:
            ok = self.rng.random() > 0.2  # one in five answered 503: retried later
            if ok:
                self.seen.append(json.loads(raw))
        return Response(status_code=204 if ok else 503)

    def ids(self, event_type: str) -> set[str]:
        with self.lock:
            return {e["data"]["conversation_id"] for e in self.seen if e["type"] == event_type}


@dataclass
class Cluster:
    public_url: str
    sandbox_url: str
    config: Path
    ports: list[int]
    procs: list[subprocess.Popen[bytes]]
    balancer: Balancer
    receiver: Receiver
    logs: Path
    peak: dict[str, int] = field(default_factory=dict)

    def instance(self, i: int) -> str:
        return f"http://127.0.0.1:{self.ports[i]}"

    def start(self, i: int) -> None:
        log = self.logs / f"serve{i}.log"
        proc = spawn(["serve", "--config", str(self.config), "--port", str(self.ports[i])], log)
        wait_http(self.instance(i) + "/healthz", proc, log)
        self.procs[i] = proc

    def kill(self, i: int) -> None:
        self.procs[i].kill()
        self.procs[i].wait()

    def ours_active(self) -> list[dict[str, Any]]:
        """This deployment's active conversations, as the engine lists them."""
        doc = httpx.get(self.sandbox_url + "/v2/conversations", params={"status": "active", "limit": 500},
                        timeout=5).json()
        prefix = self.public_url + "/hooks/engine/"
        return [c for c in doc["data"] if (c.get("callback_url") or "").startswith(prefix)]

    def engine_status(self, cid: str) -> str:
        return str(httpx.get(f"{self.sandbox_url}/v2/conversations/{cid}", timeout=5).json()["status"])


# name: (max_concurrent, per_ip_per_hour, other widget settings)
WIDGETS: dict[str, tuple[int, int, dict[str, Value]]] = {
    "support": (3, 10000, {}),
    "public": (50, 4, {"private": False}),
    "burst": (20, 10000, {}),
    "short": (1, 10000, {"max_call_duration": 2}),
}


def _widget(name: str, max_concurrent: int, per_ip_per_hour: int, extra: dict[str, Value]) -> str:
    # the chaos is the busy refusal's: no waiting line (the line's is tests/test_line_instances.py)
    return (table(f"widgets.{name}", {"replica_id": "r_chaos", "conversation_name": name, **extra})
            + table(f"widgets.{name}.limits", {"max_concurrent": max_concurrent, "per_ip_per_hour": per_ip_per_hour})
            + table(f"widgets.{name}.queue", {"enabled": False}))


def _config(public_url: str, store: str, sandbox: str, receiver: str, history: str) -> str:
    return server_config(public_url=public_url, secret_key=SECRET, server_key=SERVER_KEY, store=store,
                         history=history, engine_url=sandbox, engine_key="chaos-engine-key",
                         engine_timeout_s=2) + f"""
[webhooks]
url = "{receiver}"
secret = "{HOOK_SECRET}"
timeout_s = 1
retry_base_s = 0.1
retry_max_s = 0.5

[lifecycle]
heartbeat_grace_s = {GRACE_S}
sweep_interval_s = 0.2
reconcile_interval_s = 0.5
expiry_grace_s = 1

""" + "\n".join(_widget(name, *widget) for name, widget in WIDGETS.items())


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    work = tmp_path_factory.mktemp("chaos")
    balancer, receiver = Balancer(), Receiver()
    monitor_stop = threading.Event()
    with contextlib.ExitStack() as stack:
        store = stack.enter_context(redis_server(work))
        history = stack.enter_context(postgres_server())
        hooks = stack.enter_context(serve_app(Starlette(routes=[Route("/", receiver.handle, methods=["POST"])])))
        public = stack.enter_context(serve_app(Starlette(routes=[Route(
            "/{path:path}", balancer.handle, methods=["GET", "POST", "DELETE", "OPTIONS"])])))
        sandbox_port = free_port()
        sandbox_url = f"http://127.0.0.1:{sandbox_port}"
        sandbox = spawn(["sandbox", "--port", str(sandbox_port), "--max-concurrent", "40", "--latency-ms", "20",
                         "--fail-rate", "0.1", "--lose-rate", "0.2"], work / "sandbox.log")
        stack.callback(procs.stop, sandbox)
        wait_http(sandbox_url + "/v2/conversations", sandbox, work / "sandbox.log")
        config = work / "chaos.toml"
        config.write_text(_config(public, store, sandbox_url, hooks + "/", history))
        ports = [free_port(), free_port()]
        balancer.backends = [f"http://127.0.0.1:{p}" for p in ports]
        cluster = Cluster(public, sandbox_url, config, ports, [sandbox, sandbox], balancer, receiver, work)
        for i in (0, 1):
            cluster.start(i)

        def monitor() -> None:
            while not monitor_stop.is_set():
                with contextlib.suppress(httpx.HTTPError, ValueError):
                    names = [str(c.get("conversation_name")) for c in cluster.ours_active()]
                    for name in set(names):
                        cluster.peak[name] = max(cluster.peak.get(name, 0), names.count(name))
                monitor_stop.wait(0.05)

        watcher = threading.Thread(target=monitor, daemon=True)
        watcher.start()
        stack.callback(watcher.join)
        stack.callback(monitor_stop.set)
        try:
            yield cluster
        finally:
            servers = [p for p in cluster.procs[:2] if p.poll() is None]
            for p in servers:
                p.terminate()
            slow = []
            for p in servers:
                try:
                    p.wait(timeout=30)  # bounded: 5 s for requests, then 3 s a shutdown step
                except subprocess.TimeoutExpired:
                    p.kill()  # every one is reaped, whatever happens
                    p.wait()
                    slow.append(p.pid)
            assert not slow, f"serve processes {slow} did not stop within 30 s of SIGTERM"
