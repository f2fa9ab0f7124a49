"""The Daily seat with the real daily-python SDK, up to the SDK boundary.

A real join needs Daily's servers (and a room the engine made), which tests here cannot
reach. What runs: ``Daily.init()``, a ``CallClient``, a join against an unreachable room on
loopback that fails with a clear error within a bounded time, and the client's release with
none of its native threads left behind. The SDK's own proxy setting points at a closed
loopback port, because for a non-daily.co URL daily-python looks the room up on Daily's
API hosts: with the proxy, nothing leaves the machine (not even a DNS query).
"""

from __future__ import annotations

import os
import time

import pytest

from widget_server.engines.daily import DailyParticipant, ensure_daily
from widget_server.engines.rooms import RoomEvent, SeatError

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
UNREACHABLE_ROOM = "http://127.0.0.1:9/room"
CLOSED_PROXY = "http://127.0.0.1:9"


def _native_threads() -> int:
    return len(os.listdir("/proc/self/task"))


async def test_join_of_an_unreachable_room_fails_clearly_and_releases_everything() -> None:
    ensure_daily()
    ensure_daily()  # once per process: a second call is a no-op
    before = _native_threads()
    seen: list[RoomEvent] = []
    seat = DailyParticipant(UNREACHABLE_ROOM, "a-meeting-token", seen.append, join_timeout_s=1.5,
                            proxy_url=CLOSED_PROXY)
    started = time.monotonic()
    expected = r"could not join the Daily room http://127\.0\.0\.1:9/room within 1\.5 s"
    with pytest.raises(SeatError, match=expected):
        await seat.join()
    assert time.monotonic() - started < 3
    assert seat.client is None
    # release waits for the SDK to give up its own retries (about 19 s with daily-python 0.36)
    assert await seat.released(timeout=30)
    assert _native_threads() <= before
    assert [e.kind for e in seen if e.kind == "left"] == []  # a failed join is not the conversation's end
    with pytest.raises(SeatError):
        await seat.send({"message_type": "conversation", "event_type": "conversation.echo"})
