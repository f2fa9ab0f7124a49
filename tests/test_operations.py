"""What the on-call engineer reads: request ids on answers and log lines, one line per create, refusal and end
(public ids), readiness that names a refused engine key, /metrics behind its key, a failure logged once."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram

from tests.conftest import SERVER_KEY, AppClient, FakeClock
from tests.secret_scan import record_response
from tests.servers import serve_app
from widget_server.app import create_app
from widget_server.engines.sandbox.core import SandboxCore
from widget_server.engines.sandbox.service import create_sandbox_app
from widget_server.health import Condition
from widget_server.logs import JsonFormatter, RequestId
from widget_server.metrics import HTTP_BUCKETS, RequestLatency
from widget_server.settings import Settings

pytestmark = pytest.mark.anyio
AUTH = {"Authorization": f"Bearer {SERVER_KEY}"}
METRICS_KEY = "metrics-key-0123456789abcdef"


@pytest.fixture
def json_lines() -> Iterator[list[dict[str, Any]]]:
    """Every widget_server log line, formatted as --log-format json writes it, parsed back."""
    lines: list[dict[str, Any]] = []
    formatter = JsonFormatter()

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(json.loads(formatter.format(record)))

    handler = Collect(logging.INFO)
    handler.addFilter(RequestId())
    logger = logging.getLogger("widget_server")
    logger.addHandler(handler)
    old = logger.level
    logger.setLevel(logging.INFO)
    yield lines
    logger.removeHandler(handler)
    logger.setLevel(old)


async def test_request_ids_are_taken_or_made_and_on_every_line_of_the_request(
        client: AppClient, json_lines: list[dict[str, Any]]) -> None:
    r = await client.create(**{"X-Request-Id": "proxy-42"})
    assert r.status_code == 201 and r.headers["x-request-id"] == "proxy-42"
    cid = r.json()["conversation_id"]
    made = await client.post(f"/api/conversations/{cid}/end", headers={**AUTH, "X-Request-Id": "bad id\x7f"})
    assert made.status_code == 200 and len(made.headers["x-request-id"]) == 16  # a bad one is replaced
    refused = await client.create(Origin="https://evil.test")
    assert refused.status_code == 403
    created = [line for line in json_lines if line["message"].startswith("create created")]
    assert created == [pytest.approx(created[0])] and created[0]["request_id"] == "proxy-42"
    assert created[0]["widget"] == "support" and created[0]["conversation_id"] == cid
    assert isinstance(created[0]["engine_ms"], float)
    end = next(line for line in json_lines if line["message"].startswith("end support"))
    assert end["conversation_id"] == cid and end["reason"] == "operator_ended"
    assert end["request_id"] == made.headers["x-request-id"] and end["seconds"] >= 0
    refusal = next(line for line in json_lines if line["message"].startswith("create refused"))
    assert refusal["reason"] == "origin-not-allowed" and refusal["request_id"] == refused.headers["x-request-id"]


async def test_rule_refusals_are_one_line_each_with_the_reason(
        client_for: Callable[..., Any], make_settings: Callable[..., Settings],
        json_lines: list[dict[str, Any]]) -> None:
    client = await client_for(make_settings({"widgets": {"support": {"limits": {"max_concurrent": 1},
                                                                     "queue": {"enabled": False}}}}))
    assert (await client.create()).status_code == 201
    assert (await client.create()).status_code == 503
    lines = [line for line in json_lines if line["message"].startswith("create ")]
    assert [(line["outcome"], line.get("reason")) for line in lines] == [("created", None), ("refused", "busy")]


async def test_metrics_cover_live_conversations_idle_seconds_http_routes_build_and_process(
        client_for: Callable[..., Any], make_settings: Callable[..., Settings], clock: FakeClock) -> None:
    client = await client_for(make_settings(), clock=clock)
    cid = (await client.create()).json()["conversation_id"]
    text = (await client.get("/metrics")).text
    assert 'widget_conversations_live{widget="support"} 1.0' in text
    assert 'widget_conversations_live{widget="public"} 0.0' in text
    clock.advance(45)  # the visitor's heartbeats stop; the sweep ends it after the grace
    done = await client.app.ctx.lifecycle.sweep()
    assert [a for _, a in done] == ["heartbeat_timeout"]
    text = (await client.get("/metrics")).text
    assert 'widget_conversations_live{widget="support"} 0.0' in text
    assert 'widget_seconds_without_visitor_total{reason="heartbeat_timeout",widget="support"} 45.0' in text
    assert 'widget_conversation_seconds_total{widget="support"} 45.0' in text
    route = 'route="/api/widgets/{widget}/conversations"'
    assert f'widget_http_request_seconds_count{{method="POST",{route},status="2xx"}} 1.0' in text
    assert cid not in text  # route templates, never raw paths
    assert "widget_build_info{" in text and "process_cpu_seconds_total" in text
    assert 'widget_engine_seconds_count{call="end"} 1.0' in text


async def test_metrics_behind_a_bearer_key(client_for: Callable[..., Any],
                                           make_settings: Callable[..., Settings]) -> None:
    client = await client_for(make_settings({"server": {"metrics_key": METRICS_KEY}}))
    refused = await client.get("/metrics")
    assert refused.status_code == 401 and refused.headers["content-type"] == "application/problem+json"
    assert (await client.get("/metrics", headers=AUTH)).status_code == 401  # a server key is not a metrics key
    r = await client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_KEY}"})
    assert r.status_code == 200 and "widget_conversations_created_total" in r.text


async def test_readiness_names_a_refused_engine_key_without_the_key(
        make_settings: Callable[..., Settings], clock: FakeClock) -> None:
    wrong = "a-wrong-engine-key-0123456"
    with serve_app(create_sandbox_app(SandboxCore(), api_key="the-right-engine-key-0123")) as url:
        app = create_app(make_settings({"engine": {"kind": "tavus", "base_url": url, "api_key": wrong}}), clock=clock)
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://testserver",
                event_hooks={"response": [record_response]}) as client:
            r = await client.get("/readyz")
            assert r.status_code == 503 and r.json()["status"] == "engine-auth"
            assert wrong not in r.text and r.json()["checks"]["store"] == "ok"
            created = await client.post("/api/widgets/support/conversations", headers=AUTH)
            assert created.status_code == 502 and created.json()["type"].endswith("/engine-auth")


def test_a_repeated_failure_is_logged_once_per_state_change(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    condition = Condition(logging.getLogger("widget_server.test"), "store", remind_s=60, monotonic=lambda: now[0])
    for _ in range(100):  # a loop failing every half second for 50 s
        condition.failed(ConnectionError("Error 111 connecting to 127.0.0.1:6379.\nmore"))
        now[0] += 0.5
    now[0] += 20
    condition.failed(ConnectionError("refused"))  # 70 s in: one reminder
    condition.ok()
    condition.ok()
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["store unavailable: ConnectionError: Error 111 connecting to 127.0.0.1:6379.",
                        "store still unavailable after 70 s (101 failures): ConnectionError: refused",
                        "store available again after 70.0 s (101 failures)"]


@given(st.lists(st.tuples(st.sampled_from(["/a", "/b/{id}"]), st.sampled_from(["GET", "POST"]),
                          st.sampled_from([200, 201, 404, 503]),
                          st.one_of(st.sampled_from(HTTP_BUCKETS), st.floats(0, 100, allow_nan=False))),
                max_size=40))
def test_request_latency_exports_what_the_library_histogram_would(
        observations: list[tuple[str, str, int, float]]) -> None:
    ours = CollectorRegistry()
    theirs = CollectorRegistry()
    observe = RequestLatency(HTTP_BUCKETS, ours).observe
    library = Histogram("widget_http_request_seconds", "HTTP request latency by route template",
                        ["route", "method", "status"], registry=theirs, buckets=HTTP_BUCKETS)
    for route, method, status, seconds in observations:
        observe(route, method, status, seconds)
        library.labels(route, method, f"{status // 100}xx").observe(seconds)

    def samples(registry: CollectorRegistry) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        return {(s.name, frozenset(s.labels.items())): s.value for family in registry.collect()
                for s in family.samples if not s.name.endswith("_created")}

    ours_samples, their_samples = samples(ours), samples(theirs)
    assert ours_samples.keys() == their_samples.keys()
    for key, value in their_samples.items():
        assert ours_samples[key] == pytest.approx(value), key
