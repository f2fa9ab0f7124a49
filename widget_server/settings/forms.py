"""The forms a setting's value may take: the validators the declarations name, and the error they raise."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from widget_server.store.urls import parse_store_url

WIDGET_ID = re.compile(r"^[a-z0-9-]{1,64}$")
COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
LANGUAGE = re.compile(r"^[a-z]+(?:[ -][a-z]+)*$")
POSITIONS = ("bottom-right", "bottom-left", "top-right", "top-left")
DEFAULT_STORE = "sqlite:///widget-server-state.db"
DEFAULT_HISTORY = "sqlite:///widget-server-history.db"  # with a Redis store and no server.history
MIN_KEY_LENGTH = 16
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ConfigError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) URL")
    return value.rstrip("/")


def url_or_empty(value: str) -> str:
    return url(value) if value else value


def store(value: str) -> str:
    parse_store_url(value)
    return value


def network(value: str) -> Network:
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise ValueError('must be an IP address or a CIDR range like "10.0.0.0/8" or "fd00::/8" '
                         "(host names are not resolved)") from None


def history(value: str) -> str:
    if value and not value.startswith(("sqlite:///", "postgresql://", "postgres://")):
        raise ValueError('must be "sqlite:///PATH" or "postgresql://USER:PASSWORD@HOST:PORT/DB"')
    return value


def colour(value: str) -> str:
    if not COLOR.match(value):
        raise ValueError('must be a colour like "#4f46e5"')
    return value


def colour_or_empty(value: str) -> str:
    return colour(value) if value else value


FONT_STACK = re.compile(r'^[\w \-,"\']+$')


def font_stack(value: str) -> str:
    if value and not FONT_STACK.match(value):
        raise ValueError('must be a CSS font stack like "Inter, system-ui, sans-serif"')
    return value


def colour_or_image(value: str) -> str:
    if value != "blur" and not COLOR.match(value) and urlsplit(value).scheme not in ("http", "https"):
        raise ValueError('must be a colour like "#0b1020", an http(s) image URL, or "blur"')
    return value


def language(value: str) -> str:
    if not LANGUAGE.match(value):
        raise ValueError('must be a lower-case language name like "english" or "multilingual"')
    return value

