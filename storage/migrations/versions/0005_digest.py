"""Digest: posted digest messages, webhook events and alerts.

Revision ID: 0005
Revises: 0004

Owned by the digest work. Other areas that need a table here ask with a comment below.
- digest_messages: one row per organisation per local day; the unique key lets exactly one
  `chaser serve` instance post that day's digest, and keeps its channel/ts for chat.update.
- slack_alerts: one row per (connection, kind, invoice) so an alert is posted once.
- xero_webhook_events: one row per delivered webhook event (event_key unique) so a delivery
  is processed once.
- connection_incidents / slack_notices: one open incident per lost connection and one DM per
  (notice key), so each admin hears once per incident even with several instances.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

UTC_DATETIME = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _connection_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["connection_id"], ["xero_connections.id"],
        name=op.f(f"fk_{table}_connection_id_xero_connections"), ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "digest_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("digest_date", sa.Date(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("posting", "posted", "failed", name="digeststatus", native_enum=False,
                    length=32),
            nullable=False,
        ),
        sa.Column("channel_id", sa.String(64), nullable=True),
        sa.Column("message_ts", sa.String(32), nullable=True),
        sa.Column("page", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("claimed_by", sa.String(255), nullable=True),
        sa.Column("claimed_at", UTC_DATETIME, nullable=False),
        sa.Column("posted_at", UTC_DATETIME, nullable=True),
        sa.Column("updated_at", UTC_DATETIME, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        _connection_fk("digest_messages"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_digest_messages")),
        sa.UniqueConstraint("connection_id", "digest_date",
                            name=op.f("uq_digest_messages_connection_id_digest_date")),
    )
    op.create_index("ix_digest_messages_channel_ts", "digest_messages",
                    ["channel_id", "message_ts"])
    op.create_table(
        "slack_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("xero_invoice_id", sa.String(64), nullable=False),
        sa.Column("xero_contact_id", sa.String(64), nullable=True),
        sa.Column("channel_id", sa.String(64), nullable=True),
        sa.Column("message_ts", sa.String(32), nullable=True),
        sa.Column("thread_ts", sa.String(32), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("posted_at", UTC_DATETIME, nullable=True),
        _connection_fk("slack_alerts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_slack_alerts")),
        sa.UniqueConstraint("connection_id", "kind", "xero_invoice_id",
                            name=op.f("uq_slack_alerts_connection_id_kind_xero_invoice_id")),
    )
    op.create_index("ix_slack_alerts_contact", "slack_alerts",
                    ["connection_id", "xero_contact_id"])
    op.create_table(
        "xero_webhook_events",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("event_key", sa.String(128), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("event_category", sa.String(32), nullable=False),
        sa.Column("event_type", sa.String(32), nullable=False),
        sa.Column("resource_id", sa.String(64), nullable=False),
        sa.Column("event_date_utc", UTC_DATETIME, nullable=True),
        sa.Column("received_at", UTC_DATETIME, nullable=False),
        sa.Column("processed_at", UTC_DATETIME, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_xero_webhook_events")),
        sa.UniqueConstraint("event_key", name=op.f("uq_xero_webhook_events_event_key")),
    )
    op.create_table(
        "connection_incidents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("open_connection_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("started_at", UTC_DATETIME, nullable=False),
        sa.Column("resolved_at", UTC_DATETIME, nullable=True),
        _connection_fk("connection_incidents"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connection_incidents")),
        sa.UniqueConstraint("open_connection_id",
                            name=op.f("uq_connection_incidents_open_connection_id")),
    )
    op.create_table(
        "slack_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notice_key", sa.String(255), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=True),
        sa.Column("slack_user_id", sa.String(64), nullable=True),
        sa.Column("channel_id", sa.String(64), nullable=True),
        sa.Column("message_ts", sa.String(32), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("sent_at", UTC_DATETIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["connection_id"], ["xero_connections.id"],
            name=op.f("fk_slack_notices_connection_id_xero_connections"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_slack_notices")),
        sa.UniqueConstraint("notice_key", name=op.f("uq_slack_notices_notice_key")),
    )


def downgrade() -> None:
    op.drop_table("slack_notices")
    op.drop_table("connection_incidents")
    op.drop_table("xero_webhook_events")
    op.drop_index("ix_slack_alerts_contact", table_name="slack_alerts")
    op.drop_table("slack_alerts")
    op.drop_index("ix_digest_messages_channel_ts", table_name="digest_messages")
    op.drop_table("digest_messages")
