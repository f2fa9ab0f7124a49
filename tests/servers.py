"""Run ASGI apps and processes on loopback for tests: real HTTP, real ports (widget_server.testing.procs)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn

from widget_server.testing.procs import answers_http, free_port, running

__all__ = ["free_port", "run_process", "serve_app"]


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # run in a thread
        pass


@contextlib.contextmanager
def serve_app(app: Any, host: str = "127.0.0.1", port: int | None = None) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a background thread; yields its base URL."""
    port = port or free_port(host)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    server = _Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextlib.contextmanager
def run_process(args: list[str], url: str, env: dict[str, str] | None = None, *, program: list[str] | None = None,
                cwd: str | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m widget_server.cli ARGS`` (or ``program ARGS``), its output piped to ``proc.stdout``; waits until
    ``url`` answers."""
    command = program or [sys.executable, "-m", "widget_server.cli"]
    with running([*command, *args], lambda: answers_http(url), timeout=15, env=env,
                 cwd=Path(cwd) if cwd else None) as proc:
        yield proc
