"""Two ``widget-server serve`` instances on one redis-server and one ``widget-server sandbox``: the waiting
line across instances, for tests/test_line_instances.py and the benchmark (bench/line.py).

    with line_cluster(workdir) as cluster:
        doc = cluster.create(0)                 # a visitor's create through instance 0: 201, or 202 in line
        cluster.engine_created()                # conversation ids the engine was asked to create
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from widget_server.testing import procs
from widget_server.testing.config import server_config
from widget_server.tokens import Signer

SECRET = "line_secret_0123456789abcdef"
SERVER_KEY = "sk_line_0123456789abcdef"
ORIGIN = "https://www.example.com"
WIDGET = "line"


def _config(public_url: str, store: str, sandbox: str, slots: int, grace_s: float) -> str:
    return server_config(public_url=public_url, secret_key=SECRET, server_key=SERVER_KEY, store=store,
                         engine_url=sandbox, engine_key="line-engine-key", engine_timeout_s=5) + f"""
[lifecycle]
heartbeat_grace_s = {grace_s}
sweep_interval_s = 0.2
reconcile_interval_s = 1

[widgets.{WIDGET}]
replica_id = "r_line"
conversation_name = "{WIDGET}"
allowed_origins = ["{ORIGIN}"]
[widgets.{WIDGET}.limits]
max_concurrent = {slots}
per_ip_per_hour = 100000
[widgets.{WIDGET}.queue]
max_length = 50
turn_window_s = 10
"""


@dataclass
class LineCluster:
    ports: list[int]
    servers: list[procs.Proc]
    sandbox_url: str
    signer: Signer
    config: Path
    logs: Path

    def url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.ports[i]}"

    def create(self, i: int, client: httpx.Client | None = None) -> httpx.Response:
        session = self.signer.session(WIDGET, ORIGIN)
        c = client or httpx
        return c.post(f"{self.url(i)}/api/widgets/{WIDGET}/conversations", timeout=10,
                      headers={"X-Widget-Session": session, "Origin": ORIGIN})

    def queue_url(self, i: int, queue_id: str, what: str = "") -> str:
        return f"{self.url(i)}/api/widgets/{WIDGET}/queue/{queue_id}" + (f"/{what}" if what else "")

    def end(self, i: int, conv: dict[str, Any]) -> None:
        httpx.post(f"{self.url(i)}/api/conversations/{conv['conversation_id']}/end", timeout=10,
                   headers={"Authorization": f"Bearer {conv['end_token']}"}).raise_for_status()

    def engine(self, status: str = "") -> list[dict[str, Any]]:
        params: dict[str, str | int] = {"limit": 1000, **({"status": status} if status else {})}
        doc = httpx.get(f"{self.sandbox_url}/v2/conversations", params=params, timeout=5).json()
        return [c for c in doc["data"] if c.get("conversation_name") == WIDGET]

    def engine_created(self) -> set[str]:
        return {str(c["conversation_id"]) for c in self.engine()}

    def kill(self, i: int) -> None:
        """SIGKILL: no drain, no shutdown step; whatever it held is the others' to recover."""
        self.servers[i].kill()
        self.servers[i].wait()


@contextmanager
def line_cluster(work: Path, *, slots: int = 2, grace_s: float = 2.0, latency_ms: int = 20) -> Iterator[LineCluster]:
    with ExitStack() as stack:
        store = stack.enter_context(procs.redis_server(work))
        sandbox_port = procs.free_port()
        sandbox_url = f"http://127.0.0.1:{sandbox_port}"
        cli = [sys.executable, "-m", "widget_server.cli"]
        stack.enter_context(procs.running(
            [*cli, "sandbox", "--port", str(sandbox_port), "--max-concurrent", "100", "--latency-ms",
             str(latency_ms), "--drop-callback-rate", "0"],
            lambda: procs.answers_http(sandbox_url + "/v2/conversations"), log=work / "sandbox.log"))
        ports = [procs.free_port(), procs.free_port()]
        config = work / "line.toml"
        config.write_text(_config(f"http://127.0.0.1:{ports[0]}", store, sandbox_url, slots, grace_s))
        servers = []
        for port in ports:
            health = f"http://127.0.0.1:{port}/healthz"
            proc = stack.enter_context(procs.running(
                [*cli, "serve", "--config", str(config), "--port", str(port)],
                functools.partial(procs.answers_http, health), timeout=30,
                log=work / f"serve-{port}.log", env={"PYTHONUNBUFFERED": "1"}))
            servers.append(proc)
        yield LineCluster(ports, servers, sandbox_url, Signer([SECRET]), config, work)


def sse_places(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """The ``place`` events of a line stream, as they come."""
    for text in response.iter_lines():
        if text.startswith("data: "):
            place: dict[str, Any] = json.loads(text[6:])
            yield place
