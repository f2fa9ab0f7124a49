"""Interactions into a live sandbox room through the ASGI app: validation, auth, delivery, end."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import AppClient
from tests.live.conftest import AUTH, snapshot, wait_for

pytestmark = pytest.mark.anyio
PROBLEM = "application/problem+json"


async def _live(client: AppClient) -> str:
    r = await client.post("/api/widgets/support/conversations", headers=AUTH)
    assert r.status_code == 201, r.text
    cid: str = r.json()["conversation_id"]
    await wait_for(client, cid, lambda e: e["type"] == "replica_joined")
    return cid


async def _post(client: AppClient, cid: str, body: Any, **headers: str) -> Any:
    return await client.post(f"/api/conversations/{cid}/interactions", json=body, headers={**AUTH, **headers})


async def test_overwrite_context_shows_in_the_replicas_next_answer(client: AppClient) -> None:
    cid = await _live(client)
    r = await _post(client, cid, {"event_type": "conversation.overwrite_llm_context",
                                  "properties": {"context": "The visitor is on the checkout page."}})
    assert r.status_code == 202, r.text
    assert r.json() == {"accepted": True, "event_type": "conversation.overwrite_llm_context"}
    assert (await _post(client, cid, {"event_type": "conversation.respond",
                                      "properties": {"text": "Where am I?"}})).status_code == 202
    events = await wait_for(client, cid, lambda e: e["type"] == "utterance" and e["data"]["role"] == "replica"
                            and "Where am I" in e["data"]["text"])
    assert "(Context: The visitor is on the checkout page.)" in events[-1]["data"]["text"]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    said = events[-1]["seq"]
    events = await wait_for(client, cid, lambda e: e["type"] == "speaking" and e["seq"] > said)
    assert events[-1]["data"] == {"role": "replica", "state": "stopped"}
    assert all(e["conversation_id"] == cid and e["at"].endswith("Z") for e in events)


async def test_respond_with_pricing_gives_a_parsed_tool_call(client: AppClient) -> None:
    cid = await _live(client)
    await _post(client, cid, {"event_type": "conversation.respond", "properties": {"text": "pricing please"}})
    events = await wait_for(client, cid, lambda e: e["type"] == "tool_call")
    assert events[-1]["data"] == {"name": "open_page", "arguments": {"page": "pricing"}}


async def test_echo_and_append_context(client: AppClient) -> None:
    cid = await _live(client)
    await _post(client, cid, {"event_type": "conversation.echo",
                              "properties": {"modality": "text", "text": "Exactly this."}})
    await wait_for(client, cid, lambda e: e["type"] == "utterance" and e["data"]["text"] == "Exactly this.")
    await _post(client, cid, {"event_type": "conversation.append_llm_context", "properties": {"context": "VIP."}})
    await _post(client, cid, {"event_type": "conversation.respond", "properties": {"text": "hi"}})
    events = await wait_for(client, cid, lambda e: e["type"] == "utterance" and "said: \"hi\"" in e["data"]["text"]
                            and e["data"]["role"] == "replica")
    assert events[-1]["data"]["text"].endswith("(Context: VIP.)")


@pytest.mark.parametrize(("body", "field"), [
    ({"event_type": "conversation.respond", "properties": {}}, "properties.text"),
    ({"event_type": "conversation.respond", "properties": {"text": 3}}, "properties.text"),
    ({"event_type": "conversation.respond", "properties": {"text": "x", "speed": 1}}, "properties.speed"),
    ({"event_type": "conversation.echo", "properties": {"modality": "video", "text": "x"}}, "properties.modality"),
    ({"event_type": "conversation.echo", "properties": {"modality": "audio"}}, "properties.audio"),
    ({"event_type": "conversation.overwrite_llm_context", "properties": {"context": ""}}, "properties.context"),
    ({"event_type": "conversation.sensitivity", "properties": {"participant_pause_sensitivity": "max"}},
     "properties.participant_pause_sensitivity"),
    ({"event_type": "conversation.interrupt", "properties": {"now": True}}, "properties.now"),
    ({"event_type": "conversation.dance", "properties": {}}, "event_type"),
    ({"event_type": "conversation.respond", "properties": "hi"}, "properties"),
    ({"event_type": "conversation.respond", "properties": {"text": "x"}, "message_type": "system"},
     "message_type"),
    ({"event_type": "conversation.respond", "properties": {"text": "x"}, "conversation_id": "c999"},
     "conversation_id"),
    (["conversation.respond"], "body"),
])
async def test_validation_names_the_field(client: AppClient, body: Any, field: str) -> None:
    created = await client.post("/api/widgets/support/conversations", headers=AUTH)
    r = await _post(client, created.json()["conversation_id"], body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == PROBLEM
    assert field in [e["field"] for e in r.json()["errors"]]


async def test_interrupt_and_sensitivity_are_accepted(client: AppClient) -> None:
    cid = await _live(client)
    for body in ({"event_type": "conversation.interrupt"},
                 {"event_type": "conversation.sensitivity",
                  "properties": {"participant_interrupt_sensitivity": "low"}}):
        assert (await _post(client, cid, body)).status_code == 202


async def test_auth_unknown_and_ended(client: AppClient) -> None:
    cid = await _live(client)
    body = {"event_type": "conversation.respond", "properties": {"text": "hi"}}
    for headers in ({}, {"Authorization": "Bearer nope"}):
        r = await client.post(f"/api/conversations/{cid}/interactions", json=body, headers=headers)
        assert r.status_code == 401 and r.headers["content-type"] == PROBLEM
        r = await client.get(f"/api/conversations/{cid}/events", headers=headers)
        assert r.status_code == 401
    # the end token is the visitor's, not an operator's
    r = await client.get(f"/api/conversations/{cid}/events?key=sk_test_0123456789abcdef")
    assert r.status_code == 401  # ?key= is for WebSocket clients only
    assert (await _post(client, "c0000000000000", body)).status_code == 404
    assert (await client.post(f"/api/conversations/{cid}/end", headers=AUTH)).status_code == 200
    events = await wait_for(client, cid, lambda e: e["type"] == "ended")
    assert events[-1]["data"] == {"reason": "end_conversation_endpoint_hit"}
    r = await _post(client, cid, body)
    assert r.status_code == 409 and r.json()["type"].endswith("/conversation-ended")
    r = await client.get(f"/api/conversations/{cid}/events", params={"after": "x"}, headers=AUTH)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "after"


async def test_events_of_a_conversation_ended_before_anyone_followed(client: AppClient) -> None:
    created = await client.post("/api/widgets/support/conversations", headers=AUTH)
    cid = created.json()["conversation_id"]
    await client.post(f"/api/conversations/{cid}/end", headers=AUTH)
    events = await snapshot(client, cid)
    assert [e["type"] for e in events] == ["ended"]
    assert events[0]["seq"] == 1


async def test_the_servers_seat_is_no_visitor(client: AppClient, setup: str) -> None:
    """The seat the server takes to follow events is hidden: the room counts only the replica."""
    cid = await _live(client)
    engine = client.app.state.ctx.engine
    if setup == "embedded":
        conv = engine.core.conversations[cid]
        assert len(conv.room.members) == 1 and conv.room.visitors == []  # the hidden seat, no visitor
        assert list(conv.room.participants.values()) == [conv.replica.participant]
    else:  # the standalone sandbox says so in its room descriptor, over HTTP
        async with httpx.AsyncClient() as http:
            doc = (await http.get((await engine.room(cid)).url, headers={"Accept": "application/json"})).json()
        assert doc["participants"] == 1 and doc["seat"] == "socket"
