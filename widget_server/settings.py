"""The config file (TOML) and the environment, read once into frozen settings.

    settings = load_settings("widgets.toml")      # raises ConfigError listing every problem
    settings = default_settings(port=8000)        # the embedded default: sandbox, SQLite, widget "demo"

Every problem names its key path, the expected form and the value given:
``widgets.support.max_call_duration: must be 1..3600, got 9000``.
"""

from __future__ import annotations

import os
import re
import secrets
import tomllib
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from widget_server.origins import OriginPattern, parse_origin_pattern

WIDGET_ID = re.compile(r"^[a-z0-9-]{1,64}$")
ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
LANGUAGE = re.compile(r"^[a-z]+(?:[ -][a-z]+)*$")
OVERRIDABLE = ("conversational_context", "custom_greeting", "language", "user_name")
PAGE_MESSAGES = ("conversation.respond", "conversation.echo", "conversation.interrupt",
                 "conversation.overwrite_llm_context", "conversation.append_llm_context")
POSITIONS = ("bottom-right", "bottom-left", "top-right", "top-left")
DEFAULT_STORE = "sqlite:///widget-server-state.db"


class ConfigError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class ServerSettings:
    public_url: str
    secret_keys: tuple[str, ...]
    store: str
    server_keys: tuple[str, ...] = ()
    trusted_proxies: tuple[str, ...] = ()
    generated_secret: bool = False

    @cached_property
    def origin(self) -> str:
        parts = urlsplit(self.public_url)
        return f"{parts.scheme}://{parts.netloc}".lower()


@dataclass(frozen=True)
class EngineSettings:
    kind: str = "sandbox"
    base_url: str = "https://tavusapi.com"
    api_key: str = ""
    timeout_s: float = 20.0


@dataclass(frozen=True)
class WebhookSettings:
    url: str
    secret: str
    timeout_s: float = 10.0
    retry_base_s: float = 2.0
    retry_max_s: float = 3600.0


@dataclass(frozen=True)
class LifecycleSettings:
    heartbeat_grace_s: float = 30.0
    sweep_interval_s: float = 5.0
    reconcile_interval_s: float = 30.0
    expiry_grace_s: float = 60.0


@dataclass(frozen=True)
class Limits:
    max_concurrent: int = 3
    per_ip_per_hour: int = 10
    minutes_per_day: int = 600


@dataclass(frozen=True)
class Theme:
    accent: str = "#4f46e5"
    accent_text: str = "#ffffff"
    background: str = "#111827"
    base_text: str = "#f9fafb"
    launcher_label: str = "Talk to us"
    launcher_position: str = "bottom-right"


@dataclass(frozen=True)
class Overrides:
    allow: tuple[str, ...] = ()
    max_chars: int = 2000


@dataclass(frozen=True)
class Recording:
    s3_bucket: str = ""
    s3_region: str = ""
    role_arn: str = ""


@dataclass(frozen=True)
class WidgetSettings:
    id: str
    allowed_origins: tuple[OriginPattern, ...]
    persona_id: str = ""
    replica_id: str = ""
    conversation_name: str = ""
    conversational_context: str = ""
    custom_greeting: str = ""
    language: str = "english"
    audio_only: bool = False
    max_call_duration: int = 600
    participant_left_timeout: int = 10
    participant_absent_timeout: int = 60
    enable_closed_captions: bool = True
    apply_greenscreen: bool = False
    background: str = "#0b1020"
    enable_recording: bool = False
    recording: Recording = field(default_factory=Recording)
    private: bool = True
    max_participants: int = 2
    ui: str = "prebuilt"
    proof_of_work: int = 0
    page_messages: tuple[str, ...] = ()
    record_events: bool = False
    limits: Limits = field(default_factory=Limits)
    theme: Theme = field(default_factory=Theme)
    overrides: Overrides = field(default_factory=Overrides)


@dataclass(frozen=True)
class Settings:
    server: ServerSettings
    engine: EngineSettings
    widgets: dict[str, WidgetSettings]
    webhooks: WebhookSettings | None = None
    lifecycle: LifecycleSettings = field(default_factory=LifecycleSettings)

    def secrets(self) -> tuple[str, ...]:
        """Every value that must never be shown to anyone."""
        found = [*self.server.secret_keys, *self.server.server_keys, self.engine.api_key]
        if self.webhooks:
            found.append(self.webhooks.secret)
        return tuple(s for s in found if s)


class _Reader:
    """Walks the raw TOML, collecting every problem instead of stopping at the first."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def fail(self, path: str, expected: str, value: Any) -> None:
        self.problems.append(f"{path}: {expected}, got {_show(value)}")

    def table(self, raw: dict[str, Any], path: str, key: str) -> dict[str, Any]:
        value = raw.get(key, {})
        if not isinstance(value, dict):
            self.fail(_join(path, key), "must be a table", value)
            return {}
        return value

    def unknown(self, raw: dict[str, Any], path: str, known: set[str]) -> None:
        for key in raw:
            if key not in known:
                self.problems.append(f"{_join(path, key)}: unknown key (known: {', '.join(sorted(known))})")

    def secret(self, value: Any, path: str) -> Any:
        if isinstance(value, str):
            match = ENV_REF.match(value)
            if match:
                name = match.group(1)
                if name not in self.env or self.env[name] == "":
                    self.problems.append(f"{path}: environment variable {name} is not set")
                    return ""
                return self.env[name]
        return value

    def string(self, raw: dict[str, Any], path: str, key: str, default: str, *, secret: bool = False,
               max_len: int = 10_000) -> str:
        value = raw.get(key, default)
        if secret:
            value = self.secret(value, _join(path, key))
        if not isinstance(value, str):
            self.fail(_join(path, key), "must be a string", value)
            return default
        if len(value) > max_len:
            self.fail(_join(path, key), f"must be at most {max_len} characters", f"{len(value)} characters")
            return default
        return value

    def boolean(self, raw: dict[str, Any], path: str, key: str, default: bool) -> bool:
        value = raw.get(key, default)
        if not isinstance(value, bool):
            self.fail(_join(path, key), "must be true or false", value)
            return default
        return value

    def integer(self, raw: dict[str, Any], path: str, key: str, default: int, lo: int, hi: int) -> int:
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            self.fail(_join(path, key), f"must be {lo}..{hi}", value)
            return default
        return value

    def number(self, raw: dict[str, Any], path: str, key: str, default: float, lo: float, hi: float) -> float:
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
            self.fail(_join(path, key), f"must be a number {lo:g}..{hi:g}", value)
            return default
        return float(value)

    def choice(self, raw: dict[str, Any], path: str, key: str, default: str, options: tuple[str, ...]) -> str:
        value = raw.get(key, default)
        if value not in options:
            self.fail(_join(path, key), "must be one of " + " | ".join(f'"{o}"' for o in options), value)
            return default
        return str(value)

    def strings(self, raw: dict[str, Any], path: str, key: str, *, secret: bool = False) -> tuple[str, ...]:
        value = raw.get(key, [])
        single = isinstance(value, str)
        if single:
            value = [value]
        if not isinstance(value, list):
            self.fail(_join(path, key), "must be a list of strings", value)
            return ()
        out = []
        for i, item in enumerate(value):
            item_path = _join(path, key) if single else f"{_join(path, key)}[{i}]"
            if secret:
                before = len(self.problems)
                item = self.secret(item, item_path)
                if len(self.problems) > before:
                    continue
            if not isinstance(item, str) or not item:
                self.fail(item_path, "must be a non-empty string", item)
                continue
            out.append(item)
        return tuple(out)

    def url(self, raw: dict[str, Any], path: str, key: str, default: str, *, required: bool = False) -> str:
        value = self.string(raw, path, key, default)
        if not value and not required:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            self.fail(_join(path, key), "must be an http(s) URL", value)
            return default
        return value.rstrip("/")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _show(value: Any) -> str:
    if isinstance(value, str):
        return '"' + (value if len(value) <= 60 else value[:57] + "...") + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return repr(value)


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
    r = _Reader(env)
    r.unknown(raw, "", {"server", "engine", "webhooks", "lifecycle", "widgets"})
    engine = _engine(r, r.table(raw, "", "engine"))
    server = _server(r, r.table(raw, "", "server"), engine, default_public_url)
    webhooks = _webhooks(r, raw)
    lifecycle = _lifecycle(r, r.table(raw, "", "lifecycle"))
    widgets_raw = r.table(raw, "", "widgets")
    widgets: dict[str, WidgetSettings] = {}
    if not widgets_raw:
        r.problems.append("widgets: at least one widget is needed, e.g. [widgets.support]")
    for wid, wraw in widgets_raw.items():
        if not WIDGET_ID.match(wid):
            r.fail(f"widgets.{wid}", "widget id must match [a-z0-9-]{1,64}", wid)
            continue
        if not isinstance(wraw, dict):
            r.fail(f"widgets.{wid}", "must be a table", wraw)
            continue
        widgets[wid] = _widget(r, wid, wraw)
    if r.problems:
        raise ConfigError(r.problems)
    return Settings(server=server, engine=engine, widgets=widgets, webhooks=webhooks, lifecycle=lifecycle)


def _engine(r: _Reader, raw: dict[str, Any]) -> EngineSettings:
    r.unknown(raw, "engine", _keys(EngineSettings))
    kind = r.choice(raw, "engine", "kind", "sandbox", ("tavus", "sandbox"))
    base_url = r.url(raw, "engine", "base_url", "https://tavusapi.com")
    api_key = r.string(raw, "engine", "api_key", "", secret=True)
    if kind == "tavus" and not api_key and "api_key" not in raw:
        r.problems.append('engine.api_key: required for kind "tavus", e.g. "${TAVUS_API_KEY}", got nothing')
    timeout = r.number(raw, "engine", "timeout_s", 20.0, 0.1, 120)
    return EngineSettings(kind=kind, base_url=base_url, api_key=api_key, timeout_s=timeout)


def _server(r: _Reader, raw: dict[str, Any], engine: EngineSettings, default_public_url: str) -> ServerSettings:
    r.unknown(raw, "server", {"public_url", "secret_key", "store", "server_keys", "trusted_proxies"})
    public_url = r.url(raw, "server", "public_url", default_public_url or "http://127.0.0.1:8000")
    keys = r.strings(raw, "server", "secret_key", secret=True)
    generated = False
    for i, key in enumerate(keys):
        if len(key) < 16:
            r.fail(f"server.secret_key[{i}]" if len(keys) > 1 else "server.secret_key",
                   "must be at least 16 characters", f"{len(key)} characters")
    if not keys:
        if engine.kind != "sandbox" and "secret_key" not in raw:
            r.problems.append('server.secret_key: required unless engine.kind is "sandbox", '
                              'e.g. "${WIDGET_SECRET_KEY}", got nothing')
        keys = (secrets.token_urlsafe(32),)
        generated = True
    store = r.string(raw, "server", "store", DEFAULT_STORE)
    if not (store.startswith("sqlite:///") or store.startswith(("redis://", "rediss://"))):
        r.fail("server.store", 'must be "sqlite:///PATH" or "redis://HOST:PORT/DB"', store)
    server_keys = r.strings(raw, "server", "server_keys", secret=True)
    for i, key in enumerate(server_keys):
        if len(key) < 16:
            r.fail(f"server.server_keys[{i}]", "must be at least 16 characters", f"{len(key)} characters")
    proxies = r.strings(raw, "server", "trusted_proxies")
    return ServerSettings(public_url=public_url, secret_keys=keys, store=store, server_keys=server_keys,
                          trusted_proxies=proxies, generated_secret=generated)


def _webhooks(r: _Reader, raw: dict[str, Any]) -> WebhookSettings | None:
    if "webhooks" not in raw:
        return None
    table = r.table(raw, "", "webhooks")
    r.unknown(table, "webhooks", _keys(WebhookSettings))
    url = r.url(table, "webhooks", "url", "", required=True)
    secret = r.string(table, "webhooks", "secret", "", secret=True)
    if len(secret) < 16:
        r.fail("webhooks.secret", "must be at least 16 characters", f"{len(secret)} characters")
    return WebhookSettings(
        url=url, secret=secret,
        timeout_s=r.number(table, "webhooks", "timeout_s", 10.0, 0.1, 120),
        retry_base_s=r.number(table, "webhooks", "retry_base_s", 2.0, 0.01, 3600),
        retry_max_s=r.number(table, "webhooks", "retry_max_s", 3600.0, 0.01, 86_400),
    )


def _lifecycle(r: _Reader, raw: dict[str, Any]) -> LifecycleSettings:
    p = "lifecycle"
    r.unknown(raw, p, _keys(LifecycleSettings))
    return LifecycleSettings(
        heartbeat_grace_s=r.number(raw, p, "heartbeat_grace_s", 30.0, 0.1, 3600),
        sweep_interval_s=r.number(raw, p, "sweep_interval_s", 5.0, 0.05, 3600),
        reconcile_interval_s=r.number(raw, p, "reconcile_interval_s", 30.0, 0.05, 3600),
        expiry_grace_s=r.number(raw, p, "expiry_grace_s", 60.0, 0, 3600),
    )


def _keys(cls: type) -> set[str]:
    """The keys a config table may hold: the fields of the dataclass it becomes."""
    return {f.name for f in fields(cls)}


_WIDGET_KEYS = _keys(WidgetSettings) - {"id"}


def _widget(r: _Reader, wid: str, raw: dict[str, Any]) -> WidgetSettings:
    p = f"widgets.{wid}"
    r.unknown(raw, p, _WIDGET_KEYS)
    origins: list[OriginPattern] = []
    for i, text in enumerate(r.strings(raw, p, "allowed_origins")):
        try:
            origins.append(parse_origin_pattern(text))
        except ValueError as exc:
            r.fail(f"{p}.allowed_origins[{i}]", str(exc), text)
    persona = r.string(raw, p, "persona_id", "", max_len=200)
    replica = r.string(raw, p, "replica_id", "", max_len=200)
    if not persona and not replica:
        r.problems.append(f"{p}: needs persona_id or replica_id (or both), got neither")
    language = r.string(raw, p, "language", "english", max_len=40)
    if not LANGUAGE.match(language):
        r.fail(f"{p}.language", 'must be a lower-case language name like "english" or "multilingual"', language)
    background = r.string(raw, p, "background", "#0b1020", max_len=2000)
    if not COLOR.match(background) and urlsplit(background).scheme not in ("http", "https"):
        r.fail(f"{p}.background", 'must be a colour like "#0b1020" or an http(s) image URL', background)
    enable_recording = r.boolean(raw, p, "enable_recording", False)
    return WidgetSettings(
        id=wid,
        allowed_origins=tuple(origins),
        persona_id=persona,
        replica_id=replica,
        conversation_name=r.string(raw, p, "conversation_name", "", max_len=200),
        conversational_context=r.string(raw, p, "conversational_context", ""),
        custom_greeting=r.string(raw, p, "custom_greeting", "", max_len=2000),
        language=language,
        audio_only=r.boolean(raw, p, "audio_only", False),
        max_call_duration=r.integer(raw, p, "max_call_duration", 600, 1, 3600),
        participant_left_timeout=r.integer(raw, p, "participant_left_timeout", 10, 0, 3600),
        participant_absent_timeout=r.integer(raw, p, "participant_absent_timeout", 60, 1, 3600),
        enable_closed_captions=r.boolean(raw, p, "enable_closed_captions", True),
        apply_greenscreen=r.boolean(raw, p, "apply_greenscreen", False),
        background=background,
        enable_recording=enable_recording,
        recording=_recording(r, p, raw),
        private=r.boolean(raw, p, "private", True),
        max_participants=r.integer(raw, p, "max_participants", 2, 2, 100),
        ui=r.choice(raw, p, "ui", "prebuilt", ("prebuilt", "custom")),
        proof_of_work=r.integer(raw, p, "proof_of_work", 0, 0, 24),
        page_messages=_page_messages(r, p, raw),
        record_events=r.boolean(raw, p, "record_events", False),
        limits=_limits(r, p, r.table(raw, p, "limits")),
        theme=_theme(r, p, r.table(raw, p, "theme")),
        overrides=_overrides(r, p, r.table(raw, p, "overrides")),
    )


def _page_messages(r: _Reader, p: str, raw: dict[str, Any]) -> tuple[str, ...]:
    allowed = r.strings(raw, p, "page_messages")
    for i, name in enumerate(allowed):
        if name not in PAGE_MESSAGES:
            r.fail(f"{p}.page_messages[{i}]", "must be one of " + ", ".join(PAGE_MESSAGES), name)
    return tuple(a for a in allowed if a in PAGE_MESSAGES)


def _recording(r: _Reader, p: str, raw: dict[str, Any]) -> Recording:
    table = r.table(raw, p, "recording")
    path = f"{p}.recording"
    r.unknown(table, path, _keys(Recording))
    return Recording(
        s3_bucket=r.string(table, path, "s3_bucket", "", max_len=200),
        s3_region=r.string(table, path, "s3_region", "", max_len=50),
        role_arn=r.string(table, path, "role_arn", "", max_len=300),
    )


def _limits(r: _Reader, p: str, raw: dict[str, Any]) -> Limits:
    path = f"{p}.limits"
    r.unknown(raw, path, _keys(Limits))
    return Limits(
        max_concurrent=r.integer(raw, path, "max_concurrent", 3, 1, 10_000),
        per_ip_per_hour=r.integer(raw, path, "per_ip_per_hour", 10, 0, 1_000_000),
        minutes_per_day=r.integer(raw, path, "minutes_per_day", 600, 0, 10_000_000),
    )


def _theme(r: _Reader, p: str, raw: dict[str, Any]) -> Theme:
    path = f"{p}.theme"
    r.unknown(raw, path, _keys(Theme))
    colours = {}
    for key, default in (("accent", "#4f46e5"), ("accent_text", "#ffffff"), ("background", "#111827"),
                         ("base_text", "#f9fafb")):
        value = r.string(raw, path, key, default)
        if not COLOR.match(value):
            r.fail(f"{path}.{key}", 'must be a colour like "#4f46e5"', value)
            value = default
        colours[key] = value
    return Theme(
        **colours,
        launcher_label=r.string(raw, path, "launcher_label", "Talk to us", max_len=60),
        launcher_position=r.choice(raw, path, "launcher_position", "bottom-right", POSITIONS),
    )


def _overrides(r: _Reader, p: str, raw: dict[str, Any]) -> Overrides:
    path = f"{p}.overrides"
    r.unknown(raw, path, _keys(Overrides))
    allow = r.strings(raw, path, "allow")
    for i, name in enumerate(allow):
        if name not in OVERRIDABLE:
            r.fail(f"{path}.allow[{i}]", "must be one of " + ", ".join(OVERRIDABLE), name)
    return Overrides(
        allow=tuple(a for a in allow if a in OVERRIDABLE),
        max_chars=r.integer(raw, path, "max_chars", 2000, 1, 100_000),
    )


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
