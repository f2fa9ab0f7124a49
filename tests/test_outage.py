"""A real redis-server stopped and started again under traffic to a real `widget-server serve`: only 201s and
503 problem+json (never a 500), one log line per state of the outage, and no conversation left running at
the engine (a `widget-server sandbox`) once the lifecycle's grace is over."""

from __future__ import annotations

import json
import shutil
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import SERVER_KEY
from widget_server.testing.config import server_config
from widget_server.testing.procs import answers_http, answers_redis, free_port, running, spawn, stop, wait_ready

pytestmark = pytest.mark.slow
AUTH = {"Authorization": f"Bearer {SERVER_KEY}"}


def _config(public_url: str, redis_port: int, sandbox_url: str) -> str:
    return server_config(public_url=public_url, secret_key="outage-secret-0123456789abcdef", server_key=SERVER_KEY,
                         store=f"redis://127.0.0.1:{redis_port}/0", drain_s=0, engine_url=sandbox_url,
                         engine_key="outage-engine-key-0123", engine_timeout_s=2) + """
[lifecycle]
sweep_interval_s = 0.2
reconcile_interval_s = 0.5
heartbeat_grace_s = 2
[widgets.support]
replica_id = "r_outage"
[widgets.support.limits]
max_concurrent = 200
per_ip_per_hour = 0
"""


def _redis(work: Path, port: int) -> list[str]:
    # an append-only file: the restarted server has the state the stopped one had
    return [shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--dir", str(work)]


def _ours_active(sandbox_url: str, public_url: str) -> list[str]:
    doc = httpx.get(f"{sandbox_url}/v2/conversations", params={"status": "active", "limit": 500}, timeout=5).json()
    prefix = public_url + "/hooks/engine/"
    return [c["conversation_id"] for c in doc["data"] if (c.get("callback_url") or "").startswith(prefix)]


def test_redis_stopped_and_restarted_mid_traffic(tmp_path: Path) -> None:
    redis_port, sandbox_port, port = free_port(), free_port(), free_port()
    sandbox_url, base = f"http://127.0.0.1:{sandbox_port}", f"http://127.0.0.1:{port}"
    config = tmp_path / "outage.toml"
    config.write_text(_config(base, redis_port, sandbox_url))
    log = tmp_path / "serve.log"
    cli = [sys.executable, "-m", "widget_server.cli"]
    statuses: Counter[int] = Counter()
    created: list[str] = []
    unavailable: list[httpx.Response] = []
    stop_traffic = threading.Event()

    def traffic() -> None:
        with httpx.Client(base_url=base, timeout=15) as client:
            n = 0
            while not stop_traffic.is_set():
                n += 1
                r = client.post("/api/widgets/support/conversations", headers={**AUTH, "X-Request-Id": f"t-{n}"})
                statuses[r.status_code] += 1
                if r.status_code == 201:  # the visitor leaves at once (ended again at the end, if this failed)
                    created.append(r.json()["conversation_id"])
                    client.post(f"/api/conversations/{created[-1]}/end", headers=AUTH)
                elif r.status_code == 503:
                    unavailable.append(r)
                time.sleep(0.02)

    redis = spawn(_redis(tmp_path, redis_port), log=tmp_path / "redis.log")
    try:
        wait_ready(redis, lambda: answers_redis(redis_port), timeout=10, what="redis-server")
        with running([*cli, "sandbox", "--port", str(sandbox_port), "--max-concurrent", "100"],
                     lambda: answers_http(f"{sandbox_url}/v2/conversations"), timeout=20), \
                running([*cli, "serve", "--config", str(config), "--port", str(port), "--log-format", "json"],
                        lambda: answers_http(f"{base}/healthz"), timeout=20, log=log,
                        env={"PYTHONUNBUFFERED": "1"}) as serve:
            worker = threading.Thread(target=traffic)
            worker.start()
            try:
                time.sleep(2.5)
                before = statuses[201]
                stop(redis)                                    # the outage: Redis stopped under traffic
                time.sleep(0.5)
                ready = httpx.get(f"{base}/readyz", timeout=10)
                time.sleep(2.0)
                during = dict(statuses)
                redis = spawn(_redis(tmp_path, redis_port), log=tmp_path / "redis.log")
                wait_ready(redis, lambda: answers_redis(redis_port), timeout=10, what="redis-server")
                deadline = time.monotonic() + 15
                after_restart = statuses[201]
                while statuses[201] < after_restart + 5:     # creates work again
                    assert time.monotonic() < deadline, f"no create succeeded after Redis came back: {statuses}"
                    time.sleep(0.1)
            finally:
                stop_traffic.set()
                worker.join(timeout=30)
            with httpx.Client(base_url=base, timeout=10) as client:
                for cid in created:  # the visitors leave: every conversation they got is ended
                    client.post(f"/api/conversations/{cid}/end", headers=AUTH)
            deadline = time.monotonic() + 20
            while (left := _ours_active(sandbox_url, base)) and time.monotonic() < deadline:
                time.sleep(0.25)
            assert serve.poll() is None
    finally:
        stop(redis)
    lines: list[dict[str, Any]] = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    messages = [line["message"] for line in lines]
    print(f"outage: {dict(statuses)} answers ({during} by the restart; {before} created before the stop), "
          f"{len(created)} created, {len(left)} left at the engine after the grace; "
          f"{sum('store unavailable' in m for m in messages)} 'store unavailable' line(s)")
    assert set(statuses) <= {201, 503}, statuses                  # never a 500
    assert statuses[503] > 0 and during.get(503, 0) > 0
    assert ready.status_code == 503 and "store-unreachable" in ready.json()["status"]
    for r in unavailable:
        assert r.headers["content-type"] == "application/problem+json" and int(r.headers["retry-after"]) >= 1
        assert r.json()["type"].endswith(("/store-unavailable", "/engine-timeout", "/engine-connection"))
    assert left == [], f"conversations still running at the engine: {left}"
    assert not any("Traceback" in m or "traceback" in line for m, line in zip(messages, lines, strict=True))
    # one line per state change (and a reminder a minute), from requests and loops alike
    assert 1 <= sum(m.startswith("store unavailable") for m in messages) <= 3, messages
    assert any(m.startswith("store available again") for m in messages), messages
    failed = [line for line in lines if line["message"].startswith("create failed")]
    assert failed and all(line.get("request_id", "").startswith("t-") for line in failed)
