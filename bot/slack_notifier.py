"""The chasing ports implemented with Slack's Web API: digests in channels, admins by DM."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import messages
from bot.blocks.connection import connection_lost_blocks, reconnected_blocks
from bot.blocks.digest import digest_blocks, digest_text
from bot.chasing.digest import Digest
from bot.chasing.ports import (
    ConnectionLost,
    ConnectRefused,
    LoggingNotifier,
    Notifier,
    OrganisationConnected,
    PostedMessage,
    PublishFailed,
)
from bot.slack_clients import UnknownWorkspace
from bot.slack_people import SlackDirectory
from storage import notices, repositories
from storage.db import session_scope
from storage.models import ConnectionStatus, MemberRole

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

# A team's WebClient (the one bot token, or the team's installation): bot/slack_clients.py.
ClientForTeam = Callable[[str], WebClient]


def slack_error(exc: SlackApiError) -> str:
    """Slack's error code from a failed call ("channel_not_found", "ratelimited", ...)."""
    response = getattr(exc, "response", None)
    try:
        return str(response["error"]) if response is not None else str(exc)
    except (KeyError, TypeError):
        return str(exc)


class SlackDigestPublisher:
    """DigestPublisher: chat.postMessage the digest into its channel, chat.update it in place."""

    def __init__(self, client_for_team: ClientForTeam) -> None:
        self._client_for_team = client_for_team

    def _client(self, team_id: str) -> WebClient:
        try:
            return self._client_for_team(team_id)
        except UnknownWorkspace as exc:
            raise PublishFailed(f"no Slack installation for workspace {team_id}") from exc

    def post_digest(self, team_id: str, channel_id: str, digest: Digest) -> PostedMessage:
        """Post the digest; PublishFailed with Slack's error code when Slack refuses."""
        client = self._client(team_id)
        try:
            response = client.chat_postMessage(
                channel=channel_id, text=digest_text(digest), blocks=digest_blocks(digest),
                unfurl_links=False, unfurl_media=False,
            )
        except SlackApiError as exc:
            raise PublishFailed(slack_error(exc)) from exc
        # Slack answers with the channel's id even when it was given a name.
        return PostedMessage(str(response["channel"]), str(response["ts"]))

    def update_digest(self, team_id: str, message: PostedMessage, digest: Digest) -> None:
        """Replace a posted digest's blocks (chat.update keeps its place in the channel)."""
        client = self._client(team_id)
        try:
            client.chat_update(
                channel=message.channel_id, ts=message.ts, text=digest_text(digest),
                blocks=digest_blocks(digest),
            )
        except SlackApiError as exc:
            raise PublishFailed(slack_error(exc)) from exc


class SlackNotifier:
    """Notifier: each admin hears once per incident that an organisation needs reconnecting
    (with a Reconnect button), and once that it is back and chasing has resumed.

    Admins are the workspace's admins and owners (users.list, through `directory`), whoever
    connected Xero and anyone added in settings. Incidents and DMs are rows
    (storage/notices.py) keyed so that several instances, retries and repeated events still
    send each DM once. What the connecting person hears about their own connect goes to
    `connected` (the connect flow's notifier).
    """

    def __init__(
        self,
        client_for_team: ClientForTeam,
        session_factory: sessionmaker[Session],
        clock: Callable[[], datetime],
        *,
        connected: Notifier | None = None,
        directory: SlackDirectory | None = None,
    ) -> None:
        self._client_for_team = client_for_team
        self._session_factory = session_factory
        self._clock = clock
        self._connected = connected or LoggingNotifier()
        self._directory = directory or SlackDirectory(client_for_team)
        # Why each workspace's admins could not be listed, last time: the catch-up asks every
        # minute, and a scope missing for days is one warning, not one a minute.
        self._listing_failed: dict[str, str] = {}

    def connection_lost(self, event: ConnectionLost) -> None:
        """Open (or join) the connection's incident and DM each admin not yet told of it.

        Safe to repeat (catch_up does, every minute): admins a failed users.list left out
        hear at the next try, and nobody hears twice."""
        # Slack is asked before the transaction: no database lock is held over a network call.
        workspace_admins = self._workspace_admins(event.team_id)
        with session_scope(self._session_factory) as session:
            incident_id, _ = notices.open_incident(session, event.connection_id,
                                                   reason=event.reason, now=self._clock())
            admins = admins_to_tell(session, event.workspace_id, event.connection_id,
                                    workspace_admins)
        name = event.tenant_name or event.tenant_id
        for user in admins:
            self._dm_once(
                f"lost:{incident_id}:{user}", event.team_id, user, event.connection_id,
                text=messages.connection_lost_dm(name, event.reason),
                blocks=connection_lost_blocks(name, event.reason, event.connection_id),
            )

    def organisation_connected(self, event: OrganisationConnected) -> None:
        """Tell the connecting person; close the incident and tell whoever heard it was lost."""
        self._connected.organisation_connected(event)
        self._admins_hear_it_is_back(event)

    def _admins_hear_it_is_back(self, event: OrganisationConnected) -> None:
        with session_scope(self._session_factory) as session:
            incident_id = notices.resolve_incident(session, event.connection_id,
                                                   now=self._clock())
            told = (notices.notified_users(session, f"lost:{incident_id}:")
                    if incident_id is not None else [])
        for user in told:
            self._dm_once(
                f"back:{incident_id}:{user}", event.team_id, user, event.connection_id,
                text=messages.reconnected_dm(event.tenant_name),
                blocks=reconnected_blocks(event.tenant_name),
            )

    def connect_refused(self, event: ConnectRefused) -> None:
        """The connecting person hears why (the connect flow's notifier)."""
        self._connected.connect_refused(event)

    def catch_up(self) -> int:
        """Tell admins about connections lost or regained while no Slack notifier was there
        (a `chaser sync` or `chaser connect` in a terminal); safe to run every minute.

        Each DM still goes once: the incident and notice keys decide. Returns how many
        connections were looked at.
        """
        with session_scope(self._session_factory) as session:
            lost = [
                ConnectionLost(
                    team_id=c.workspace.slack_team_id, workspace_id=c.workspace_id,
                    connection_id=c.id, tenant_id=c.tenant_id, tenant_name=c.tenant_name,
                    reason=c.status_reason or "", at=c.updated_at,
                )
                for c in repositories.list_connections(
                    session, statuses=[ConnectionStatus.NEEDS_RECONNECT])
            ]
            back = [
                OrganisationConnected(
                    team_id=c.workspace.slack_team_id, slack_user_id=None, connection_id=c.id,
                    tenant_name=c.tenant_name or c.tenant_id, reconnected=True,
                )
                for c in repositories.list_connections(
                    session, statuses=[ConnectionStatus.CONNECTED])
                if notices.has_open_incident(session, c.id)
            ]
        for event in lost:
            self.connection_lost(event)
        for regained in back:
            self._admins_hear_it_is_back(regained)
        return len(lost) + len(back)

    def _workspace_admins(self, team_id: str) -> list[str]:
        """The workspace's admins and owners; [] (and a log line saying why) when Slack cannot
        list them, so the admins named in settings and the connector are still told."""
        try:
            admins = self._directory.workspace_admins(team_id)
        except SlackApiError as exc:
            reason = slack_error(exc)
            hint = (" (reinstall the Slack app with the users:read scope)"
                    if reason == "missing_scope" else "")
            self._listing_failure(
                team_id, reason, "could not list the admins of Slack workspace %s: users.list "
                "answered %s%s; telling the admins named in settings and whoever connected Xero",
                team_id, reason, hint)
        except UnknownWorkspace:
            self._listing_failure(
                team_id, "unknown_workspace", "no Slack installation for workspace %s to list its "
                "admins: telling the admins named in settings and whoever connected Xero", team_id)
        else:
            if self._listing_failed.pop(team_id, None) is not None:
                log.info("listed the admins of Slack workspace %s again", team_id)
            return admins
        return []

    def _listing_failure(self, team_id: str, reason: str, *args: object) -> None:
        """Warn once per workspace and reason; repeats of the same failure are debug lines."""
        repeated = self._listing_failed.get(team_id) == reason
        self._listing_failed[team_id] = reason
        log.log(logging.DEBUG if repeated else logging.WARNING, *args)

    def _dm_once(self, key: str, team_id: str, user: str, connection_id: int, *, text: str,
                 blocks: list[dict[str, Any]]) -> None:
        with session_scope(self._session_factory) as session:
            notice_id = notices.claim_notice(session, key, connection_id=connection_id,
                                             slack_user_id=user, now=self._clock())
        if notice_id is None:
            return  # this DM went (or is going) out already
        try:
            response = self._client_for_team(team_id).chat_postMessage(
                channel=user, text=text, blocks=blocks)
        except (SlackApiError, UnknownWorkspace) as exc:
            reason = slack_error(exc) if isinstance(exc, SlackApiError) else "no installation"
            log.warning("could not DM %s about connection %s: %s", user, connection_id, reason)
            with session_scope(self._session_factory) as session:
                notices.release_notice(session, notice_id)
            return
        with session_scope(self._session_factory) as session:
            notices.mark_notice_sent(session, notice_id, channel_id=str(response["channel"]),
                                     message_ts=str(response["ts"]), now=self._clock())


def admins_to_tell(session: Session, workspace_id: int, connection_id: int,
                   workspace_admins: list[str]) -> list[str]:
    """Who hears about a lost connection, each once: the admins named in settings, whoever
    connected it, and the workspace's own admins and owners (as Slack listed them)."""
    people = repositories.workspace_member_ids(session, workspace_id, MemberRole.ADMIN)
    connection = repositories.get_connection(session, connection_id)
    if connection is not None and connection.connected_by:
        people.append(connection.connected_by)
    return list(dict.fromkeys([*people, *workspace_admins]))
