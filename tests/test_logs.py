"""Log lines as an on-call engineer reads them: text or JSON, never a secret, and the version they came from."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from widget_server.cli import main
from widget_server.logs import configure_logging
from widget_server.version import PARTS, package_version

SECRET = "engine-key-0123456789"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


def test_json_lines_carry_time_level_logger_message_and_fields(restore_logging: None,
                                                               capfd: pytest.CaptureFixture[str]) -> None:
    configure_logging((SECRET,), "debug", "json")
    log = logging.getLogger("widget_server.test")
    log.debug("created with key %s", SECRET, extra={"widget": "support", "engine_ms": 12})
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("create failed")
    first, second = (json.loads(line) for line in capfd.readouterr().err.splitlines())
    assert first["level"] == "DEBUG" and first["logger"] == "widget_server.test"
    assert first["message"] == "created with key [redacted]"
    assert first["widget"] == "support" and first["engine_ms"] == 12
    assert first["time"].endswith("Z") and len(first["time"]) == len("2026-01-01T00:00:00.000Z")
    assert second["error"] == "ValueError" and "\n" not in json.dumps(second)


def test_level_filters_and_text_is_the_default(restore_logging: None, capfd: pytest.CaptureFixture[str]) -> None:
    configure_logging((), "warning")
    logging.getLogger("widget_server").info("not shown")
    logging.getLogger("widget_server").warning("shown")
    err = capfd.readouterr().err
    assert "not shown" not in err and " WARNING widget_server: shown" in err


def test_version_names_the_package_and_each_versioned_part(capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(PARTS, "history schema", lambda: "3")
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"widget-server {package_version()}\nhistory schema 3\n"
