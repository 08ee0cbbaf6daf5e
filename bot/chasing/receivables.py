"""Open receivables: what one is, days overdue, aging buckets, totals by currency and in base.

Pure (plain values in, figures out): the one place that says what an open receivable is and
how it ages. The digest, `chaser demo` and the chasing policy read it; `receivables_service`
fills it from the local store.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from bot.chasing.timezones import org_zone
from storage.money import money_text, quantize_money

# Only approved sales invoices are receivables: drafts and submitted ones have not been sent,
# PAID/VOIDED/DELETED are closed, and bills (ACCPAY) are money we owe, not money owed to us.
RECEIVABLE_TYPE = "ACCREC"
OPEN_RECEIVABLE_STATUSES: tuple[str, ...] = ("AUTHORISED",)
ZERO = Decimal("0")


def is_open_receivable(invoice_type: str, status: str, amount_due: Decimal | None) -> bool:
    """Whether an invoice is an open receivable: an approved sales invoice with money owing."""
    return (
        invoice_type == RECEIVABLE_TYPE
        and status in OPEN_RECEIVABLE_STATUSES
        and (amount_due or ZERO) > ZERO
    )


# Dates ------------------------------------------------------------------------------------


def org_today(now: datetime, xero_timezone: str | None) -> date:
    """Today's date where the organisation is (Xero's Timezone enum; unknown means UTC)."""
    return now.astimezone(org_zone(xero_timezone)).date()


def days_overdue(due_date: date | None, today: date) -> int:
    """Whole days past the due date: 0 on the due date itself and before it."""
    if due_date is None:
        return 0
    return max(0, (today - due_date).days)


class AgingBucket(StrEnum):
    """The standard receivables aging periods (Not yet due, 1–30, 31–60, 61–90, 90+)."""

    NOT_YET_DUE = "not_yet_due"
    DAYS_1_30 = "1_30"
    DAYS_31_60 = "31_60"
    DAYS_61_90 = "61_90"
    DAYS_90_PLUS = "90_plus"

    @property
    def label(self) -> str:
        """The period's name as a person reads it."""
        return BUCKET_LABELS[self]


BUCKET_LABELS = {
    AgingBucket.NOT_YET_DUE: "Not yet due",
    AgingBucket.DAYS_1_30: "1–30 days",
    AgingBucket.DAYS_31_60: "31–60 days",
    AgingBucket.DAYS_61_90: "61–90 days",
    AgingBucket.DAYS_90_PLUS: "90+ days",
}


def bucket_for_days(days: int) -> AgingBucket:
    """The aging period of an invoice `days` past due (0 or less: not yet due)."""
    if days <= 0:
        return AgingBucket.NOT_YET_DUE
    if days <= 30:
        return AgingBucket.DAYS_1_30
    if days <= 60:
        return AgingBucket.DAYS_31_60
    if days <= 90:
        return AgingBucket.DAYS_61_90
    return AgingBucket.DAYS_90_PLUS


def aging_bucket(due_date: date | None, today: date) -> AgingBucket:
    """The aging period an open invoice falls in on `today`."""
    return bucket_for_days(days_overdue(due_date, today))


# Money ------------------------------------------------------------------------------------


def base_amount(amount: Decimal, currency_rate: Decimal | None) -> Decimal:
    """An amount in the organisation's base currency.

    Xero's CurrencyRate is units of the invoice currency per one unit of base currency
    (Accounting API, Invoices: "CurrencyRate"; a USD invoice in an NZD organisation at 0.6
    means 1 NZD = 0.6 USD), so the base amount is amount / rate; a missing or zero rate means
    the invoice is already in the base currency.
    """
    if not currency_rate:
        return amount
    return amount / currency_rate


def in_base_currency(
    amount: Decimal, currency: str | None, rate: Decimal | None, base_currency: str | None
) -> Decimal | None:
    """`amount` in the base currency, or None for a foreign invoice with no rate to use."""
    if not currency or currency == base_currency:
        return amount
    if base_currency is None or rate is None or rate <= ZERO:
        return None
    return base_amount(amount, rate)


def money_figures(totals: dict[str, Decimal]) -> dict[str, str]:
    """Totals by currency as JSON-ready text, rounded by the money rule, currencies sorted."""
    return {currency: money_text(amount) for currency, amount in sorted(totals.items())}


def grouped_money(amount: Decimal) -> str:
    """An amount for a person to read: thousands grouped, cents rounded by the money rule."""
    # Quantize first: format()'s own rounding is half-even and would disagree with storage.
    return f"{quantize_money(amount):,.2f}"


# Summaries --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Receivable:
    """The fields of one open invoice that a summary reads."""

    invoice_number: str | None
    customer: str | None
    due_date: date | None
    amount_due: Decimal
    currency: str
    currency_rate: Decimal | None = None
    expected_payment_date: date | None = None
    invoice_id: int | None = None
    contact_id: int | None = None


@dataclass(frozen=True, slots=True)
class OverdueLine:
    """One overdue invoice in a summary, with its amount in the base currency when known."""

    receivable: Receivable
    days_overdue: int
    base_amount: Decimal | None

    @property
    def exposure(self) -> Decimal:
        """Base amount × days overdue: what ranks the lines (own amount when no rate)."""
        return exposure(self.receivable.amount_due, self.base_amount, self.days_overdue)


def exposure(amount_due: Decimal, base_amount: Decimal | None, days_overdue: int) -> Decimal:
    """What ranks overdue invoices: base amount × days overdue (own amount without a rate)."""
    return (base_amount if base_amount is not None else amount_due) * days_overdue


@dataclass(slots=True)
class BucketTotal:
    """Count and amounts of some open invoices: by currency, and in the base currency."""

    count: int = 0
    totals: dict[str, Decimal] = field(default_factory=dict)
    base: Decimal = ZERO
    # Invoices in a foreign currency without a usable rate: left out of `base`, counted here.
    unconverted: int = 0

    def add(self, currency: str, amount: Decimal, base_amount: Decimal | None) -> None:
        """Count one invoice in."""
        self.count += 1
        self.totals[currency] = self.totals.get(currency, ZERO) + amount
        if base_amount is None:
            self.unconverted += 1
        else:
            self.base += base_amount

    def as_dict(self) -> dict[str, object]:
        """JSON-ready figures (money as strings, so no float ever touches it)."""
        return {
            "count": self.count,
            "totals": money_figures(self.totals),
            "base_total": money_text(self.base),
            "unconverted": self.unconverted,
        }


@dataclass
class ReceivablesSummary:
    """Open and overdue totals, aging buckets and the overdue lines ranked, as of `today`."""

    today: date
    base_currency: str | None
    buckets: dict[AgingBucket, BucketTotal]
    open: BucketTotal
    overdue: BucketTotal
    overdue_lines: list[OverdueLine]

    def top_overdue(self, count: int = 5) -> list[OverdueLine]:
        """The `count` overdue lines with the most at stake (base amount × days overdue)."""
        return self.overdue_lines[:count]

    def as_dict(self, *, top: int = 5) -> dict[str, object]:
        """JSON-ready figures (money as strings, so no float ever touches it)."""
        return {
            "today": self.today.isoformat(),
            "base_currency": self.base_currency,
            "open_count": self.open.count,
            "open_totals": money_figures(self.open.totals),
            "open_base_total": money_text(self.open.base),
            "overdue_count": self.overdue.count,
            "overdue_totals": money_figures(self.overdue.totals),
            "overdue_base_total": money_text(self.overdue.base),
            "aging": {bucket.value: total.as_dict() for bucket, total in self.buckets.items()},
            "top_overdue": [
                {
                    "customer": line.receivable.customer,
                    "invoice_number": line.receivable.invoice_number,
                    "amount_due": money_text(line.receivable.amount_due),
                    "currency": line.receivable.currency,
                    "base_amount": (
                        money_text(line.base_amount) if line.base_amount is not None else None
                    ),
                    "days_overdue": line.days_overdue,
                }
                for line in self.top_overdue(top)
            ],
        }


def summarize(
    receivables: Iterable[Receivable], today: date, *, base_currency: str | None = None
) -> ReceivablesSummary:
    """Bucket open receivables by days overdue on `today`; overdue lines by exposure, then age."""
    buckets = {bucket: BucketTotal() for bucket in AgingBucket}
    everything = BucketTotal()
    overdue = BucketTotal()
    lines: list[OverdueLine] = []
    for item in receivables:
        days = days_overdue(item.due_date, today)
        base = in_base_currency(item.amount_due, item.currency, item.currency_rate, base_currency)
        buckets[bucket_for_days(days)].add(item.currency, item.amount_due, base)
        everything.add(item.currency, item.amount_due, base)
        if days > 0:
            overdue.add(item.currency, item.amount_due, base)
            lines.append(OverdueLine(item, days, base))
    lines.sort(
        key=lambda line: (-line.exposure, -line.days_overdue, line.receivable.invoice_number or "")
    )
    return ReceivablesSummary(
        today=today,
        base_currency=base_currency,
        buckets=buckets,
        open=everything,
        overdue=overdue,
        overdue_lines=lines,
    )


@dataclass(frozen=True)
class OrgReceivables:
    """One connected organisation's summary, with what a reader needs to name it."""

    connection_id: int
    name: str
    timezone: str | None
    base_currency: str | None
    status: str
    summary: ReceivablesSummary
