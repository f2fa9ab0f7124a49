"""What the store tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeVar

from widget_server.store import Store

S = TypeVar("S", bound=Store)


@asynccontextmanager
async def opened(store: S) -> AsyncIterator[S]:
    """``store``, open for the block and closed after it, whatever happened: ``async with opened(s) as store:``."""
    await store.open()
    try:
        yield store
    finally:
        await store.close()
