"""What a conversation's room is, and the server's seat in it: the part of an engine that pages and live/ ask.

    room = daily_room("https://tavus.daily.co/c123", token)      # Daily's documented URL form
    room.page()        # {"client": "daily", "prebuilt": True}: the adapter the frame page loads
    seat = engine.seat(room, sink)                               # a Seat: join, send, close
    await seat.join()

A room says what it is: which client the page loads (``static/call/{client}-room.js``),
whether Daily Prebuilt is there, how the server takes a seat (``daily``: daily-python;
``socket``: the room's own WebSocket; ``in-process``), whether that seat is taken at
creation (it costs nothing), and the CSP sources a page needs to join it. A Daily room is
known by its URL; any other room must describe itself (the sandbox's room descriptor).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

DAILY_CSP: dict[str, tuple[str, ...]] = {
    # A daily-js call object loads its call machine from Daily's CDN at join time.
    "script-src": ("https://c.daily.co",),
    "connect-src": ("https://*.daily.co", "wss://*.daily.co"),
    "frame-src": ("https://*.daily.co",),
}
SEATS = ("daily", "socket", "in-process")


@dataclass(frozen=True)
class RoomEvent:
    """One thing a seat saw: ``app-message`` {data, from}, ``participant-joined``
    {participant: {user_id, user_name, session_id}}, ``error`` {message} or ``left`` {reason}."""

    kind: str
    data: dict[str, Any] = field(default_factory=dict)


Sink = Callable[[RoomEvent], None]


class SeatError(Exception):
    """The server could not get into (or talk in) the room."""


class RoomGone(SeatError):
    """The room is closed: the conversation has ended."""


class Seat(Protocol):
    """The server as a participant; ``sink(RoomEvent)`` runs on the event loop, a ``left`` comes last."""

    async def join(self) -> None: ...

    async def send(self, message: dict[str, Any]) -> None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class Room:
    url: str
    token: str | None = None
    client: str = "daily"
    prebuilt: bool = True
    seat: str = "daily"
    join_at_creation: bool = False
    socket: str | None = None
    csp: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: dict(DAILY_CSP))

    def page(self) -> dict[str, Any]:
        """What the frame page is told: the room adapter it loads and whether Prebuilt exists."""
        return {"client": self.client, "prebuilt": self.prebuilt}

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "token": self.token, "client": self.client, "prebuilt": self.prebuilt,
                "seat": self.seat, "join_at_creation": self.join_at_creation, "socket": self.socket,
                "csp": {k: list(v) for k, v in self.csp.items()}}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Room:
        """Read :meth:`to_json` back; raises ValueError on anything else."""
        url, client, seat = doc.get("url"), doc.get("client"), doc.get("seat")
        if not isinstance(url, str) or not isinstance(client, str) or seat not in SEATS:
            raise ValueError("not a room")
        token, socket = doc.get("token"), doc.get("socket")
        return cls(url=url, token=token if isinstance(token, str) else None, client=client,
                   prebuilt=doc.get("prebuilt") is True, seat=str(seat),
                   join_at_creation=doc.get("join_at_creation") is True,
                   socket=socket if isinstance(socket, str) else None, csp=_csp(doc.get("csp")))


def is_daily_room(url: str) -> bool:
    """``https://<domain>.daily.co/<room>``, Daily's documented room URL."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    path = parts.path.strip("/")
    return (parts.scheme == "https" and host.endswith(".daily.co") and host.count(".") == 2
            and bool(path) and "/" not in path)


def daily_room(url: str, token: str | None) -> Room:
    return Room(url=url, token=token)


def described_room(url: str, token: str | None, descriptor: Any) -> Room | None:
    """A room from its own descriptor (``GET <conversation_url>`` as JSON); None if it says nothing usable.

    The descriptor names its page client and server seat (``client``, ``seat``), the socket of a
    ``socket`` seat, whether a seat is free (``seat_is_free``) and the CSP sources a page needs.
    """
    if not isinstance(descriptor, Mapping):
        return None
    client, seat, socket = descriptor.get("client"), descriptor.get("seat"), descriptor.get("socket")
    if not isinstance(client, str) or not client.replace("-", "").isalnum() or seat not in SEATS:
        return None
    if seat == "socket" and not (isinstance(socket, str) and urlsplit(socket).scheme in ("ws", "wss")):
        return None
    return Room(url=url, token=token, client=client, prebuilt=descriptor.get("prebuilt") is True,
                seat=str(seat), join_at_creation=descriptor.get("seat_is_free") is True,
                socket=socket if isinstance(socket, str) else None, csp=_csp(descriptor.get("csp")))


def merge_csp(*sources: Mapping[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for mapping in sources:
        for directive, values in mapping.items():
            out[directive] = tuple(dict.fromkeys((*out.get(directive, ()), *values)))
    return out


def origin_sources(url: str) -> dict[str, tuple[str, ...]]:
    """The http(s) and ws(s) forms of a URL's origin, for a room served from there."""
    parts = urlsplit(url)
    if not parts.netloc:
        return {}
    secure = parts.scheme in ("https", "wss")
    return {"connect-src": (f"{'https' if secure else 'http'}://{parts.netloc}",
                            f"{'wss' if secure else 'ws'}://{parts.netloc}")}


def _csp(raw: Any) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    if isinstance(raw, Mapping):
        for directive, values in raw.items():
            if (directive in ("script-src", "connect-src", "frame-src", "img-src", "media-src")
                    and isinstance(values, list | tuple)):
                out[directive] = tuple(v for v in values if isinstance(v, str) and _source_ok(v))
    return out


def _source_ok(value: str) -> bool:
    # Host sources only: a descriptor must not widen a page's policy with keywords or wildcards of schemes.
    parts = urlsplit(value)
    return parts.scheme in ("http", "https", "ws", "wss") and bool(parts.netloc) and not any(
        c in value for c in " ;,'\"")
