"""Sync upserts: native ON CONFLICT, chunked, and never overwriting local-only state."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

import storage.upserts
from storage.models import Contact, ContactEmail, EmailRole, ExpectedDateSource, Invoice
from storage.repositories import (
    contact_ids_by_xero_id,
    replace_contact_emails,
    save_connection,
    set_local_expected_payment_date,
    upsert_contacts,
    upsert_invoices,
)


def invoice_row(number: int, **overrides) -> dict:
    row = {
        "xero_invoice_id": f"inv-{number}",
        "invoice_number": f"INV-{number:04d}",
        "type": "ACCREC",
        "status": "AUTHORISED",
        "xero_contact_id": "contact-1",
        "date": date(2025, 1, 1),
        "due_date": date(2025, 1, 31),
        "currency_code": "NZD",
        "total": Decimal("115.00"),
        "amount_due": Decimal("115.00"),
        "amount_paid": Decimal("0"),
        "updated_date_utc": datetime(2025, 1, 1, 9, 30, tzinfo=UTC),
    }
    return {**row, **overrides}


def contact_row(xero_id: str = "contact-1", **overrides) -> dict:
    return {
        "xero_contact_id": xero_id,
        "name": "Ridgeway University",
        "is_customer": True,
        "phones": [{"PhoneType": "DEFAULT", "PhoneNumber": "555"}],
        **overrides,
    }


def _invoice(session, connection_id, xero_id="inv-1") -> Invoice:
    return session.scalars(
        select(Invoice).where(
            Invoice.connection_id == connection_id, Invoice.xero_invoice_id == xero_id
        )
    ).one()


def test_upsert_invoices_inserts_then_updates_in_place(session_factory, connection_id):
    with session_factory.begin() as session:
        assert upsert_invoices(session, connection_id, [invoice_row(1), invoice_row(2)]) == 2
    with session_factory.begin() as session:
        first_id = _invoice(session, connection_id).id
        changed = invoice_row(1, status="PAID", amount_due=Decimal("0"), amount_paid=Decimal("115"))
        assert upsert_invoices(session, connection_id, [changed]) == 1
    with session_factory() as session:
        invoice = _invoice(session, connection_id)
        assert (invoice.id, invoice.status, invoice.amount_due) == (first_id, "PAID", Decimal("0"))
        assert session.scalar(select(func.count()).select_from(Invoice)) == 2


def test_upsert_invoices_links_the_contact_by_xero_contact_id(session_factory, connection_id):
    with session_factory.begin() as session:
        upsert_contacts(session, connection_id, [contact_row()])
        upsert_invoices(
            session, connection_id, [invoice_row(1), invoice_row(2, xero_contact_id="x")]
        )
    with session_factory() as session:
        contact_pk = contact_ids_by_xero_id(session, connection_id, ["contact-1", "unknown"])
        assert list(contact_pk) == ["contact-1"]
        assert _invoice(session, connection_id, "inv-1").contact_id == contact_pk["contact-1"]
        assert _invoice(session, connection_id, "inv-2").contact_id is None


def test_sync_upsert_keeps_a_local_expected_payment_date(session_factory, connection_id):
    with session_factory.begin() as session:
        upsert_invoices(session, connection_id, [invoice_row(1)])
    with session_factory.begin() as session:
        invoice = _invoice(session, connection_id)
        set_local_expected_payment_date(
            session, invoice.id, date(2025, 3, 1), reason="Xero: period is locked"
        )
    with session_factory.begin() as session:
        upsert_invoices(
            session,
            connection_id,
            [invoice_row(1, expected_payment_date=date(2025, 9, 9), status="AUTHORISED")],
        )
    with session_factory() as session:
        invoice = _invoice(session, connection_id)
        assert invoice.expected_payment_date == date(2025, 3, 1)
        assert invoice.expected_payment_date_source is ExpectedDateSource.LOCAL
        assert invoice.expected_payment_date_reason == "Xero: period is locked"


def test_sync_upsert_takes_xero_expected_date_when_none_is_local(session_factory, connection_id):
    with session_factory.begin() as session:
        upsert_invoices(session, connection_id, [invoice_row(1)])
        upsert_invoices(
            session, connection_id, [invoice_row(1, expected_payment_date=date(2025, 4, 1))]
        )
    with session_factory() as session:
        invoice = _invoice(session, connection_id)
        assert invoice.expected_payment_date == date(2025, 4, 1)
        assert invoice.expected_payment_date_source is ExpectedDateSource.XERO


def test_sync_upsert_never_touches_chasing_pauses(session_factory, connection_id):
    with session_factory.begin() as session:
        upsert_contacts(session, connection_id, [contact_row()])
        upsert_invoices(session, connection_id, [invoice_row(1)])
    with session_factory.begin() as session:
        invoice = _invoice(session, connection_id)
        invoice.chasing_paused = True
        invoice.chasing_paused_until = date(2025, 6, 1)
        invoice.chasing_paused_reason = "disputed"
        session.scalars(select(Contact)).one().chasing_paused = True
    with session_factory.begin() as session:
        upsert_contacts(session, connection_id, [contact_row(name="Renamed")])
        upsert_invoices(session, connection_id, [invoice_row(1, status="AUTHORISED")])
    with session_factory() as session:
        invoice = _invoice(session, connection_id)
        assert (invoice.chasing_paused, invoice.chasing_paused_until) == (True, date(2025, 6, 1))
        assert invoice.chasing_paused_reason == "disputed"
        contact = session.scalars(select(Contact)).one()
        assert (contact.name, contact.chasing_paused) == ("Renamed", True)


def test_sync_upsert_never_touches_disputes_or_a_customer_pause_until_a_date(
    session_factory, connection_id
):
    with session_factory.begin() as session:
        upsert_contacts(session, connection_id, [contact_row()])
        upsert_invoices(session, connection_id, [invoice_row(1)])
    disputed_at = datetime(2025, 2, 1, 8, 0, tzinfo=UTC)
    with session_factory.begin() as session:
        invoice = _invoice(session, connection_id)
        invoice.disputed, invoice.disputed_reason = True, "goods never arrived"
        invoice.disputed_by, invoice.disputed_at = "U0FINANCE", disputed_at
        contact = session.scalars(select(Contact)).one()
        contact.chasing_paused, contact.chasing_paused_until = True, date(2025, 6, 1)
        contact.chasing_paused_reason = "paying in instalments"
    with session_factory.begin() as session:
        upsert_contacts(session, connection_id, [contact_row(name="Renamed")])
        upsert_invoices(session, connection_id, [invoice_row(1, status="AUTHORISED")])
    with session_factory() as session:
        invoice = _invoice(session, connection_id)
        assert (invoice.disputed, invoice.disputed_reason) == (True, "goods never arrived")
        assert (invoice.disputed_by, invoice.disputed_at) == ("U0FINANCE", disputed_at)
        contact = session.scalars(select(Contact)).one()
        assert contact.name == "Renamed"
        assert (contact.chasing_paused_until, contact.chasing_paused_reason) == (
            date(2025, 6, 1), "paying in instalments",
        )


def test_upsert_refuses_local_only_and_unknown_columns(session_factory, connection_id):
    with session_factory() as session:
        with pytest.raises(ValueError, match="chasing_paused"):
            upsert_invoices(session, connection_id, [invoice_row(1, chasing_paused=True)])
        with pytest.raises(ValueError, match="Typo"):
            upsert_contacts(session, connection_id, [contact_row(Typo=1)])


def test_upsert_objects_already_loaded_in_the_session_see_new_values(
    session_factory, connection_id
):
    with session_factory.begin() as session:
        upsert_invoices(session, connection_id, [invoice_row(1)])
        loaded = _invoice(session, connection_id)
        upsert_invoices(session, connection_id, [invoice_row(1, status="VOIDED")])
        assert loaded.status == "VOIDED"


def test_upsert_writes_many_rows_across_chunks(session_factory, connection_id, monkeypatch):
    monkeypatch.setattr(storage.upserts, "UPSERT_CHUNK_ROWS", 7)
    monkeypatch.setattr(storage.upserts, "LOOKUP_CHUNK", 3)
    contacts = [contact_row(f"c-{n}") for n in range(10)]
    invoices = [invoice_row(n, xero_contact_id=f"c-{n % 10}") for n in range(50)]
    with session_factory.begin() as session:
        assert upsert_contacts(session, connection_id, contacts) == 10
        assert upsert_invoices(session, connection_id, invoices) == 50
        assert upsert_invoices(session, connection_id, invoices) == 50
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Invoice)) == 50
        unlinked = select(func.count()).select_from(Invoice).where(Invoice.contact_id.is_(None))
        assert session.scalar(unlinked) == 0


def test_the_same_xero_invoice_in_two_connections_is_two_rows(session_factory, connection_id):
    with session_factory.begin() as session:
        other = save_connection(session, workspace_id=None, tenant_id="tenant-other").id
        upsert_invoices(session, connection_id, [invoice_row(1)])
        upsert_invoices(session, other, [invoice_row(1)])
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Invoice)) == 2


def test_invoice_ids_are_unique_per_connection(session_factory, connection_id):
    with session_factory() as session:
        session.add_all(
            Invoice(
                connection_id=connection_id, xero_invoice_id="dup", type="ACCREC", status="DRAFT"
            )
            for _ in range(2)
        )
        with pytest.raises(IntegrityError):
            session.flush()


def test_replace_contact_emails_sets_exactly_the_given_addresses(session_factory, connection_id):
    with session_factory.begin() as session:
        upsert_contacts(session, connection_id, [contact_row()])
        contact_pk = contact_ids_by_xero_id(session, connection_id, ["contact-1"])["contact-1"]
        replace_contact_emails(
            session,
            contact_pk,
            [
                {"email": "ap@ridgeway.example", "include_in_emails": True},
                {"email": "boss@ridgeway.example", "source": "person"},
            ],
        )
        boss = session.scalars(select(ContactEmail).where(ContactEmail.email.like("boss%"))).one()
        boss.role = EmailRole.ESCALATED
    with session_factory.begin() as session:
        replace_contact_emails(
            session,
            contact_pk,
            [
                {"email": "Boss@Ridgeway.example", "name": "The Boss"},
                {"email": "new@ridgeway.example"},
            ],
        )
    with session_factory() as session:
        emails = session.scalars(select(ContactEmail).order_by(ContactEmail.email)).all()
        assert [(e.email, e.role) for e in emails] == [
            ("Boss@Ridgeway.example", EmailRole.ESCALATED),
            ("new@ridgeway.example", EmailRole.NORMAL),
        ]


def test_contact_emails_are_unique_per_contact(session_factory, connection_id):
    with session_factory() as session:
        upsert_contacts(session, connection_id, [contact_row()])
        contact_pk = contact_ids_by_xero_id(session, connection_id, ["contact-1"])["contact-1"]
        session.add_all(ContactEmail(contact_id=contact_pk, email="a@b.example") for _ in range(2))
        with pytest.raises(IntegrityError):
            session.flush()
