"""Xero token sets kept encrypted in the database and refreshed under a row lock (a TokenStore)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from bot.chasing.connection_guard import unavailable
from bot.secrets import SecretBox, SecretError
from bot.xero.auth import TokenSet, utc_now
from storage import repositories
from storage.db import session_scope
from storage.models import ConnectionStatus, XeroConnection

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker


class DbTokenStore:
    """A TokenStore for one connection: ciphertext in its row, refreshes under a row lock."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        box: SecretBox,
        connection_id: int,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._factory = session_factory
        self._box = box
        self.connection_id = connection_id
        self._clock = clock

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

    def _usable_tokens(self, connection: XeroConnection | None) -> TokenSet:
        if (
            connection is None
            or connection.status != ConnectionStatus.CONNECTED
            or not connection.token_ciphertext
        ):
            raise unavailable(connection)
        return token_set_from_ciphertext(self._box, connection.token_ciphertext)


def token_set_from_ciphertext(box: SecretBox, ciphertext: str) -> TokenSet:
    """Decrypt a stored token set."""
    return TokenSet.from_json(box.decrypt(ciphertext))
