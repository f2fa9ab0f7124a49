"""Operator webhooks: lifecycle events, signed, kept in the store until a 2xx.

    hooks = Webhooks(settings.webhooks, store, metrics, clock)
    item = hooks.event("conversation.ended", record, reason="visitor_ended")
    await store.finish(record.local_id, "ended", "visitor_ended", now, outbox=item)  # queued atomically
    await hooks.deliver_due()        # or run() as a background job on every instance

Each POST carries ``Widget-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">``, one ``v1``
per configured secret (several during a rotation, so a receiver holding either verifies), and
``Widget-Event-Id`` (the same on every retry, so receivers can drop duplicates).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiohttp

from widget_server.clock import Clock, iso
from widget_server.health import Condition
from widget_server.metrics import Metrics
from widget_server.outbound import LazySession, proxy_for
from widget_server.settings import WebhookSettings
from widget_server.store import STORE_ERRORS, ConversationRecord, Store
from widget_server.store.base import OutboxItem
from widget_server.tokens import new_id

log = logging.getLogger("widget_server.webhooks")

EVENT_TYPES = ("conversation.created", "conversation.started", "conversation.ended", "conversation.rated",
               "transcript.ready", "recording.ready", "queue.joined", "queue.left", "queue.served")
BATCH = 20
SIGNATURE_TOLERANCE_S = 300


def sign(secrets: str | Sequence[str], body: str | bytes, t: int) -> str:
    """The ``Widget-Signature`` value: ``t=...`` and one ``v1=...`` per secret, in the order given."""
    keys = (secrets,) if isinstance(secrets, str) else secrets
    signed = f"{t}.".encode() + (body.encode() if isinstance(body, str) else body)
    return f"t={t}," + ",".join(f"v1={hmac.new(k.encode(), signed, hashlib.sha256).hexdigest()}" for k in keys)


def verify(secret: str, header: str, body: bytes, now: float | None = None,
           tolerance_s: int = SIGNATURE_TOLERANCE_S) -> bool:
    """True when ``header`` signs ``body`` with ``secret`` and is fresh; what a receiver runs."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        t = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - t) > tolerance_s:
        return False
    expected = sign(secret, body, t).split("v1=", 1)[1].encode()
    # bytes, not str: compare_digest refuses non-ASCII text, and a header is whatever a sender wrote.
    return any(hmac.compare_digest(expected, v.encode("utf-8", "replace")) for k, v in
               (p.split("=", 1) for p in header.split(",") if "=" in p) if k == "v1")


# (event id, event type, conversation id, attempt, outcome): each attempt, for the history database
Attempts = Callable[[str, str, str | None, int, str], Awaitable[None]]


class Webhooks:
    def __init__(self, settings: WebhookSettings | None, store: Store, metrics: Metrics, clock: Clock,
                 attempts: Attempts | None = None) -> None:
        self.settings = settings
        self.attempts = attempts
        self.metrics = metrics
        self.store = store
        self.clock = clock
        self._wake = asyncio.Event()
        self._http = LazySession(settings.timeout_s if settings else 10.0)  # without webhooks never used
        # a store outage is logged once when it starts and once when it ends, not every second
        self.store_condition = Condition(log, "store")

    @property
    def enabled(self) -> bool:
        return self.settings is not None

    def event(self, event_type: str, record: ConversationRecord, **data: Any) -> OutboxItem | None:
        """The outbox item for one event about ``record``; None when no webhook is configured."""
        return self.item(event_type, {"conversation_id": record.conversation_id, "widget": record.widget, **data})

    def item(self, event_type: str, data: dict[str, Any]) -> OutboxItem | None:
        """The outbox item for one event with ``data`` as it is (the line's events have no conversation)."""
        if self.settings is None:
            return None
        now = self.clock()
        event_id = new_id("evt_")
        body = {"id": event_id, "type": event_type, "created_at": iso(now, ms=True), "data": data}
        return OutboxItem(event_id, json.dumps(body, separators=(",", ":"), sort_keys=True), now)

    async def emit_data(self, event_type: str, data: dict[str, Any]) -> None:
        item = self.item(event_type, data)
        if item is not None:
            await self.store.outbox_put(item)
            self.wake()

    async def emit(self, event_type: str, record: ConversationRecord, **data: Any) -> None:
        item = self.event(event_type, record, **data)
        if item is not None:
            await self.store.outbox_put(item)
            self.wake()

    def wake(self) -> None:
        self._wake.set()

    def _backoff(self, attempts: int) -> float:
        assert self.settings is not None
        delay: float = min(self.settings.retry_max_s, self.settings.retry_base_s * 2.0 ** min(attempts, 30))
        return delay * random.uniform(0.8, 1.0)

    async def deliver_due(self) -> int:
        """One pass: claim what is due, POST it, drop it on 2xx, else schedule a retry. Returns 2xx count."""
        if self.settings is None:
            return 0
        now = self.clock()
        items = await self.store.outbox_claim(now, BATCH, now + self.settings.timeout_s + 5)
        if not items:
            return 0
        outcomes = await asyncio.gather(*(self._post(item) for item in items))
        results = [outcome == "delivered" for outcome in outcomes]
        for item, ok, outcome in zip(items, results, outcomes, strict=True):
            if self.attempts is not None:
                await self._note(item, outcome)
            if ok:
                await self.store.outbox_done(item.id)
            else:
                await self.store.outbox_retry(item.id, self.clock() + self._backoff(item.attempts),
                                              item.attempts + 1)
        return sum(results)

    async def _note(self, item: OutboxItem, outcome: str) -> None:
        assert self.attempts is not None
        doc = json.loads(item.body)
        await self.attempts(item.id, str(doc.get("type", "")), doc.get("data", {}).get("conversation_id"),
                            item.attempts + 1, outcome)

    async def _post(self, item: OutboxItem) -> str:
        """POST one item; its outcome: "delivered" (a 2xx), "http_<status>" or "no_answer"."""
        assert self.settings is not None
        if self._http.closed:  # stopping: the item stays in the outbox for the next delivery pass
            return "no_answer"
        headers = {
            "Content-Type": "application/json",
            "Widget-Event-Id": item.id,
            "Widget-Signature": sign(self.settings.secrets, item.body, int(self.clock())),
        }
        url = self.settings.url
        try:
            async with asyncio.timeout(self.settings.timeout_s):
                async with self._http.get().post(url, data=item.body.encode(), headers=headers, proxy=proxy_for(url),
                                              allow_redirects=False) as response:
                    status = response.status
                    await response.read()   # the answer is not used, but read: the connection goes back to the pool
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.metrics.webhooks.labels("no_answer").inc()
            log.warning("webhook %s not delivered (attempt %d): %s", item.id, item.attempts + 1,
                        type(exc).__name__)
            return "no_answer"
        ok = 200 <= status < 300
        outcome = "delivered" if ok else f"http_{status}"[:12]
        self.metrics.webhooks.labels(outcome).inc()
        if not ok:
            log.warning("webhook %s answered %d (attempt %d)", item.id, status, item.attempts + 1)
        return outcome

    async def run(self) -> None:
        """Deliver forever: at once when this instance queues, else polling for retries and others' events."""
        assert self.settings is not None
        self._http.reopen()   # a lifespan started again (aclose marked the end of the last one)
        poll = min(1.0, self.settings.retry_base_s)
        while True:
            try:
                while await self.deliver_due():
                    pass
                self.store_condition.ok()
            except STORE_ERRORS as exc:  # the store may be briefly unreachable; try again next round
                self.store_condition.failed(exc)
            except Exception as exc:
                log.warning("webhook delivery pass failed: %s", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), poll)
            self._wake.clear()

    async def aclose(self) -> None:
        await self._http.aclose()
