"""Redis variants for the store's tests: a TLS-only redis-server and a Sentinel (the plain server and ``flush``
are :mod:`widget_server.testing.procs`')."""

from __future__ import annotations

import contextlib
import shutil
import socket
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

from tests.servers import throwaway_ca
from widget_server.testing.procs import free_port, running


def _binary() -> str:
    return shutil.which("redis-server") or "/usr/bin/redis-server"


@contextlib.contextmanager
def _running(args: list[str], port: int, ping: Callable[[int], bool], workdir: Path) -> Iterator[None]:
    with running(args, lambda: ping(port), timeout=10, interval=0.02, what=" ".join(args[:2]),
                 log=workdir / f"redis-{port}.log"):
        yield


def _pings(port: int, wrap: Callable[[socket.socket], socket.socket] = lambda s: s,
           command: bytes = b"PING\r\n", answer: bytes = b"+PONG") -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as raw, wrap(raw) as sock:
            sock.sendall(command)
            return sock.recv(64).startswith(answer)
    except OSError:
        return False


@contextlib.contextmanager
def redis_sentinel(workdir: Path, master_url: str, service: str = "mymaster") -> Iterator[str]:
    """Start a Sentinel (``redis-server --sentinel``) watching ``master_url``; yield a ``redis+sentinel://`` URL."""
    host, master_port = master_url.removeprefix("redis://").split("/")[0].split(":")
    port = free_port()
    conf = workdir / f"sentinel-{port}.conf"  # a Sentinel rewrites its config file: it must be writable
    conf.write_text(f"port {port}\nbind 127.0.0.1\ndir {workdir}\n"
                    f"sentinel monitor {service} {host} {master_port} 1\n")
    command = f"SENTINEL get-master-addr-by-name {service}\r\n".encode()
    with _running([_binary(), str(conf), "--sentinel"], port,
                  lambda p: _pings(p, command=command, answer=b"*2"), workdir):
        yield f"redis+sentinel://127.0.0.1:{port}/{service}/0"


@contextlib.contextmanager
def redis_tls_server(workdir: Path) -> Iterator[str]:
    """Start redis-server on TLS only, with a throwaway CA; yield a ``rediss://`` URL that trusts that CA."""
    ca, cert, key = throwaway_ca(workdir)
    port = free_port()
    args = [_binary(), "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1", "--tls-cert-file", str(cert),
            "--tls-key-file", str(key), "--tls-ca-cert-file", str(ca), "--tls-auth-clients", "no",
            "--save", "", "--appendonly", "no", "--dir", str(workdir)]
    context = ssl.create_default_context(cafile=str(ca))
    with _running(args, port, lambda p: _pings(p, lambda s: context.wrap_socket(s, server_hostname="127.0.0.1")),
                  workdir):
        yield f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={ca}"
