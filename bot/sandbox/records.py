"""The sandbox's records (organisations, users, contacts, invoices) and their invertible ids."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("999999999999.99")  # beyond any real invoice; keeps quantize() in range
# fmt: off
KINDS = {"org": 1, "contact": 2, "invoice": 3, "payment": 4, "credit": 5, "line": 6, "user": 7,
         "prepayment": 8, "overpayment": 9}
# fmt: on
M64 = (1 << 64) - 1


def _mix(x: int) -> int:
    """splitmix64's finaliser: cheap, well-spread, deterministic across processes."""
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9 & M64
    x = (x ^ (x >> 27)) * 0x94D049BB133111EB & M64
    return x ^ (x >> 31)


class Ids:
    """Deterministic, invertible v4-style UUIDs: a keyed Feistel permutation of (kind, org, index).

    Inverting the id (rather than keeping an id->index dict) is what lets 100k invoices be served
    by id with no per-invoice memory.
    """

    _MASK31 = (1 << 31) - 1

    def __init__(self, seed: int) -> None:
        digest = hashlib.blake2b(f"chaser-sandbox:{seed}".encode(), digest_size=40).digest()
        self._keys = [int.from_bytes(digest[n : n + 8], "big") for n in range(0, 40, 8)]

    def make(self, kind: str, org: int, index: int, sub: int = 0) -> str:
        value = KINDS[kind] << 58 | org << 50 | index << 16 | sub
        left, right, keys, mask = value >> 31, value & self._MASK31, self._keys, self._MASK31
        for rnd in range(4):  # _mix inlined: this runs for every generated invoice
            x = right ^ keys[rnd]
            x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9 & M64
            x = (x ^ (x >> 27)) * 0x94D049BB133111EB & M64
            left, right = right, left ^ ((x ^ (x >> 31)) & mask)
        low = 1 << 63 | left << 31 | right  # top bits "10": the RFC 4122 variant
        high = _mix(low ^ keys[4]) & ~0xF000 | 0x4000  # version 4 nibble
        s = f"{high:016x}{low:016x}"
        return f"{s[:8]}-{s[8:12]}-{s[12:16]}-{s[16:20]}-{s[20:]}"

    def parse(self, text: str) -> tuple[str, int, int, int] | None:
        """(kind, org, index, sub) for an id this generator made, else None."""
        try:
            raw = uuid.UUID(str(text)).int
        except ValueError:
            return None
        low, mask = raw & M64, self._MASK31
        left, right = low >> 31 & mask, low & mask
        for rnd in reversed(range(4)):
            left, right = right ^ (_mix(left ^ self._keys[rnd]) & mask), left
        value = left << 31 | right
        kind = next((k for k, v in KINDS.items() if v == value >> 58), None)
        if kind is None:
            return None
        parsed = (kind, value >> 50 & 0xFF, value >> 16 & 0x3FFFFFFFF, value & 0xFFFF)
        return parsed if self.make(*parsed) == str(uuid.UUID(int=raw)) else None


@dataclass(slots=True)
class Organisation:
    organisation_id: str
    name: str
    legal_name: str
    short_code: str
    country_code: str
    timezone: str
    base_currency: str
    period_lock_date: date | None
    end_of_year_lock_date: date | None
    created: datetime
    version: str = "NZ"
    organisation_type: str = "COMPANY"
    financial_year_end_day: int = 31
    financial_year_end_month: int = 3
    tax_rate: Decimal = Decimal("0.15")
    line_amount_types: str = "Exclusive"
    tax_number: str = ""
    index: int = 0


@dataclass(slots=True)
class SandboxUser:
    email: str
    first_name: str
    last_name: str
    global_user_id: str
    roles: dict[str, str]  # tenant_id -> OrganisationRole
    is_subscriber: bool = False
    updated: datetime = field(default_factory=lambda: datetime(2024, 1, 1, tzinfo=UTC))

    def user_id(self, tenant_id: str) -> str:
        """Xero's UserID is per organisation; GlobalUserID is the same everywhere."""
        return str(uuid.uuid5(uuid.UUID(tenant_id), self.global_user_id))


@dataclass(slots=True)
class Contact:
    org: int
    index: int
    contact_id: str
    contact_number: str
    account_number: str
    status: str
    name: str
    first_name: str
    last_name: str
    email: str
    persons: list[dict]  # ContactPersons, already in Xero's shape
    phones: list[dict]
    addresses: list[dict]
    is_supplier: bool
    is_customer: bool
    currency: str
    updated: datetime
    merged_to: str | None = None


@dataclass(slots=True)
class Payment:
    payment_id: str
    date: date
    amount: Decimal
    reference: str
    rate: Decimal


@dataclass(slots=True)
class CreditAllocation:
    credit_note_id: str
    number: str
    date: date
    amount: Decimal
    total: Decimal


@dataclass(slots=True)
class AdvanceAllocation:
    """Part of a prepayment or overpayment (money received before or beyond an invoice) applied
    to an invoice; `total` is the whole prepayment, `amount` the part applied here."""

    advance_id: str
    date: date
    amount: Decimal
    total: Decimal
    reference: str


@dataclass(slots=True, eq=False)
class Invoice:
    org: int
    index: int
    invoice_id: str
    number: str
    type: str
    status: str
    contact_idx: int
    date: date
    due_date: date
    currency: str
    rate: Decimal
    line_amount_types: str
    subtotal: Decimal
    tax: Decimal
    total: Decimal
    reference: str
    sent: bool
    updated: datetime
    payments: list[Payment]
    credits: list[CreditAllocation]
    expected: date | None = None
    fully_paid_on: date | None = None
    line_items: list[dict] | None = None  # None: derived from the seed when serialised
    prepayments: list[AdvanceAllocation] = field(default_factory=list)
    overpayments: list[AdvanceAllocation] = field(default_factory=list)

    @property
    def amount_paid(self) -> Decimal:
        return sum((p.amount for p in self.payments), ZERO)

    @property
    def amount_credited(self) -> Decimal:
        # Xero: "Sum of all credit notes, over-payments and pre-payments applied to invoice".
        applied = (*self.credits, *self.prepayments, *self.overpayments)
        return sum((a.amount for a in applied), ZERO)

    @property
    def allocated(self) -> bool:
        """Anything applied against it: Xero then refuses API edits of the document."""
        return bool(self.payments or self.credits or self.prepayments or self.overpayments)

    @property
    def amount_due(self) -> Decimal:
        # Xero reports nothing owing on voided/deleted documents.
        if self.status in ("VOIDED", "DELETED"):
            return Decimal("0.00")
        return self.total - self.amount_paid - self.amount_credited


def to_amount(value: object, name: str = "amount") -> Decimal:
    """A positive, finite money amount to the cent; ValueError (never a crash) otherwise."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise ValueError(f"{name} must be a number")
    try:
        # NaN and Infinity parse as Decimals and then break every comparison and sum.
        amount = Decimal(str(value).strip())
        if amount.is_finite() and 0 < amount <= MAX_AMOUNT and amount.quantize(CENT) > 0:
            return amount.quantize(CENT)
    except ArithmeticError:  # InvalidOperation and friends
        raise ValueError(f"{name} must be a number") from None
    raise ValueError(f"{name} must be a positive number of at least 0.01, at most {MAX_AMOUNT}")
