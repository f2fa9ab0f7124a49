"""The history schema's migrations (Alembic), run at start or by ``widget-server migrate``.

    await conn.run_sync(upgrade)       # to the head revision; several instances starting at once are safe
    await conn.run_sync(require_head)  # for ``server.history_migrate = false``: refuse an old schema

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


def upgrade(connection: Connection) -> str:
    """Bring the database to the head revision (in the caller's transaction); returns it."""
    if connection.dialect.name == "postgresql":
        # PostgreSQL's DDL is transactional: the lock makes a second instance wait, then find head.
        connection.execute(text(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})"))
    command.upgrade(config(connection), "head")
    return head()


def require_head(connection: Connection) -> None:
    found = current(connection)
    if found != head():
        raise SchemaBehind(f"history schema is at {found or 'nothing'}, this version needs {head()}: "
                           "run `widget-server migrate` (or set server.history_migrate = true)")


async def upgrade_async(engine: AsyncEngine) -> str:
    async with engine.begin() as conn:
        return await conn.run_sync(upgrade)


async def require_head_async(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.run_sync(require_head)
