"""Alembic's environment: migrations always run on a connection the caller gives (see ``migrate.py``)."""

from __future__ import annotations

from alembic import context

from widget_server.history.migrate import VERSION_TABLE
from widget_server.history.schema import metadata

connection = context.config.attributes["connection"]
if connection is None:
    raise RuntimeError("history migrations run through widget_server.history.migrate (widget-server migrate)")
context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
