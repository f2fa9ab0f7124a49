"""Chaos: real processes, real faults; assert at the engine that nothing runs for nobody.

Two `widget-server serve` instances share one redis-server and a `widget-server sandbox`
that is slow (20 ms), fails 10 % of creates with a 5xx and loses 20 % of create answers.
Visitors are simulated over HTTP (heartbeats, sendBeacon-style ends); a browser tab
killed mid-call is a visitor whose heartbeats stop without an end.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.chaos.conftest import GRACE_S, SECRET, SERVER_KEY, Cluster
from widget_server.tokens import Signer

pytestmark = [pytest.mark.slow, pytest.mark.postgres]  # two instances on Redis, history on PostgreSQL
signer = Signer([SECRET])
FIGURES: dict[str, list[float]] = {"tab_close": [], "tab_killed": [], "kill": []}


def create(cluster: Cluster, base: str, widget: str = "support") -> httpx.Response:
    session = signer.session(widget, cluster.public_url)
    return httpx.post(f"{base}/api/widgets/{widget}/conversations", headers={"X-Widget-Session": session},
                      timeout=10)


def create_ok(cluster: Cluster, base: str, widget: str = "support") -> dict[str, Any]:
    for _ in range(40):
        r = create(cluster, base, widget)
        if r.status_code == 201:
            doc: dict[str, Any] = r.json()
            return doc
        assert r.status_code in (502, 503, 504), r.text
        time.sleep(0.1)
    raise AssertionError("no conversation could be created")


def wait_until(check: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def ended_at(cluster: Cluster, cid: str) -> float:
    wait_until(lambda: cluster.engine_status(cid) == "ended")
    return time.time()


class Visitor:
    """A frame page: heartbeats every 0.3 s through the balancer until its tab goes."""

    def __init__(self, cluster: Cluster, doc: dict[str, Any]) -> None:
        self.cluster, self.cid, self.token = cluster, doc["conversation_id"], doc["end_token"]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        url = f"{self.cluster.public_url}/api/conversations/{self.cid}/heartbeat"
        with httpx.Client(timeout=5) as client:
            while not self._stop.is_set():
                try:
                    if client.post(url, headers={"Authorization": f"Bearer {self.token}"}).status_code == 410:
                        return
                except httpx.HTTPError:
                    pass
                self._stop.wait(0.3)

    def vanish(self) -> float:
        """The tab is killed: heartbeats stop, no end is sent."""
        self._stop.set()
        self._thread.join()
        return time.time()

    def close_tab(self, base: str | None = None) -> float:
        """The tab closes: sendBeacon posts the end token as text/plain."""
        t = self.vanish()
        httpx.post(f"{base or self.cluster.public_url}/api/conversations/{self.cid}/end",
                   content=json.dumps({"end_token": self.token, "reason": "page_hidden"}),
                   headers={"Content-Type": "text/plain"}, timeout=10)
        return t


def test_racing_creates_over_two_instances_hold_the_caps(cluster: Cluster) -> None:
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda i: create(cluster, cluster.instance(i % 2)), range(16)))
        public = list(pool.map(lambda i: create(cluster, cluster.instance(i % 2), "public"), range(10)))
    codes = [r.status_code for r in answers]
    assert set(codes) <= {201, 502, 503, 504} and 1 <= codes.count(201) <= 3, codes
    assert [r.status_code for r in public].count(429) == 6  # exactly 4 per hour, however they race
    for doc in [r.json() for r in answers if r.status_code == 201]:
        visitor = Visitor(cluster, doc)
        time.sleep(0.2)
        t = visitor.close_tab()
        FIGURES["tab_close"].append(ended_at(cluster, doc["conversation_id"]) - t)
    for doc in [r.json() for r in public if r.status_code == 201]:
        httpx.post(f"{cluster.public_url}/api/conversations/{doc['conversation_id']}/end",
                   headers={"Authorization": f"Bearer {SERVER_KEY}"}, timeout=10)
    wait_until(lambda: not cluster.ours_active())  # lost answers found and ended too


def test_tab_killed_mid_call_is_ended_after_the_grace(cluster: Cluster) -> None:
    killed = [Visitor(cluster, create_ok(cluster, cluster.instance(i % 2), "burst")) for i in range(4)]
    b = Visitor(cluster, create_ok(cluster, cluster.instance(1)))
    time.sleep(0.5)
    gone = [v.vanish() for v in killed]
    FIGURES["tab_killed"].extend(ended_at(cluster, v.cid) - t for v, t in zip(killed, gone, strict=True))
    time.sleep(GRACE_S)
    assert cluster.engine_status(b.cid) == "active"  # a visitor who is there is never cut off
    for v in killed:
        status = httpx.get(f"{cluster.public_url}/api/conversations/{v.cid}",
                           headers={"Authorization": f"Bearer {v.token}"}, timeout=5).json()
        assert status["end_reason"] == "heartbeat_timeout"
    b.close_tab()
    wait_until(lambda: not cluster.ours_active())


def test_lost_answers_are_found_and_ended(cluster: Cluster) -> None:
    statuses = []
    for i in range(16):
        r = create(cluster, cluster.instance(i % 2), "burst")
        statuses.append(r.status_code)
        if r.status_code == 201:
            doc = r.json()
            Visitor(cluster, doc).close_tab()
    assert set(statuses) <= {201, 502, 504}
    wait_until(lambda: not cluster.ours_active())


def test_kill_9_of_an_instance_with_live_conversations(cluster: Cluster) -> None:
    docs = [create_ok(cluster, cluster.instance(0)) for _ in range(3)]
    staying, *leaving = [Visitor(cluster, d) for d in docs]
    time.sleep(0.4)
    cluster.kill(0)
    killed = time.time()
    for v in leaving:  # their beacons went to the dead instance
        v.vanish()
    for v in leaving:
        FIGURES["kill"].append(ended_at(cluster, v.cid) - killed)
    time.sleep(GRACE_S)
    assert cluster.engine_status(staying.cid) == "active"  # served by the survivor meanwhile
    cluster.start(0)
    fresh = Visitor(cluster, create_ok(cluster, cluster.instance(0)))
    for v in (staying, fresh):
        v.close_tab()
    wait_until(lambda: not cluster.ours_active())


def test_dropped_callbacks_are_made_up_by_the_reconciler(cluster: Cluster) -> None:
    cluster.balancer.drop_hooks = True
    try:
        doc = create_ok(cluster, cluster.public_url, "short")  # max_call_duration = 2 s, cap 1
        visitor = Visitor(cluster, doc)
        ended_at(cluster, doc["conversation_id"])   # the engine ends it; its shutdown callback is lost
        url = f"{cluster.public_url}/api/conversations/{doc['conversation_id']}"

        def closed() -> bool:
            got = httpx.get(url, headers={"Authorization": f"Bearer {doc['end_token']}"}, timeout=5).json()
            return bool(got["status"] == "ended")

        wait_until(closed)
        status = httpx.get(url, headers={"Authorization": f"Bearer {doc['end_token']}"}, timeout=5).json()
        assert status["end_reason"].startswith("max_call_duration")
        visitor.vanish()
        assert cluster.balancer.dropped >= 1
        again = Visitor(cluster, create_ok(cluster, cluster.public_url, "short"))  # its slot was freed
        again.close_tab()
    finally:
        cluster.balancer.drop_hooks = False
    wait_until(lambda: not cluster.ours_active())


def test_zz_no_orphans_no_cap_exceeded_no_webhook_lost(cluster: Cluster) -> None:
    wait_until(lambda: not cluster.ours_active())
    assert cluster.peak.get("support", 0) <= 3 and cluster.peak.get("short", 0) <= 1
    out = subprocess.run([sys.executable, "-m", "widget_server.cli", "report", "--config", str(cluster.config),
                          "--json"], capture_output=True, text=True, timeout=30, check=True)
    ledger = json.loads(out.stdout)
    rows = ledger["rows"]
    ended = {r["conversation_id"] for r in rows if r["status"] == "ended" and r["conversation_id"]}
    assert not [r for r in rows if r["status"] == "active"]  # history agrees: nothing live
    wait_until(lambda: ended <= cluster.receiver.ids("conversation.ended"), timeout=30)
    created = {r["conversation_id"] for r in rows
               if r["conversation_id"] and not r["reason"].startswith("reconciled")}
    wait_until(lambda: created <= cluster.receiver.ids("conversation.created"), timeout=30)
    lost = [r["seconds_without_visitor"] for r in rows if r["reason"] == "reconciled_lost_answer"]
    FIGURES["lost_answer"] = lost
    summary = {name: {"n": len(v), "median": round(statistics.median(v), 2), "worst": round(max(v), 2)}
               for name, v in FIGURES.items() if v}
    print("\nseconds live without a visitor:", json.dumps(summary))
    print("peak live per widget at the engine:", cluster.peak)
    print("ledger:\n" + subprocess.run([sys.executable, "-m", "widget_server.cli", "report", "--config",
                                        str(cluster.config)], capture_output=True, text=True, timeout=30).stdout)
