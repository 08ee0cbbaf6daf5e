"""The daily digest's figures: what they are and how one pass over the open invoices makes them.

Totals by currency and in the base currency, aging buckets, how many invoices will not be
chased and why (policy.skip_reason, the one rule), and the overdue invoices ranked by what is
at stake (base amount × days overdue), one page at a time. Pure: digest_builder.py streams the
rows in from the local store.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from itertools import repeat
from operator import itemgetter
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


# What ranks an overdue line: (exposure, days overdue, -invoice id), then the row (FactRow's
# order), its base amount and its skip reason.
TopEntry = tuple[Decimal, int, int, tuple[Any, ...], Decimal | None, SkipReason | None]


@dataclass
class _Tally:
    """The figures of one pass over the rows."""

    buckets: dict[AgingBucket, BucketTotal]
    open: BucketTotal = field(default_factory=BucketTotal)
    overdue: BucketTotal = field(default_factory=BucketTotal)
    reasons: dict[SkipReason, int] = field(default_factory=dict)
    # The `keep` largest entries, as a min-heap (sort them to rank).
    top: list[TopEntry] = field(default_factory=list)


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


class _Case(NamedTuple):
    """Open invoices alike in every fact but the amount: one due date, currency, rate,
    expected date, pause, dispute and kind of customer; sorted by amount, with their reasons."""

    due_date: date | None
    currency: str | None
    rate: Decimal | None
    expected: date | None
    paused: bool
    paused_until: date | None
    disputed: bool
    items: list[tuple[int, int, int | None]]  # (amount due in units, invoice id, contact id)
    split: int  # items[:split] have the reason `low`, items[split:] the reason `high`
    low: SkipReason | None
    high: SkipReason | None

    def row(self, index: int, amount: Decimal) -> tuple[Any, ...]:
        """The index-th invoice (whose amount due is `amount`) as a tuple in FactRow's order."""
        _, invoice_id, contact_id = self.items[index]
        return (invoice_id, self.due_date, amount, self.currency, self.rate, self.expected,
                self.paused, self.paused_until, self.disputed, contact_id)


def tally(
    batches: Iterable[Sequence[Sequence[Any]]],
    today: date,
    *,
    base_currency: str | None,
    reasons: SkipReasonCache,
    contacts: Mapping[int, tuple[bool, date | None, bool]],
    keep: int,
    amount_of: Callable[[int], Decimal],
) -> _Tally:
    """Totals, buckets, skip reasons and the `keep` highest-exposure overdue rows.

    `batches` are lists of columns in storage.digests.FactRow's order (invoice id, due date,
    amount due, currency, rate, expected date, paused, paused until, disputed, contact id),
    the amount due in integer units that sort and add as the amounts do: `amount_of` turns
    one, or a sum of them, into the Decimal amount. `contacts` gives each contact's
    CustomerFacts (paused, paused until, has email).

    Per row there is only C-level work and one dict append: rows are grouped into cases alike
    in every fact but the amount (a ledger has a few thousand, not 100,000), and each case is
    aged, converted and decided once. Within a case the amount changes the skip reason only
    through policy.below_minimum, which is monotone in the amount, so a case sorted by amount
    splits into two reasons, found by bisection with the rule itself; and the exposure (base
    amount × days overdue) grows with the amount, so ranking reads each case from its largest
    amount down and stops at the first that cannot enter the top. BucketTotal are summed per
    (due date, currency, rate) in the order the rows first show them, as a pass row by row
    would add them.
    """
    result = _Tally(buckets={bucket: BucketTotal() for bucket in AgingBucket})
    counted: Counter[SkipReason | None] = Counter()
    figures: dict[tuple[date | None, str, Decimal | None], list[Any]] = {}
    ages: dict[date | None, int] = {}
    overdue: list[tuple[Decimal, int, _Case]] = []
    for case in _cases(batches, contacts, reasons, amount_of):
        items = case.items
        days = ages.get(case.due_date)
        if days is None:
            days = ages[case.due_date] = days_overdue(case.due_date, today)
        counted[case.low] += case.split
        counted[case.high] += len(items) - case.split
        currency = case.currency or base_currency or ""
        units = sum(map(itemgetter(0), items))
        key = (case.due_date, currency, case.rate)
        group = figures.get(key)
        if group is None:
            figures[key] = [len(items), units, days]
        else:
            group[0] += len(items)
            group[1] += units
        if days > 0:
            largest = amount_of(items[-1][0])
            base = in_base_currency(largest, currency, case.rate, base_currency)
            overdue.append((exposure(largest, base, days), days, case))
    for (_, currency, rate), (count, units, days) in figures.items():
        amount = amount_of(units)
        base = in_base_currency(amount, currency, rate, base_currency)
        _add(result.buckets[bucket_for_days(days)], count, currency, amount, base)
        _add(result.open, count, currency, amount, base)
        if days > 0:
            _add(result.overdue, count, currency, amount, base)
    counted.pop(None, None)
    # In the policy's order, whatever order the rows came in.
    result.reasons.update(
        (reason, counted[reason]) for reason in SkipReason if counted.get(reason)
    )
    result.top = _top(overdue, keep, base_currency, amount_of)
    return result


def _cases(
    batches: Iterable[Sequence[Sequence[Any]]],
    contacts: Mapping[int, tuple[bool, date | None, bool]],
    reasons: SkipReasonCache,
    amount_of: Callable[[int], Decimal],
) -> Iterator[_Case]:
    """The rows as cases (see tally), each decided, in the order of each case's first row."""
    # Contacts become a few kinds (one per distinct CustomerFacts), so a row's key holds a
    # small int rather than a tuple to hash.
    kinds: list[CustomerFacts] = [NO_CONTACT]
    kind_of_facts: dict[tuple[bool, date | None, bool], int] = {NO_CONTACT: 0}
    kind_of: dict[int, int] = {}
    for contact_id, facts in contacts.items():
        kind = kind_of_facts.get(facts)
        if kind is None:
            kind = kind_of_facts[facts] = len(kinds)
            kinds.append(CustomerFacts._make(facts))
        kind_of[contact_id] = kind
    groups: dict[tuple[Any, ...], list[tuple[int, int, int | None]]] = {}
    for (ids, due_dates, amounts, currencies, rates, expected, paused, paused_until, disputed,
         contact_ids) in batches:
        # Columns of one batch are equally long: strict zips cost a tenth of this loop.
        keys = zip(due_dates, currencies, rates, expected, paused, paused_until, disputed,
                   map(kind_of.get, contact_ids, repeat(0)), strict=False)
        for key, item in zip(keys, zip(amounts, ids, contact_ids, strict=False), strict=False):
            try:
                groups[key].append(item)
            except KeyError:
                groups[key] = [item]
    for (due_date, currency, rate, expected_date, invoice_paused, invoice_paused_until,
         is_disputed, kind), items in groups.items():
        items.sort()
        facts = (expected_date, invoice_paused, invoice_paused_until, is_disputed, *kinds[kind],
                 due_date is not None)
        split, low, high = _split(items, rate, facts, reasons, amount_of)
        yield _Case(due_date, currency, rate, expected_date, invoice_paused,
                    invoice_paused_until, is_disputed, items, split, low, high)


def _split(
    items: list[tuple[int, int, int | None]],
    rate: Decimal | None,
    facts: tuple[Any, ...],
    reasons: SkipReasonCache,
    amount_of: Callable[[int], Decimal],
) -> tuple[int, SkipReason | None, SkipReason | None]:
    """Where a case's items, sorted by amount, change skip reason, and the reasons either side.

    The amount enters the decision only through below_minimum, monotone in the amount: at most
    two reasons, each on one side of the split, found by bisection with the rule itself.
    """
    def reason_at(index: int) -> SkipReason | None:
        return reasons.reason(amount_of(items[index][0]), rate, *facts)

    low, high = reason_at(0), reason_at(-1)
    if low is high:
        return 0, low, high
    return bisect_left(range(len(items)), True, key=lambda i: reason_at(i) is high), low, high


def _top(overdue: list[tuple[Decimal, int, _Case]], keep: int, base_currency: str | None,
         amount_of: Callable[[int], Decimal]) -> list[TopEntry]:
    """The `keep` highest (exposure, days overdue, -invoice id) entries, as a min-heap.

    Cases are read from the one with the largest exposure, each from its largest amount down,
    and reading stops where an exposure falls below the smallest kept one (ties still read).
    """
    top: list[TopEntry] = []
    if keep <= 0:
        return top
    overdue.sort(key=itemgetter(0), reverse=True)
    for best, days, case in overdue:
        if len(top) >= keep and best < top[0][0]:
            break
        currency = case.currency or base_currency or ""
        items = case.items
        for index in range(len(items) - 1, -1, -1):
            amount = amount_of(items[index][0])
            base = in_base_currency(amount, currency, case.rate, base_currency)
            at_stake = exposure(amount, base, days)
            if len(top) >= keep and at_stake < top[0][0]:
                break
            reason = case.low if index < case.split else case.high
            entry = (at_stake, days, -items[index][1], case.row(index, amount), base, reason)
            if len(top) < keep:
                heapq.heappush(top, entry)
            elif entry[:3] > top[0][:3]:
                heapq.heapreplace(top, entry)
    return top
