"""What an escalation approval card shows."""

from __future__ import annotations

from dataclasses import dataclass

from storage.models import ApprovalStatus

# The choices of the card's Snooze menu, in hours (Slack option values stay tiny).
SNOOZE_CHOICES_HOURS = (4, 24, 72, 168)


@dataclass(frozen=True)
class CardInvoice:
    """One invoice on the card, already formatted for the organisation's locale."""

    number: str
    amount_due: str
    due_date: str
    days_overdue: int


@dataclass(frozen=True)
class EmailPreview:
    """The escalated email exactly as it would go."""

    sender: str  # "Name <address>"
    recipients: tuple[str, ...]
    subject: str
    body: str  # plain text


@dataclass(frozen=True)
class EscalationView:
    """One approval request as its card shows it, before or after a decision."""

    request_id: int
    organisation: str
    customer: str
    step: str  # e.g. "14 days overdue"
    total: str
    invoices: tuple[CardInvoice, ...]
    history: tuple[str, ...]  # audit trail lines, newest first, already rendered for Slack
    email: EmailPreview | None
    status: ApprovalStatus
    decided_by: str | None = None  # Slack user id
    decided_at: str | None = None  # formatted in the organisation's time
    ask_again_at: str | None = None
    outcome: str | None = None  # what happened after the decision (sent, failed: why)
