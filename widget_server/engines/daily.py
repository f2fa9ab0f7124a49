"""The server's seat in a Daily room through daily-python: a CallClient with no camera or microphone.

    seat = DailyParticipant("https://tavus.daily.co/c123", meeting_token, sink)
    await seat.join()              # SeatError with the SDK's message, or on join_timeout_s
    await seat.send(message)       # send_app_message(message) to everyone
    await seat.close()             # leave and release, on a thread of its own
    await seat.released()          # the SDK's threads for this client are gone

daily-python calls back on its own threads; every callback is handed to the event
loop with ``loop.call_soon_threadsafe``. ``Daily.init()`` runs once per process.
A real join needs Daily's servers (and a room the engine made).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Mapping
from typing import Any

from .rooms import RoomEvent, RoomGone, SeatError, Sink

USER_NAME = "widget-server"
JOIN_TIMEOUT_S = 20.0
CLIENT_SETTINGS: dict[str, Any] = {"inputs": {"camera": False, "microphone": False}}

_init_lock = threading.Lock()
_initialised = False


def ensure_daily() -> Any:
    """``import daily`` and ``Daily.init()`` once for the process; raises SeatError if absent."""
    global _initialised
    try:
        import daily
    except ImportError:
        raise SeatError("daily-python is not installed (pip install daily-python)") from None
    with _init_lock:
        if not _initialised:
            daily.Daily.init()
            _initialised = True
    return daily


class DailyParticipant:
    def __init__(self, url: str, token: str | None, sink: Sink, *, join_timeout_s: float = JOIN_TIMEOUT_S,
                 proxy_url: str | None = None) -> None:
        self.url = url
        self.token = token
        self.sink = sink
        self.join_timeout_s = join_timeout_s
        self.proxy_url = proxy_url  # daily-python's own proxy setting, for networks that need one
        self.client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self._joined = False
        self._released = threading.Event()

    def _hand(self, event: RoomEvent) -> None:
        """From a daily-python thread: run the sink on the loop."""
        loop = self._loop
        if loop is None or (self._closing and event.kind != "left"):
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody listens any more
            loop.call_soon_threadsafe(self.sink, event)

    def _settle(self, future: asyncio.Future[Any], value: Any, error: str | None) -> None:
        loop = self._loop
        if loop is None:
            return

        def settle() -> None:
            if future.done():
                return
            if error:
                future.set_exception(SeatError(str(error)))
            else:
                future.set_result(value)

        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle)

    async def join(self) -> None:
        daily = ensure_daily()
        self._loop = asyncio.get_running_loop()
        self.client = daily.CallClient(event_handler=_handler_class(daily)(self))
        self.client.set_user_name(USER_NAME)
        if self.proxy_url:
            proxied: asyncio.Future[Any] = self._loop.create_future()
            self.client.set_proxy_url(self.proxy_url, completion=lambda e: self._settle(proxied, None, e))
            await asyncio.wait_for(proxied, 5)
        joined: asyncio.Future[Any] = self._loop.create_future()
        self.client.join(self.url, self.token, client_settings=CLIENT_SETTINGS,
                         completion=lambda data, error: self._settle(joined, data, error))
        try:
            await asyncio.wait_for(asyncio.shield(joined), self.join_timeout_s)
        except TimeoutError:
            joined.cancel()  # the SDK's late answer is dropped
            await self.close()
            raise SeatError(
                f"could not join the Daily room {self.url} within {self.join_timeout_s:g} s") from None
        except SeatError as exc:
            await self.close()
            raise SeatError(f"Daily refused the join of {self.url}: {exc}") from None
        self._joined = True
        for participant in _mapping(self.client.participants()).values():
            if isinstance(participant, Mapping):
                self.sink(RoomEvent("participant-joined", {"participant": _participant(participant)}))

    async def send(self, message: dict[str, Any]) -> None:
        if self.client is None or self._closing or self._loop is None:
            raise RoomGone("not in the room")
        sent: asyncio.Future[Any] = self._loop.create_future()
        self.client.send_app_message(message, None, completion=lambda e: self._settle(sent, None, e))
        try:
            await asyncio.wait_for(sent, 10)
        except TimeoutError:
            raise SeatError("Daily did not confirm the app message within 10 s") from None

    async def close(self) -> None:
        """Leave and release on a thread: release waits for anything pending in the SDK."""
        if self._closing:
            return
        self._closing = True
        client, self.client = self.client, None
        if client is None:
            self._released.set()
            return

        def leave_and_release() -> None:
            left = threading.Event()
            try:
                client.leave(completion=lambda _e: left.set())
                left.wait(30)
                client.release()
            finally:
                self._released.set()

        threading.Thread(target=leave_and_release, name="daily-release", daemon=True).start()

    async def released(self, timeout: float = 30.0) -> bool:
        """True once leave and release are done (polled: no helper thread of our own is left behind)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not self._released.is_set():
            if asyncio.get_running_loop().time() > deadline:
                return False
            await asyncio.sleep(0.05)
        return True


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _participant(p: Mapping[str, Any]) -> dict[str, Any]:
    info = _mapping(p.get("info"))
    return {"session_id": p.get("id"), "user_id": info.get("userId") or "", "user_name": info.get("userName") or "",
            "local": bool(info.get("isLocal"))}


def _handler_class(daily: Any) -> Any:
    class Handler(daily.EventHandler):  # type: ignore[misc]
        def __init__(self, seat: DailyParticipant) -> None:
            super().__init__()
            self.seat = seat

        def on_app_message(self, message: Any, sender: str) -> None:
            self.seat._hand(RoomEvent("app-message", {"data": message, "from": sender}))

        def on_participant_joined(self, participant: Mapping[str, Any]) -> None:
            self.seat._hand(RoomEvent("participant-joined", {"participant": _participant(participant)}))

        def on_call_state_updated(self, state: str) -> None:
            if state == "left" and self.seat._joined and not self.seat._closing:
                self.seat._hand(RoomEvent("left", {"reason": "left"}))

        def on_error(self, message: str) -> None:
            self.seat._hand(RoomEvent("error", {"message": message}))

    return Handler
