"""What happened: every conversation with its timeline, transcripts, deliveries, audit, per-day totals.

    history = open_history(history_url(settings))      # sqlite:///PATH or postgresql://...
    await history.open()

The live store (``store/``) keeps what is live; this keeps what happened. ``recorder.Recorder`` moves
each conversation from one to the other.
"""

from __future__ import annotations

from widget_server.history.base import DayTotal, History, LedgerQuery, Past, Retention, Transcript


def open_history(url: str) -> History:
    if url.startswith(("sqlite:///", "postgresql://", "postgres://")):
        from widget_server.history.sql import SqlHistory

        return SqlHistory(url)
    raise ValueError(f"unsupported history URL scheme: {url.split(':', 1)[0]}")


__all__ = ["DayTotal", "History", "LedgerQuery", "Past", "Retention", "Transcript", "open_history"]
