"""Who may do what: the one place that decides, says who can instead, and audits a refusal.

Admins are the workspace's admins and owners (asked of Slack through the WorkspaceDirectory
port), whoever connected one of the workspace's Xero organisations, and anyone added as an
admin in /chaser settings. Admins connect, disconnect, change settings, pause everything,
choose customers' escalated recipients and edit chasing schedules (and who is on which).
Managers (added in settings) approve escalations; with no manager named, admins do.
Everyone may look things up and use the digest's buttons, unless the organisation's settings
narrow the buttons to admins (OrganisationSettings.buttons_admins_only). Nobody may act on
another Slack workspace's organisation, whatever their role there (a click can come from
another team: Slack Connect channels, or a card forwarded between workspaces).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import select

from bot import messages
from bot.errors import UserFacingError
from bot.messages import say
from storage.audit import record_audit
from storage.db import session_scope
from storage.models import CLI_WORKSPACE_TEAM_ID, ConnectionStatus, MemberRole, XeroConnection
from storage.repositories import workspace_member_ids
from storage.settings import organisation_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)


class Capability(StrEnum):
    CONNECT = "connect"
    DISCONNECT = "disconnect"
    CHANGE_SETTINGS = "change_settings"
    PAUSE_ALL = "pause_all"
    APPROVE_ESCALATIONS = "approve_escalations"
    LOOK_UP = "look_up"
    USE_BUTTONS = "use_buttons"
    CHOOSE_RECIPIENTS = "choose_recipients"
    EDIT_SCHEDULES = "edit_schedules"


ADMIN_ONLY = frozenset({Capability.CONNECT, Capability.DISCONNECT, Capability.CHANGE_SETTINGS,
                        Capability.PAUSE_ALL, Capability.CHOOSE_RECIPIENTS,
                        Capability.EDIT_SCHEDULES})


class WorkspaceDirectory(Protocol):
    """What chasing needs to know about a person from the chat workspace (Slack's users.info)."""

    def is_workspace_admin(self, team_id: str, user_id: str) -> bool:
        """True for the workspace's admins and owners."""
        ...


class NoDirectory:
    """For surfaces without a chat workspace (the CLI): nobody is a workspace admin."""

    def is_workspace_admin(self, team_id: str, user_id: str) -> bool:
        return False


@dataclass(frozen=True)
class Actor:
    """Who is acting: a person in a workspace, or the operator at the terminal (`system`)."""

    user_id: str
    team_id: str = ""
    workspace_id: int | None = None
    system: bool = False

    @classmethod
    def operator(cls) -> Actor:
        """The person running `chaser` commands: the machine's operator may do anything."""
        return cls(user_id="cli", system=True)


class NotAllowed(UserFacingError):
    """The person may not do this; the message says who can."""

    code = "not_allowed"


@dataclass(frozen=True)
class Roles:
    admin: bool
    manager: bool


class Permissions:
    """Decides capabilities for an Actor; `require` raises NotAllowed and audits the refusal."""

    def __init__(self, session_factory: sessionmaker[Session], directory: WorkspaceDirectory,
                 clock: Callable[[], datetime]) -> None:
        self._session_factory = session_factory
        self._directory = directory
        self._clock = clock

    def roles(self, actor: Actor) -> Roles:
        """Whether the actor is an admin and whether a manager (see the module docstring)."""
        if actor.system:
            return Roles(admin=True, manager=True)
        with session_scope(self._session_factory) as session:
            admins, managers, connectors = self._named(session, actor.workspace_id)
        admin = (actor.user_id in admins or actor.user_id in connectors
                 or self._workspace_admin(actor))
        manager = actor.user_id in managers or (not managers and admin)
        return Roles(admin=admin, manager=manager)

    def allowed(self, actor: Actor, capability: Capability, *,
                connection_id: int | None = None) -> bool:
        """May `actor` do `capability` (for the organisation `connection_id`, if given)?"""
        if actor.system:
            return True
        if self._foreign(actor, connection_id):
            return False
        if capability == Capability.LOOK_UP:
            return True
        if capability == Capability.USE_BUTTONS:
            if not self._buttons_narrowed(connection_id):
                return True
            return self.roles(actor).admin
        if capability == Capability.APPROVE_ESCALATIONS:
            return self.roles(actor).manager
        return self.roles(actor).admin

    def require(self, actor: Actor, capability: Capability, *,
                connection_id: int | None = None) -> None:
        """Return if allowed; otherwise audit the refusal and raise NotAllowed saying who can."""
        if self.allowed(actor, capability, connection_id=connection_id):
            return
        foreign = self._foreign(actor, connection_id)
        with session_scope(self._session_factory) as session:
            record_audit(session, action="permission.refused", actor=actor.user_id,
                         workspace_id=actor.workspace_id, connection_id=connection_id,
                         detail={"capability": capability.value,
                                 **({"team_id": actor.team_id} if foreign else {})},
                         at=self._clock())
            who = None if foreign else self._who_can(session, actor.workspace_id, capability)
        if who is None:
            raise NotAllowed(messages.OTHER_WORKSPACES_ORGANISATION)
        raise NotAllowed(say(messages.NOT_ALLOWED[capability], who=who))

    def approvers(self, workspace_id: int | None) -> list[str]:
        """Who to ask for an escalation's approval: the managers, else the admins named here
        and whoever connected an organisation (Slack's own admins cannot be listed)."""
        with session_scope(self._session_factory) as session:
            admins, managers, connectors = self._named(session, workspace_id)
        return managers or list(dict.fromkeys(admins + connectors))

    # Internals -----------------------------------------------------------------------------

    def _named(self, session: Session, workspace_id: int | None
               ) -> tuple[list[str], list[str], list[str]]:
        if workspace_id is None:
            return [], [], []
        admins = workspace_member_ids(session, workspace_id, MemberRole.ADMIN)
        managers = workspace_member_ids(session, workspace_id, MemberRole.MANAGER)
        connectors = [user for user in session.scalars(
            select(XeroConnection.connected_by).where(
                XeroConnection.workspace_id == workspace_id,
                XeroConnection.status != ConnectionStatus.DISCONNECTED,
                XeroConnection.connected_by.is_not(None)))]
        return admins, managers, list(dict.fromkeys(connectors))

    def _workspace_admin(self, actor: Actor) -> bool:
        try:
            return self._directory.is_workspace_admin(actor.team_id, actor.user_id)
        except Exception:  # Slack unreachable: fall back to the people named here
            log.warning("could not ask Slack whether %s is an admin", actor.user_id,
                        exc_info=True)
            return False

    def _foreign(self, actor: Actor, connection_id: int | None) -> bool:
        """True when the organisation belongs to another Slack workspace than the actor's.

        Organisations connected from the terminal belong to no Slack workspace; they reach
        Slack only with the single bot token (one workspace), so its people may act on them."""
        if connection_id is None:
            return False
        with session_scope(self._session_factory) as session:
            connection = session.get(XeroConnection, connection_id)
            if connection is None:
                return False  # gone: the service says so in its own words
            if connection.workspace.slack_team_id == CLI_WORKSPACE_TEAM_ID:
                return False
            return connection.workspace_id != actor.workspace_id

    def _buttons_narrowed(self, connection_id: int | None) -> bool:
        if connection_id is None:
            return False
        with session_scope(self._session_factory) as session:  # may create the row
            return organisation_settings(session, connection_id).buttons_admins_only

    def _who_can(self, session: Session, workspace_id: int | None,
                 capability: Capability) -> str:
        admins, managers, connectors = self._named(session, workspace_id)
        if capability == Capability.APPROVE_ESCALATIONS and managers:
            return messages.who_can(managers, managers=True)
        return messages.who_can(admins + [c for c in connectors if c not in admins])
