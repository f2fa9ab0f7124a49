"""SandboxEngine in process: the Engine interface, and failures mapped as an HTTP client maps them."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from widget_server.engines.base import CreateRequest, Engine
from widget_server.engines.sandbox import SandboxCore, SandboxEngine
from widget_server.errors import EngineError

pytestmark = pytest.mark.anyio


@pytest.fixture
async def core() -> AsyncIterator[SandboxCore]:
    core = SandboxCore(replica_join_delay_s=0.0, max_concurrent=1, rng=random.Random(7))
    yield core
    await core.aclose()


async def test_engine_round_trip(core: SandboxCore) -> None:
    engine: Engine = SandboxEngine(core)
    assert engine.kind == "sandbox"
    conv = await engine.create(CreateRequest(replica_id="r1", conversation_name="Demo"))
    assert conv.status == "active" and conv.meeting_token and conv.conversation_name == "Demo"
    assert (await engine.list(status="active")).total_count == 1
    await engine.end(conv.conversation_id)
    await engine.end(conv.conversation_id)
    ended = await engine.get(conv.conversation_id)
    assert ended.status == "ended" and ended.shutdown_reason == "end_conversation_endpoint_hit"


@pytest.mark.parametrize(
    ("setup", "kind", "status"),
    [
        ({"max_participants": 1}, "rejected", 400),
        ({"full": True}, "concurrency", 400),
        ({"fail_rate": 1.0}, "unavailable", 500),
        ({"lose_rate": 1.0}, "connection", None),
    ],
)
async def test_create_failures(core: SandboxCore, setup: dict[str, Any], kind: str, status: int | None) -> None:
    engine = SandboxEngine(core)
    request = CreateRequest(replica_id="r1")
    if "max_participants" in setup:
        request = CreateRequest(replica_id="r1", max_participants=1)
    if setup.get("full"):
        await engine.create(request)
    core.fail_rate = setup.get("fail_rate", 0.0)
    core.lose_rate = setup.get("lose_rate", 0.0)
    with pytest.raises(EngineError) as caught:
        await engine.create(request)
    assert caught.value.kind == kind and caught.value.upstream_status == status
    if kind == "connection":
        assert (await engine.list(status="active")).total_count == 1


@pytest.mark.parametrize(("conversation_id", "kind"), [("c0123456789abcd", "not_found"), ("x", "rejected")])
async def test_unknown_conversations(core: SandboxCore, conversation_id: str, kind: str) -> None:
    engine = SandboxEngine(core)
    for call in (engine.get, engine.end):
        with pytest.raises(EngineError) as caught:
            await call(conversation_id)
        assert caught.value.kind == kind


async def test_server_side_participant(core: SandboxCore) -> None:
    doc = (await core.create({"replica_id": "r1", "custom_greeting": "Hello"})).doc
    cid = doc["conversation_id"]
    visitor = core.join_room(cid, user_name="Ada")
    async with core.subscribe(cid) as events:
        with anyio.fail_after(3):
            async for event in events:
                if event["action"] == "participant-joined":
                    break  # the replica is in: it can be spoken to
        core.send_app_message(cid, {"message_type": "conversation", "event_type": "conversation.echo",
                                    "conversation_id": cid, "properties": {"text": "From the server"}})
        said = []
        with anyio.fail_after(3):
            async for event in events:
                data = event.get("data") or {}
                if data.get("event_type") == "conversation.utterance":
                    said.append(data["properties"]["speech"])
                if "From the server" in said:
                    break
        assert said[-1] == "From the server"
        await core.end(cid)
        rest = [event async for event in events]
        assert rest[-1] == {"action": "left-meeting", "reason": "ended"}
    assert visitor.closed
