"""Chasing schedules, their steps and customers' assignments: rows in, rows out."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, selectinload

from storage.models import ChaseSchedule, ChaseStep, ContactSchedule

_IN_CHUNK = 500


def _insert_ignoring_conflicts(session: Session, model: type) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return pg_insert(model).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite_insert(model).on_conflict_do_nothing()
    return insert(model)  # pragma: no cover - only SQLite and PostgreSQL are supported


def list_schedules(session: Session, connection_id: int) -> list[ChaseSchedule]:
    """The organisation's schedules with their steps, the default first."""
    statement = (
        select(ChaseSchedule)
        .where(ChaseSchedule.connection_id == connection_id)
        .order_by(ChaseSchedule.is_default.desc(), ChaseSchedule.name)
        .options(selectinload(ChaseSchedule.steps))
    )
    return list(session.scalars(statement))


def schedule_by_name(session: Session, connection_id: int, name: str) -> ChaseSchedule | None:
    """A schedule by name, ignoring case."""
    wanted = name.strip().casefold()
    return next(
        (s for s in list_schedules(session, connection_id) if s.name.casefold() == wanted), None
    )


def create_schedule_once(
    session: Session,
    connection_id: int,
    *,
    name: str,
    steps: Sequence[dict[str, Any]],
    repeat_every_days: int | None,
    repeat_limit: int | None,
    is_default: bool,
    by: str | None,
    now: datetime | None = None,
) -> ChaseSchedule:
    """The named schedule, created with these steps unless it exists (safe from two processes).

    The insert does nothing on a name clash; on PostgreSQL it waits for the other
    transaction, so its steps are there once this one reads the schedule.
    """
    now = now or datetime.now(UTC)
    created_id = session.execute(
        _insert_ignoring_conflicts(session, ChaseSchedule)
        .values(
            connection_id=connection_id, name=name, is_default=is_default,
            repeat_every_days=repeat_every_days, repeat_limit=repeat_limit,
            created_at=now, updated_at=now, updated_by=by,
        )
        .returning(ChaseSchedule.id)
    ).scalar_one_or_none()
    if created_id is not None and steps:
        session.execute(insert(ChaseStep), [{**s, "schedule_id": created_id} for s in steps])
    return session.execute(
        select(ChaseSchedule)
        .where(ChaseSchedule.connection_id == connection_id, ChaseSchedule.name == name)
        .options(selectinload(ChaseSchedule.steps))
        .execution_options(populate_existing=True)
    ).scalar_one()


def replace_schedule(
    session: Session,
    schedule: ChaseSchedule,
    *,
    steps: Sequence[dict[str, Any]],
    repeat_every_days: int | None,
    repeat_limit: int | None,
    by: str | None,
    now: datetime | None = None,
) -> ChaseSchedule:
    """Give a schedule new steps and repeat settings."""
    session.execute(delete(ChaseStep).where(ChaseStep.schedule_id == schedule.id))
    if steps:
        session.execute(insert(ChaseStep), [{**s, "schedule_id": schedule.id} for s in steps])
    schedule.repeat_every_days = repeat_every_days
    schedule.repeat_limit = repeat_limit
    schedule.updated_at = now or datetime.now(UTC)
    schedule.updated_by = by
    session.flush()
    session.refresh(schedule, ["steps"])
    return schedule


def set_default_schedule(session: Session, schedule: ChaseSchedule) -> None:
    """Make this schedule its organisation's default (and no other)."""
    session.execute(
        update(ChaseSchedule)
        .where(ChaseSchedule.connection_id == schedule.connection_id)
        .values(is_default=ChaseSchedule.id == schedule.id)
    )
    session.flush()
    session.refresh(schedule)


def assign_schedule(
    session: Session,
    contact_id: int,
    schedule_id: int | None,
    *,
    by: str | None,
    now: datetime | None = None,
) -> None:
    """Chase a customer on this schedule; None puts them back on the default."""
    session.execute(delete(ContactSchedule).where(ContactSchedule.contact_id == contact_id))
    if schedule_id is not None:
        session.add(
            ContactSchedule(
                contact_id=contact_id, schedule_id=schedule_id,
                assigned_at=now or datetime.now(UTC), assigned_by=by,
            )
        )
    session.flush()


def assigned_schedules(session: Session, contact_ids: Iterable[int]) -> dict[int, int]:
    """contact id -> schedule id, for the customers not on the default."""
    ids = list(contact_ids)
    found: dict[int, int] = {}
    for start in range(0, len(ids), _IN_CHUNK):
        statement = select(ContactSchedule.contact_id, ContactSchedule.schedule_id).where(
            ContactSchedule.contact_id.in_(ids[start : start + _IN_CHUNK])
        )
        found.update({contact: schedule for contact, schedule in session.execute(statement)})
    return found


def customer_counts(session: Session, connection_id: int) -> dict[int, int]:
    """schedule id -> how many customers are on it, for the organisation's other schedules."""
    statement = (
        select(ContactSchedule.schedule_id, func.count())
        .join(ChaseSchedule, ChaseSchedule.id == ContactSchedule.schedule_id)
        .where(ChaseSchedule.connection_id == connection_id)
        .group_by(ContactSchedule.schedule_id)
    )
    return {schedule: count for schedule, count in session.execute(statement)}
