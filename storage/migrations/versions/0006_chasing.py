"""Chasing: schedules, steps, customer schedules, the reminders ledger and sender settings.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# Frozen copies of storage.types (see 0001): a migration must not change when the models do.
MONEY = sa.Numeric(18, 4).with_variant(sa.BigInteger(), "sqlite")
UTC_DATETIME = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("organisation_settings") as batch:
        batch.add_column(sa.Column("skip_public_holidays", sa.Boolean(),
                                   server_default=sa.true(), nullable=False))
        batch.add_column(sa.Column("locale", sa.String(16), nullable=True))
        batch.add_column(sa.Column("sender_name", sa.String(255), nullable=True))
        batch.add_column(sa.Column("sender_email", sa.String(320), nullable=True))
        batch.add_column(sa.Column("escalated_sender_name", sa.String(255), nullable=True))
        batch.add_column(sa.Column("escalated_sender_email", sa.String(320), nullable=True))

    op.create_table(
        "chase_schedules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("is_default", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("repeat_every_days", sa.Integer(), nullable=True),
        sa.Column("repeat_limit", sa.Integer(), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_by", sa.String(255), nullable=True),
        sa.ForeignKeyConstraint(
            ["connection_id"], ["xero_connections.id"],
            name=op.f("fk_chase_schedules_connection_id_xero_connections"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chase_schedules")),
        sa.UniqueConstraint("connection_id", "name",
                            name=op.f("uq_chase_schedules_connection_id_name")),
    )
    op.create_table(
        "chase_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("schedule_id", sa.Integer(), nullable=False),
        sa.Column("part", sa.Enum("before_due", "overdue", "paid", name="schedulepart",
                                  native_enum=False, length=32), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("template", sa.String(64), nullable=False),
        sa.Column("grouped", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("escalated_sender", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("escalated_recipients", sa.Boolean(), server_default=sa.false(),
                  nullable=False),
        sa.Column("needs_approval", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.ForeignKeyConstraint(
            ["schedule_id"], ["chase_schedules.id"],
            name=op.f("fk_chase_steps_schedule_id_chase_schedules"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chase_steps")),
        sa.UniqueConstraint("schedule_id", "part", "days",
                            name=op.f("uq_chase_steps_schedule_id_part_days")),
    )
    op.create_table(
        "contact_schedules",
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("schedule_id", sa.Integer(), nullable=False),
        sa.Column("assigned_at", UTC_DATETIME, nullable=False),
        sa.Column("assigned_by", sa.String(255), nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"],
            name=op.f("fk_contact_schedules_contact_id_contacts"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"], ["chase_schedules.id"],
            name=op.f("fk_contact_schedules_schedule_id_chase_schedules"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("contact_id", name=op.f("pk_contact_schedules")),
    )
    op.create_index(op.f("ix_contact_schedules_schedule_id"), "contact_schedules",
                    ["schedule_id"], unique=False)

    op.create_table(
        "reminders",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("step_key", sa.String(32), nullable=False),
        sa.Column("schedule_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.Enum("sending", "sent", "failed", "unconfirmed",
                                   "awaiting_approval", "approved", "declined", "skipped",
                                   name="reminderstate", native_enum=False, length=32),
                  nullable=False),
        sa.Column("step_on", sa.Date(), nullable=False),
        sa.Column("template", sa.String(64), nullable=False),
        sa.Column("grouped", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("escalated", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("message_id", sa.String(255), nullable=True),
        sa.Column("sender", sa.String(320), nullable=True),
        sa.Column("recipients", JSON, nullable=True),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("amount_due", MONEY, nullable=True),
        sa.Column("currency_code", sa.String(3), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("claimed_at", UTC_DATETIME, nullable=False),
        sa.Column("sent_at", UTC_DATETIME, nullable=True),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["connection_id"], ["xero_connections.id"],
            name=op.f("fk_reminders_connection_id_xero_connections"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"],
            name=op.f("fk_reminders_invoice_id_invoices"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"],
            name=op.f("fk_reminders_contact_id_contacts"), ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"], ["chase_schedules.id"],
            name=op.f("fk_reminders_schedule_id_chase_schedules"), ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminders")),
        sa.UniqueConstraint("invoice_id", "step_key",
                            name=op.f("uq_reminders_invoice_id_step_key")),
    )
    op.create_index("ix_reminders_connection_state", "reminders", ["connection_id", "state"],
                    unique=False)
    op.create_index("ix_reminders_message_id", "reminders", ["message_id"], unique=False)

    op.create_table(
        "online_invoice_links",
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("fetched_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"],
            name=op.f("fk_online_invoice_links_invoice_id_invoices"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("invoice_id", name=op.f("pk_online_invoice_links")),
    )


def downgrade() -> None:
    op.drop_table("online_invoice_links")
    op.drop_index("ix_reminders_message_id", table_name="reminders")
    op.drop_index("ix_reminders_connection_state", table_name="reminders")
    op.drop_table("reminders")
    op.drop_index(op.f("ix_contact_schedules_schedule_id"), table_name="contact_schedules")
    op.drop_table("contact_schedules")
    op.drop_table("chase_steps")
    op.drop_table("chase_schedules")
    with op.batch_alter_table("organisation_settings") as batch:
        batch.drop_column("escalated_sender_email")
        batch.drop_column("escalated_sender_name")
        batch.drop_column("sender_email")
        batch.drop_column("sender_name")
        batch.drop_column("locale")
        batch.drop_column("skip_public_holidays")
