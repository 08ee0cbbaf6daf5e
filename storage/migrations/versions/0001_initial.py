"""Initial schema: workspaces, Xero connections, contacts, invoices, sync and OAuth state.

Revision ID: 0001
Revises:
Create Date: 2026-11-25 15:19:09.803055
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# Frozen copies of storage.types as plain types: a migration must not change when the
# models do. SQLite keeps money as integer ten-thousandths (see storage.types.ExactDecimal).
MONEY = sa.Numeric(18, 4).with_variant(sa.BigInteger(), "sqlite")
RATE = sa.Numeric(20, 10).with_variant(sa.BigInteger(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "workspaces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slack_team_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("installed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("digest_channel_id", sa.String(length=64), nullable=True),
        sa.Column("digest_time", sa.String(length=5), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workspaces")),
        sa.UniqueConstraint("slack_team_id", name=op.f("uq_workspaces_slack_team_id")),
    )
    op.create_table(
        "oauth_states",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("code_verifier_ciphertext", sa.Text(), nullable=True),
        sa.Column("workspace_id", sa.Integer(), nullable=True),
        sa.Column("slack_user_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_oauth_states_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_states")),
        sa.UniqueConstraint("state_hash", name=op.f("uq_oauth_states_state_hash")),
    )
    op.create_table(
        "workspace_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("slack_user_id", sa.String(length=64), nullable=False),
        sa.Column(
            "role",
            sa.Enum("admin", "manager", name="memberrole", native_enum=False, length=32),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_workspace_members_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workspace_members")),
        sa.UniqueConstraint(
            "workspace_id",
            "slack_user_id",
            "role",
            name=op.f("uq_workspace_members_workspace_id_slack_user_id_role"),
        ),
    )
    op.create_table(
        "xero_connections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("xero_connection_id", sa.String(length=64), nullable=True),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("tenant_name", sa.String(length=255), nullable=True),
        sa.Column("short_code", sa.String(length=32), nullable=True),
        sa.Column("country_code", sa.String(length=8), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("base_currency", sa.String(length=3), nullable=True),
        sa.Column("period_lock_date", sa.Date(), nullable=True),
        sa.Column("end_of_year_lock_date", sa.Date(), nullable=True),
        sa.Column("token_ciphertext", sa.Text(), nullable=True),
        sa.Column("token_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("token_version", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "connected",
                "needs_reconnect",
                "disconnected",
                name="connectionstatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("connected_by", sa.String(length=64), nullable=True),
        sa.Column("connected_by_xero_user", sa.String(length=255), nullable=True),
        sa.Column("connected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_xero_connections_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_xero_connections")),
        sa.UniqueConstraint(
            "workspace_id", "tenant_id", name=op.f("uq_xero_connections_workspace_id_tenant_id")
        ),
    )
    with op.batch_alter_table("xero_connections", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_xero_connections_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=True),
        sa.Column("connection_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("detail", JSON, nullable=True),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["xero_connections.id"],
            name=op.f("fk_audit_log_connection_id_xero_connections"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_audit_log_workspace_id_workspaces"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_workspace_at", ["workspace_id", "at"], unique=False)

    op.create_table(
        "contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("xero_contact_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("first_name", sa.String(length=255), nullable=True),
        sa.Column("last_name", sa.String(length=255), nullable=True),
        sa.Column("account_number", sa.String(length=64), nullable=True),
        sa.Column("contact_status", sa.String(length=32), nullable=True),
        sa.Column("merged_to_xero_contact_id", sa.String(length=64), nullable=True),
        sa.Column("is_customer", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("phones", JSON, nullable=True),
        sa.Column("addresses", JSON, nullable=True),
        sa.Column("default_currency", sa.String(length=3), nullable=True),
        sa.Column("updated_date_utc", sa.DateTime(timezone=True), nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("chasing_paused", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["xero_connections.id"],
            name=op.f("fk_contacts_connection_id_xero_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
        sa.UniqueConstraint(
            "connection_id",
            "xero_contact_id",
            name=op.f("uq_contacts_connection_id_xero_contact_id"),
        ),
    )
    op.create_table(
        "sync_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("high_water_mark", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_full_sync_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_sync_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("in_progress_since", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["xero_connections.id"],
            name=op.f("fk_sync_state_connection_id_xero_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_state")),
        sa.UniqueConstraint(
            "connection_id", "entity", name=op.f("uq_sync_state_connection_id_entity")
        ),
    )
    op.create_table(
        "contact_emails",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column(
            "role",
            sa.Enum("normal", "escalated", name="emailrole", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column(
            "source",
            sa.Enum("contact", "person", name="emailsource", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("include_in_emails", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_contact_emails_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_emails")),
        sa.UniqueConstraint("contact_id", "email", name=op.f("uq_contact_emails_contact_id_email")),
    )
    op.create_table(
        "invoices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("xero_invoice_id", sa.String(length=64), nullable=False),
        sa.Column("invoice_number", sa.String(length=255), nullable=True),
        sa.Column("reference", sa.Text(), nullable=True),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("xero_contact_id", sa.String(length=64), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("date", sa.Date(), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("currency_code", sa.String(length=3), nullable=True),
        sa.Column("currency_rate", RATE, nullable=True),
        sa.Column("sub_total", MONEY, nullable=True),
        sa.Column("total_tax", MONEY, nullable=True),
        sa.Column("total", MONEY, nullable=True),
        sa.Column("amount_due", MONEY, nullable=True),
        sa.Column("amount_paid", MONEY, nullable=True),
        sa.Column("amount_credited", MONEY, nullable=True),
        sa.Column("fully_paid_on_date", sa.Date(), nullable=True),
        sa.Column("sent_to_contact", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("has_payments", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("has_credit_notes", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("has_prepayments", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("has_overpayments", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("updated_date_utc", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expected_payment_date", sa.Date(), nullable=True),
        sa.Column(
            "expected_payment_date_source",
            sa.Enum("xero", "local", name="expecteddatesource", native_enum=False, length=32),
            nullable=True,
        ),
        sa.Column("expected_payment_date_reason", sa.Text(), nullable=True),
        sa.Column("chasing_paused", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("chasing_paused_until", sa.Date(), nullable=True),
        sa.Column("chasing_paused_reason", sa.Text(), nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["xero_connections.id"],
            name=op.f("fk_invoices_connection_id_xero_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_invoices_contact_id_contacts"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint(
            "connection_id",
            "xero_invoice_id",
            name=op.f("uq_invoices_connection_id_xero_invoice_id"),
        ),
    )
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_invoices_contact_id"), ["contact_id"], unique=False)
        batch_op.create_index(
            "ix_invoices_number", ["connection_id", "invoice_number"], unique=False
        )
        batch_op.create_index(
            "ix_invoices_overdue", ["connection_id", "status", "due_date"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_index("ix_invoices_overdue")
        batch_op.drop_index("ix_invoices_number")
        batch_op.drop_index(batch_op.f("ix_invoices_contact_id"))

    op.drop_table("invoices")
    op.drop_table("contact_emails")
    op.drop_table("sync_state")
    op.drop_table("contacts")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_workspace_at")

    op.drop_table("audit_log")
    with op.batch_alter_table("xero_connections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_xero_connections_workspace_id"))

    op.drop_table("xero_connections")
    op.drop_table("workspace_members")
    op.drop_table("oauth_states")
    op.drop_table("workspaces")
