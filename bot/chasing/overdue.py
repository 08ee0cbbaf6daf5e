"""Days overdue and aging buckets, counted from the due date in the organisation's timezone."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from bot.chasing.timezones import org_zone

# Only approved invoices are receivables: drafts and submitted ones have not been sent,
# PAID/VOIDED/DELETED are closed.
OPEN_STATUSES = frozenset({"AUTHORISED"})
ZERO = Decimal("0")


class AgingBucket(StrEnum):
    """The standard receivables aging periods (Current, 1–30, 31–60, 61–90, 90+)."""

    NOT_YET_DUE = "not_yet_due"
    DAYS_1_30 = "1_30"
    DAYS_31_60 = "31_60"
    DAYS_61_90 = "61_90"
    DAYS_90_PLUS = "90_plus"

    @property
    def label(self) -> str:
        return BUCKET_LABELS[self]


BUCKET_LABELS = {
    AgingBucket.NOT_YET_DUE: "Not yet due",
    AgingBucket.DAYS_1_30: "1–30 days",
    AgingBucket.DAYS_31_60: "31–60 days",
    AgingBucket.DAYS_61_90: "61–90 days",
    AgingBucket.DAYS_90_PLUS: "90+ days",
}


def cents(amount: Decimal) -> str:
    """Money as text with two decimals, half up like storage (not format()'s half-even)."""
    return str(amount.quantize(Decimal("0.01"), ROUND_HALF_UP))


def org_today(now: datetime, xero_timezone: str | None) -> date:
    """Today's date where the organisation is (Xero's Timezone enum; unknown means UTC)."""
    return now.astimezone(org_zone(xero_timezone)).date()


def days_overdue(due_date: date | None, today: date) -> int:
    """Whole days past the due date: 0 on the due date itself and before it."""
    if due_date is None:
        return 0
    return max(0, (today - due_date).days)


def aging_bucket(due_date: date | None, today: date) -> AgingBucket:
    """The aging period an open invoice falls in on `today`."""
    days = days_overdue(due_date, today)
    if days == 0:
        return AgingBucket.NOT_YET_DUE
    if days <= 30:
        return AgingBucket.DAYS_1_30
    if days <= 60:
        return AgingBucket.DAYS_31_60
    if days <= 90:
        return AgingBucket.DAYS_61_90
    return AgingBucket.DAYS_90_PLUS


def is_open(status: str, amount_due: Decimal | None) -> bool:
    """Whether an invoice still has money owing that chasing cares about."""
    return status in OPEN_STATUSES and (amount_due or ZERO) > ZERO


@dataclass(frozen=True)
class Receivable:
    """The few fields of a stored invoice the summary needs."""

    invoice_number: str | None
    customer: str | None
    due_date: date | None
    amount_due: Decimal
    currency: str
    expected_payment_date: date | None = None


@dataclass(frozen=True)
class OverdueLine:
    """One overdue invoice in a summary."""

    customer: str | None
    invoice_number: str | None
    amount_due: Decimal
    currency: str
    days_overdue: int
    due_date: date | None


@dataclass
class BucketTotal:
    """Count and amounts (by currency) in one aging period."""

    count: int = 0
    totals: dict[str, Decimal] = field(default_factory=dict)

    def add(self, currency: str, amount: Decimal) -> None:
        self.count += 1
        self.totals[currency] = self.totals.get(currency, ZERO) + amount


@dataclass
class ReceivablesSummary:
    """Overdue count and totals, aging buckets and the worst offenders, as of `today`."""

    today: date
    buckets: dict[AgingBucket, BucketTotal]
    overdue: BucketTotal
    top_overdue: list[OverdueLine]

    def as_dict(self) -> dict[str, object]:
        """JSON-ready figures (money as strings, so no float ever touches it)."""

        def money(totals: dict[str, Decimal]) -> dict[str, str]:
            return {currency: cents(amount) for currency, amount in sorted(totals.items())}

        return {
            "today": self.today.isoformat(),
            "overdue_count": self.overdue.count,
            "overdue_totals": money(self.overdue.totals),
            "aging": {
                bucket.value: {"count": total.count, "totals": money(total.totals)}
                for bucket, total in self.buckets.items()
            },
            "top_overdue": [
                {
                    "customer": line.customer,
                    "invoice_number": line.invoice_number,
                    "amount_due": cents(line.amount_due),
                    "currency": line.currency,
                    "days_overdue": line.days_overdue,
                }
                for line in self.top_overdue
            ],
        }


def summarize(
    receivables: Iterable[Receivable], today: date, *, top: int = 5
) -> ReceivablesSummary:
    """Bucket open receivables by days overdue; the top list is the oldest, then the largest."""
    buckets = {bucket: BucketTotal() for bucket in AgingBucket}
    overdue = BucketTotal()
    lines: list[OverdueLine] = []
    for item in receivables:
        bucket = aging_bucket(item.due_date, today)
        buckets[bucket].add(item.currency, item.amount_due)
        if bucket is AgingBucket.NOT_YET_DUE:
            continue
        overdue.add(item.currency, item.amount_due)
        lines.append(
            OverdueLine(
                customer=item.customer,
                invoice_number=item.invoice_number,
                amount_due=item.amount_due,
                currency=item.currency,
                days_overdue=days_overdue(item.due_date, today),
                due_date=item.due_date,
            )
        )
    lines.sort(key=lambda line: (-line.days_overdue, -line.amount_due, line.invoice_number or ""))
    return ReceivablesSummary(
        today=today, buckets=buckets, overdue=overdue, top_overdue=lines[:top]
    )
