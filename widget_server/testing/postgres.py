"""A real PostgreSQL server on a free loopback port, for the history tests and the benchmarks.

Debian's ``postgresql`` package ships initdb and pg_ctl in /usr/lib/postgresql/<version>/bin (not on PATH).
PostgreSQL refuses to run as root: as root the cluster is made and run as the ``postgres`` user (the
package creates it), in a directory that user owns; as anyone else, as that user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from widget_server.testing.procs import free_port

PASSWORD = "history-tests"


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    if found:
        return found[-1]
    on_path = shutil.which(name)
    if on_path is None:
        raise RuntimeError(f"{name} not found: install Debian's postgresql package (make system-deps)")
    return on_path


def _as_owner(args: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return args
    return ["runuser", "-u", "postgres", "--", *args]


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Start a throw-away cluster (fsync off, loopback only) and yield a ``postgresql://`` URL."""
    # Not under pytest's tmp_path: as root that path is not reachable by the postgres user.
    root = Path(tempfile.mkdtemp(prefix="ws-pg-"))
    data, pwfile = root / "data", root / "pw"
    pwfile.write_text(PASSWORD)
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        shutil.chown(pwfile, "postgres", "postgres")
    root.chmod(0o700)
    port = free_port()
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE, "check": True}
    try:
        subprocess.run(_as_owner([_bin("initdb"), "-D", str(data), "-U", "ws", "--pwfile", str(pwfile),
                                  "-A", "scram-sha-256", "-E", "UTF8", "--no-sync"]), **quiet)  # type: ignore[call-overload]
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off -c synchronous_commit=off " \
                  "-c full_page_writes=off -c max_connections=100"
        subprocess.run(_as_owner([_bin("pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-t", "30",
                                  "-o", options, "start"]), **quiet)  # type: ignore[call-overload]
        try:
            yield f"postgresql://ws:{PASSWORD}@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run(_as_owner([_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
                           **quiet)  # type: ignore[call-overload]
    finally:
        shutil.rmtree(root, ignore_errors=True)
