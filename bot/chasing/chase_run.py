"""One organisation's chase run: sync from Xero first, then plan, then send (as Chaser does)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from bot.chasing.plan import ChasePlan, PlannedEmail, plan_chase
from bot.chasing.reminders import ChaseResult, ReminderSender
from bot.chasing.sync_report import SyncReport


@dataclass
class ChaseOutcome:
    """The plan a run worked from, what it sent, and why it stopped early if it did."""

    plan: ChasePlan
    result: ChaseResult | None = None
    sync: SyncReport | None = None
    stopped: str | None = None


def chase_organisation(
    connection_id: int,
    *,
    session_factory: sessionmaker[Session],
    clock: Callable[[], datetime],
    sender: ReminderSender,
    sync: Callable[[int], SyncReport] | None,
    ignore_window: bool = False,
    hold: Callable[[PlannedEmail, str], None] | None = None,
) -> ChaseOutcome:
    """Sync, plan and send one organisation's reminders due now (inside its window).

    Outside the window nothing is synced or sent. A failed sync sends nothing: chasing on
    stale books could remind a customer who paid this morning.
    """
    plan = plan_chase(session_factory, connection_id, clock(), ignore_window=ignore_window)
    if not plan.window_open or not plan.connected:
        return ChaseOutcome(plan, sender.run(plan, hold=hold))
    report = sync(connection_id) if sync is not None else None
    if report is not None and report.outcome != "ok":
        reason = f"the sync before chasing failed: {report.reason}"
        return ChaseOutcome(plan, None, report, reason)
    plan = plan_chase(session_factory, connection_id, clock(), ignore_window=ignore_window)
    return ChaseOutcome(plan, sender.run(plan, hold=hold), report)
