"""The conversation API through the ASGI app, on the in-process sandbox engine and real SQLite."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import ENGINE_KEY, HOST_ORIGIN, SECRET_KEY, SERVER_KEY, AppClient
from widget_server.settings import Settings
from widget_server.tokens import verify_meeting_token

pytestmark = pytest.mark.anyio
PROBLEM = "application/problem+json"


async def test_create_with_frame_session_returns_contract_shape(client: AppClient) -> None:
    r = await client.create(body={"user_name": "Ada"}, Origin="http://testserver")
    assert r.status_code == 201, r.text
    doc = r.json()
    assert set(doc) >= {"conversation_id", "conversation_url", "meeting_token", "join_url", "status",
                        "expires_at", "end_token"}
    assert doc["status"] == "active"
    assert doc["join_url"] == f"{doc['conversation_url']}?t={doc['meeting_token']}"
    assert doc["expires_at"].endswith("Z")
    assert r.headers["cache-control"] == "no-store"
    core = client.app.state.ctx.engine.core
    claims = verify_meeting_token(doc["meeting_token"], core.secret, room=doc["conversation_id"],
                                  domain_id=core.domain_id)
    assert claims["r"] == doc["conversation_id"]


async def test_public_widget_has_no_meeting_token(client: AppClient) -> None:
    r = await client.create("public")
    assert r.status_code == 201
    assert "meeting_token" not in r.json()
    assert r.json()["join_url"] == r.json()["conversation_url"]


async def test_widget_config_reaches_the_engine(client: AppClient) -> None:
    r = await client.create(body={"conversational_context": "On the pricing page", "language": "spanish"})
    cid = r.json()["conversation_id"]
    got = await client.app.state.ctx.engine.get(cid)
    assert got.status == "active"
    seen = client.app.state.ctx.engine.core.conversations[cid]
    body = seen.body if hasattr(seen, "body") else seen.spec
    text = repr(body)
    assert "On the pricing page" in text and "spanish" in text and "r_test" in text
    assert "/hooks/engine/" in (got.callback_url or "")


@pytest.mark.parametrize(
    ("headers", "status", "kind"),
    [
        ({}, 401, "unauthorized"),
        ({"X-Widget-Session": "garbage"}, 401, "session-invalid"),
        ({"Authorization": "Bearer not-a-key"}, 401, "unauthorized"),
    ],
)
async def test_create_refuses_missing_or_bad_credentials(client: AppClient, headers: dict[str, str], status: int,
                                                         kind: str) -> None:
    r = await client.post("/api/widgets/support/conversations", headers=headers)
    assert r.status_code == status
    assert r.headers["content-type"] == PROBLEM
    assert r.json()["type"].endswith(kind)


async def test_server_key_creates_without_session(client: AppClient) -> None:
    r = await client.post("/api/widgets/support/conversations", headers={"Authorization": f"Bearer {SERVER_KEY}"})
    assert r.status_code == 201


async def test_session_for_other_widget_is_refused(client: AppClient) -> None:
    session = await client.session("public")
    r = await client.post("/api/widgets/support/conversations", headers={"X-Widget-Session": session})
    assert r.status_code == 401


@pytest.mark.parametrize("origin", ["https://evil.example.net", "http://www.example.com", "https://example.org",
                                    "https://www.example.com:8443", "null"])
async def test_foreign_origin_is_refused(client: AppClient, origin: str) -> None:
    r = await client.create(Origin=origin)
    assert r.status_code == 403
    assert r.json()["type"].endswith("origin-not-allowed")


async def test_wildcard_origin_matches_subdomain(client: AppClient) -> None:
    session = client.app.state.ctx.signer.session("support", "https://shop.example.org")
    r = await client.post("/api/widgets/support/conversations",
                          headers={"X-Widget-Session": session, "Origin": "https://shop.example.org"})
    assert r.status_code == 201
    assert r.headers["access-control-allow-origin"] == "https://shop.example.org"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"language": 5}, 422, "language"),
        ({"custom_greeting": "x" * 101}, 422, "custom_greeting"),
        ({"color": "red"}, 422, "color"),
        (["not", "an", "object"], 422, "body"),
        ({"language": "Klingon!"}, 422, "language"),
    ],
)
async def test_bad_bodies_name_the_field(client: AppClient, body: Any, status: int, field: str) -> None:
    r = await client.create(body=body)
    assert r.status_code == status
    assert r.headers["content-type"] == PROBLEM
    assert [e["field"] for e in r.json()["errors"]] == [field]


async def test_malformed_json_and_huge_body(client: AppClient) -> None:
    hdrs = {"X-Widget-Session": await client.session(), "Content-Type": "application/json"}
    r = await client.post("/api/widgets/support/conversations", content=b"{nope", headers=hdrs)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body"
    r = await client.post("/api/widgets/support/conversations", content=b"{" + b" " * 70_000 + b"}", headers=hdrs)
    assert r.status_code == 413


async def test_override_not_allowed_is_403(client: AppClient) -> None:
    r = await client.create("public", body={"custom_greeting": "hi"})
    assert r.status_code == 403
    assert r.json()["errors"][0]["field"] == "custom_greeting"


async def test_unknown_widget_is_404(client: AppClient) -> None:
    r = await client.post("/api/widgets/nope/conversations", headers={"Authorization": f"Bearer {SERVER_KEY}"})
    assert r.status_code == 404 and r.headers["content-type"] == PROBLEM


async def test_max_concurrent_gives_503_and_end_frees_the_slot(client_for: Callable[[Settings], Any],
                                                               make_settings: Callable[..., Settings]) -> None:
    """Without the waiting line (docs/queue.md) a visitor finding every slot busy hears so."""
    client = await client_for(make_settings({"widgets": {"support": {"queue": {"enabled": False}}}}))
    first = (await client.create()).json()
    assert (await client.create()).status_code == 201
    busy = await client.create()
    assert busy.status_code == 503
    assert int(busy.headers["retry-after"]) > 0
    assert busy.json()["type"].endswith("busy")
    ended = await client.post(f"/api/conversations/{first['conversation_id']}/end",
                              headers={"Authorization": f"Bearer {first['end_token']}"})
    assert ended.status_code == 200 and ended.json()["status"] == "ended"
    assert (await client.create()).status_code == 201


async def test_per_ip_limit_gives_429(client_for: Callable[[Settings], Any],
                                      make_settings: Callable[..., Settings]) -> None:
    client = await client_for(make_settings({"widgets": {"support": {"limits": {
        "per_ip_per_hour": 2, "max_concurrent": 10}}}}))
    assert (await client.create()).status_code == 201
    assert (await client.create()).status_code == 201
    r = await client.create()
    assert r.status_code == 429 and r.json()["type"].endswith("rate-limited")
    assert 0 < int(r.headers["retry-after"]) <= 3600
    # server-key calls are the operator's own, not a visitor's
    r = await client.post("/api/widgets/support/conversations", headers={"Authorization": f"Bearer {SERVER_KEY}"})
    assert r.status_code == 201


@pytest.mark.parametrize("how", ["bearer", "json", "text"])
async def test_end_accepts_token_three_ways_and_is_idempotent(client: AppClient, how: str) -> None:
    doc = (await client.create()).json()
    url = f"/api/conversations/{doc['conversation_id']}/end"
    token = doc["end_token"]
    for _ in range(2):
        if how == "bearer":
            r = await client.post(url, headers={"Authorization": f"Bearer {token}"})
        elif how == "json":
            r = await client.post(url, json={"end_token": token, "reason": "panel_closed"})
        else:
            r = await client.post(url, content=f'{{"end_token": "{token}"}}',
                                  headers={"Content-Type": "text/plain;charset=UTF-8"})
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "ended"
    engine_side = await client.app.state.ctx.engine.get(doc["conversation_id"])
    assert engine_side.status == "ended"


async def test_end_token_is_bound_to_its_conversation(client: AppClient) -> None:
    a = (await client.create()).json()
    b = (await client.create()).json()
    r = await client.post(f"/api/conversations/{b['conversation_id']}/end",
                          headers={"Authorization": f"Bearer {a['end_token']}"})
    assert r.status_code == 401
    r = await client.get(f"/api/conversations/{b['conversation_id']}",
                         headers={"Authorization": f"Bearer {a['end_token']}x"})
    assert r.status_code == 401


async def test_status_for_visitor_and_operator(client: AppClient) -> None:
    doc = (await client.create()).json()
    cid = doc["conversation_id"]
    for token in (doc["end_token"], SERVER_KEY):
        r = await client.get(f"/api/conversations/{cid}", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
        assert r.json()["status"] == "active" and r.json()["widget"] == "support"
    r = await client.get("/api/conversations/c_unknown", headers={"Authorization": f"Bearer {SERVER_KEY}"})
    assert r.status_code == 404


async def test_mint_session_for_custom_front_end(client: AppClient) -> None:
    auth = {"Authorization": f"Bearer {SERVER_KEY}"}
    r = await client.post("/api/widgets/support/sessions", json={"origin": HOST_ORIGIN}, headers=auth)
    assert r.status_code == 201
    session = r.json()["session"]
    assert r.json()["expires_at"].endswith("Z")
    r = await client.post("/api/widgets/support/conversations",
                          headers={"X-Widget-Session": session, "Origin": HOST_ORIGIN})
    assert r.status_code == 201
    r = await client.post("/api/widgets/support/sessions", json={"origin": "https://evil.test"}, headers=auth)
    assert r.status_code == 403 and r.json()["errors"][0]["field"] == "origin"
    r = await client.post("/api/widgets/support/sessions", json={"origin": 7}, headers=auth)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "origin"
    r = await client.post("/api/widgets/support/sessions")
    assert r.status_code == 401


async def test_cors_preflight_only_for_allowed_origins(client: AppClient) -> None:
    req = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-widget-session"}
    ok = await client.options("/api/widgets/support/conversations", headers={"Origin": HOST_ORIGIN, **req})
    assert ok.status_code == 204 and ok.headers["access-control-allow-origin"] == HOST_ORIGIN
    # answered in the outermost layer, with the request id and the security headers once each
    assert len(ok.headers["x-request-id"]) == 16 and ok.headers.get_list("x-content-type-options") == ["nosniff"]
    assert ok.headers.get_list("content-security-policy") == ["frame-ancestors 'none'"]
    bad = await client.options("/api/widgets/support/conversations", headers={"Origin": "https://evil.test", **req})
    assert "access-control-allow-origin" not in bad.headers


async def test_callback_ref_updates_status(client: AppClient) -> None:
    doc = (await client.create()).json()
    cid = doc["conversation_id"]
    got = await client.app.state.ctx.engine.get(cid)
    path = httpx.URL(got.callback_url).path
    r = await client.post(path, json={"conversation_id": cid, "event_type": "system.shutdown",
                                      "properties": {"shutdown_reason": "participant_left_timeout reached"}})
    assert r.status_code == 200
    status = (await client.get(f"/api/conversations/{cid}", headers={"Authorization": f"Bearer {SERVER_KEY}"})).json()
    assert status["status"] == "ended" and status["end_reason"] == "participant_left_timeout reached"
    assert (await client.post("/hooks/engine/forged.ref", json={"event_type": "system.shutdown"})).status_code == 404


async def test_errors_and_pages_never_leak_secrets(client_for: Callable[[Settings], Any],
                                                   make_settings: Callable[..., Settings]) -> None:
    client = await client_for(make_settings({"engine": {"kind": "tavus", "api_key": ENGINE_KEY,
                                                        "base_url": "http://127.0.0.1:9", "timeout_s": 1}}))
    r = await client.create()
    assert r.status_code == 502 and r.headers["content-type"] == PROBLEM
    seen = r.text
    for path in ("/openapi.json", "/healthz", "/readyz", "/metrics"):
        seen += (await client.get(path)).text
    for secret in (ENGINE_KEY, SECRET_KEY, SERVER_KEY):
        assert secret not in seen


async def test_proof_of_work_gates_browser_creates(client_for: Callable[[Settings], Any],
                                                   make_settings: Callable[..., Settings]) -> None:
    from widget_server import pow

    client = await client_for(make_settings({"widgets": {"support": {"proof_of_work": 8}}}))
    session = await client.session()
    r = await client.create()
    assert r.status_code == 401 and r.json()["type"].endswith("proof-required")
    ch = await client.post("/api/widgets/support/challenge", headers={"X-Widget-Session": session})
    assert ch.status_code == 200 and ch.json()["bits"] == 8
    challenge = ch.json()["challenge"]
    assert (await client.create(**{"X-Widget-Proof": f"{challenge}:0x"})).json()["type"].endswith("proof-invalid")
    proof = pow.solve(challenge, 8)
    assert (await client.create(**{"X-Widget-Proof": proof})).status_code == 201
    replay = await client.create(**{"X-Widget-Proof": proof})
    assert replay.status_code == 401 and "already used" in replay.json()["detail"]
    other = (await client.post("/api/widgets/public/challenge",
                               headers={"X-Widget-Session": await client.session("public")})).json()["challenge"]
    assert (await client.create(**{"X-Widget-Proof": pow.solve(other, 8)})).status_code == 401
    r = await client.post("/api/widgets/support/conversations", headers={"Authorization": f"Bearer {SERVER_KEY}"})
    assert r.status_code == 201


@pytest.mark.parametrize("chunks, limit, expected", [
    ([b'{"a":', b' 1}'], 100, b'{"a": 1}'),           # a body in several messages, put together
    ([b""], 100, b""),                               # an empty one
    ([b"x" * 60, b"x" * 60], 100, 413),              # streamed past the limit, no length declared
])
async def test_bodies_are_read_whole_and_bounded(chunks: list[bytes], limit: int, expected: bytes | int) -> None:
    from starlette.requests import Request

    from widget_server.errors import Problem
    from widget_server.views.common import read_body

    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    request = Request({"type": "http", "method": "POST", "path": "/", "headers": []}, receive)
    if isinstance(expected, int):
        with pytest.raises(Problem) as refused:
            await read_body(request, limit)
        assert refused.value.status == expected
    else:
        assert await read_body(request, limit) == expected
        assert await request.body() == expected  # left where Starlette looks for it
