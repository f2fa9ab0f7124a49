"""Everything a request may need, built once per app at start-up."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jinja2 import Environment

from widget_server.assets import Assets
from widget_server.conversations import Conversations
from widget_server.engines.base import Engine
from widget_server.errors import Problem
from widget_server.metrics import Metrics
from widget_server.settings import Settings, WidgetSettings
from widget_server.store import Store
from widget_server.tokens import Signer

if TYPE_CHECKING:
    from widget_server.lifecycle import Lifecycle


@dataclass
class Context:
    settings: Settings
    store: Store
    engine: Engine
    signer: Signer
    metrics: Metrics
    conversations: Conversations
    assets: Assets
    templates: Environment
    extras: dict[str, Any] = field(default_factory=dict)
    lifecycle: Lifecycle | None = None

    def widget(self, widget_id: str) -> WidgetSettings:
        widget = self.settings.widgets.get(widget_id)
        if widget is None:
            raise Problem(404, "Unknown widget", f"no widget named {widget_id[:64]!r}", kind="not-found")
        return widget
