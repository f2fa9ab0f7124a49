"""`widget-server serve` on SIGTERM: readiness 503 for the drain window, requests in flight answered (a stuck one
with problem+json once the grace is over), exit status 0; SIGHUP reloads the config file."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import SERVER_KEY
from tests.servers import free_port, run_process
from widget_server.app import _bounded
from widget_server.cli import SHUTDOWN_GRACE_S
from widget_server.testing.config import server_config
from widget_server.testing.procs import answers_http, running


def _config(tmp_path: Path, *, drain_s: float = 0, engine_url: str = "") -> Path:
    config = tmp_path / "serve.toml"
    config.write_text(server_config(public_url="http://127.0.0.1:1", secret_key="shutdown-test-secret-0123456789abcdef",
                                    server_key=SERVER_KEY, store=f"sqlite:///{tmp_path / 'state.db'}", drain_s=drain_s,
                                    engine_url=engine_url, engine_key="shutdown-engine-key-0123")
                      + '[widgets.support]\nreplica_id = "r_test"\n')
    return config


@contextlib.contextmanager
def _serve(tmp_path: Path, **config: Any) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    with run_process(["serve", "--config", str(_config(tmp_path, **config)), "--port", str(port),
                      "--log-format", "json"], f"http://127.0.0.1:{port}/healthz") as proc:
        yield proc, port


def _lines(proc: subprocess.Popen[bytes]) -> list[dict[str, Any]]:
    """The process's log, parsed: every line is one JSON object (uvicorn's included)."""
    out = proc.stdout.read().decode() if proc.stdout else ""
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.mark.slow
def test_a_stuck_request_cannot_hold_a_shutdown(tmp_path: Path) -> None:
    with _serve(tmp_path) as (proc, port):
        # A client that declares a body and never sends all of it: the route waits for the rest.
        stuck = socket.create_connection(("127.0.0.1", port))
        stuck.sendall(b"POST /api/widgets/support/sessions HTTP/1.1\r\nHost: x\r\n"
                      b"Authorization: Bearer " + SERVER_KEY.encode() + b"\r\n"
                      b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"or")
        time.sleep(0.3)
        began = time.monotonic()
        proc.terminate()
        try:
            code = proc.wait(timeout=SHUTDOWN_GRACE_S + 10)
            stuck.settimeout(2)
            answer = stuck.recv(4096).decode()
        finally:
            stuck.close()
        took = time.monotonic() - began
        assert code == 0
        assert took >= SHUTDOWN_GRACE_S - 0.5, "it gave the request in flight its grace"
        # Cancelled at the end of the grace, and answered: problem+json, not a plain-text 500.
        assert answer.startswith("HTTP/1.1 503"), answer
        assert "application/problem+json" in answer and "shutting-down" in answer, answer
        lines = _lines(proc)
        assert any("timeout graceful shutdown exceeded" in line["message"] for line in lines)
    # Reported, not asserted beyond the bound: how long the shutdown took.
    print(f"stopped {took:.1f} s after SIGTERM with a request in flight (grace {SHUTDOWN_GRACE_S} s)")


@pytest.mark.slow
def test_sigterm_without_requests_is_prompt(tmp_path: Path) -> None:
    with _serve(tmp_path) as (proc, _):
        began = time.monotonic()
        proc.terminate()
        assert proc.wait(timeout=SHUTDOWN_GRACE_S + 10) == 0
        assert time.monotonic() - began < SHUTDOWN_GRACE_S  # nothing in flight: no grace needed


@pytest.mark.slow
def test_sigterm_mid_create_drains_answers_the_create_and_exits_0(tmp_path: Path) -> None:
    sandbox_port = free_port()
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    sandbox = [sys.executable, "-m", "widget_server.cli", "sandbox", "--port", str(sandbox_port),
               "--latency-ms", "1500"]
    with running(sandbox, lambda: answers_http(f"{sandbox_url}/v2/conversations", timeout=5), timeout=30), \
            _serve(tmp_path, drain_s=1.5, engine_url=sandbox_url) as (proc, port):
        base = f"http://127.0.0.1:{port}"
        answers: list[httpx.Response] = []

        def create() -> None:
            answers.append(httpx.post(f"{base}/api/widgets/support/conversations", timeout=20,
                                      headers={"Authorization": f"Bearer {SERVER_KEY}", "X-Request-Id": "mid-1"}))

        creating = threading.Thread(target=create)
        creating.start()
        time.sleep(0.4)  # the create waits on the engine's 1.5 s
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        ready = httpx.get(f"{base}/readyz", timeout=5)  # still served during the drain, and saying so
        assert ready.status_code == 503 and ready.json()["status"] == "draining"
        creating.join(timeout=20)
        assert proc.wait(timeout=SHUTDOWN_GRACE_S + 10) == 0
        assert answers and answers[0].status_code == 201, answers
        cid = answers[0].json()["conversation_id"]
        assert httpx.get(f"{sandbox_url}/v2/conversations/{cid}", timeout=5).json()["status"] == "active"
        lines = _lines(proc)
        created = [line for line in lines if line["message"].startswith("create created")]
        assert created and created[0]["request_id"] == "mid-1" and created[0]["conversation_id"] == cid
        assert any(line["message"].startswith("SIGTERM: draining") for line in lines)


@pytest.mark.slow
def test_sighup_applies_a_good_config_and_keeps_the_running_one_on_a_bad_one(tmp_path: Path) -> None:
    with _serve(tmp_path) as (proc, port):
        base = f"http://127.0.0.1:{port}"
        auth = {"Authorization": f"Bearer {SERVER_KEY}"}
        live = httpx.post(f"{base}/api/widgets/support/conversations", headers=auth, timeout=10)
        assert live.status_code == 201
        assert httpx.post(f"{base}/api/widgets/sales/sessions", headers=auth, timeout=5).status_code == 404
        config = tmp_path / "serve.toml"
        good = config.read_text() + '[widgets.sales]\nreplica_id = "r_sales"\n'
        config.write_text(good.replace('drain_s = 0', 'drain_s = 0\nstore = "sqlite:///elsewhere.db"', 1)
                          .replace(f'store = "sqlite:///{tmp_path / "state.db"}"\n', "", 1))
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while httpx.post(f"{base}/api/widgets/sales/sessions", headers=auth, timeout=5).status_code != 201:
            assert time.monotonic() < deadline, "the reloaded widget never appeared"
            time.sleep(0.1)
        config.write_text(good + "[widgets.broken]\nmax_call_duration = 9000\n")
        proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        assert httpx.post(f"{base}/api/widgets/sales/sessions", headers=auth, timeout=5).status_code == 201
        # the live conversation carried on: the same store (a store change needs a restart), still live
        cid = live.json()["conversation_id"]
        status = httpx.get(f"{base}/api/conversations/{cid}", headers=auth, timeout=5)
        assert status.status_code == 200 and status.json()["status"] == "active"
        proc.terminate()
        assert proc.wait(timeout=10) == 0
        lines = _lines(proc)
    messages = [line["message"] for line in lines]
    assert any(m.startswith("config reloaded from") and "added sales" in m for m in messages), messages
    assert any("server.store changed; it takes effect at the next restart" in m for m in messages), messages
    assert any("widgets.broken.max_call_duration: must be 1..3600" in m for m in messages), messages
    assert any(m.startswith("config reload refused: 2 problem(s)") for m in messages), messages


@pytest.mark.anyio
async def test_a_shutdown_step_that_never_ends_is_left_behind(caplog: pytest.LogCaptureFixture) -> None:
    released = asyncio.Event()

    async def stubborn() -> None:
        while not released.is_set():  # ignores cancellation, as a buggy close might
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                continue

    began = time.monotonic()
    await asyncio.wait_for(_bounded("stubborn step", stubborn(), seconds=0.2), 5)  # fails, not hangs
    assert time.monotonic() - began < 2
    assert "shutdown: stubborn step did not finish" in caplog.text
    released.set()  # now let it go, so that the test's loop closes clean
    for task in asyncio.all_tasks():
        if "stubborn" in getattr(task.get_coro(), "__qualname__", ""):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
