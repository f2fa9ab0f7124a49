"""Origin patterns: exact ``scheme://host[:port]`` or ``scheme://*.example.com`` (subdomains only).

    pattern = parse_origin_pattern("https://*.example.com")
    pattern.matches("https://shop.example.com")   # True
    pattern.matches("https://example.com")        # False: the wildcard means a subdomain
    parse_origin_pattern("https://*.co.uk")       # ValueError: anyone can register a site under co.uk
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache
from urllib.parse import urlsplit

from publicsuffixlist import PublicSuffixList

DEFAULT_PORTS = {"http": 80, "https": 443}
# Names under it resolve to this machine (RFC 6761), so "http://*.localhost:3000" opens nothing to others.
LOOPBACK_SUFFIX = "localhost"


@cache
def _public_suffixes() -> PublicSuffixList:
    """The list shipped in the package (ICANN and private sections, e.g. github.io): read once, no network."""
    return PublicSuffixList()


@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        if DEFAULT_PORTS.get(self.scheme) == self.port:
            return f"{self.scheme}://{self.host}"
        return f"{self.scheme}://{self.host}:{self.port}"


def _host(text: str) -> str:
    host = text.strip().rstrip(".").lower()
    if not host:
        raise ValueError("has no host")
    try:
        host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError as exc:
        raise ValueError("has an invalid host name") from exc
    return host


def parse_origin(text: str) -> Origin | None:
    """The browser's ``Origin`` header as an Origin, or None for ``null``/garbage."""
    if not text or text == "null" or len(text) > 300:  # before the cache: it keeps at most 4,096 x 300 chars
        return None
    return _parse_origin(text)


@lru_cache(maxsize=4096)  # every API request checks one; most come from a handful of sites (Origin is frozen)
def _parse_origin(text: str) -> Origin | None:
    try:
        parts = urlsplit(text.strip())
        if parts.scheme not in DEFAULT_PORTS or parts.username or parts.password:
            return None
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            return None
        port = DEFAULT_PORTS[parts.scheme] if parts.port is None else parts.port
        if not parts.hostname or port == 0:
            return None
        return Origin(parts.scheme, _host(parts.hostname), port)
    except ValueError:
        return None


@dataclass(frozen=True)
class OriginPattern:
    scheme: str
    host: str  # without the "*." for wildcards
    port: int
    wildcard: bool = False

    def matches(self, origin: Origin | str | None) -> bool:
        if isinstance(origin, str):
            origin = parse_origin(origin)
        if origin is None or origin.scheme != self.scheme or origin.port != self.port:
            return False
        if self.wildcard:
            return origin.host.endswith("." + self.host)
        return origin.host == self.host

    def __str__(self) -> str:
        host = ("*." if self.wildcard else "") + self.host
        return str(Origin(self.scheme, host, self.port))


def parse_origin_pattern(text: str) -> OriginPattern:
    """Parse a config entry; raises ValueError saying what form is expected."""
    expected = 'must be an origin like "https://www.example.com" or "https://*.example.com"'
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError as exc:
        raise ValueError(expected) from exc
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or parts.username or parts.password or port == 0:
        raise ValueError(expected)
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(expected + " (no path)")
    host = parts.hostname
    wildcard = host.startswith("*.")
    if wildcard:
        host = host[2:]
    if "*" in host:
        raise ValueError(expected + ' ("*" only as the first label)')
    host = _host(host)
    if wildcard and host != LOOPBACK_SUFFIX and _public_suffixes().is_public(host):
        raise ValueError(f'must not be a wildcard over a public suffix ("{host}": anyone can register a site '
                         f'under it); name your own domain, e.g. "{parts.scheme}://*.example.{host}"')
    return OriginPattern(parts.scheme, host, DEFAULT_PORTS[parts.scheme] if port is None else port, wildcard)


def origin_allowed(origin: str | None, patterns: tuple[OriginPattern, ...], own_origin: str) -> bool:
    parsed = parse_origin(origin or "")
    if parsed is None:
        return False
    own = parse_origin(own_origin)
    if own is not None and parsed == own:
        return True
    return any(p.matches(parsed) for p in patterns)
