"""The history tables: conversations, their events and transcripts, deliveries, audit, day totals.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.Float(precision=53)


def upgrade() -> None:
    op.create_table(
        "history_conversations",
        sa.Column("local_id", sa.String(64), primary_key=True),
        sa.Column("conversation_id", sa.String(128), unique=True),
        sa.Column("conversation_url", sa.String(500), nullable=False, server_default=""),
        sa.Column("widget", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.Column("started_at", TIME),
        sa.Column("ended_at", TIME),
        sa.Column("end_reason", sa.String(200)),
        sa.Column("end_source", sa.String(16)),
        sa.Column("seconds", TIME, nullable=False, server_default="0"),
        sa.Column("last_seen", TIME),
        sa.Column("origin", sa.String(300), nullable=False, server_default=""),
        sa.Column("client_ip", sa.String(64), nullable=False, server_default=""),
        sa.Column("client_ip_hash", sa.String(64), nullable=False, server_default=""),
        sa.Column("consent", sa.Text),
        sa.Column("rating", sa.Text),
        sa.Column("transcript", sa.String(16), nullable=False, server_default=""),
        sa.Column("recording", sa.Text),
        sa.Column("updated_at", TIME, nullable=False),
    )
    op.create_index("history_conversations_created", "history_conversations", ["created_at"])
    op.create_index("history_conversations_widget", "history_conversations", ["widget", "created_at"])
    op.create_index("history_conversations_transcript", "history_conversations", ["transcript", "ended_at"])
    op.create_table(
        "history_events",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("local_id", sa.String(64), nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("data", sa.Text, nullable=False, server_default="{}"),
    )
    op.create_index("history_events_conversation", "history_events", ["local_id", "at"])
    op.create_index("history_events_at", "history_events", ["at"])
    op.create_table(
        "history_transcripts",
        sa.Column("local_id", sa.String(64), primary_key=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("received_at", TIME, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
    )
    op.create_table(
        "history_deliveries",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("event_type", sa.String(40), nullable=False),
        sa.Column("conversation_id", sa.String(128)),
        sa.Column("at", TIME, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
    )
    op.create_index("history_deliveries_at", "history_deliveries", ["at"])
    op.create_index("history_deliveries_event", "history_deliveries", ["event_id"])
    op.create_table(
        "history_audit",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("at", TIME, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(128), nullable=False, server_default=""),
        sa.Column("detail", sa.Text, nullable=False, server_default="{}"),
    )
    op.create_index("history_audit_at", "history_audit", ["at"])
    op.create_table(
        "history_days",
        sa.Column("widget", sa.String(64), primary_key=True),
        sa.Column("day", sa.BigInteger, primary_key=True),
        sa.Column("conversations", sa.Integer, nullable=False, server_default="0"),
        sa.Column("failed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("seconds", TIME, nullable=False, server_default="0"),
    )


def downgrade() -> None:
    for table in ("history_days", "history_audit", "history_deliveries", "history_transcripts", "history_events",
                  "history_conversations"):
        op.drop_table(table)
