"""/chaser connect, disconnect, status and sync: each acks at once, Xero only after the ack."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot import messages
from bot.blocks.lookups import connect_blocks, status_blocks
from bot.chasing.not_chased import not_chased
from bot.chasing.organisations import (
    organisation_statuses,
    pick_organisations,
    terminal_organisations,
    workspace_organisations,
)
from bot.chasing.permissions import Capability
from bot.errors import ConfigurationError
from bot.handlers.chaser_command import BadArguments, Call, Route
from bot.handlers.support import call_actor, services
from bot.ids import Action, Subcommand
from bot.messages import SLACK
from storage.db import session_scope

if TYPE_CHECKING:
    from slack_bolt import Ack, App, Respond
    from slack_sdk import WebClient

    from bot.chasing.sync_report import SyncReport
    from bot.deps import AppDeps


def optional_name(words: Sequence[str]) -> str | None:
    """[org]: the rest of the words as one name, or None."""
    return " ".join(words).strip() or None


def no_arguments(words: Sequence[str]) -> None:
    if words:
        raise BadArguments("takes no arguments")


def sync_summary(reports: Sequence[SyncReport]) -> str:
    """One line per organisation: counts and time, or the plain reason it failed."""
    lines = []
    for report in reports:
        name = report.tenant_name or str(report.connection_id)
        if report.outcome == "ok":
            lines.append(messages.sync_done(name, report.contacts, report.invoices,
                                            report.seconds))
        else:
            lines.append(messages.SYNC_NOT_DONE.format(name=name,
                                                       reason=report.text(SLACK) or report.outcome))
    return "\n".join(lines)


def routes(app: App, deps: AppDeps) -> list[Route]:
    """The four subcommands about organisations."""
    chasing = services(app, deps)
    multi_workspace = app.clients.multi_workspace  # type: ignore[attr-defined]

    def terminal_note() -> str | None:
        """With OAuth installs, a line saying the terminal's organisations are not shown here
        (when there are any); a single bot token's `chaser serve` adopts them instead."""
        if not multi_workspace:
            return None
        with session_scope(deps.session_factory) as session:
            if not terminal_organisations(session):
                return None
        return messages.TERMINAL_ORGANISATIONS_NOT_SHOWN.render(SLACK)

    def connect(call: Call, _args: None, ack: Ack, respond: Respond, _client: WebClient) -> None:
        ack()
        chasing.permissions.require(call_actor(call), Capability.CONNECT)
        if not deps.settings.xero_configured:
            raise ConfigurationError(messages.XERO_NOT_CONFIGURED)
        # Only our database is written here; Xero is first called when the person consents.
        url = chasing.connect.start(call.team_id, call.user_id)
        respond(text=messages.CONNECT_PROMPT, blocks=connect_blocks(url, terminal_note()),
                response_type="ephemeral", replace_original=True)

    def disconnect(call: Call, name: str | None, ack: Ack, respond: Respond,
                   _client: WebClient) -> None:
        ack()
        chasing.permissions.require(call_actor(call), Capability.DISCONNECT)
        with session_scope(deps.session_factory) as session:
            (connection,) = pick_organisations(
                workspace_organisations(session, call.workspace_id), name, one=True)
            target, label = connection.id, connection.tenant_name or connection.tenant_id
        respond(text=messages.DISCONNECTING.format(name=label), response_type="ephemeral")
        result = chasing.connect.disconnect(target, actor=call.user_id)
        text = messages.DISCONNECTED_DONE.format(name=result.tenant_name)
        if result.xero_warning:
            text += " " + messages.render(result.xero_warning, SLACK)
        respond(text=text, response_type="ephemeral", replace_original=True)

    def status(call: Call, _args: None, ack: Ack, respond: Respond, _client: WebClient) -> None:
        ack()
        with session_scope(deps.session_factory) as session:
            statuses = organisation_statuses(session, call.workspace_id, deps.clock())
        note = terminal_note()
        if not statuses:
            text = messages.STATUS_NONE.render(SLACK)
            respond(text=f"{text}\n{note}" if note else text, response_type="ephemeral")
            return
        skipped = {s.connection_id: not_chased(deps.session_factory, s.connection_id,
                                               deps.clock()) for s in statuses}
        respond(text=", ".join(s.name for s in statuses),
                blocks=status_blocks(statuses, skipped, note), response_type="ephemeral")

    def sync(call: Call, name: str | None, ack: Ack, respond: Respond,
             _client: WebClient) -> None:
        # "Syncing…" is the acknowledgement itself; Xero is only called after it.
        ack(text=messages.SYNCING, response_type="ephemeral")
        with session_scope(deps.session_factory) as session:
            chosen = [c.id for c in pick_organisations(
                workspace_organisations(session, call.workspace_id), name)]
        reports = deps.sync_service().sync_all(connection_ids=chosen)
        respond(text=sync_summary(reports), response_type="ephemeral", replace_original=True)

    app.action(Action.CONNECT_XERO)(lambda ack: ack())  # a link button: nothing to do
    return [
        Route(Subcommand.CONNECT, no_arguments, connect),
        Route(Subcommand.DISCONNECT, optional_name, disconnect),
        Route(Subcommand.STATUS, no_arguments, status),
        Route(Subcommand.SYNC, optional_name, sync),
    ]
