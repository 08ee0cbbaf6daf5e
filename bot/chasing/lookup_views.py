"""What /chaser status, overdue, invoice and customer show: plain data, pure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from bot.chasing.policy import SKIP_REASON_LABELS, SkipReason
from bot.chasing.receivables import grouped_money


@dataclass(frozen=True)
class OrganisationStatus:
    """One organisation as /chaser status shows it."""

    connection_id: int
    name: str
    needs_reconnect: bool
    reason: str | None
    last_sync_at: datetime | None
    last_sync_error: str | None
    next_digest_at: datetime | None
    digest_channel_id: str | None
    paused: bool
    paused_until: date | None


@dataclass(frozen=True)
class NotChased:
    """How many open invoices the next chase run skips, and why (in the policy's order)."""

    connection_id: int
    by_reason: tuple[tuple[SkipReason, int], ...]

    @property
    def total(self) -> int:
        return sum(count for _, count in self.by_reason)

    def labelled(self) -> list[tuple[str, int]]:
        """(the policy's label, count) pairs, e.g. ("customer paused", 3)."""
        return [(SKIP_REASON_LABELS[reason], count) for reason, count in self.by_reason]


@dataclass(frozen=True)
class InvoiceLine:
    """One invoice in a list: enough to recognise it and see how late it is."""

    organisation: str
    number: str
    customer: str
    currency: str
    amount_due: Decimal
    due_date: date | None
    days_overdue: int


@dataclass(frozen=True)
class OverdueList:
    """The most overdue invoices (at most OVERDUE_SHOWN) and totals over all of them."""

    lines: list[InvoiceLine]
    count: int
    totals: dict[str, Decimal]  # per currency
    customer: str | None = None


@dataclass(frozen=True)
class InvoiceDetail:
    """Everything /chaser invoice shows about one invoice."""

    organisation: str
    number: str
    customer: str
    status: str
    currency: str
    total: Decimal
    amount_paid: Decimal
    amount_credited: Decimal
    amount_due: Decimal
    date: date | None
    due_date: date | None
    days_overdue: int
    expected_date: date | None
    expected_date_kept: str | None  # where the expected date lives, in words
    paused: bool
    paused_until: date | None
    disputed: bool
    disputed_reason: str | None
    trail: list[str]
    xero_url: str | None


@dataclass(frozen=True)
class CustomerDetail:
    """Everything /chaser customer shows about one customer."""

    contact_id: int
    connection_id: int
    organisation: str
    name: str
    emails: list[str]  # the normal recipients: the addresses Xero marks for sending
    escalated: list[str]  # chosen escalated recipients (none: escalations use `emails`)
    open_invoices: list[InvoiceLine]
    totals: dict[str, Decimal]
    overdue_totals: dict[str, Decimal]
    paused: bool
    paused_until: date | None
    xero_url: str | None


@dataclass(frozen=True)
class CustomerChoice:
    """Several customers fit the name: the close matches to choose from."""

    asked: str
    matches: list[tuple[int, str, str]] = field(default_factory=list)  # (id, name, org)


def money(amounts: dict[str, Decimal] | Sequence[tuple[str, Decimal]]) -> str:
    """"NZD 1,234.50 + USD 20.00" (each currency on its own: they are not added up)."""
    items = sorted(amounts.items()) if isinstance(amounts, dict) else list(amounts)
    return " + ".join(f"{currency} {grouped_money(amount)}".strip()
                      for currency, amount in items) or "0.00"


def customer_label(name: str, organisation: str) -> str:
    """A customer named with its organisation, as a choice shows it and a command accepts it."""
    return f"{name} ({organisation})"


def choice_labels(choice: CustomerChoice) -> list[str]:
    """Each match's name, with its organisation when another match has the same name (the
    same customer in two organisations): otherwise the choices could not be told apart."""
    counts = Counter((name or "").casefold() for _id, name, _org in choice.matches)
    return [customer_label(name, org) if counts[(name or "").casefold()] > 1 else name
            for _id, name, org in choice.matches]
