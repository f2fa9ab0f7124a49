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

__all__ = ["free_port", "run_process", "serve_app", "throwaway_ca"]


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=30)


def throwaway_ca(workdir: Path) -> tuple[Path, Path, Path]:
    """A one-day CA and a certificate it signed for 127.0.0.1: (ca.crt, server.crt, server.key) in ``workdir``."""
    ca, ca_key, cert, key, csr = (workdir / n for n in ("ca.crt", "ca.key", "server.crt", "server.key", "s.csr"))
    ext = workdir / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *ec, "-keyout", str(ca_key), "-out", str(ca), "-days", "1", "-subj", "/CN=test-ca")
    _openssl("req", *ec, "-keyout", str(key), "-out", str(csr), "-subj", "/CN=127.0.0.1")
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
             "-out", str(cert), "-days", "1", "-extfile", str(ext))
    return ca, cert, key


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # run in a thread
        pass


@contextlib.contextmanager
def serve_app(app: Any, host: str = "127.0.0.1", port: int | None = None, **options: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a background thread; yields its base URL (https with ``ssl_certfile``).

    ``options`` go to ``uvicorn.Config`` (``ssl_certfile``, ``ssl_keyfile``, ...)."""
    port = port or free_port(host)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on", **options)
    server = _Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    try:
        yield f"{'https' if options.get('ssl_certfile') else 'http'}://{host}:{port}"
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
