"""What the visitor's call asks of the API: consent before a browser create, a rating after the end."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import SERVER_KEY, AppClient
from widget_server.settings import Settings

pytestmark = pytest.mark.anyio
CONSENT = "I agree that this conversation is processed to answer my questions."
DIGEST = hashlib.sha256(CONSENT.encode()).hexdigest()


@pytest.fixture
async def visitor(client_for: Callable[[Settings], Any], make_settings: Callable[..., Settings]) -> AppClient:
    result: AppClient = await client_for(make_settings({
        "webhooks": {"url": "http://127.0.0.1:9/hook", "secret": "whsec_0123456789abcdef"},  # loopback: refused
        "widgets": {"support": {"consent_text": CONSENT, "collect_rating": True}}}))
    return result


async def outbox(client: AppClient) -> list[dict[str, Any]]:
    items = await client.app.state.ctx.store.outbox_claim(4e9, 100, 4e9 + 30)
    return [json.loads(i.body) for i in items]


@pytest.mark.parametrize(("body", "field"), [
    ({}, "consent"),
    ({"consent": {"text_sha256": "0" * 64}}, "consent.text_sha256"),
    ({"consent": "yes"}, "consent.text_sha256"),
])
async def test_a_browser_create_needs_the_consent_shown(visitor: AppClient, body: dict[str, Any],
                                                       field: str) -> None:
    r = await visitor.create(body=body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in r.json()["errors"]] == [field]
    assert visitor.app.state.ctx.engine.core.conversations == {}


async def test_consent_is_stored_and_sent_with_conversation_created(visitor: AppClient) -> None:
    r = await visitor.create(body={"consent": {"text_sha256": DIGEST}})
    assert r.status_code == 201, r.text
    cid = r.json()["conversation_id"]
    status = (await visitor.get(f"/api/conversations/{cid}",
                                headers={"Authorization": f"Bearer {SERVER_KEY}"})).json()
    assert status["consent"]["text_sha256"] == DIGEST and status["consent"]["at"].endswith("Z")
    created = [e for e in await outbox(visitor) if e["type"] == "conversation.created"]
    assert created[0]["data"]["consent"] == status["consent"]


async def test_a_widget_without_consent_text_refuses_one(client: AppClient) -> None:
    r = await client.create(body={"consent": {"text_sha256": DIGEST}})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "consent"


async def test_rating_after_the_end_once(visitor: AppClient) -> None:
    created = (await visitor.create(body={"consent": {"text_sha256": DIGEST}})).json()
    cid, token = created["conversation_id"], created["end_token"]
    auth = {"Authorization": f"Bearer {token}"}
    url = f"/api/conversations/{cid}/rating"
    live = await visitor.post(url, json={"thumbs": "up"}, headers=auth)
    assert live.status_code == 409 and live.json()["type"].endswith("conversation-live")
    await visitor.post(f"/api/conversations/{cid}/end", headers=auth)
    bad = await visitor.post(url, json={"thumbs": "sideways", "comment": 3, "stars": 5}, headers=auth)
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["thumbs", "comment", "stars"]
    assert (await visitor.post(url, json={"thumbs": "up"})).status_code == 401
    ok = await visitor.post(url, json={"thumbs": "down", "comment": "  Too slow.  "}, headers=auth)
    assert ok.status_code == 201, ok.text
    assert ok.json()["rating"]["comment"] == "Too slow."
    again = await visitor.post(url, json={"thumbs": "up"}, headers=auth)
    assert again.status_code == 409 and again.json()["type"].endswith("already-rated")
    rated = [e for e in await outbox(visitor) if e["type"] == "conversation.rated"]
    assert rated[0]["data"]["rating"]["thumbs"] == "down"


async def test_a_widget_that_does_not_collect_ratings_refuses_one(client: AppClient) -> None:
    created = (await client.create()).json()
    auth = {"Authorization": f"Bearer {created['end_token']}"}
    await client.post(f"/api/conversations/{created['conversation_id']}/end", headers=auth)
    r = await client.post(f"/api/conversations/{created['conversation_id']}/rating", json={"thumbs": "up"},
                          headers=auth)
    assert r.status_code == 409 and r.json()["type"].endswith("rating-not-collected")
