"""Organisation settings, invoice disputes and contact pauses (shared chasing settings).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Frozen copy of storage.types' money type (see 0001).
MONEY = sa.Numeric(18, 4).with_variant(sa.BigInteger(), "sqlite")
UTC_DATETIME = sa.DateTime(timezone=True)

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "organisation_settings",
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("digest_enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("digest_channel_id", sa.String(64), nullable=True),
        sa.Column("digest_time", sa.String(5), server_default="09:00", nullable=False),
        sa.Column("chase_days", sa.String(32), server_default="1,2,3,4,5", nullable=False),
        sa.Column("chase_time", sa.String(5), server_default="10:00", nullable=False),
        sa.Column("minimum_chase_amount", MONEY, server_default=sa.text("0"), nullable=False),
        sa.Column("wait_for_expected_date", sa.Boolean(), server_default=sa.true(),
                  nullable=False),
        sa.Column("buttons_admins_only", sa.Boolean(), server_default=sa.false(),
                  nullable=False),
        sa.Column("alert_payments", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("alert_overdue_over", MONEY, nullable=True),
        sa.Column("approvals_channel_id", sa.String(64), nullable=True),
        sa.Column("chasing_paused", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("chasing_paused_until", sa.Date(), nullable=True),
        sa.Column("chasing_paused_reason", sa.Text(), nullable=True),
        sa.Column("updated_at", UTC_DATETIME, nullable=True),
        sa.Column("updated_by", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(
            ["connection_id"], ["xero_connections.id"],
            name=op.f("fk_organisation_settings_connection_id_xero_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("connection_id", name=op.f("pk_organisation_settings")),
    )
    with op.batch_alter_table("invoices") as batch:
        batch.add_column(sa.Column("disputed", sa.Boolean(), server_default=sa.false(),
                                   nullable=False))
        batch.add_column(sa.Column("disputed_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("disputed_by", sa.String(64), nullable=True))
        batch.add_column(sa.Column("disputed_at", UTC_DATETIME, nullable=True))
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("chasing_paused_until", sa.Date(), nullable=True))
        batch.add_column(sa.Column("chasing_paused_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("chasing_paused_reason")
        batch.drop_column("chasing_paused_until")
    with op.batch_alter_table("invoices") as batch:
        batch.drop_column("disputed_at")
        batch.drop_column("disputed_by")
        batch.drop_column("disputed_reason")
        batch.drop_column("disputed")
    op.drop_table("organisation_settings")
