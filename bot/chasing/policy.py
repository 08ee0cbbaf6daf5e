"""Whether an invoice may be chased today, and if not why: the one place that decides it.

Pure: plain values in, a `SkipReason` (or None) out. The digest's "won't be chased" counts,
`/chaser status`, `chaser chase --dry-run` and the reminder run all ask this function, so they
can never disagree. The rules follow Chaser's (see shared/reference/ar-practice.md): only
approved sales invoices with money owing, never a paused, disputed or sub-minimum one, never a
customer without an email address, and not before the expected payment date when the
organisation says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from bot.chasing.receivables import OPEN_RECEIVABLE_STATUSES, base_amount, is_open_receivable

ZERO = Decimal("0")


class SkipReason(StrEnum):
    """Why an open receivable is not chased; the order is the order of the checks."""

    NOT_OPEN = "not_open"
    CONNECTION_LOST = "connection_lost"
    ACCOUNT_PAUSED = "account_paused"
    CUSTOMER_PAUSED = "customer_paused"
    INVOICE_PAUSED = "invoice_paused"
    DISPUTED = "disputed"
    BELOW_MINIMUM = "below_minimum"
    BEFORE_EXPECTED_DATE = "before_expected_date"
    NO_EMAIL = "no_email"
    NO_DUE_DATE = "no_due_date"
    # Decided from the invoice's schedule and the reminders ledger (bot/chasing/plan.py asks
    # `ledger_skip_reason` below): the rule stays here, the facts come from there.
    END_OF_SCHEDULE = "end_of_schedule"
    AWAITING_APPROVAL = "awaiting_approval"
    DECLINED = "declined"
    SKIPPED_BY_PERSON = "skipped_by_person"
    UNCONFIRMED = "unconfirmed"
    SEND_FAILED = "send_failed"
    CHASED_TODAY = "chased_today"


SKIP_REASON_LABELS = {
    SkipReason.NOT_OPEN: "not open",
    SkipReason.CONNECTION_LOST: "Xero needs reconnecting",
    SkipReason.ACCOUNT_PAUSED: "chasing paused",
    SkipReason.CUSTOMER_PAUSED: "customer paused",
    SkipReason.INVOICE_PAUSED: "invoice paused",
    SkipReason.DISPUTED: "disputed",
    SkipReason.BELOW_MINIMUM: "below minimum",
    SkipReason.BEFORE_EXPECTED_DATE: "before expected date",
    SkipReason.NO_EMAIL: "no email",
    SkipReason.NO_DUE_DATE: "no due date",
    SkipReason.END_OF_SCHEDULE: "end of schedule",
    SkipReason.AWAITING_APPROVAL: "awaiting a manager's approval",
    SkipReason.DECLINED: "declined by a manager",
    SkipReason.SKIPPED_BY_PERSON: "skipped by a person",
    SkipReason.UNCONFIRMED: "last send unconfirmed: check before releasing",
    SkipReason.SEND_FAILED: "sending keeps failing",
    SkipReason.CHASED_TODAY: "chased today already",
}

# Reasons a person chose (a pause or a dispute), as opposed to reasons the rules imply.
PAUSED_REASONS = frozenset(
    {SkipReason.ACCOUNT_PAUSED, SkipReason.CUSTOMER_PAUSED, SkipReason.INVOICE_PAUSED}
)


def pause_active(paused: bool, until: date | None, today: date) -> bool:
    """A pause holds until its end date (chasing resumes on that date), or for good without one."""
    return paused and (until is None or today < until)


def below_minimum(
    amount_due: Decimal | None, currency_rate: Decimal | None, minimum_amount: Decimal
) -> bool:
    """Whether an invoice's amount due is under the organisation's minimum (in base currency).

    The only way an invoice's amount enters skip_reason (SkipReasonCache relies on it).
    """
    return base_amount(amount_due or ZERO, currency_rate) < minimum_amount


@dataclass(frozen=True)
class ChaseFacts:
    """What the decision reads about one invoice, its customer and its organisation."""

    status: str
    amount_due: Decimal | None
    invoice_type: str = "ACCREC"
    currency_rate: Decimal | None = None
    expected_payment_date: date | None = None
    invoice_paused: bool = False
    invoice_paused_until: date | None = None
    disputed: bool = False
    customer_paused: bool = False
    customer_paused_until: date | None = None
    has_email: bool = True
    connected: bool = True
    account_paused: bool = False
    account_paused_until: date | None = None
    minimum_amount: Decimal = ZERO
    wait_for_expected_date: bool = True
    has_due_date: bool = True


def skip_reason(facts: ChaseFacts, today: date) -> SkipReason | None:
    """Why this invoice is not chased on `today` (the organisation's date), or None to chase it."""
    if not is_open_receivable(facts.invoice_type, facts.status, facts.amount_due):
        return SkipReason.NOT_OPEN
    if not facts.connected:
        return SkipReason.CONNECTION_LOST
    if pause_active(facts.account_paused, facts.account_paused_until, today):
        return SkipReason.ACCOUNT_PAUSED
    if pause_active(facts.customer_paused, facts.customer_paused_until, today):
        return SkipReason.CUSTOMER_PAUSED
    if pause_active(facts.invoice_paused, facts.invoice_paused_until, today):
        return SkipReason.INVOICE_PAUSED
    if facts.disputed:
        return SkipReason.DISPUTED
    if below_minimum(facts.amount_due, facts.currency_rate, facts.minimum_amount):
        return SkipReason.BELOW_MINIMUM
    if (
        facts.wait_for_expected_date
        and facts.expected_payment_date is not None
        and today < facts.expected_payment_date
    ):
        return SkipReason.BEFORE_EXPECTED_DATE
    if not facts.has_email:
        return SkipReason.NO_EMAIL
    if not facts.has_due_date:
        return SkipReason.NO_DUE_DATE
    return None


def thank_you_skip_reason(facts: ChaseFacts, today: date) -> SkipReason | None:
    """Why a paid invoice gets no thank-you on `today`, or None to send it.

    A pause still means "no emails to this customer"; amounts, dates and disputes no longer
    matter once the invoice is paid.
    """
    if facts.status != "PAID":
        return SkipReason.NOT_OPEN
    if not facts.connected:
        return SkipReason.CONNECTION_LOST
    if pause_active(facts.account_paused, facts.account_paused_until, today):
        return SkipReason.ACCOUNT_PAUSED
    if pause_active(facts.customer_paused, facts.customer_paused_until, today):
        return SkipReason.CUSTOMER_PAUSED
    if not facts.has_email:
        return SkipReason.NO_EMAIL
    return None


# Ledger states (storage.models.ReminderState values) that hold a step back, and why.
_HELD_STATES = {
    "awaiting_approval": SkipReason.AWAITING_APPROVAL,
    "declined": SkipReason.DECLINED,
    "skipped": SkipReason.SKIPPED_BY_PERSON,
    "unconfirmed": SkipReason.UNCONFIRMED,
}
# Attempts after which a failing send stops being retried on its own.
MAX_SEND_ATTEMPTS = 5


def ledger_skip_reason(state: str | None, attempts: int = 0) -> SkipReason | None:
    """Why the due step's ledger row holds it back, or None when it may be sent (again).

    No row, a failed send under MAX_SEND_ATTEMPTS, or an approved step may go; `sent` and
    `sending` rows are not skips but work done or under way (the planner leaves them out).
    """
    if state is None:
        return None
    if state == "failed":
        return SkipReason.SEND_FAILED if attempts >= MAX_SEND_ATTEMPTS else None
    return _HELD_STATES.get(state)


_MISSING = object()


class SkipReasonCache:
    """skip_reason for many open invoices of one organisation on one day, each case decided once.

    For the digest's pass over every open invoice (100,000s): building ChaseFacts and deciding
    costs microseconds an invoice, yet only a few hundred distinct cases exist. The amount and
    rate enter skip_reason only through below_minimum, so invoices alike in every other fact and
    on the same side of the minimum share one answer: that side is the key, not the amount.
    Answers are skip_reason's own (tests/test_policy.py checks the two agree).
    """

    def __init__(
        self,
        today: date,
        *,
        connected: bool = True,
        account_paused: bool = False,
        account_paused_until: date | None = None,
        minimum_amount: Decimal = ZERO,
        wait_for_expected_date: bool = True,
    ) -> None:
        self.today = today
        self._organisation = {
            "connected": connected,
            "account_paused": account_paused,
            "account_paused_until": account_paused_until,
            "minimum_amount": minimum_amount,
            "wait_for_expected_date": wait_for_expected_date,
        }
        self._minimum = minimum_amount
        self._answers: dict[tuple[object, ...], SkipReason | None] = {}

    def reason(
        self,
        amount_due: Decimal,
        currency_rate: Decimal | None,
        expected_payment_date: date | None,
        invoice_paused: bool,
        invoice_paused_until: date | None,
        disputed: bool,
        customer_paused: bool,
        customer_paused_until: date | None,
        has_email: bool,
        has_due_date: bool = True,
    ) -> SkipReason | None:
        """skip_reason of an open invoice (status AUTHORISED, amount due > 0) with these facts."""
        key = (
            below_minimum(amount_due, currency_rate, self._minimum),
            expected_payment_date, invoice_paused, invoice_paused_until, disputed,
            customer_paused, customer_paused_until, has_email, has_due_date,
        )
        found = self._answers.get(key, _MISSING)
        if found is _MISSING:
            found = self._answers[key] = skip_reason(
                ChaseFacts(
                    status=OPEN_RECEIVABLE_STATUSES[0],
                    amount_due=amount_due,
                    currency_rate=currency_rate,
                    expected_payment_date=expected_payment_date,
                    invoice_paused=invoice_paused,
                    invoice_paused_until=invoice_paused_until,
                    disputed=disputed,
                    customer_paused=customer_paused,
                    customer_paused_until=customer_paused_until,
                    has_email=has_email,
                    has_due_date=has_due_date,
                    **self._organisation,  # type: ignore[arg-type]
                ),
                self.today,
            )
        return found  # type: ignore[return-value]
