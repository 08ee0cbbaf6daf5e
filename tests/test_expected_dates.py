"""Expected payment dates: written to Xero, held locally with a reason when Xero refuses."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select

from bot.chasing.expected_dates import explain_refusal
from bot.chasing.receivables_service import open_receivables
from bot.chasing.xero_edits import expected_date_refusal, lock_date
from bot.messages import EXPECTED_DATE_ALLOCATED as ALLOCATED_EXPLANATION
from bot.messages import EXPECTED_DATE_LOCKED as LOCKED_EXPLANATION
from bot.messages import EXPECTED_DATE_NOT_OPEN as NOT_OPEN_EXPLANATION
from bot.messages import EXPECTED_DATE_OTHER as OTHER_EXPLANATION
from storage import repositories
from storage.db import session_scope
from storage.models import AuditEntry, ExpectedDateSource, Invoice


def synced(world):
    world.ctx.sync_service().sync(world.connection_id)
    return world


def pick(world, *conditions):
    with session_scope(world.ctx.session_factory) as session:
        return session.scalars(
            select(Invoice)
            .where(Invoice.status == "AUTHORISED", Invoice.amount_due > 0, *conditions)
            .order_by(Invoice.id)
        ).first()


def reload(world, invoice_id):
    with session_scope(world.ctx.session_factory) as session:
        return session.get(Invoice, invoice_id)


def audit_actions(world):
    with session_scope(world.ctx.session_factory) as session:
        return [
            (e.action, e.actor, e.detail["held_in"])
            for e in session.scalars(
                select(AuditEntry)
                .where(AuditEntry.action == "invoice.expected_payment_date")
                .order_by(AuditEntry.id)
            )
        ]


def clean_invoice(world):
    """An open invoice Xero accepts an expected date for, by the app's own rule."""
    with session_scope(world.ctx.session_factory) as session:
        connection = repositories.get_connection(session, world.connection_id)
        lock = lock_date(connection.period_lock_date, connection.end_of_year_lock_date)
        return next(
            invoice
            for invoice in open_receivables(session, world.connection_id)
            if expected_date_refusal(invoice, lock) is None
        )


def test_expected_date_is_written_to_xero_on_a_clean_invoice(make_world):
    world = synced(make_world())
    invoice = clean_invoice(world)
    when = date.today() + timedelta(days=10)

    outcome = world.ctx.expected_dates().set(world.connection_id, invoice.id, when, "U1")

    assert outcome.held_in == "xero" and outcome.reason is None and outcome.date == when
    assert world.ledger.invoice(world.tenant_id(), invoice.xero_invoice_id).expected == when
    stored = reload(world, invoice.id)
    assert stored.expected_payment_date == when
    assert stored.expected_payment_date_source == ExpectedDateSource.XERO
    assert audit_actions(world) == [("invoice.expected_payment_date", "U1", "xero")]


def test_xero_refusal_on_a_part_paid_invoice_holds_the_date_locally_with_the_reason(make_world):
    world = synced(make_world())
    invoice = pick(world, Invoice.amount_paid > 0)
    when = date.today() + timedelta(days=20)

    outcome = world.ctx.expected_dates().set(world.connection_id, invoice.id, when, "U2")

    assert outcome.held_in == "local"
    assert outcome.reason.startswith(ALLOCATED_EXPLANATION)
    assert "payment or credit note allocated" in outcome.reason  # Xero's own words follow
    assert world.ledger.invoice(world.tenant_id(), invoice.xero_invoice_id).expected is None
    stored = reload(world, invoice.id)
    assert stored.expected_payment_date == when
    assert stored.expected_payment_date_source == ExpectedDateSource.LOCAL
    assert stored.expected_payment_date_reason == outcome.reason
    assert audit_actions(world) == [("invoice.expected_payment_date", "U2", "local")]


def test_a_locally_held_date_survives_later_syncs(make_world):
    world = synced(make_world())
    invoice = pick(world, Invoice.amount_paid > 0)
    when = date.today() + timedelta(days=20)
    world.ctx.expected_dates().set(world.connection_id, invoice.id, when, "U2")

    service = world.ctx.sync_service()
    service.sync(world.connection_id)
    service.sync(world.connection_id, full=True)

    stored = reload(world, invoice.id)
    assert stored.expected_payment_date == when
    assert stored.expected_payment_date_source == ExpectedDateSource.LOCAL


def test_a_date_set_in_xero_comes_back_on_sync_marked_as_xeros(make_world):
    world = synced(make_world())
    invoice = clean_invoice(world)
    when = date.today() + timedelta(days=5)
    world.ledger.set_expected_payment_date(world.tenant_id(), invoice.xero_invoice_id, when)

    synced(world)

    stored = reload(world, invoice.id)
    assert stored.expected_payment_date == when
    assert stored.expected_payment_date_source == ExpectedDateSource.XERO


def test_clearing_an_expected_date_clears_it_in_xero(make_world):
    world = synced(make_world())
    invoice = clean_invoice(world)
    when = date.today() + timedelta(days=3)
    world.ctx.expected_dates().set(world.connection_id, invoice.id, when, "U1")

    outcome = world.ctx.expected_dates().set(world.connection_id, invoice.id, None, "U1")

    assert outcome.held_in == "xero" and outcome.date is None
    assert world.ledger.invoice(world.tenant_id(), invoice.xero_invoice_id).expected is None
    synced(world)
    assert reload(world, invoice.id).expected_payment_date is None


def test_refusals_are_explained_in_plain_words():
    clean = Invoice(
        type="ACCREC", status="AUTHORISED", date=date(2025, 12, 1), amount_due=Decimal("5"),
        amount_paid=Decimal("0"), amount_credited=Decimal("0"), has_payments=False,
        has_credit_notes=False, has_prepayments=False, has_overpayments=False,
    )

    locked = explain_refusal(
        ["The document date cannot be before the period lock date, currently set at 30-Nov-2025."],
        clean,
    )
    assert locked.startswith(LOCKED_EXPLANATION) and "30-Nov-2025" in locked
    # Paid, voided or deleted in Xero since the last sync: Xero's words say so.
    gone = explain_refusal(["Invoice not of valid status for modification"], clean)
    assert gone.startswith(NOT_OPEN_EXPLANATION)
    other = explain_refusal(["Something else entirely"], clean)
    assert other.startswith(OTHER_EXPLANATION)
    # Xero's words say nothing of why, but the invoice's own state does: the one rule decides.
    assert explain_refusal(["Bad request"], clean, date(2025, 12, 31)).startswith(
        LOCKED_EXPLANATION
    )
    clean.has_prepayments = True
    assert explain_refusal(["Bad request"], clean).startswith(ALLOCATED_EXPLANATION)
