"""OpenID Connect sign-in for the console: authorization code with PKCE, the ID token checked with joserfc.

    flow = OidcFlow(clock)
    url, cookie = await flow.start(settings, next_path)          # redirect there; keep ``cookie`` (signed)
    email = await flow.finish(settings, cookie, code, state)      # the verified e-mail, or OidcError

The provider's discovery document and keys are read over HTTP (``{issuer}/.well-known/openid-configuration``)
and kept for ten minutes. The state, nonce and PKCE verifier travel in a signed cookie of their own, valid
ten minutes, so any instance can finish what another started.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

from widget_server.clock import Clock
from widget_server.settings import OidcSettings, Settings
from widget_server.tokens import BadToken, _Stamp

COOKIE = "ws_admin_oidc"
FLOW_TTL_S = 600
CACHE_S = 600.0


class OidcError(Exception):
    """The sign-in did not complete; the message is safe to show (no token, no secret)."""


@dataclass
class _Provider:
    authorize: str
    token: str
    keys: KeySet
    fetched: float


class OidcFlow:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._providers: dict[str, _Provider] = {}
        self._stamp: _Stamp | None = None
        self._keys: tuple[str, ...] = ()

    def _signer(self, settings: Settings) -> _Stamp:
        if self._stamp is None or self._keys != settings.server.secret_keys:
            self._stamp = _Stamp(list(settings.server.secret_keys), "admin-oidc-flow", self.clock)
            self._keys = settings.server.secret_keys
        return self._stamp

    @staticmethod
    def redirect_uri(settings: Settings) -> str:
        return f"{settings.server.public_url}/admin/oidc/callback"

    async def provider(self, oidc: OidcSettings) -> _Provider:
        known = self._providers.get(oidc.issuer)
        if known is not None and time.monotonic() - known.fetched < CACHE_S:
            return known
        try:
            async with httpx.AsyncClient(timeout=10, follow_redirects=False) as client:
                doc = (await client.get(f"{oidc.issuer}/.well-known/openid-configuration")).raise_for_status().json()
                if doc.get("issuer") != oidc.issuer:
                    raise OidcError("the provider's discovery document names another issuer")
                jwks = (await client.get(doc["jwks_uri"])).raise_for_status().json()
            found = _Provider(doc["authorization_endpoint"], doc["token_endpoint"], KeySet.import_key_set(jwks),
                              time.monotonic())
        except (httpx.HTTPError, KeyError, TypeError, ValueError, JoseError) as exc:
            raise OidcError(f"the OpenID provider could not be read ({type(exc).__name__})") from None
        self._providers[oidc.issuer] = found
        return found

    async def start(self, settings: Settings, next_path: str) -> tuple[str, str]:
        """The provider's authorization URL, and the signed cookie value that remembers this attempt."""
        assert settings.admin is not None
        oidc = settings.admin.oidc
        provider = await self.provider(oidc)
        state, nonce, verifier = (secrets.token_urlsafe(24) for _ in range(3))
        query = urlencode({
            "response_type": "code", "client_id": oidc.client_id, "redirect_uri": self.redirect_uri(settings),
            "scope": "openid email", "state": state, "nonce": nonce,
            "code_challenge": create_s256_code_challenge(verifier), "code_challenge_method": "S256"})
        cookie = self._signer(settings).dumps({"s": state, "n": nonce, "v": verifier, "next": next_path})
        sep = "&" if "?" in provider.authorize else "?"
        return f"{provider.authorize}{sep}{query}", cookie

    def remembered(self, settings: Settings, cookie: str | None) -> dict[str, Any]:
        try:
            data = self._signer(settings).loads(cookie or "", FLOW_TTL_S)
        except BadToken:
            raise OidcError("the sign-in took too long or was not started here; start again") from None
        if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in ("s", "n", "v", "next")):
            raise OidcError("the sign-in was not started here; start again")
        return data

    async def finish(self, settings: Settings, cookie: str | None, code: str, state: str) -> tuple[str, str]:
        """The verified e-mail address of the operator, and where to go next."""
        assert settings.admin is not None
        oidc = settings.admin.oidc
        flow = self.remembered(settings, cookie)
        if not state or not hmac.compare_digest(flow["s"].encode(), state.encode("utf-8", "replace")):
            raise OidcError("the sign-in's state does not match; start again")
        provider = await self.provider(oidc)
        try:
            async with httpx.AsyncClient(timeout=10, follow_redirects=False) as client:
                answer = await client.post(provider.token, data={
                    "grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri(settings),
                    "code_verifier": flow["v"]}, auth=(oidc.client_id, oidc.client_secret))
            if answer.status_code != 200:
                raise OidcError(f"the provider refused the code (HTTP {answer.status_code})")
            id_token = answer.json()["id_token"]
            token = jwt.decode(id_token, provider.keys, algorithms=["RS256", "ES256", "PS256", "EdDSA"])
            JWTClaimsRegistry(
                now=int(self.clock()), leeway=60, iss={"essential": True, "value": oidc.issuer},
                aud={"essential": True, "value": oidc.client_id}, nonce={"essential": True, "value": flow["n"]},
                exp={"essential": True}, sub={"essential": True},
            ).validate(token.claims)
        except OidcError:
            raise
        except (httpx.HTTPError, KeyError, TypeError, ValueError, JoseError) as exc:
            raise OidcError(f"the provider's answer did not verify ({type(exc).__name__})") from None
        email = token.claims.get("email")
        if not isinstance(email, str) or token.claims.get("email_verified") is False:
            raise OidcError("the provider gave no verified e-mail address")
        if not oidc.allows(email):
            raise OidcError(f"{email[:200]} is not in admin.oidc.allowed_emails")
        return email, str(flow["next"])
