"""Settings: every problem reported with its key path; defaults documented."""

from __future__ import annotations

import ipaddress
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
    Teaser,
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
        # A wildcard directly under a public suffix would let anyone's site embed the widget.
        ({"widgets": {"support": {"allowed_origins": ["https://*.com"]}}}, 'widgets.support.allowed_origins[0]: must not be a wildcard over a public suffix ("com": anyone can register a site under it); name your own domain, e.g. "https://*.example.com", got "https://*.com"'),
        ({"widgets": {"support": {"allowed_origins": ["https://www.example.com", "https://*.co.uk"]}}}, 'widgets.support.allowed_origins[1]: must not be a wildcard over a public suffix ("co.uk"'),
        ({"widgets": {"support": {"allowed_origins": ["https://*.github.io"]}}}, 'widgets.support.allowed_origins[0]: must not be a wildcard over a public suffix ("github.io"'),
        # Proxies are addresses or ranges, parsed at start-up (a bad one was skipped at run time).
        ({"server": {"trusted_proxies": ["loadbalancer.internal"]}}, 'server.trusted_proxies[0]: must be an IP address or a CIDR range like "10.0.0.0/8" or "fd00::/8" (host names are not resolved), got "loadbalancer.internal"'),
        ({"server": {"trusted_proxies": ["10.0.0.1", "10.0.0.0/33"]}}, 'server.trusted_proxies[1]: must be an IP address or a CIDR range'),
        ({"server": {"trusted_proxies": "10.0.0.0/33"}}, 'server.trusted_proxies: must be an IP address or a CIDR range'),
        # The live store: SQLite, Redis, Redis over TLS, Redis Sentinel; a password in the URL is not shown.
        ({"server": {"store": "redis+sentinel://s1:26379"}}, 'server.store: must name the Sentinel service: "redis+sentinel://HOST:26379/SERVICE/DB", got "redis+sentinel://s1:26379"'),
        ({"server": {"store": "rediss://:hunter2-pw@h:99999/0"}}, 'server.store: has a bad host or port "h:99999", got "rediss://:***@h:99999/0"'),
        ({"server": {"store": "redis://h/0?ssl_ca_certs=/ca.pem"}}, 'server.store: option "ssl_ca_certs" needs TLS ("rediss://")'),
        # Rotation lists: each key of a list is checked, by its index; an empty list is no key.
        ({"webhooks": {"url": "https://ops.example.com/h", "secret": ["new-hook-secret-0123", "short"]}}, "webhooks.secret[1]: must be at least 16 characters, got a string of 5 characters"),
        ({"webhooks": {"url": "https://ops.example.com/h", "secret": []}}, 'webhooks.secret: required, e.g. "${WIDGET_WEBHOOK_SECRET}", got nothing'),
        ({"webhooks": {"url": "https://ops.example.com/h"}}, 'webhooks.secret: required, e.g. "${WIDGET_WEBHOOK_SECRET}", got nothing'),
        ({"engine": {"kind": "tavus", "api_key": []}}, 'engine.api_key: required for kind "tavus"'),
        ({"engine": {"api_key": ["k-0123456789abcdef", "${OLD_KEY}"]}}, "engine.api_key[1]: environment variable OLD_KEY is not set"),
        # A value of the wrong type is told the type the key takes.
        ({"widgets": {"support": {"limits": {"max_concurrent": "3"}}}}, 'widgets.support.limits.max_concurrent: must be an integer 1..10000, got "3"'),
        ({"widgets": {"support": {"limits": {"max_concurrent": True}}}}, "widgets.support.limits.max_concurrent: must be an integer 1..10000, got true"),
        ({"widgets": {"support": {"max_call_duration": 60.5}}}, "widgets.support.max_call_duration: must be an integer 1..3600, got 60.5"),
        ({"engine": {"timeout_s": "20"}}, 'engine.timeout_s: must be a number 0.1..120, got "20"'),
        ({"widgets": {"support": {"audio_only": 1}}}, "widgets.support.audio_only: must be true or false, got 1"),
        ({"widgets": {"support": {"persona_id": 5}}}, "widgets.support.persona_id: must be a string, got 5"),
        ({"widgets": {"support": {"allowed_origins": {"a": 1}}}}, "widgets.support.allowed_origins: must be a list of strings, got a table"),
        ({"widgets": {"support": {"allowed_origins": ["https://a.example.com", 7]}}}, "widgets.support.allowed_origins[1]: must be a non-empty string, got 7"),
        ({"widgets": {"support": {"limits": 3}}}, "widgets.support.limits: must be a table, got 3"),
        ({"webhooks": ["https://ops.example.com/h"]}, "webhooks: must be a table, got a list"),
        # A secret of the wrong type is not shown.
        ({"server": {"secret_key": 12345678901234567890}}, "server.secret_key: must be a list of strings, got an integer"),
        # An unknown key close to a known one names it.
        ({"widgets": {"support": {"max_call_duraton": 60}}}, 'widgets.support.max_call_duraton: unknown key (did you mean "max_call_duration"?)'),
        ({"widgets": {"support": {"limits": {"max_concurent": 1}}}}, 'widgets.support.limits.max_concurent: unknown key (did you mean "max_concurrent"?)'),
        ({"widget": {}}, 'widget: unknown key (did you mean "widgets"?)'),
        ({"engine": {"zzz": 1}}, "engine.zzz: unknown key (known: api_key, base_url, kind, timeout_s)"),
        # "${ENV}" in any string: a missing variable is named wherever it is used.
        ({"widgets": {"support": {"persona_id": "${PERSONA}"}}}, "widgets.support.persona_id: environment variable PERSONA is not set"),
        ({"widgets": {"support": {"allowed_origins": ["${SHOP_ORIGIN}"]}}}, "widgets.support.allowed_origins[0]: environment variable SHOP_ORIGIN is not set"),
    ],
)
def test_each_problem_names_key_expected_and_value(tmp_path: Path, extra: dict[str, Any], expected: str) -> None:
    found = problems(deep_merge(base_config(tmp_path), extra))
    assert any(p.startswith(expected) for p in found), found


def test_env_expands_in_any_string_list_items_included(tmp_path: Path) -> None:
    raw = deep_merge(base_config(tmp_path), {
        "server": {"public_url": "${PUBLIC_URL}", "store": "${STORE_URL}"},
        "widgets": {"support": {"persona_id": "${PERSONA}", "allowed_origins": ["${SHOP}", "https://a.example.com"],
                                "custom_greeting": "$${NAME}", "limits": {"max_concurrent": 4}}},
    })
    env = {"PUBLIC_URL": "https://widgets.example.com", "STORE_URL": f"sqlite:///{tmp_path / 'env.db'}",
           "PERSONA": "p_from_env", "SHOP": "https://shop.example.net"}
    s = parse_settings(raw, env)
    assert s.server.public_url == "https://widgets.example.com" and s.server.store == env["STORE_URL"]
    support = s.widgets["support"]
    assert support.persona_id == "p_from_env"
    assert [str(o) for o in support.allowed_origins] == ["https://shop.example.net", "https://a.example.com"]
    assert support.custom_greeting == "${NAME}"  # "$$" escapes: the literal text


def test_expanded_values_are_validated_and_secrets_never_shown(tmp_path: Path) -> None:
    raw = deep_merge(base_config(tmp_path), {"server": {"public_url": "${URL}"},
                                             "webhooks": {"url": "https://ops.example.com/h", "secret": "${HOOK}"}})
    found = problems(raw, {"URL": "ftp://x", "HOOK": "short-hook"})
    assert 'server.public_url: must be an http(s) URL, got "ftp://x"' in found
    assert "webhooks.secret: must be at least 16 characters, got a string of 10 characters" in found
    assert not any("short-hook" in p for p in found)


@pytest.mark.parametrize("store", ["sqlite:///state.db", "redis://cache:6379/0", "rediss://:pw@cache.example.com:6380/0",
                                   "redis+sentinel://s1:26379,s2:26379/mymaster/0", "rediss+sentinel://s1/mymaster"])
def test_store_urls_accepted(tmp_path: Path, store: str) -> None:
    assert parse_settings(deep_merge(base_config(tmp_path), {"server": {"store": store}}), {}).server.store == store


def test_trusted_proxies_are_parsed_once(tmp_path: Path) -> None:
    raw = deep_merge(base_config(tmp_path), {"server": {"trusted_proxies": ["10.1.2.3/8", " fd00::1 ", "192.0.2.7"]}})
    assert parse_settings(raw, {}).server.trusted_proxies == (
        ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::1/128"), ipaddress.ip_network("192.0.2.7/32"))


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


def test_engine_key_and_webhook_secret_rotate_as_lists(tmp_path: Path) -> None:
    raw = deep_merge(base_config(tmp_path), {
        "engine": {"kind": "tavus", "api_key": ["${NEW_ENGINE_KEY}", "old-engine-key-0123"]},
        "webhooks": {"url": "https://ops.example.com/h", "secret": ["new-hook-secret-0123", "${OLD_HOOK}"]},
    })
    s = parse_settings(raw, {"NEW_ENGINE_KEY": "new-engine-key-0123", "OLD_HOOK": "old-hook-secret-0123"})
    assert s.engine.api_key == "new-engine-key-0123"  # the first one calls
    assert s.engine.api_keys == ("new-engine-key-0123", "old-engine-key-0123")
    assert s.webhooks is not None and s.webhooks.secrets == ("new-hook-secret-0123", "old-hook-secret-0123")
    assert s.webhooks.secret == "new-hook-secret-0123"
    # Every key of every list is a secret: redacted from logs, scanned for in every answer.
    assert {*s.engine.api_keys, *s.webhooks.secrets} <= set(s.secrets())
    one = parse_settings(deep_merge(base_config(tmp_path), {"engine": {"api_key": "single-key-0123"}}), {})
    assert one.engine.api_keys == ("single-key-0123",) and one.engine.api_key == "single-key-0123"


def test_default_settings_are_the_demo() -> None:
    s = default_settings("http://127.0.0.1:9000")
    assert s.engine.kind == "sandbox" and list(s.widgets) == ["demo"]
    assert s.server.origin == "http://127.0.0.1:9000" and s.server.store.startswith("sqlite:///")


def test_every_config_key_is_documented() -> None:
    doc = DOC.read_text()
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", doc, re.M))
    keys: set[str] = set()
    for cls in (ServerSettings, EngineSettings, WebhookSettings, LifecycleSettings, WidgetSettings, Limits, Theme,
                Overrides, Teaser):
        keys |= set(cls.__dataclass_fields__)
    keys -= {"secret_keys", "api_keys", "metrics_keys", "secrets", "generated_secret", "id", "limits", "theme",
             "overrides", "teaser"}
    keys |= {"secret_key", "kind", "api_key", "secret", "metrics_key"}
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


def test_check_config_cli_closes_the_holes_of_issue_18(tmp_path: Path) -> None:
    bad = tmp_path / "holes.toml"
    bad.write_text('''[server]
trusted_proxies = ["loadbalancer.internal", "10.0.0.0/33"]
store = "redis+sentinel://10.0.0.11,10.0.0.12"
[widgets.support]
replica_id = "r1"
allowed_origins = ["https://*.com", "https://*.co.uk", "https://*.example.co.uk"]
max_call_duraton = 60
[widgets.support.limits]
max_concurrent = "3"
''')
    out = _cli("check-config", str(bad))
    assert out.returncode == 2
    lines = out.stdout.splitlines()
    for start in ("server.trusted_proxies[0]: must be an IP address or a CIDR range",
                  "server.trusted_proxies[1]: must be an IP address or a CIDR range",
                  "server.store: must name the Sentinel service",
                  'widgets.support.allowed_origins[0]: must not be a wildcard over a public suffix ("com"',
                  'widgets.support.allowed_origins[1]: must not be a wildcard over a public suffix ("co.uk"',
                  'widgets.support.max_call_duraton: unknown key (did you mean "max_call_duration"?)',
                  'widgets.support.limits.max_concurrent: must be an integer 1..10000, got "3"'):
        assert any(line.startswith(start) for line in lines), (start, lines)
    assert not any("allowed_origins[2]" in line for line in lines)
    assert lines[-1] == f"7 problem(s) in {bad}"


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
