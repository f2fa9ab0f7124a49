"""The sandbox over real HTTP against the documented shapes in upstream_contract.py (the stand-in's too).

A client written against the public API reference sees here what the reference promises; where the
sandbox cannot be the upstream (another meeting, LiveKit), it says so with a 400 naming the field.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anyio
import httpx
import pytest
import websockets

from tests.engines import upstream_contract as up
from tests.engines.conftest import Receiver, Sandbox
from tests.engines.tavus_standin import TavusStandIn
from tests.servers import serve_app

pytestmark = pytest.mark.anyio
KEY = "fidelity-key-0123456789"
H = {"x-api-key": KEY}


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


@pytest.fixture
def sb(sandbox: Callable[..., Sandbox]) -> Sandbox:
    return sandbox(api_key=KEY)


@pytest.fixture(params=["sandbox", "tavus-standin"])
def upstream(request: pytest.FixtureRequest, sandbox: Callable[..., Sandbox]) -> Iterator[str]:
    """Both sides of the contract: ``widget-server sandbox``, and the stand-in for the hosted API."""
    if request.param == "sandbox":
        yield sandbox(api_key=KEY).url
        return
    with serve_app(TavusStandIn(api_key=KEY).app) as url:
        yield url


async def _create(http: httpx.AsyncClient, sb: Sandbox, body: dict[str, Any]) -> dict[str, Any]:
    r = await http.post(f"{sb.url}/v2/conversations", json=body, headers=H)
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()
    return doc


async def _until(ws: Any, event_type: str, speech: str = "") -> None:
    """Read the room until the replica sends ``event_type`` (with ``speech`` in it), at most 5 s."""
    with anyio.fail_after(5):
        while True:
            m = json.loads(await ws.recv())
            data = m.get("data") if m.get("action") == "app-message" else None
            if isinstance(data, dict) and data.get("event_type") == event_type \
                    and speech in str(data.get("properties", {}).get("speech", "")):
                return


async def test_the_key_is_checked_before_routing_and_unknown_routes_answer_json(
        http: httpx.AsyncClient, sb: Sandbox) -> None:
    for path in ("/v2/conversations", "/v2/no-such-route", "/v2/pals"):
        r = await http.get(sb.url + path, headers={"x-api-key": "wrong"})
        assert (r.status_code, r.json()) == (401, up.INVALID_TOKEN)
    r = await http.get(f"{sb.url}/v2/no-such-route", headers=H)
    assert r.status_code == 404 and r.json() == {"error": "Not found"}
    r = await http.put(f"{sb.url}/v2/conversations", headers=H)
    assert r.status_code == 405 and r.json() == {"error": "Method not allowed"}


async def test_create_answers_the_documented_keys_under_both_names(http: httpx.AsyncClient, upstream: str) -> None:
    r = await http.post(f"{upstream}/v2/conversations", json=up.CREATE_REQUEST, headers=H)
    doc = r.json()
    assert set(doc) >= up.CREATE_ANSWER_KEYS | up.PRIVATE_ANSWER_KEYS | up.HOSTED_PAGE_KEYS, doc
    assert doc["room_url"].startswith("http")
    for old, new in up.NEW_NAMES.items():
        assert doc[new] == doc[old] == up.CREATE_REQUEST[old]
    only_new = {"pal_id": "p_new", "face_id": "r_new"}
    doc = (await http.post(f"{upstream}/v2/conversations", json=only_new, headers=H)).json()
    assert (doc["persona_id"], doc["replica_id"], doc["pal_id"], doc["face_id"]) == ("p_new", "r_new") * 2
    assert "meeting_token" not in doc


@pytest.mark.parametrize(("extra", "field"), up.ELSEWHERE)
async def test_the_standin_answers_an_outside_meeting_without_room_url(
        http: httpx.AsyncClient, extra: dict[str, Any], field: str) -> None:
    """Upstream sends the replica there and gives no room_url (the sandbox refuses instead: below)."""
    with serve_app(TavusStandIn(api_key=KEY).app) as url:
        r = await http.post(f"{url}/v2/conversations", json={**up.CREATE_REQUEST, **extra}, headers=H)
    assert r.status_code == 200 and not up.HOSTED_PAGE_KEYS & set(r.json())


@pytest.mark.parametrize(("extra", "field"), up.ELSEWHERE)
async def test_fields_that_send_the_replica_elsewhere_are_refused(
        http: httpx.AsyncClient, sb: Sandbox, extra: dict[str, Any], field: str) -> None:
    body = {**up.CREATE_REQUEST, **extra}
    if "properties" in extra:
        body["properties"] = {**up.CREATE_REQUEST["properties"], **extra["properties"]}
    r = await http.post(f"{sb.url}/v2/conversations", json=body, headers=H)
    assert r.status_code == 400
    assert field in r.json()["error"] and "sandbox" in r.json()["error"]


async def test_language_names_in_any_case(http: httpx.AsyncClient, sb: Sandbox) -> None:
    doc = await _create(http, sb, {"replica_id": "r1", "properties": {"language": "English"}})
    r = await http.get(f"{sb.url}/v2/conversations/{doc['conversation_id']}?verbose=true", headers=H)
    assert r.json()["properties"]["language"] == "english"


async def test_verbose_get_has_the_current_transcript_shape_and_no_secrets(
        http: httpx.AsyncClient, sb: Sandbox) -> None:
    body = {**up.CREATE_REQUEST, "require_auth": False,
            "recording_storage": {"storage_provider": "s3", "storage_uri": "s3://bucket/prefix",
                                  "aws_assume_role_arn": "arn:aws:iam::123456789012:role/secret-role"},
            "properties": {**up.CREATE_REQUEST["properties"], "enable_recording": True,
                           "aws_assume_role_arn": "arn:aws:iam::123456789012:role/other-role"}}
    doc = await _create(http, sb, body)
    cid = doc["conversation_id"]
    async with websockets.connect(f"{sb.ws_base}/rooms/{cid}/ws?name=Ada") as ws:
        await _until(ws, "conversation.stopped_speaking")  # greeted: the replica is in the room
        await ws.send(json.dumps({"action": "say", "text": "hello"}))
        await _until(ws, "conversation.utterance", "You said")
    r = await http.get(f"{sb.url}/v2/conversations/{cid}", params={"verbose": "true"}, headers=H)
    verbose = r.json()
    assert set(verbose) >= up.VERBOSE_KEYS
    assert verbose["transcript"] and all(set(e) == up.TRANSCRIPT_ENTRY_KEYS for e in verbose["transcript"])
    assert {e["role"] for e in verbose["transcript"]} <= up.TRANSCRIPT_ROLES
    assert "arn:aws" not in r.text and "meeting_token" not in verbose


async def test_read_endpoints_list_and_find_under_both_names(http: httpx.AsyncClient, sb: Sandbox) -> None:
    for path in up.READ_ENDPOINTS:
        r = await http.get(sb.url + path, headers=H)
        assert r.status_code == 200 and set(r.json()) == up.LIST_KEYS
        first = r.json()["data"][0]
        key = "persona_id" if path in ("/v2/pals", "/v2/personas") else "replica_id"
        one = await http.get(f"{sb.url}{path}/{first[key]}", headers=H)
        assert one.json() == first
        assert (await http.get(f"{sb.url}{path}/nope", headers=H)).status_code == 404


async def test_send_app_message_rules(http: httpx.AsyncClient, sb: Sandbox) -> None:
    cid = (await _create(http, sb, {"replica_id": "r1"}))["conversation_id"]
    url = f"{sb.url}/v2/conversations/{cid}/send-app-message"
    assert (await http.post(url, json=up.APP_MESSAGE, headers=H)).status_code == 200
    big = {**up.APP_MESSAGE, "properties": {"text": "x" * up.APP_MESSAGE_MAX_BYTES}}
    assert (await http.post(url, json=big, headers=H)).status_code == 413
    limit, _ = up.APP_MESSAGE_LIMIT
    statuses = [(await http.post(url, json=up.APP_MESSAGE, headers=H)).status_code for _ in range(limit)]
    assert statuses[-1] == 429 and statuses.count(200) == limit - 1
    await http.post(f"{sb.url}/v2/conversations/{cid}/end", headers=H)
    r = await http.post(url, json=up.APP_MESSAGE, headers=H)
    assert (r.status_code, r.json()) == (400, up.NOT_ACTIVE)


async def test_recording_ready_names_the_storage(http: httpx.AsyncClient, sb: Sandbox, receiver: Receiver) -> None:
    body = {"replica_id": "r1", "callback_url": receiver.url,
            "recording_storage": {"storage_provider": "gcs", "storage_uri": "gs://bucket/rec"},
            "properties": {"enable_recording": True}}
    cid = (await _create(http, sb, body))["conversation_id"]
    async with websockets.connect(f"{sb.ws_base}/rooms/{cid}/ws") as ws:
        await ws.send(json.dumps({"action": "start-recording"}))
        await ws.send(json.dumps({"action": "stop-recording"}))
        with anyio.fail_after(5):
            while json.loads(await ws.recv()).get("action") != "recording-stopped":
                pass
    await http.post(f"{sb.url}/v2/conversations/{cid}/end", headers=H)
    ready = await receiver.wait_for(cid, "application.recording_ready")
    assert set(ready) == up.CALLBACK_KEYS
    props = ready["properties"]
    assert set(props) >= up.RECORDING_READY_KEYS | up.RECORDING_STORAGE_KEYS
    assert props["storage_provider"] == "gcs" and props["storage_uri"].startswith("gs://bucket/rec/")
