"""Open invoices that won't be chased, counted per reason, read from the chase run's own plan."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from bot.chasing.lookup_views import NotChased
from bot.chasing.plan import plan_chase
from bot.chasing.policy import SkipReason

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker


def not_chased(session_factory: sessionmaker[Session], connection_id: int,
               now: datetime) -> NotChased:
    """Count the skipped invoices of the plan `chaser chase --dry-run` shows: never re-decided."""
    found = plan_chase(session_factory, connection_id, now).skipped_by_reason()
    order = list(SkipReason)
    return NotChased(connection_id, tuple(
        (reason, len(found[reason])) for reason in sorted(found, key=order.index)))
