"""The sandbox's /v2 API over real loopback HTTP, as an upstream client sees it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from tests.engines.conftest import Receiver, Sandbox
from widget_server.tokens import verify_meeting_token

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as c:
        yield c


async def create(client: httpx.AsyncClient, sb: Sandbox, **body: Any) -> dict[str, Any]:
    body.setdefault("replica_id", "r1")
    response = await client.post(f"{sb.url}/v2/conversations", json=body)
    assert response.status_code == 200, response.text
    doc: dict[str, Any] = response.json()
    return doc


async def test_create_get_list_end_delete(client: httpx.AsyncClient, sandbox: Callable[..., Sandbox]) -> None:
    sb = sandbox()
    doc = await create(client, sb, conversation_name="Support", persona_id="p1")
    cid = doc["conversation_id"]
    assert cid.startswith("c") and doc["status"] == "active"
    assert doc["conversation_url"] == f"{sb.url}/rooms/{cid}"
    assert doc["conversation_name"] == "Support" and "meeting_token" not in doc
    assert doc["created_at"].endswith("Z")

    got = (await client.get(f"{sb.url}/v2/conversations/{cid}")).json()
    assert got["conversation_id"] == cid and "transcript" not in got
    listed = (await client.get(f"{sb.url}/v2/conversations", params={"status": "active"})).json()
    assert listed["total_count"] == 1 and listed["data"][0]["conversation_id"] == cid

    assert (await client.post(f"{sb.url}/v2/conversations/{cid}/end")).status_code == 200
    assert (await client.post(f"{sb.url}/v2/conversations/{cid}/end")).status_code == 200  # idempotent
    verbose = (await client.get(f"{sb.url}/v2/conversations/{cid}", params={"verbose": "true"})).json()
    assert verbose["status"] == "ended"
    assert verbose["shutdown_reason"] == "end_conversation_endpoint_hit"
    assert verbose["persona_id"] == "p1" and isinstance(verbose["transcript"], list)
    assert (await client.get(f"{sb.url}/v2/conversations", params={"status": "active"})).json()["total_count"] == 0

    assert (await client.delete(f"{sb.url}/v2/conversations/{cid}")).status_code == 204
    gone = await client.get(f"{sb.url}/v2/conversations/{cid}")
    assert gone.status_code == 404 and "error" in gone.json()
    bad_id = await client.get(f"{sb.url}/v2/conversations/not-an-id")
    assert bad_id.status_code == 400 and bad_id.json() == {"error": "Invalid conversation_id"}


async def test_list_pages_newest_first(client: httpx.AsyncClient, sandbox: Callable[..., Sandbox]) -> None:
    sb = sandbox()
    ids = [(await create(client, sb))["conversation_id"] for _ in range(3)]
    page = (await client.get(f"{sb.url}/v2/conversations", params={"limit": 2, "page": 2})).json()
    assert page["total_count"] == 3 and [d["conversation_id"] for d in page["data"]] == [ids[0]]
    bad = await client.get(f"{sb.url}/v2/conversations", params={"limit": 0})
    assert bad.status_code == 400 and "limit" in bad.json()["error"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ([1, 2], "JSON object"),
        ({}, "replica_id"),
        ({"replica_id": 5}, "replica_id must be a string"),
        ({"replica_id": "r1", "max_participants": 1}, "max_participants"),
        ({"replica_id": "r1", "max_participants": "2"}, "max_participants"),
        ({"replica_id": "r1", "require_auth": "yes"}, "require_auth must be a boolean"),
        ({"replica_id": "r1", "callback_url": "ftp://x"}, "callback_url"),
        ({"replica_id": "r1", "document_ids": "d1"}, "document_ids"),
        ({"replica_id": "r1", "document_retrieval_strategy": "fast"}, "document_retrieval_strategy"),
        ({"replica_id": "r1", "properties": []}, "properties must be an object"),
        ({"replica_id": "r1", "properties": {"max_call_duration": 0}}, "max_call_duration"),
        ({"replica_id": "r1", "properties": {"max_call_duration": 3601}}, "max_call_duration"),
        ({"replica_id": "r1", "properties": {"participant_left_timeout": -1}}, "participant_left_timeout"),
        ({"replica_id": "r1", "properties": {"participant_absent_timeout": 1.5}}, "participant_absent_timeout"),
        ({"replica_id": "r1", "properties": {"language": "en"}}, "language"),
        ({"replica_id": "r1", "properties": {"enable_recording": 1}}, "enable_recording"),
    ],
)
async def test_bad_create_bodies_get_upstream_400(
    client: httpx.AsyncClient, shared_sandbox: Sandbox, body: Any, fragment: str
) -> None:
    sb = shared_sandbox
    response = await client.post(f"{sb.url}/v2/conversations", json=body)
    assert response.status_code == 400
    assert list(response.json()) == ["error"] and fragment in response.json()["error"]
    assert (await client.get(f"{sb.url}/v2/conversations")).json()["total_count"] == 0


async def test_not_json_and_accepted_variants(client: httpx.AsyncClient, sandbox: Callable[..., Sandbox]) -> None:
    sb = sandbox()
    response = await client.post(f"{sb.url}/v2/conversations", content=b"{nope")
    assert response.status_code == 400 and response.json() == {"error": "Invalid JSON body"}
    doc = await create(client, sb, replica_id=None, face_id="r9", properties={"language": "multilingual"})
    assert doc["replica_id"] == "r9"
    assert (await create(client, sb, replica_id=None, persona_id="p1"))["status"] == "active"


async def test_api_key(client: httpx.AsyncClient, sandbox: Callable[..., Sandbox]) -> None:
    sb = sandbox(api_key="right")
    for headers in ({}, {"x-api-key": "wrong"}):
        response = await client.get(f"{sb.url}/v2/conversations", headers=headers)
        assert response.status_code == 401 and response.json() == {"message": "Invalid access token"}
    ok = await client.post(f"{sb.url}/v2/conversations", json={"replica_id": "r1"}, headers={"x-api-key": "right"})
    assert ok.status_code == 200


async def test_concurrency_limit_and_test_mode(client: httpx.AsyncClient, sandbox: Callable[..., Sandbox]) -> None:
    sb = sandbox(max_concurrent=1)
    first = await create(client, sb)
    full = await client.post(f"{sb.url}/v2/conversations", json={"replica_id": "r1"})
    assert full.status_code == 400
    assert full.json() == {"message": "User has reached maximum concurrent conversations"}
    trial = await create(client, sb, test_mode=True)  # no slot needed
    assert trial["status"] == "ended"
    await client.post(f"{sb.url}/v2/conversations/{first['conversation_id']}/end")
    assert (await create(client, sb))["status"] == "active"


async def test_meeting_token_for_private_rooms(client: httpx.AsyncClient, sandbox: Callable[..., Sandbox]) -> None:
    sb = sandbox(secret="s3cret", domain_id="dom1")
    doc = await create(client, sb, require_auth=True, properties={"participant_absent_timeout": 60})
    claims = verify_meeting_token(doc["meeting_token"], "s3cret", room=doc["conversation_id"], domain_id="dom1")
    assert 55 <= claims["exp"] - time.time() <= 61


@pytest.mark.parametrize(
    ("properties", "reason"),
    [
        ({"max_call_duration": 1}, "max_call_duration reached"),
        ({"participant_absent_timeout": 1}, "participant_absent_timeout reached"),
        ({}, "end_conversation_endpoint_hit"),
    ],
)
async def test_shutdown_reasons_and_callbacks(
    client: httpx.AsyncClient,
    sandbox: Callable[..., Sandbox],
    receiver: Receiver,
    properties: dict[str, Any],
    reason: str,
) -> None:
    sb = sandbox()
    doc = await create(client, sb, callback_url=receiver.url, conversational_context="ctx", properties=properties)
    cid = doc["conversation_id"]
    joined = await receiver.wait_for(cid, "system.replica_joined")
    assert joined["properties"]["replica_id"] == "r1" and joined["message_type"] == "system"
    assert joined["webhook_url"] == receiver.url and joined["timestamp"].endswith("Z")
    if not properties:
        await client.post(f"{sb.url}/v2/conversations/{cid}/end")
    shutdown = await receiver.wait_for(cid, "system.shutdown", timeout=3)
    assert shutdown["properties"]["shutdown_reason"] == reason
    ready = await receiver.wait_for(cid, "application.transcription_ready")
    assert ready["message_type"] == "application"
    assert ready["properties"]["transcript"] == [{"role": "system", "content": "ctx"}]
    assert receiver.of(cid) == ["system.replica_joined", "system.shutdown", "application.transcription_ready"]
    got = (await client.get(f"{sb.url}/v2/conversations/{cid}", params={"verbose": "true"})).json()
    assert got["status"] == "ended" and got["shutdown_reason"] == reason
    assert [e["event_type"] for e in got["events"]] == receiver.of(cid)


async def test_test_mode_never_joins(
    client: httpx.AsyncClient, sandbox: Callable[..., Sandbox], receiver: Receiver
) -> None:
    sb = sandbox()
    doc = await create(client, sb, test_mode=True, callback_url=receiver.url)
    assert doc["status"] == "ended"
    live = await create(client, sb, callback_url=receiver.url)
    await receiver.wait_for(live["conversation_id"], "system.replica_joined")
    assert receiver.of(doc["conversation_id"]) == []


async def test_dropped_callbacks(
    client: httpx.AsyncClient, sandbox: Callable[..., Sandbox], receiver: Receiver
) -> None:
    sb = sandbox(drop_callback_rate=1.0)
    cid = (await create(client, sb, callback_url=receiver.url))["conversation_id"]
    await client.post(f"{sb.url}/v2/conversations/{cid}/end")
    got = (await client.get(f"{sb.url}/v2/conversations/{cid}", params={"verbose": "true"})).json()
    assert "system.shutdown" in [e["event_type"] for e in got["events"]]
    assert receiver.events == [] and sb.core.callbacks_dropped >= 1


async def test_fail_rate_answers_5xx_without_creating(
    client: httpx.AsyncClient, sandbox: Callable[..., Sandbox]
) -> None:
    sb = sandbox(fail_rate=1.0)
    response = await client.post(f"{sb.url}/v2/conversations", json={"replica_id": "r1"})
    assert response.status_code >= 500 and "message" in response.json()
    assert (await client.get(f"{sb.url}/v2/conversations")).json()["total_count"] == 0


async def test_lose_rate_closes_the_connection_but_creates(
    client: httpx.AsyncClient, sandbox: Callable[..., Sandbox]
) -> None:
    sb = sandbox(lose_rate=1.0)
    with pytest.raises(httpx.RemoteProtocolError):
        await client.post(f"{sb.url}/v2/conversations", json={"replica_id": "r1"})
    listed = (await client.get(f"{sb.url}/v2/conversations", params={"status": "active"})).json()
    assert listed["total_count"] == 1


async def test_latency(client: httpx.AsyncClient, sandbox: Callable[..., Sandbox]) -> None:
    sb = sandbox(latency_ms=300)
    started = time.monotonic()
    await client.get(f"{sb.url}/v2/conversations")
    assert time.monotonic() - started >= 0.3
