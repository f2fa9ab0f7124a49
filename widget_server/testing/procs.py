"""Starting and stopping the real processes that the tests and the benchmark run on loopback.

    port = free_port()
    args = [sys.executable, "-m", "widget_server.cli", "sandbox", "--port", str(port)]
    with running(args, lambda: answers_http(f"http://127.0.0.1:{port}/v2/conversations"),
                 log=tmp / "sandbox.log", timeout=20) as proc:
        ...                                            # stopped on exit: SIGTERM, then SIGKILL
    with redis_server(tmp) as url:                     # "redis://127.0.0.1:PORT/0", no persistence
        flush(url)

A process that exits before it answers, or does not answer in time, raises ``StartError``
with the end of its output.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

Proc = subprocess.Popen[bytes]


class StartError(RuntimeError):
    """A process exited before it answered, or did not answer in time."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def answers_http(url: str, timeout: float = 0.5) -> bool:
    """True once anything answers ``url`` over HTTP, whatever the status."""
    try:
        httpx.get(url, timeout=timeout)
    except httpx.HTTPError:
        return False
    return True


def answers_redis(port: int, timeout: float = 0.2) -> bool:
    """True once a Redis server on ``port`` answers PING."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def spawn(args: Sequence[str], *, log: Path | None = None, env: dict[str, str] | None = None,
          cwd: Path | None = None) -> Proc:
    """Start ``args`` with stdout and stderr appended to ``log``, or piped (``proc.stdout``) without one."""
    full_env = {**os.environ, **(env or {})}
    if log is None:
        return subprocess.Popen(list(args), cwd=cwd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    with log.open("ab") as out:
        return subprocess.Popen(list(args), cwd=cwd, env=full_env, stdout=out, stderr=out)


def output(proc: Proc, log: Path | None, limit: int = 3000) -> str:
    """The end of what ``proc`` wrote; read from its pipe only once it has exited."""
    if log is not None:
        return log.read_text(errors="replace")[-limit:] if log.is_file() else ""
    if proc.stdout is not None and proc.poll() is not None:
        return proc.stdout.read().decode(errors="replace")[-limit:]
    return ""


def wait_ready(proc: Proc, ready: Callable[[], bool], *, timeout: float, interval: float = 0.05,
               what: str = "process", log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise StartError(f"{what} exited early:\n{output(proc, log)}")
        if ready():
            return
        if time.monotonic() > deadline:
            raise StartError(f"{what} did not answer within {timeout:g} s")
        time.sleep(interval)


def stop(proc: Proc, timeout: float = 10) -> None:
    """SIGTERM, and SIGKILL if it has not exited after ``timeout``; always reaped, its pipes closed."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


@contextmanager
def running(args: Sequence[str], ready: Callable[[], bool] | None = None, *, timeout: float = 15,
            interval: float = 0.05, what: str = "", log: Path | None = None, env: dict[str, str] | None = None,
            cwd: Path | None = None) -> Iterator[Proc]:
    """``spawn``, wait until ``ready()`` (when given), and ``stop`` on the way out, whatever happened."""
    proc = spawn(args, log=log, env=env, cwd=cwd)
    try:
        if ready is not None:
            wait_ready(proc, ready, timeout=timeout, interval=interval, what=what or " ".join(args[:6]), log=log)
        yield proc
    finally:
        stop(proc)


@contextmanager
def redis_server(workdir: Path, *, prefix: Sequence[str] = (), timeout: float = 10, interval: float = 0.02,
                 ping_timeout: float = 0.2) -> Iterator[str]:
    """A private redis-server on a free loopback port, without persistence; yields its URL.

    ``prefix`` goes before the command (e.g. ``taskset -c 0``); its output goes to ``workdir/redis.log``.
    """
    binary = shutil.which("redis-server")
    if binary is None:
        raise StartError("redis-server not found (make system-deps)")
    port = free_port()
    args = [*prefix, binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(workdir)]
    with running(args, lambda: answers_redis(port, ping_timeout), timeout=timeout, interval=interval,
                 what="redis-server", log=workdir / f"redis-{port}.log"):
        yield f"redis://127.0.0.1:{port}/0"


def flush(url: str) -> None:
    """Empty every database of the Redis server at ``url``."""
    host, port = url.removeprefix("redis://").split("/")[0].split(":")
    with socket.create_connection((host, int(port)), timeout=2) as sock:
        sock.sendall(b"FLUSHALL\r\n")
        sock.recv(16)
