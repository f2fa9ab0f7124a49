"""The config file (TOML), read and validated once at start-up into frozen settings.

    settings = load_settings("widgets.toml")        # raises ConfigError listing every problem
    settings = default_settings("http://127.0.0.1:8000")  # the embedded default: sandbox, SQLite, widget "demo"

Each key is declared once, on the field it fills (type, default, bounds, one line of help; see
config_registry). Every problem names its key path, the expected form and the value given:
``widgets.support.max_call_duration: must be 1..3600, got 9000``. Any string value may be ``"${ENV_VAR}"``,
read from the environment.
"""

import os
import secrets
import tomllib
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from widget_server.config_registry import NO_DEFAULT, Reader, boolean, choice, integer, number, string, strings
from widget_server.settings.admin import AdminSettings, AdminUser, OidcSettings, read_admin
from widget_server.settings.forms import (
    DEFAULT_HISTORY,
    DEFAULT_STORE,
    MIN_KEY_LENGTH,
    WIDGET_ID,
    ConfigError,
    Network,
    history,
    network,
    store,
    url,
    url_or_empty,
)
from widget_server.settings.widgets import (
    OVERRIDABLE,
    PAGE_MESSAGES,
    EndedCta,
    Limits,
    Overrides,
    Recording,
    Teaser,
    Theme,
    WidgetSettings,
    read_widget,
)
from widget_server.store.urls import parse_store_url

__all__ = ["OVERRIDABLE", "PAGE_MESSAGES", "AdminSettings", "AdminUser", "ConfigError", "EndedCta", "EngineSettings",
           "HistoryTarget", "LifecycleSettings", "Limits", "Network", "OidcSettings", "Overrides", "Recording",
           "RetentionSettings", "ServerSettings", "Settings", "Teaser", "Theme", "WebhookSettings", "WidgetSettings",
           "default_settings", "load_history_target", "load_settings", "parse_settings"]


@dataclass(frozen=True)
class ServerSettings:
    public_url: str = string(NO_DEFAULT, "origin browsers reach the server at", parse=url_or_empty)
    secret_keys: tuple[str, ...] = strings(NO_DEFAULT, "signing keys; the first signs, all verify", key="secret_key",
                                           secret=True)
    store: str = string(DEFAULT_STORE, "where shared state lives", parse=store)
    history: str = string("", "the history database; empty: the store's SQLite file", parse=history)
    history_migrate: bool = boolean(True, "run the history database's migrations at start")
    server_keys: tuple[str, ...] = strings((), "bearer keys for operator back ends", secret=True)
    trusted_proxies: tuple[Network, ...] = strings((), "proxies whose X-Forwarded-For is believed", parse=network)
    demo: bool = boolean(False, "serve the demo page at / with any engine (always with the sandbox)")
    drain_s: float = number(5.0, 0, 300, "seconds /readyz answers 503 after SIGTERM before the server stops")
    metrics_keys: tuple[str, ...] = strings((), "bearer keys GET /metrics requires; empty: open", key="metrics_key",
                                            secret=True)
    generated_secret: bool = False

    @cached_property
    def history_url(self) -> str:
        """The history database: as set, else the live store's SQLite file, else a SQLite file of its own."""
        if self.history:
            return self.history
        return self.store if self.store.startswith("sqlite:///") else DEFAULT_HISTORY

    @cached_property
    def origin(self) -> str:
        parts = urlsplit(self.public_url)
        return f"{parts.scheme}://{parts.netloc}".lower()


@dataclass(frozen=True)
class EngineSettings:
    kind: str = choice("sandbox", ("tavus", "sandbox"), "the conversation engine")
    base_url: str = string("https://tavusapi.com", "the engine's base URL", parse=url_or_empty)
    api_keys: tuple[str, ...] = strings((), "the engine's keys; the first is sent as x-api-key", key="api_key",
                                        secret=True)
    timeout_s: float = number(20.0, 0.1, 120, "seconds to wait for the engine")

    @property
    def api_key(self) -> str:
        """The key calls are made with: the first (the others stay secrets during a rotation)."""
        return self.api_keys[0] if self.api_keys else ""


@dataclass(frozen=True)
class WebhookSettings:
    url: str = string(NO_DEFAULT, "where lifecycle events are POSTed", parse=url)
    secrets: tuple[str, ...] = strings(NO_DEFAULT, "HMAC keys of the signature header, one v1= each", key="secret",
                                       secret=True)
    timeout_s: float = number(10.0, 0.1, 120, "seconds to wait for the receiver")
    retry_base_s: float = number(2.0, 0.01, 3600, "first retry delay, doubled per failure")
    retry_max_s: float = number(3600.0, 0.01, 86_400, "longest delay between retries")

    @property
    def secret(self) -> str:
        return self.secrets[0] if self.secrets else ""


@dataclass(frozen=True)
class LifecycleSettings:
    heartbeat_grace_s: float = number(30.0, 0.1, 3600, "seconds without a heartbeat before ending")
    sweep_interval_s: float = number(5.0, 0.05, 3600, "seconds between sweeps")
    reconcile_interval_s: float = number(30.0, 0.05, 3600, "seconds between reconciliations with the engine")
    expiry_grace_s: float = number(60.0, 0, 3600, "seconds past expires_at before the backstop ends a call")


@dataclass(frozen=True)
class RetentionSettings:
    conversations_days: int = integer(365, 0, 36_500, "days ended conversations are kept; 0: forever")
    transcripts_days: int = integer(90, 0, 36_500, "days transcripts are kept; 0: forever")
    client_ip_days: int = integer(30, 0, 36_500, "days client addresses are kept (a salted hash stays); 0: forever")
    purge_interval_s: float = number(3600.0, 1, 86_400, "seconds between purges")


@dataclass(frozen=True)
class Settings:
    server: ServerSettings
    engine: EngineSettings
    widgets: dict[str, WidgetSettings]
    webhooks: WebhookSettings | None = None
    lifecycle: LifecycleSettings = field(default_factory=LifecycleSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    admin: AdminSettings | None = None  # the operator's console; None: off

    @property
    def demo_page(self) -> bool:
        """The demo page at ``/``: a working widget on the server's own origin, never in production by accident."""
        return self.server.demo or self.engine.kind == "sandbox"

    def secrets(self) -> tuple[str, ...]:
        """Every value that must never be shown to anyone."""
        found = [*self.server.secret_keys, *self.server.server_keys, *self.server.metrics_keys, *self.engine.api_keys,
                 *parse_store_url(self.server.store).secrets]
        password = urlsplit(self.server.history).password if self.server.history.startswith("postgres") else None
        if password:
            found.append(password)
        if self.webhooks:
            found.extend(self.webhooks.secrets)
        if self.admin:
            found.extend(u.password_hash for u in self.admin.users)
            found.append(self.admin.oidc.client_secret)
        return tuple(s for s in found if s)


def load_settings(path: str | Path, env: dict[str, str] | None = None, *, default_public_url: str = "") -> Settings:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read the file ({exc.strerror})"]) from exc
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML ({exc})"]) from exc
    return parse_settings(raw, env if env is not None else dict(os.environ), default_public_url)


def parse_settings(raw: dict[str, Any], env: dict[str, str], default_public_url: str = "") -> Settings:
    r = Reader(env)
    r.unknown(raw, "", {f.name for f in fields(Settings)})
    engine = _engine(r, r.table(raw, "", "engine"))
    server = _server(r, r.table(raw, "", "server"), engine, default_public_url)
    webhooks = _webhooks(r, raw)
    lifecycle = r.build(LifecycleSettings, r.table(raw, "", "lifecycle"), "lifecycle")
    retention = r.build(RetentionSettings, r.table(raw, "", "retention"), "retention")
    admin = read_admin(r, raw)
    widgets_raw = r.table(raw, "", "widgets")
    widgets: dict[str, WidgetSettings] = {}
    if not widgets_raw:
        r.problems.append("widgets: at least one widget is needed, e.g. [widgets.support]")
    for wid, wraw in widgets_raw.items():
        if not WIDGET_ID.match(wid):
            r.fail(f"widgets.{wid}", "widget id must match [a-z0-9-]{1,64}", wid)
        elif not isinstance(wraw, dict):
            r.fail(f"widgets.{wid}", "must be a table", wraw)
        else:
            widgets[wid] = read_widget(r, wid, wraw)
    if r.problems:
        raise ConfigError(r.problems)
    return Settings(server=server, engine=engine, widgets=widgets, webhooks=webhooks, lifecycle=lifecycle,
                    retention=retention, admin=admin)


@dataclass(frozen=True)
class HistoryTarget:
    """What the history commands need (report, migrate, purge, backup): no engine key, no signing key."""

    url: str
    retention: RetentionSettings


def load_history_target(path: str | Path | None, env: dict[str, str] | None = None) -> HistoryTarget:
    """Read only ``server.store``, ``server.history`` and ``[retention]`` of a config file."""
    if path is None:
        return HistoryTarget(ServerSettings(public_url="", secret_keys=()).history_url, RetentionSettings())
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read the file ({exc.strerror})"]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML ({exc})"]) from exc
    r = Reader(env if env is not None else dict(os.environ))
    server_raw = r.table(raw, "", "server")
    wanted: dict[str, Any] = {k: server_raw[k] for k in ("store", "history") if k in server_raw}
    values = r.read(ServerSettings, wanted, "server", {"public_url": "", "secret_keys": ()})
    retention = r.build(RetentionSettings, r.table(raw, "", "retention"), "retention")
    if r.problems:
        raise ConfigError(r.problems)
    return HistoryTarget(ServerSettings(**values).history_url, retention)


def _engine(r: Reader, raw: dict[str, Any]) -> EngineSettings:
    engine = r.build(EngineSettings, raw, "engine")
    if engine.kind == "tavus" and not engine.api_keys and not _reported(r, "engine.api_key"):
        r.problems.append('engine.api_key: required for kind "tavus", e.g. "${TAVUS_API_KEY}", got nothing')
    return engine


def _server(r: Reader, raw: dict[str, Any], engine: EngineSettings, default_public_url: str) -> ServerSettings:
    values = r.read(ServerSettings, raw, "server", {"public_url": default_public_url or "http://127.0.0.1:8000"})
    keys = values["secret_keys"]
    _check_lengths(r, "server.secret_key", keys, indexed=len(keys) > 1)
    _check_lengths(r, "server.server_keys", values["server_keys"], indexed=True)
    _check_lengths(r, "server.metrics_key", values["metrics_keys"], indexed=len(values["metrics_keys"]) > 1)
    if keys:
        return ServerSettings(**values)
    if engine.kind != "sandbox" and "secret_key" not in raw:
        r.problems.append('server.secret_key: required unless engine.kind is "sandbox", '
                          'e.g. "${WIDGET_SECRET_KEY}", got nothing')
    return ServerSettings(**{**values, "secret_keys": (secrets.token_urlsafe(32),)}, generated_secret=True)


def _check_lengths(r: Reader, path: str, keys: tuple[str, ...], *, indexed: bool) -> None:
    for i, key in enumerate(keys):
        if len(key) < MIN_KEY_LENGTH:
            r.fail(f"{path}[{i}]" if indexed else path, f"must be at least {MIN_KEY_LENGTH} characters", key,
                   secret=True)


def _webhooks(r: Reader, raw: dict[str, Any]) -> WebhookSettings | None:
    if "webhooks" not in raw:
        return None
    webhooks = r.build(WebhookSettings, r.table(raw, "", "webhooks"), "webhooks")
    if not webhooks.secrets and not _reported(r, "webhooks.secret"):
        r.problems.append('webhooks.secret: required, e.g. "${WIDGET_WEBHOOK_SECRET}", got nothing')
    _check_lengths(r, "webhooks.secret", webhooks.secrets, indexed=len(webhooks.secrets) > 1)
    return webhooks


def _reported(r: Reader, path: str) -> bool:
    """Whether a problem about ``path`` (or one of its items) is already listed."""
    return any(p.startswith((f"{path}:", f"{path}[")) for p in r.problems)



def default_settings(public_url: str = "http://127.0.0.1:8000", store: str = DEFAULT_STORE) -> Settings:
    """The embedded default: the sandbox engine, a SQLite file and one widget ``demo``."""
    raw: dict[str, Any] = {
        "server": {"public_url": public_url, "store": store},
        "engine": {"kind": "sandbox"},
        "widgets": {
            "demo": {
                "allowed_origins": [],
                "replica_id": "r_sandbox_demo",
                "persona_id": "p_sandbox_demo",
                "conversation_name": "Demo",
                "custom_greeting": "Hi! I'm the demo replica. Type a message and I'll answer.",
                "ui": "custom",
                "apply_greenscreen": True,
                "background": "#0b1020",
                "max_call_duration": 300,
                "overrides": {"allow": list(OVERRIDABLE)},
                "limits": {"max_concurrent": 3, "per_ip_per_hour": 30, "minutes_per_day": 600},
            }
        },
    }
    return parse_settings(raw, {})
