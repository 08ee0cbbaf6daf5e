"""The reminders ledger: claim an (invoice, step) once, then record how its send ended.

A claim is an INSERT under the unique (invoice_id, step_key), committed before the email is
handed to the mail server; whoever inserts the row owns the send, everyone else does nothing.
A failed send may be claimed again by a conditional UPDATE (state still `failed`), which the
database also lets only one transaction win.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, bindparam, exists, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, selectinload

from storage.models import Contact, Invoice, OnlineInvoiceLink, Reminder, ReminderState

_IN_CHUNK = 500


@dataclass(frozen=True)
class LedgerRow:
    """What planning needs to know about one (invoice, step) already in the ledger."""

    invoice_id: int
    step_key: str
    state: ReminderState
    attempts: int
    message_id: str | None
    claimed_at: datetime
    sent_at: datetime | None


def ledger_rows(session: Session, invoice_ids: Iterable[int]) -> dict[int, list[LedgerRow]]:
    """Every ledger row of these invoices, by invoice, oldest claim first."""
    ids = list(invoice_ids)
    found: dict[int, list[LedgerRow]] = {}
    columns = (
        Reminder.invoice_id, Reminder.step_key, Reminder.state, Reminder.attempts,
        Reminder.message_id, Reminder.claimed_at, Reminder.sent_at,
    )
    for start in range(0, len(ids), _IN_CHUNK):
        statement = (
            select(*columns)
            .where(Reminder.invoice_id.in_(ids[start : start + _IN_CHUNK]))
            .order_by(Reminder.claimed_at, Reminder.id)
        )
        for row in session.execute(statement):
            found.setdefault(row.invoice_id, []).append(LedgerRow(*row))
    return found


def chase_candidates(
    session: Session, connection_id: int, *, invoice_type: str, statuses: Sequence[str]
) -> list[Invoice]:
    """Invoices of a type and status with money owing, with contacts and addresses loaded.

    Which type and statuses are open is the caller's rule (bot.chasing.receivables).
    """
    statement = (
        select(Invoice)
        .where(
            Invoice.connection_id == connection_id,
            Invoice.type == invoice_type,
            Invoice.status.in_(list(statuses)),
            Invoice.amount_due > 0,
        )
        .order_by(Invoice.id)
        .options(selectinload(Invoice.contact).selectinload(Contact.emails))
    )
    return list(session.scalars(statement))


def paid_after_reminders(session: Session, connection_id: int, since: date) -> list[Invoice]:
    """Sales invoices paid on or after `since` that had a reminder sent: thank-you candidates."""
    reminded = exists().where(
        Reminder.invoice_id == Invoice.id, Reminder.state == ReminderState.SENT
    )
    statement = (
        select(Invoice)
        .where(
            Invoice.connection_id == connection_id,
            Invoice.type == "ACCREC",
            Invoice.status == "PAID",
            Invoice.fully_paid_on_date >= since,
            reminded,
        )
        .order_by(Invoice.id)
        .options(selectinload(Invoice.contact).selectinload(Contact.emails))
    )
    return list(session.scalars(statement))


_REMINDERS = Reminder.__table__


def _insert_ignoring_conflicts(session: Session) -> Any:
    # Core, on the table: a claim is the hot path of a run and needs none of the ORM's work.
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return pg_insert(_REMINDERS).on_conflict_do_nothing(
            index_elements=["invoice_id", "step_key"]
        )
    if dialect == "sqlite":
        return sqlite_insert(_REMINDERS).on_conflict_do_nothing(
            index_elements=["invoice_id", "step_key"]
        )
    return insert(_REMINDERS)  # pragma: no cover - only SQLite and PostgreSQL are supported


def claim(
    session: Session,
    rows: Sequence[dict[str, Any]],
    *,
    state: ReminderState = ReminderState.SENDING,
    reclaim_from: Sequence[ReminderState] = (ReminderState.FAILED,),
    max_attempts: int | None = None,
) -> set[int]:
    """Claim (invoice, step) rows; returns the invoice ids this transaction now owns.

    Each dict holds Reminder fields (invoice_id, step_key, message_id, claimed_at, ...). A row
    nobody has is inserted; a row in one of `reclaim_from` states (and under `max_attempts`)
    is taken over; any other existing row belongs to someone else and is left alone. The
    caller commits before sending: the commit is what makes the claim visible to others.
    """
    if not rows:
        return set()
    values = [{**row, "state": state, "attempts": 1, "updated_at": row["claimed_at"]}
              for row in rows]
    # Parameters apart from the statement, so its compiled form is cached across claims.
    statement = _insert_ignoring_conflicts(session).returning(_REMINDERS.c.invoice_id)
    inserted = set(session.connection().execute(statement, values).scalars())
    claimed = set(inserted)
    for row in rows:
        if row["invoice_id"] in inserted or not reclaim_from:
            continue
        condition = and_(
            Reminder.invoice_id == row["invoice_id"],
            Reminder.step_key == row["step_key"],
            Reminder.state.in_(list(reclaim_from)),
        )
        if max_attempts is not None:
            condition = and_(condition, Reminder.attempts < max_attempts)
        changes = {
            key: value for key, value in row.items() if key not in ("invoice_id", "step_key")
        }
        taken = session.scalars(
            update(Reminder)
            .where(condition)
            .values(**changes, state=state, attempts=Reminder.attempts + 1,
                    updated_at=row["claimed_at"], last_error=None)
            .returning(Reminder.invoice_id)
        ).all()
        claimed.update(taken)
    return claimed


# One compiled statement for every outcome (a run records one per email).
_FINISH = (
    update(_REMINDERS)
    .where(_REMINDERS.c.message_id == bindparam("b_message_id"),
           _REMINDERS.c.state == bindparam("b_expected"))
    .values(state=bindparam("b_state"), updated_at=bindparam("b_now"),
            last_error=bindparam("b_error"),
            sent_at=func.coalesce(bindparam("b_sent_at", type_=_REMINDERS.c.sent_at.type),
                                  _REMINDERS.c.sent_at))
)


def finish(
    session: Session,
    message_id: str,
    state: ReminderState,
    *,
    now: datetime,
    error: str | None = None,
    expected: ReminderState = ReminderState.SENDING,
) -> int:
    """Move one email's claimed rows on (sent, failed, unconfirmed); returns rows changed."""
    result = session.connection().execute(_FINISH, {
        "b_message_id": message_id, "b_expected": expected, "b_state": state, "b_now": now,
        "b_error": error, "b_sent_at": now if state is ReminderState.SENT else None,
    })
    return int(result.rowcount or 0)


def mark_stale_claims_unconfirmed(
    session: Session, connection_id: int, claimed_before: datetime, *, now: datetime
) -> list[LedgerRow]:
    """Claims still `sending` since before `claimed_before`: their run died mid-send.

    They become `unconfirmed` (never resent on their own) and are returned for the audit.
    One UPDATE ... RETURNING, so the transaction writes first (SQLite then waits its turn
    instead of failing to upgrade a read).
    """
    rows = session.execute(
        update(Reminder)
        .where(
            Reminder.connection_id == connection_id,
            Reminder.state == ReminderState.SENDING,
            Reminder.claimed_at < claimed_before,
        )
        .values(state=ReminderState.UNCONFIRMED, updated_at=now,
                last_error="the run stopped before the mail server's answer was recorded")
        .returning(Reminder.invoice_id, Reminder.step_key, Reminder.state, Reminder.attempts,
                   Reminder.message_id, Reminder.claimed_at, Reminder.sent_at)
    ).all()
    return [LedgerRow(*row) for row in rows]


def reminders_by_state(
    session: Session, connection_id: int, states: Sequence[ReminderState]
) -> list[Reminder]:
    """Ledger rows of an organisation in these states, oldest first."""
    return list(
        session.scalars(
            select(Reminder)
            .where(Reminder.connection_id == connection_id, Reminder.state.in_(list(states)))
            .order_by(Reminder.claimed_at, Reminder.id)
        )
    )


def resolve_unconfirmed(
    session: Session, reminder_ids: Sequence[int], *, sent: bool, now: datetime, by: str
) -> int:
    """A person checked: it went (sent) or it did not (failed, so the next run retries)."""
    state = ReminderState.SENT if sent else ReminderState.FAILED
    values: dict[str, Any] = {
        "state": state, "updated_at": now, "last_error": f"resolved by {by}",
    }
    if sent:
        values["sent_at"] = now
    result = session.execute(
        update(Reminder)
        .where(Reminder.id.in_(list(reminder_ids)), Reminder.state == ReminderState.UNCONFIRMED)
        .values(**values)
    )
    return int(result.rowcount or 0)


def online_links(session: Session, invoice_ids: Iterable[int]) -> dict[int, str | None]:
    """Stored online invoice links (None: Xero had none), by invoice id."""
    ids = list(invoice_ids)
    found: dict[int, str | None] = {}
    for start in range(0, len(ids), _IN_CHUNK):
        statement = select(OnlineInvoiceLink.invoice_id, OnlineInvoiceLink.url).where(
            OnlineInvoiceLink.invoice_id.in_(ids[start : start + _IN_CHUNK])
        )
        found.update({invoice_id: url for invoice_id, url in session.execute(statement)})
    return found


def save_online_link(session: Session, invoice_id: int, url: str | None, *, now: datetime) -> None:
    """Keep an invoice's online link (a second writer's copy is the same link)."""
    dialect = session.get_bind().dialect.name
    factory = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(
        factory(OnlineInvoiceLink)
        .values(invoice_id=invoice_id, url=url, fetched_at=now)
        .on_conflict_do_nothing(index_elements=["invoice_id"])
    )



def decide_held(
    session: Session, message_id: str, *, approve: bool, now: datetime, by: str
) -> int:
    """A manager's answer to a held email: approved (sent by the next run) or declined."""
    state = ReminderState.APPROVED if approve else ReminderState.DECLINED
    result = session.execute(
        update(Reminder)
        .where(Reminder.message_id == message_id,
               Reminder.state == ReminderState.AWAITING_APPROVAL)
        .values(state=state, updated_at=now, actor=by)
    )
    return int(result.rowcount or 0)
