"""The daily digest's figures: what they are and how one pass over the open invoices makes them.

Totals by currency and in the base currency, aging buckets, how many invoices will not be
chased and why (policy.skip_reason, the one rule), and the overdue invoices ranked by what is
at stake (base amount × days overdue), one page at a time. Pure: digest_builder.py streams the
rows in from the local store.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from bot.chasing.policy import SkipReason, SkipReasonCache
from bot.chasing.receivables import (
    AgingBucket,
    BucketTotal,
    bucket_for_days,
    days_overdue,
    exposure,
    in_base_currency,
)

PAGE_SIZE = 8  # two blocks a line: 8 lines keep a page far inside Block Kit's 50 blocks
ZERO = Decimal("0")


@dataclass(frozen=True, slots=True)
class DigestLine:
    """One overdue invoice as the digest shows it, with what its buttons need."""

    invoice_id: int
    xero_invoice_id: str
    invoice_number: str | None
    customer: str | None
    xero_contact_id: str | None
    amount_due: Decimal
    currency: str
    base_amount: Decimal | None  # None: a foreign invoice without an exchange rate
    days_overdue: int
    due_date: date | None
    expected_payment_date: date | None
    expected_date_local: bool  # Xero refused it: kept in chaser-bot only
    paused: bool  # this invoice's own pause is on
    disputed: bool
    disputed_reason: str | None
    skip_reason: SkipReason | None  # why it is not chased today, None when it is


@dataclass(frozen=True)
class Digest:
    """One organisation's digest figures on its local `today`, and one page of overdue lines."""

    connection_id: int
    organisation: str
    short_code: str | None
    base_currency: str | None
    today: date
    status: str  # the connection's status: connected, needs_reconnect or disconnected
    account_paused: bool
    account_paused_until: date | None
    last_sync_at: datetime | None
    open: BucketTotal
    overdue: BucketTotal
    buckets: dict[AgingBucket, BucketTotal]
    not_chased: dict[SkipReason, int]
    lines: tuple[DigestLine, ...]
    page: int = 0
    page_size: int = PAGE_SIZE

    @property
    def pages(self) -> int:
        """How many pages the overdue lines fill (at least one)."""
        return max(1, -(-self.overdue.count // self.page_size))

    @property
    def first_line_number(self) -> int:
        """The 1-based rank of this page's first line."""
        return self.page * self.page_size + 1


# One pass over the rows ----------------------------------------------------------------------


@dataclass
class _Tally:
    """Running figures while the rows stream past."""

    buckets: dict[AgingBucket, BucketTotal]
    open: BucketTotal = field(default_factory=BucketTotal)
    overdue: BucketTotal = field(default_factory=BucketTotal)
    reasons: Counter[SkipReason] = field(default_factory=Counter)
    # Min-heap of the `keep` largest (exposure, days, -invoice_id, row, base, reason).
    top: list[tuple[Decimal, int, int, tuple[Any, ...], Decimal | None, SkipReason | None]] = (
        field(default_factory=list)
    )


def _add(total: BucketTotal, count: int, currency: str, amount: Decimal,
         base: Decimal | None) -> None:
    """BucketTotal.add for `count` invoices of one currency and rate at once."""
    total.count += count
    total.totals[currency] = total.totals.get(currency, ZERO) + amount
    if base is None:
        total.unconverted += count
    else:
        total.base += base


class CustomerFacts(NamedTuple):
    """What chasing reads about a customer: its pause and whether reminders can reach it."""

    paused: bool
    paused_until: date | None
    has_email: bool


# An invoice whose customer is not stored: nobody to write to.
NO_CONTACT = CustomerFacts(paused=False, paused_until=None, has_email=False)


def tally(
    rows: Iterable[tuple[Any, ...]],
    today: date,
    *,
    base_currency: str | None,
    reasons: SkipReasonCache,
    contacts: Mapping[int, CustomerFacts],
    keep: int,
) -> _Tally:
    """Totals, buckets, skip reasons and the `keep` highest-exposure overdue rows, in one pass.

    `rows` are tuples in storage.digests.FactRow's order (invoice id, due date, amount due,
    currency, rate, expected date, paused, paused until, disputed, contact id).

    BucketTotal are summed per (due date, currency, rate) and aged and converted once per group:
    a ledger has a few hundred due dates, not 100,000.
    """
    result = _Tally(buckets={bucket: BucketTotal() for bucket in AgingBucket})
    groups: dict[tuple[date | None, str, Decimal | None], list[Any]] = {}
    counted: Counter[SkipReason | None] = Counter()
    top = result.top
    push, replace = heapq.heappush, heapq.heapreplace
    decide = reasons.reason
    for row in rows:
        (invoice_id, due_date, amount, currency, rate, expected, paused, paused_until,
         disputed, contact_id) = row
        currency = currency or base_currency or ""
        key = (due_date, currency, rate)
        group = groups.get(key)
        if group is None:
            group = groups[key] = [0, ZERO, days_overdue(due_date, today)]
        group[0] += 1
        group[1] += amount
        customer = contacts.get(contact_id, NO_CONTACT)
        reason = decide(
            amount, rate, expected, paused, paused_until, disputed,
            customer.paused, customer.paused_until, customer.has_email, due_date is not None,
        )
        counted[reason] += 1
        days = group[2]
        if days <= 0:
            continue
        base = in_base_currency(amount, currency, rate, base_currency)
        entry = (exposure(amount, base, days), days, -invoice_id, row, base, reason)
        if len(top) < keep:
            push(top, entry)
        elif entry[:3] > top[0][:3]:
            replace(top, entry)
    for (_, currency, rate), (count, amount, days) in groups.items():
        base = in_base_currency(amount, currency, rate, base_currency)
        _add(result.buckets[bucket_for_days(days)], count, currency, amount, base)
        _add(result.open, count, currency, amount, base)
        if days > 0:
            _add(result.overdue, count, currency, amount, base)
    counted.pop(None, None)
    result.reasons.update(counted)  # type: ignore[arg-type]
    return result
