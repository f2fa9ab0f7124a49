"""Stores: ``sqlite:///PATH`` (default) or Redis: ``redis://``, ``rediss://`` (TLS), ``redis+sentinel://``."""

from __future__ import annotations

import sqlite3

from redis.exceptions import RedisError

from widget_server.store.base import ConversationRecord, Store

# What a store raises when it cannot answer (Redis stopped or unreachable, SQLite locked or unwritable): the
# app answers 503 problem+json with Retry-After, and the background jobs try again on their next pass.
STORE_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error, RedisError)


def open_store(url: str) -> Store:
    if url.startswith("sqlite:///"):
        from widget_server.store.sqlite import SqliteStore

        return SqliteStore(url.removeprefix("sqlite:///"))
    if url.startswith(("redis://", "rediss://", "redis+sentinel://", "rediss+sentinel://")):
        from widget_server.store.redis import RedisStore

        store: Store = RedisStore(url)
        return store
    raise ValueError(f"unsupported store URL scheme: {url.split(':', 1)[0]}")


__all__ = ["STORE_ERRORS", "ConversationRecord", "Store", "open_store"]
