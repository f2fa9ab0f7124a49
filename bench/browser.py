"""Figures measured in real Chromium: the frame page's weight and the time to a conversation.

The server here runs the sandbox engine *in process* (so that the frame page joins the sandbox's rooms, as
it does in production with Daily), with the engine's create latency set by ``--latency-ms``. The widget
server has no config key for that, so ``python -m bench.browser`` builds the app itself the way
``widget_server.app.build_engine`` does, with ``SandboxCore(latency_ms=...)``. A host page on another
origin (127.0.0.2) carries the embed snippet.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.procs import PY, SERVER_CORE, free_port, pin, process

HOST_IP = "127.0.0.2"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
EVENTS = ("ready", "state", "conversation.created", "conversation.started", "error")
BUBBLE = "document.querySelector('[data-cvi-widget]').shadowRoot.querySelector('.bubble')"
HOST_PAGE = """<!doctype html><html lang=en><head><meta charset=utf-8><title>bench host</title>
<script>
window.__t = {};
window.cvi = window.cvi || function () { (cvi.q = cvi.q || []).push(arguments) };
%s.forEach(function (n) { cvi('on', n, function (e) {
  if (!(n in window.__t)) window.__t[n] = Date.now();
  if (n === 'state' && !('lobby' in window.__t) && e.state === 'lobby') window.__t.lobby = Date.now();
  if (n === 'error') window.__t.error_detail = JSON.stringify(e);
}); });
</script>
<script async src="%s/embed.js" data-widget="bench"></script></head><body><h1>Host page</h1></body></html>"""


# --- the server (a subprocess: python -m bench.browser serve ...) -------------------------------

def _serve(port: int, host_port: int, latency_ms: int, join_delay_s: float, store: str) -> None:
    import httpx
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse
    from starlette.routing import Mount, Route

    from widget_server.app import SANDBOX_MOUNT, create_app
    from widget_server.engines.sandbox.core import SandboxCore
    from widget_server.engines.sandbox.engine import SandboxEngine
    from widget_server.engines.sandbox.service import create_sandbox_app
    from widget_server.settings import parse_settings

    own = f"http://127.0.0.1:{port}"
    host_origin = f"http://{HOST_IP}:{host_port}"
    settings = parse_settings({
        "server": {"public_url": own, "store": store, "secret_key": "bench-secret-key-0123456789"},
        "engine": {"kind": "sandbox"},
        "widgets": {"bench": {"allowed_origins": [host_origin], "replica_id": "r_bench", "ui": "custom",
                              "limits": {"max_concurrent": 100, "per_ip_per_hour": 0}}},
    }, {})
    async def deliver(url: str, payload: dict[str, Any]) -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=own) as client:
            await client.post(url.removeprefix(own), json=payload)

    core = SandboxCore(room_base_url=f"{own}{SANDBOX_MOUNT}/rooms", deliver=deliver, max_concurrent=100,
                       latency_ms=latency_ms, replica_join_delay_s=join_delay_s)
    app = create_app(settings, engine=SandboxEngine(core))
    app.router.routes.append(Mount(SANDBOX_MOUNT, app=create_sandbox_app(core)))
    page = HOST_PAGE % (list(EVENTS), own)

    async def host_page(request: Any) -> HTMLResponse:
        return HTMLResponse(page)

    host = Starlette(routes=[Route("/", host_page)])

    async def both() -> None:
        servers = [uvicorn.Server(uvicorn.Config(a, host=h, port=p, log_level="warning"))
                   for a, h, p in ((app, "127.0.0.1", port), (host, HOST_IP, host_port))]
        await asyncio.gather(*(s.serve() for s in servers))

    asyncio.run(both())


# --- the measurements ----------------------------------------------------------------------------

@dataclass
class Weight:
    files: list[tuple[str, int, int]]   # (path, raw, gzip) loaded before Start
    after: list[tuple[str, int, int]]   # loaded after Start (the call library)

    @staticmethod
    def total(files: list[tuple[str, int, int]]) -> tuple[int, int]:
        return sum(f[1] for f in files), sum(f[2] for f in files)


@dataclass
class TimeToConversation:
    lobby_ms: list[float]     # launcher click -> the lobby interactive (its Join buttons work)
    created_ms: list[float]   # Join (in the lobby, camera on) -> conversation.created
    started_ms: list[float]   # Join -> conversation.started


def _collector(page: Any, into: list[tuple[str, int, int]]) -> None:
    def on(response: Any) -> None:
        url = response.url
        if "/favicon" in url or not url.startswith("http"):
            return
        try:
            body = response.body()
        except Exception:  # redirects and aborted loads have no body
            return
        path = url.split("://", 1)[1].split("/", 1)[-1].split("?")[0]
        into.append(("/" + path, len(body), len(gzip.compress(body, 9))))

    page.on("response", on)


def measure(latency_ms: int, join_delay_s: float, runs: int, tmp: Path) -> tuple[Weight, TimeToConversation]:
    from playwright.sync_api import sync_playwright

    port, host_port = free_port(), free_port()
    cmd = [*pin(SERVER_CORE), PY, "-m", "bench.browser", "serve", "--port", str(port), "--host-port",
           str(host_port), "--latency-ms", str(latency_ms), "--join-delay-s", str(join_delay_s),
           "--store", f"sqlite:///{tmp}/browser.db"]
    server = f"http://127.0.0.1:{port}"
    lobby: list[float] = []
    created: list[float] = []
    started: list[float] = []
    with process(cmd, f"{server}/healthz", tmp / "browser-serve.log", what="bench.browser serve"), \
            sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        # Page weight: the frame page alone, then what Join adds.
        ctx = browser.new_context()
        page = ctx.new_page()
        before: list[tuple[str, int, int]] = []
        after: list[tuple[str, int, int]] = []
        _collector(page, before)
        page.goto(f"{server}/w/bench", wait_until="networkidle")
        page.wait_for_timeout(300)
        loaded = list(before)
        before.clear()
        _collector(page, after)
        page.click("#join-video")
        page.wait_for_selector("#app[data-state='in-call']", state="attached", timeout=15_000)
        page.wait_for_timeout(300)
        weight = Weight(loaded, [f for f in after if "/sandbox/" not in f[0] and "/api/" not in f[0]])
        ctx.close()
        # A fresh context (cold cache) per run: the launcher's click to the lobby, then Join to the conversation.
        for _ in range(runs):
            ctx = browser.new_context(permissions=["camera", "microphone"])
            page = ctx.new_page()
            page.goto(f"http://{HOST_IP}:{host_port}/")
            page.wait_for_function("'ready' in window.__t", timeout=15_000)
            page.wait_for_timeout(200)
            t0 = page.evaluate(f"(() => {{ const t = Date.now(); {BUBBLE}.click(); return t; }})()")
            page.wait_for_function("'lobby' in window.__t", timeout=15_000)
            lobby.append(page.evaluate("window.__t.lobby") - t0)
            frame = next(f for f in page.frames if "/w/bench" in f.url)
            frame.wait_for_selector("#preview[data-media='video']", state="attached", timeout=15_000)
            page.wait_for_timeout(200)
            joined = frame.evaluate("(() => { const t = Date.now(); "
                                    "document.getElementById('join-video').click(); return t; })()")
            page.wait_for_function("'conversation.started' in window.__t || 'error' in window.__t",
                                   timeout=latency_ms + 15_000)
            t = page.evaluate("window.__t")
            if "error" in t:
                raise SystemExit(f"time to conversation: error event {t.get('error_detail')}")
            created.append(t["conversation.created"] - joined)
            started.append(t["conversation.started"] - joined)
            page.evaluate("cvi('end')")
            page.wait_for_timeout(200)
            ctx.close()
        browser.close()
    return weight, TimeToConversation(lobby, created, started)


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.browser")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--host-port", type=int, required=True)
    s.add_argument("--latency-ms", type=int, default=1000)
    s.add_argument("--join-delay-s", type=float, default=0.3)
    s.add_argument("--store", required=True)
    m = sub.add_parser("measure", help="print the figures")
    m.add_argument("--latency-ms", type=int, default=1000)
    m.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    if args.cmd == "serve":
        _serve(args.port, args.host_port, args.latency_ms, args.join_delay_s, args.store)
        return
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        t = time.monotonic()
        weight, ttc = measure(args.latency_ms, 0.3, args.runs, Path(tmp))
    for f in weight.files:
        print("before", *f)
    for f in weight.after:
        print("after", *f)
    print("lobby", [round(x) for x in ttc.lobby_ms], statistics.median(ttc.lobby_ms))
    print("created", [round(x) for x in ttc.created_ms], statistics.median(ttc.created_ms))
    print("started", [round(x) for x in ttc.started_ms], statistics.median(ttc.started_ms))
    print(f"{time.monotonic() - t:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
