"""Prometheus metrics, one registry per app (so tests and apps never share).

    metrics = Metrics()
    metrics.created.labels("support").inc()
    text = await metrics.scrape(store, settings.widgets, clock())   # what GET /metrics answers

Counters and histograms count as things happen; the gauges are read from the store
at scrape time, so every instance reports the state they all share.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from widget_server.store import Store

log = logging.getLogger("widget_server.metrics")


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
        self.webhooks = Counter("widget_webhook_attempts", "Operator webhook POSTs", ["result"], registry=r)
        self.webhook_backlog = Gauge("widget_webhook_backlog", "Operator webhooks queued and not yet delivered",
                                     registry=r)
        self.slots_taken = Gauge("widget_slots_taken", "Slots held toward the widget's max_concurrent",
                                 ["widget"], registry=r)

    async def scrape(self, store: Store, widgets: Iterable[str], now: float) -> bytes:
        """The exposition text, with the gauges read from ``store`` now."""
        widgets = list(widgets)
        try:
            backlog: float = await store.outbox_size()
            slots: dict[str, float] = {w: await store.live_slots(w, now) for w in widgets}
        except Exception as exc:  # the counters still answer while the store is down (/readyz says so)
            log.warning("metrics: store gauges not read: %s", exc)
            backlog, slots = math.nan, dict.fromkeys(widgets, math.nan)
        self.webhook_backlog.set(backlog)
        for widget, taken in slots.items():
            self.slots_taken.labels(widget).set(taken)
        return self.render()

    def render(self) -> bytes:
        return generate_latest(self.registry)
