"""What the forewarn message shows (tomorrow's chase plan)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class ForewarnCustomer:
    """One customer in tomorrow's plan."""

    contact_id: int
    name: str
    emails: int
    invoices: int
    total: str  # formatted, in each currency owed
    recipients: tuple[str, ...]
    needs_approval: bool = False
    skipped_by: str | None = None  # Slack user id (or "cli") once someone skipped them


@dataclass(frozen=True)
class ForewarnView:
    """Tomorrow's plan for one organisation."""

    connection_id: int
    organisation: str
    run_date: date
    send_at: str  # e.g. "Tue 3 Mar at 10:00"
    emails: int
    total: str
    customers: tuple[ForewarnCustomer, ...]
