"""Deterministic sandbox book: pure functions of (seed, org, index) that build its records."""

from __future__ import annotations

import functools
import hashlib
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from .records import (
    AdvanceAllocation,
    Contact,
    CreditAllocation,
    Ids,
    Invoice,
    Organisation,
    Payment,
    SandboxUser,
)

__all__ = [
    "BookShape",
    "Ids",
    "default_bills",
    "line_items",
    "make_contacts",
    "make_invoice",
    "make_organisations",
    "make_users",
    "rate_between",
]

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


def default_bills(invoices: int) -> int:
    """Bills to generate beside `invoices` sales invoices: 15% of them, rounded half up."""
    return (invoices * 15 + 50) // 100


@dataclass(slots=True)
class BookShape:
    """What an org's invoices are drawn from; fixed once contacts exist.

    The org has `sales` generated sales invoices (ACCREC) and `bills` generated bills (ACCPAY)
    at indices 0 .. sales + bills - 1, the bills spread evenly among them; indices past that
    are invoices added later, all sales invoices. Sales invoices are numbered INV-00001 upwards
    and bills BILL-00001 upwards, each in index order, so a number maps straight to its index.
    """

    seed: int
    org: Organisation
    customers: list[int]
    suppliers: list[int]
    currencies: list[str]  # contact index -> currency
    today: date
    ceiling: datetime  # every generated UpdatedDateUTC is before this
    ids: Ids
    sales: int = 0
    bills: int = 0
    key: bytes = b""

    def __post_init__(self) -> None:
        self.key = hashlib.blake2b(
            f"{self.seed}:{self.org.index}".encode(), digest_size=16
        ).digest()

    @property
    def generated(self) -> int:
        """How many invoices (sales and bills) are generated rather than added."""
        return self.sales + self.bills

    def bills_before(self, i: int) -> int:
        """How many of the indices below i are bills: floor(i * bills / generated)."""
        total = self.generated
        return min(i, total) * self.bills // total if total else 0

    def is_bill(self, i: int) -> bool:
        return i < self.generated and self.bills_before(i + 1) > self.bills_before(i)

    def number(self, i: int) -> str:
        """The InvoiceNumber at index i: INV-n for the n-th sales invoice, BILL-n for a bill."""
        before = self.bills_before(i)
        return f"BILL-{before + 1:05d}" if self.is_bill(i) else f"INV-{i - before + 1:05d}"

    def index_of(self, number: str) -> int | None:
        """The index that `number` would be at (number() inverted), or None if it is not one."""
        prefix, _, digits = number.partition("-")
        if not (digits.isascii() and digits.isdigit()) or int(digits) < 1:
            return None
        n, total = int(digits) - 1, self.generated
        if prefix == "BILL" and n < self.bills:
            # The first i with bills_before(i + 1) == n + 1: ceil((n + 1) * total / bills) - 1.
            return -(-(n + 1) * total // self.bills) - 1
        if prefix == "INV":
            # Sales before i: ceil(i * sales / total); so the n-th is at floor(n * total / sales).
            return n * total // self.sales if n < self.sales else total + n - self.sales
        return None


def make_invoice(shape: BookShape, i: int) -> Invoice:
    """The invoice at index i of an org: a pure function of (seed, org, i, today)."""
    u = hashlib.blake2b(i.to_bytes(5, "big"), key=shape.key, digest_size=32).digest()
    org, today, ids = shape.org, shape.today, shape.ids
    bill = shape.is_bill(i)
    pool = (shape.suppliers or shape.customers) if bill else shape.customers
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
    else:
        # Spread due dates around today (not due, 1-30, 31-60, 61-90 and 90+ days overdue) while
        # every issue date stays on or before today: a dated-tomorrow invoice is not real data.
        b, w = u[5], u[6]
        overdue = (
            -(1 + w % terms)
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
        issued = today - timedelta(days=overdue + terms)
        due = issued + timedelta(days=terms)
    subtotal = (Decimal(50 + int.from_bytes(u[8:11], "big") % 500000) / 100).quantize(CENT)
    if u[11] < 20:
        subtotal *= 10
    tax = (subtotal * org.tax_rate).quantize(CENT)
    total = subtotal + tax
    rate = rate_between(org.base_currency, currency)
    payments: list[Payment] = []
    credits: list[CreditAllocation] = []
    advances: dict[str, list[AdvanceAllocation]] = {"prepayment": [], "overpayment": []}
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
    elif status == "AUTHORISED" and u[4] < 86:  # a prepayment (or overpayment) applied
        kind = "prepayment" if u[4] < 80 else "overpayment"
        when = max(issued, min(today - timedelta(days=1), issued + timedelta(days=2)))
        amount = (total * Decimal(10 + u[15] % 50) / 100).quantize(CENT)
        advances[kind] = [
            AdvanceAllocation(ids.make(kind, org.index, i), when, amount, amount, "")
        ]
        last_touch = when
    expected = None
    untouched = not (payments or credits or advances["prepayment"] or advances["overpayment"])
    if status == "AUTHORISED" and untouched and u[16] < 16 and due < today:
        expected = today + timedelta(days=3 + u[17] % 28)
    return Invoice(
        org=org.index,
        index=i,
        invoice_id=ids.make("invoice", org.index, i),
        number=shape.number(i),
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
        prepayments=advances["prepayment"],
        overpayments=advances["overpayment"],
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
