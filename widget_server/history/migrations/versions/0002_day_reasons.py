"""Per-day totals by end reason (the console's charts) and an index of rated conversations; filled from the
conversations already kept.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TIME = sa.Float(precision=53)


def upgrade() -> None:
    op.create_table(
        "history_day_reasons",
        sa.Column("widget", sa.String(64), primary_key=True),
        sa.Column("day", sa.BigInteger, primary_key=True),
        sa.Column("status", sa.String(16), primary_key=True),
        sa.Column("reason", sa.String(200), primary_key=True),
        sa.Column("conversations", sa.Integer, nullable=False, server_default="0"),
        sa.Column("seconds", TIME, nullable=False, server_default="0"),
    )
    op.create_index("history_day_reasons_day", "history_day_reasons",
                    ["day", "status", "reason", "conversations", "seconds"])
    rated = sa.text("rating IS NOT NULL")
    op.create_index("history_conversations_rated", "history_conversations", ["created_at"],
                    sqlite_where=rated, postgresql_where=rated)
    day = "CAST(floor(created_at / 86400) * 86400 AS BIGINT)" if op.get_bind().dialect.name == "postgresql" \
        else "CAST(created_at / 86400 AS INTEGER) * 86400"
    op.execute(f"""
        INSERT INTO history_day_reasons (widget, day, status, reason, conversations, seconds)
        SELECT widget, {day}, status, COALESCE(end_reason, ''), COUNT(*), SUM(seconds)
        FROM history_conversations WHERE status IN ('ended', 'failed') AND ended_at IS NOT NULL
        GROUP BY widget, {day}, status, COALESCE(end_reason, '')""")


def downgrade() -> None:
    op.drop_index("history_conversations_rated", "history_conversations")
    op.drop_index("history_day_reasons_day", "history_day_reasons")
    op.drop_table("history_day_reasons")
