"""People in Slack: who is a workspace admin (users.info, users.list; cached) and DMs about
connecting Xero."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import messages
from bot.chasing.ports import ConnectionLost, ConnectRefused, LoggingNotifier, OrganisationConnected
from bot.messages import SLACK

log = logging.getLogger(__name__)

ClientForTeam = Callable[[str], WebClient]
# users.info is Tier 4 (100+/min); an admin's role rarely changes, so five minutes is plenty.
ADMIN_CACHE_SECONDS = 300.0
# users.list: "we recommend no more than 200 results at a time" (its docs); Tier 2 (20+/min),
# so a workspace's admins are listed at most once per ADMIN_CACHE_SECONDS.
USERS_PAGE = 200


def is_admin_user(user: dict) -> bool:
    """A workspace admin or owner who can be told things: not deleted, not a bot
    (docs.slack.dev/reference/objects/user-object)."""
    return bool(not user.get("deleted") and not user.get("is_bot") and (
        user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner")))


class SlackDirectory:
    """WorkspaceDirectory: Slack says who is a workspace admin or owner (users.info)."""

    def __init__(self, client_for_team: ClientForTeam, *,
                 ttl: float = ADMIN_CACHE_SECONDS) -> None:
        self._client_for_team = client_for_team
        self._ttl = ttl
        self._cache: dict[tuple[str, str], tuple[float, bool]] = {}
        self._admins: dict[str, tuple[float, list[str]]] = {}
        self._lock = threading.Lock()

    def is_workspace_admin(self, team_id: str, user_id: str) -> bool:
        """True for admins and owners (docs.slack.dev/reference/objects/user-object)."""
        key = (team_id, user_id)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and time.monotonic() - cached[0] < self._ttl:
            return cached[1]
        admin = is_admin_user(self._client_for_team(team_id).users_info(user=user_id)["user"])
        with self._lock:
            self._cache[key] = (time.monotonic(), admin)
        return admin

    def workspace_admins(self, team_id: str) -> list[str]:
        """The workspace's admins and owners, from every page of users.list (cached).

        Raises SlackApiError (missing_scope without users:read, ratelimited...) or
        UnknownWorkspace when Slack cannot say; a failure is not cached."""
        with self._lock:
            cached = self._admins.get(team_id)
        if cached is not None and time.monotonic() - cached[0] < self._ttl:
            return list(cached[1])
        client = self._client_for_team(team_id)
        admins: list[str] = []
        cursor = None
        while True:
            page = client.users_list(limit=USERS_PAGE, cursor=cursor)
            admins += [user["id"] for user in page.get("members", []) if is_admin_user(user)]
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:  # "" on the last page (docs.slack.dev/apis/web-api/pagination)
                break
        with self._lock:
            self._admins[team_id] = (time.monotonic(), admins)
        return list(admins)


class SlackConnectNotifier(LoggingNotifier):
    """Notifier: the person who connected Xero hears the result by DM.

    Connection-lost alerts stay log lines here; the digest's notifier DMs the admins."""

    def __init__(self, client_for_team: ClientForTeam) -> None:
        self._client_for_team = client_for_team

    def organisation_connected(self, event: OrganisationConnected) -> None:
        text = messages.connected_dm(event.tenant_name, reconnected=event.reconnected)
        self._dm(event.team_id, event.slack_user_id, text.render(SLACK))

    def connect_refused(self, event: ConnectRefused) -> None:
        text = messages.connect_refused_dm(event.tenant_name, event.reason, event.what_to_do)
        self._dm(event.team_id, event.slack_user_id, text.render(SLACK))

    def connection_lost(self, event: ConnectionLost) -> None:
        super().connection_lost(event)

    def _dm(self, team_id: str, user_id: str | None, text: str) -> None:
        if not user_id or not user_id.startswith(("U", "W")):
            return  # connected from the terminal: nobody in Slack to tell
        try:
            # Posting to a user id opens the app's DM with them (chat.postMessage docs).
            self._client_for_team(team_id).chat_postMessage(channel=user_id, text=text)
        except SlackApiError as exc:
            log.warning("could not DM %s about connecting Xero: %s", user_id,
                        exc.response.get("error"))
