"""Operator webhooks: signed, retried with backoff, kept in the store until a 2xx.

The receiver is a real HTTP server on loopback; the engine is the in-process sandbox.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.conftest import AppClient
from tests.servers import free_port, serve_app
from widget_server.settings import Settings
from widget_server.webhooks import sign, verify

pytestmark = pytest.mark.anyio
SECRET = "whsec_0123456789abcdef"


@dataclass
class Receiver:
    url: str
    fail_first: int = 0
    seen: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def types(self) -> dict[str, set[str]]:
        with self.lock:
            out: dict[str, set[str]] = {}
            for doc in self.seen:
                if doc["ok"]:
                    out.setdefault(doc["body"]["type"], set()).add(doc["body"]["id"])
            return out


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver("")

    async def hook(request: Request) -> Response:
        raw = await request.body()
        ok = verify(SECRET, request.headers.get("widget-signature", ""), raw)
        with rec.lock:
            attempt = len(rec.seen)
            accepted = ok and attempt >= rec.fail_first
            rec.seen.append({"body": json.loads(raw), "ok": accepted, "signed": ok, "raw": raw,
                             "signature": request.headers.get("widget-signature", ""),
                             "event_id": request.headers.get("widget-event-id")})
        return Response(status_code=204 if accepted else 503)

    with serve_app(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as url:
        rec.url = url + "/hook"
        yield rec


def hooks_config(url: str) -> dict[str, Any]:
    return {"webhooks": {"url": url, "secret": SECRET, "retry_base_s": 0.05, "retry_max_s": 0.2,
                         "timeout_s": 2}}


async def wait_for(check: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def drained(client: AppClient, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while await client.app.state.ctx.store.outbox_size():
        assert time.monotonic() < deadline, "outbox not drained in time"
        await asyncio.sleep(0.05)


def test_signature_verifies_and_rejects_tampering() -> None:
    body = b'{"id":"evt_1","type":"conversation.ended"}'
    now = int(time.time())
    header = sign(SECRET, body, now)
    assert header.startswith(f"t={now},v1=") and verify(SECRET, header, body)
    assert _documented_python_verifier()(SECRET, header, body)
    assert not verify(SECRET, header, body + b" ")
    assert not verify("another-secret-0123", header, body)
    assert not verify(SECRET, sign(SECRET, body, now - 3600), body)  # replayed later
    assert not verify(SECRET, "garbage", body)


def _documented_python_verifier() -> Callable[[str, str, bytes], bool]:
    """The receiver code docs/webhooks.md gives operators, run as written."""
    doc = (Path(__file__).resolve().parent.parent / "docs" / "webhooks.md").read_text()
    source = doc.split("```python\n", 1)[1].split("```", 1)[0]
    scope: dict[str, Any] = {}
    exec(source, scope)
    verifier: Callable[[str, str, bytes], bool] = scope["verify"]
    return verifier


async def test_rotation_signs_with_every_secret_so_either_verifies(
        client_for: Callable[..., Any], make_settings: Callable[..., Settings], receiver: Receiver) -> None:
    new = "whsec_new_0123456789abcdef"
    config = hooks_config(receiver.url)
    config["webhooks"]["secret"] = [new, SECRET]  # the receiver (fixture) still holds the old one
    client: AppClient = await client_for(make_settings(config))
    await client.create()
    await wait_for(lambda: "conversation.created" in receiver.types())
    seen = receiver.seen[0]
    header, body = seen["signature"], seen["raw"]
    assert header.count("v1=") == 2
    documented = _documented_python_verifier()
    for secret in (new, SECRET):
        assert verify(secret, header, body) and documented(secret, header, body)
    assert not verify("whsec_other_0123456789ab", header, body)
    assert not documented("whsec_other_0123456789ab", header, body)
    await drained(client)


async def test_lifecycle_events_arrive_signed_despite_failures(
        client_for: Callable[..., Any], make_settings: Callable[..., Settings], receiver: Receiver) -> None:
    receiver.fail_first = 3
    client: AppClient = await client_for(make_settings(hooks_config(receiver.url)))
    doc = (await client.create()).json()
    cid = doc["conversation_id"]
    await wait_for(lambda: "conversation.started" in receiver.types())
    await client.post(f"/api/conversations/{cid}/end", headers={"Authorization": f"Bearer {doc['end_token']}"})
    wanted = {"conversation.created", "conversation.started", "conversation.ended", "transcript.ready"}
    await wait_for(lambda: wanted <= set(receiver.types()))
    assert all(d["signed"] for d in receiver.seen)
    assert sum(not d["ok"] for d in receiver.seen) == 3   # refused, then retried
    ended = next(d["body"] for d in receiver.seen if d["body"]["type"] == "conversation.ended")
    assert ended["data"]["conversation_id"] == cid and ended["data"]["reason"] == "visitor_ended"
    assert ended["data"]["duration_s"] >= 0 and ended["data"]["widget"] == "support"
    assert all(d["event_id"] == d["body"]["id"] for d in receiver.seen)
    await drained(client)


async def test_events_survive_a_restart(client_for: Callable[..., Any], make_settings: Callable[..., Settings],
                                        receiver: Receiver) -> None:
    dead = f"http://127.0.0.1:{free_port()}/hook"
    first: AppClient = await client_for(make_settings(hooks_config(dead)))
    doc = (await first.post("/api/widgets/support/conversations",
                            headers={"Authorization": "Bearer sk_test_0123456789abcdef"})).json()
    await first.post(f"/api/conversations/{doc['conversation_id']}/end",
                     headers={"Authorization": f"Bearer {doc['end_token']}"})
    assert await first.app.state.ctx.store.outbox_size() >= 2  # kept: nobody answered
    # the same state file, now with a receiver that answers
    second: AppClient = await client_for(make_settings(hooks_config(receiver.url)))
    await wait_for(lambda: {"conversation.created", "conversation.ended"} <= set(receiver.types()))
    await drained(second)
