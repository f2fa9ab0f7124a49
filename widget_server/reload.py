"""SIGHUP: the config file read again and, when valid, put in place of the running one.

    reload_config(app, "widgets.toml", default_public_url="http://127.0.0.1:8000")   # True if applied

A valid file replaces the widgets (their rules, limits, theme), the lifecycle's graces and every secret
(``server.secret_key``, ``server.server_keys``, ``server.metrics_key``, ``engine.api_key``,
``webhooks.secret`` and ``webhooks.url``); connections and live conversations carry on. An invalid one is
logged with its problems and the running config stays.

The settings are swapped in one place, :func:`apply_settings`: the app's context (what every view reads)
is replaced, and the long-lived parts that hold settings (conversations, lifecycle, webhooks, the
engine's key, the log redaction) are told. What the parts were built from at start cannot change
without a restart; a reload keeps the running value of each such key and logs it (``RESTART_ONLY``).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from widget_server.audit import audit
from widget_server.logs import redact_also
from widget_server.settings import ConfigError, Settings, load_settings
from widget_server.tokens import Signer

if TYPE_CHECKING:
    from widget_server.app import WidgetApp

log = logging.getLogger("widget_server.reload")

# key path -> how to read it; the store and the engine are opened once, the URL is in every callback ref.
RESTART_ONLY: dict[str, Callable[[Settings], Any]] = {
    "server.store": lambda s: s.server.store,
    "server.public_url": lambda s: s.server.public_url,
    "server.trusted_proxies": lambda s: s.server.trusted_proxies,
    "engine.kind": lambda s: s.engine.kind,
    "engine.base_url": lambda s: s.engine.base_url,
    "engine.timeout_s": lambda s: s.engine.timeout_s,
    "lifecycle.sweep_interval_s": lambda s: s.lifecycle.sweep_interval_s,
    "lifecycle.reconcile_interval_s": lambda s: s.lifecycle.reconcile_interval_s,
    "webhooks (on or off)": lambda s: s.webhooks is None,
}


def keep_restart_only(running: Settings, new: Settings) -> tuple[Settings, list[str]]:
    """``new`` with the running value of every restart-only key it changes, and the keys it changed."""
    changed = [key for key, read in RESTART_ONLY.items() if read(running) != read(new)]
    if not changed:
        kept = new
    else:
        server = dataclasses.replace(new.server, store=running.server.store, public_url=running.server.public_url,
                                     trusted_proxies=running.server.trusted_proxies)
        engine = dataclasses.replace(new.engine, kind=running.engine.kind, base_url=running.engine.base_url,
                                     timeout_s=running.engine.timeout_s)
        lifecycle = dataclasses.replace(new.lifecycle, sweep_interval_s=running.lifecycle.sweep_interval_s,
                                        reconcile_interval_s=running.lifecycle.reconcile_interval_s)
        webhooks = new.webhooks if (new.webhooks is None) == (running.webhooks is None) else running.webhooks
        kept = dataclasses.replace(new, server=server, engine=engine, lifecycle=lifecycle, webhooks=webhooks)
    if kept.server.generated_secret and running.server.generated_secret:
        # no secret_key in either: keep this process's random key, or every session would end
        kept = dataclasses.replace(kept, server=dataclasses.replace(
            kept.server, secret_keys=running.server.secret_keys))
    return kept, changed


def apply_settings(app: WidgetApp, new: Settings) -> None:
    """Put ``new`` in place of the running settings: the one place where they are swapped."""
    ctx = app.ctx
    redact_also(new.secrets())  # first: nothing of the new config may be logged before it is redacted
    signer = Signer(new.server.secret_keys, ctx.clock)
    ctx.conversations.settings = ctx.lifecycle.settings = ctx.line.settings = new
    ctx.conversations.recorder.settings = new  # retention, for the history's purge
    ctx.conversations.signer = ctx.lifecycle.signer = ctx.line.signer = signer  # the line signs its tickets
    ctx.webhooks.settings = new.webhooks
    use_key = getattr(ctx.engine, "use_api_key", None)
    if use_key is not None and new.engine.api_key:
        use_key(new.engine.api_key)
    app.ctx = app.state.ctx = dataclasses.replace(ctx, settings=new, signer=signer)


def reload_config(app: WidgetApp, path: str | None, *, default_public_url: str = "") -> bool:
    """Read ``path`` again; apply it if valid (True), else log its problems and keep the running config."""
    if path is None:
        log.warning("config reload: serve was started without --config; nothing to reload")
        return False
    try:
        new = load_settings(path, default_public_url=default_public_url)
    except ConfigError as err:
        for problem in err.problems:
            log.error("config reload: %s", problem, extra={"config": path})
        log.error("config reload refused: %d problem(s) in %s; the running config stays", len(err.problems), path,
                  extra={"config": path, "problems": len(err.problems)})
        return False
    running = app.ctx.settings
    new, changed = keep_restart_only(running, new)
    for key in changed:
        log.warning("config reload: %s changed; it takes effect at the next restart (the running value stays)",
                    key, extra={"config": path, "key": key})
    apply_settings(app, new)
    for warning in audit(new):
        log.warning("config: %s", warning)
    added = sorted(set(new.widgets) - set(running.widgets))
    removed = sorted(set(running.widgets) - set(new.widgets))
    log.info("config reloaded from %s: %d widget(s)%s%s", path, len(new.widgets),
             f", added {', '.join(added)}" if added else "", f", removed {', '.join(removed)}" if removed else "",
             extra={"config": path, "widgets": len(new.widgets)})
    return True
