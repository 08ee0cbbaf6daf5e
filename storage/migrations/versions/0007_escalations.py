"""Escalations (approval requests, their Slack cards), forewarn skips, the audit index, leases.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# Frozen copies of storage.types (see 0001).
MONEY = sa.Numeric(18, 4).with_variant(sa.BigInteger(), "sqlite")
UTC_DATETIME = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "job_leases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_key", sa.String(128), nullable=False),
        sa.Column("occurrence", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("claimed_at", UTC_DATETIME, nullable=False),
        sa.Column("expires_at", UTC_DATETIME, nullable=False),
        sa.Column("finished_at", UTC_DATETIME, nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_leases")),
        sa.UniqueConstraint("job_key", "occurrence",
                            name=op.f("uq_job_leases_job_key_occurrence")),
    )
    op.create_table(
        "approval_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("step_key", sa.String(64), nullable=False),
        sa.Column("request_key", sa.String(255), nullable=False),
        sa.Column("invoice_ids", JSON, nullable=False),
        sa.Column("invoice_steps", JSON, nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("currency_code", sa.String(3), nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("requested_at", UTC_DATETIME, nullable=False),
        sa.Column("ask_again_at", UTC_DATETIME, nullable=True),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("decided_at", UTC_DATETIME, nullable=True),
        sa.Column("outcome_detail", sa.Text(), nullable=True),
        sa.Column("preview", JSON, nullable=True),
        sa.ForeignKeyConstraint(
            ["connection_id"], ["xero_connections.id"],
            name=op.f("fk_approval_requests_connection_id_xero_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"],
            name=op.f("fk_approval_requests_contact_id_contacts"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_requests")),
        sa.UniqueConstraint("connection_id", "request_key",
                            name=op.f("uq_approval_requests_connection_id_request_key")),
    )
    with op.batch_alter_table("approval_requests") as batch:
        batch.create_index("ix_approval_requests_status", ["connection_id", "status"])
    op.create_table(
        "approval_cards",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.String(64), nullable=False),
        sa.Column("message_ts", sa.String(32), nullable=False),
        sa.Column("posted_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"], ["approval_requests.id"],
            name=op.f("fk_approval_cards_request_id_approval_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_cards")),
        sa.UniqueConstraint("channel_id", "message_ts",
                            name=op.f("uq_approval_cards_channel_id_message_ts")),
    )
    with op.batch_alter_table("approval_cards") as batch:
        batch.create_index("ix_approval_cards_request_id", ["request_id"])
    op.create_table(
        "forewarn_skips",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("run_date", sa.Date(), nullable=False),
        sa.Column("skipped_by", sa.String(64), nullable=False),
        sa.Column("skipped_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"], ["xero_connections.id"],
            name=op.f("fk_forewarn_skips_connection_id_xero_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"],
            name=op.f("fk_forewarn_skips_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forewarn_skips")),
        sa.UniqueConstraint("connection_id", "contact_id", "run_date",
                            name=op.f("uq_forewarn_skips_connection_id_contact_id_run_date")),
    )
    # The audit trail's index: which invoices and customers each entry is about, so one
    # invoice's history is an indexed lookup rather than a scan of every entry's JSON.
    op.create_table(
        "audit_subjects",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("audit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["audit_id"], ["audit_log.id"],
            name=op.f("fk_audit_subjects_audit_id_audit_log"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_subjects")),
    )
    with op.batch_alter_table("audit_subjects") as batch:
        batch.create_index("ix_audit_subjects_invoice_id", ["invoice_id"])
        batch.create_index("ix_audit_subjects_contact_id", ["contact_id"])
        batch.create_index("ix_audit_subjects_audit_id", ["audit_id"])

def downgrade() -> None:
    op.drop_table("audit_subjects")
    op.drop_table("forewarn_skips")
    op.drop_table("approval_cards")
    op.drop_table("approval_requests")
    op.drop_table("job_leases")
