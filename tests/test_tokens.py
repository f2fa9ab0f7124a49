"""Sessions, end tokens, callback refs and meeting tokens: tampering, expiry, misuse and rotation refused."""

from __future__ import annotations

import hashlib
import time

import pytest
from itsdangerous import TimestampSigner

from tests.conftest import FakeClock
from widget_server.tokens import SESSION_TTL_S, BadToken, Signer, _Stamp, meeting_token, verify_meeting_token

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


def test_expired_session_is_refused(clock: FakeClock) -> None:
    signer = Signer([KEY], clock)
    token = signer.session("support", "o")
    clock.advance(1.1)
    with pytest.raises(BadToken, match="expired"):
        signer.read_session(token, max_age=0)


def test_a_session_token_is_kept_for_its_second_only() -> None:
    """Tokens kept for the second they were signed in are what a signer that keeps none would sign."""
    clock = FakeClock(1_790_000_000.5)
    signer = Signer([KEY], clock)

    def fresh() -> Signer:
        return Signer([KEY], clock)

    seen = []
    for step in (0.0, 0.3, 0.69, 0.02, 1.0, 0.5):
        clock.advance(step)
        for claims in (("support", "https://a.example"), ("support", "https://b.example"), ("other", "o")):
            token = signer.session(*claims, issued_by="server")
            assert token == fresh().session(*claims, issued_by="server")
            assert signer.read_session(token).origin == claims[1]
            seen.append(token)
    assert len(set(seen)) == 3 * 4  # one token per claims and second: .5 .8 | 1.49 1.51 | 2.51 | 3.01
    clock.advance(SESSION_TTL_S + 1)
    with pytest.raises(BadToken, match="expired"):
        signer.read_session(seen[-1])


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


def test_queue_ticket_is_bound_to_its_widget_and_place_and_expires(clock: FakeClock) -> None:
    signer = Signer([KEY], clock)
    ticket = signer.queue_ticket("support", "q_1")
    signer.check_queue_ticket(ticket, "support", "q_1", max_age=600)
    for widget, place, token in (("support", "q_2", ticket), ("sales", "q_1", ticket),
                                 ("support", "q_1", signer.end_token("q_1")), ("support", "q_1", _flip(ticket, 9))):
        with pytest.raises(BadToken):
            signer.check_queue_ticket(token, widget, place, max_age=600)
    with pytest.raises(BadToken):
        signer.check_end_token(ticket, "q_1")  # not an end token either
    clock.advance(601)
    with pytest.raises(BadToken, match="expired"):
        signer.check_queue_ticket(ticket, "support", "q_1", max_age=600)


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


class _FixedClock(TimestampSigner):
    def get_timestamp(self) -> int:
        return 1_790_000_000


@pytest.mark.parametrize("value", [{"w": "support", "o": "https://www.example.com", "i": "server"},
                                   {"c": "c" * 40}, "local-id", {"w": "ünïcode", "o": ""}])
def test_signing_is_byte_for_byte_itsdangerous(value: object) -> None:
    """The prepared-HMAC signer writes exactly what itsdangerous would, so itsdangerous can verify it."""
    for keys in ([KEY], [KEY, OLD]):
        stamp = _Stamp(keys, "widget-session")
        ours = stamp.dumps(value, now=1_790_000_000.7)
        payload = ours.split(".")[0]
        theirs = _FixedClock(stamp._signer.secret_keys, salt="widget-session", key_derivation="none",
                             digest_method=hashlib.sha256).sign(payload).decode()
        assert ours == theirs
        assert stamp.loads(ours, None) == value
    # The timestamp part follows the clock, second by second.
    stamp = _Stamp([KEY], "widget-session")
    assert stamp.dumps(1, now=1_790_000_000).split(".")[1] != stamp.dumps(1, now=1_790_000_001).split(".")[1]
