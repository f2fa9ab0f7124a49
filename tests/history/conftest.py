"""The history database on real SQLite and on a real PostgreSQL server (a private cluster)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from widget_server.history import History, open_history

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def history_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'history.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def history(history_url: str) -> AsyncIterator[History]:
    h = open_history(history_url)
    await h.open()
    yield h
    await h.close()
