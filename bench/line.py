"""The waiting line's figure: a freed slot -> the next visitor's create started (``python -m bench.line``).

Two ``widget-server serve`` instances on one redis-server, the ``widget-server sandbox`` engine (20 ms), one
slot. Each round: visitor A talks (created through instance 0); visitor B waits in line with the live place
stream on instance 1, as the frame page does. A ends through instance 0 (the clock starts before that request,
so the engine's end and the store's step are in the figure); B's stream says it is B's turn and B's page posts
its join: the create starts there. The figure is the time to that post, and to B's 201.
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from widget_server.testing.line_cluster import LineCluster, line_cluster, sse_places

ROUNDS = 20


def one_round(cluster: LineCluster) -> tuple[float, float]:
    a = cluster.create(0).json()
    b = cluster.create(1).json()
    assert b.get("position") == 1, b
    marks: dict[str, float] = {}
    streaming = threading.Event()

    def page() -> None:
        headers = {"Authorization": f"Bearer {b['ticket']}", "Accept": "text/event-stream"}
        with httpx.Client(timeout=20) as client, \
                client.stream("GET", cluster.queue_url(1, b["queue_id"]), headers=headers) as r:
            for place in sse_places(r):
                streaming.set()
                if place["state"] == "offered":
                    marks["join"] = time.perf_counter()
                    joined = client.post(cluster.queue_url(1, b["queue_id"], "join"),
                                         headers={"Authorization": f"Bearer {b['ticket']}"})
                    marks["created"] = time.perf_counter()
                    assert joined.status_code == 201, joined.text
                    cluster.end(1, joined.json())
                    return

    thread = threading.Thread(target=page)
    thread.start()
    streaming.wait(10)
    # at a random moment of the stream's poll (0.25 s): a fixed one would measure one phase of it only
    time.sleep(random.uniform(0.2, 0.45))
    marks["freed"] = time.perf_counter()
    cluster.end(0, a)
    thread.join(30)
    return (marks["join"] - marks["freed"]) * 1000, (marks["created"] - marks["freed"]) * 1000


def measure(work: Path, rounds: int = ROUNDS) -> tuple[list[float], list[float]]:
    with line_cluster(work, slots=1, grace_s=5) as cluster:
        one_round(cluster)  # warm: connections, scripts loaded into Redis
        results = [one_round(cluster) for _ in range(rounds)]
    return [r[0] for r in results], [r[1] for r in results]


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else ROUNDS
    with tempfile.TemporaryDirectory() as tmp:
        started, created = measure(Path(tmp), rounds)
    for name, values in (("freed slot -> next visitor's create started", started),
                         ("freed slot -> next visitor's 201 (engine 20 ms)", created)):
        print(f"{name}: median {statistics.median(values):.0f} ms, min {min(values):.0f}, max {max(values):.0f} "
              f"({len(values)} rounds)")
    verdict = "met" if statistics.median(started) <= 500 else "NOT met"
    print(f"budget: freed slot -> create started, median <= 500 ms: {verdict}")


if __name__ == "__main__":
    main()
