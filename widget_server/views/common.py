"""Small helpers every view uses: the app context, bodies, client addresses, credentials."""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import ClientDisconnect, HTTPConnection, Request

from widget_server.edge import request_header
from widget_server.errors import FieldError, Problem, invalid

if TYPE_CHECKING:
    from widget_server.context import Context
    from widget_server.settings import Network

MAX_BODY = 64 * 1024
MAX_DEPTH = 8


def header(request: Request, name: bytes) -> str | None:
    """A request header's first value (``name`` in lower case); cheaper than ``request.headers``."""
    value = request_header(request.scope, name)
    return None if value is None else value.decode("latin-1")


def ctx(request: HTTPConnection) -> Context:
    """The app's parts (``create_app`` puts them on the app itself: ``app.state`` costs a lookup chain)."""
    context: Context = request.scope["app"].ctx
    return context


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The whole body, refused with 413 past ``limit`` (declared or streamed), read straight off ASGI.

    Starlette's ``Request.body()`` goes through an async generator, whose set-up alone cost
    more than parsing a small body; the result is left where ``Request.body()`` (and a second call) finds it.
    """
    if hasattr(request, "_body"):  # read already (a form's CSRF field, then the handler's own fields)
        body: bytes = request._body
        return body
    declared = request_header(request.scope, b"content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise Problem(413, "Body too large", f"at most {limit} bytes", kind="body-too-large")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise Problem(413, "Body too large", f"at most {limit} bytes", kind="body-too-large")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    request._body = body
    return body


def _depth(value: Any, level: int = 0) -> int:
    if level > MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max([_depth(v, level + 1) for v in value.values()], default=level + 1)
    if isinstance(value, list):
        return max([_depth(v, level + 1) for v in value], default=level + 1)
    return level


async def read_json(request: Request, *, allow_text: bool = False) -> Any:
    """The JSON body, or None when empty; text/plain is accepted where sendBeacon posts."""
    raw = await read_body(request)
    if not raw.strip():
        return None
    media = header(request, b"content-type") or ""
    if media != "application/json":
        media = media.split(";")[0].strip().lower()
    if media not in ("application/json", "") and not (allow_text and media == "text/plain"):
        raise Problem(415, "Unsupported media type", "send application/json", kind="unsupported-media-type")
    try:
        data = orjson.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise invalid([FieldError("body", "is not valid JSON")], "Malformed JSON") from None
    if len(raw) > 2 * MAX_DEPTH and _depth(data) > MAX_DEPTH:
        raise invalid([FieldError("body", f"is nested deeper than {MAX_DEPTH} levels")])
    return data


def client_ip(request: Request, trusted: tuple[Network, ...]) -> str:
    """The socket peer, or the first untrusted hop of X-Forwarded-For when the peer is a trusted proxy.

    ``trusted`` is ``settings.server.trusted_proxies``, parsed once at start-up.
    """
    peer = request.client.host if request.client else ""
    if not trusted or not _in(peer, trusted):
        return peer
    hops = [h.strip() for h in (header(request, b"x-forwarded-for") or "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _in(hop, trusted):
            return hop if _address(hop) is not None else peer
    return peer


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    # A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; the config names them as IPv4.
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _in(address: str, networks: tuple[Network, ...]) -> bool:
    ip = _address(address)
    return ip is not None and any(ip in net for net in networks)


def bearer(request: Request) -> str | None:
    scheme, _, value = (header(request, b"authorization") or "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def is_server_key(token: str | None, keys: tuple[str, ...]) -> bool:
    if not token:
        return False
    found = False
    for key in keys:
        found |= hmac.compare_digest(token.encode(), key.encode())
    return found


def require_server_key(request: Request, keys: tuple[str, ...] | None = None) -> None:
    if keys is None:
        keys = ctx(request).settings.server.server_keys
    if not is_server_key(bearer(request), keys):
        raise Problem(401, "Server key required", "send Authorization: Bearer <server key>",
                      kind="unauthorized", headers={"WWW-Authenticate": "Bearer"})


@dataclass(frozen=True)
class Caller:
    kind: str        # "server" | "session"
    origin: str      # the embedding origin the caller acts for ("" for server calls)
