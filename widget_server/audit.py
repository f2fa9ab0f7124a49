"""Warnings about a valid config that is still unwise: weak secrets, plain-HTTP public URLs.

    for line in audit(settings):
        print("warning:", line)

``check-config`` prints them (exit code stays 0); ``serve`` logs them.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from widget_server.settings import Settings

WEAK = {"changeme", "change-me", "secret", "password", "default", "example", "test", "dev", "development",
        "widget", "tavus", "letmein", "0123456789abcdef"}
LOOPBACK = ("127.", "localhost", "[::1]", "::1")


def _weak_reason(value: str) -> str | None:
    lowered = value.lower()
    if any(lowered.startswith(w) or lowered.endswith(w) for w in WEAK if len(w) >= 6) or lowered in WEAK:
        return "looks like a placeholder"
    if len(set(value)) < 8:
        return "has fewer than 8 distinct characters"
    if len(value) < 32:
        return f"is {len(value)} characters; use 32 or more random ones (e.g. `openssl rand -base64 32`)"
    return None


def audit(settings: Settings) -> list[str]:
    found: list[str] = []
    if not settings.server.generated_secret:
        keys = settings.server.secret_keys
        for i, key in enumerate(keys):
            reason = _weak_reason(key)
            if reason:
                found.append(f"server.secret_key{f'[{i}]' if len(keys) > 1 else ''}: {reason}")
    for i, key in enumerate(settings.server.server_keys):
        reason = _weak_reason(key)
        if reason:
            found.append(f"server.server_keys[{i}]: {reason}")
    if settings.webhooks:
        hooks = settings.webhooks.secrets
        for i, key in enumerate(hooks):
            reason = _weak_reason(key)
            if reason:
                found.append(f"webhooks.secret{f'[{i}]' if len(hooks) > 1 else ''}: {reason}")
    if settings.server.store.startswith(("redis://", "rediss://")) and not settings.server.history:
        found.append("server.history: not set with a Redis store, so each instance keeps its own history in "
                     "widget-server-history.db; with more than one instance, set a shared database "
                     '(server.history = "postgresql://USER:PASSWORD@HOST:5432/DB")')
    host = urlsplit(settings.server.public_url).hostname or ""
    if settings.server.public_url.startswith("http://") and not host.startswith(LOOPBACK):
        found.append("server.public_url: plain http outside loopback; browsers refuse camera and microphone "
                     "there, and tokens travel in clear")
    if settings.engine.kind == "tavus" and settings.engine.base_url.startswith("http://"):
        h = urlsplit(settings.engine.base_url).hostname or ""
        if not h.startswith(LOOPBACK):
            found.append("engine.base_url: plain http sends the engine key in clear")
    return found
