"""Hypothesis over the config loader and the webhook signature verifier: no crash, no forgery."""

from __future__ import annotations

import time
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from widget_server import webhooks
from widget_server.settings import ConfigError, Settings, parse_settings

SECRET = "whsec_0123456789abcdef0123"

toml_scalar = st.one_of(st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False), st.text(max_size=30))
toml_value = st.recursive(
    toml_scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=12,
)
widget_keys = st.sampled_from(["allowed_origins", "replica_id", "persona_id", "language", "max_call_duration",
                               "ui", "background", "limits", "theme", "overrides", "private", "page_messages",
                               "proof_of_work", "recording", "max_participants"])
widget = st.dictionaries(widget_keys, toml_value, max_size=6)
config = st.fixed_dictionaries({
    "widgets": st.dictionaries(st.text(min_size=1, max_size=10), widget, max_size=3),
}, optional={
    "server": st.dictionaries(st.sampled_from(["public_url", "secret_key", "store", "server_keys",
                                               "trusted_proxies"]), toml_value, max_size=3),
    "engine": st.dictionaries(st.sampled_from(["kind", "base_url", "api_key", "timeout_s"]), toml_value, max_size=3),
    "webhooks": toml_value,
    "lifecycle": toml_value,
})


@settings(max_examples=400, deadline=None)
@given(config)
def test_config_loader_answers_settings_or_config_error(raw: dict[str, Any]) -> None:
    try:
        result = parse_settings(raw, {"X": "y"})
    except ConfigError as err:
        assert err.problems and all(isinstance(p, str) and ":" in p for p in err.problems)
    else:
        assert isinstance(result, Settings) and result.widgets


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=200), st.binary(max_size=200))
def test_verifier_never_crashes_and_never_accepts_garbage(header: str, body: bytes) -> None:
    assert webhooks.verify(SECRET, header, body) is False


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.binary(min_size=1, max_size=20), st.integers(0, 299))
def test_any_change_to_a_signed_body_is_refused(body: bytes, extra: bytes, at: int) -> None:
    now = int(time.time())
    header = webhooks.sign(SECRET, body, now)
    assert webhooks.verify(SECRET, header, body)
    at = min(at, len(body))
    tampered = body[:at] + extra + body[at:]
    assert not webhooks.verify(SECRET, header, tampered)
    assert not webhooks.verify(SECRET + "x", header, body)
    assert not webhooks.verify(SECRET, header, body, now=now + 3600)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80), st.text(max_size=40), st.binary(max_size=50))
def test_verifier_with_fresh_timestamp_and_hostile_signatures(v1: str, tail: str, body: bytes) -> None:
    header = f"t={int(time.time())},v1={v1}{tail}"
    assert webhooks.verify(SECRET, header, body) is False
