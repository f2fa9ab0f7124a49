"""Logging that never prints a secret, as text or as JSON lines.

    configure_logging(settings.secrets(), level=logging.INFO, fmt="json")
    log.info("created", extra={"widget": "support"})
    # {"time": "2026-12-02T06:20:01.123Z", "level": "INFO", "logger": "widget_server", "message": "created",
    #  "widget": "support"}

A filter redacts every configured secret from every message. In JSON, whatever a record carries beyond the
standard attributes (``extra=``, or set by a filter such as a request id's) becomes a field of its line; in
text, the same fields follow the message as ``key=value``. Every line logged while a request is handled
carries its ``request_id`` (``REQUEST_ID``, a context variable the tracing middleware sets).
"""

from __future__ import annotations

import logging
import time
from contextvars import ContextVar
from typing import Any

import orjson

FORMATS = ("text", "json")
LEVELS = ("debug", "info", "warning", "error")
# The attributes every LogRecord has (and uvicorn's coloured copy of its message); anything else on a record was
# put there on purpose and is logged.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName", "color_message"}


REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)


class RequestId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        rid = REQUEST_ID.get()
        if rid is not None and not hasattr(record, "request_id"):
            record.request_id = rid
        return True


def _extra(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if len(s) >= 4)

    def also(self, secrets: tuple[str, ...]) -> None:
        """Redact these too (a reloaded config's); the old ones stay redacted."""
        self.secrets = tuple(dict.fromkeys((*self.secrets, *(s for s in secrets if len(s) >= 4))))

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        cleaned = message
        for secret in self.secrets:
            cleaned = cleaned.replace(secret, "[redacted]")
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ms), level, logger, message, then the record's extra fields."""

    def fields(self, record: logging.LogRecord) -> dict[str, Any]:
        at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        out: dict[str, Any] = {"time": at, "level": record.levelname, "logger": record.name,
                               "message": record.getMessage()}
        out.update(_extra(record))
        if record.exc_info and record.exc_info[1] is not None:
            out["error"] = type(record.exc_info[1]).__name__
            out["traceback"] = self.formatException(record.exc_info)
        return out

    def format(self, record: logging.LogRecord) -> str:
        return orjson.dumps(self.fields(record), default=str).decode()


class TextFormatter(logging.Formatter):
    """``2026-12-02 06:20:01,123 INFO widget_server: created ... widget=support request_id=3f2a...``"""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = " ".join(f"{k}={v}" for k, v in _extra(record).items() if v is not None)
        return f"{line} {fields}" if fields else line


def configure_logging(secrets: tuple[str, ...], level: int | str = logging.INFO, fmt: str = "text") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RequestId())
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper() if isinstance(level, str) else level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "httpx"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("httpx").setLevel(logging.WARNING)


def redact_also(secrets: tuple[str, ...]) -> None:
    """Add secrets (a reloaded config's) to what every configured handler redacts."""
    for handler in logging.getLogger().handlers:
        for f in handler.filters:
            if isinstance(f, RedactSecrets):
                f.also(secrets)
