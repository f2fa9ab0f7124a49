"""The operator's console (``[admin]``): its accounts, its sessions and its login limits.

    [admin]
    users = [{name = "ada", password_hash = "$argon2id$v=19$m=65536,t=3,p=4$..."}]   # widget-server hash-password

No ``[admin]`` table: the console is off (its routes answer 404).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from widget_server.config_registry import Reader, integer, number, string, strings, table
from widget_server.settings.forms import url_or_empty

USER_NAME = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")


@dataclass(frozen=True)
class AdminUser:
    name: str
    password_hash: str  # argon2id, PHC string form


@dataclass(frozen=True)
class OidcSettings:
    """OpenID Connect sign-in (authorization code with PKCE); on when ``issuer`` is set."""

    issuer: str = string("", "the OpenID provider's issuer URL (its discovery document is read)", parse=url_or_empty)
    client_id: str = string("", "this console's client id at the provider", max_len=200)
    client_secret: str = string("", "its client secret", max_len=500, secret=True)
    allowed_emails: tuple[str, ...] = strings((), "verified e-mail addresses that may sign in")
    label: str = string("Sign in with SSO", "the sign-in button's text", max_len=60)

    @property
    def enabled(self) -> bool:
        return bool(self.issuer)

    def allows(self, email: str) -> bool:
        return self.enabled and email.lower() in (e.lower() for e in self.allowed_emails)


@dataclass(frozen=True)
class AdminSettings:
    users: tuple[AdminUser, ...] = ()
    idle_timeout_s: float = number(1800.0, 60, 86_400, "seconds without a request before a session ends")
    session_max_s: float = number(43_200.0, 300, 604_800, "seconds after login a session ends whatever happens")
    login_window_s: int = integer(900, 10, 86_400, "the window the login limits count in, in seconds")
    login_per_ip: int = integer(10, 1, 10_000, "login attempts per client address per window")
    login_per_user: int = integer(5, 1, 10_000, "login attempts per account name per window")
    oidc: OidcSettings = table(OidcSettings, "OpenID Connect sign-in for teams")

    def user(self, name: str) -> AdminUser | None:
        return next((u for u in self.users if u.name == name), None)

    def allows(self, name: str, method: str) -> bool:
        """Whether a session of ``name`` signed in by ``method`` (password | oidc) is still an operator's."""
        return self.user(name) is not None if method == "password" else self.oidc.allows(name)


def read_admin(r: Reader, raw: dict[str, Any]) -> AdminSettings | None:
    if "admin" not in raw:
        return None
    admin_raw = r.table(raw, "", "admin")
    users_raw = admin_raw.get("users", [])
    values = r.read(AdminSettings, {k: v for k, v in admin_raw.items() if k != "users"}, "admin")
    oidc: OidcSettings = values["oidc"]
    if oidc.enabled:
        for key, value in (("client_id", oidc.client_id), ("client_secret", oidc.client_secret),
                           ("allowed_emails", oidc.allowed_emails)):
            if not value:
                r.problems.append(f"admin.oidc.{key}: required when admin.oidc.issuer is set, got nothing")
    users: list[AdminUser] = []
    if not isinstance(users_raw, list) or (not users_raw and not oidc.enabled):
        r.problems.append('admin.users: at least one operator is needed, e.g. users = [{name = "ada", '
                          'password_hash = "..."}] (make the hash with `widget-server hash-password`)')
        users_raw = []
    for i, item in enumerate(users_raw):
        at = f"admin.users[{i}]"
        if not isinstance(item, dict):
            r.fail(at, "must be a table {name, password_hash}", item)
            continue
        r.unknown(item, at, {"name", "password_hash"})
        name = r.expand(item.get("name"), f"{at}.name")
        hashed = r.expand(item.get("password_hash"), f"{at}.password_hash")
        if not isinstance(name, str) or not USER_NAME.match(name):
            r.fail(f"{at}.name", "must match [A-Za-z0-9._@-]{1,64}", name)
            continue
        if any(u.name == name for u in users):
            r.fail(f"{at}.name", "must be unique", name)
            continue
        if not isinstance(hashed, str) or not hashed.startswith("$argon2id$"):
            r.fail(f"{at}.password_hash", "must be an argon2id hash from `widget-server hash-password`",
                   hashed, secret=True)
            continue
        users.append(AdminUser(name, hashed))
    return AdminSettings(users=tuple(users), **values)
