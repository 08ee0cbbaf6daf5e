"""What Slack handlers share: the chasing services (built once per app) and who is acting."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.chasing.connections import ConnectService
from bot.chasing.controls import ChasingControls
from bot.chasing.permissions import Actor, Permissions
from bot.chasing.recipients import EscalatedRecipients
from bot.chasing.schedule_editor import ScheduleEditor
from bot.handlers.middleware import team_of
from bot.slack_people import SlackDirectory

if TYPE_CHECKING:
    from slack_bolt import App

    from bot.deps import AppDeps


@dataclass(frozen=True)
class Services:
    """The chasing services Slack listeners call (the digest's buttons use `controls` too)."""

    permissions: Permissions
    controls: ChasingControls
    connect: ConnectService
    recipients: EscalatedRecipients
    schedules: ScheduleEditor


def services(app: App, deps: AppDeps) -> Services:
    """The app's one set of services (so caches such as users.info's are shared)."""
    found = getattr(app, "chasing_services", None)
    if found is None:
        clients = app.clients  # type: ignore[attr-defined]
        permissions = Permissions(deps.session_factory, SlackDirectory(clients.for_team),
                                  deps.clock)
        found = Services(permissions=permissions,
                         controls=ChasingControls(deps.session_factory, permissions, deps.clock),
                         connect=deps.connect_service(),
                         recipients=EscalatedRecipients(deps.session_factory, permissions,
                                                        deps.clock),
                         schedules=ScheduleEditor(deps.session_factory, permissions, deps.clock))
        app.chasing_services = found  # type: ignore[attr-defined]
    return found


def actor_of(body: dict[str, Any], context: Any) -> Actor:
    """Who sent a Slack request (slash command or interaction), in which workspace."""
    user = body.get("user_id") or (body.get("user") or {}).get("id") or ""
    return Actor(user_id=user, team_id=team_of(body, context) or "",
                 workspace_id=context.get("workspace_id"))


def call_actor(call: Any) -> Actor:
    """Who typed a /chaser command (a chaser_command.Call)."""
    return Actor(user_id=call.user_id, team_id=call.team_id, workspace_id=call.workspace_id)
