"""Schedules as stored: read as ScheduleSpec, the default created once, edits and assignments."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from bot.chasing.schedules import (
    DEFAULT_SCHEDULE,
    Part,
    ScheduleError,
    ScheduleSpec,
    StepSpec,
    validate,
)
from storage import schedules as rows
from storage.models import ChaseSchedule, Contact


@dataclass(frozen=True)
class StoredSchedule:
    """A schedule with its database id and whether it is the organisation's default."""

    id: int
    is_default: bool
    spec: ScheduleSpec


def _spec(row: ChaseSchedule) -> ScheduleSpec:
    steps = tuple(
        StepSpec(
            part=Part(step.part), days=step.days, template=step.template, grouped=step.grouped,
            escalated_sender=step.escalated_sender,
            escalated_recipients=step.escalated_recipients,
            needs_approval=step.needs_approval,
        )
        for step in row.steps
    )
    return ScheduleSpec(row.name, steps, row.repeat_every_days, row.repeat_limit)


def _step_rows(spec: ScheduleSpec) -> list[dict[str, object]]:
    return [{**asdict(step), "part": step.part.value} for step in spec.steps]


def schedules(session: Session, connection_id: int, *, now: datetime) -> list[StoredSchedule]:
    """The organisation's schedules, default first; a new organisation gets Chaser's default."""
    found = rows.list_schedules(session, connection_id)
    if not found:
        rows.create_schedule_once(
            session, connection_id, name=DEFAULT_SCHEDULE.name,
            steps=_step_rows(DEFAULT_SCHEDULE),
            repeat_every_days=DEFAULT_SCHEDULE.repeat_every_days,
            repeat_limit=DEFAULT_SCHEDULE.repeat_limit,
            is_default=True, by=None, now=now,
        )
        found = rows.list_schedules(session, connection_id)
    return [StoredSchedule(row.id, row.is_default, _spec(row)) for row in found]


def default_schedule(all_schedules: list[StoredSchedule]) -> StoredSchedule:
    """The default of a list from `schedules` (the first one if none is marked)."""
    return next((s for s in all_schedules if s.is_default), all_schedules[0])


def find_schedule(session: Session, connection_id: int, name: str | None, *,
                  now: datetime) -> StoredSchedule:
    """A schedule by name, or the default when no name is given."""
    known = schedules(session, connection_id, now=now)
    if name is None:
        return default_schedule(known)
    wanted = name.strip().casefold()
    for schedule in known:
        if schedule.spec.name.casefold() == wanted:
            return schedule
    names = ", ".join(s.spec.name for s in known)
    raise ScheduleError(f"No schedule is called {name!r} (have: {names}).")


def save_schedule(
    session: Session, connection_id: int, spec: ScheduleSpec, *, by: str | None, now: datetime,
    make_default: bool = False,
) -> StoredSchedule:
    """Create or replace a schedule by name."""
    validate(spec)
    schedules(session, connection_id, now=now)  # the default exists before any other
    row = rows.schedule_by_name(session, connection_id, spec.name)
    if row is None:
        row = rows.create_schedule_once(
            session, connection_id, name=spec.name, steps=_step_rows(spec),
            repeat_every_days=spec.repeat_every_days, repeat_limit=spec.repeat_limit,
            is_default=False, by=by, now=now,
        )
    else:
        row = rows.replace_schedule(
            session, row, steps=_step_rows(spec), repeat_every_days=spec.repeat_every_days,
            repeat_limit=spec.repeat_limit, by=by, now=now,
        )
    if make_default:
        rows.set_default_schedule(session, row)
    return StoredSchedule(row.id, row.is_default, _spec(row))


def assign_customer(
    session: Session, connection_id: int, contact: Contact, schedule_name: str | None, *,
    by: str | None, now: datetime,
) -> StoredSchedule:
    """Chase a customer on the named schedule (None or the default's name: the default)."""
    schedule = find_schedule(session, connection_id, schedule_name, now=now)
    rows.assign_schedule(
        session, contact.id, None if schedule.is_default else schedule.id, by=by, now=now
    )
    return schedule
