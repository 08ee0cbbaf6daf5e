"""/chaser settings: a modal for admins, saved through storage/settings.py and audited."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bot import messages
from bot.blocks.settings_modal import SettingsValues, read_submission, settings_modal
from bot.chasing.organisations import pick_organisations, workspace_organisations
from bot.chasing.permissions import Capability, NotAllowed
from bot.chasing.timezones import org_zone
from bot.errors import NotFound
from bot.handlers import errors
from bot.handlers.chaser_command import Call, Route
from bot.handlers.support import actor_of, call_actor, services
from bot.ids import Block, Subcommand, View
from bot.messages import SLACK
from bot.payloads import SettingsForm, decode_as
from storage.audit import record_audit
from storage.db import session_scope
from storage.models import MemberRole, XeroConnection
from storage.repositories import set_workspace_members, workspace_member_ids
from storage.settings import organisation_settings, update_organisation_settings

if TYPE_CHECKING:
    from slack_bolt import Ack, App, Respond
    from slack_sdk import WebClient

    from bot.deps import AppDeps


def optional_name(words: Sequence[str]) -> str | None:
    return " ".join(words).strip() or None


def routes(app: App, deps: AppDeps) -> list[Route]:
    """settings [org] opens the modal; its submission saves."""
    chasing = services(app, deps)

    def current(session: Any, workspace_id: int, connection: XeroConnection) -> SettingsValues:
        row = organisation_settings(session, connection.id)
        return SettingsValues(
            connection_id=connection.id,
            organisation=connection.tenant_name or connection.tenant_id,
            digest_channel_id=row.digest_channel_id, digest_time=row.digest_time,
            timezone=org_zone(connection.timezone).key,
            admins=workspace_member_ids(session, workspace_id, MemberRole.ADMIN),
            managers=workspace_member_ids(session, workspace_id, MemberRole.MANAGER),
            minimum_chase_amount=row.minimum_chase_amount,
            currency=connection.base_currency or "",
            wait_for_expected_date=row.wait_for_expected_date,
            buttons_admins_only=row.buttons_admins_only,
            alert_payments=row.alert_payments, alert_overdue_over=row.alert_overdue_over,
            approvals_channel_id=row.approvals_channel_id)

    def open_settings(call: Call, name: str | None, ack: Ack, _respond: Respond,
                      client: WebClient) -> None:
        ack()
        chasing.permissions.require(call_actor(call), Capability.CHANGE_SETTINGS)
        with session_scope(deps.session_factory) as session:
            (connection,) = pick_organisations(
                workspace_organisations(session, call.workspace_id), name, one=True)
            values = current(session, call.workspace_id, connection)
        client.views_open(trigger_id=call.trigger_id, view=settings_modal(values))

    def submitted(ack: Ack, body: dict[str, Any], context: Any, view: dict[str, Any],
                  client: WebClient) -> None:
        form = decode_as(view.get("private_metadata"), SettingsForm)
        change = read_submission(form.c, view["state"]["values"])
        if change.errors:
            ack(response_action="errors", errors=change.errors)
            return
        actor = actor_of(body, context)
        try:
            chasing.permissions.require(actor, Capability.CHANGE_SETTINGS,
                                        connection_id=form.c)
        except NotAllowed as refused:
            ack(response_action="errors",
                errors={Block.SETTINGS_TIME: refused.text(SLACK)[:150]})
            return
        with session_scope(deps.session_factory) as session:
            connection = session.get(XeroConnection, form.c)
            if connection is None or connection.workspace_id != actor.workspace_id:
                raise NotFound(messages.not_connected())
            update_organisation_settings(
                session, form.c, by=actor.user_id, now=deps.clock(),
                digest_channel_id=change.digest_channel_id, digest_time=change.digest_time,
                minimum_chase_amount=change.minimum_chase_amount,
                wait_for_expected_date=change.wait_for_expected_date,
                buttons_admins_only=change.buttons_admins_only,
                alert_payments=change.alert_payments,
                alert_overdue_over=change.alert_overdue_over,
                approvals_channel_id=change.approvals_channel_id)
            set_workspace_members(session, connection.workspace_id, MemberRole.ADMIN,
                                  change.admins)
            set_workspace_members(session, connection.workspace_id, MemberRole.MANAGER,
                                  change.managers)
            record_audit(session, action="settings.changed", actor=actor.user_id,
                         workspace_id=connection.workspace_id, connection_id=connection.id,
                         detail={"fields": "digest, admins, managers, chasing rules, alerts"},
                         at=deps.clock())
            name = connection.tenant_name or connection.tenant_id
        ack()
        try:
            client.chat_postMessage(channel=actor.user_id,
                                    text=messages.SETTINGS_SAVED.format(name=name))
        except Exception as error:  # after the ack: see errors.report
            errors.report(error, body, client)

    app.view(View.SETTINGS)(submitted)
    return [Route(Subcommand.SETTINGS, optional_name, open_settings)]
