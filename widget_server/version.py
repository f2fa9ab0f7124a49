"""What ``widget-server --version`` prints: the package's version, then one line per versioned part.

    version_text()    # "widget-server 0.1.0"

A part with a version of its own (a database schema) adds a line by adding an entry to ``PARTS``:
``PARTS["history schema"] = lambda: str(SCHEMA_VERSION)``.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version


def _history_schema() -> str:
    from widget_server.history.migrate import head

    return str(head())


PARTS: dict[str, Callable[[], str]] = {"history schema": _history_schema}


def package_version() -> str:
    try:
        return version("widget-server")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "0+unknown"


def version_text() -> str:
    return "\n".join([f"widget-server {package_version()}", *(f"{name} {part()}" for name, part in PARTS.items())])
