"""Stores: ``sqlite:///PATH`` (default) or Redis: ``redis://``, ``rediss://`` (TLS), ``redis+sentinel://``."""

from __future__ import annotations

from widget_server.store.base import ConversationRecord, Store


def open_store(url: str) -> Store:
    if url.startswith("sqlite:///"):
        from widget_server.store.sqlite import SqliteStore

        return SqliteStore(url.removeprefix("sqlite:///"))
    if url.startswith(("redis://", "rediss://", "redis+sentinel://", "rediss+sentinel://")):
        from widget_server.store.redis import RedisStore

        store: Store = RedisStore(url)
        return store
    raise ValueError(f"unsupported store URL scheme: {url.split(':', 1)[0]}")


__all__ = ["ConversationRecord", "Store", "open_store"]
