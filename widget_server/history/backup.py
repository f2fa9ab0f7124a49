"""An online backup of a SQLite database: SQLite's backup API, safe while servers write to the file.

    pages = backup_sqlite("widget-server-state.db", "/backups/2026-12-01.db")
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


def backup_sqlite(source: str, target: str) -> int:
    """Copy ``source`` to the new file ``target`` page by page; returns the pages copied."""
    if not Path(source).is_file():
        raise ValueError(f"{source}: no such database file")
    out = Path(target)
    if out.exists():
        raise ValueError(f"{target}: already exists (a backup never overwrites)")
    out.parent.mkdir(parents=True, exist_ok=True)
    copied = 0

    def progress(_status: int, remaining: int, total: int) -> None:
        nonlocal copied
        copied = total - remaining

    src = sqlite3.connect(f"file:{Path(source).resolve()}?mode=ro", uri=True, timeout=10)
    try:
        dst = sqlite3.connect(str(out))
        try:
            # 1024 pages a step, the writers' lock let go in between: a busy server is not held up
            src.backup(dst, pages=1024, progress=progress, sleep=0.01)
            ok = dst.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            dst.close()
    finally:
        src.close()
    if ok != "ok":
        raise ValueError(f"{target}: integrity check failed ({ok})")
    return copied
