"""Sandbox rooms over a real WebSocket: joining, the synthetic replica, timers, recording."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.engines.conftest import Receiver, Sandbox
from widget_server.tokens import meeting_token

pytestmark = pytest.mark.anyio


class Visitor:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []

    async def send(self, action: str, **fields: Any) -> None:
        await self.ws.send(json.dumps({"action": action, **fields}))

    async def interact(self, event_type: str, **properties: Any) -> None:
        data = {"message_type": "conversation", "event_type": event_type, "properties": properties}
        await self.send("app-message", data=data)

    async def next(self) -> dict[str, Any]:
        with anyio.fail_after(4):
            event: dict[str, Any] = json.loads(await self.ws.recv())
        self.seen.append(event)
        return event

    async def until(self, action: str, event_type: str | None = None, **props: Any) -> dict[str, Any]:
        while True:
            event = await self.next()
            if event["action"] != action:
                continue
            if event_type is None:
                return event
            data = event["data"]
            if data.get("event_type") == event_type and all(data["properties"].get(k) == v for k, v in props.items()):
                return event

    async def replica_says(self) -> str:
        event = await self.until("app-message", "conversation.utterance", role="replica")
        speech: str = event["data"]["properties"]["speech"]
        return speech


async def create(sb: Sandbox, **body: Any) -> dict[str, Any]:
    body.setdefault("replica_id", "r1")
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{sb.url}/v2/conversations", json=body)
    assert response.status_code == 200, response.text
    doc: dict[str, Any] = response.json()
    return doc


async def api(sb: Sandbox, method: str, path: str) -> dict[str, Any]:
    async with httpx.AsyncClient() as client:
        doc: dict[str, Any] = (await client.request(method, f"{sb.url}/v2/conversations/{path}")).json()
    return doc


@asynccontextmanager
async def visit(
    sb: Sandbox, doc: dict[str, Any], token: str | None = None, name: str = "Ada"
) -> AsyncIterator[Visitor]:
    url = f"{sb.ws_base}/rooms/{doc['conversation_id']}/ws?name={name}"
    if token:
        url += f"&t={token}"
    async with connect(url) as ws:
        yield Visitor(ws)


async def test_private_room_needs_its_token(sandbox: Callable[..., Sandbox]) -> None:
    sb = sandbox()
    doc = await create(sb, require_auth=True)
    other = await create(sb, require_auth=True)
    expired = meeting_token(sb.core.secret, room=doc["conversation_id"], domain_id=sb.core.domain_id,
                            exp=time.time() - 1)
    cases = [(None, "not-allowed"), ("garbage", "not-allowed"), (other["meeting_token"], "not-allowed"),
             (expired, "exp-token")]
    for token, error in cases:
        async with visit(sb, doc, token) as v:
            event = await v.next()
            assert event["action"] == "error" and event["errorMsg"] == error
            with pytest.raises(ConnectionClosed):
                await v.next()
    async with visit(sb, doc, doc["meeting_token"]) as v:
        joined = await v.next()
        assert joined["action"] == "joined"
        me = [p for p in joined["participants"] if p["local"]]
        assert me[0]["session_id"] == joined["participant_id"] and me[0]["user_name"] == "Ada"


async def test_unknown_or_full_room(sandbox: Callable[..., Sandbox]) -> None:
    sb = sandbox()
    async with visit(sb, {"conversation_id": "c0123456789"}) as v:
        assert (await v.next())["errorMsg"] == "no-room"
    doc = await create(sb, max_participants=2)
    async with visit(sb, doc) as first:
        await first.until("participant-joined")  # the replica: room now full
        async with visit(sb, doc, name="Bob") as second:
            assert (await second.next())["errorMsg"] == "meeting-full"


async def test_greeting_say_and_captions(sandbox: Callable[..., Sandbox]) -> None:
    sb = sandbox()
    doc = await create(sb, custom_greeting="Welcome, Ada!", properties={"enable_closed_captions": True})
    async with visit(sb, doc) as v:
        replica = (await v.until("participant-joined"))["participant"]
        assert "tavus-replica" in replica["user_id"] and replica["local"] is False
        started = await v.until("app-message", "conversation.started_speaking", role="replica")
        assert started["fromId"] == replica["session_id"]
        assert started["data"]["conversation_id"] == doc["conversation_id"]
        assert await v.replica_says() == "Welcome, Ada!"
        await v.until("transcription-message")
        await v.until("app-message", "conversation.stopped_speaking", role="replica")

        await v.send("say", text="I would like a demo")
        user = await v.until("app-message", "conversation.utterance", role="user")
        assert user["data"]["properties"]["speech"] == "I would like a demo"
        assert "I would like a demo" in await v.replica_says()
        await v.send("update-participant", audio=False)
        updated = (await v.until("participant-updated"))["participant"]
        assert updated["local"] is True and updated["audio"] is False
        await v.send("ping", id=7)   # the page measuring its connection
        assert (await v.until("pong"))["id"] == 7
    async with httpx.AsyncClient() as client:
        info = (await client.get(doc["conversation_url"])).json()
    assert info["ws"] == f"{sb.ws_base}/rooms/{doc['conversation_id']}/ws" and info["participants"] == 1


async def test_respond_echo_context_and_tool_call(sandbox: Callable[..., Sandbox], receiver: Receiver) -> None:
    sb = sandbox()
    doc = await create(sb, callback_url=receiver.url)
    async with visit(sb, doc) as v:
        await v.replica_says()  # the default greeting
        await v.interact("conversation.respond", text="hello there")
        assert "hello there" in await v.replica_says()
        await v.interact("conversation.echo", text="Exactly this.")
        assert await v.replica_says() == "Exactly this."
        await v.interact("conversation.overwrite_llm_context", context="The visitor is a VIP.")
        await v.send("say", text="what now")
        assert "The visitor is a VIP." in await v.replica_says()
        await v.send("say", text="Tell me about pricing")
        call = await v.until("app-message", "conversation.tool_call")
        assert call["data"]["properties"] == {"name": "open_page", "arguments": '{"page": "pricing"}'}
        assert "pricing" in await v.replica_says()
    transcript = (await receiver.wait_for(doc["conversation_id"], "application.transcription_ready"))
    roles = [line["role"] for line in transcript["properties"]["transcript"]]
    assert roles == ["assistant", "user", "assistant", "assistant", "user", "assistant", "user", "assistant"]


async def test_interrupt_while_speaking(sandbox: Callable[..., Sandbox]) -> None:
    sb = sandbox(speech_s=2)
    doc = await create(sb)
    async with visit(sb, doc) as v:
        await v.replica_says()
        await v.interact("conversation.interrupt")
        await v.until("app-message", "conversation.replica_interrupted")
        await v.until("app-message", "conversation.stopped_speaking", role="replica")


async def test_leaving_starts_the_left_timeout(sandbox: Callable[..., Sandbox], receiver: Receiver) -> None:
    sb = sandbox()
    doc = await create(sb, callback_url=receiver.url, properties={"participant_left_timeout": 1})
    cid = doc["conversation_id"]
    async with visit(sb, doc) as v:
        await v.replica_says()
        await v.send("leave")
        assert (await v.until("left-meeting"))["reason"] == "left"
    assert (await api(sb, "GET", cid))["status"] == "active"  # not before the timeout
    shutdown = await receiver.wait_for(cid, "system.shutdown", timeout=3)
    assert shutdown["properties"]["shutdown_reason"] == "participant_left_timeout reached"


async def test_end_sends_everyone_away(sandbox: Callable[..., Sandbox]) -> None:
    sb = sandbox()
    doc = await create(sb)
    async with visit(sb, doc) as v:
        await v.until("joined")
        await api(sb, "POST", f"{doc['conversation_id']}/end")
        assert (await v.until("left-meeting"))["reason"] == "ended"
        with pytest.raises(ConnectionClosed):
            await v.next()
    async with visit(sb, doc) as late:
        assert (await late.next())["errorMsg"] == "no-room"


async def test_recording(sandbox: Callable[..., Sandbox], receiver: Receiver) -> None:
    sb = sandbox()
    plain = await create(sb)
    async with visit(sb, plain) as v:
        await v.send("start-recording")
        assert (await v.until("nonfatal-error"))["type"] == "recording-not-allowed"
    doc = await create(sb, callback_url=receiver.url,
                       properties={"enable_recording": True, "recording_s3_bucket_name": "b1"})
    async with visit(sb, doc) as v:
        await v.send("start-recording")
        rec = await v.until("recording-started")
        await v.send("stop-recording")
        assert (await v.until("recording-stopped"))["recordingId"] == rec["recordingId"]
        await api(sb, "POST", f"{doc['conversation_id']}/end")
    ready = await receiver.wait_for(doc["conversation_id"], "application.recording_ready")
    assert ready["properties"]["bucket_name"] == "b1"
    assert ready["properties"]["s3_key"].endswith(f"{rec['recordingId']}.mp4")


@pytest.mark.parametrize(("headers", "page"), [
    ({"accept": "application/json"}, False),
    ({}, False),                                                      # httpx's */*: an API client
    ({"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}, True),  # what a browser sends first
    ({"accept": "*/*", "sec-fetch-mode": "navigate"}, True),          # any navigation (an iframe's src)
    ({"accept": "application/json, text/html"}, False),               # JSON asked first
])
async def test_conversation_url_answers_a_browser_with_the_call_page_and_a_client_with_json(
        sandbox: Callable[..., Sandbox], headers: dict[str, str], page: bool) -> None:
    sb = sandbox()
    doc = await create(sb)
    async with httpx.AsyncClient() as client:
        r = await client.get(doc["conversation_url"], headers=headers)
        assert r.status_code == 200
        if not page:
            assert r.json()["client"] == "sandbox"
            return
        assert r.headers["content-type"].startswith("text/html") and "sandbox-call.js" in r.text
        assert "frame-ancestors" not in r.headers["content-security-policy"]   # embeddable, like Daily's rooms
        for name in ("sandbox-call.js", "sandbox-call.css", "sandbox-room.js", "replica-face.js"):
            assert (await client.get(f"{sb.url}/rooms/_call/{name}")).status_code == 200
        assert (await client.get(f"{sb.url}/rooms/_call/core.py")).status_code == 404
        gone = await client.get(f"{sb.url}/rooms/c0123456789abc", headers=headers)
        assert gone.status_code == 404 and "found\": false" in gone.text
