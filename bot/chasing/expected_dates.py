"""Expected payment dates: written back to Xero, held locally with a reason when Xero refuses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Literal

from bot import messages
from bot.chasing.connection_guard import ConnectionGuard
from bot.chasing.ports import Clock, Notifier, XeroGateway
from bot.chasing.xero_edits import (
    EditRefusal,
    expected_date_refusal,
    lock_date,
    refusal_in_words,
)
from bot.errors import NotFound
from bot.xero.errors import XeroValidationError
from storage import repositories
from storage.db import session_scope
from storage.models import ExpectedDateSource, Invoice, XeroConnection

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

HeldIn = Literal["xero", "local"]


class InvoiceNotFound(NotFound):
    """The invoice is not in the local store for that connection."""


@dataclass(frozen=True)
class ExpectedDateOutcome:
    """Where the expected date now lives; `reason` (for the user) is set when held locally."""

    date: date | None
    held_in: HeldIn
    reason: str | None = None
    xero_messages: tuple[str, ...] = ()


def explain_refusal(xero_messages: list[str], invoice: Invoice, lock: date | None = None) -> str:
    """A plain explanation of Xero's refusal, followed by Xero's own words."""
    kind = refusal_in_words(xero_messages) or expected_date_refusal(invoice, lock)
    if kind is EditRefusal.LOCKED:
        explanation = messages.EXPECTED_DATE_LOCKED
    elif kind is EditRefusal.ALLOCATED:
        explanation = messages.EXPECTED_DATE_ALLOCATED
    elif kind is EditRefusal.NOT_OPEN:
        explanation = messages.EXPECTED_DATE_NOT_OPEN
    else:
        explanation = messages.EXPECTED_DATE_OTHER
    said = " ".join(message.strip() for message in xero_messages if message.strip())
    return f"{explanation} (Xero said: {said})" if said else explanation


class ExpectedDates:
    """Sets expected payment dates: in Xero when it allows, held locally when it refuses."""

    def __init__(self, session_factory: sessionmaker[Session], xero: XeroGateway, *,
                 clock: Clock, notifier: Notifier) -> None:
        self._factory = session_factory
        self._xero = xero
        self._clock = clock
        self._notifier = notifier

    def set(self, connection_id: int, invoice_id: int, expected: date | None,
            actor: str) -> ExpectedDateOutcome:
        """Set (or clear, with None) an invoice's expected payment date, in Xero when it allows.

        `invoice_id` is the local invoices.id. Only Xero's own refusal (a validation error in
        its JSON: payment, prepayment or credit note allocated; locked period) keeps the value
        locally with the reason, and sync will not overwrite it until Xero itself changes the
        invoice with a date of its own. Everything else — a lost connection, a rate limit, an
        outage, an HTML page instead of Xero's answer — raises the guard's UserFacingError and
        changes nothing locally.
        """
        with session_scope(self._factory) as session:
            invoice = session.get(Invoice, invoice_id)
            if invoice is None or invoice.connection_id != connection_id:
                raise InvoiceNotFound(messages.INVOICE_NOT_SYNCED)
            xero_invoice_id = invoice.xero_invoice_id
            number = invoice.invoice_number
            previous = invoice.expected_payment_date

        guard = ConnectionGuard(connection_id, session_factory=self._factory,
                                clock=self._clock, notifier=self._notifier)
        refusal: XeroValidationError | None = None
        with guard, self._xero.connection(connection_id) as client:
            try:
                client.set_expected_payment_date(xero_invoice_id, expected)
            except XeroValidationError as exc:
                refusal = exc
        return self._record(connection_id, invoice_id, number, previous, expected, actor,
                            refusal)

    def _record(self, connection_id: int, invoice_id: int, number: str | None,
                previous: date | None, expected: date | None, actor: str,
                refusal: XeroValidationError | None) -> ExpectedDateOutcome:
        now = self._clock()
        with session_scope(self._factory) as session:
            invoice = session.get(Invoice, invoice_id)
            assert invoice is not None  # read above; invoices are never deleted by sync
            connection = session.get(XeroConnection, connection_id)
            if refusal is None:
                outcome = ExpectedDateOutcome(date=expected, held_in="xero")
                invoice.expected_payment_date = expected
                invoice.expected_payment_date_source = ExpectedDateSource.XERO if expected else None
                invoice.expected_payment_date_reason = None
            else:
                lock = (
                    lock_date(connection.period_lock_date, connection.end_of_year_lock_date)
                    if connection
                    else None
                )
                reason = explain_refusal(refusal.messages, invoice, lock)
                outcome = ExpectedDateOutcome(
                    date=expected,
                    held_in="local",
                    reason=reason,
                    xero_messages=tuple(refusal.messages),
                )
                # Held locally even when clearing: Xero keeps its old date, ours is "none".
                repositories.set_local_expected_payment_date(session, invoice_id, expected,
                                                             reason=reason)
            repositories.record_audit(
                session,
                action="invoice.expected_payment_date",
                actor=actor,
                workspace_id=connection.workspace_id if connection else None,
                connection_id=connection_id,
                detail={
                    "invoice_id": invoice_id,
                    "invoice_number": number,
                    "from": previous.isoformat() if previous else None,
                    "to": expected.isoformat() if expected else None,
                    "held_in": outcome.held_in,
                    "xero_messages": list(outcome.xero_messages),
                },
                at=now,
            )
        return outcome
