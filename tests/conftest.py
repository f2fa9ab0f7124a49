"""Shared fixtures: settings factories and the app behind a real ASGI client."""

from __future__ import annotations

import copy
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest

from widget_server import outbound
from widget_server.app import create_app
from widget_server.settings import Settings, parse_settings

pytest_plugins = ["tests.secret_scan"]

SERVER_KEY = "sk_test_0123456789abcdef"
SECRET_KEY = "secret_test_0123456789abcdef"
ENGINE_KEY = "tvs_live_engine_key_0123456789"
HOST_ORIGIN = "https://www.example.com"


@pytest.fixture(autouse=True)
def outbound_sessions_closed(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every engine or webhook client session a test's app made is closed when the test's fixtures are gone.

    An unclosed one would warn only when collected, in whatever test runs then; this names the test that left
    it. Browser tests share a server across tests (its sessions close with it), so they are not checked.
    """
    made: list[aiohttp.ClientSession] = []
    real = outbound.client_session

    def watched(timeout_s: float) -> aiohttp.ClientSession:
        made.append(real(timeout_s))
        return made[-1]

    monkeypatch.setattr(outbound, "client_session", watched)
    yield
    if request.node.get_closest_marker("browser") is None:
        assert all(session.closed for session in made), f"{sum(not s.closed for s in made)} session(s) left open"


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


class FakeClock:
    """A clock tests move by hand: ``create_app(settings, clock=clock)``, then ``clock.advance(30)``."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def base_config(tmp_path: Path) -> dict[str, Any]:
    return {
        "server": {
            "public_url": "http://testserver",
            "secret_key": SECRET_KEY,
            "store": f"sqlite:///{tmp_path / 'state.db'}",
            "server_keys": [SERVER_KEY],
        },
        "engine": {"kind": "sandbox"},
        "widgets": {
            "support": {
                "allowed_origins": [HOST_ORIGIN, "https://*.example.org"],
                "replica_id": "r_test",
                "persona_id": "p_test",
                "custom_greeting": "Hello from the test",
                "max_call_duration": 600,
                "overrides": {"allow": ["conversational_context", "custom_greeting", "language", "user_name"],
                              "max_chars": 100},
                "limits": {"max_concurrent": 2, "per_ip_per_hour": 5, "minutes_per_day": 600},
            },
            "public": {"allowed_origins": [HOST_ORIGIN], "replica_id": "r_pub", "private": False},
        },
    }


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    def make(extra: dict[str, Any] | None = None, env: dict[str, str] | None = None) -> Settings:
        raw = deep_merge(base_config(tmp_path), extra or {})
        if raw["server"]["store"].startswith("redis") and "history" not in raw["server"]:
            raw["server"]["history"] = f"sqlite:///{tmp_path / 'history.db'}"  # not the default, in the cwd
        return parse_settings(raw, env or {})

    return make


class AppClient(httpx.AsyncClient):
    app: Any

    async def session(self, widget: str = "support", origin: str = HOST_ORIGIN) -> str:
        return str(self.app.state.ctx.signer.session(widget, origin))

    async def create(self, widget: str = "support", body: Any = None, **headers: str) -> httpx.Response:
        hdrs = {"X-Widget-Session": await self.session(widget), **headers}
        return await self.post(f"/api/widgets/{widget}/conversations", json=body, headers=hdrs)


@pytest.fixture
async def client_for() -> AsyncIterator[Callable[[Settings], Any]]:
    stack: list[Any] = []

    from tests.secret_scan import record_response

    async def start(settings: Settings, *, peer: str = "203.0.113.7", **options: Any) -> AppClient:
        app = create_app(settings, **options)
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        client = AppClient(transport=httpx.ASGITransport(app=app, client=(peer, 5000)),
                           base_url="http://testserver",
                           event_hooks={"response": [record_response]})
        client.app = app
        stack.append((lifespan, client))
        return client

    yield start
    for lifespan, client in reversed(stack):
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


@pytest.fixture
async def client(client_for: Callable[[Settings], Any], make_settings: Callable[..., Settings]) -> AppClient:
    result: AppClient = await client_for(make_settings())
    return result


@pytest.fixture(scope="session")
def redis_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real redis-server for the session; use ``redis_url`` for a clean database."""
    from widget_server.testing.procs import redis_server

    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(scope="session")
def sentinel_service(redis_service: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Redis Sentinel watching ``redis_service``: its ``redis+sentinel://`` URL."""
    from tests.redis_server import redis_sentinel

    with redis_sentinel(tmp_path_factory.mktemp("sentinel"), redis_service) as url:
        yield url


@pytest.fixture(scope="session")
def redis_tls_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server speaking TLS only: its ``rediss://`` URL (trusting a throwaway CA)."""
    from tests.redis_server import redis_tls_server

    with redis_tls_server(tmp_path_factory.mktemp("redis-tls")) as url:
        yield url


@pytest.fixture
def redis_url(redis_service: str) -> str:
    from widget_server.testing.procs import flush

    flush(redis_service)
    return redis_service


@pytest.fixture(scope="session")
def postgres_service() -> Iterator[str]:
    """One real PostgreSQL cluster for the session; use ``postgres_url`` for a database of one's own."""
    from widget_server.testing.postgres import postgres_server

    with postgres_server() as url:
        yield url


@pytest.fixture
def postgres_url(postgres_service: str) -> str:
    """A new, empty database on the session's cluster."""
    import asyncio
    import secrets
    import threading

    import asyncpg

    name = "t_" + secrets.token_hex(6)

    async def create() -> None:
        conn = await asyncpg.connect(postgres_service)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    # in a thread of its own: the test's event loop may be running in this one
    worker = threading.Thread(target=asyncio.run, args=(create(),))
    worker.start()
    worker.join()
    return postgres_service.rsplit("/", 1)[0] + "/" + name
# The two setups the live and browser tests run on: the embedded default (the sandbox in the
# server's process), and the closest thing to production that runs here, the ``tavus`` engine
# over real HTTP to ``widget-server sandbox`` in a process of its own.
SETUPS = ("embedded", "tavus-sandbox")
SANDBOX_KEY = "sandbox_key_0123456789abcdef"


class StandaloneSandbox:
    """``widget-server sandbox`` as a process; ``active()`` counts its live conversations over /v2."""

    def __init__(self, url: str) -> None:
        self.url = url

    def engine(self) -> dict[str, Any]:
        return {"kind": "tavus", "base_url": self.url, "api_key": SANDBOX_KEY, "timeout_s": 10}

    def active(self) -> set[str]:
        r = httpx.get(f"{self.url}/v2/conversations", params={"status": "active", "limit": 1000},
                      headers={"x-api-key": SANDBOX_KEY}, timeout=5)
        r.raise_for_status()
        return {c["conversation_id"] for c in r.json()["data"]}


@pytest.fixture(scope="session")
def standalone_sandbox() -> Iterator[StandaloneSandbox]:
    import sys

    from widget_server.testing.procs import answers_http, free_port, running

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [sys.executable, "-m", "widget_server.cli", "sandbox", "--port", str(port),
            "--api-key", SANDBOX_KEY, "--max-concurrent", "1000"]
    with running(args, lambda: answers_http(f"{url}/v2/conversations"), timeout=20):
        yield StandaloneSandbox(url)


def engine_for(setup: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    """The ``engine`` settings of a setup (starting the standalone sandbox on first need)."""
    if setup == "embedded":
        return {"kind": "sandbox"}
    sandbox: StandaloneSandbox = request.getfixturevalue("standalone_sandbox")
    return sandbox.engine()
