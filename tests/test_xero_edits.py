"""Whether Xero accepts an expected payment date: one rule, checked against the sandbox's Xero."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest

from bot.chasing.receivables_service import open_receivables
from bot.chasing.xero_edits import EditRefusal, expected_date_refusal, lock_date
from bot.sandbox.changes import EditRefused
from storage import repositories
from storage.db import session_scope


@dataclass
class Stored:
    type: str = "ACCREC"
    status: str = "AUTHORISED"
    date: date | None = date(2026, 3, 1)
    amount_due: Decimal | None = Decimal("100")
    amount_paid: Decimal | None = Decimal("0")
    amount_credited: Decimal | None = Decimal("0")
    has_payments: bool = False
    has_credit_notes: bool = False
    has_prepayments: bool = False
    has_overpayments: bool = False


@pytest.mark.parametrize(
    ("invoice", "lock", "refusal"),
    [
        (Stored(), None, None),
        (Stored(), date(2026, 2, 28), None),
        (Stored(), date(2026, 3, 1), EditRefusal.LOCKED),  # on the lock date is locked
        (Stored(has_payments=True), None, EditRefusal.ALLOCATED),
        (Stored(amount_paid=Decimal("1")), None, EditRefusal.ALLOCATED),
        (Stored(has_credit_notes=True), None, EditRefusal.ALLOCATED),
        (Stored(has_prepayments=True), None, EditRefusal.ALLOCATED),
        (Stored(has_overpayments=True), None, EditRefusal.ALLOCATED),
        (Stored(amount_credited=Decimal("5")), None, EditRefusal.ALLOCATED),
        (Stored(status="PAID", amount_due=Decimal("0")), None, EditRefusal.NOT_OPEN),
        (Stored(status="VOIDED"), None, EditRefusal.NOT_OPEN),
        (Stored(type="ACCPAY"), None, EditRefusal.NOT_OPEN),
    ],
)
def test_expected_date_refusal_names_xeros_reason(invoice, lock, refusal):
    assert expected_date_refusal(invoice, lock) is refusal


def test_the_later_lock_date_is_the_one_that_counts():
    assert lock_date(date(2026, 1, 31), date(2025, 12, 31)) == date(2026, 1, 31)
    assert lock_date(None, date(2025, 12, 31)) == date(2025, 12, 31)
    assert lock_date(None, None) is None


def test_the_rule_agrees_with_xero_on_every_open_invoice(make_world):
    """The sandbox refuses edits as Xero documents; the local rule must predict each answer."""
    world = make_world(orgs=2, contacts=12, invoices=150)
    for connection_id in world.connection_ids:
        world.ctx.sync_service().sync(connection_id)

    seen: set[EditRefusal | None] = set()
    for connection_id in world.connection_ids:
        tenant = world.tenant_id(connection_id)
        with session_scope(world.ctx.session_factory) as session:
            connection = repositories.get_connection(session, connection_id)
            lock = lock_date(connection.period_lock_date, connection.end_of_year_lock_date)
            for invoice in open_receivables(session, connection_id):
                predicted = expected_date_refusal(invoice, lock)
                seen.add(predicted)
                try:
                    world.ledger.check_editable(
                        tenant, world.ledger.invoice(tenant, invoice.xero_invoice_id)
                    )
                    xero_accepts = True
                except EditRefused:
                    xero_accepts = False
                assert (predicted is None) == xero_accepts, (invoice.invoice_number, predicted)
    # The ledger holds clean, part-paid and locked invoices, so each answer was exercised.
    assert {None, EditRefusal.ALLOCATED} <= seen
