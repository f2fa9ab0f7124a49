"""A small OpenID provider for the console's sign-in tests, served on loopback by the test that needs it.

    provider = OpenIdProvider(client_id="console", client_secret="...", redirect_uri=".../admin/oidc/callback")
    with serve_app(provider.app()) as url:          # tests.servers
        provider.issuer = url
        provider.email = "ada@example.com"        # who is "signed in" at the provider (it asks nothing)

It does what a real provider does for the authorization code flow with PKCE: a discovery document, a JWKS,
``/authorize`` (client id and redirect URI checked, a single-use code bound to the PKCE challenge and nonce)
and ``/token`` (client authentication, the code, the verifier), answering an RS256-signed ID token.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route


@dataclass
class OpenIdProvider:
    client_id: str
    client_secret: str
    redirect_uri: str
    issuer: str = ""
    email: str = "ada@example.com"
    email_verified: bool = True
    key: Any = field(default_factory=lambda: RSAKey.generate_key(2048, {"kid": "test-key"}, private=True))
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    tokens_issued: int = 0

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/.well-known/openid-configuration", self.discovery),
            Route("/jwks", self.jwks),
            Route("/authorize", self.authorize),
            Route("/token", self.token, methods=["POST"]),
        ])

    async def discovery(self, request: Request) -> Response:
        return JSONResponse({
            "issuer": self.issuer, "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token", "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"], "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"], "code_challenge_methods_supported": ["S256"]})

    async def jwks(self, request: Request) -> Response:
        return JSONResponse({"keys": [self.key.as_dict(private=False)]})

    async def authorize(self, request: Request) -> Response:
        q = request.query_params
        if q.get("client_id") != self.client_id or q.get("redirect_uri") != self.redirect_uri:
            return JSONResponse({"error": "invalid_client"}, status_code=400)
        if q.get("response_type") != "code" or q.get("code_challenge_method") != "S256":
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        code = secrets.token_urlsafe(16)
        self.codes[code] = {"challenge": q.get("code_challenge", ""), "nonce": q.get("nonce", "")}
        return RedirectResponse(f"{self.redirect_uri}?{urlencode({'code': code, 'state': q.get('state', '')})}",
                                status_code=302)

    async def token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        auth = request.headers.get("authorization", "")
        expected = "Basic " + base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if auth != expected:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        grant = self.codes.pop(str(form.get("code", "")), None)  # single use
        verifier = str(form.get("code_verifier", ""))
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if grant is None or grant["challenge"] != challenge or form.get("redirect_uri") != self.redirect_uri:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": "user-1", "aud": self.client_id, "iat": now, "exp": now + 300,
                  "nonce": grant["nonce"], "email": self.email, "email_verified": self.email_verified}
        self.tokens_issued += 1
        return JSONResponse({"access_token": secrets.token_urlsafe(16), "token_type": "Bearer", "expires_in": 300,
                             "id_token": jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, self.key)})
