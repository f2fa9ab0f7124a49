"""A small proof of work before a browser-path create, so a script cannot mint at machine speed.

    keys = settings.server.secret_keys
    challenge = issue(keys, "support", bits=16, clock=clock)      # POST .../challenge answers one
    # the browser finds n with sha256(f"{challenge}:{n}") starting with `bits` zero bits
    nonce = verify(keys, "support", f"{challenge}:{n}", 16, clock)   # or raises BadToken

A challenge is signed for one widget (the first key signs, every key verifies) and
lasts ``CHALLENGE_TTL_S``; the caller spends its nonce once. Self-hosted: no
third-party captcha service. 16 bits take a browser tens of milliseconds on
average; each extra bit doubles the work.
"""

from __future__ import annotations

import hashlib
import secrets
import time

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from widget_server.clock import Clock
from widget_server.tokens import BadToken, ClockedSigner

CHALLENGE_TTL_S = 120


def _serializer(keys: tuple[str, ...], clock: Clock) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(list(reversed(keys)), salt="proof-of-work", signer=ClockedSigner,
                                  signer_kwargs={"clock": clock})


def issue(keys: tuple[str, ...], widget: str, bits: int, clock: Clock = time.time) -> str:
    payload = {"w": widget, "b": bits, "n": secrets.token_hex(8), "t": int(clock())}
    return str(_serializer(keys, clock).dumps(payload))


def leading_zero_bits(digest: bytes) -> int:
    count = 0
    for byte in digest:
        if byte == 0:
            count += 8
            continue
        return count + 8 - byte.bit_length()
    return count


def verify(keys: tuple[str, ...], widget: str, proof: str, min_bits: int, clock: Clock = time.time) -> str:
    """Check a ``challenge:counter`` proof; returns the challenge's nonce for single-use bookkeeping."""
    challenge, _, counter = proof.rpartition(":")
    if not challenge or not counter.isdigit() or len(counter) > 20 or len(proof) > 1024:
        raise BadToken("malformed proof")
    try:
        data = _serializer(keys, clock).loads(challenge, max_age=CHALLENGE_TTL_S)
    except SignatureExpired as exc:
        raise BadToken("challenge expired") from exc
    except BadSignature as exc:
        raise BadToken("bad challenge") from exc
    if not isinstance(data, dict) or data.get("w") != widget or not isinstance(data.get("b"), int):
        raise BadToken("challenge is for another widget")
    bits = max(int(data["b"]), min_bits)
    if leading_zero_bits(hashlib.sha256(f"{challenge}:{counter}".encode()).digest()) < bits:
        raise BadToken("not enough work")
    return str(data.get("n"))


def solve(challenge: str, bits: int) -> str:
    """The reference solver (the frame does the same in JavaScript); for tests and custom clients."""
    n = 0
    while True:
        digest = hashlib.sha256(f"{challenge}:{n}".encode()).digest()
        if leading_zero_bits(digest) >= bits:
            return f"{challenge}:{n}"
        n += 1
