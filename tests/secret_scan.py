"""A pytest plugin: every log line and every app response of the run is scanned for the test secrets.

The run fails if any of them shows up anywhere, whichever test produced it.
"""

from __future__ import annotations

import logging

import httpx
import pytest

SECRETS: tuple[str, ...] = ()
SEEN: list[str] = []
SCANNED = {"responses": 0, "log_lines": 0}


class _Collect(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            SEEN.append(self.format(record))
            SCANNED["log_lines"] += 1
        except Exception:  # a bad record must not break the run
            pass


async def record_response(response: httpx.Response) -> None:
    await response.aread()
    SEEN.append("\n".join(f"{k}: {v}" for k, v in response.headers.items()))
    SEEN.append(response.text)
    SCANNED["responses"] += 1


def pytest_configure(config: pytest.Config) -> None:
    handler = _Collect(level=logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    logging.getLogger().addHandler(handler)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from tests.conftest import ENGINE_KEY, SECRET_KEY, SERVER_KEY

    leaks = [s for s in (ENGINE_KEY, SECRET_KEY, SERVER_KEY) if any(s in text for text in SEEN)]
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"secret scan: {SCANNED['responses']} responses and {SCANNED['log_lines']} log lines "
                            f"scanned, {len(leaks)} secret(s) found")
    if leaks:
        session.exitstatus = 1
