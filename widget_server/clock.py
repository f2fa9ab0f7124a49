"""The one source of time, and the one way a moment is written.

    app = create_app(settings, clock=time.time)     # the default; tests hand in a clock they move
    iso(clock())                                    # "2026-12-02T06:10:00Z"
    iso(clock(), ms=True)                           # "2026-12-02T06:10:00.123Z"

``create_app`` hands its clock to every part that reads time (leases, grace periods,
expiries, rate windows, token ages, webhook timestamps), so a test advances time instead
of sleeping. Only the background loops' own pacing (``asyncio.sleep``) is real time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import overload

Clock = Callable[[], float]

_last_second: tuple[int, str] = (-1, "")


@overload
def iso(ts: float, *, ms: bool = False) -> str: ...
@overload
def iso(ts: None, *, ms: bool = False) -> None: ...
@overload
def iso(ts: float | None, *, ms: bool = False) -> str | None: ...
def iso(ts: float | None, *, ms: bool = False) -> str | None:
    """UTC in RFC 3339 with a ``Z``: whole seconds, or milliseconds with ``ms``; None stays None."""
    global _last_second
    if ts is None:
        return None
    second = int(ts // 1)
    if second != _last_second[0]:  # most calls in a busy second ask for the same text
        _last_second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    if not ms:
        return _last_second[1] + "Z"
    return f"{_last_second[1]}.{int((ts - second) * 1000):03d}Z"
