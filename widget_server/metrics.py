"""Prometheus metrics, one registry per app (so tests and apps never share).

    metrics = Metrics()
    metrics.created.labels("support").inc()
    text = await metrics.scrape(store, settings.widgets, clock())   # what GET /metrics answers

Counters and histograms count as things happen; the gauges are read from the store
at scrape time, so every instance reports the state they all share. docs/metrics.md lists every metric.
"""

from __future__ import annotations

import logging
import math
import platform
import time
from bisect import bisect_left
from collections import Counter as Tally
from collections.abc import Awaitable, Iterable, Iterator
from itertools import accumulate
from typing import TypeVar

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector

from widget_server.store import Store
from widget_server.version import package_version

log = logging.getLogger("widget_server.metrics")
T = TypeVar("T")
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class RequestLatency(Collector):
    """``widget_http_request_seconds`` kept as plain counts, turned into a histogram when scraped.

    Written here rather than a ``prometheus_client.Histogram``: every request observes it, and the library's
    observe (a labelled child, a lock per bucket and per sum) cost the session route 4 to 5 us of its ~32 us in
    process; a bisect and two additions cost under 1. Observed and scraped on the event loop only.
    """

    name = "widget_http_request_seconds"

    def __init__(self, buckets: tuple[float, ...], registry: CollectorRegistry) -> None:
        self.bounds = buckets
        # (route, method, status class) -> a count per bucket (le, not cumulative), the +Inf count, the sum
        self.series: dict[tuple[str, str, int], list[float]] = {}
        registry.register(self)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status // 100)
        counts = self.series.get(key)
        if counts is None:
            counts = self.series[key] = [0] * (len(self.bounds) + 2)
        counts[bisect_left(self.bounds, seconds)] += 1
        counts[-1] += seconds

    def _family(self) -> HistogramMetricFamily:
        return HistogramMetricFamily(self.name, "HTTP request latency by route template",
                                     labels=["route", "method", "status"])

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = self._family()
        les = [*(str(float(b)) for b in self.bounds), "+Inf"]
        for (route, method, cls), counts in sorted(self.series.items()):
            cumulative = list(accumulate(counts[:-1]))
            family.add_metric([route, method, f"{cls}xx"], list(zip(les, cumulative, strict=True)),
                              sum_value=counts[-1])
        yield family

    def describe(self) -> Iterator[HistogramMetricFamily]:
        yield self._family()


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.created = Counter("widget_conversations_created", "Conversations created", ["widget"], registry=r)
        self.ended = Counter("widget_conversations_ended", "Conversations ended", ["widget", "reason"],
                             registry=r)
        self.refused = Counter("widget_creates_refused", "Creates refused by a rule", ["widget", "rule"],
                               registry=r)
        self.engine_errors = Counter("widget_engine_errors", "Engine calls that failed", ["call", "kind"],
                                     registry=r)
        self.engine_seconds = Histogram(
            "widget_engine_seconds", "Engine call latency", ["call"], registry=r,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 60),
        )
        self.lifecycle = Counter("widget_lifecycle_actions", "What the sweep and the reconciler did",
                                 ["job", "action"], registry=r)
        self.history_failures = Counter("widget_history_failures", "History writes that failed (retried by the "
                                        "history sync)", ["op"], registry=r)
        self.webhooks = Counter("widget_webhook_attempts", "Operator webhook POSTs", ["result"], registry=r)
        self.webhook_backlog = Gauge("widget_webhook_backlog", "Operator webhooks queued and not yet delivered",
                                     registry=r)
        self.slots_taken = Gauge("widget_slots_taken", "Slots held toward the widget's max_concurrent",
                                 ["widget"], registry=r)
        self.live = Gauge("widget_conversations_live", "Conversations live now (creating, active or lost)",
                          ["widget"], registry=r)
        self.seconds_live = Counter("widget_conversation_seconds", "Seconds from create to end of ended "
                                    "conversations (what the engine bills)", ["widget"], registry=r)
        self.seconds_without_visitor = Counter(
            "widget_seconds_without_visitor", "Seconds ended conversations ran after their visitor was last seen "
            "(the ledger's definition)", ["widget", "reason"], registry=r)
        self.queue_length = Gauge("widget_queue_length", "Visitors in the widget's waiting line", ["widget"],
                                  registry=r)
        self.queue_joined = Counter("widget_queue_joined", "Visitors who joined the waiting line", ["widget"],
                                    registry=r)
        self.queue_served = Counter("widget_queue_served", "Visitors served from the waiting line", ["widget"],
                                    registry=r)
        self.queue_left = Counter("widget_queue_left", "Visitors who left the line unserved", ["widget", "reason"],
                                  registry=r)
        self.queue_wait = Histogram("widget_queue_wait_seconds", "Seconds from joining the line to leaving it",
                                    ["widget", "outcome"], registry=r,
                                    buckets=(5, 15, 30, 60, 120, 180, 300, 600, 900, 1800))
        self.http = RequestLatency(HTTP_BUCKETS, r).observe   # (route, method, status, seconds), every request
        Info("widget_build", "The running version", registry=r).info(
            {"version": package_version(), "python": platform.python_version()})
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)

    async def engine(self, call: str, pending: Awaitable[T]) -> T:
        """Await one engine call, observing its latency as ``widget_engine_seconds{call}``."""
        started = time.perf_counter()
        try:
            return await pending
        finally:
            self.engine_seconds.labels(call).observe(time.perf_counter() - started)

    async def scrape(self, store: Store, widgets: Iterable[str], now: float) -> bytes:
        """The exposition text, with the gauges read from ``store`` now."""
        widgets = list(widgets)
        try:
            backlog: float = await store.outbox_size()
            slots: dict[str, float] = {w: await store.live_slots(w, now) for w in widgets}
            tally = Tally(r.widget for r in await store.live_records())
            live: dict[str, float] = {w: tally.get(w, 0) for w in widgets}
            line: dict[str, float] = {w: await store.line_length(w, now) for w in widgets}
        except Exception:  # the counters still answer while the store is down or closed (/readyz says so)
            backlog, slots, live = math.nan, dict.fromkeys(widgets, math.nan), dict.fromkeys(widgets, math.nan)
            line = dict.fromkeys(widgets, math.nan)
        self.webhook_backlog.set(backlog)
        for widget in widgets:
            self.slots_taken.labels(widget).set(slots[widget])
            self.live.labels(widget).set(live[widget])
            self.queue_length.labels(widget).set(line[widget])
        return self.render()

    def render(self) -> bytes:
        return generate_latest(self.registry)
