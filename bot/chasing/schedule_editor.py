"""Schedules from Slack: what the modal and `/chaser schedule` show, and edits by admins only.

Permission is decided by bot/chasing/permissions.py (a refusal is audited there); the changes
themselves go through bot/chasing/schedule_store.py, as the CLI's do, so both are audited alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from bot import messages
from bot.chasing.organisations import workspace_organisations
from bot.chasing.permissions import Actor, Capability, Permissions
from bot.chasing.schedule_store import (
    StoredSchedule,
    assign_customer,
    find_schedule,
    save_schedule,
    schedules,
    set_sender,
)
from bot.chasing.schedules import ScheduleSpec
from bot.errors import NotFound
from storage.db import session_scope
from storage.models import Contact, XeroConnection
from storage.schedules import customer_counts
from storage.settings import organisation_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker


@dataclass(frozen=True)
class Sender:
    """Who reminders come from: the From name and the Reply-To address (None: not set)."""

    name: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class ScheduleBook:
    """One organisation's schedules (default first), its senders and who is on which."""

    connection_id: int
    organisation: str
    schedules: list[StoredSchedule]
    sender: Sender
    escalated_sender: Sender
    customers: dict[int, int]  # schedule id -> how many customers are on it (not the default)


@dataclass(frozen=True)
class Assigned:
    """A customer put on a schedule, for the reply."""

    customer: str
    organisation: str
    schedule: str
    default: bool


class ScheduleEditor:
    """Read an organisation's schedules; save one, its senders and customers' schedules."""

    def __init__(self, session_factory: sessionmaker[Session], permissions: Permissions,
                 clock: Callable[[], datetime]) -> None:
        self._session_factory = session_factory
        self._permissions = permissions
        self._clock = clock

    def require(self, actor: Actor, connection_id: int | None = None) -> None:
        """Raise NotAllowed (audited) unless the actor may edit schedules."""
        self._permissions.require(actor, Capability.EDIT_SCHEDULES, connection_id=connection_id)

    def book(self, workspace_id: int | None, connection_id: int) -> ScheduleBook:
        """The organisation's schedules and senders (it must be the workspace's)."""
        with session_scope(self._session_factory) as session:
            return self._book(session, self._connection(session, workspace_id, connection_id))

    def books(self, workspace_id: int) -> list[ScheduleBook]:
        """Every live organisation of the workspace, as `book` gives one."""
        with session_scope(self._session_factory) as session:
            return [self._book(session, c) for c in workspace_organisations(session, workspace_id)]

    def save(self, actor: Actor, connection_id: int, spec: ScheduleSpec, *, make_default: bool,
             sender: Sender | None = None, escalated_sender: Sender | None = None
             ) -> StoredSchedule:
        """Create or replace `spec` (by name) and set the senders given, in one transaction."""
        with session_scope(self._session_factory) as session:
            self._connection(session, actor.workspace_id, connection_id)
        self.require(actor, connection_id)
        now = self._clock()
        with session_scope(self._session_factory) as session:
            self._connection(session, actor.workspace_id, connection_id)
            saved = save_schedule(session, connection_id, spec, by=actor.user_id, now=now,
                                  make_default=make_default)
            for escalated, chosen in ((False, sender), (True, escalated_sender)):
                if chosen is not None:
                    set_sender(session, connection_id, escalated=escalated, name=chosen.name,
                               email=chosen.email, by=actor.user_id, now=now)
            return saved

    def assign(self, actor: Actor, contact_id: int, schedule_name: str | None) -> Assigned:
        """Chase one customer on the named schedule of its organisation (None: the default)."""
        with session_scope(self._session_factory) as session:
            contact = session.get(Contact, contact_id)
            if contact is None:
                raise NotFound(messages.NOT_IN_CHASER)
            connection_id = contact.connection_id
            self._connection(session, actor.workspace_id, connection_id)
        self.require(actor, connection_id)
        with session_scope(self._session_factory) as session:
            connection = self._connection(session, actor.workspace_id, connection_id)
            contact = session.get(Contact, contact_id)
            assert contact is not None
            schedule = assign_customer(session, connection_id, contact, schedule_name,
                                       by=actor.user_id, now=self._clock())
            return Assigned(contact.name or "", _name(connection), schedule.spec.name,
                            schedule.is_default)

    def schedule_names(self, workspace_id: int) -> list[str]:
        """Every schedule name of the workspace's organisations (to read a typed command)."""
        return [s.spec.name for book in self.books(workspace_id) for s in book.schedules]

    def find(self, workspace_id: int | None, connection_id: int,
             name: str | None) -> StoredSchedule:
        """One schedule of the organisation by name (the default without one)."""
        with session_scope(self._session_factory) as session:
            self._connection(session, workspace_id, connection_id)
            return find_schedule(session, connection_id, name, now=self._clock())

    # Internals -----------------------------------------------------------------------------

    def _connection(self, session: Session, workspace_id: int | None,
                    connection_id: int) -> XeroConnection:
        connection = session.get(XeroConnection, connection_id)
        if connection is None or (workspace_id is not None
                                  and connection.workspace_id != workspace_id):
            raise NotFound(messages.not_connected())
        return connection

    def _book(self, session: Session, connection: XeroConnection) -> ScheduleBook:
        found = schedules(session, connection.id, now=self._clock())
        row = organisation_settings(session, connection.id)
        return ScheduleBook(
            connection_id=connection.id, organisation=_name(connection), schedules=found,
            sender=Sender(row.sender_name, row.sender_email),
            escalated_sender=Sender(row.escalated_sender_name, row.escalated_sender_email),
            customers=customer_counts(session, connection.id))


def _name(connection: XeroConnection) -> str:
    return connection.tenant_name or connection.tenant_id
