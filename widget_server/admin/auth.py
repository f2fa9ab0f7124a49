"""Operators signing in: argon2id passwords, signed session cookies, CSRF tokens, login limits.

    auth = AdminAuth(clock)
    hashed = hash_password("correct horse")                     # what `widget-server hash-password` prints
    cookie = auth.issue(settings, "ada")                        # the value of the ``ws_admin`` cookie
    operator = auth.read(settings, cookie)                      # Operator | None (expired, tampered, unknown)
    auth.check_csrf(settings, operator.sid, token)              # form field ``csrf`` or header X-CSRF-Token

A session is a signed cookie: ``{u, sid, iat, seen}``. It ends ``idle_timeout_s`` after ``seen`` (refreshed at
most once a minute, by re-issuing the cookie) and ``session_max_s`` after ``iat`` whatever happens. Signing
out revokes it in the live store, which every instance asks on each console request: the session's id
(``revocation_keys``), or, signing out everywhere, the operator's name with the moment (every session of
theirs issued until then). Each revocation is forgotten once what it revoked has expired anyway.

    await auth.revoke(store, settings, operator, everywhere=False)
    await auth.revoked(store, operator)                          # True: answer as if not signed in
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from widget_server.admin.oidc import OidcFlow
from widget_server.clock import Clock
from widget_server.settings import AdminSettings, Settings
from widget_server.store import Store
from widget_server.tokens import BadToken, _Stamp

COOKIE = "ws_admin"
LOGIN_COOKIE = "ws_admin_login"   # the login form's own CSRF nonce (a login form is a state change too)
REFRESH_S = 60.0
_HASHER = PasswordHasher()  # argon2id, the library's RFC 9106 "low memory" profile
# verified against when the account does not exist, so an unknown name costs what a known one does
_DUMMY = _HASHER.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def _verify(hashed: str, password: str) -> bool:
    try:
        return _HASHER.verify(hashed, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class Operator:
    """Who is calling the console: a signed-in operator (``via="session"``) or a server key."""

    name: str
    via: str              # session | server_key
    sid: str = ""
    issued_at: float = 0.0
    seen: float = 0.0
    method: str = "password"  # how the session signed in: password | oidc

    @property
    def actor(self) -> str:
        """What the audit log names: ``admin:<name>`` or ``server_key``."""
        return f"admin:{self.name}" if self.via == "session" else "server_key"


class AdminAuth:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.oidc = OidcFlow(clock)
        self._keys: tuple[str, ...] = ()
        self._stamp: _Stamp | None = None
        self._csrf_key = b""

    def _for(self, settings: Settings) -> _Stamp:
        keys = settings.server.secret_keys
        if keys != self._keys or self._stamp is None:  # a reload may rotate the keys
            self._stamp = _Stamp(list(keys), "admin-session", self.clock)
            self._csrf_key = hmac.new(keys[0].encode(), b"admin-csrf", hashlib.sha256).digest()
            self._keys = keys
        return self._stamp

    async def verify(self, admin: AdminSettings, name: str, password: str) -> bool:
        """The password against the account's hash (in a worker thread: argon2 takes tens of ms)."""
        user = admin.user(name)
        ok = await asyncio.to_thread(_verify, user.password_hash if user else _DUMMY, password)
        return ok and user is not None

    def issue(self, settings: Settings, name: str, *, method: str = "password", sid: str | None = None,
              issued_at: float | None = None) -> str:
        now = self.clock()
        payload = {"u": name, "m": method, "sid": sid or secrets.token_urlsafe(16), "iat": issued_at or now,
                   "seen": now}
        return self._for(settings).dumps(payload)

    def read(self, settings: Settings, token: str | None) -> Operator | None:
        admin = settings.admin
        if admin is None or not token:
            return None
        try:
            data = self._for(settings).loads(token, int(admin.session_max_s) + 1)
        except BadToken:
            return None
        if not isinstance(data, dict):
            return None
        name, sid, iat, seen = data.get("u"), data.get("sid"), data.get("iat"), data.get("seen")
        method = data.get("m", "password")
        if not (isinstance(name, str) and isinstance(sid, str) and isinstance(iat, (int, float))
                and isinstance(seen, (int, float)) and method in ("password", "oidc")):
            return None
        now = self.clock()
        if not admin.allows(name, method) or now - iat > admin.session_max_s or now - seen > admin.idle_timeout_s:
            return None
        return Operator(name, "session", sid, float(iat), float(seen), method)

    def refreshed(self, settings: Settings, operator: Operator) -> str | None:
        """A new cookie value when the session's ``seen`` is over a minute old (the idle clock restarts)."""
        if operator.via != "session" or self.clock() - operator.seen < REFRESH_S:
            return None
        return self.issue(settings, operator.name, method=operator.method, sid=operator.sid,
                          issued_at=operator.issued_at)

    async def revoke(self, store: Store, settings: Settings, operator: Operator, *, everywhere: bool = False) -> None:
        """This session (and with ``everywhere`` every session of the operator issued until now) ends here."""
        admin = settings.admin
        assert admin is not None and operator.via == "session"
        now = self.clock()
        by_session, by_operator = revocation_keys(operator)
        # kept as long as a session can last (a reload may lengthen session_max_s: a margin of a day)
        await store.revoke(by_session, now, operator.issued_at + admin.session_max_s + 86400, now)
        if everywhere:
            await store.revoke(by_operator, now, now + admin.session_max_s + 86400, now)

    async def revoked(self, store: Store, operator: Operator) -> bool:
        by_session, by_operator = revocation_keys(operator)
        found = await store.revocations([by_session, by_operator], self.clock())
        return by_session in found or found.get(by_operator, float("-inf")) >= operator.issued_at

    def csrf(self, settings: Settings, sid: str) -> str:
        self._for(settings)
        return hmac.new(self._csrf_key, sid.encode(), hashlib.sha256).hexdigest()[:32]

    def check_csrf(self, settings: Settings, sid: str, token: str | None) -> bool:
        return bool(token) and bool(sid) and hmac.compare_digest(self.csrf(settings, sid).encode(),
                                                                 (token or "").encode("utf-8", "replace"))


def revocation_keys(operator: Operator) -> tuple[str, str]:
    """The live store's keys that end a session: its own id, and its operator's (signing out everywhere)."""
    digest = hashlib.sha256(operator.name.encode()).hexdigest()[:24]
    return f"admin-session:{operator.sid}", f"admin-operator:{digest}"


def login_limit_keys(ip: str, name: str) -> tuple[str, str]:
    """The store's rate-window keys of a login attempt: its client address and the account name tried."""
    digest = hashlib.sha256(name.lower().encode()).hexdigest()[:24]
    return f"admin-login-ip:{ip}", f"admin-login-user:{digest}"
