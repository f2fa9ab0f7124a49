"""What readiness says, and how a failure that repeats is logged: once when it starts, once when it ends.

    health = Health(store, engine, assets, clock)
    await health.check_engine()                 # at start; /readyz re-checks at most every ENGINE_RECHECK_S
    ready, checks = await health.ready()        # {"store": "ok", "assets": "ok", "engine": "ok"}
    health.draining = True                      # SIGTERM: /readyz answers 503 from now on

    store = Condition(log, "store")
    store.failed(exc)   # logs "store unavailable: ConnectionError: ..." the first time, then once a minute
    store.ok()          # logs "store available again after 12.3 s (41 failures)" if it was failing
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from widget_server.assets import Assets
from widget_server.clock import Clock
from widget_server.engines.base import Engine
from widget_server.errors import EngineError
from widget_server.store import STORE_ERRORS, Store

log = logging.getLogger("widget_server.health")

PING_ERRORS: tuple[type[Exception], ...] = (*STORE_ERRORS, RuntimeError)  # RuntimeError: a closed store
ENGINE_RECHECK_S = 60.0
ENGINE_CHECK_TIMEOUT_S = 5.0
REMIND_S = 60.0
# Engine answers that mean this server is misconfigured (not that the engine is briefly away): not ready.
NOT_READY_ENGINE = {"auth": "engine-auth", "credits": "engine-credits"}


def describe(exc: BaseException) -> str:
    """One line about an exception: its type and the first line of its message, never a traceback."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300]}" if text else type(exc).__name__


@dataclass
class Condition:
    """A failure that may repeat every second (a loop, every request): one line per state change.

    While it lasts, a reminder at most every ``remind_s`` says for how long and how many times.
    """

    logger: logging.Logger
    what: str
    remind_s: float = REMIND_S
    monotonic: Callable[[], float] = time.monotonic
    since: float | None = None
    failures: int = 0
    _reminded: float = 0.0

    @property
    def failing(self) -> bool:
        return self.since is not None

    def failed(self, exc: BaseException | str) -> None:
        now = self.monotonic()
        self.failures += 1
        reason = exc if isinstance(exc, str) else describe(exc)
        if self.since is None:
            self.since = self._reminded = now
            self.logger.warning("%s unavailable: %s", self.what, reason, extra={"condition": self.what})
        elif now - self._reminded >= self.remind_s:
            self._reminded = now
            self.logger.warning("%s still unavailable after %.0f s (%d failures): %s", self.what, now - self.since,
                                self.failures, reason, extra={"condition": self.what})

    def ok(self) -> None:
        if self.since is None:
            return
        self.logger.warning("%s available again after %.1f s (%d failures)", self.what,
                            self.monotonic() - self.since, self.failures, extra={"condition": self.what})
        self.since, self.failures = None, 0


@dataclass(eq=False)
class Health:
    store: Store
    engine: Engine
    assets: Assets
    clock: Clock
    draining: bool = False
    engine_state: str = "unchecked"  # ok | engine-auth | engine-credits | engine-unreachable | unchecked
    checked_at: float = float("-inf")
    store_condition: Condition = field(default_factory=lambda: Condition(log, "store"))
    _checking: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def check_engine(self) -> str:
        """One cheap authenticated call (a list of one); the result is kept for ENGINE_RECHECK_S."""
        async with self._checking:
            if self.clock() - self.checked_at < ENGINE_RECHECK_S:
                return self.engine_state
            try:
                await asyncio.wait_for(self.engine.list(status="active", limit=1, page=1), ENGINE_CHECK_TIMEOUT_S)
                state = "ok"
            except EngineError as err:
                state = NOT_READY_ENGINE.get(err.kind, "engine-unreachable")
            except TimeoutError:
                state = "engine-unreachable"
            if state != self.engine_state:
                (log.info if state == "ok" else log.warning)("engine check: %s", state, extra={"engine": state})
            self.engine_state, self.checked_at = state, self.clock()
            return state

    async def ready(self) -> tuple[bool, dict[str, object]]:
        """Whether to send traffic here, and the answer's body: ``status`` names every reason not to
        (``draining``, ``store-unreachable``, ``assets-missing``, ``engine-auth``, ``engine-credits``).

        An engine that is briefly away is reported in ``checks``, not a reason: every instance shares it,
        and taking them all out of the balancer would answer nothing at all."""
        if self.draining:
            return False, {"status": "draining"}
        try:
            store_ok = await self.store.ping()
        except PING_ERRORS:
            store_ok = False
        missing = self.assets.missing()
        engine = await self.check_engine()
        problems = [*([] if store_ok else ["store-unreachable"]), *(["assets-missing"] if missing else []),
                    *([engine] if engine in NOT_READY_ENGINE.values() else [])]
        checks = {"store": "ok" if store_ok else "unreachable",
                  "assets": "ok" if not missing else "missing: " + ", ".join(missing), "engine": engine}
        return not problems, {"status": ", ".join(problems) or "ready", "checks": checks}
