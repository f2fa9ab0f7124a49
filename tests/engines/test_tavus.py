"""TavusEngine over real loopback HTTP against a stand-in for tavusapi.com.

The hosted engine cannot be reached from here; ``tavus_standin`` replays its
documented answers at the HTTP edge, and these tests script its failures.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import SERVER_KEY
from tests.engines.tavus_standin import CONCURRENCY, INVALID_TOKEN, TavusStandIn, served_standin
from tests.engines.upstream_contract import APP_MESSAGE, NOT_ACTIVE
from tests.servers import free_port, serve_app, throwaway_ca
from widget_server import outbound
from widget_server.engines.base import CreateRequest
from widget_server.engines.tavus import TavusEngine
from widget_server.errors import EngineError

API_KEY = "tvs_live_5f1c0ffee0ddba11deadbeef"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[TavusStandIn, str]]:
    with served_standin(API_KEY) as served:
        yield served


@pytest.fixture
def standin(served: tuple[TavusStandIn, str]) -> TavusStandIn:
    served[0].reset()
    return served[0]


@pytest.fixture
def base_url(served: tuple[TavusStandIn, str]) -> str:
    return served[1]


@pytest.fixture
async def engine(standin: TavusStandIn, base_url: str) -> AsyncIterator[TavusEngine]:
    eng = TavusEngine(base_url, API_KEY, timeout_s=2)
    yield eng
    await eng.aclose()


FULL_PROPERTIES = {
    "max_call_duration": 600,
    "participant_left_timeout": 10,
    "participant_absent_timeout": 60,
    "enable_recording": True,
    "recording_s3_bucket_name": "calls",
    "recording_s3_bucket_region": "eu-west-1",
    "aws_assume_role_arn": "arn:aws:iam::123456789012:role/tavus",
    "enable_closed_captions": True,
    "apply_greenscreen": False,
    "language": "multilingual",
}
FULL_REQUEST = CreateRequest(
    replica_id="r79e1c033f",
    persona_id="p5317866",
    conversation_name="Website support",
    conversational_context="The visitor is on our pricing page.",
    custom_greeting="Hi! How can I help?",
    callback_url="https://widgets.example.com/hooks/engine/ref123",
    audio_only=True,
    require_auth=True,
    max_participants=2,
    test_mode=False,
    properties=dict(FULL_PROPERTIES),  # a copy: the body is checked against the original
)


@pytest.mark.anyio
async def test_create_sends_the_exact_body(engine: TavusEngine, standin: TavusStandIn) -> None:
    await engine.create(FULL_REQUEST)

    [sent] = standin.requests
    assert (sent.method, sent.path) == ("POST", "/v2/conversations")
    assert sent.headers["x-api-key"] == API_KEY
    assert sent.headers["content-type"] == "application/json"
    assert sent.json == {
        "replica_id": "r79e1c033f",
        "persona_id": "p5317866",
        "conversation_name": "Website support",
        "conversational_context": "The visitor is on our pricing page.",
        "custom_greeting": "Hi! How can I help?",
        "callback_url": "https://widgets.example.com/hooks/engine/ref123",
        "max_participants": 2,
        "audio_only": True,
        "require_auth": True,
        "properties": FULL_PROPERTIES,
    }


@pytest.mark.anyio
async def test_create_reads_the_answer(engine: TavusEngine, standin: TavusStandIn) -> None:
    private = await engine.create(FULL_REQUEST)
    public = await engine.create(CreateRequest(replica_id="r1", require_auth=False))
    trial = await engine.create(CreateRequest(replica_id="r1", test_mode=True))

    assert private.status == "active"
    assert private.conversation_url == f"https://tavus.daily.co/{private.conversation_id}"
    assert private.meeting_token is not None and private.meeting_token.startswith("eyJ")
    assert private.conversation_name == "Website support"
    assert private.callback_url == FULL_REQUEST.callback_url
    assert private.created_at
    assert public.meeting_token is None
    assert trial.status == "ended"
    assert standin.requests[2].json == {"replica_id": "r1", "test_mode": True, "require_auth": True}


@pytest.mark.anyio
async def test_private_room_without_token_is_a_protocol_error(
    engine: TavusEngine, standin: TavusStandIn
) -> None:
    standin.answer_next(200, {"conversation_id": "c1", "conversation_url": "https://x/c1"})
    with pytest.raises(EngineError) as info:
        await engine.create(CreateRequest(replica_id="r1", require_auth=True))
    assert info.value.kind == "protocol"


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind", "retry_after", "message"),
    [
        (400, {"error": "Invalid replica_id"}, {}, "rejected", None, "Invalid replica_id"),
        (400, CONCURRENCY, {}, "concurrency", None, "maximum concurrent"),
        (400, {"message": "User has reached maximum CONCURRENT conversations"}, {}, "concurrency", None, ""),
        (400, "bad request, plain text", {}, "rejected", None, "plain text"),
        (400, {"error": {"field": "replica_id"}}, {}, "rejected", None, "replica_id"),
        (401, INVALID_TOKEN, {}, "auth", None, "Invalid access token"),
        (402, {"message": "Insufficient credits"}, {}, "credits", None, "Insufficient credits"),
        (403, {"message": "Forbidden"}, {}, "auth", None, "Forbidden"),
        (404, {"error": "Not found"}, {}, "not_found", None, "Not found"),
        (409, {"unexpected": "shape"}, {}, "rejected", None, "409"),
        (429, {"message": "Too many requests"}, {"Retry-After": "7"}, "concurrency", 7, "Too many"),
        (429, "slow down", {}, "concurrency", None, "slow down"),
        (500, "Internal Server Error", {}, "unavailable", None, "Internal Server Error"),
        (502, "<html>Bad gateway</html>", {}, "unavailable", None, "Bad gateway"),
        (503, {}, {"Retry-After": "5"}, "unavailable", None, "503"),
        (302, "", {"Location": "https://elsewhere.example/"}, "protocol", None, "302"),
        (200, "<html>not json</html>", {}, "protocol", None, "not JSON"),
        (200, ["a", "list"], {}, "protocol", None, ""),
        (200, {"status": "active"}, {}, "protocol", None, "conversation_id"),
        (200, {"conversation_id": 42}, {}, "protocol", None, "conversation_id"),
        (200, {"conversation_id": "../../admin", "meeting_token": "t"}, {}, "protocol", None, ""),
    ],
)
@pytest.mark.anyio
async def test_every_failure_maps_to_an_engine_error(
    engine: TavusEngine,
    standin: TavusStandIn,
    status: int,
    body: Any,
    headers: dict[str, str],
    kind: str,
    retry_after: int | None,
    message: str,
) -> None:
    standin.answer_next(status, body, headers=headers)
    with pytest.raises(EngineError) as info:
        await engine.create(CreateRequest(replica_id="r1"))
    err = info.value
    assert err.kind == kind
    assert err.retry_after == retry_after
    assert message in err.message
    assert err.upstream_status in (status, None)


@pytest.mark.anyio
async def test_retry_after_as_an_http_date(engine: TavusEngine, standin: TavusStandIn) -> None:
    when = email.utils.formatdate(time.time() + 60, usegmt=True)
    standin.answer_next(429, {"message": "Too many requests"}, headers={"Retry-After": when})
    with pytest.raises(EngineError) as info:
        await engine.create(CreateRequest(replica_id="r1"))
    assert info.value.retry_after is not None and 50 <= info.value.retry_after <= 60


@pytest.mark.anyio
async def test_a_wrong_key_is_refused(standin: TavusStandIn, base_url: str) -> None:
    engine = TavusEngine(base_url, "tvs_wrong_key_0000", timeout_s=2)
    try:
        with pytest.raises(EngineError) as info:
            await engine.create(CreateRequest(replica_id="r1"))
    finally:
        await engine.aclose()
    assert (info.value.kind, info.value.upstream_status) == ("auth", 401)
    assert standin.requests[0].headers["x-api-key"] == "tvs_wrong_key_0000"


@pytest.mark.anyio
async def test_concurrency_exhausted(engine: TavusEngine, standin: TavusStandIn) -> None:
    standin.max_concurrent = 1
    await engine.create(CreateRequest(replica_id="r1"))
    await engine.create(CreateRequest(replica_id="r1", test_mode=True))  # holds no slot
    with pytest.raises(EngineError) as info:
        await engine.create(CreateRequest(replica_id="r1"))
    assert (info.value.kind, info.value.upstream_status) == ("concurrency", 400)


@pytest.mark.anyio
async def test_timeout(standin: TavusStandIn, base_url: str) -> None:
    engine = TavusEngine(base_url, API_KEY, timeout_s=0.3)
    standin.answer_next(delay_s=1.0)
    started = time.monotonic()
    try:
        with pytest.raises(EngineError) as info:
            await engine.create(CreateRequest(replica_id="r1"))
    finally:
        await engine.aclose()
    assert info.value.kind == "timeout"
    assert time.monotonic() - started < 0.9


@pytest.mark.anyio
async def test_connection_closed_mid_answer(engine: TavusEngine, standin: TavusStandIn) -> None:
    standin.answer_next(close=True)
    with pytest.raises(EngineError) as info:
        await engine.create(CreateRequest(replica_id="r1"))
    assert info.value.kind == "connection"
    # the pool recovers: the next call gets a fresh connection
    assert (await engine.create(CreateRequest(replica_id="r1"))).status == "active"


@pytest.mark.anyio
async def test_connection_refused() -> None:
    engine = TavusEngine(f"http://127.0.0.1:{free_port()}", API_KEY, timeout_s=2)
    try:
        with pytest.raises(EngineError) as info:
            await engine.get("c123456")
    finally:
        await engine.aclose()
    assert info.value.kind == "connection"


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, {"error": f"Invalid key {API_KEY}"}),
        (401, {"message": f"Invalid access token: {API_KEY}"}),
        (500, f"Traceback ... headers={{'x-api-key': '{API_KEY}'}}"),
        (502, "x" * 290 + API_KEY + "y" * 1000),
        (200, f"<html>{API_KEY}</html>"),
        (418, {"echo": API_KEY}),
    ],
)
@pytest.mark.anyio
async def test_the_key_never_reaches_a_message(
    engine: TavusEngine, standin: TavusStandIn, status: int, body: Any
) -> None:
    standin.answer_next(status, body)
    with pytest.raises(EngineError) as info:
        await engine.create(CreateRequest(replica_id="r1"))
    assert API_KEY not in str(info.value)
    assert API_KEY[:8] not in info.value.message
    assert len(info.value.message) <= 300


@pytest.mark.anyio
async def test_get(engine: TavusEngine, standin: TavusStandIn) -> None:
    cid = standin.add(status="ended", shutdown_reason="participant_left_timeout reached")
    conv = await engine.get(cid)
    assert (conv.conversation_id, conv.status) == (cid, "ended")
    assert conv.shutdown_reason == "participant_left_timeout reached"
    assert (standin.requests[0].method, standin.requests[0].path) == ("GET", f"/v2/conversations/{cid}")


@pytest.mark.parametrize(
    ("status", "body"), [(400, {"error": "Invalid conversation_id"}), (404, {"message": "Not Found"})]
)
@pytest.mark.anyio
async def test_get_unknown_id(engine: TavusEngine, standin: TavusStandIn, status: int, body: Any) -> None:
    standin.answer_next(status, body)
    with pytest.raises(EngineError) as info:
        await engine.get("c404404")
    assert info.value.kind == "not_found"


@pytest.mark.anyio
async def test_list(engine: TavusEngine, standin: TavusStandIn) -> None:
    live = [standin.add() for _ in range(3)]
    standin.add(status="ended")

    page = await engine.list(status="active", limit=2, page=2)

    assert page.total_count == 3
    assert [c.conversation_id for c in page.data] == live[2:]
    assert standin.requests[0].query == {"status": "active", "limit": "2", "page": "2"}
    everything = await engine.list()
    assert everything.total_count == 4
    assert standin.requests[1].query == {"limit": "100", "page": "1"}


@pytest.mark.anyio
async def test_list_of_the_wrong_shape(engine: TavusEngine, standin: TavusStandIn) -> None:
    standin.answer_next(200, {"data": [{"status": "active"}], "total_count": 1})
    with pytest.raises(EngineError) as info:
        await engine.list()
    assert info.value.kind == "protocol"


@pytest.mark.anyio
async def test_end(engine: TavusEngine, standin: TavusStandIn) -> None:
    cid = standin.add()
    await engine.end(cid)
    assert standin.conversations[cid]["status"] == "ended"
    [sent] = standin.requests
    assert (sent.method, sent.path, sent.headers["x-api-key"]) == (
        "POST",
        f"/v2/conversations/{cid}/end",
        API_KEY,
    )


# Upstream documents no answer for ending an ended conversation: every plausible one is success.
@pytest.mark.parametrize(
    "ended_answer",
    [
        (400, {"error": "Conversation has already ended"}),
        (400, {"error": "Invalid conversation_id"}),
        (404, {"message": "Not Found"}),
        (409, {"message": "conversation is not active"}),
        (410, ""),
        (200, ""),
    ],
)
@pytest.mark.anyio
async def test_end_is_idempotent(
    engine: TavusEngine, standin: TavusStandIn, ended_answer: tuple[int, Any]
) -> None:
    standin.ended_answer = ended_answer
    cid = standin.add()
    await engine.end(cid)
    await engine.end(cid)
    await engine.end(cid)
    assert standin.conversations[cid]["status"] == "ended"


@pytest.mark.anyio
async def test_end_unknown_id(engine: TavusEngine, standin: TavusStandIn) -> None:
    with pytest.raises(EngineError) as info:
        await engine.end("c404404")
    assert info.value.kind == "not_found"


@pytest.mark.anyio
async def test_end_refused_while_still_active(engine: TavusEngine, standin: TavusStandIn) -> None:
    cid = standin.add()
    standin.answer_next(400, {"error": "Cannot end conversation right now"})
    with pytest.raises(EngineError) as info:
        await engine.end(cid)
    assert (info.value.kind, info.value.message) == ("rejected", "Cannot end conversation right now")


@pytest.mark.parametrize(
    "bad_id",
    ["../conversations", "c1/end", "..", ".", "c1?verbose=true", "c1#x", "", "c 1", "%2e%2e", "c1\n", "é1"],
)
@pytest.mark.anyio
async def test_ids_that_could_reach_another_route_are_refused(
    engine: TavusEngine, standin: TavusStandIn, bad_id: str
) -> None:
    for call in (engine.get, engine.end):
        with pytest.raises(EngineError) as info:
            await call(bad_id)
        assert info.value.kind == "not_found"
    assert standin.requests == []


@pytest.mark.anyio
async def test_a_supplied_session_is_left_open(standin: TavusStandIn, base_url: str) -> None:
    async with aiohttp.ClientSession() as session:
        engine = TavusEngine(base_url, API_KEY, timeout_s=2, session=session)
        cid = standin.add()
        assert (await engine.get(cid)).conversation_id == cid
        await engine.aclose()
        assert not session.closed
    assert standin.requests[0].headers["x-api-key"] == API_KEY


@pytest.mark.parametrize(("url", "timeout"), [("tavusapi.com", 20.0), ("ftp://x", 20.0), ("https://x", 0)])
def test_bad_settings_fail_at_construction(url: str, timeout: float) -> None:
    with pytest.raises(ValueError):
        TavusEngine(url, API_KEY, timeout_s=timeout)


@pytest.mark.anyio
async def test_send_app_message_posts_the_envelope(engine: TavusEngine, standin: TavusStandIn) -> None:
    cid = standin.add()
    await engine.send_app_message(cid, APP_MESSAGE)
    sent = standin.requests[-1]
    assert (sent.method, sent.path) == ("POST", f"/v2/conversations/{cid}/send-app-message")
    assert sent.json == APP_MESSAGE and sent.headers["x-api-key"] == API_KEY


@pytest.mark.anyio
async def test_send_app_message_to_an_ended_conversation(engine: TavusEngine, standin: TavusStandIn) -> None:
    cid = standin.add(status="ended")
    with pytest.raises(EngineError) as err:
        await engine.send_app_message(cid, APP_MESSAGE)
    assert err.value.kind == "ended" and err.value.message == NOT_ACTIVE["error"]


@pytest.mark.anyio
async def test_interactions_reach_the_engine_with_no_seat_taken(
        standin: TavusStandIn, base_url: str, client_for: Any, make_settings: Any) -> None:
    """At the HTTP edge: the server's interactions route uses send-app-message; it never joins the (Daily) room."""
    settings = make_settings({"engine": {"kind": "tavus", "base_url": base_url, "api_key": API_KEY}})
    client = await client_for(settings)
    created = await client.post("/api/widgets/support/conversations",
                                headers={"Authorization": f"Bearer {SERVER_KEY}"})
    assert created.status_code == 201, created.text
    cid = created.json()["conversation_id"]
    assert created.json()["room"] == {"client": "daily", "prebuilt": True}
    for body in ({"event_type": "conversation.respond", "properties": {"text": "Hi"}},
                 {"event_type": "conversation.set_emotion", "properties": {"emotion": "happiness"}},
                 {"event_type": "conversation.tool_result", "properties": {"result": {"ok": True}}}):
        r = await client.post(f"/api/conversations/{cid}/interactions", json=body,
                              headers={"Authorization": f"Bearer {SERVER_KEY}"})
        assert r.status_code == 202, r.text
    sent = [q for q in standin.requests if q.path.endswith("/send-app-message")]
    assert [q.json["event_type"] for q in sent] == ["conversation.respond", "conversation.set_emotion",
                                                    "conversation.tool_result"]
    assert sent[0].json == {"message_type": "conversation", "event_type": "conversation.respond",
                            "conversation_id": cid, "properties": {"text": "Hi"}}
    assert client.app.state.ctx.live._seats == {}  # no seat: nothing joined the room to send
    standin.conversations[cid]["status"] = "ended"
    r = await client.post(f"/api/conversations/{cid}/interactions", headers={"Authorization": f"Bearer {SERVER_KEY}"},
                          json={"event_type": "conversation.interrupt"})
    assert r.status_code == 409 and r.json()["type"].endswith("/conversation-ended")


@pytest.mark.anyio
async def test_the_engine_is_reached_through_the_environments_proxy_unless_no_proxy_exempts_it(
        monkeypatch: pytest.MonkeyPatch, standin: TavusStandIn, base_url: str) -> None:
    seen: list[bytes] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        seen.append(head.split(b"\r\n")[0])
        body = b'{"conversation_id": "c1", "status": "ended", "conversation_url": "https://x.daily.co/c1"}'
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
                     b"connection: close\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(proxy, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    outbound._proxy.cache_clear()
    try:
        engine = TavusEngine("http://engine.invalid", API_KEY, timeout_s=2)
        assert (await engine.get("c1")).status == "ended"
        assert seen == [b"GET http://engine.invalid/v2/conversations/c1?verbose=true HTTP/1.1"]
        await engine.aclose()
        exempt = TavusEngine(base_url, API_KEY, timeout_s=2)   # on 127.0.0.1: straight to the stand-in
        cid = standin.add()
        assert (await exempt.get(cid)).conversation_id == cid
        assert len(seen) == 1 and len(standin.requests) == 1
        await exempt.aclose()
    finally:
        outbound._proxy.cache_clear()
        server.close()
        await server.wait_closed()


@pytest.mark.anyio
async def test_https_engines_are_verified_against_certifi_or_ssl_cert_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ca, cert, key = throwaway_ca(tmp_path)
    standin = TavusStandIn(API_KEY)
    cid = standin.add()
    with serve_app(standin.app, ssl_certfile=str(cert), ssl_keyfile=str(key)) as url:
        assert url.startswith("https://")
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        monkeypatch.delenv("SSL_CERT_DIR", raising=False)
        outbound.tls.cache_clear()
        try:
            # certifi's bundle does not hold the throwaway CA: refused before anything is sent
            engine = TavusEngine(url, API_KEY, timeout_s=5)
            with pytest.raises(EngineError) as info:
                await engine.get(cid)
            assert info.value.kind == "connection" and "certificate" in info.value.message.lower()
            assert standin.requests == []
            await engine.aclose()
            monkeypatch.setenv("SSL_CERT_FILE", str(ca))   # the operator's own CA
            outbound.tls.cache_clear()
            engine = TavusEngine(url, API_KEY, timeout_s=5)
            assert (await engine.get(cid)).conversation_id == cid
            await engine.aclose()
        finally:
            monkeypatch.delenv("SSL_CERT_FILE")
            outbound.tls.cache_clear()
