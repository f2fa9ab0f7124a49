"""Per-day totals over all widgets (conversations, end reasons, refusals), kept beside the per-widget ones;
filled from those already kept.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TIME = sa.Float(precision=53)


def upgrade() -> None:
    op.create_table(
        "history_days_all",
        sa.Column("day", sa.BigInteger, primary_key=True),
        sa.Column("conversations", sa.Integer, nullable=False, server_default="0"),
        sa.Column("failed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("seconds", TIME, nullable=False, server_default="0"),
    )
    op.create_table(
        "history_day_reasons_all",
        sa.Column("day", sa.BigInteger, primary_key=True),
        sa.Column("status", sa.String(16), primary_key=True),
        sa.Column("reason", sa.String(200), primary_key=True),
        sa.Column("conversations", sa.Integer, nullable=False, server_default="0"),
        sa.Column("seconds", TIME, nullable=False, server_default="0"),
    )
    op.create_table(
        "history_refusal_days_all",
        sa.Column("day", sa.BigInteger, primary_key=True),
        sa.Column("rule", sa.String(40), primary_key=True),
        sa.Column("refusals", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.execute("""INSERT INTO history_days_all (day, conversations, failed, seconds)
        SELECT day, SUM(conversations), SUM(failed), SUM(seconds) FROM history_days GROUP BY day""")
    op.execute("""INSERT INTO history_day_reasons_all (day, status, reason, conversations, seconds)
        SELECT day, status, reason, SUM(conversations), SUM(seconds) FROM history_day_reasons
        GROUP BY day, status, reason""")
    op.execute("""INSERT INTO history_refusal_days_all (day, rule, refusals)
        SELECT day, rule, SUM(refusals) FROM history_refusal_days GROUP BY day, rule""")


def downgrade() -> None:
    op.drop_table("history_refusal_days_all")
    op.drop_table("history_day_reasons_all")
    op.drop_table("history_days_all")
