"""Schedules as stored: read as ScheduleSpec, the default created once, edits, assignments and
senders, each change audited (who, when) whichever surface made it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from bot.chasing.recipients import sender_address
from bot.chasing.schedules import (
    DEFAULT_SCHEDULE,
    Part,
    ScheduleError,
    ScheduleSpec,
    StepSpec,
    sender_name,
    steps_text,
    validate,
)
from storage import schedules as rows
from storage.audit import record_audit
from storage.models import ChaseSchedule, Contact, OrganisationSettings, XeroConnection
from storage.settings import organisation_settings, update_organisation_settings


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
    saved = StoredSchedule(row.id, row.is_default, _spec(row))
    _audit(session, connection_id, "schedule.saved", by, now, {
        "schedule": spec.name, "default": saved.is_default,
        "before_due": steps_text(saved.spec, Part.BEFORE_DUE).splitlines(),
        "overdue": steps_text(saved.spec, Part.OVERDUE).splitlines(),
        "repeat_every_days": spec.repeat_every_days, "repeat_limit": spec.repeat_limit,
        "thank_you": spec.thank_you is not None})
    return saved


def assign_customer(
    session: Session, connection_id: int, contact: Contact, schedule_name: str | None, *,
    by: str | None, now: datetime,
) -> StoredSchedule:
    """Chase a customer on the named schedule, kept whichever schedule is the default later;
    None: on whichever schedule is the organisation's default."""
    schedule = find_schedule(session, connection_id, schedule_name, now=now)
    # A named schedule is pinned, the default's too: the reply said "on Default", and making
    # another schedule the default later must not move this customer silently.
    rows.assign_schedule(
        session, contact.id, None if schedule_name is None else schedule.id, by=by, now=now
    )
    _audit(session, connection_id, "contact.schedule", by, now, {
        "contact_id": contact.id, "customer": contact.name, "schedule": schedule.spec.name})
    return schedule


def set_sender(
    session: Session, connection_id: int, *, escalated: bool, name: str | None,
    email: str | None, by: str | None, now: datetime,
) -> OrganisationSettings:
    """Make (name, email) the normal or escalated sender: the From name and the Reply-To
    address (None clears one); the address is checked, and a change is audited."""
    name = sender_name(name)
    email = sender_address(email) if email and email.strip() else None
    prefix = "escalated_sender" if escalated else "sender"
    row = organisation_settings(session, connection_id)
    before = (getattr(row, f"{prefix}_name"), getattr(row, f"{prefix}_email"))
    if before == (name, email):
        return row
    row = update_organisation_settings(session, connection_id, by=by, now=now,
                                       **{f"{prefix}_name": name, f"{prefix}_email": email})
    _audit(session, connection_id, "settings.sender", by, now, {
        "which": "escalated sender" if escalated else "sender",
        "sender": f"{name or '—'} <{email or '—'}>"})
    return row


def _audit(session: Session, connection_id: int, action: str, by: str | None, now: datetime,
           detail: dict[str, object]) -> None:
    connection = session.get(XeroConnection, connection_id)
    record_audit(session, action=action, actor=by or "system", connection_id=connection_id,
                 workspace_id=connection.workspace_id if connection else None,
                 detail=detail, at=now)
