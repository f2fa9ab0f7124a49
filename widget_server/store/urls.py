"""Store URLs, checked at start-up and turned into connection arguments.

    target = parse_store_url("rediss+sentinel://:pw@s1,s2:26380/mymaster/0?ssl_ca_certs=/etc/ca.pem")
    target.sentinels      # (("s1", 26379), ("s2", 26380))
    target.service        # "mymaster"
    target.connection     # {"db": 0, "password": "pw", "ssl": True, "ssl_ca_certs": "/etc/ca.pem"}

``sqlite:///PATH``; ``redis://[USER:PASSWORD@]HOST[:PORT][/DB]`` and ``rediss://`` (TLS); and Redis Sentinel,
``redis+sentinel://[USER:PASSWORD@]HOST[:PORT][,HOST[:PORT]...]/SERVICE[/DB]`` (``rediss+sentinel://``: TLS
to the sentinels and the master). redis-py has no URL for Sentinel; this form is the one other clients use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

REDIS_PORT = 6379
SENTINEL_PORT = 26379
SCHEMES = ("redis", "rediss", "redis+sentinel", "rediss+sentinel")


def _float(value: str) -> float:
    number = float(value)
    if not 0 < number <= 3600:
        raise ValueError
    return number


def _bool(value: str) -> bool:
    if value not in ("true", "false"):
        raise ValueError
    return value == "true"


def _cert_reqs(value: str) -> str:
    if value not in ("none", "optional", "required"):
        raise ValueError
    return value


def _text(value: str) -> str:
    if not value:
        raise ValueError
    return value


# query option: (parser, what it takes, "tls" | "sentinel" | "" for which URLs)
OPTIONS: dict[str, tuple[Any, str, str]] = {
    "socket_timeout": (_float, "seconds", ""),
    "socket_connect_timeout": (_float, "seconds", ""),
    "ssl_cert_reqs": (_cert_reqs, "none | optional | required", "tls"),
    "ssl_ca_certs": (_text, "a file path", "tls"),
    "ssl_certfile": (_text, "a file path", "tls"),
    "ssl_keyfile": (_text, "a file path", "tls"),
    "ssl_check_hostname": (_bool, "true | false", "tls"),
    "sentinel_username": (_text, "a user name", "sentinel"),
    "sentinel_password": (_text, "a password", "sentinel"),
}


@dataclass(frozen=True)
class StoreTarget:
    kind: str  # "sqlite" | "redis"
    path: str = ""  # sqlite
    connection: dict[str, Any] = field(default_factory=dict)  # redis-py connection arguments
    sentinels: tuple[tuple[str, int], ...] = ()  # empty: connect to the master directly
    service: str = ""
    sentinel_auth: dict[str, str] = field(default_factory=dict)  # username/password for the sentinels

    @property
    def password(self) -> str:
        return str(self.connection.get("password") or "")

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.password, self.sentinel_auth.get("password", "")) if s)


def parse_store_url(url: str) -> StoreTarget:
    """The target of a store URL; raises ValueError saying what is wrong."""
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if not path:
            raise ValueError('must name a file: "sqlite:///PATH"')
        return StoreTarget("sqlite", path=path)
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in SCHEMES:
        raise ValueError('must be "sqlite:///PATH" or "redis://HOST:PORT/DB" (also "rediss://" for TLS, '
                         '"redis+sentinel://HOST:PORT,HOST:PORT/SERVICE/DB" for Redis Sentinel)')
    tls = scheme.startswith("rediss")
    sentinel = scheme.endswith("+sentinel")
    netloc, _, tail = rest.partition("/")
    path, _, query = tail.partition("?")
    if "#" in query or "#" in path:
        raise ValueError("must not have a #fragment")
    userinfo, at, hosts = netloc.rpartition("@")
    connection: dict[str, Any] = {}
    if at:
        user, colon, password = userinfo.partition(":")
        if user:
            connection["username"] = unquote(user)
        if colon and password:
            connection["password"] = unquote(password)
    addresses = [_address(h, SENTINEL_PORT if sentinel else REDIS_PORT) for h in hosts.split(",")]
    parts = [p for p in path.split("/") if p]
    service = ""
    if sentinel:
        if not parts:
            raise ValueError('must name the Sentinel service: "redis+sentinel://HOST:26379/SERVICE/DB"')
        service = unquote(parts.pop(0))
    elif len(addresses) > 1:
        raise ValueError(f'must have one host; for several, use Redis Sentinel ("{scheme}+sentinel://...")')
    if len(parts) > 1 or (parts and not (parts[0].isascii() and parts[0].isdigit())):
        raise ValueError("must end in a database number (/0, /1, ...)")
    connection["db"] = int(parts[0]) if parts else 0
    if tls:
        connection["ssl"] = True
    auth: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name not in OPTIONS:
            raise ValueError(f'has an unknown option "{name}" (known: {", ".join(OPTIONS)})')
        parse, takes, scope = OPTIONS[name]
        if scope == "tls" and not tls:
            raise ValueError(f'option "{name}" needs TLS ("rediss://")')
        if scope == "sentinel" and not sentinel:
            raise ValueError(f'option "{name}" needs Redis Sentinel ("redis+sentinel://")')
        try:
            parsed = parse(value)
        except ValueError:
            raise ValueError(f'option "{name}" must be {takes}') from None
        if scope == "sentinel":
            auth[name.removeprefix("sentinel_")] = parsed
        else:
            connection[name] = parsed
    if sentinel:
        return StoreTarget("redis", connection=connection, sentinels=tuple(addresses), service=service,
                           sentinel_auth=auth)
    host, port = addresses[0]
    return StoreTarget("redis", connection={"host": host, "port": port, **connection})


def _address(text: str, default_port: int) -> tuple[str, int]:
    try:
        parts = urlsplit(f"//{text}")
        host, port = parts.hostname, parts.port
    except ValueError:
        raise ValueError(f'has a bad host or port "{text}"') from None
    if not host or parts.username is not None:
        raise ValueError("must name a host: HOST or HOST:PORT")
    if port == 0:
        raise ValueError(f'has a bad host or port "{text}"')
    return host, default_port if port is None else port
