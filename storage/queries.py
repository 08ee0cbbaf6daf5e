"""Read-only queries over a Session (re-exported by storage.repositories, the way in)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import NamedTuple

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session, selectinload

from storage.models import Contact, ContactEmail, ExpectedDateSource, Invoice

# Parameters per IN (...) list, well under SQLite's limit.
_IN_CHUNK = 500

EmailKey = tuple[str, str | None, str, bool]


def _owing(
    connection_id: int, invoice_type: str, statuses: Sequence[str]
) -> tuple[ColumnElement[bool], ...]:
    return (
        Invoice.connection_id == connection_id,
        Invoice.status.in_(list(statuses)),
        Invoice.type == invoice_type,
        Invoice.amount_due > 0,
    )


def _open_statement(
    connection_id: int, invoice_type: str, statuses: Sequence[str]
) -> Select[tuple[Invoice]]:
    return select(Invoice).where(*_owing(connection_id, invoice_type, statuses))


def open_invoices(
    session: Session, connection_id: int, *, invoice_type: str, statuses: Sequence[str]
) -> list[Invoice]:
    """Invoices of a type and status with money still owing (due or not), by id, contacts loaded.

    Which type and statuses count as open is the caller's rule (bot.chasing.receivables).
    """
    statement = (
        _open_statement(connection_id, invoice_type, statuses)
        .order_by(Invoice.id)
        .options(selectinload(Invoice.contact))
    )
    return list(session.scalars(statement))


def overdue_invoices(
    session: Session,
    connection_id: int,
    today: date,
    *,
    invoice_type: str,
    statuses: Sequence[str],
) -> list[Invoice]:
    """Invoices of a type and status with money owing, due before `today`, oldest due first."""
    statement = (
        _open_statement(connection_id, invoice_type, statuses)
        .where(Invoice.due_date < today)
        .order_by(Invoice.due_date, Invoice.id)
        .options(selectinload(Invoice.contact))
    )
    return list(session.scalars(statement))


class OwingRow(NamedTuple):
    """The columns a receivables summary reads, without loading ORM objects (100,000s of rows)."""

    invoice_id: int
    invoice_number: str | None
    contact_id: int | None
    customer: str | None
    due_date: date | None
    amount_due: Decimal
    currency_code: str | None
    currency_rate: Decimal | None
    expected_payment_date: date | None


def owing_rows(
    session: Session, connection_id: int, *, invoice_type: str, statuses: Sequence[str]
) -> list[OwingRow]:
    """The rows of open_invoices() as plain tuples with the contact's name, by id."""
    statement = (
        select(
            Invoice.id,
            Invoice.invoice_number,
            Invoice.contact_id,
            Contact.name,
            Invoice.due_date,
            Invoice.amount_due,
            Invoice.currency_code,
            Invoice.currency_rate,
            Invoice.expected_payment_date,
        )
        .outerjoin(Contact, Contact.id == Invoice.contact_id)
        .where(*_owing(connection_id, invoice_type, statuses))
        .order_by(Invoice.id)
    )
    return [OwingRow._make(row) for row in session.execute(statement)]


def invoice_by_number(session: Session, connection_id: int, number: str) -> Invoice | None:
    """An invoice by its number: an exact match first, else one ignoring case."""
    number = number.strip()
    base = select(Invoice).where(Invoice.connection_id == connection_id).order_by(Invoice.id)
    exact = session.scalars(base.where(Invoice.invoice_number == number)).first()
    if exact is not None:
        return exact
    return session.scalars(base.where(func.lower(Invoice.invoice_number) == number.lower())).first()


def contact_email_keys(session: Session, contact_ids: Iterable[int]) -> dict[int, set[EmailKey]]:
    """Each contact's stored addresses as (lower-cased email, name, source, include_in_emails).

    Contacts without any address are left out.
    """
    found: dict[int, set[EmailKey]] = {}
    ids = list(contact_ids)
    for start in range(0, len(ids), _IN_CHUNK):
        statement = select(
            ContactEmail.contact_id,
            ContactEmail.email,
            ContactEmail.name,
            ContactEmail.source,
            ContactEmail.include_in_emails,
        ).where(ContactEmail.contact_id.in_(ids[start : start + _IN_CHUNK]))
        for contact_id, email, name, source, include in session.execute(statement):
            found.setdefault(contact_id, set()).add(
                (email.lower(), name, str(source), bool(include))
            )
    return found


def locally_held_expected_dates(session: Session, connection_id: int) -> dict[str, datetime | None]:
    """Invoices whose expected date Xero refused: xero id -> UpdatedDateUTC when we held it."""
    statement = select(Invoice.xero_invoice_id, Invoice.updated_date_utc).where(
        Invoice.connection_id == connection_id,
        Invoice.expected_payment_date_source == ExpectedDateSource.LOCAL,
    )
    return {xero_id: stamp for xero_id, stamp in session.execute(statement)}
