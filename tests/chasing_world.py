"""Books for chasing tests, written straight to a migrated database: an organisation,
customers with addresses, invoices, and a clock at a chosen local time."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from storage.db import session_scope
from storage.models import Contact, ContactEmail, EmailRole, EmailSource, Invoice
from storage.repositories import save_connection
from storage.settings import update_organisation_settings

NZ = ZoneInfo("Pacific/Auckland")
# Tuesday 1 December 2026, 10:30 in Auckland: inside the default window (weekdays from 10:00).
IN_WINDOW = datetime(2026, 12, 1, 10, 30, tzinfo=NZ)
TODAY = IN_WINDOW.date()
_ids = itertools.count(1)


class Clock:
    """A clock tests set by hand."""

    def __init__(self, now: datetime = IN_WINDOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Books:
    """One organisation's books in the test database."""

    session_factory: sessionmaker[Session]
    connection_id: int

    def customer(self, name: str, *emails: str, escalated: tuple[str, ...] = (),
                 first_name: str | None = None, **fields: object) -> int:
        with session_scope(self.session_factory) as session:
            contact = Contact(connection_id=self.connection_id,
                              xero_contact_id=f"contact-{next(_ids)}", name=name,
                              first_name=first_name, is_customer=True, **fields)
            session.add(contact)
            session.flush()
            for address in emails:
                session.add(ContactEmail(contact_id=contact.id, email=address, name=name,
                                         role=EmailRole.NORMAL, source=EmailSource.CONTACT,
                                         include_in_emails=True))
            for address in escalated:
                session.add(ContactEmail(contact_id=contact.id, email=address, name=name,
                                         role=EmailRole.ESCALATED, source=EmailSource.LOCAL,
                                         include_in_emails=False))
            return contact.id

    def invoice(self, contact_id: int, number: str, due: date, amount: str = "100.00", *,
                currency: str = "NZD", status: str = "AUTHORISED", **fields: object) -> int:
        with session_scope(self.session_factory) as session:
            amount_due = Decimal(amount) if status == "AUTHORISED" else Decimal("0")
            invoice = Invoice(
                connection_id=self.connection_id, xero_invoice_id=f"inv-{next(_ids)}",
                invoice_number=number, type="ACCREC", contact_id=contact_id,
                xero_contact_id="x", date=due, due_date=due, status=status,
                currency_code=currency, total=Decimal(amount), amount_due=amount_due,
                amount_paid=Decimal(amount) - amount_due, **fields,
            )
            session.add(invoice)
            session.flush()
            return invoice.id

    def settings(self, **changes: object) -> None:
        with session_scope(self.session_factory) as session:
            update_organisation_settings(session, self.connection_id, by="test", **changes)


def make_books(session_factory: sessionmaker[Session], *, name: str = "Kiwi Plumbing",
               country: str = "NZ", timezone: str = "NEWZEALANDSTANDARDTIME",
               tenant: str | None = None) -> Books:
    """A connected organisation with a sender set, and nothing else yet."""
    with session_scope(session_factory) as session:
        connection = save_connection(
            session, workspace_id=None, tenant_id=tenant or f"tenant-{next(_ids)}",
            tenant_name=name, country_code=country, timezone=timezone, base_currency="NZD",
        )
        connection_id = connection.id
    books = Books(session_factory, connection_id)
    books.settings(sender_name="Sam Accounts", sender_email="sam@kiwiplumbing.example",
                   escalated_sender_name="Alex Boss",
                   escalated_sender_email="alex@kiwiplumbing.example")
    return books
