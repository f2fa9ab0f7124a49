"""The image as an operator runs it: built by `make image` (the Dockerfile on a base made from Debian's packages, as
no registry is reachable here), started read-only as a non-root user, serving the embed and a conversation on the
sandbox engine over loopback (``--network host``).

The base (mmdebstrap) and the wheels of the dependencies are fetched by `make image-deps`, an install step `make test`
runs first, so the build in this test reaches nothing but loopback; later runs reuse them and
podman's layer cache. Skipped, saying why, only when podman cannot run a container on this machine.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
IMAGE = "widget-server:test"
# The flags containers need on these machines (hybrid cgroups, limits may not be raised): docs/deploy.md.
PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs"]
ULIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
READY_WITHIN_S = 30
pytestmark = pytest.mark.slow


def _podman_can_run() -> str:
    """Why podman cannot run containers here, or "" when it can."""
    for tool in ("podman", "runc", "mmdebstrap"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (make system-deps installs it)"
    info = subprocess.run([*PODMAN, "info"], capture_output=True, text=True)
    if info.returncode != 0:
        return f"podman cannot run here: {info.stderr.strip()[-300:]}"
    return ""


@pytest.fixture(scope="module")
def image() -> str:
    reason = _podman_can_run()
    if reason:
        pytest.skip(reason)
    build = subprocess.run(["make", "-s", "image", f"IMAGE={IMAGE}"], cwd=ROOT, capture_output=True, text=True)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    return IMAGE


@pytest.fixture
def container(image: str, tmp_path: Path) -> Iterator[tuple[str, str, float]]:
    """The image running read-only with a writable state directory; its name, base URL and seconds to ready."""
    state = tmp_path / "state"
    state.mkdir()
    shutil.chown(state, 10001, 10001)
    name = f"widget-server-test-{uuid.uuid4().hex[:8]}"
    port = free_port()
    began = time.monotonic()
    subprocess.run([*PODMAN, "run", "--detach", "--rm", "--name", name, *ULIMITS, "--network", "host",
                    "--read-only", "--volume", f"{state}:/var/lib/widget-server", "--health-interval", "disable",
                    "--env", "WIDGET_SERVER_HOST=127.0.0.1", "--env", f"WIDGET_SERVER_PORT={port}", image],
                   check=True, capture_output=True)
    base = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() - began > READY_WITHIN_S:
                logs = subprocess.run([*PODMAN, "logs", name], capture_output=True, text=True)
                raise AssertionError(f"not ready within {READY_WITHIN_S} s: {logs.stdout}{logs.stderr}")
            time.sleep(0.05)
        yield name, base, time.monotonic() - began
    finally:
        subprocess.run([*PODMAN, "rm", "--force", "--time", "5", name], capture_output=True)


def test_image_serves_the_embed_and_a_conversation(container: tuple[str, str, float], tmp_path: Path) -> None:
    name, base, ready_s = container
    assert ready_s < READY_WITHIN_S
    loader = httpx.get(f"{base}/embed.js")
    assert loader.status_code == 200 and loader.content == (ROOT / "static" / "embed.js").read_bytes()
    frame = httpx.get(f"{base}/w/demo")
    assert frame.status_code == 200
    boot = json.loads(re.search(r'<script type="application/json" id="cvi-boot">(.*?)</script>', frame.text,
                                re.S).group(1))  # type: ignore[union-attr]
    daily = re.search(r'/static/vendor/daily-esm\.js\?v=[0-9a-f]+', frame.text)
    assert daily and httpx.get(base + daily.group(0)).status_code == 200

    headers = {"X-Widget-Session": boot["session"], "Origin": base}
    created = httpx.post(f"{base}/api/widgets/demo/conversations", json={}, headers=headers)
    assert created.status_code == 201, created.text
    doc = created.json()
    bearer = {"Authorization": f"Bearer {doc['end_token']}"}
    status = httpx.get(f"{base}/api/conversations/{doc['conversation_id']}", headers=bearer)
    assert status.status_code == 200 and status.json()["status"] in ("active", "started")
    assert httpx.post(f"{base}/api/conversations/{doc['conversation_id']}/end", headers=bearer).status_code == 200
    assert httpx.get(f"{base}/api/conversations/{doc['conversation_id']}", headers=bearer).json()["status"] == "ended"

    health = subprocess.run([*PODMAN, "healthcheck", "run", name], capture_output=True, text=True)
    assert health.returncode == 0, health.stdout + health.stderr
    who = subprocess.run([*PODMAN, "exec", name, "id", "-u"], capture_output=True, text=True, check=True)
    assert who.stdout.strip() == "10001"
    write = subprocess.run([*PODMAN, "exec", name, "touch", "/opt/widget-server/x"], capture_output=True, text=True)
    assert write.returncode != 0 and "Read-only file system" in write.stderr
    assert (tmp_path / "state" / "widget-server-state.db").is_file()  # the state lives in the volume
    logs = subprocess.run([*PODMAN, "logs", name], capture_output=True, text=True, check=True).stdout
    assert all(json.loads(line)["level"] for line in logs.splitlines()), logs


def test_image_declares_its_healthcheck_user_and_labels(image: str) -> None:
    inspected = subprocess.run([*PODMAN, "image", "inspect", image], capture_output=True, text=True, check=True)
    (config,) = json.loads(inspected.stdout)
    assert config["Config"]["User"] == "10001:10001"
    assert "/readyz" in " ".join(config["Healthcheck"]["Test"])
    labels = config["Labels"]
    assert labels["org.opencontainers.image.title"] == "widget-server"
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", labels["org.opencontainers.image.version"])
