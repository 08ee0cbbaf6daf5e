"""Approval requests for escalated reminders and the Slack cards that show them.

Every decision is a conditional UPDATE from the states it may leave: when two managers click at
once (or two instances handle the clicks), exactly one UPDATE changes the row and wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, exists, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from storage.models import (
    ApprovalCard,
    ApprovalRequest,
    ApprovalStatus,
    Invoice,
    Reminder,
    ReminderState,
)

# States a manager's decision may leave.
UNDECIDED = (ApprovalStatus.PENDING, ApprovalStatus.SNOOZED)


def create_request(
    session: Session,
    *,
    connection_id: int,
    contact_id: int | None,
    step_key: str,
    request_key: str,
    invoice_steps: Sequence[tuple[int, str]],
    amount: Decimal,
    currency_code: str | None,
    preview: dict[str, Any] | None,
    now: datetime,
) -> ApprovalRequest | None:
    """Record a new pending request; None when one with this key exists already."""
    values = {
        "connection_id": connection_id, "contact_id": contact_id, "step_key": step_key,
        "request_key": request_key,
        "invoice_ids": sorted({invoice_id for invoice_id, _ in invoice_steps}),
        "invoice_steps": sorted([invoice_id, step] for invoice_id, step in invoice_steps),
        "amount": amount, "currency_code": currency_code, "status": ApprovalStatus.PENDING,
        "requested_at": now, "preview": preview,
    }
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        statement = pg_insert(ApprovalRequest).values(values).on_conflict_do_nothing()
    elif dialect == "sqlite":
        statement = sqlite_insert(ApprovalRequest).values(values).on_conflict_do_nothing()
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        statement = insert(ApprovalRequest).values(values)  # type: ignore[assignment]
    new_id = session.execute(statement.returning(ApprovalRequest.id)).scalar_one_or_none()
    return session.get(ApprovalRequest, new_id) if new_id is not None else None


def get_request(session: Session, request_id: int) -> ApprovalRequest | None:
    """One request with its cards."""
    return session.get(ApprovalRequest, request_id)


def request_by_key(session: Session, connection_id: int, request_key: str
                   ) -> ApprovalRequest | None:
    """The request of one held email (its Message-ID)."""
    return session.execute(
        select(ApprovalRequest).where(ApprovalRequest.connection_id == connection_id,
                                      ApprovalRequest.request_key == request_key)
    ).scalar_one_or_none()


def transition(
    session: Session,
    request_id: int,
    *,
    from_statuses: Sequence[ApprovalStatus],
    to: ApprovalStatus,
    now: datetime,
    by: str | None = None,
    ask_again_at: datetime | None = None,
    outcome: str | None = None,
    decided: bool = True,
) -> bool:
    """Move a request on if it is still in one of `from_statuses`; True when this call won."""
    values: dict[str, object] = {"status": to, "ask_again_at": ask_again_at}
    if decided:
        values |= {"decided_by": by, "decided_at": now}
    if outcome is not None:
        values["outcome_detail"] = outcome
    result = session.execute(
        update(ApprovalRequest)
        .where(ApprovalRequest.id == request_id, ApprovalRequest.status.in_(list(from_statuses)))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    session.expire_all()
    return result.rowcount == 1


def add_card(session: Session, request_id: int, channel_id: str, message_ts: str, *,
             now: datetime) -> ApprovalCard:
    """Remember a posted card, so every card of the request can be updated in place."""
    card = ApprovalCard(request_id=request_id, channel_id=channel_id, message_ts=message_ts,
                        posted_at=now)
    session.add(card)
    session.flush()
    return card


def cards_of(session: Session, request_id: int) -> list[ApprovalCard]:
    """Every card showing a request, oldest first."""
    return list(session.scalars(
        select(ApprovalCard).where(ApprovalCard.request_id == request_id)
        .order_by(ApprovalCard.id)
    ))


def due_to_ask_again(session: Session, now: datetime) -> list[int]:
    """Snoozed requests whose time has come."""
    return list(session.scalars(
        select(ApprovalRequest.id).where(ApprovalRequest.status == ApprovalStatus.SNOOZED,
                                         ApprovalRequest.ask_again_at <= now)
        .order_by(ApprovalRequest.id)
    ))


def pending_without_cards(session: Session, requested_before: datetime) -> list[int]:
    """Pending requests no card was posted for (Slack was down, or nobody to ask yet)."""
    has_card = exists().where(ApprovalCard.request_id == ApprovalRequest.id)
    return list(session.scalars(
        select(ApprovalRequest.id).where(ApprovalRequest.status == ApprovalStatus.PENDING,
                                         ApprovalRequest.requested_at < requested_before,
                                         ~has_card)
        .order_by(ApprovalRequest.id)
    ))


def requests_in(session: Session, connection_id: int, statuses: Sequence[ApprovalStatus]
                ) -> list[ApprovalRequest]:
    """An organisation's requests in some states, oldest first."""
    return list(session.scalars(
        select(ApprovalRequest).where(ApprovalRequest.connection_id == connection_id,
                                      ApprovalRequest.status.in_(list(statuses)))
        .order_by(ApprovalRequest.id)
    ))


def stop_chasing(session: Session, invoice_ids: Sequence[int], *, reason: str) -> None:
    """Pause these invoices' chasing with no end date (a declined escalation)."""
    session.execute(
        update(Invoice)
        .where(Invoice.id.in_(list(invoice_ids)))
        .values(chasing_paused=True, chasing_paused_until=None, chasing_paused_reason=reason)
        .execution_options(synchronize_session=False)
    )


def _rows_of(invoice_steps: Sequence[Sequence[Any]]) -> Any:
    return or_(*(and_(Reminder.invoice_id == invoice_id, Reminder.step_key == step)
                 for invoice_id, step in invoice_steps))


def ledger_states(session: Session, invoice_steps: Sequence[Sequence[Any]]
                  ) -> list[ReminderState]:
    """The reminders-ledger state of each (invoice, step) a request holds."""
    if not invoice_steps:
        return []
    return list(session.scalars(select(Reminder.state).where(_rows_of(invoice_steps))))


def reapprove_failed(session: Session, invoice_steps: Sequence[Sequence[Any]], *,
                     now: datetime) -> int:
    """Put an approved email whose send failed back to `approved`, so the next chase run in
    the window sends it (a failed row would otherwise wait for an approval never asked)."""
    if not invoice_steps:
        return 0
    result = session.execute(
        update(Reminder)
        .where(_rows_of(invoice_steps), Reminder.state == ReminderState.FAILED)
        .values(state=ReminderState.APPROVED, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)
