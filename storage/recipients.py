"""A customer's escalated recipients: which of its addresses escalations go to."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import ContactEmail, EmailRole, EmailSource


def contact_addresses(session: Session, contact_id: int) -> list[ContactEmail]:
    """Every stored address of a contact, oldest first."""
    return list(session.scalars(
        select(ContactEmail).where(ContactEmail.contact_id == contact_id)
        .order_by(ContactEmail.id)))


def escalated_addresses(session: Session, contact_id: int) -> list[str]:
    """The addresses a contact's escalations go to, oldest first."""
    return [row.email for row in contact_addresses(session, contact_id)
            if row.role == EmailRole.ESCALATED]


def set_escalated_addresses(session: Session, contact_id: int,
                            emails: Sequence[str]) -> list[str]:
    """Make exactly `emails` the contact's escalated addresses (none: clear them).

    A Xero address keeps its place among the normal recipients (Xero still marks it for
    sending); an address Xero does not have is added with source `local`, which sync never
    deletes, and is removed again when it stops being escalated.
    """
    wanted = {email.strip().lower(): email.strip() for email in emails}
    for row in contact_addresses(session, contact_id):
        key = row.email.lower()
        if key in wanted:
            row.role = EmailRole.ESCALATED
            wanted.pop(key)
        elif row.role == EmailRole.ESCALATED:
            if row.source == EmailSource.LOCAL:
                session.delete(row)
            else:
                row.role = EmailRole.NORMAL
    for address in wanted.values():
        session.add(ContactEmail(contact_id=contact_id, email=address, name=None,
                                 role=EmailRole.ESCALATED, source=EmailSource.LOCAL,
                                 include_in_emails=False))
    session.flush()
    return escalated_addresses(session, contact_id)
