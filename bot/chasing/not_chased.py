"""Open invoices that won't be chased, counted per reason, read from the chase run's own plan."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from bot.chasing.plan import plan_chase
from bot.chasing.policy import SKIP_REASON_LABELS, SkipReason

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker


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


def not_chased(session_factory: sessionmaker[Session], connection_id: int,
               now: datetime) -> NotChased:
    """Count the skipped invoices of the plan `chaser chase --dry-run` shows: never re-decided."""
    found = plan_chase(session_factory, connection_id, now).skipped_by_reason()
    order = list(SkipReason)
    return NotChased(connection_id, tuple(
        (reason, len(found[reason])) for reason in sorted(found, key=order.index)))
