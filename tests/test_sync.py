"""Sync through the real parts: the sandbox Xero over HTTP into SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from bot.chasing.controls import ChasingControls
from bot.chasing.mapping import contact_is_chaseable, contact_row, invoice_row
from bot.chasing.permissions import Actor, Permissions
from bot.chasing.ports import ConnectionLost
from bot.chasing.sync import CONTACTS, INVOICES
from bot.xero.models import decode_contact_page, decode_invoice_page
from storage import repositories
from storage.db import session_scope
from storage.models import (
    ConnectionStatus,
    Contact,
    ContactEmail,
    Invoice,
    XeroConnection,
)
from storage.upserts import CONTACT_SYNC_COLUMNS, INVOICE_SYNC_COLUMNS

RECEIVABLE_SHOWN = "ACCREC"


def expected_invoices(world, tenant_id):
    """What GET /Invoices?where=Type=="ACCREC" shows: Xero hides ARCHIVED by default."""
    return {
        inv.invoice_id: inv
        for inv in world.ledger.iter_invoices(tenant_id)
        if inv.type == RECEIVABLE_SHOWN and inv.status != "ARCHIVED"
    }


def local_invoice(world, xero_id):
    with session_scope(world.ctx.session_factory) as session:
        return session.scalars(select(Invoice).where(Invoice.xero_invoice_id == xero_id)).one()


def local_contact(world, xero_id):
    with session_scope(world.ctx.session_factory) as session:
        contact = session.scalars(select(Contact).where(Contact.xero_contact_id == xero_id)).one()
        emails = sorted(e.email for e in contact.emails)
        return contact, emails


def sync(world, **kwargs):
    service = world.ctx.sync_service(page_size=kwargs.pop("page_size", 1000))
    return service.sync(world.connection_id, **kwargs)


def test_full_sync_stores_every_receivable_invoice_and_every_contact(make_world):
    world = make_world(contacts=15, invoices=150)
    tenant = world.tenant_id()
    report = sync(world)

    assert report.outcome == "ok" and report.full
    wanted = expected_invoices(world, tenant)
    assert report.invoices == len(wanted)
    assert report.contacts == len(world.ledger.contacts(tenant))
    with session_scope(world.ctx.session_factory) as session:
        query = select(Invoice.xero_invoice_id, Invoice.amount_due)
        stored = {key: amount for key, amount in session.execute(query)}
        assert stored.keys() == wanted.keys()
        assert all(stored[key] == inv.amount_due for key, inv in wanted.items())
        assert session.scalar(select(func.count()).select_from(Contact)) == report.contacts
        connection = session.get(XeroConnection, world.connection_id)
        assert connection.timezone == world.ledger.organisation(tenant).timezone
    # organisation + one page of contacts + one page of invoices
    assert report.api_calls == 3
    assert report.throttled == 0


def test_contacts_keep_every_email_xero_would_send_to(make_world):
    world = make_world(contacts=30, invoices=10)
    sync(world)
    tenant = world.tenant_id()
    several = [
        c
        for c in world.ledger.contacts(tenant)
        if c.email and any(p.get("IncludeInEmails") and p.get("EmailAddress") for p in c.persons)
    ]
    assert several, "the generated book should have contacts with several emails"
    for source in several:
        wanted = {source.email.lower()} | {
            p["EmailAddress"].lower()
            for p in source.persons
            if p.get("IncludeInEmails") and p.get("EmailAddress")
        }
        _, emails = local_contact(world, source.contact_id)
        assert {e.lower() for e in emails} == wanted
    with session_scope(world.ctx.session_factory) as session:
        roles = set(session.scalars(select(ContactEmail.role)))
    assert {str(role) for role in roles} == {"normal"}


def test_archived_and_merged_contacts_are_not_chased(make_world):
    world = make_world(contacts=40, invoices=10)
    sync(world)
    tenant = world.tenant_id()
    for source in world.ledger.contacts(tenant):
        contact, _ = local_contact(world, source.contact_id)
        chaseable = source.status == "ACTIVE" and not source.merged_to
        assert (
            contact_is_chaseable(contact.contact_status, contact.merged_to_xero_contact_id)
            is chaseable
        )
    assert any(c.merged_to for c in world.ledger.contacts(tenant)) or any(
        c.status == "ARCHIVED" for c in world.ledger.contacts(tenant)
    )


def test_incremental_sync_with_no_changes_makes_one_call_per_entity(make_world):
    world = make_world()
    sync(world)
    report = sync(world)
    assert report.outcome == "ok" and not report.full
    assert report.api_calls == 2


def test_incremental_sync_picks_up_ledger_changes_with_few_calls(make_world):
    world = make_world(contacts=12, invoices=120)
    tenant = world.tenant_id()
    sync(world)
    ledger = world.ledger
    open_ones = [
        inv
        for inv in expected_invoices(world, tenant).values()
        if inv.status == "AUTHORISED" and not inv.payments and inv.amount_due > 10
    ]
    paid, credited, voided = open_ones[:3]
    new = ledger.add_invoice(tenant, total="321.00")
    ledger.add_payment(tenant, paid.invoice_id, "5.00")
    ledger.add_credit_note(tenant, credited.invoice_id, "7.00")
    ledger.void_invoice(tenant, voided.invoice_id)
    active = [c for c in ledger.contacts(tenant) if c.status == "ACTIVE"]
    ledger.edit_contact(tenant, active[0].contact_id, EmailAddress="new-ar@example.com")
    ledger.archive_contact(tenant, active[1].contact_id)

    report = sync(world)

    assert report.outcome == "ok" and not report.full
    assert report.api_calls == 2
    assert report.invoices >= 4 and report.contacts >= 2
    assert local_invoice(world, new["InvoiceID"]).total == Decimal("321.00")
    assert local_invoice(world, paid.invoice_id).amount_due == paid.amount_due - Decimal("5.00")
    assert local_invoice(world, credited.invoice_id).amount_due == credited.amount_due - Decimal(
        "7.00"
    )
    assert local_invoice(world, credited.invoice_id).has_credit_notes
    assert local_invoice(world, voided.invoice_id).status == "VOIDED"
    _, emails = local_contact(world, active[0].contact_id)
    assert "new-ar@example.com" in emails
    archived, _ = local_contact(world, active[1].contact_id)
    assert not contact_is_chaseable(archived.contact_status, archived.merged_to_xero_contact_id)


# 1: a commit per page; 2: pages buffered and committed together, as the real sync does.
@pytest.mark.parametrize("pages_per_commit", [1, 2])
def test_interrupted_sync_resumes_from_the_old_mark_without_missing_changes(
    make_world, pages_per_commit
):
    world = make_world(contacts=10, invoices=120)
    tenant = world.tenant_id()
    sync(world, page_size=5)
    with session_scope(world.ctx.session_factory) as session:
        mark = repositories.get_sync_state(session, world.connection_id, INVOICES).high_water_mark
    payable = [
        inv
        for inv in expected_invoices(world, tenant).values()
        if inv.status == "AUTHORISED" and inv.amount_due > 1
    ][:12]
    for inv in payable:
        world.ledger.add_payment(tenant, inv.invoice_id, "1.00")

    def interrupt(event):
        # Once the first page of changed invoices is stored (with the others of its
        # commit), every attempt at the next page fails.
        if event.entity == INVOICES and event.page == 1:
            world.control("POST", "/faults", kind="503", count=5)

    service = world.ctx.sync_service(page_size=5, pages_per_commit=pages_per_commit)
    failed = service.sync(world.connection_id, progress=interrupt)

    assert failed.outcome == "failed" and failed.retry_later
    assert "retry later" in failed.reason
    with session_scope(world.ctx.session_factory) as session:
        state = repositories.get_sync_state(session, world.connection_id, INVOICES)
        assert state.high_water_mark == mark
        assert state.last_error and "retry later" in state.last_error
    behind = [
        inv
        for inv in payable
        if local_invoice(world, inv.invoice_id).amount_due != inv.amount_due - 1
    ]
    assert behind, "the interruption should have left some payments unsynced"
    assert len(behind) < len(payable), "pages committed before the interruption are kept"

    resumed = sync(world, page_size=5)
    assert resumed.outcome == "ok"
    for inv in payable:
        assert local_invoice(world, inv.invoice_id).amount_due == inv.amount_due - Decimal("1")
    with session_scope(world.ctx.session_factory) as session:
        state = repositories.get_sync_state(session, world.connection_id, INVOICES)
        assert state.high_water_mark > mark and state.last_error is None


def test_full_reconcile_catches_a_due_date_edit_xero_does_not_stamp(make_world):
    world = make_world(contacts=10, invoices=150)
    tenant = world.tenant_id()
    sync(world)
    part_paid = next(
        inv
        for inv in expected_invoices(world, tenant).values()
        if inv.status == "AUTHORISED" and inv.amount_paid > 0 and inv.amount_due > 0
    )
    new_due = part_paid.due_date + timedelta(days=30)
    world.ledger.set_due_date(tenant, part_paid.invoice_id, new_due)

    missed = sync(world)
    assert not missed.full
    assert local_invoice(world, part_paid.invoice_id).due_date == part_paid.due_date

    # A week after the last full pass the sync re-reads everything by itself.
    with session_scope(world.ctx.session_factory) as session:
        for entity in (CONTACTS, INVOICES):
            state = repositories.get_sync_state(session, world.connection_id, entity)
            state.last_full_sync_at -= timedelta(days=8)
    reconciled = sync(world)
    assert reconciled.full
    assert local_invoice(world, part_paid.invoice_id).due_date == new_due


def test_a_full_sync_on_request_rereads_everything(make_world):
    world = make_world()
    sync(world)
    report = sync(world, full=True)
    assert report.full and report.invoices == len(expected_invoices(world, world.tenant_id()))


def test_sync_skips_a_connection_that_needs_reconnecting(make_world):
    world = make_world()
    with session_scope(world.ctx.session_factory) as session:
        repositories.set_connection_status(
            session, world.connection_id, ConnectionStatus.NEEDS_RECONNECT, reason="revoked"
        )
    calls = world.calls()
    report = sync(world)
    assert report.outcome == "skipped"
    assert "reconnect" in report.reason
    assert world.calls() == calls


def test_a_revoked_tenant_marks_needs_reconnect_and_alerts_once(make_world):
    world = make_world()
    sync(world)
    world.control("POST", f"/tenants/{world.tenant_id()}/revoke")

    report = sync(world)
    again = sync(world)

    assert report.outcome == "failed" and not report.retry_later
    assert again.outcome == "skipped"
    with session_scope(world.ctx.session_factory) as session:
        connection = session.get(XeroConnection, world.connection_id)
        assert connection.status == ConnectionStatus.NEEDS_RECONNECT
    assert len(world.notifier.of_type(ConnectionLost)) == 1


def test_an_outage_at_one_organisation_leaves_the_others_synced(make_world):
    world = make_world(orgs=2, contacts=8, invoices=40)
    first, second = world.connection_ids
    world.control("POST", "/faults", kind="500", count=5, tenant_id=world.tenant_id(first))

    reports = {r.connection_id: r for r in world.ctx.sync_service().sync_all()}

    assert reports[first].outcome == "failed" and reports[first].retry_later
    assert reports[second].outcome == "ok" and reports[second].invoices > 0
    with session_scope(world.ctx.session_factory) as session:
        state = repositories.get_sync_state(session, first, CONTACTS)
        assert state.last_error and "retry later" in state.last_error
        connection = session.get(XeroConnection, first)
        assert connection.status == ConnectionStatus.CONNECTED


def test_a_contact_and_invoice_seen_twice_in_one_commit_keep_their_latest_copy(make_world):
    # Xero pages by UpdatedDateUTC, so a record edited mid-sync can come back on a later
    # page that is committed together with the first.
    world = make_world(contacts=5, invoices=5)
    sync(world)
    old = decode_contact_page(
        b'{"Contacts": [{"ContactID": "c-dup", "Name": "Old", "EmailAddress": "a@example.com"}]}'
    ).contacts[0]
    new = decode_contact_page(
        b'{"Contacts": [{"ContactID": "c-dup", "Name": "New", "EmailAddress": "b@example.com"}]}'
    ).contacts[0]
    invoices = [
        decode_invoice_page(
            b'{"Invoices": [{"InvoiceID": "i-dup", "Status": "%s", "AmountDue": %s,'
            b' "Contact": {"ContactID": "c-dup"}}]}' % (status, due)
        ).invoices[0]
        for status, due in ((b"AUTHORISED", b"10.00"), (b"PAID", b"0.00"))
    ]
    service = world.ctx.sync_service()
    with session_scope(world.ctx.session_factory) as session:
        service._store_contacts(session, world.connection_id, [old, new])
        service._store_invoices(session, world.connection_id, invoices, {})

    contact, emails = local_contact(world, "c-dup")
    assert contact.name == "New" and emails == ["b@example.com"]
    invoice = local_invoice(world, "i-dup")
    assert invoice.status == "PAID" and invoice.amount_due == Decimal("0.00")
    assert invoice.contact_id == contact.id


class NoSlackAdmins:
    """The WorkspaceDirectory port for the operator, whom Slack is never asked about."""

    def is_workspace_admin(self, team_id: str, user_id: str) -> bool:
        return False


def test_a_full_sync_keeps_disputes_and_customer_pauses_set_in_the_app(make_world):
    world = make_world(contacts=6, invoices=40)
    sync(world)
    factory = world.ctx.session_factory
    controls = ChasingControls(factory, Permissions(factory, NoSlackAdmins(), world.ctx.clock),
                               world.ctx.clock)
    with session_scope(factory) as session:
        invoice = session.scalars(select(Invoice).where(Invoice.contact_id.is_not(None))).first()
        invoice_id, contact_id = invoice.id, invoice.contact_id
    until = date.today() + timedelta(days=30)
    controls.dispute_invoice(Actor.operator(), invoice_id, reason="goods never arrived")
    controls.pause_contact(Actor.operator(), contact_id, until=until, reason="instalments")

    report = sync(world, full=True)

    assert report.outcome == "ok" and report.full and report.invoices > 0
    with session_scope(factory) as session:
        invoice, contact = session.get(Invoice, invoice_id), session.get(Contact, contact_id)
        assert (invoice.disputed, invoice.disputed_reason) == (True, "goods never arrived")
        assert invoice.disputed_by == "cli" and invoice.disputed_at is not None
        assert (contact.chasing_paused, contact.chasing_paused_until) == (True, until)
        assert contact.chasing_paused_reason == "instalments"


def test_the_sync_maps_every_column_that_mirrors_xero():
    # A synced column the mapping left out would be stored empty by every sync.
    contact = decode_contact_page(b'{"Contacts": [{"ContactID": "c-1", "Name": "A"}]}')
    invoice = decode_invoice_page(
        b'{"Invoices": [{"InvoiceID": "i-1", "Type": "ACCREC", "Contact": {"ContactID": "c-1"}}]}'
    )
    assert tuple(contact_row(contact.contacts[0])) == CONTACT_SYNC_COLUMNS
    assert tuple(invoice_row(invoice.invoices[0])) == INVOICE_SYNC_COLUMNS
