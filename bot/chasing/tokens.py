"""Xero token sets kept encrypted in the database, refreshed under a row lock, and open_client."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

import httpx

from bot import messages
from bot.chasing.ports import ConnectionLost, Notifier
from bot.errors import ConnectionNotUsable, Disconnected, NeedsReconnect
from bot.secrets import SecretBox, SecretError
from bot.xero.auth import TokenManager, TokenSet, utc_now
from bot.xero.client import XeroClient
from bot.xero.errors import XeroAuthError, error_from_response
from storage import repositories
from storage.db import session_scope
from storage.models import ConnectionStatus, XeroConnection

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from bot.deps import AppDeps

log = logging.getLogger(__name__)


def describe_reason(reason: str) -> str:
    """A short human phrase for a refusal reason code; other text is kept as given."""
    return messages.refusal_reason(reason)


def unavailable(connection: XeroConnection | None) -> ConnectionNotUsable:
    """The error for a connection that cannot make Xero calls, by its state."""
    if connection is None:
        return ConnectionNotUsable(messages.not_connected())
    if connection.status == ConnectionStatus.NEEDS_RECONNECT:
        return NeedsReconnect(messages.needs_reconnect(connection.tenant_name,
                                                       connection.status_reason),
                              connection_id=connection.id)
    if connection.status == ConnectionStatus.DISCONNECTED:
        return Disconnected(messages.disconnected(connection.tenant_name),
                            connection_id=connection.id)
    # Connected, but no tokens stored: only a new consent gives us some.
    return NeedsReconnect(messages.needs_reconnect(connection.tenant_name,
                                                   messages.refusal_reason("no_refresh_token")),
                          connection_id=connection.id)


class DbTokenStore:
    """A TokenStore for one connection: ciphertext in its row, refreshes under a row lock."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        box: SecretBox,
        connection_id: int,
        clock: Callable[[], datetime] = utc_now,
        notifier: Notifier | None = None,
    ) -> None:
        self._factory = session_factory
        self._box = box
        self.connection_id = connection_id
        self._clock = clock
        self._notifier = notifier

    def load(self) -> TokenSet:
        """The stored token set; refuses when the connection is not usable."""
        with session_scope(self._factory) as session:
            connection = session.get(XeroConnection, self.connection_id)
            return self._usable_tokens(connection)

    def refresh_locked(
        self, refresh: Callable[[TokenSet], TokenSet], rejected: str | None = None
    ) -> TokenSet:
        """Refresh once across every process: lock the rows, re-read, refresh only if expiring
        (or if the stored access token is `rejected`, one Xero answered 401 TokenExpired for).

        Xero rotates the refresh token on every refresh and the old one stops working (after a
        short grace), so the rotated set is written and committed inside the locked transaction
        before anyone uses the new access token: a crash after the call but before the commit
        would otherwise lose the only valid refresh token and end in invalid_grant for good.
        A second process waiting on the lock then reads the fresh set and does not refresh.

        One consent covering several organisations gives them one token set, stored on each
        of their rows. The rotated set is saved to every row that held the old refresh token,
        and all the workspace's rows are locked (in id order, so no deadlock), so refreshing
        organisation A never strands organisation B with a dead refresh token.
        """
        with session_scope(self._factory) as session:
            locked = {row.id: row for row in
                      repositories.lock_workspace_connections(session, self.connection_id)}
            connection = locked.get(self.connection_id)
            current = self._usable_tokens(connection)
            if not current.expires_soon(self._clock()) and current.access_token != rejected:
                return current  # another process refreshed while we waited for the lock
            rotated = refresh(current)
            ciphertext = self._box.encrypt(rotated.to_json())
            now = self._clock()
            for row in locked.values():
                if self._holds(row, current):
                    # Under the lock nobody else can have moved the version on.
                    repositories.save_connection_tokens(
                        session, row.id, token_ciphertext=ciphertext,
                        token_expires_at=rotated.expires_at,
                        expected_version=row.token_version, now=now,
                    )
        return rotated

    def _holds(self, row: XeroConnection, tokens: TokenSet) -> bool:
        """Whether this row stores the same grant (same refresh token) as `tokens`."""
        if row.id == self.connection_id:
            return True
        if not row.token_ciphertext or not tokens.refresh_token:
            return False
        try:
            stored = token_set_from_ciphertext(self._box, row.token_ciphertext)
        except SecretError:
            return False
        return stored.refresh_token == tokens.refresh_token

    def mark_auth_failed(self, reason: str) -> None:
        """Xero refused this connection's grant: needs_reconnect, and one ConnectionLost."""
        mark_needs_reconnect(self._factory, self.connection_id, reason,
                             clock=self._clock, notifier=self._notifier)

    def _usable_tokens(self, connection: XeroConnection | None) -> TokenSet:
        if (
            connection is None
            or connection.status != ConnectionStatus.CONNECTED
            or not connection.token_ciphertext
        ):
            raise unavailable(connection)
        return token_set_from_ciphertext(self._box, connection.token_ciphertext)


def mark_needs_reconnect(
    session_factory: sessionmaker[Session],
    connection_id: int,
    reason: str,
    *,
    clock: Callable[[], datetime] = utc_now,
    notifier: Notifier | None = None,
) -> bool:
    """Move a connected connection to needs_reconnect; True (and one event) only on the change.

    The row lock makes the check-and-set atomic across processes, so when several workers hit
    the same revoked grant at once, admins still get exactly one ConnectionLost.
    """
    now, reason = clock(), describe_reason(reason)
    with session_scope(session_factory) as session:
        connection = repositories.lock_connection_for_update(session, connection_id)
        if connection is None or connection.status != ConnectionStatus.CONNECTED:
            return False
        repositories.set_connection_status(
            session, connection.id, ConnectionStatus.NEEDS_RECONNECT, reason=reason, now=now
        )
        repositories.record_audit(
            session, actor="xero", action="connection.needs_reconnect",
            workspace_id=connection.workspace_id, connection_id=connection.id,
            detail={"reason": reason}, at=now,
        )
        event = ConnectionLost(
            team_id=connection.workspace.slack_team_id,
            workspace_id=connection.workspace_id,
            connection_id=connection.id,
            tenant_id=connection.tenant_id,
            tenant_name=connection.tenant_name,
            reason=reason,
            at=now,
        )
    # Notify after the commit: a rolled-back transition must not page anyone.
    if notifier is not None:
        notifier.connection_lost(event)
    return True


def open_client(ctx: AppDeps, connection_id: int) -> XeroClient:
    """A XeroClient for one connection, its tokens refreshed through the database lock.

    Refuses with ConnectionUnavailable (which has a user message) unless the connection is
    connected: needs_reconnect is how chasing for that organisation is paused. When Xero
    refuses the connection itself (401/403), the connection moves to needs_reconnect and
    admins hear of it once; the call still raises XeroAuthError for the caller to stop on.
    """
    with session_scope(ctx.session_factory) as session:
        connection = session.get(XeroConnection, connection_id)
        if connection is None or connection.status != ConnectionStatus.CONNECTED:
            raise unavailable(connection)
        tenant_id = connection.tenant_id
    store = DbTokenStore(ctx.session_factory, ctx.box, connection_id,
                         clock=ctx.clock, notifier=ctx.notifier)
    tokens = TokenManager(ctx.oauth, store, ctx.clock)

    def refused(reason: str) -> None:
        mark_needs_reconnect(ctx.session_factory, connection_id, reason,
                             clock=ctx.clock, notifier=ctx.notifier)

    http = httpx.Client(timeout=httpx.Timeout(60.0, connect=10.0),
                        event_hooks={"response": [_watch_for_refusal(refused)]})
    return XeroClient(ctx.settings.xero_api_url, tokens.access_token, tenant_id, http=http,
                      pacer=ctx.pacers.for_tenant(tenant_id), token_rejected=tokens.reject)


def _watch_for_refusal(refused: Callable[[str], None]) -> Callable[[httpx.Response], None]:
    """An httpx response hook: Xero's 401/403 for the tenant means the connection is gone."""

    def hook(response: httpx.Response) -> None:
        if response.status_code not in (401, 403):
            return
        response.read()
        error = error_from_response(response)
        # An expired access token is ours to refresh, not a lost connection.
        if isinstance(error, XeroAuthError) and error.reason != "token_expired":
            try:
                refused(error.reason)
            except Exception:  # the caller still gets the XeroAuthError; never mask it
                log.exception("Could not mark the connection as needing a reconnect")

    return hook


def token_set_from_ciphertext(box: SecretBox, ciphertext: str) -> TokenSet:
    """Decrypt a stored token set."""
    return TokenSet.from_json(box.decrypt(ciphertext))
