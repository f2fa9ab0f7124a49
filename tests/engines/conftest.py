"""Fixtures for engine tests: the sandbox over real loopback HTTP, and a callback receiver."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.servers import free_port, serve_app
from widget_server.engines.sandbox import SandboxCore, create_sandbox_app


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Sandbox:
    url: str
    core: SandboxCore  # lives on the server thread's loop: read it, don't await it

    @property
    def ws_base(self) -> str:
        return self.url.replace("http://", "ws://")


@pytest.fixture
def sandbox() -> Iterator[Callable[..., Sandbox]]:
    """``sandbox(max_concurrent=1, api_key="k")``: a SandboxCore served on loopback."""
    with contextlib.ExitStack() as stack:

        def start(api_key: str | None = None, **options: Any) -> Sandbox:
            port = free_port()
            options.setdefault("replica_join_delay_s", 0.05)
            core = SandboxCore(room_base_url=f"http://127.0.0.1:{port}/rooms", **options)
            url = stack.enter_context(serve_app(create_sandbox_app(core, api_key), port=port))
            return Sandbox(url, core)

        yield start


@pytest.fixture(scope="module")
def shared_sandbox() -> Iterator[Sandbox]:
    """One sandbox for cases that create nothing (validation errors): saves a server start each."""
    port = free_port()
    core = SandboxCore(room_base_url=f"http://127.0.0.1:{port}/rooms")
    with serve_app(create_sandbox_app(core), port=port) as url:
        yield Sandbox(url, core)


@dataclass
class Receiver:
    url: str
    events: list[dict[str, Any]] = field(default_factory=list)

    def of(self, conversation_id: str) -> list[str]:
        return [e["event_type"] for e in self.events if e["conversation_id"] == conversation_id]

    async def wait_for(self, conversation_id: str, event_type: str, timeout: float = 5.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events:
                if event["conversation_id"] == conversation_id and event["event_type"] == event_type:
                    return event
            await anyio.sleep(0.02)
        raise AssertionError(f"no {event_type} for {conversation_id}; got {self.of(conversation_id)}")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A stand-in for the widget server's hook route: records every callback it is sent."""
    events: list[dict[str, Any]] = []

    async def hook(request: Request) -> Response:
        events.append(json.loads(await request.body()))
        return Response(status_code=204)

    with serve_app(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as url:
        yield Receiver(url + "/hook", events)
