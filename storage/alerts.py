"""Slack alerts posted once per (connection, kind, invoice), and their per-customer threads."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import Select, delete, exists, select, update
from sqlalchemy.orm import Session

from storage.models import Contact, Invoice, Reminder, ReminderState, SlackAlert, SlackNotice
from storage.webhooks import insert_ignoring_duplicates


def claim_alert(
    session: Session,
    connection_id: int,
    kind: str,
    xero_invoice_id: str,
    *,
    xero_contact_id: str | None,
    channel_id: str,
    now: datetime,
) -> int | None:
    """Claim the right to post one alert: its new row's id, or None when it exists already.

    The unique (connection_id, kind, xero_invoice_id) decides between processes and retries.
    Commit right after, so the claim is visible to other instances before anything is posted.
    """
    statement = insert_ignoring_duplicates(session, SlackAlert).returning(SlackAlert.id)
    row = {"connection_id": connection_id, "kind": kind, "xero_invoice_id": xero_invoice_id,
           "xero_contact_id": xero_contact_id, "channel_id": channel_id, "created_at": now}
    return session.execute(statement, [row]).scalar()


def mark_alert_posted(
    session: Session, alert_id: int, *, message_ts: str, thread_ts: str | None, now: datetime
) -> None:
    """Record where the alert went."""
    session.execute(
        update(SlackAlert)
        .where(SlackAlert.id == alert_id)
        .values(message_ts=message_ts, thread_ts=thread_ts, posted_at=now)
    )


def release_alert(session: Session, alert_id: int) -> None:
    """Forget a claim whose post failed (nothing reached Slack), so a later pass may retry."""
    session.execute(delete(SlackAlert).where(SlackAlert.id == alert_id))


def alerted_invoice_ids(
    session: Session, connection_id: int, kind: str, xero_invoice_ids: Sequence[str]
) -> set[str]:
    """Which of these invoices already have an alert of this kind."""
    if not xero_invoice_ids:
        return set()
    return set(
        session.scalars(
            select(SlackAlert.xero_invoice_id).where(
                SlackAlert.connection_id == connection_id,
                SlackAlert.kind == kind,
                SlackAlert.xero_invoice_id.in_(list(xero_invoice_ids)),
            )
        )
    )


# Threads ------------------------------------------------------------------------------------


def thread_key(connection_id: int, channel_id: str, xero_contact_id: str | None) -> str:
    """The once-only key of one customer's alert thread in one channel."""
    return f"alert-thread:{connection_id}:{channel_id}:{xero_contact_id or '-'}"


def alert_thread(session: Session, key: str) -> SlackNotice | None:
    """The thread's parent message row (message_ts None while its poster is still posting)."""
    return session.scalars(
        select(SlackNotice)
        .where(SlackNotice.notice_key == key)
        .execution_options(populate_existing=True)
    ).first()


def claim_alert_thread(
    session: Session, key: str, *, connection_id: int, channel_id: str, now: datetime
) -> bool:
    """Claim the right to post a customer's parent message; False when someone else has it."""
    statement = insert_ignoring_duplicates(session, SlackNotice).returning(SlackNotice.id)
    row = {"notice_key": key, "connection_id": connection_id, "channel_id": channel_id,
           "created_at": now}
    return session.execute(statement, [row]).scalar() is not None


def take_over_alert_thread(
    session: Session, key: str, *, claimed_at: datetime, now: datetime
) -> bool:
    """Take over a parent claim whose poster stopped (still no ts since `claimed_at`).

    Compare-and-set on created_at, so of several takers exactly one wins.
    """
    result = session.execute(
        update(SlackNotice)
        .where(
            SlackNotice.notice_key == key,
            SlackNotice.message_ts.is_(None),
            SlackNotice.created_at == claimed_at,
        )
        .values(created_at=now)
    )
    return result.rowcount == 1


def set_alert_thread_message(session: Session, key: str, *, message_ts: str, now: datetime) -> None:
    """Record the posted parent message: alerts about the customer reply in its thread."""
    session.execute(
        update(SlackNotice)
        .where(SlackNotice.notice_key == key)
        .values(message_ts=message_ts, sent_at=now)
    )


def release_alert_thread(session: Session, key: str) -> None:
    """Drop a parent claim whose post failed."""
    session.execute(
        delete(SlackNotice).where(SlackNotice.notice_key == key, SlackNotice.message_ts.is_(None))
    )


# What alerts read ---------------------------------------------------------------------------


class AlertInvoice(NamedTuple):
    """The stored facts an alert about one invoice shows."""

    invoice_id: int
    xero_invoice_id: str
    invoice_number: str | None
    xero_contact_id: str | None
    customer: str | None
    status: str
    due_date: date | None
    amount_due: Decimal | None
    currency_code: str | None
    currency_rate: Decimal | None
    reminded: bool  # a reminder email was sent for it


def _alert_invoice_query() -> Select[Any]:
    reminded = exists().where(
        Reminder.invoice_id == Invoice.id, Reminder.state == ReminderState.SENT
    )
    return select(
        Invoice.id,
        Invoice.xero_invoice_id,
        Invoice.invoice_number,
        Invoice.xero_contact_id,
        Contact.name,
        Invoice.status,
        Invoice.due_date,
        Invoice.amount_due,
        Invoice.currency_code,
        Invoice.currency_rate,
        reminded.label("reminded"),
    ).outerjoin(Contact, Contact.id == Invoice.contact_id)


def alert_invoices(
    session: Session, connection_id: int, xero_invoice_ids: Sequence[str]
) -> dict[str, AlertInvoice]:
    """Stored facts of these invoices, by Xero id."""
    if not xero_invoice_ids:
        return {}
    rows = session.execute(
        _alert_invoice_query().where(
            Invoice.connection_id == connection_id,
            Invoice.xero_invoice_id.in_(list(xero_invoice_ids)),
        )
    )
    return {row[1]: AlertInvoice._make(row) for row in rows}


def invoices_due_between(
    session: Session,
    connection_id: int,
    *,
    first: date,
    last: date,
    invoice_type: str,
    statuses: Sequence[str],
    without_alert_kind: str,
) -> list[AlertInvoice]:
    """Invoices with money owing due in [first, last] and no alert of the kind yet."""
    alerted = exists().where(
        SlackAlert.connection_id == connection_id,
        SlackAlert.kind == without_alert_kind,
        SlackAlert.xero_invoice_id == Invoice.xero_invoice_id,
    )
    rows = session.execute(
        _alert_invoice_query()
        .where(
            Invoice.connection_id == connection_id,
            Invoice.type == invoice_type,
            Invoice.status.in_(list(statuses)),
            Invoice.amount_due > 0,
            Invoice.due_date >= first,
            Invoice.due_date <= last,
            ~alerted,
        )
        .order_by(Invoice.due_date, Invoice.id)
    )
    return [AlertInvoice._make(row) for row in rows]
