"""The serving process: uvicorn, with a drain window on SIGTERM, a reload on SIGHUP and the metrics bind.

    run(app, host="0.0.0.0", port=8000, drain_s=5, grace_s=5, reload=lambda: reload_config(app, path),
        metrics_port=9100)           # returns once stopped; the process then exits 0

SIGTERM: ``/readyz`` answers 503 (``draining``) at once while everything else is served for ``drain_s``
seconds, so that the load balancer takes this instance out before it stops accepting; then uvicorn's
own shutdown gives requests in flight ``grace_s`` seconds, and the tracing middleware answers what is
still running then with 503 problem+json. A second SIGTERM, or SIGINT (Ctrl+C), skips the drain. The
signal is not raised again after the shutdown (uvicorn does so by default), so a clean stop exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Generator
from types import FrameType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Route

from widget_server.app import WidgetApp
from widget_server.context import Context
from widget_server.views import ops

log = logging.getLogger("widget_server")

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app: WidgetApp, *, drain_s: float,
                 reload: Callable[[], object] | None = None) -> None:
        super().__init__(config)
        self.app = app
        self.drain_s = drain_s
        self.reload = reload
        self.draining_since: float | None = None
        self.reload_asked = False
        self.drain_logged = False

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        original = {sig: signal.signal(sig, self.handle_exit) for sig in SIGNALS}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # A signal handler: it only sets flags, which on_tick reads on the loop (at most 0.1 s later).
        if sig == signal.SIGHUP:
            self.reload_asked = True
            return
        self.app.ctx.health.draining = True
        if sig == signal.SIGTERM and self.draining_since is None and self.drain_s > 0:
            self.draining_since = time.monotonic()
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self.reload_asked:
            self.reload_asked = False
            if self.reload is None:
                log.warning("SIGHUP: no config file to reload")
            else:
                self.reload()
        if self.draining_since is not None and not self.should_exit:
            if not self.drain_logged:  # logged here, not in the signal handler (logging takes locks)
                self.drain_logged = True
                log.info("SIGTERM: draining for %g s (/readyz answers 503), then stopping", self.drain_s)
            if time.monotonic() - self.draining_since >= self.drain_s:
                self.should_exit = True
        return await super().on_tick(counter)


class _Quiet(uvicorn.Server):
    """The metrics bind: stopped by the main server, never by a signal of its own."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class MetricsApp(Starlette):
    """``GET /metrics`` alone, on its own bind, reading the main app's current parts (a reload reaches it)."""

    def __init__(self, main: WidgetApp) -> None:
        super().__init__(routes=[Route("/metrics", ops.metrics, methods=["GET"])],
                         exception_handlers=main.exception_handlers)
        self.main = main

    @property
    def ctx(self) -> Context:
        return self.main.ctx


def run(app: WidgetApp, *, host: str, port: int, drain_s: float, grace_s: int,
        reload: Callable[[], object] | None = None, metrics_port: int | None = None, **options: Any) -> None:
    config = uvicorn.Config(app, host=host, port=port, timeout_graceful_shutdown=grace_s, **options)
    server = Server(config, app, drain_s=drain_s, reload=reload)
    if metrics_port is None:
        server.run()
        return
    side = _Quiet(uvicorn.Config(MetricsApp(app), host=host, port=metrics_port, lifespan="off",
                                 log_config=None, log_level="warning", access_log=False, server_header=False))

    async def both() -> None:
        task = asyncio.create_task(side.serve())
        try:
            await server.serve()
        finally:
            side.should_exit = True
            await task

    with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
        runner.run(both())
