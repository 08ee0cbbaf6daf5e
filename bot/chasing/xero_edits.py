"""Whether Xero will accept an expected payment date on a stored invoice: the one rule."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from bot.chasing.receivables import is_open_receivable


class EditRefusal(StrEnum):
    """Why Xero refuses an API edit of an invoice (Xero's documented reasons)."""

    NOT_OPEN = "not_open"  # paid, voided, deleted, or not a sales invoice
    ALLOCATED = "allocated"  # a payment, credit note, prepayment or overpayment is applied
    LOCKED = "locked"  # dated on or before the organisation's period or end-of-year lock date


class EditableInvoice(Protocol):
    """The stored invoice's fields the rule reads (storage.models.Invoice has them all)."""

    type: str
    status: str
    date: date | None
    amount_due: Decimal | None
    amount_paid: Decimal | None
    amount_credited: Decimal | None
    has_payments: bool
    has_credit_notes: bool
    has_prepayments: bool
    has_overpayments: bool


def lock_date(period_lock_date: date | None, end_of_year_lock_date: date | None) -> date | None:
    """The later of an organisation's two lock dates: nothing on or before it can be edited."""
    return max((d for d in (period_lock_date, end_of_year_lock_date) if d), default=None)


def expected_date_refusal(invoice: EditableInvoice, lock: date | None) -> EditRefusal | None:
    """Why Xero would refuse an expected payment date on `invoice`, or None when it accepts.

    Xero refuses edits of an invoice with any allocation ("This document cannot be edited as
    it has a payment or credit note allocated to it") and of one dated in a locked period.
    """
    if not is_open_receivable(invoice.type, invoice.status, invoice.amount_due):
        return EditRefusal.NOT_OPEN
    if (
        invoice.has_payments
        or invoice.has_credit_notes
        or invoice.has_prepayments
        or invoice.has_overpayments
        or (invoice.amount_paid or 0) > 0
        or (invoice.amount_credited or 0) > 0
    ):
        return EditRefusal.ALLOCATED
    if lock is not None and (invoice.date is None or invoice.date <= lock):
        return EditRefusal.LOCKED
    return None


def refusal_in_words(messages: list[str]) -> EditRefusal | None:
    """The refusal Xero's own validation messages name, when they name one."""
    text = " ".join(messages).lower()
    if "lock" in text:
        return EditRefusal.LOCKED
    if any(word in text for word in ("payment", "credit", "allocated", "prepayment")):
        return EditRefusal.ALLOCATED
    if "not of valid status" in text:
        # Xero's answer for an invoice paid, voided or deleted since our last sync: "Invoice
        # not of valid status for modification".
        return EditRefusal.NOT_OPEN
    return None
