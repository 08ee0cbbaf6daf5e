"""The sandbox's books: invoices generated on demand, an overlay of changes, change events."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from . import xerojson
from .generator import (
    BookShape,
    Contact,
    CreditAllocation,
    Ids,
    Invoice,
    Organisation,
    Payment,
    SandboxUser,
    line_items,
    make_contacts,
    make_invoice,
    make_organisations,
    make_users,
    rate_between,
)

__all__ = ["ChangeEvent", "EditRefused", "Ledger", "Organisation", "SandboxUser", "build_ledger"]

ZERO = Decimal("0.00")
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


class Ledger:
    """All tenants' data. Base invoices are a pure function of (seed, org, index), generated on
    demand; only changed or added invoices are stored (the overlay), so memory is O(changes)."""

    def __init__(
        self,
        *,
        seed: int,
        ids: Ids,
        organisations: list[Organisation],
        users: list[SandboxUser],
        contacts: dict[str, list[Contact]],
        shapes: dict[str, BookShape],
        counts: dict[str, int],
        today: date,
        clock: Callable[[], datetime],
        ceiling: datetime,
    ) -> None:
        self.seed, self.ids, self.today, self.clock = seed, ids, today, clock
        self.organisations, self.users = organisations, users
        self.version = 0  # bumped on every change; lets callers cache query results
        self.ceiling = ceiling  # every generated UpdatedDateUTC is at or before this second
        self._orgs = {o.organisation_id: o for o in organisations}
        self._contacts = contacts
        self._contact_ids = {t: {c.contact_id: c for c in cs} for t, cs in contacts.items()}
        self._shapes, self._base = shapes, counts
        self._overlay: dict[str, dict[int, Invoice]] = {t: {} for t in self._orgs}
        self._added = dict.fromkeys(self._orgs, 0)
        self._balances: dict[str, list[list[Decimal]]] = {}
        self._listeners: list[Callable[[ChangeEvent], None]] = []

    # -- identity -----------------------------------------------------------------------
    def organisation(self, tenant_id: str) -> Organisation:
        return self._orgs[tenant_id]

    def user_by_email(self, email: str) -> SandboxUser | None:
        return next((u for u in self.users if u.email.lower() == email.lower()), None)

    def users_for(self, tenant_id: str) -> list[SandboxUser]:
        return [u for u in self.users if tenant_id in u.roles]

    def subscribe(self, listener: Callable[[ChangeEvent], None]) -> None:
        self._listeners.append(listener)

    def now(self) -> datetime:
        return self.clock()

    # -- reads --------------------------------------------------------------------------
    def contacts(self, tenant_id: str) -> list[Contact]:
        return self._contacts[tenant_id]

    def contact(self, tenant_id: str, key: str) -> Contact | None:
        """By ContactID (any case) or ContactNumber, as Xero's /Contacts/{id} accepts both."""
        found = self._contact_ids[tenant_id].get(key.lower())
        return found or next(
            (c for c in self._contacts[tenant_id] if c.contact_number == key), None
        )

    def contact_of(self, inv: Invoice) -> Contact:
        return self._contacts[self.organisations[inv.org].organisation_id][inv.contact_idx]

    def invoice_count(self, tenant_id: str) -> int:
        return self._base[tenant_id] + self._added[tenant_id]

    def invoice_at(self, tenant_id: str, index: int) -> Invoice:
        found = self._overlay[tenant_id].get(index)
        return found if found is not None else make_invoice(self._shapes[tenant_id], index)

    def invoice(self, tenant_id: str, key: str) -> Invoice | None:
        """By InvoiceID or InvoiceNumber (Xero's /Invoices/{id} accepts both)."""
        org = self._orgs[tenant_id].index
        parsed = self.ids.parse(key)
        if parsed and parsed[0] == "invoice" and parsed[1] == org:
            if parsed[2] < self.invoice_count(tenant_id):
                return self.invoice_at(tenant_id, parsed[2])
            return None
        for prefix in ("INV-", "BILL-"):  # generated numbers encode the index
            if key.startswith(prefix) and key[len(prefix) :].isdigit():
                index = int(key[len(prefix) :]) - 1
                if 0 <= index < self.invoice_count(tenant_id):
                    inv = self.invoice_at(tenant_id, index)
                    if inv.number == key:
                        return inv
        return None

    def iter_invoices(self, tenant_id: str, since: datetime | None = None) -> Iterator[Invoice]:
        """Invoices in creation order; with `since`, only those updated at or after that second.

        Generated data is all older than `ceiling`, so a `since` after it only reads the overlay:
        incremental syncs cost O(changes), not O(invoices).
        """
        floor = since.astimezone(UTC).replace(microsecond=0) if since else None
        overlay = self._overlay[tenant_id]
        if floor is not None and floor > self.ceiling:
            for index in sorted(overlay):
                if overlay[index].updated.replace(microsecond=0) >= floor:
                    yield overlay[index]
            return
        shape = self._shapes[tenant_id]
        for index in range(self.invoice_count(tenant_id)):
            inv = overlay.get(index)
            if inv is None:
                inv = make_invoice(shape, index)
            if floor is None or inv.updated.replace(microsecond=0) >= floor:
                yield inv

    def lines(self, inv: Invoice) -> list[dict]:
        return line_items(self._shapes[self.organisations[inv.org].organisation_id], inv)

    def balances(self, tenant_id: str, contact: Contact) -> tuple[Decimal, ...]:
        """(AR outstanding, AR overdue, AP outstanding, AP overdue), computed once then kept
        up to date by deltas. Balance changes never touch the contact's UpdatedDateUTC (Xero)."""
        if tenant_id not in self._balances:
            table = [[ZERO] * 4 for _ in self._contacts[tenant_id]]
            for inv in self.iter_invoices(tenant_id):
                self._apply_balance(table, inv, 1)
            self._balances[tenant_id] = table
        return tuple(self._balances[tenant_id][contact.index])

    def _apply_balance(self, table: list[list[Decimal]], inv: Invoice, sign: int) -> None:
        if inv.status != "AUTHORISED":
            return
        row, base = table[inv.contact_idx], 0 if inv.type == "ACCREC" else 2
        row[base] += sign * inv.amount_due
        if inv.due_date < self.today:
            row[base + 1] += sign * inv.amount_due

    def invoice_json(self, inv: Invoice) -> dict:
        """The invoice as GET /Invoices/{id} shows it: full contact and line items."""
        contact = xerojson.contact(self.contact_of(inv), None, detailed=True)
        return xerojson.invoice(inv, contact, self.lines)

    def contact_json(self, tenant_id: str, contact: Contact) -> dict:
        return xerojson.contact(contact, self.balances(tenant_id, contact), detailed=True)

    # -- writes -------------------------------------------------------------------------
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
        table = self._balances.get(tenant_id)
        if table is not None:
            if old is not None:
                self._apply_balance(table, old, -1)
            self._apply_balance(table, new, 1)
        self._overlay[tenant_id][new.index] = new
        self.version += 1
        if bump:
            self._emit(ChangeEvent(tenant_id, "INVOICE", event, new.invoice_id, new.updated))
        return self.invoice_json(new)

    def _emit(self, event: ChangeEvent) -> None:
        for listener in list(self._listeners):
            listener(event)

    @staticmethod
    def _copy(inv: Invoice) -> Invoice:
        return dataclasses.replace(inv, payments=list(inv.payments), credits=list(inv.credits))

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
        org = self._orgs[tenant_id]
        if contact_id is not None:
            contact = self.contact(tenant_id, contact_id)
            if contact is None:
                raise KeyError(contact_id)
        else:
            contact = next(c for c in self._contacts[tenant_id] if c.status == "ACTIVE")
        amount = Decimal(str(total if total is not None else "1150.00")).quantize(Decimal("0.01"))
        subtotal = (amount / (1 + org.tax_rate)).quantize(Decimal("0.01"))
        index = self.invoice_count(tenant_id)
        currency = currency or contact.currency
        inv = Invoice(
            org=org.index,
            index=index,
            invoice_id=self.ids.make("invoice", org.index, index),
            number=f"INV-{index + 1:05d}",
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
        self._added[tenant_id] += 1
        return self._store(tenant_id, None, inv, "CREATE")

    def add_payment(self, tenant_id: str, invoice_id: str, amount: Decimal | str | float) -> dict:
        old = self._require(tenant_id, invoice_id)
        value = Decimal(str(amount)).quantize(Decimal("0.01"))
        if old.status != "AUTHORISED" or not 0 < value <= old.amount_due:
            raise ValueError(f"cannot pay {value} on {old.status} invoice owing {old.amount_due}")
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

    def add_credit_note(
        self, tenant_id: str, invoice_id: str, amount: Decimal | str | float
    ) -> dict:
        old = self._require(tenant_id, invoice_id)
        value = Decimal(str(amount)).quantize(Decimal("0.01"))
        if old.status != "AUTHORISED" or not 0 < value <= old.amount_due:
            raise ValueError(
                f"cannot credit {value} on {old.status} invoice owing {old.amount_due}"
            )
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

    def _settle(self, inv: Invoice) -> None:
        if inv.amount_due == 0:
            inv.status, inv.fully_paid_on, inv.expected = "PAID", self.today, None

    def set_due_date(self, tenant_id: str, invoice_id: str, due: date) -> dict:
        old = self._require(tenant_id, invoice_id)
        inv = self._copy(old)
        inv.due_date = due
        # Xero: DueDate changes on part-paid transactions don't generate a journal, so
        # UpdatedDateUTC stays put and If-Modified-Since (and our webhooks) miss the change.
        part_paid = inv.status == "AUTHORISED" and inv.amount_paid > 0 and inv.amount_due > 0
        return self._store(tenant_id, old, inv, "UPDATE", bump=not part_paid)

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
        if inv.payments or inv.credits:
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

    def set_expected_payment_date(
        self, tenant_id: str, invoice_id: str, expected: date | None
    ) -> dict:
        """What POST /Invoices/{id} does with ExpectedPaymentDate; EditRefused as Xero refuses."""
        old = self._require(tenant_id, invoice_id)
        self.check_editable(tenant_id, old)
        inv = self._copy(old)
        inv.expected = expected
        return self._store(tenant_id, old, inv, "UPDATE")

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
        return self._contact_change(
            tenant_id, contact_id, **{CONTACT_FIELDS[k]: v for k, v in fields.items()}
        )

    def archive_contact(self, tenant_id: str, contact_id: str) -> dict:
        return self._contact_change(tenant_id, contact_id, status="ARCHIVED")


def build_ledger(
    *,
    seed: int = 1,
    orgs: int = 2,
    contacts: int = 50,
    invoices: int = 500,
    today: date | None = None,
    now: datetime | None = None,
) -> Ledger:
    """A deterministic book: `orgs` organisations, each with `contacts` contacts and `invoices`
    invoices. Pass `now` (or `today`) to freeze the clock; otherwise it is the wall clock."""
    if orgs < 1 or contacts < 1 or invoices < 0:
        raise ValueError("need at least one organisation and one contact")
    clock: Callable[[], datetime]
    if now is None and today is None:
        now, clock = datetime.now(UTC), (lambda: datetime.now(UTC))
    else:
        now = now or datetime.combine(today or date.today(), time(12), UTC)
        frozen = now
        clock = lambda: frozen  # noqa: E731 - tests replace ledger.clock to move time on
    today = today or now.date()
    ceiling = (now - timedelta(hours=1)).replace(microsecond=0)
    ids = Ids(seed)
    organisations = make_organisations(seed, orgs, ids, today)
    books, shapes = {}, {}
    for org in organisations:
        people = make_contacts(seed, org, contacts, ids, ceiling)
        active = [c for c in people if c.status == "ACTIVE"]
        customers = [c.index for c in active if c.is_customer] or [c.index for c in active]
        books[org.organisation_id] = people
        shapes[org.organisation_id] = BookShape(
            seed=seed,
            org=org,
            customers=customers,
            suppliers=[c.index for c in active if c.is_supplier],
            currencies=[c.currency for c in people],
            today=today,
            ceiling=ceiling,
            ids=ids,
        )
    return Ledger(
        seed=seed,
        ids=ids,
        organisations=organisations,
        users=make_users(seed, organisations, ids),
        contacts=books,
        shapes=shapes,
        counts=dict.fromkeys(shapes, invoices),
        today=today,
        clock=clock,
        ceiling=ceiling,
    )
