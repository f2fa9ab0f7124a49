"""``[widgets.<id>.recording_storage]``: checked at start-up, sent by the Tavus client, honoured by the sandbox.

From the widget's config to the engine's create body (the Tavus stand-in records it), and on the
embedded sandbox all the way round: the recording made in the room comes back in ``recording_ready``
with ``storage_provider`` and ``storage_uri``, and leaves as the ``recording.ready`` webhook.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.conftest import SERVER_KEY, base_config, deep_merge
from tests.engines.conftest import Receiver
from tests.engines.tavus_standin import TavusStandIn
from tests.engines.upstream_contract import RECORDING_READY_KEYS, RECORDING_STORAGE_KEYS
from tests.servers import serve_app
from widget_server.engines.base import CreateRequest
from widget_server.engines.tavus import TavusEngine
from widget_server.settings import parse_settings
from widget_server.settings.forms import ConfigError

pytestmark = pytest.mark.anyio
S3 = {"provider": "s3", "uri": "s3://acme-calls/widget", "role_arn": "arn:aws:iam::123456789012:role/TavusRec",
      "region": "eu-west-1"}
GCS = {"provider": "gcs", "uri": "gs://acme-calls/widget", "service_account": "rec@acme.iam.gserviceaccount.com",
       "workload_identity_provider": "projects/123/locations/global/workloadIdentityPools/tavus/providers/daily"}
AZURE = {"provider": "azure", "uri": "https://acmecalls.blob.core.windows.net/recordings/widget",
         "tenant_id": "0b7e3f5c-1111-4b1c-9d62-3f6a2b8e0c11", "client_id": "5f1c2d3e-2222-4a4b-8c8d-9e0f1a2b3c4d"}


def _settings(tmp_path: Path, widget: dict[str, Any]) -> Any:
    return parse_settings(deep_merge(base_config(tmp_path), {"widgets": {"support": widget}}), {})


@pytest.mark.parametrize("storage", [S3, GCS, AZURE], ids=["s3", "gcs", "azure"])
def test_each_provider_is_sent_as_the_engine_names_it(tmp_path: Path, storage: dict[str, str]) -> None:
    widget = _settings(tmp_path, {"enable_recording": True, "recording_storage": storage}).widgets["support"]
    sent = widget.recording_storage.payload()
    assert {k: sent.pop(k) for k in RECORDING_STORAGE_KEYS} == {"storage_provider": storage["provider"],
                                                                "storage_uri": storage["uri"]}
    assert sent == {k: v for k, v in storage.items() if k not in ("provider", "uri")}


@pytest.mark.parametrize(("widget", "problem"), [
    ({"enable_recording": True, "recording_storage": {**GCS, "uri": "s3://acme-calls"}},
     "widgets.support.recording_storage.uri: must be gs://BUCKET[/PREFIX] for provider gcs, got 's3://acme-calls'"),
    ({"enable_recording": True, "recording_storage": {"provider": "azure", "uri": AZURE["uri"]}},
     "widgets.support.recording_storage.tenant_id: needed by provider azure, got nothing"),
    ({"enable_recording": True, "recording_storage": {**S3, "tenant_id": "x"}},
     "widgets.support.recording_storage.tenant_id: is not used by provider s3; remove it"),
    ({"enable_recording": True, "recording_storage": {"uri": "s3://acme-calls"}},
     "widgets.support.recording_storage.provider: must be one of s3, gcs, azure when uri is set"),
    ({"recording_storage": S3}, "widgets.support.recording_storage: needs enable_recording = true, got false"),
    ({"enable_recording": True, "recording": {"s3_bucket": "old"}, "recording_storage": S3},
     "widgets.support.recording_storage: set beside the older recording table"),
    ({"enable_recording": True, "recording_storage": {**S3, "provider": "dropbox"}},
     "widgets.support.recording_storage.provider"),
], ids=["uri-form", "identity-missing", "identity-foreign", "no-provider", "not-enabled", "both-forms", "provider"])
def test_a_bad_table_fails_at_start_up_naming_the_key(tmp_path: Path, widget: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _settings(tmp_path, widget)
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems


def test_the_older_flat_table_still_goes_as_properties(tmp_path: Path) -> None:
    flat = {"s3_bucket": "calls", "s3_region": "eu-west-1", "role_arn": "arn:aws:iam::123456789012:role/r"}
    widget = _settings(tmp_path, {"enable_recording": True, "recording": flat}).widgets["support"]
    assert widget.recording_storage.payload() == {}


async def test_the_tavus_client_sends_recording_storage() -> None:
    standin = TavusStandIn(api_key="k")
    storage = {"storage_provider": "gcs", "storage_uri": GCS["uri"], "service_account": GCS["service_account"]}
    with serve_app(standin.app) as url:
        engine = TavusEngine(url, "k", timeout_s=5)
        try:
            await engine.create(CreateRequest(replica_id="r1", require_auth=False, recording_storage=storage,
                                              properties={"enable_recording": True}))
        finally:
            await engine.aclose()
    assert standin.requests[0].json["recording_storage"] == storage


async def test_the_sandbox_names_the_storage_in_recording_ready_and_the_webhook_carries_it(
        client_for: Any, tmp_path: Path, receiver: Receiver) -> None:
    config = deep_merge(base_config(tmp_path), {
        "webhooks": {"url": receiver.url, "secret": "whsec_0123456789abcdef", "retry_base_s": 0.05,
                     "retry_max_s": 0.2, "timeout_s": 2},
        "widgets": {"support": {"enable_recording": True, "recording_storage": AZURE}},
    })
    client = await client_for(parse_settings(config, {}))
    r = await client.post("/api/widgets/support/conversations", headers={"Authorization": f"Bearer {SERVER_KEY}"})
    assert r.status_code == 201, r.text
    doc = r.json()
    core = client.app.state.ctx.engine.core
    conv = core.conversations[doc["conversation_id"]]
    assert conv.spec.recording_storage == client.app.state.ctx.settings.widgets["support"].recording_storage.payload()
    visitor = core.join_room(doc["conversation_id"], token=doc["meeting_token"])
    conv.client_message(visitor, {"action": "start-recording"})
    conv.client_message(visitor, {"action": "stop-recording"})
    await core.end(doc["conversation_id"])

    deadline = time.monotonic() + 10
    while not (ready := [e for e in receiver.events if e.get("type") == "recording.ready"]):
        assert time.monotonic() < deadline, [e.get("type") for e in receiver.events]
        await anyio.sleep(0.05)
    data = ready[0]["data"]
    assert set(data) >= RECORDING_READY_KEYS | RECORDING_STORAGE_KEYS
    assert data["storage_provider"] == "azure" and data["storage_uri"].startswith(AZURE["uri"] + "/")
    assert AZURE["client_id"] not in json.dumps(ready[0])  # identities stay in the config
