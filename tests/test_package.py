"""The package as an operator installs it: the sdist and the wheel built from it, installed outside the checkout.

To stay fast and offline, the build uses this venv's setuptools (no build isolation), and the wheel goes into a
fresh venv with ``--no-deps``; that venv finds the dependencies in this project's site-packages through a plain
path entry (not processed as a site dir, so this checkout's editable install stays out of it).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.servers import free_port, run_process

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv outside the checkout with the freshly built wheel installed; its bin/ directory."""
    tmp = tmp_path_factory.mktemp("package")
    subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(tmp / "dist"), str(ROOT)],
                   check=True, capture_output=True)
    (wheel,) = (tmp / "dist").glob("*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    assert {"widget_server/_assets/static/embed.js", "widget_server/_assets/vendor/daily-js/LICENSE",
            "widget_server/_assets/templates/frame.html"} <= names
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (site,) = (venv / "lib").glob("python3*/site-packages")
    (site / "project-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
                    "--no-deps", "--no-index", str(wheel)], check=True)
    return venv / "bin"


def _env() -> dict[str, str]:
    return {"PYTHONPATH": "", "PYTHONSAFEPATH": "1"}


def test_installed_wheel_serves_loader_frame_and_daily_js(installed: Path, tmp_path: Path) -> None:
    where = subprocess.run([installed / "python", "-c", "import widget_server.assets as a; print(a.__file__)"],
                           capture_output=True, text=True, check=True, cwd=tmp_path, env=_env()).stdout
    assert where.startswith(str(installed.parent)), where
    version = subprocess.run([installed / "widget-server", "--version"], capture_output=True, text=True, check=True)
    assert re.fullmatch(r"widget-server \d+\.\d+\.\d+\S*\nhistory schema \d+\n", version.stdout)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with run_process(["serve", "--port", str(port), "--log-format", "json"], f"{base}/healthz", _env(),
                     program=[str(installed / "widget-server")], cwd=str(tmp_path)) as proc:
        loader = httpx.get(f"{base}/embed.js")
        assert loader.status_code == 200 and loader.headers["content-type"].startswith("text/javascript")
        assert loader.content == (ROOT / "static" / "embed.js").read_bytes()
        frame = httpx.get(f"{base}/w/demo")
        assert frame.status_code == 200 and "text/html" in frame.headers["content-type"]
        linked = re.findall(r'(/static/[^"?]+\?v=[0-9a-f]+)', frame.text)
        assert any("vendor/daily-esm.js" in url for url in linked), frame.text
        for url in linked:
            assert httpx.get(base + url).status_code == 200, url
        daily = httpx.get(f"{base}/static/vendor/daily-esm.js")
        dist = ROOT / "node_modules" / "@daily-co" / "daily-js" / "dist" / "daily-esm.js"
        assert daily.status_code == 200 and daily.content == dist.read_bytes()
        assert httpx.get(f"{base}/").status_code == 200  # the sandbox engine: the demo page
        proc.terminate()
        proc.wait(timeout=15)
        out = proc.stdout.read().decode() if proc.stdout else ""
    lines = out.splitlines()
    assert lines and all(json.loads(line)["level"] for line in lines), out
    assert any("widget-server" in json.loads(line)["message"] for line in lines)
    assert (tmp_path / "widget-server-state.db").is_file()  # state goes where it is run, not into the package


def test_serve_refuses_to_start_without_its_assets(installed: Path, tmp_path: Path) -> None:
    (assets,) = installed.parent.glob("lib/python3*/site-packages/widget_server/_assets")
    loader = assets / "static" / "embed.js"
    kept = loader.read_bytes()
    loader.unlink()
    try:
        run = subprocess.run([installed / "widget-server", "serve", "--port", str(free_port())], cwd=tmp_path,
                             env=_env(), capture_output=True, text=True, timeout=30)
    finally:
        loader.write_bytes(kept)
    assert run.returncode == 2
    assert "missing asset: embed.js (the built loader" in run.stderr
    assert "not starting" in run.stderr
