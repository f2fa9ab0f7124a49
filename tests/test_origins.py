"""The origin matcher: exact scheme/host/port, subdomain wildcards, and the usual tricks refused."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from widget_server.origins import origin_allowed, parse_origin, parse_origin_pattern

label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
host = st.lists(label, min_size=1, max_size=4).map(".".join)
scheme = st.sampled_from(["http", "https"])
port = st.one_of(st.none(), st.integers(1, 65535))


def origin_text(s: str, h: str, p: int | None) -> str:
    return f"{s}://{h}" + (f":{p}" if p is not None else "")


@settings(max_examples=300, deadline=None)
@given(scheme, host, port, scheme, host, port)
def test_exact_pattern_matches_only_the_same_origin(s1: str, h1: str, p1: int | None, s2: str, h2: str,
                                                     p2: int | None) -> None:
    pattern = parse_origin_pattern(origin_text(s1, h1, p1))
    default = {"http": 80, "https": 443}
    same = s1 == s2 and h1 == h2 and (p1 or default[s1]) == (p2 or default[s2])
    assert pattern.matches(origin_text(s2, h2, p2)) == same


registrable = host.map(lambda h: h + ".example.com")  # a wildcard over a public suffix is refused


@settings(max_examples=300, deadline=None)
@given(scheme, registrable, host, port)
def test_wildcard_matches_subdomains_only(s: str, base: str, sub: str, p: int | None) -> None:
    pattern = parse_origin_pattern(origin_text(s, "*." + base, p))
    assert pattern.matches(origin_text(s, f"{sub}.{base}", p))
    assert not pattern.matches(origin_text(s, base, p))
    assert not pattern.matches(origin_text(s, f"{sub}{base}", p)) or f"{sub}{base}".endswith("." + base)
    assert not pattern.matches(origin_text(s, f"{base}.{sub}", p)) or f"{base}.{sub}".endswith("." + base)
    other = "https" if s == "http" else "http"
    assert not pattern.matches(origin_text(other, f"{sub}.{base}", p))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_arbitrary_text_never_crashes_and_is_rarely_an_origin(text: str) -> None:
    parsed = parse_origin(text)
    if parsed is not None:
        assert parsed.scheme in ("http", "https") and parsed.host


HOSTILE = [
    "null", "", "https://www.example.com.evil.test", "https://evilwww.example.com", "https://www.example.com@evil.test",
    "https://evil.test#@www.example.com", "https://user:pw@www.example.com", "http://www.example.com",
    "https://www.example.com:444", "https://www.example.com/path", "https://www.example.com?x",
    "javascript://www.example.com", "file:///etc/passwd", "https://example.com", "https://www.example.co",
    "https://xn--www-example.com", "https://www.example.com\x00.evil.test", "https://*.example.com",
    "https://[::1]", "https://127.0.0.1", "data:text/html,hi", "https://www.example.com:0",
    "https://www.example.com:99999",
]


@pytest.mark.parametrize("origin", HOSTILE)
def test_hostile_origins_are_refused(origin: str) -> None:
    patterns = (parse_origin_pattern("https://www.example.com"), parse_origin_pattern("https://*.shop.example.com"))
    assert not origin_allowed(origin, patterns, "https://widgets.example.net")


@pytest.mark.parametrize("origin", ["https://WWW.Example.COM", "https://www.example.com.", "https://www.example.com:443",
                                    "https://a.shop.example.com", "https://widgets.example.net"])
def test_normalised_forms_are_accepted(origin: str) -> None:
    patterns = (parse_origin_pattern("https://www.example.com"), parse_origin_pattern("https://*.shop.example.com"))
    assert origin_allowed(origin, patterns, "https://widgets.example.net")


@pytest.mark.parametrize(("pattern", "origin"), [
    ("https://*.example.co.uk", "https://shop.example.co.uk"),
    ("https://*.example.github.io", "https://a.example.github.io"),
    ("http://*.localhost:3000", "http://shop.localhost:3000"),  # loopback only, whatever the label
])
def test_wildcards_over_a_registrable_domain_are_accepted(pattern: str, origin: str) -> None:
    assert parse_origin_pattern(pattern).matches(origin)


@pytest.mark.parametrize("pattern", ["https://*.com", "https://*.co.uk", "https://*.uk", "https://*.github.io",
                                     "https://*.CO.UK.", "https://*.internal", "http://*.xn--p1ai"])
def test_wildcards_over_a_public_suffix_are_refused(pattern: str) -> None:
    with pytest.raises(ValueError, match="public suffix"):
        parse_origin_pattern(pattern)


def test_idn_hosts_are_compared_in_punycode() -> None:
    pattern = parse_origin_pattern("https://bücher.example")
    assert pattern.matches("https://xn--bcher-kva.example")


@pytest.mark.parametrize("bad", ["example.com", "https://*example.com", "https://a.*.example.com",
                                 "https://www.example.com/path", "ftp://x", "https://u@x.com"])
def test_bad_patterns_are_config_errors(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_origin_pattern(bad)


def test_parsed_origins_are_kept_but_not_oversized_ones() -> None:
    from widget_server.origins import _parse_origin

    _parse_origin.cache_clear()
    for i in range(50):
        assert parse_origin(f"https://s{i}.example.com" + "x" * 400) is None  # refused before the cache
    assert _parse_origin.cache_info().currsize == 0
    assert parse_origin("https://shop.example.com") == parse_origin("https://shop.example.com")
    assert _parse_origin.cache_info().hits == 1
