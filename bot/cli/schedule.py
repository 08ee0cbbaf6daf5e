"""`chaser schedule`: show and edit chasing schedules, give a customer one, set the senders."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from bot.chasing.recipients import sender_address
from bot.chasing.schedule_store import (
    StoredSchedule,
    assign_customer,
    find_schedule,
    save_schedule,
    schedules,
    set_sender,
)
from bot.chasing.schedules import (
    DEFAULT_SCHEDULE,
    ScheduleEdit,
    ScheduleSpec,
    apply_edit,
    describe_step,
    sender_name,
)
from bot.cli.support import CommandError, choose_connections, migrated_context
from bot.config import Settings
from bot.errors import BadInput

CLI_ACTOR = "cli"


def _connection_id(session, org: str | None) -> int:
    from storage import repositories

    chosen = choose_connections(repositories.list_connections(session), org)
    if len(chosen) > 1:
        names = ", ".join(c.tenant_name or c.tenant_id for c in chosen)
        raise CommandError(f"Several organisations are connected ({names}): choose one with "
                           "--org.")
    return chosen[0].id


def print_schedule(console: Console, schedule: StoredSchedule) -> None:
    """One schedule: its steps, the repeat and whether it is the default."""
    spec = schedule.spec
    default = " (default)" if schedule.is_default else ""
    console.print(f"[bold]{escape(spec.name)}[/bold]{default}")
    for step in spec.steps:
        console.print(f"  {escape(describe_step(step))}")
    if spec.repeat_every_days:
        cap = f", at most {spec.repeat_limit} times" if spec.repeat_limit else ", until paid"
        console.print(f"  then the last overdue step again every {spec.repeat_every_days} "
                      f"days{cap}")
    if schedule.spec.thank_you is None:
        console.print("  no thank-you after payment")


def show(settings: Settings, console: Console, *, org: str | None) -> None:
    """Print every schedule of the organisation."""
    from storage.db import session_scope

    ctx = migrated_context(settings)
    with session_scope(ctx.session_factory) as session:
        for schedule in schedules(session, _connection_id(session, org), now=ctx.clock()):
            print_schedule(console, schedule)


def set_schedule(settings: Settings, console: Console, *, org: str | None, name: str | None,
                 edit: ScheduleEdit, make_default: bool) -> None:
    """Create or change a schedule (by name; the default without one)."""
    from storage.db import session_scope

    ctx = migrated_context(settings)
    with session_scope(ctx.session_factory) as session:
        connection_id = _connection_id(session, org)
        known = {s.spec.name.casefold(): s for s in schedules(session, connection_id,
                                                                now=ctx.clock())}
        if name is None:
            base = find_schedule(session, connection_id, None, now=ctx.clock()).spec
        elif name.strip().casefold() in known:  # as save_schedule finds it by name
            base = known[name.strip().casefold()].spec
        else:  # a new schedule starts from Chaser's default, renamed
            base = ScheduleSpec(name.strip(), DEFAULT_SCHEDULE.steps,
                                DEFAULT_SCHEDULE.repeat_every_days, DEFAULT_SCHEDULE.repeat_limit)
        saved = save_schedule(session, connection_id, apply_edit(base, edit), by=CLI_ACTOR,
                              now=ctx.clock(), make_default=make_default)
        print_schedule(console, saved)


def assign(settings: Settings, console: Console, *, org: str | None, customer: str,
           schedule_name: str | None) -> None:
    """Chase one customer on another schedule (or back on the default)."""
    from sqlalchemy import func, select

    from storage.db import session_scope
    from storage.models import Contact

    ctx = migrated_context(settings)
    with session_scope(ctx.session_factory) as session:
        connection_id = _connection_id(session, org)
        contacts = session.scalars(select(Contact).where(
            Contact.connection_id == connection_id,
            func.lower(Contact.name) == customer.strip().lower())).all()
        if len(contacts) != 1:
            raise CommandError(f"No single customer is called {customer!r}: use the name as "
                               "it is in Xero.")
        schedule = assign_customer(session, connection_id, contacts[0], schedule_name,
                                   by=CLI_ACTOR, now=ctx.clock())
        console.print(f"{escape(contacts[0].name or customer)} is chased on the "
                      f"{escape(schedule.spec.name)} schedule.")


def set_senders(settings: Settings, console: Console, *, org: str | None, name: str | None,
               email: str | None, escalated: bool) -> None:
    """Set the normal (or escalated) sender: the From name and the Reply-To address."""
    from storage.db import session_scope
    from storage.settings import organisation_settings

    if not name and not email:
        raise BadInput("Give --name and/or --email.")
    sender_name(name)  # a wrong name or address fails before any work, in one line
    if email:
        sender_address(email)
    prefix = "escalated_sender" if escalated else "sender"
    ctx = migrated_context(settings)
    with session_scope(ctx.session_factory) as session:
        connection_id = _connection_id(session, org)
        current = organisation_settings(session, connection_id)
        row = set_sender(session, connection_id, escalated=escalated,
                         name=name or getattr(current, f"{prefix}_name"),
                         email=email or getattr(current, f"{prefix}_email"),
                         by=CLI_ACTOR, now=ctx.clock())
        shown = (row.escalated_sender_name, row.escalated_sender_email) if escalated else (
            row.sender_name, row.sender_email)
    which = "Escalated sender" if escalated else "Sender"
    console.print(f"{which}: {escape(shown[0] or '—')} <{escape(shown[1] or '—')}>")
