"""SQLAlchemy 2 typed tables: workspaces, Xero connections, synced contacts and invoices, state."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from storage.types import UTCDateTime, money, rate

# Deterministic constraint names, so migrations can drop and alter them on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# The workspace that owns connections made from the command line, before or without Slack.
# Connections always belong to a workspace so that (workspace_id, tenant_id) stays a plain
# unique key: a NULL workspace would let the same tenant be connected twice.
CLI_WORKSPACE_TEAM_ID = "local:cli"

Json = JSON().with_variant(JSONB(), "postgresql")
# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def _enum(enum_class: type[StrEnum]) -> Enum:
    """A StrEnum stored by value in a VARCHAR (no native ENUM type to migrate)."""
    return Enum(
        enum_class,
        native_enum=False,
        length=32,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


class ConnectionStatus(StrEnum):
    CONNECTED = "connected"
    NEEDS_RECONNECT = "needs_reconnect"
    DISCONNECTED = "disconnected"


class MemberRole(StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"


class EmailRole(StrEnum):
    NORMAL = "normal"
    ESCALATED = "escalated"


class EmailSource(StrEnum):
    CONTACT = "contact"
    PERSON = "person"
    # Added in the app as an escalated recipient: Xero does not have it, so sync never deletes it.
    LOCAL = "local"


class ExpectedDateSource(StrEnum):
    XERO = "xero"
    LOCAL = "local"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        dt.datetime: UTCDateTime(),
        Decimal: money(),
        dict[str, Any]: Json,
        list[Any]: Json,
    }


class Workspace(Base):
    """A Slack workspace (or the CLI pseudo-workspace) and its chasing settings."""

    __tablename__ = "workspaces"

    id: Mapped[int] = mapped_column(primary_key=True)
    slack_team_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str | None] = mapped_column(String(255))
    installed_at: Mapped[dt.datetime]
    digest_channel_id: Mapped[str | None] = mapped_column(String(64))
    digest_time: Mapped[str | None] = mapped_column(String(5))  # "HH:MM" in `timezone`
    timezone: Mapped[str | None] = mapped_column(String(64))  # IANA name, e.g. Pacific/Auckland

    members: Mapped[list[WorkspaceMember]] = relationship(
        back_populates="workspace", cascade="all, delete-orphan", passive_deletes=True
    )


class WorkspaceMember(Base):
    """A user granted a role in a workspace; a user may hold both roles."""

    __tablename__ = "workspace_members"
    __table_args__ = (UniqueConstraint("workspace_id", "slack_user_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    slack_user_id: Mapped[str] = mapped_column(String(64))
    role: Mapped[MemberRole] = mapped_column(_enum(MemberRole))

    workspace: Mapped[Workspace] = relationship(back_populates="members")


class XeroConnection(Base):
    """One Xero organisation connected to one workspace, with its encrypted token set."""

    __tablename__ = "xero_connections"
    __table_args__ = (UniqueConstraint("workspace_id", "tenant_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    xero_connection_id: Mapped[str | None] = mapped_column(String(64))
    tenant_id: Mapped[str] = mapped_column(String(64))
    tenant_name: Mapped[str | None] = mapped_column(String(255))
    short_code: Mapped[str | None] = mapped_column(String(32))
    country_code: Mapped[str | None] = mapped_column(String(8))
    timezone: Mapped[str | None] = mapped_column(String(64))
    base_currency: Mapped[str | None] = mapped_column(String(3))
    period_lock_date: Mapped[dt.date | None]
    end_of_year_lock_date: Mapped[dt.date | None]
    # Ciphertext only: the caller encrypts, so plaintext tokens never reach this layer.
    token_ciphertext: Mapped[str | None] = mapped_column(Text)
    token_expires_at: Mapped[dt.datetime | None]
    # Bumped on every token save, so a refresh can detect that another process won the race.
    token_version: Mapped[int] = mapped_column(server_default=text("0"), default=0)
    status: Mapped[ConnectionStatus] = mapped_column(
        _enum(ConnectionStatus), default=ConnectionStatus.CONNECTED
    )
    status_reason: Mapped[str | None] = mapped_column(Text)
    connected_by: Mapped[str | None] = mapped_column(String(64))
    connected_by_xero_user: Mapped[str | None] = mapped_column(String(255))
    connected_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]

    workspace: Mapped[Workspace] = relationship()


class Contact(Base):
    """A Xero contact as last synced, plus the local chasing switch."""

    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("connection_id", "xero_contact_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("xero_connections.id", ondelete="CASCADE")
    )
    xero_contact_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(255))
    first_name: Mapped[str | None] = mapped_column(String(255))
    last_name: Mapped[str | None] = mapped_column(String(255))
    account_number: Mapped[str | None] = mapped_column(String(64))
    contact_status: Mapped[str | None] = mapped_column(String(32))
    merged_to_xero_contact_id: Mapped[str | None] = mapped_column(String(64))
    is_customer: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)
    phones: Mapped[list[Any] | None]
    addresses: Mapped[list[Any] | None]
    default_currency: Mapped[str | None] = mapped_column(String(3))
    updated_date_utc: Mapped[dt.datetime | None]
    synced_at: Mapped[dt.datetime | None]
    # Local only: never written by a sync upsert.
    chasing_paused: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)
    chasing_paused_until: Mapped[dt.date | None]  # chasing resumes on this date
    chasing_paused_reason: Mapped[str | None] = mapped_column(Text)

    emails: Mapped[list[ContactEmail]] = relationship(
        back_populates="contact",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="ContactEmail.id",
    )


class ContactEmail(Base):
    """An address reminders for a contact go to (or are escalated to)."""

    __tablename__ = "contact_emails"
    __table_args__ = (UniqueConstraint("contact_id", "email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[EmailRole] = mapped_column(_enum(EmailRole), default=EmailRole.NORMAL)
    source: Mapped[EmailSource] = mapped_column(_enum(EmailSource), default=EmailSource.CONTACT)
    include_in_emails: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)

    contact: Mapped[Contact] = relationship(back_populates="emails")


class Invoice(Base):
    """A Xero invoice as last synced, plus local-only chasing state that sync never touches."""

    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("connection_id", "xero_invoice_id"),
        Index("ix_invoices_overdue", "connection_id", "status", "due_date"),
        Index("ix_invoices_number", "connection_id", "invoice_number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("xero_connections.id", ondelete="CASCADE")
    )
    xero_invoice_id: Mapped[str] = mapped_column(String(64))
    invoice_number: Mapped[str | None] = mapped_column(String(255))
    reference: Mapped[str | None] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(16))
    # Xero's id is kept as well as the FK: an invoice may arrive before its contact.
    xero_contact_id: Mapped[str | None] = mapped_column(String(64))
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), index=True
    )
    date: Mapped[dt.date | None]
    due_date: Mapped[dt.date | None]
    status: Mapped[str] = mapped_column(String(16))
    currency_code: Mapped[str | None] = mapped_column(String(3))
    currency_rate: Mapped[Decimal | None] = mapped_column(rate())
    sub_total: Mapped[Decimal | None]
    total_tax: Mapped[Decimal | None]
    total: Mapped[Decimal | None]
    amount_due: Mapped[Decimal | None]
    amount_paid: Mapped[Decimal | None]
    amount_credited: Mapped[Decimal | None]
    fully_paid_on_date: Mapped[dt.date | None]
    sent_to_contact: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)
    has_payments: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)
    has_credit_notes: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)
    has_prepayments: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)
    has_overpayments: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)
    updated_date_utc: Mapped[dt.datetime | None]
    expected_payment_date: Mapped[dt.date | None]
    # "local" when Xero refused the write-back (e.g. a locked period): sync must keep it.
    expected_payment_date_source: Mapped[ExpectedDateSource | None] = mapped_column(
        _enum(ExpectedDateSource)
    )
    expected_payment_date_reason: Mapped[str | None] = mapped_column(Text)
    # Local only: never written by a sync upsert.
    chasing_paused: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)
    chasing_paused_until: Mapped[dt.date | None]
    chasing_paused_reason: Mapped[str | None] = mapped_column(Text)
    # Local only: a disputed invoice is not chased until the dispute is resolved.
    disputed: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)
    disputed_reason: Mapped[str | None] = mapped_column(Text)
    disputed_by: Mapped[str | None] = mapped_column(String(64))
    disputed_at: Mapped[dt.datetime | None]
    synced_at: Mapped[dt.datetime | None]

    contact: Mapped[Contact | None] = relationship()


class SyncState(Base):
    """Where the last sync of one entity for one connection got to."""

    __tablename__ = "sync_state"
    __table_args__ = (UniqueConstraint("connection_id", "entity"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("xero_connections.id", ondelete="CASCADE")
    )
    entity: Mapped[str] = mapped_column(String(32))
    # The largest UpdatedDateUTC seen: the next If-Modified-Since.
    high_water_mark: Mapped[dt.datetime | None]
    last_full_sync_at: Mapped[dt.datetime | None]
    last_sync_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    # Set while a sync runs; a stale value means a crashed run, not a running one.
    in_progress_since: Mapped[dt.datetime | None]


class OAuthState(Base):
    """A pending OAuth authorisation: single use, short lived, secrets never in plain text."""

    __tablename__ = "oauth_states"

    id: Mapped[int] = mapped_column(primary_key=True)
    # SHA-256 of the state parameter: a database leak cannot be replayed at the callback.
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The PKCE verifier, encrypted by the caller with the same cipher as tokens.
    code_verifier_ciphertext: Mapped[str | None] = mapped_column(Text)
    workspace_id: Mapped[int | None] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE")
    )
    slack_user_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]


class AuditEntry(Base):
    """Who did what, when; kept when the workspace or connection is deleted."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_workspace_at", "workspace_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[dt.datetime]
    workspace_id: Mapped[int | None] = mapped_column(
        ForeignKey("workspaces.id", ondelete="SET NULL")
    )
    connection_id: Mapped[int | None] = mapped_column(
        ForeignKey("xero_connections.id", ondelete="SET NULL")
    )
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any] | None]




class OrganisationSettings(Base):
    """How one connected organisation is chased and reported: digest, window, thresholds, pause.

    One row per connection, created with defaults on first read (storage/settings.py). Amounts are
    in the organisation's base currency; times are "HH:MM" in the organisation's timezone.
    """

    __tablename__ = "organisation_settings"

    connection_id: Mapped[int] = mapped_column(
        ForeignKey("xero_connections.id", ondelete="CASCADE"), primary_key=True
    )
    digest_enabled: Mapped[bool] = mapped_column(Boolean, server_default=true())
    digest_channel_id: Mapped[str | None] = mapped_column(String(64))
    digest_time: Mapped[str] = mapped_column(String(5), server_default="09:00")
    # Reminders go only on these ISO weekdays (1 = Monday), at chase_time, off public holidays.
    chase_days: Mapped[str] = mapped_column(String(32), server_default="1,2,3,4,5")
    chase_time: Mapped[str] = mapped_column(String(5), server_default="10:00")
    minimum_chase_amount: Mapped[Decimal] = mapped_column(server_default=text("0"))
    wait_for_expected_date: Mapped[bool] = mapped_column(Boolean, server_default=true())
    # Everyone may use the digest's buttons unless this narrows them to admins.
    buttons_admins_only: Mapped[bool] = mapped_column(Boolean, server_default=false())
    alert_payments: Mapped[bool] = mapped_column(Boolean, server_default=true())
    # An invoice at or above this base amount becoming overdue is announced; NULL turns it off.
    alert_overdue_over: Mapped[Decimal | None]
    # Escalation cards go here; NULL sends them to each manager by DM.
    approvals_channel_id: Mapped[str | None] = mapped_column(String(64))
    # The whole account's chasing switch (a lost connection pauses chasing on its own).
    chasing_paused: Mapped[bool] = mapped_column(Boolean, server_default=false())
    chasing_paused_until: Mapped[dt.date | None]  # chasing resumes on this date
    chasing_paused_reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[dt.datetime | None]
    updated_by: Mapped[str | None] = mapped_column(String(64))
    # --- Chasing (revision 0006): who reminders come from, how they are worded, holidays ------
    # Public holidays of the organisation's country are not chase days unless this is off.
    skip_public_holidays: Mapped[bool] = mapped_column(Boolean, server_default=true())
    # A Babel locale for amounts and dates in emails (e.g. en_NZ); NULL: from the country.
    locale: Mapped[str | None] = mapped_column(String(16))
    # The normal and escalated senders: the From name and the Reply-To of reminder emails.
    sender_name: Mapped[str | None] = mapped_column(String(255))
    sender_email: Mapped[str | None] = mapped_column(String(320))
    escalated_sender_name: Mapped[str | None] = mapped_column(String(255))
    escalated_sender_email: Mapped[str | None] = mapped_column(String(320))



# --- Digest, alerts, webhook deliveries and connection incidents (migration 0005) ---------


class DigestStatus(StrEnum):
    POSTING = "posting"
    POSTED = "posted"
    FAILED = "failed"


class DigestMessage(Base):
    """One organisation's digest for one local day: claimed once, then its channel and ts."""

    __tablename__ = "digest_messages"
    __table_args__ = (
        # The unique key is what lets exactly one of several instances post the day's digest.
        UniqueConstraint("connection_id", "digest_date"),
        Index("ix_digest_messages_channel_ts", "channel_id", "message_ts"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("xero_connections.id", ondelete="CASCADE")
    )
    digest_date: Mapped[dt.date]
    status: Mapped[DigestStatus] = mapped_column(_enum(DigestStatus))
    channel_id: Mapped[str | None] = mapped_column(String(64))
    message_ts: Mapped[str | None] = mapped_column(String(32))
    # The page shown, so a click or a webhook re-renders the message as people see it.
    page: Mapped[int] = mapped_column(server_default=text("0"), default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(255))
    claimed_at: Mapped[dt.datetime]
    posted_at: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime | None]
    error: Mapped[str | None] = mapped_column(Text)


class SlackAlert(Base):
    """An alert about one invoice (payment received, overdue above a threshold), posted once."""

    __tablename__ = "slack_alerts"
    __table_args__ = (
        UniqueConstraint("connection_id", "kind", "xero_invoice_id"),
        Index("ix_slack_alerts_contact", "connection_id", "xero_contact_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("xero_connections.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(32))
    xero_invoice_id: Mapped[str] = mapped_column(String(64))
    # Alerts thread per customer: the first alert's ts is the thread for the next ones.
    xero_contact_id: Mapped[str | None] = mapped_column(String(64))
    channel_id: Mapped[str | None] = mapped_column(String(64))
    message_ts: Mapped[str | None] = mapped_column(String(32))
    thread_ts: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[dt.datetime]
    posted_at: Mapped[dt.datetime | None]


class XeroWebhookEvent(Base):
    """One Xero webhook event as delivered; the unique key makes redeliveries no-ops."""

    __tablename__ = "xero_webhook_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_key: Mapped[str] = mapped_column(String(128), unique=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    event_category: Mapped[str] = mapped_column(String(32))
    event_type: Mapped[str] = mapped_column(String(32))
    resource_id: Mapped[str] = mapped_column(String(64))
    event_date_utc: Mapped[dt.datetime | None]
    received_at: Mapped[dt.datetime]
    processed_at: Mapped[dt.datetime | None]
    error: Mapped[str | None] = mapped_column(Text)


class ConnectionIncident(Base):
    """A span during which a connection needed reconnecting; at most one open per connection."""

    __tablename__ = "connection_incidents"

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("xero_connections.id", ondelete="CASCADE")
    )
    # Equal to connection_id while open and NULL once resolved: a plain unique key that allows
    # one open incident per connection on SQLite and PostgreSQL alike (NULLs are distinct).
    open_connection_id: Mapped[int | None] = mapped_column(unique=True)
    reason: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[dt.datetime]
    resolved_at: Mapped[dt.datetime | None]


class SlackNotice(Base):
    """A direct message sent once per key (e.g. one per admin per connection incident)."""

    __tablename__ = "slack_notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_key: Mapped[str] = mapped_column(String(255), unique=True)
    connection_id: Mapped[int | None] = mapped_column(
        ForeignKey("xero_connections.id", ondelete="CASCADE")
    )
    slack_user_id: Mapped[str | None] = mapped_column(String(64))
    channel_id: Mapped[str | None] = mapped_column(String(64))
    message_ts: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[dt.datetime]
    sent_at: Mapped[dt.datetime | None]


# --- Chasing (revision 0006): schedules, customer assignment and the reminders ledger -------


class SchedulePart(StrEnum):
    """The three parts of a chasing schedule, as Chaser's."""

    BEFORE_DUE = "before_due"
    OVERDUE = "overdue"
    PAID = "paid"


class ReminderState(StrEnum):
    """Where one (invoice, step) is; the row itself is the idempotency key."""

    # Claimed and committed before the SMTP conversation starts; the email may be on its way.
    SENDING = "sending"
    # The SMTP server accepted the message.
    SENT = "sent"
    # The SMTP server refused it or could not be reached: nothing went, the next run retries.
    FAILED = "failed"
    # A claim whose run died before recording the outcome: it may have gone, so it is never
    # resent on its own; a person looks and releases it (see bot/chasing/ledger.py).
    UNCONFIRMED = "unconfirmed"
    # A step that needs a manager: waiting, approved (then sending/sent) or declined.
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    DECLINED = "declined"
    # A person skipped this one chase (e.g. from the forewarn).
    SKIPPED = "skipped"


class ChaseSchedule(Base):
    """A named chasing schedule of one organisation; exactly one is its default."""

    __tablename__ = "chase_schedules"
    __table_args__ = (UniqueConstraint("connection_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("xero_connections.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(100))
    is_default: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)
    # The last overdue step repeats every N days, at most `repeat_limit` times (NULL: no cap).
    repeat_every_days: Mapped[int | None]
    repeat_limit: Mapped[int | None]
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    updated_by: Mapped[str | None] = mapped_column(String(255))

    steps: Mapped[list[ChaseStep]] = relationship(
        back_populates="schedule",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="[ChaseStep.part, ChaseStep.days]",
    )


class ChaseStep(Base):
    """One chase of a schedule: N days before or after the due date (or after payment)."""

    __tablename__ = "chase_steps"
    __table_args__ = (UniqueConstraint("schedule_id", "part", "days"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(
        ForeignKey("chase_schedules.id", ondelete="CASCADE")
    )
    part: Mapped[SchedulePart] = mapped_column(_enum(SchedulePart))
    days: Mapped[int]
    # A template family in bot/chasing/templates/ (single and grouped variants of each).
    template: Mapped[str] = mapped_column(String(64))
    # Group this customer's invoices at the same kind of step into one email (a table).
    grouped: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)
    escalated_sender: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)
    escalated_recipients: Mapped[bool] = mapped_column(
        Boolean, server_default=false(), default=False
    )
    needs_approval: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)

    schedule: Mapped[ChaseSchedule] = relationship(back_populates="steps")


class ContactSchedule(Base):
    """A customer chased on a schedule other than the organisation's default."""

    __tablename__ = "contact_schedules"

    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    schedule_id: Mapped[int] = mapped_column(
        ForeignKey("chase_schedules.id", ondelete="CASCADE"), index=True
    )
    assigned_at: Mapped[dt.datetime]
    assigned_by: Mapped[str | None] = mapped_column(String(255))


class Reminder(Base):
    """The reminders ledger: one row per (invoice, step), ever; the row is the send's claim.

    The unique (invoice_id, step_key) is the idempotency key: a run inserts the row (state
    sending, with the Message-ID the email will carry) and commits before talking to SMTP, so a
    second run or process cannot claim it again. Rows of one grouped email share a message_id.
    """

    __tablename__ = "reminders"
    __table_args__ = (
        UniqueConstraint("invoice_id", "step_key"),
        Index("ix_reminders_connection_state", "connection_id", "state"),
        Index("ix_reminders_message_id", "message_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("xero_connections.id", ondelete="CASCADE")
    )
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    # "before_due:7", "overdue:1", "overdue:15" (a repeat), "paid:0": the step's day, so a
    # schedule edit or a new schedule never re-sends a chase for the same day.
    step_key: Mapped[str] = mapped_column(String(32))
    schedule_id: Mapped[int | None] = mapped_column(
        ForeignKey("chase_schedules.id", ondelete="SET NULL")
    )
    state: Mapped[ReminderState] = mapped_column(_enum(ReminderState))
    step_on: Mapped[dt.date]  # the day the step fell due (organisation's calendar)
    template: Mapped[str] = mapped_column(String(64))
    grouped: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)
    escalated: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)
    message_id: Mapped[str | None] = mapped_column(String(255))
    sender: Mapped[str | None] = mapped_column(String(320))
    recipients: Mapped[list[Any] | None]
    subject: Mapped[str | None] = mapped_column(Text)
    amount_due: Mapped[Decimal | None]
    currency_code: Mapped[str | None] = mapped_column(String(3))
    attempts: Mapped[int] = mapped_column(server_default=text("0"), default=0)
    actor: Mapped[str] = mapped_column(String(255))
    claimed_at: Mapped[dt.datetime]
    sent_at: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime]
    last_error: Mapped[str | None] = mapped_column(Text)


class OnlineInvoiceLink(Base):
    """Xero's customer-facing link for an invoice, fetched once and kept (it does not change)."""

    __tablename__ = "online_invoice_links"

    invoice_id: Mapped[int] = mapped_column(
        ForeignKey("invoices.id", ondelete="CASCADE"), primary_key=True
    )
    url: Mapped[str | None] = mapped_column(Text)
    fetched_at: Mapped[dt.datetime]


# Escalations, audit index and scheduling (issue 9: approvals in Slack, job leases) -------


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    SNOOZED = "snoozed"  # asked again at ask_again_at
    APPROVED = "approved"  # decided; the email is being sent
    SENT = "sent"
    DECLINED = "declined"
    SEND_FAILED = "send_failed"
    WITHDRAWN = "withdrawn"  # nothing left to escalate (paid, paused, disputed) before a decision


class JobLease(Base):
    """Which instance runs one occurrence of one scheduled job; the row outlives the run.

    (job_key, occurrence) is unique, so exactly one insert wins; a crashed holder's lease can
    be taken over once `expires_at` has passed and the run never finished.
    """

    __tablename__ = "job_leases"
    __table_args__ = (UniqueConstraint("job_key", "occurrence"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_key: Mapped[str] = mapped_column(String(128))
    occurrence: Mapped[str] = mapped_column(String(64))  # the scheduled UTC time, ISO 8601
    owner: Mapped[str] = mapped_column(String(128))
    claimed_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)


class ApprovalRequest(Base):
    """An escalated reminder waiting for (or given) a manager's decision in Slack."""

    __tablename__ = "approval_requests"
    __table_args__ = (
        UniqueConstraint("connection_id", "request_key"),
        Index("ix_approval_requests_status", "connection_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("xero_connections.id", ondelete="CASCADE")
    )
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    step_key: Mapped[str] = mapped_column(String(64))
    # The Message-ID of the held email (its reminders-ledger rows share it): asking twice is
    # a no-op.
    request_key: Mapped[str] = mapped_column(String(255))
    invoice_ids: Mapped[list[Any]]
    # [invoice_id, step_key] pairs: the reminders-ledger rows this request holds.
    invoice_steps: Mapped[list[Any]]
    amount: Mapped[Decimal]
    currency_code: Mapped[str | None] = mapped_column(String(3))
    status: Mapped[ApprovalStatus] = mapped_column(_enum(ApprovalStatus))
    requested_at: Mapped[dt.datetime]
    ask_again_at: Mapped[dt.datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[dt.datetime | None]
    outcome_detail: Mapped[str | None] = mapped_column(Text)
    # The email as the card showed it (sender, recipients, subject, body): once held, the plan
    # no longer lists it, and a snoozed card asked again must show the same email.
    preview: Mapped[dict[str, Any] | None]

    cards: Mapped[list[ApprovalCard]] = relationship(
        back_populates="request", cascade="all, delete-orphan", passive_deletes=True,
        order_by="ApprovalCard.id",
    )


class ApprovalCard(Base):
    """One Slack message showing an approval request (a channel post, or one DM per manager)."""

    __tablename__ = "approval_cards"
    __table_args__ = (
        UniqueConstraint("channel_id", "message_ts"),
        Index("ix_approval_cards_request_id", "request_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("approval_requests.id", ondelete="CASCADE")
    )
    channel_id: Mapped[str] = mapped_column(String(64))
    message_ts: Mapped[str] = mapped_column(String(32))
    posted_at: Mapped[dt.datetime]

    request: Mapped[ApprovalRequest] = relationship(back_populates="cards")


class ForewarnSkip(Base):
    """A customer someone skipped in the forewarn: not chased in the run of `run_date`.

    The skip itself is enforced by `skipped` rows in the reminders ledger (one per invoice and
    step the run would have sent); this row says who skipped whom, for the forewarn message.
    """

    __tablename__ = "forewarn_skips"
    __table_args__ = (UniqueConstraint("connection_id", "contact_id", "run_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("xero_connections.id", ondelete="CASCADE")
    )
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    run_date: Mapped[dt.date]
    skipped_by: Mapped[str] = mapped_column(String(64))
    skipped_at: Mapped[dt.datetime]


class AuditSubject(Base):
    """An invoice or customer one audit entry is about (filled in by storage.audit)."""

    __tablename__ = "audit_subjects"
    __table_args__ = (
        Index("ix_audit_subjects_invoice_id", "invoice_id"),
        Index("ix_audit_subjects_contact_id", "contact_id"),
        Index("ix_audit_subjects_audit_id", "audit_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    audit_id: Mapped[int] = mapped_column(BigId, ForeignKey("audit_log.id", ondelete="CASCADE"))
    # No foreign keys: the trail outlives the invoices and contacts it names.
    invoice_id: Mapped[int | None]
    contact_id: Mapped[int | None]


# Slack app (issue 8: slack-app) ------------------------------------------------------------
# slack_sdk's installation and OAuth state tables, used only through slack_sdk's own
# SQLAlchemy stores (bot/slack_clients.py); declared here so Alembic's migration 0004 and the
# models stay one schema. Same names and columns as slack_sdk builds them, except that token
# columns are Text: tokens are stored encrypted and the ciphertext outgrows String(200).
# Datetimes are naive UTC, as slack_sdk writes them.


def _slack_bot_columns() -> list[Column[Any]]:
    return [
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("client_id", String(32), nullable=False),
        Column("app_id", String(32), nullable=False),
        Column("enterprise_id", String(32)),
        Column("enterprise_name", String(200)),
        Column("team_id", String(32)),
        Column("team_name", String(200)),
        Column("bot_token", Text),
        Column("bot_id", String(32)),
        Column("bot_user_id", String(32)),
        Column("bot_scopes", String(1000)),
        Column("bot_refresh_token", Text),
        Column("bot_token_expires_at", DateTime),
        Column("is_enterprise_install", Boolean, nullable=False, server_default=false()),
    ]


slack_installations = Table(
    "slack_installations",
    Base.metadata,
    *_slack_bot_columns(),
    Column("enterprise_url", String(200)),
    Column("user_id", String(32), nullable=False),
    Column("user_token", Text),
    Column("user_scopes", String(1000)),
    Column("user_refresh_token", Text),
    Column("user_token_expires_at", DateTime),
    Column("incoming_webhook_url", String(200)),
    Column("incoming_webhook_channel", String(200)),
    Column("incoming_webhook_channel_id", String(200)),
    Column("incoming_webhook_configuration_url", String(200)),
    Column("token_type", String(32)),
    Column("installed_at", DateTime, nullable=False, server_default=func.now()),
    Index("slack_installations_idx",
          "client_id", "enterprise_id", "team_id", "user_id", "installed_at"),
)

slack_bots = Table(
    "slack_bots",
    Base.metadata,
    *_slack_bot_columns(),
    Column("installed_at", DateTime, nullable=False, server_default=func.now()),
    Index("slack_bots_idx", "client_id", "enterprise_id", "team_id", "installed_at"),
)

slack_oauth_states = Table(
    "slack_oauth_states",
    Base.metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("state", String(200), nullable=False),
    Column("expire_at", DateTime, nullable=False),
)


class OnceKey(Base):
    """A side effect that must happen once across retries and instances: the row's insert
    decides who does it (a Slack request by trigger_id or event_id, a DM per incident...)."""

    __tablename__ = "once_keys"

    scope: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(index=True)
