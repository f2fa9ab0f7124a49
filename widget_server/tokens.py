"""Signed things: embed sessions, end tokens, callback refs, Daily meeting tokens.

    signer = Signer(["new-key", "old-key"], clock=time.time)   # first signs, all verify
    s = signer.session("support", "https://www.example.com")
    claims = signer.read_session(s)                   # -> SessionClaims or raises BadToken
    jwt = meeting_token("secret", room="c123", domain_id="d1", exp=time.time() + 300)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

import orjson
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner

from widget_server.clock import Clock

SESSION_TTL_S = 15 * 60
END_TOKEN_TTL_S = 6 * 3600


class BadToken(Exception):
    """A token that is malformed, tampered with, expired or for something else."""


@dataclass(frozen=True)
class SessionClaims:
    widget: str
    origin: str
    issued_by: str  # "frame" | "server"


class ClockedSigner(TimestampSigner):
    """itsdangerous' timestamp signer reading the app's clock, so token ages follow it."""

    def __init__(self, *args: Any, clock: Clock = time.time, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clock = clock

    def get_timestamp(self) -> int:
        return int(self.clock())


class _Stamp:
    """Compact JSON, base64url, timestamp, HMAC-SHA256 (itsdangerous format), one derived key per purpose.

    Keys are derived once here rather than on every call, and payloads are not
    zlib-compressed. Signing is done here with prepared HMAC states (its output is
    byte for byte what ``TimestampSigner.sign`` gives, and a test holds it to
    that); verifying is left to itsdangerous.
    """

    def __init__(self, keys: list[str], purpose: str, clock: Clock = time.time) -> None:
        derived = [hmac.new(k.encode(), purpose.encode(), hashlib.sha256).digest() for k in keys]
        # itsdangerous signs with the *last* key and verifies with all of them.
        self._signer = ClockedSigner(list(reversed(derived)), salt=purpose, key_derivation="none",
                                     digest_method=hashlib.sha256, clock=clock)
        self.clock = clock
        # HMAC-SHA256 as RFC 2104 builds it, its two padded key blocks hashed once: copying a SHA-256 state
        # costs a tenth of copying OpenSSL's HMAC context (0.86 against 1.7 us a signature, measured).
        block = derived[0].ljust(hashlib.sha256().block_size, b"\0")  # a derived key is 32 bytes: no hashing
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))
        self._second = -1
        self._stamp = b""

    def dumps(self, value: Any, now: float | None = None) -> str:
        return self.sign(_b64bytes(orjson.dumps(value)), now)

    def sign(self, payload: bytes, now: float | None = None) -> str:
        """Sign an already encoded payload (base64url of compact JSON)."""
        second = int(self.clock() if now is None else now)
        if second != self._second:  # the timestamp part changes once a second
            self._stamp = b"." + _b64bytes(second.to_bytes(8, "big").lstrip(b"\0"))
            self._second = second
        signed = payload + self._stamp
        inner = self._inner.copy()
        inner.update(signed)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return (signed + b"." + _b64bytes(outer.digest())).decode("ascii")

    def loads(self, token: str, max_age: int | None) -> Any:
        if not token or len(token) > 4096:
            raise BadToken("missing or oversized token")
        try:
            payload = self._signer.unsign(token, max_age=max_age)
            return orjson.loads(_unb64(payload.decode("ascii")))
        except SignatureExpired as exc:
            raise BadToken("token expired") from exc
        except (BadSignature, ValueError, UnicodeError) as exc:
            raise BadToken("bad token") from exc


class Signer:
    def __init__(self, keys: list[str] | tuple[str, ...], clock: Clock = time.time) -> None:
        if not keys:
            raise ValueError("at least one secret key is needed")
        ordered = list(keys)
        self.clock = clock
        self._sessions = _Stamp(ordered, "widget-session", clock)
        self._ends = _Stamp(ordered, "end-token", clock)
        self._refs = _Stamp(ordered, "engine-callback", clock)
        self._tickets = _Stamp(ordered, "queue-ticket", clock)
        # This second's session tokens by claims (one encoding and signature per claims and second): signing
        # is most of a mint, and a busy site's pages and back end ask for the same widget and site many times
        # a second.
        self._signed: dict[tuple[str, str, str], str] = {}
        self._signed_second = -1

    def session(self, widget: str, origin: str, issued_by: str = "frame") -> str:
        key = (widget, origin, issued_by)
        second = int(self.clock())
        if second != self._signed_second:  # a token is the same for the same claims within a second
            self._signed.clear()
            self._signed_second = second
        token = self._signed.get(key)
        if token is not None:
            return token
        token = self._sessions.dumps({"w": widget, "o": origin, "i": issued_by}, second)
        if len(self._signed) < 4096:
            self._signed[key] = token
        return token

    def read_session(self, token: str, max_age: int = SESSION_TTL_S) -> SessionClaims:
        data = self._sessions.loads(token, max_age)
        if not isinstance(data, dict):
            raise BadToken("bad session")
        w, o, i = data.get("w"), data.get("o"), data.get("i", "frame")
        if not isinstance(w, str) or not isinstance(o, str) or not isinstance(i, str):
            raise BadToken("bad session")
        return SessionClaims(widget=w, origin=o, issued_by=i)

    def end_token(self, conversation_id: str) -> str:
        return self._ends.dumps({"c": conversation_id})

    def check_end_token(self, token: str, conversation_id: str) -> None:
        data = self._ends.loads(token, END_TOKEN_TTL_S)
        cid = data.get("c") if isinstance(data, dict) else None
        if not isinstance(cid, str) or not hmac.compare_digest(cid.encode(), conversation_id.encode()):
            raise BadToken("end token is for another conversation")

    def queue_ticket(self, widget: str, queue_id: str) -> str:
        """What proves a place in a widget's line (the page sends it back to heartbeat, leave and join)."""
        return self._tickets.dumps({"w": widget, "q": queue_id})

    def check_queue_ticket(self, token: str, widget: str, queue_id: str, max_age: int) -> None:
        data = self._tickets.loads(token, max_age)
        if not isinstance(data, dict) or data.get("w") != widget or not isinstance(data.get("q"), str) \
                or not hmac.compare_digest(str(data["q"]).encode(), queue_id.encode()):
            raise BadToken("the ticket is for another place in line")

    def callback_ref(self, local_id: str) -> str:
        return self._refs.dumps(local_id)

    def read_callback_ref(self, ref: str) -> str:
        value = self._refs.loads(ref, None)
        if not isinstance(value, str):
            raise BadToken("bad callback ref")
        return value


def new_id(prefix: str, nbytes: int = 12) -> str:
    return prefix + secrets.token_hex(nbytes)


# --- Daily meeting tokens: self-signed JWT, HS256 -------------------------------------------

_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _b64bytes(data: bytes) -> bytes:
    """base64url without padding (what ``base64.urlsafe_b64encode(...).rstrip(b"=")`` gives)."""
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=")


def _b64(data: bytes) -> str:
    return _b64bytes(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def meeting_token(
    secret: str,
    *,
    room: str,
    domain_id: str,
    exp: float,
    user_name: str | None = None,
    user_id: str | None = None,
    is_owner: bool = False,
    eject_at_token_exp: bool = True,
    now: float | None = None,
) -> str:
    """A Daily-format meeting token (claims ``r d iat exp u ud o ejt``)."""
    claims: dict[str, Any] = {
        "r": room,
        "d": domain_id,
        "iat": int(now if now is not None else time.time()),
        "exp": int(exp),
    }
    if user_name:
        claims["u"] = user_name
    if user_id:
        claims["ud"] = user_id[:36]
    if is_owner:
        claims["o"] = True
    if eject_at_token_exp:
        claims["ejt"] = True
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    sig = hmac.new(secret.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(sig)}"


def verify_meeting_token(
    token: str, secret: str, *, room: str, domain_id: str, now: float | None = None
) -> dict[str, Any]:
    """Check signature, room, domain and expiry; returns the claims or raises BadToken."""
    try:
        header_b64, body_b64, sig_b64 = token.split(".")
        header = json.loads(_unb64(header_b64))
        claims = json.loads(_unb64(body_b64))
        sig = _unb64(sig_b64)
    except (ValueError, TypeError) as exc:
        raise BadToken("malformed meeting token") from exc
    if not isinstance(header, dict) or header.get("alg") != "HS256" or not isinstance(claims, dict):
        raise BadToken("meeting token must be HS256")
    expected = hmac.new(secret.encode(), f"{header_b64}.{body_b64}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(sig, expected):
        raise BadToken("meeting token signature does not match")
    if claims.get("r") != room:
        raise BadToken("meeting token is for another room")
    if claims.get("d") != domain_id:
        raise BadToken("meeting token is for another domain")
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)) or exp <= (now if now is not None else time.time()):
        raise BadToken("meeting token expired")
    return claims
