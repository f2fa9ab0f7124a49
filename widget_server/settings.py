"""The config file (TOML), read and validated once at start-up into frozen settings.

    settings = load_settings("widgets.toml")        # raises ConfigError listing every problem
    settings = default_settings("http://127.0.0.1:8000")  # the embedded default: sandbox, SQLite, widget "demo"

Each key is declared once, on the field it fills (type, default, bounds, one line of help; see
config_registry). Every problem names its key path, the expected form and the value given:
``widgets.support.max_call_duration: must be 1..3600, got 9000``. Any string value may be ``"${ENV_VAR}"``,
read from the environment.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import tomllib
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from widget_server.config_registry import NO_DEFAULT, Reader, boolean, choice, integer, number, string, strings, table
from widget_server.origins import OriginPattern, parse_origin_pattern
from widget_server.store.urls import parse_store_url

WIDGET_ID = re.compile(r"^[a-z0-9-]{1,64}$")
COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
LANGUAGE = re.compile(r"^[a-z]+(?:[ -][a-z]+)*$")
OVERRIDABLE = ("conversational_context", "custom_greeting", "language", "user_name")
PAGE_MESSAGES = ("conversation.respond", "conversation.echo", "conversation.interrupt",
                 "conversation.overwrite_llm_context", "conversation.append_llm_context",
                 "conversation.set_emotion", "conversation.tool_result")
POSITIONS = ("bottom-right", "bottom-left", "top-right", "top-left")
DEFAULT_STORE = "sqlite:///widget-server-state.db"
DEFAULT_HISTORY = "sqlite:///widget-server-history.db"  # with a Redis store and no server.history
MIN_KEY_LENGTH = 16
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ConfigError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) URL")
    return value.rstrip("/")


def _url_or_empty(value: str) -> str:
    return _url(value) if value else value


def _store(value: str) -> str:
    parse_store_url(value)
    return value


def _network(value: str) -> Network:
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise ValueError('must be an IP address or a CIDR range like "10.0.0.0/8" or "fd00::/8" '
                         "(host names are not resolved)") from None


def _history(value: str) -> str:
    if value and not value.startswith(("sqlite:///", "postgresql://", "postgres://")):
        raise ValueError('must be "sqlite:///PATH" or "postgresql://USER:PASSWORD@HOST:PORT/DB"')
    return value


def _colour(value: str) -> str:
    if not COLOR.match(value):
        raise ValueError('must be a colour like "#4f46e5"')
    return value


def _colour_or_image(value: str) -> str:
    if not COLOR.match(value) and urlsplit(value).scheme not in ("http", "https"):
        raise ValueError('must be a colour like "#0b1020" or an http(s) image URL')
    return value


def _language(value: str) -> str:
    if not LANGUAGE.match(value):
        raise ValueError('must be a lower-case language name like "english" or "multilingual"')
    return value


@dataclass(frozen=True)
class ServerSettings:
    public_url: str = string(NO_DEFAULT, "origin browsers reach the server at", parse=_url_or_empty)
    secret_keys: tuple[str, ...] = strings(NO_DEFAULT, "signing keys; the first signs, all verify", key="secret_key",
                                           secret=True)
    store: str = string(DEFAULT_STORE, "where shared state lives", parse=_store)
    history: str = string("", "the history database; empty: the store's SQLite file", parse=_history)
    history_migrate: bool = boolean(True, "run the history database's migrations at start")
    server_keys: tuple[str, ...] = strings((), "bearer keys for operator back ends", secret=True)
    trusted_proxies: tuple[Network, ...] = strings((), "proxies whose X-Forwarded-For is believed", parse=_network)
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
    base_url: str = string("https://tavusapi.com", "the engine's base URL", parse=_url_or_empty)
    api_keys: tuple[str, ...] = strings((), "the engine's keys; the first is sent as x-api-key", key="api_key",
                                        secret=True)
    timeout_s: float = number(20.0, 0.1, 120, "seconds to wait for the engine")

    @property
    def api_key(self) -> str:
        """The key calls are made with: the first (the others stay secrets during a rotation)."""
        return self.api_keys[0] if self.api_keys else ""


@dataclass(frozen=True)
class WebhookSettings:
    url: str = string(NO_DEFAULT, "where lifecycle events are POSTed", parse=_url)
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
class Limits:
    max_concurrent: int = integer(3, 1, 10_000, "live conversations at once, across instances")
    per_ip_per_hour: int = integer(10, 0, 1_000_000, "browser creates per client address per hour; 0: no limit")
    minutes_per_day: int = integer(600, 0, 10_000_000, "conversation minutes per UTC day; 0: no limit")


@dataclass(frozen=True)
class Theme:
    accent: str = string("#4f46e5", "accent colour", parse=_colour)
    accent_text: str = string("#ffffff", "text on the accent", parse=_colour)
    background: str = string("#111827", "call background", parse=_colour)
    base_text: str = string("#f9fafb", "text colour", parse=_colour)
    launcher_label: str = string("Talk to us", "the launcher bubble's label", max_len=60)
    launcher_position: str = choice("bottom-right", POSITIONS, "the launcher bubble's corner")


@dataclass(frozen=True)
class Overrides:
    allow: tuple[str, ...] = strings((), "what an embedding page may set per visitor", options=OVERRIDABLE)
    max_chars: int = integer(2000, 1, 100_000, "longest accepted override value")


@dataclass(frozen=True)
class Recording:
    s3_bucket: str = string("", "S3 bucket of the recordings", max_len=200)
    s3_region: str = string("", "its region", max_len=50)
    role_arn: str = string("", "the role the engine assumes to write there", max_len=300)


@dataclass(frozen=True)
class EndedCta:
    label: str = string("", "the next step's button text", max_len=60)
    url: str = string("", "where the next step goes", max_len=2000, parse=_url_or_empty)


@dataclass(frozen=True)
class WidgetSettings:
    id: str
    allowed_origins: tuple[OriginPattern, ...] = strings((), "sites that may embed the widget",
                                                         parse=parse_origin_pattern)
    persona_id: str = string("", "the engine persona", max_len=200)
    replica_id: str = string("", "the replica (face)", max_len=200)
    conversation_name: str = string("", "label at the engine; empty: widget <id>", max_len=200)
    conversational_context: str = string("", "appended to the persona's context")
    custom_greeting: str = string("", "spoken once when the visitor joins", max_len=2000)
    enable_dynamic_greeting: bool = boolean(False, "the engine's LLM writes the opening line instead")
    language: str = string("english", "lower-case language name", max_len=40, parse=_language)
    audio_only: bool = boolean(False, "voice only, no replica video")
    max_call_duration: int = integer(600, 1, 3600, "seconds before the engine ends the call")
    participant_left_timeout: int = integer(10, 0, 3600, "seconds after the visitor leaves")
    participant_absent_timeout: int = integer(60, 1, 3600, "seconds for somebody to join")
    enable_closed_captions: bool = boolean(True, "captions in the call UI")
    apply_greenscreen: bool = boolean(False, "render the replica on green")
    background: str = string("#0b1020", "colour or image behind a green-screened replica", max_len=2000,
                             parse=_colour_or_image)
    enable_recording: bool = boolean(False, "allow recording")
    recording: Recording = table(Recording, "the S3 target of recordings")
    private: bool = boolean(True, "a meeting token is required to join")
    max_participants: int = integer(2, 2, 100, "participants in the room, the replica included")
    ui: str = choice("prebuilt", ("prebuilt", "custom"), "Daily Prebuilt or the kit's own call UI")
    display_name: str = string("", "the replica's name in the lobby and call; empty: the launcher label", max_len=80)
    avatar_url: str = string("", "the replica's picture in the lobby", max_len=2000, parse=_url_or_empty)
    allow_voice_only: bool = boolean(True, "the lobby offers joining with the camera off")
    allow_text_only: bool = boolean(True, "the lobby offers typing instead of talking")
    consent_text: str = string("", "a statement the visitor must tick before Join", max_len=2000)
    consent_url: str = string("", "a link shown with consent_text", max_len=2000, parse=_url_or_empty)
    skip_lobby: bool = boolean(False, "a visitor whose camera and microphone are granted joins at once")
    collect_rating: bool = boolean(False, "the ended screen asks for a rating")
    ended_cta: EndedCta = table(EndedCta, "a next step offered on the ended screen")
    proof_of_work: int = integer(0, 0, 24, "bits of the puzzle before a browser create; 0: off")
    page_messages: tuple[str, ...] = strings((), "messages a host page may send into the room", options=PAGE_MESSAGES)
    record_events: bool = boolean(False, "the server joins the room to record its events")
    limits: Limits = table(Limits, "how much the widget may be used")
    theme: Theme = table(Theme, "colours and the launcher")
    overrides: Overrides = table(Overrides, "what an embedding page may set")


@dataclass(frozen=True)
class Settings:
    server: ServerSettings
    engine: EngineSettings
    widgets: dict[str, WidgetSettings]
    webhooks: WebhookSettings | None = None
    lifecycle: LifecycleSettings = field(default_factory=LifecycleSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)

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
            widgets[wid] = _widget(r, wid, wraw)
    if r.problems:
        raise ConfigError(r.problems)
    return Settings(server=server, engine=engine, widgets=widgets, webhooks=webhooks, lifecycle=lifecycle,
                    retention=retention)


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


def _widget(r: Reader, wid: str, raw: dict[str, Any]) -> WidgetSettings:
    widget = WidgetSettings(id=wid, **r.read(WidgetSettings, raw, f"widgets.{wid}"))
    if not widget.persona_id and not widget.replica_id:
        r.problems.append(f"widgets.{wid}: needs persona_id or replica_id (or both), got neither")
    if bool(widget.ended_cta.label) != bool(widget.ended_cta.url):
        r.problems.append(f"widgets.{wid}.ended_cta: needs both label and url, got "
                          f"{'label' if widget.ended_cta.label else 'url'} only")
    if widget.consent_url and not widget.consent_text:
        r.problems.append(f"widgets.{wid}.consent_url: needs consent_text, got no consent_text")
    return widget


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
