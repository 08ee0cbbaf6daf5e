"""The sandbox's books: invoices generated on demand, an overlay of changes, change events."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from . import xerojson
from .changes import ChangeEvent, EditRefused, LedgerChanges
from .generator import (
    BookShape,
    default_bills,
    line_items,
    make_contacts,
    make_invoice,
    make_organisations,
    make_users,
)
from .records import (
    Contact,
    Ids,
    Invoice,
    Organisation,
    SandboxUser,
)

__all__ = ["ChangeEvent", "EditRefused", "Ledger", "Organisation", "SandboxUser", "build_ledger"]

ZERO = Decimal("0.00")


class Ledger(LedgerChanges):
    """All tenants' data. Base invoices are a pure function of (seed, org, index), generated on
    demand; only changed or added invoices are stored (the overlay), so memory is O(changes).

    Thread safety: long scans run off the event loop while writes (LedgerChanges) happen on it.
    Writers hold `_lock`; stored invoices are never mutated, so a reader that copies the overlay
    under the lock can then scan without it.
    """

    def __init__(
        self,
        *,
        seed: int,
        ids: Ids,
        organisations: list[Organisation],
        users: list[SandboxUser],
        contacts: dict[str, list[Contact]],
        shapes: dict[str, BookShape],
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
        self._shapes = shapes
        self._overlay: dict[str, dict[int, Invoice]] = {t: {} for t in self._orgs}
        self._added = dict.fromkeys(self._orgs, 0)
        self._balances: dict[str, list[list[Decimal]]] = {}
        self._listeners: list[Callable[[ChangeEvent], None]] = []
        self._lock = threading.RLock()
        self._invoice_changes = 0  # bumped on every stored invoice; guards the balances cache

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
        """Every invoice of the org: sales invoices and bills, generated and added."""
        return self._shapes[tenant_id].generated + self._added[tenant_id]

    def _view(self, tenant_id: str) -> tuple[int, dict[int, Invoice]]:
        """(invoice count, overlay copy): a consistent snapshot to scan without the lock."""
        with self._lock:
            return self.invoice_count(tenant_id), dict(self._overlay[tenant_id])

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
        index = self._shapes[tenant_id].index_of(key)  # numbers map straight to indices
        if index is not None and index < self.invoice_count(tenant_id):
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
        count, overlay = self._view(tenant_id)
        if floor is not None and floor > self.ceiling:
            for index in sorted(overlay):
                if overlay[index].updated.replace(microsecond=0) >= floor:
                    yield overlay[index]
            return
        shape = self._shapes[tenant_id]
        for index in range(count):
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
        while tenant_id not in self._balances:
            # Built from a snapshot without the lock (it may take seconds); kept only if no
            # invoice changed meanwhile, otherwise built again from a newer snapshot.
            seen = self._invoice_changes
            table = [[ZERO] * 4 for _ in self._contacts[tenant_id]]
            for inv in self.iter_invoices(tenant_id):
                self._apply_balance(table, inv, 1)
            with self._lock:
                if seen == self._invoice_changes and tenant_id not in self._balances:
                    self._balances[tenant_id] = table
        with self._lock:
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

def build_ledger(
    *,
    seed: int = 1,
    orgs: int = 2,
    contacts: int = 50,
    invoices: int = 500,
    bills: int | None = None,
    today: date | None = None,
    now: datetime | None = None,
) -> Ledger:
    """A deterministic book: `orgs` organisations, each with `contacts` contacts (the last of
    three or more an archived duplicate), `invoices` sales invoices (ACCREC) and `bills` bills
    (ACCPAY; default about 15% of `invoices`, see default_bills).
    Pass `now` (or `today`) to freeze the clock; otherwise it is the wall clock."""
    if orgs < 1 or contacts < 1:
        raise ValueError("need at least one organisation and one contact")
    bills = default_bills(invoices) if bills is None else bills
    if invoices < 0 or bills < 0:
        raise ValueError("invoices and bills cannot be negative")
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
        if bills and not any(c.is_supplier for c in active):
            active[-1].is_supplier = True  # Xero marks whoever has a bill as a supplier
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
            sales=invoices,
            bills=bills,
        )
    return Ledger(
        seed=seed,
        ids=ids,
        organisations=organisations,
        users=make_users(seed, organisations, ids),
        contacts=books,
        shapes=shapes,
        today=today,
        clock=clock,
        ceiling=ceiling,
    )
