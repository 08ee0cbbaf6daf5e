"""Deterministic sandbox book: records plus pure functions of (seed, org, index) that build them."""

from __future__ import annotations

import functools
import hashlib
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

CENT = Decimal("0.01")
RATE_DP = Decimal("0.000001")

# Roughly how many US dollars one unit buys; only ratios matter (CurrencyRate = foreign per base).
# fmt: off
USD_VALUE = {"NZD": "0.60", "AUD": "0.66", "GBP": "1.27", "USD": "1.00", "EUR": "1.08",
             "CAD": "0.73"}
# base currency -> (country, Xero TimeZone enum, Version, FY end (day, month), tax rate, line types)
REGIONS = {
    "NZD": ("NZ", "NEWZEALANDSTANDARDTIME", "NZ", (31, 3), Decimal("0.15"), "Exclusive"),
    "AUD": ("AU", "AUSEASTERNSTANDARDTIME", "AU", (30, 6), Decimal("0.10"), "Exclusive"),
    "GBP": ("GB", "GMTSTANDARDTIME", "UK", (31, 3), Decimal("0.20"), "Exclusive"),
    "USD": ("US", "EASTERNSTANDARDTIME", "US", (31, 12), Decimal("0"), "NoTax"),
}
BASES = tuple(REGIONS)
ORG_NAMES = ("Kauri Plumbing", "Wattle & Co Builders", "Thames Print Works",
             "Hudson Coffee Roasters")
ADJECTIVES = ("Harbour", "Summit", "Copper", "Tui", "Northern", "Blue Gum", "Riverside", "Granite",
              "Silver Fern", "Coastal", "Ironbark", "Maple", "Pioneer", "Kea", "Oakridge",
              "Southern")
NOUNS = ("Joinery", "Dental", "Cafe", "Logistics", "Electrical", "Landscaping", "Bakery", "Motors",
         "Studio", "Consulting", "Vineyards", "Surf Co", "Fitness", "Print", "Veterinary", "Books")
SUFFIXES = ("Ltd", "Limited", "Pty Ltd", "& Sons", "Group", "Co")
FIRST = ("Aroha", "Ben", "Chloe", "Dev", "Emma", "Finn", "Grace", "Hemi", "Isla", "Jack", "Kiri",
         "Liam", "Mia", "Noah", "Olivia", "Priya", "Quinn", "Ruby", "Sam", "Tama")
LAST = ("Anderson", "Brown", "Chen", "Davies", "Edwards", "Fraser", "Ngata", "Huang", "Ikeda",
        "Jones", "Kumar", "Lee", "Mitchell", "Nguyen", "O'Brien", "Patel", "Smith", "Walker")
ITEMS = ("Consulting hours", "Call-out fee", "Materials", "Monthly retainer", "Site visit",
         "Design work", "Parts and labour", "Annual service", "Delivery", "Training session")
# fmt: on
KINDS = {"org": 1, "contact": 2, "invoice": 3, "payment": 4, "credit": 5, "line": 6, "user": 7}


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

    @property
    def amount_paid(self) -> Decimal:
        return sum((p.amount for p in self.payments), Decimal("0.00"))

    @property
    def amount_credited(self) -> Decimal:
        return sum((c.amount for c in self.credits), Decimal("0.00"))

    @property
    def amount_due(self) -> Decimal:
        # Xero reports nothing owing on voided/deleted documents.
        if self.status in ("VOIDED", "DELETED"):
            return Decimal("0.00")
        return self.total - self.amount_paid - self.amount_credited


@functools.cache
def rate_between(base: str, currency: str) -> Decimal:
    """Units of `currency` per one unit of `base`, 6 dp as Xero shows CurrencyRate."""
    return (Decimal(USD_VALUE[base]) / Decimal(USD_VALUE[currency])).quantize(RATE_DP)


def _stamp(day: date, seconds: int, ceiling: datetime) -> datetime:
    return min(datetime.combine(day, time(8), UTC) + timedelta(seconds=seconds), ceiling)


def make_organisations(seed: int, count: int, ids: Ids, today: date) -> list[Organisation]:
    rng = random.Random(f"{seed}:orgs")
    orgs = []
    for i in range(count):
        base = BASES[i % len(BASES)]
        country, tz, version, (fy_day, fy_month), tax, lat = REGIONS[base]
        name = ORG_NAMES[i % len(ORG_NAMES)] + (f" {i // len(ORG_NAMES) + 1}" if i >= 4 else "")
        locked = count > 1 and i == count - 1  # the last org (of several) has closed periods
        lock = (today.replace(day=1) - timedelta(days=45)).replace(day=1) - timedelta(days=1)
        eoy = date(lock.year - 1, fy_month, fy_day) if locked else None
        code = "".join(
            rng.choice("abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(5)
        )
        orgs.append(
            Organisation(
                organisation_id=ids.make("org", i, 0),
                name=name,
                legal_name=f"{name} Limited",
                short_code="!" + code,
                country_code=country,
                timezone=tz,
                base_currency=base,
                period_lock_date=lock if locked else None,
                end_of_year_lock_date=eoy,
                created=datetime(2019, 2, 1 + i % 27, 3, 14, 15, tzinfo=UTC)
                + timedelta(days=40 * i),
                version=version,
                financial_year_end_day=fy_day,
                financial_year_end_month=fy_month,
                tax_rate=tax,
                line_amount_types=lat,
                tax_number=f"{rng.randrange(10**8, 10**9)}",
                index=i,
            )
        )
    return orgs


def make_users(seed: int, orgs: list[Organisation], ids: Ids) -> list[SandboxUser]:
    tenants = [o.organisation_id for o in orgs]
    people = [  # email, first, last, role in every org (None: first org only, STANDARD)
        ("finance@sandbox.example", "Fiona", "Finance", "STANDARD"),
        ("adviser@sandbox.example", "Adam", "Adviser", "FINANCIALADVISER"),
        ("readonly@sandbox.example", "Rita", "Readonly", "READONLY"),
        ("invoiceonly@sandbox.example", "Ivan", "Invoiceonly", "INVOICEONLY"),
        ("solo@sandbox.example", "Sol", "Single", None),
    ]
    users = []
    for n, (email, first, last, role) in enumerate(people):
        roles = {t: role for t in tenants} if role else {tenants[0]: "STANDARD"}
        users.append(
            SandboxUser(
                email,
                first,
                last,
                ids.make("user", 0, n),
                roles,
                is_subscriber=n == 0,
                updated=datetime(2024, 3, 1 + n, 9, 30, tzinfo=UTC),
            )
        )
    return users


def make_contacts(
    seed: int, org: Organisation, count: int, ids: Ids, now: datetime
) -> list[Contact]:
    rng = random.Random(f"{seed}:{org.index}:contacts")
    names = [f"{a} {b}" for b in NOUNS for a in ADJECTIVES]
    rng.shuffle(names)
    foreign = [c for c in USD_VALUE if c != org.base_currency]
    contacts = []
    for k in range(count):
        stem = names[k % len(names)] + (f" {k // len(names) + 1}" if k >= len(names) else "")
        name = f"{stem} {rng.choice(SUFFIXES)}"
        first, last = rng.choice(FIRST), rng.choice(LAST)
        domain = stem.lower().replace(" ", "").replace("&", "and") + ".example"
        persons = [
            {
                "FirstName": rng.choice(FIRST),
                "LastName": rng.choice(LAST),
                "EmailAddress": f"{role}@{domain}",
                "IncludeInEmails": rng.random() < 0.6,
            }
            for role in rng.sample(("accounts", "payables", "ops", "director"), rng.randrange(4))
        ]
        area = f"{rng.randrange(2, 10)}"
        phones = [
            {
                "PhoneType": t,
                "PhoneNumber": f"{rng.randrange(2000000, 9999999)}" if use else "",
                "PhoneAreaCode": area if use else "",
                "PhoneCountryCode": "",
            }
            for t, use in (
                ("DEFAULT", True),
                ("DDI", rng.random() < 0.3),
                ("FAX", False),
                ("MOBILE", rng.random() < 0.7),
            )
        ]
        addresses = [
            {
                "AddressType": "POBOX",
                "AddressLine1": f"PO Box {rng.randrange(100, 9999)}",
                "City": "Wellington",
                "Region": "",
                "PostalCode": f"{rng.randrange(1000, 9999)}",
                "Country": org.country_code,
                "AttentionTo": "Accounts",
            },
            {
                "AddressType": "STREET",
                "AddressLine1": f"{rng.randrange(1, 300)} Queen Street",
                "City": "Auckland",
                "Region": "",
                "PostalCode": f"{rng.randrange(1000, 9999)}",
                "Country": org.country_code,
                "AttentionTo": "",
            },
        ]
        contacts.append(
            Contact(
                org=org.index,
                index=k,
                contact_id=ids.make("contact", org.index, k),
                contact_number=f"C{k + 1:05d}",
                account_number=f"AR-{rng.randrange(1000, 99999)}",
                status="ACTIVE",
                name=name,
                first_name=first,
                last_name=last,
                email=""
                if rng.random() < 0.08
                else f"{first.lower()}.{last.lower()}@{domain}".replace("'", ""),
                persons=persons,
                phones=phones,
                addresses=addresses,
                is_supplier=k % 7 == 3,
                is_customer=k % 7 != 3 or k % 2 == 1,
                currency=rng.choice(foreign) if rng.random() < 0.15 else org.base_currency,
                updated=now - timedelta(days=rng.randrange(2, 700), seconds=rng.randrange(86400)),
            )
        )
    if count >= 3:  # an archived duplicate, merged into the first contact
        dup, live = contacts[-1], contacts[0]
        dup.name, dup.status, dup.merged_to = f"{live.name} (old)", "ARCHIVED", live.contact_id
        dup.email, dup.is_customer, dup.is_supplier = live.email, False, False
    return contacts


@dataclass(slots=True)
class BookShape:
    """What an org's invoices are drawn from; fixed once contacts exist."""

    seed: int
    org: Organisation
    customers: list[int]
    suppliers: list[int]
    currencies: list[str]  # contact index -> currency
    today: date
    ceiling: datetime  # every generated UpdatedDateUTC is before this
    ids: Ids
    key: bytes = b""

    def __post_init__(self) -> None:
        self.key = hashlib.blake2b(
            f"{self.seed}:{self.org.index}".encode(), digest_size=16
        ).digest()


def make_invoice(shape: BookShape, i: int) -> Invoice:
    """Invoice number i of an org: a pure function of (seed, org, i, today)."""
    u = hashlib.blake2b(i.to_bytes(5, "big"), key=shape.key, digest_size=32).digest()
    org, today, ids = shape.org, shape.today, shape.ids
    bill = u[0] < 38 and bool(shape.suppliers)
    pool = shape.suppliers if bill else shape.customers
    contact = pool[int.from_bytes(u[1:3], "big") % len(pool)]
    currency = shape.currencies[contact]
    s = u[3]
    status = (
        "DRAFT"
        if s < 10
        else "SUBMITTED"
        if s < 13
        else "DELETED"
        if s < 18
        else "VOIDED"
        if s < 26
        else "PAID"
        if s < 110
        else "AUTHORISED"
    )
    terms = (7, 14, 20, 30)[u[7] % 4]
    if status in ("PAID", "VOIDED", "DELETED"):
        issued = today - timedelta(days=10 + int.from_bytes(u[5:7], "big") % 390)
        due = issued + timedelta(days=terms)
    else:  # spread due dates around today: not due, 1-30, 31-60, 61-90 and 90+ days overdue
        b, w = u[5], u[6]
        overdue = (
            -(1 + w % 40)
            if b < 70
            else 1 + w % 30
            if b < 120
            else 31 + w % 30
            if b < 160
            else 61 + w % 30
            if b < 190
            else 91 + w % 275
            if b < 235
            else 0
        )
        due = today - timedelta(days=overdue)
        issued = due - timedelta(days=terms)
    subtotal = (Decimal(50 + int.from_bytes(u[8:11], "big") % 500000) / 100).quantize(CENT)
    if u[11] < 20:
        subtotal *= 10
    tax = (subtotal * org.tax_rate).quantize(CENT)
    total = subtotal + tax
    rate = rate_between(org.base_currency, currency)
    payments: list[Payment] = []
    credits: list[CreditAllocation] = []
    last_touch, paid_on = issued, None
    if status == "PAID":
        paid_on = min(today - timedelta(days=1), due + timedelta(days=u[12] % 45))
        paid_on = max(paid_on, issued)
        if u[13] < 60:  # paid in two instalments
            first = (total * Decimal("0.4")).quantize(CENT)
            split = issued + (paid_on - issued) / 2
            payments = [
                _payment(ids, org.index, i, 0, split, first, rate),
                _payment(ids, org.index, i, 1, paid_on, total - first, rate),
            ]
        else:
            payments = [_payment(ids, org.index, i, 0, paid_on, total, rate)]
        last_touch = paid_on
    elif status == "AUTHORISED" and u[4] < 45:  # part-paid
        when = min(today - timedelta(days=1), issued + timedelta(days=1 + u[14] % 20))
        when = max(when, issued)
        payments = [
            _payment(
                ids,
                org.index,
                i,
                0,
                when,
                (total * Decimal(20 + u[15] % 60) / 100).quantize(CENT),
                rate,
            )
        ]
        last_touch = when
    elif status == "AUTHORISED" and u[4] < 70:  # credit note allocated
        when = max(issued, min(today - timedelta(days=1), issued + timedelta(days=3)))
        amount = (total * Decimal(10 + u[15] % 40) / 100).quantize(CENT)
        credits = [
            CreditAllocation(
                ids.make("credit", org.index, i), f"CN-{i + 1:05d}", when, amount, amount
            )
        ]
        last_touch = when
    expected = None
    if status == "AUTHORISED" and not payments and not credits and u[16] < 16 and due < today:
        expected = today + timedelta(days=3 + u[17] % 28)
    prefix = "BILL" if bill else "INV"
    return Invoice(
        org=org.index,
        index=i,
        invoice_id=ids.make("invoice", org.index, i),
        number=f"{prefix}-{i + 1:05d}",
        type="ACCPAY" if bill else "ACCREC",
        status=status,
        contact_idx=contact,
        date=issued,
        due_date=due,
        currency=currency,
        rate=rate,
        line_amount_types=org.line_amount_types,
        subtotal=subtotal,
        tax=tax,
        total=total,
        reference=f"PO-{int.from_bytes(u[18:20], 'big') % 9000 + 1000}" if u[20] < 150 else "",
        sent=status in ("AUTHORISED", "PAID") and u[21] < 220,
        updated=_stamp(last_touch, int.from_bytes(u[22:24], "big") % 30000, shape.ceiling).replace(
            microsecond=u[24] * 3000
        ),
        payments=payments,
        credits=credits,
        expected=expected,
        fully_paid_on=paid_on,
    )


def _payment(
    ids: Ids, org: int, i: int, n: int, day: date, amount: Decimal, rate: Decimal
) -> Payment:
    return Payment(ids.make("payment", org, i, n), day, amount, f"DD {i + 1:05d}-{n + 1}", rate)


def line_items(shape: BookShape, inv: Invoice) -> list[dict]:
    """The invoice's lines, split deterministically so they add up to its SubTotal and TotalTax."""
    if inv.line_items is not None:
        return inv.line_items
    rng = random.Random(f"{shape.seed}:{inv.org}:{inv.index}:lines")
    count = 1 + rng.randrange(3)
    amounts, left = [], inv.subtotal
    for _ in range(count - 1):
        part = (left * Decimal(rng.randrange(20, 60)) / 100).quantize(CENT)
        amounts.append(part)
        left -= part
    amounts.append(left)
    taxes = [(a * shape.org.tax_rate).quantize(CENT) for a in amounts]
    taxes[-1] = inv.tax - sum(taxes[:-1], Decimal("0.00"))
    account = "300" if inv.type == "ACCPAY" else "200"
    return [
        {
            "LineItemID": shape.ids.make("line", inv.org, inv.index, n),
            "Description": rng.choice(ITEMS),
            "Quantity": Decimal("1.0000"),
            "UnitAmount": amount,
            "TaxType": "NONE" if shape.org.tax_rate == 0 else "OUTPUT2",
            "TaxAmount": tax,
            "LineAmount": amount,
            "AccountCode": account,
            "Tracking": [],
        }
        for n, (amount, tax) in enumerate(zip(amounts, taxes, strict=True))
    ]
