"""Prometheus counters and histograms, one registry per app (so tests and apps never share)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest


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

    def render(self) -> bytes:
        return generate_latest(self.registry)
