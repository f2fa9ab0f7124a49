"""The history schema's migrations (Alembic), run at start or by ``widget-server migrate``.

    await upgrade(engine)            # to the head revision; safe when several instances start at once
    await require_head(engine)       # for ``server.history_migrate = false``: refuse an old schema

The revisions live in ``migrations/versions``; the version table is ``history_alembic_version``.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

VERSION_TABLE = "history_alembic_version"
_LOCK_KEY = 0x5753_4849  # "WSHI": one PostgreSQL advisory lock held while migrating


class SchemaBehind(RuntimeError):
    pass


def config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    """The newest revision this code knows."""
    found = ScriptDirectory.from_config(config()).get_current_head()
    assert found is not None
    return found


def current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE}).get_current_revision()


def _upgrade(connection: Connection) -> None:
    command.upgrade(config(connection), "head")


async def upgrade(engine: AsyncEngine) -> str:
    """Bring the database to the head revision; returns it."""
    for attempt in range(2):
        try:
            async with engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    # PostgreSQL's DDL is transactional: the lock makes a second instance wait, then find head.
                    await conn.execute(text(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})"))
                await conn.run_sync(_upgrade)
            break
        except OperationalError:
            # SQLite: another process on this machine created the tables a moment ago; look again, once.
            if attempt or engine.dialect.name != "sqlite":
                raise
    return head()


async def require_head(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        found = await conn.run_sync(current)
    if found != head():
        raise SchemaBehind(f"history schema is at {found or 'nothing'}, this version needs {head()}: "
                           "run `widget-server migrate` (or set server.history_migrate = true)")
