"""Every part a request may need, built once per app by ``create_app`` and typed.

    c = ctx(request)                     # views.common
    widget = c.widget("support")         # or 404 problem+json
    await c.conversations.create(...)
"""

from __future__ import annotations

from dataclasses import dataclass

from jinja2 import Environment

from widget_server.admin.auth import AdminAuth
from widget_server.assets import Assets
from widget_server.clock import Clock
from widget_server.conversations import Conversations
from widget_server.engines.base import Engine
from widget_server.errors import Problem
from widget_server.health import Health
from widget_server.history import History
from widget_server.lifecycle import Lifecycle
from widget_server.line import Line
from widget_server.live.hub import LiveHub
from widget_server.metrics import Metrics
from widget_server.settings import Settings, WidgetSettings
from widget_server.store import Store
from widget_server.tokens import Signer
from widget_server.webhooks import Webhooks


@dataclass(frozen=True)
class Context:
    settings: Settings
    clock: Clock
    store: Store
    engine: Engine
    signer: Signer
    metrics: Metrics
    webhooks: Webhooks
    conversations: Conversations
    lifecycle: Lifecycle
    line: Line
    live: LiveHub
    history: History
    assets: Assets
    templates: Environment
    health: Health
    admin_auth: AdminAuth

    def widget(self, widget_id: str) -> WidgetSettings:
        widget = self.settings.widgets.get(widget_id)
        if widget is None:
            raise Problem(404, "Unknown widget", f"no widget named {widget_id[:64]!r}", kind="not-found")
        return widget
