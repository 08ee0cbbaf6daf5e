"""App Home (each organisation's status, Connect or Reconnect) and the Connect/Reconnect buttons.

The buttons (on Home and in connection-lost DMs) open a modal with a fresh Xero consent link:
links expire after 10 minutes, so a message that may be read hours later cannot carry one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.blocks.connection import consent_modal
from bot.blocks.home import HomeOrganisation, home_view
from bot.chasing.permissions import Capability, Permissions
from bot.chasing.timezones import org_zone
from bot.handlers.errors import after_ack
from bot.handlers.support import actor_of
from bot.ids import Action, Event
from bot.payloads import ConnectionRef, PayloadError, decode_as
from storage import digests, repositories
from storage.db import session_scope
from storage.models import CLI_WORKSPACE_TEAM_ID
from storage.settings import organisation_settings

if TYPE_CHECKING:
    from slack_bolt import Ack, App
    from slack_sdk import WebClient
    from sqlalchemy.orm import Session

    from bot.deps import AppDeps


def home_organisations(session: Session, workspace_ids: list[int]) -> list[HomeOrganisation]:
    """The organisations of these workspaces as App Home shows them, oldest first."""
    found = []
    for workspace_id in workspace_ids:
        for connection in repositories.list_connections(session, workspace_id):
            settings = organisation_settings(session, connection.id)
            last_sync_at, last_error = digests.sync_summary(session, connection.id)
            found.append(HomeOrganisation(
                connection_id=connection.id,
                name=connection.tenant_name or connection.tenant_id,
                status=str(connection.status),
                status_reason=connection.status_reason,
                last_sync_at=last_sync_at,
                last_sync_error=last_error,
                digest_enabled=settings.digest_enabled,
                digest_channel_id=settings.digest_channel_id,
                digest_time=settings.digest_time,
                timezone=str(org_zone(connection.timezone)),
                chasing_paused=settings.chasing_paused,
                chasing_paused_until=settings.chasing_paused_until,
            ))
    return sorted(found, key=lambda org: org.connection_id)


def register(app: App, deps: AppDeps) -> None:
    """Publish the Home tab when someone opens it; answer Connect/Reconnect clicks."""
    from bot.deps import workspace_directory

    clients = app.clients  # type: ignore[attr-defined]
    permissions = Permissions(deps.session_factory, workspace_directory(clients.for_team),
                              deps.clock)

    def workspaces_shown(session: Session, workspace_id: int | None) -> list[int]:
        ids = [workspace_id] if workspace_id is not None else []
        if not clients.multi_workspace:
            # One bot token serves one Slack workspace: organisations connected from the
            # terminal (`chaser connect`) are that workspace's too.
            cli = repositories.workspace_by_team_id(session, CLI_WORKSPACE_TEAM_ID)
            if cli is not None and cli.id not in ids:
                ids.append(cli.id)
        return ids

    def home_opened(event: dict[str, Any], context: Any, client: WebClient) -> None:
        if event.get("tab", "home") != "home":
            return
        with session_scope(deps.session_factory) as session:
            organisations = home_organisations(
                session, workspaces_shown(session, context.get("workspace_id")))
        client.views_publish(user_id=event["user"], view=home_view(organisations))

    def connect_clicked(ack: Ack, body: dict[str, Any], context: Any,
                        client: WebClient) -> None:
        ack()

        def work() -> None:
            try:
                ref = decode_as(body["actions"][0].get("value"), ConnectionRef)
            except PayloadError:
                ref = ConnectionRef()
            actor = actor_of(body, context)
            permissions.require(actor, Capability.CONNECT, connection_id=ref.c)
            name = None
            if ref.c is not None:
                with session_scope(deps.session_factory) as session:
                    connection = repositories.get_connection(session, ref.c)
                    name = connection.tenant_name if connection else None
            url = deps.connect_service().start(actor.team_id, actor.user_id)
            client.views_open(trigger_id=body["trigger_id"], view=consent_modal(url, name))

        after_ack(body, client, work)

    def consent_link_clicked(ack: Ack) -> None:
        ack()  # Slack opens the link itself

    app.event(Event.APP_HOME_OPENED)(home_opened)
    app.action(Action.RECONNECT_XERO)(connect_clicked)
    app.action(Action.OPEN_XERO_CONSENT)(consent_link_clicked)
