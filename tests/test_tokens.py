"""Sessions, end tokens, callback refs and meeting tokens: tampering, expiry, misuse and rotation refused."""

from __future__ import annotations

import time

import pytest

from widget_server.tokens import BadToken, Signer, meeting_token, verify_meeting_token

KEY, OLD = "k" * 32, "o" * 32


def _flip(token: str, at: int) -> str:
    ch = token[at]
    return token[:at] + ("A" if ch != "A" else "B") + token[at + 1:]


def test_session_round_trip_and_rotation() -> None:
    token = Signer([OLD]).session("support", "https://www.example.com")
    rotated = Signer([KEY, OLD])
    claims = rotated.read_session(token)
    assert (claims.widget, claims.origin) == ("support", "https://www.example.com")
    assert Signer([KEY]).read_session(rotated.session("a", "b")).widget == "a"  # the first key signs
    with pytest.raises(BadToken):
        Signer([KEY]).read_session(token)  # the old key retired


@pytest.mark.parametrize("position", [0, 5, 20, -3, -1])
def test_tampered_tokens_are_refused(position: int) -> None:
    signer = Signer([KEY])
    token = signer.session("support", "https://www.example.com")
    with pytest.raises(BadToken):
        signer.read_session(_flip(token, position))
    end = signer.end_token("c123")
    with pytest.raises(BadToken):
        signer.check_end_token(_flip(end, position), "c123")


def test_expired_session_is_refused() -> None:
    signer = Signer([KEY])
    token = signer.session("support", "o")
    time.sleep(1.1)
    with pytest.raises(BadToken, match="expired"):
        signer.read_session(token, max_age=0)


def test_tokens_are_not_interchangeable() -> None:
    signer = Signer([KEY])
    session = signer.session("support", "o")
    end = signer.end_token("c123")
    ref = signer.callback_ref("l_1")
    with pytest.raises(BadToken):
        signer.check_end_token(session, "c123")
    with pytest.raises(BadToken):
        signer.read_session(end)
    with pytest.raises(BadToken):
        signer.read_callback_ref(session)
    with pytest.raises(BadToken):
        signer.check_end_token(end, "c124")
    assert signer.read_callback_ref(ref) == "l_1"
    for garbage in ("", "x" * 5000, "a.b.c", "...."):
        with pytest.raises(BadToken):
            signer.read_session(garbage)


def test_meeting_token_is_daily_format_and_verified() -> None:
    now = time.time()
    token = meeting_token("s3cret", room="c1", domain_id="d1", exp=now + 60, user_name="Ada", user_id="u" * 50)
    claims = verify_meeting_token(token, "s3cret", room="c1", domain_id="d1")
    assert claims["r"] == "c1" and claims["d"] == "d1" and claims["u"] == "Ada" and len(claims["ud"]) == 36
    assert claims["exp"] == int(now + 60) and claims["ejt"] is True
    for bad in (dict(secret="other", room="c1", domain_id="d1"), dict(secret="s3cret", room="c2", domain_id="d1"),
                dict(secret="s3cret", room="c1", domain_id="d2")):
        with pytest.raises(BadToken):
            verify_meeting_token(token, bad["secret"], room=bad["room"], domain_id=bad["domain_id"])
    with pytest.raises(BadToken, match="expired"):
        verify_meeting_token(token, "s3cret", room="c1", domain_id="d1", now=now + 61)
    with pytest.raises(BadToken):
        verify_meeting_token(_flip(token, len(token) // 2), "s3cret", room="c1", domain_id="d1")
