"""Creates refused by a rule, per widget and UTC day (kept) and per UTC hour (a week, for the hourly charts).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "history_refusal_days",
        sa.Column("widget", sa.String(64), primary_key=True),
        sa.Column("day", sa.BigInteger, primary_key=True),
        sa.Column("rule", sa.String(40), primary_key=True),
        sa.Column("refusals", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.create_index("history_refusal_days_day", "history_refusal_days", ["day", "rule", "refusals"])
    op.create_table(
        "history_refusal_hours",
        sa.Column("widget", sa.String(64), primary_key=True),
        sa.Column("hour", sa.BigInteger, primary_key=True),
        sa.Column("rule", sa.String(40), primary_key=True),
        sa.Column("refusals", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.create_index("history_refusal_hours_hour", "history_refusal_hours", ["hour"])


def downgrade() -> None:
    op.drop_index("history_refusal_hours_hour", "history_refusal_hours")
    op.drop_table("history_refusal_hours")
    op.drop_index("history_refusal_days_day", "history_refusal_days")
    op.drop_table("history_refusal_days")
