"""Security headers, CSP of the frame page, and X-Forwarded-For handling."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import HOST_ORIGIN, AppClient
from widget_server import i18n
from widget_server.settings import Settings

pytestmark = pytest.mark.anyio


async def test_frame_page_csp_and_headers(client: AppClient) -> None:
    r = await client.get(f"/w/support?origin={HOST_ORIGIN}")
    assert r.status_code == 200
    csp = dict(part.strip().split(" ", 1) for part in r.headers["content-security-policy"].split(";"))
    assert csp["frame-ancestors"].split() == ["'self'", HOST_ORIGIN, "https://*.example.org"]
    assert "'nonce-" in csp["script-src"] and "unsafe-eval" not in csp["script-src"]
    assert "unsafe-inline" not in csp["script-src"] and "unsafe-inline" not in csp["style-src"]
    assert csp["base-uri"] == "'none'" and csp["form-action"] == "'none'"
    nonce = csp["script-src"].split("'nonce-")[1].split("'")[0]
    assert f'nonce="{nonce}"' in r.text
    assert r.headers["cache-control"] == "no-store"  # the page carries a session
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "camera=(self)" in r.headers["permissions-policy"]
    assert "strict-transport-security" not in r.headers  # http public_url


async def test_frame_refused_for_foreign_origin(client: AppClient) -> None:
    r = await client.get("/w/support?origin=https://evil.test")
    assert r.status_code == 403
    assert "cvi-boot" not in r.text and '"session"' not in r.text
    ok = await client.get(f"/w/support?origin={HOST_ORIGIN}")
    assert "cvi-boot" in ok.text and '"session"' in ok.text  # the same checks do see a session when there is one


async def test_the_refusal_page_speaks_the_visitors_language(
        client_for: Callable[[Settings], Any], make_settings: Callable[..., Settings]) -> None:
    """The browser's language (Accept-Language, by q), right to left for Arabic, the widget's ui_language first."""
    client = await client_for(make_settings({"widgets": {"support": {"language": "multilingual"}}}))
    refused = "/w/support?origin=https://evil.test"
    r = await client.get(refused, headers={"Accept-Language": "xx, es-MX;q=0.8, de;q=0.9"})
    assert r.status_code == 403 and '<html lang="de" dir="ltr">' in r.text
    assert "Dieses Gesprächs-Widget ist für diese Website nicht freigeschaltet." in r.text
    r = await client.get("/w/support?origin=https://evil.test", headers={"Accept-Language": "ar-EG"})
    assert '<html lang="ar" dir="rtl">' in r.text and "غير متاح هنا" in r.text
    r = await client.get("/w/support?origin=https://evil.test", headers={"Accept-Language": "xx, de;q=0"})
    assert '<html lang="en" dir="ltr">' in r.text and "Not available here" in r.text
    fixed = await client_for(make_settings({"widgets": {"support": {
        "ui_language": "fr", "texts": {"refusal_page_text": "Pas ici, désolé."}}}}))
    r = await fixed.get("/w/support?origin=https://evil.test", headers={"Accept-Language": "de"})
    assert '<html lang="fr" dir="ltr">' in r.text and "Indisponible ici" in r.text and "Pas ici, désolé." in r.text


def test_accept_language_is_ranked_by_q() -> None:
    assert i18n.accepted("fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5") == ["fr", "fr", "en", "de"]
    assert i18n.accepted("en;q=0.1, ja") == ["ja", "en"]
    assert i18n.accepted("de;q=bad, pt;q=0, it") == ["it"]
    assert i18n.choose("auto", "spanish", "de") == "es"  # the conversation's language before the browser's
    assert i18n.choose("auto", "multilingual", "ja, de") == "ja"


async def test_nonce_differs_per_page(client: AppClient) -> None:
    a = (await client.get("/w/support")).headers["content-security-policy"]
    b = (await client.get("/w/support")).headers["content-security-policy"]
    assert a != b


async def test_api_answers_cannot_be_framed_and_hsts_on_https(client_for: Callable[[Settings], Any],
                                                              make_settings: Callable[..., Settings]) -> None:
    client = await client_for(make_settings({"server": {"public_url": "https://widgets.example.com"}}))
    r = await client.get("/healthz")
    assert r.headers["content-security-policy"] == "frame-ancestors 'none'"
    assert r.headers["strict-transport-security"].startswith("max-age=")
    assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    r = await client.get("/api/conversations/c_none")  # the JSON API: OWASP's set for API answers
    assert r.headers["content-security-policy"] == "frame-ancestors 'none'"
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["cache-control"] == "no-store"
    assert r.headers["strict-transport-security"].startswith("max-age=") and "referrer-policy" not in r.headers


async def test_tokens_are_never_cached(client: AppClient) -> None:
    r = await client.create()
    assert r.headers["cache-control"] == "no-store"
    r = await client.post("/api/widgets/support/conversations")  # problems too
    assert r.headers["cache-control"] == "no-store"


async def test_forwarded_for_ignored_from_untrusted_peer(client_for: Callable[[Settings], Any],
                                                         make_settings: Callable[..., Settings]) -> None:
    client = await client_for(make_settings({"widgets": {"support": {"limits": {"per_ip_per_hour": 1}}}}))
    assert (await client.create(**{"X-Forwarded-For": "198.51.100.1"})).status_code == 201
    # A new spoofed address does not buy a new quota: the socket peer is the client.
    assert (await client.create(**{"X-Forwarded-For": "198.51.100.2"})).status_code == 429


async def test_forwarded_for_believed_from_trusted_proxy(client_for: Callable[[Settings], Any],
                                                         make_settings: Callable[..., Settings]) -> None:
    client = await client_for(make_settings({
        "server": {"trusted_proxies": ["203.0.113.0/24"]},
        "widgets": {"support": {"limits": {"per_ip_per_hour": 1, "max_concurrent": 10}}}}))
    assert (await client.create(**{"X-Forwarded-For": "198.51.100.1"})).status_code == 201
    assert (await client.create(**{"X-Forwarded-For": "198.51.100.2"})).status_code == 201
    assert (await client.create(**{"X-Forwarded-For": "198.51.100.2"})).status_code == 429
    # A visitor prepending a fake hop cannot choose its address: the last untrusted hop counts.
    assert (await client.create(**{"X-Forwarded-For": "10.9.9.9, 198.51.100.2"})).status_code == 429


@pytest.mark.parametrize(("trusted", "peer"), [
    ("203.0.113.7", "203.0.113.7"),           # one address, no prefix length
    ("203.0.113.9/24", "203.0.113.7"),        # host bits set: the network they name
    ("203.0.113.0/24", "::ffff:203.0.113.7"),  # an IPv4 peer seen through a dual-stack socket
    ("2001:db8::/32", "2001:db8::7"),
])
async def test_trusted_proxies_are_addresses_or_ranges(client_for: Callable[..., Any],
                                                        make_settings: Callable[..., Settings], trusted: str,
                                                        peer: str) -> None:
    settings = make_settings({"server": {"trusted_proxies": [trusted]},
                              "widgets": {"support": {"limits": {"per_ip_per_hour": 1, "max_concurrent": 10}}}})
    client = await client_for(settings, peer=peer)
    assert (await client.create(**{"X-Forwarded-For": "198.51.100.1"})).status_code == 201
    assert (await client.create(**{"X-Forwarded-For": "198.51.100.2"})).status_code == 201
    assert (await client.create(**{"X-Forwarded-For": "198.51.100.2"})).status_code == 429
