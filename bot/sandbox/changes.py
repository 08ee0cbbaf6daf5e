"""Ledger changes (control API and POST /Invoices/{id}) with the rules Xero applies to them."""

from __future__ import annotations

import dataclasses
import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TypeVar

from .generator import USD_VALUE, BookShape, rate_between
from .records import (
    AdvanceAllocation,
    Contact,
    CreditAllocation,
    Ids,
    Invoice,
    Organisation,
    Payment,
    to_amount,
)

NEW_INVOICE_STATUSES = ("DRAFT", "SUBMITTED", "AUTHORISED")  # what Xero lets you create
CONTACT_FIELDS = {
    "Name": "name",
    "EmailAddress": "email",
    "FirstName": "first_name",
    "LastName": "last_name",
    "ContactNumber": "contact_number",
    "AccountNumber": "account_number",
    "DefaultCurrency": "currency",
    "ContactPersons": "persons",
}


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    tenant_id: str
    category: str  # "INVOICE" | "CONTACT"
    event_type: str  # "CREATE" | "UPDATE"
    resource_id: str
    at: datetime


class EditRefused(Exception):
    """Xero would refuse this edit with a ValidationException carrying `messages`."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


F = TypeVar("F", bound=Callable[..., object])


def _atomic(method: F) -> F:
    """Run a read-modify-write under the ledger's lock, so concurrent writers never interleave."""

    @functools.wraps(method)
    def locked(self: LedgerChanges, *args: object, **kwargs: object) -> object:
        with self._lock:
            return method(self, *args, **kwargs)

    return locked  # type: ignore[return-value]


class LedgerChanges:
    """The write half of the Ledger. Writes are atomic (one lock) and copy-on-write: a stored
    Invoice is never mutated, so readers may scan a snapshot of the overlay without the lock."""

    ids: Ids
    today: date
    version: int
    _lock: threading.RLock
    _orgs: dict[str, Organisation]
    _contacts: dict[str, list[Contact]]
    _shapes: dict[str, BookShape]
    _overlay: dict[str, dict[int, Invoice]]
    _added: dict[str, int]
    _balances: dict[str, list[list[Decimal]]]
    _invoice_changes: int
    _listeners: list[Callable[[ChangeEvent], None]]
    # Provided by the Ledger's read half.
    now: Callable[[], datetime]
    invoice: Callable[[str, str], Invoice | None]
    contact: Callable[[str, str], Contact | None]
    invoice_count: Callable[[str], int]
    invoice_json: Callable[[Invoice], dict]
    contact_json: Callable[[str, Contact], dict]
    _apply_balance: Callable[[list[list[Decimal]], Invoice, int], None]
    def _require(self, tenant_id: str, invoice_id: str) -> Invoice:
        inv = self.invoice(tenant_id, invoice_id)
        if inv is None:
            raise KeyError(invoice_id)
        return inv

    def _store(
        self, tenant_id: str, old: Invoice | None, new: Invoice, event: str, bump: bool = True
    ) -> dict:
        if bump:
            new.updated = self.now()
        with self._lock:
            table = self._balances.get(tenant_id)
            if table is not None:
                if old is not None:
                    self._apply_balance(table, old, -1)
                self._apply_balance(table, new, 1)
            if old is None:
                self._added[tenant_id] += 1
            self._overlay[tenant_id][new.index] = new
            self._invoice_changes += 1
            self.version += 1
        if bump:
            self._emit(ChangeEvent(tenant_id, "INVOICE", event, new.invoice_id, new.updated))
        return self.invoice_json(new)

    def _emit(self, event: ChangeEvent) -> None:
        for listener in list(self._listeners):
            listener(event)

    @staticmethod
    def _copy(inv: Invoice) -> Invoice:
        return dataclasses.replace(
            inv,
            payments=list(inv.payments),
            credits=list(inv.credits),
            prepayments=list(inv.prepayments),
            overpayments=list(inv.overpayments),
        )

    @_atomic
    def add_invoice(
        self,
        tenant_id: str,
        *,
        contact_id: str | None = None,
        total: Decimal | str | float | None = None,
        due_in_days: int = 14,
        currency: str | None = None,
        status: str = "AUTHORISED",
    ) -> dict:
        """A new ACCREC invoice dated today; ValueError for what Xero would refuse."""
        org = self._orgs[tenant_id]
        if status not in NEW_INVOICE_STATUSES:
            raise ValueError(f"status must be one of {', '.join(NEW_INVOICE_STATUSES)}")
        if isinstance(due_in_days, bool) or not isinstance(due_in_days, int):
            raise ValueError("due_in_days must be a whole number")
        if currency is not None and currency not in USD_VALUE:
            raise ValueError(f"currency must be one of {', '.join(USD_VALUE)}")
        amount = to_amount("1150.00" if total is None else total, "total")
        if contact_id is not None:
            contact = self.contact(tenant_id, str(contact_id))
            if contact is None:
                raise KeyError(contact_id)
        else:
            contact = next(c for c in self._contacts[tenant_id] if c.status == "ACTIVE")
        new = self._new_invoice(org, self.invoice_count(tenant_id), contact, status, amount,
                                currency or contact.currency, due_in_days)
        return self._store(tenant_id, None, new, "CREATE")

    def _new_invoice(self, org: Organisation, index: int, contact: Contact, status: str,
                     amount: Decimal, currency: str, due_in_days: int) -> Invoice:
        subtotal = (amount / (1 + org.tax_rate)).quantize(Decimal("0.01"))
        return Invoice(
            org=org.index,
            index=index,
            invoice_id=self.ids.make("invoice", org.index, index),
            number=self._shapes[org.organisation_id].number(index),
            type="ACCREC",
            status=status,
            contact_idx=contact.index,
            date=self.today,
            due_date=self.today + timedelta(days=due_in_days),
            currency=currency,
            rate=rate_between(org.base_currency, currency),
            line_amount_types=org.line_amount_types,
            subtotal=subtotal,
            tax=amount - subtotal,
            total=amount,
            reference="",
            sent=False,
            updated=self.now(),
            payments=[],
            credits=[],
        )

    @_atomic
    def add_payment(self, tenant_id: str, invoice_id: str, amount: Decimal | str | float) -> dict:
        value, old = self._open_invoice_for(tenant_id, invoice_id, amount, "a payment")
        inv = self._copy(old)
        n = len(inv.payments)
        inv.payments.append(
            Payment(
                self.ids.make("payment", inv.org, inv.index, n),
                self.today,
                value,
                f"Payment {n + 1}",
                inv.rate,
            )
        )
        self._settle(inv)
        return self._store(tenant_id, old, inv, "UPDATE")

    @_atomic
    def add_credit_note(
        self, tenant_id: str, invoice_id: str, amount: Decimal | str | float
    ) -> dict:
        value, old = self._open_invoice_for(tenant_id, invoice_id, amount, "a credit note")
        inv = self._copy(old)
        n = len(inv.credits)
        inv.credits.append(
            CreditAllocation(
                self.ids.make("credit", inv.org, inv.index, n),
                f"CN-{inv.index + 1:05d}-{n + 1}",
                self.today,
                value,
                value,
            )
        )
        self._settle(inv)
        return self._store(tenant_id, old, inv, "UPDATE")

    def add_prepayment(
        self, tenant_id: str, invoice_id: str, amount: Decimal | str | float
    ) -> dict:
        """Apply part of a prepayment received earlier; it counts in AmountCredited, as in Xero."""
        return self._add_advance(tenant_id, invoice_id, amount, "prepayment")

    def add_overpayment(
        self, tenant_id: str, invoice_id: str, amount: Decimal | str | float
    ) -> dict:
        """Apply part of an earlier overpayment; it counts in AmountCredited, as in Xero."""
        return self._add_advance(tenant_id, invoice_id, amount, "overpayment")

    @_atomic
    def _add_advance(
        self, tenant_id: str, invoice_id: str, amount: Decimal | str | float, kind: str
    ) -> dict:
        value, old = self._open_invoice_for(tenant_id, invoice_id, amount, f"a {kind}")
        inv = self._copy(old)
        applied = inv.prepayments if kind == "prepayment" else inv.overpayments
        n = len(applied)
        applied.append(
            AdvanceAllocation(
                self.ids.make(kind, inv.org, inv.index, 1 + n), self.today, value, value, ""
            )
        )
        self._settle(inv)
        return self._store(tenant_id, old, inv, "UPDATE")

    def _open_invoice_for(
        self, tenant_id: str, invoice_id: str, amount: Decimal | str | float, what: str
    ) -> tuple[Decimal, Invoice]:
        """The amount and the invoice, when an AUTHORISED invoice still owes at least that much."""
        value = to_amount(amount)
        old = self._require(tenant_id, invoice_id)
        if old.status != "AUTHORISED" or not value <= old.amount_due:
            raise ValueError(
                f"cannot apply {what} of {value} to a {old.status} invoice owing {old.amount_due}"
            )
        return value, old

    def _settle(self, inv: Invoice) -> None:
        if inv.amount_due == 0:
            inv.status, inv.fully_paid_on, inv.expected = "PAID", self.today, None

    @_atomic
    def set_due_date(self, tenant_id: str, invoice_id: str, due: date) -> dict:
        old = self._require(tenant_id, invoice_id)
        inv = self._copy(old)
        inv.due_date = due
        # Xero: DueDate changes on part-paid transactions don't generate a journal, so
        # UpdatedDateUTC stays put and If-Modified-Since (and our webhooks) miss the change.
        part_paid = inv.status == "AUTHORISED" and inv.amount_paid > 0 and inv.amount_due > 0
        return self._store(tenant_id, old, inv, "UPDATE", bump=not part_paid)

    @_atomic
    def void_invoice(self, tenant_id: str, invoice_id: str) -> dict:
        """AUTHORISED -> VOIDED; DRAFT/SUBMITTED -> DELETED, as Xero allows. No payments allowed."""
        old = self._require(tenant_id, invoice_id)
        if old.payments or old.status not in ("AUTHORISED", "DRAFT", "SUBMITTED"):
            raise ValueError(
                f"cannot void a {old.status} invoice with {len(old.payments)} payments"
            )
        inv = self._copy(old)
        inv.status = "VOIDED" if old.status == "AUTHORISED" else "DELETED"
        return self._store(tenant_id, old, inv, "UPDATE")

    def check_editable(self, tenant_id: str, inv: Invoice) -> None:
        """Raise EditRefused with Xero's message when an API edit of this invoice is refused."""
        org = self._orgs[tenant_id]
        if inv.type != "ACCREC" or inv.status != "AUTHORISED":
            raise EditRefused(["Invoice not of valid status for modification"])
        if inv.allocated:  # payments, credit notes, prepayments and overpayments alike
            raise EditRefused(
                [
                    "This document cannot be edited as it has a payment or credit "
                    "note allocated to it."
                ]
            )
        # Lock dates close every transaction dated on or before them.
        for lock, label in (
            (org.period_lock_date, "period lock date"),
            (org.end_of_year_lock_date, "end of year lock date"),
        ):
            if lock is not None and inv.date <= lock:
                raise EditRefused(
                    [
                        f"The document date cannot be before the {label}, currently "
                        f"set at {lock.strftime('%d-%b-%Y')}."
                    ]
                )

    @_atomic
    def set_expected_payment_date(
        self, tenant_id: str, invoice_id: str, expected: date | None
    ) -> dict:
        """What POST /Invoices/{id} does with ExpectedPaymentDate; EditRefused as Xero refuses."""
        old = self._require(tenant_id, invoice_id)
        self.check_editable(tenant_id, old)
        inv = self._copy(old)
        inv.expected = expected
        return self._store(tenant_id, old, inv, "UPDATE")

    @_atomic
    def _contact_change(self, tenant_id: str, contact_id: str, **attrs: object) -> dict:
        contact = self.contact(tenant_id, contact_id)
        if contact is None:
            raise KeyError(contact_id)
        for attr, value in attrs.items():
            setattr(contact, attr, value)
        contact.updated = self.now()
        self.version += 1
        self._emit(ChangeEvent(tenant_id, "CONTACT", "UPDATE", contact.contact_id, contact.updated))
        return self.contact_json(tenant_id, contact)

    def edit_contact(self, tenant_id: str, contact_id: str, **fields: object) -> dict:
        """Fields by their Xero names, e.g. Name="…", EmailAddress="…"."""
        unknown = set(fields) - set(CONTACT_FIELDS)
        if unknown:
            raise TypeError(f"unsupported contact fields: {sorted(unknown)}")
        _check_contact_fields(fields)
        return self._contact_change(
            tenant_id, contact_id, **{CONTACT_FIELDS[k]: v for k, v in fields.items()}
        )

    def archive_contact(self, tenant_id: str, contact_id: str) -> dict:
        return self._contact_change(tenant_id, contact_id, status="ARCHIVED")


def _check_contact_fields(fields: dict[str, object]) -> None:
    """TypeError/ValueError for values Xero would refuse, before anything is changed."""
    for name, value in fields.items():
        if name == "ContactPersons":
            if not isinstance(value, list) or not all(isinstance(p, dict) for p in value):
                raise TypeError("ContactPersons must be a list of objects")
        elif not isinstance(value, str):
            raise TypeError(f"{name} must be a string")
    if "Name" in fields and not str(fields["Name"]).strip():
        raise ValueError("Name must not be empty")
    if "DefaultCurrency" in fields and fields["DefaultCurrency"] not in USD_VALUE:
        raise ValueError(f"DefaultCurrency must be one of {', '.join(USD_VALUE)}")
