"""Warnings about a valid config that is still unwise: weak secrets, plain-HTTP public URLs.

    for line in audit(settings):
        print("warning:", line)

``check-config`` prints them (exit code stays 0); ``serve`` logs them.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from widget_server.settings import Settings
from widget_server.settings.widgets import CONTRAST_PAIRS, SCHEMES, Theme

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


def _luminance(colour: str) -> float:
    """WCAG 2's relative luminance of "#rgb" or "#rrggbb"."""
    hexa = colour[1:] if len(colour) == 7 else "".join(c * 2 for c in colour[1:])
    channels = [int(hexa[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    """WCAG 2 contrast ratio of two colours, 1..21."""
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def contrast_problems(path: str, theme: Theme) -> list[str]:
    """Each theme colour pair below WCAG AA (4.5:1), in every scheme the widget may show (an empty colour is the
    scheme's own)."""
    schemes = ("light", "dark") if theme.scheme == "auto" else (theme.scheme,)
    found: list[str] = []
    for fg, bg in CONTRAST_PAIRS:
        for scheme in schemes:
            a = getattr(theme, fg) or SCHEMES[scheme][fg]
            b = getattr(theme, bg) or SCHEMES[scheme][bg]
            ratio = contrast(a, b)
            line = (f"{path}.theme: {fg} {a} on {bg} {b} has a contrast of {ratio:.2f}:1, below WCAG AA 4.5:1; "
                    "visitors with low vision may not read it")
            if ratio < 4.5 and line not in found:
                found.append(line)
    return found


def audit(settings: Settings) -> list[str]:
    found: list[str] = []
    for wid, widget in settings.widgets.items():
        found += contrast_problems(f"widgets.{wid}", widget.theme)
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
