"""Settings: every problem reported with its key path; defaults documented."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import base_config, deep_merge
from widget_server.settings import (
    ConfigError,
    EngineSettings,
    LifecycleSettings,
    Limits,
    Overrides,
    Recording,
    ServerSettings,
    Theme,
    WebhookSettings,
    WidgetSettings,
    default_settings,
    load_settings,
    parse_settings,
)

DOC = Path(__file__).resolve().parent.parent / "docs" / "config.md"


def problems(raw: dict[str, Any], env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_settings(raw, env or {})
    return info.value.problems


def test_valid_config_and_env_secrets(tmp_path: Path) -> None:
    raw = deep_merge(base_config(tmp_path), {"engine": {"kind": "tavus", "api_key": "${TAVUS_KEY}"}})
    settings = parse_settings(raw, {"TAVUS_KEY": "tk_123456"})
    assert settings.engine.api_key == "tk_123456"
    assert settings.widgets["support"].limits.max_concurrent == 2
    assert settings.widgets["public"].private is False
    assert "tk_123456" in settings.secrets()


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"widgets": {"support": {"max_call_duration": 9000}}},
         "widgets.support.max_call_duration: must be 1..3600, got 9000"),
        ({"widgets": {"support": {"audio_only": "yes"}}}, 'widgets.support.audio_only: must be true or false, got "yes"'),
        ({"widgets": {"support": {"ui": "fancy"}}}, 'widgets.support.ui: must be one of "prebuilt" | "custom", got "fancy"'),
        ({"widgets": {"support": {"allowed_origins": ["example.com"]}}}, "widgets.support.allowed_origins[0]: must be an origin"),
        ({"widgets": {"support": {"background": "red"}}}, "widgets.support.background: must be a colour"),
        ({"widgets": {"support": {"theme": {"accent": "blue"}}}}, "widgets.support.theme.accent: must be a colour"),
        ({"widgets": {"support": {"limits": {"max_concurrent": 0}}}}, "widgets.support.limits.max_concurrent: must be 1..10000, got 0"),
        ({"widgets": {"support": {"overrides": {"allow": ["persona_id"]}}}}, "widgets.support.overrides.allow[0]: must be one of"),
        ({"widgets": {"support": {"colour": 1}}}, "widgets.support.colour: unknown key"),
        ({"widgets": {"Bad_Id": {"replica_id": "r"}}}, "widgets.Bad_Id: widget id must match"),
        ({"engine": {"kind": "other"}}, 'engine.kind: must be one of "tavus" | "sandbox", got "other"'),
        ({"engine": {"timeout_s": 0}}, "engine.timeout_s: must be a number 0.1..120, got 0"),
        ({"server": {"store": "postgres://x"}}, 'server.store: must be "sqlite:///PATH" or "redis://HOST:PORT/DB"'),
        ({"server": {"history": "mysql://x"}}, 'server.history: must be "sqlite:///PATH" or "postgresql://USER:PASSWORD@HOST:PORT/DB", got "mysql://x"'),
        ({"server": {"history": "${NO_HISTORY_URL}"}}, "server.history: environment variable NO_HISTORY_URL is not set"),
        ({"retention": {"client_ip_days": -1}}, "retention.client_ip_days: must be 0..36500, got -1"),
        ({"server": {"secret_key": "short"}}, "server.secret_key: must be at least 16 characters"),
        ({"server": {"public_url": "ftp://x"}}, 'server.public_url: must be an http(s) URL, got "ftp://x"'),
        ({"server": {"secret_key": "${MISSING_SECRET}"}}, "server.secret_key: environment variable MISSING_SECRET is not set"),
        ({"webhooks": {"url": "https://ops.example.com/h", "secret": "x"}}, "webhooks.secret: must be at least 16 characters"),
        ({"lifecycle": {"heartbeat_grace_s": 0}}, "lifecycle.heartbeat_grace_s: must be a number 0.1..3600, got 0"),
        ({"lifecycle": {"sweep_every": 1}}, "lifecycle.sweep_every: unknown key"),
    ],
)
def test_each_problem_names_key_expected_and_value(tmp_path: Path, extra: dict[str, Any], expected: str) -> None:
    found = problems(deep_merge(base_config(tmp_path), extra))
    assert any(p.startswith(expected) for p in found), found


def test_widget_needs_persona_or_replica(tmp_path: Path) -> None:
    raw = base_config(tmp_path)
    raw["widgets"]["support"].pop("replica_id")
    raw["widgets"]["support"].pop("persona_id")
    assert "widgets.support: needs persona_id or replica_id (or both), got neither" in problems(raw)


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    raw = deep_merge(base_config(tmp_path), {"widgets": {"support": {"max_call_duration": 0, "ui": "x",
                                                                     "language": "English"}}})
    assert len(problems(raw)) == 3


def test_tavus_needs_key_and_secret(tmp_path: Path) -> None:
    raw = {"engine": {"kind": "tavus"}, "widgets": {"a": {"replica_id": "r"}}}
    found = problems(raw)
    assert any(p.startswith("engine.api_key: required") for p in found)
    assert any(p.startswith("server.secret_key: required") for p in found)


def test_key_rotation_list(tmp_path: Path) -> None:
    raw = deep_merge(base_config(tmp_path), {"server": {"secret_key": ["new-key-0123456789", "old-key-0123456789"]}})
    assert parse_settings(raw, {}).server.secret_keys == ("new-key-0123456789", "old-key-0123456789")


def test_default_settings_are_the_demo() -> None:
    s = default_settings("http://127.0.0.1:9000")
    assert s.engine.kind == "sandbox" and list(s.widgets) == ["demo"]
    assert s.server.origin == "http://127.0.0.1:9000" and s.server.store.startswith("sqlite:///")


def test_every_config_key_is_documented() -> None:
    doc = DOC.read_text()
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", doc, re.M))
    keys: set[str] = set()
    for cls in (ServerSettings, EngineSettings, WebhookSettings, LifecycleSettings, WidgetSettings, Limits, Theme,
                Overrides):
        keys |= set(cls.__dataclass_fields__)
    keys -= {"secret_keys", "generated_secret", "id", "limits", "theme", "overrides"}
    keys |= {"secret_key", "kind"}
    assert keys - documented == set()
    assert set(Recording.__dataclass_fields__) <= set(re.findall(r"\b(s3_bucket|s3_region|role_arn)\b", doc))


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "widget_server.cli", *args], capture_output=True, text=True,
                          timeout=60)


def test_check_config_cli(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('[widgets.support]\nreplica_id = "r1"\nallowed_origins = ["https://www.example.com"]\n')
    ok = _cli("check-config", str(good))
    assert ok.returncode == 0 and "valid" in ok.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('[widgets.support]\nmax_call_duration = 9000\n[engine]\nkind = "tavus"\n')
    out = _cli("check-config", str(bad))
    assert out.returncode == 2
    assert "widgets.support.max_call_duration: must be 1..3600, got 9000" in out.stdout
    assert "widgets.support: needs persona_id or replica_id" in out.stdout
    assert _cli("check-config", str(tmp_path / "missing.toml")).returncode == 2
    broken = tmp_path / "broken.toml"
    broken.write_text("[widgets\n")
    assert "not valid TOML" in _cli("check-config", str(broken)).stdout


def test_serve_refuses_bad_config(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[widgets.support]\nmax_call_duration = 9000\nreplica_id = "r"\n')
    out = _cli("serve", "--config", str(bad), "--port", "1")
    assert out.returncode == 2
    assert "widgets.support.max_call_duration: must be 1..3600, got 9000" in out.stderr


def test_load_settings_from_file(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[server]\nsecret_key = "${S}"\n[widgets.a]\npersona_id = "p"\n')
    assert load_settings(path, {"S": "0123456789abcdef0"}).server.secret_keys == ("0123456789abcdef0",)


def test_sandbox_cli_refuses_rates_outside_0_to_1() -> None:
    for flag in ("--fail-rate", "--lose-rate", "--drop-callback-rate"):
        out = _cli("sandbox", "--port", "1", flag, "1.5")
        assert out.returncode == 2 and f"{flag}: must be 0..1, got 1.5" in out.stderr
